"""The PSK strength check: offline guessing of a captured AUTH (RFC 7296 2.15, SECURITY.md)."""

from __future__ import annotations

import logging

import pytest

from ikepy.config import ConfigError, load_config_text
from ikepy.config.psk_strength import REFUSE_BITS, WARN_BITS, estimate_bits, verdict

CONF = """
connections {{
  net {{
    remote_addrs = 10.0.0.2
    {extra}
    local {{ auth = psk
            id = left }}
    remote {{ auth = psk
             id = right }}
  }}
}}
secrets {{ ike-1 {{ id-1 = left
                   id-2 = right
                   secret = {secret} }} }}
"""


@pytest.mark.parametrize("secret,binary,judged", [
    (b"password", False, "refuse"),
    (b"correcthorsebatterystaple", False, "refuse"),  # letters only: a passphrase of words
    (b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", False, "refuse"),
    (b"abcdefghijklmnopqrstuvwxyz0123456789", False, "refuse"),  # runs count 1 bit a step
    (b"Summer2024!", False, "refuse"),
    (b"Kp9#mQ2vX7wLz4", False, "warn"),
    (b"Xq7vR2pL9zWtKd4mH8sNb3Jc6fYe", False, "ok"),
    (bytes(range(32)), True, "ok"),
    (b"\x00" * 32, True, "refuse"),
])
def test_verdicts(secret, binary, judged):
    assert verdict(secret, binary)[0] == judged, estimate_bits(secret, binary)


def test_weak_psk_is_refused_with_file_line_key_and_reason():
    with pytest.raises(ConfigError) as e:
        load_config_text(CONF.format(extra="", secret="Summer2024!"), "swanctl.conf")
    text = str(e.value)
    assert "swanctl.conf:12: secrets.ike-1.secret: pre-shared key too weak" in text
    assert f"{REFUSE_BITS} needed" in text and "allow_weak_psk" in text


def test_a_connection_can_opt_out_by_name_with_a_warning(caplog):
    caplog.set_level(logging.WARNING, "ikepy.config")
    loaded = load_config_text(CONF.format(extra="allow_weak_psk = yes", secret="Summer2024!"),
                              "swanctl.conf")
    assert loaded.config.connections["net"].allow_weak_psk
    assert any("allowed by allow_weak_psk in net" in str(w) for w in loaded.warnings)


def test_moderate_psk_loads_with_a_warning():
    loaded = load_config_text(CONF.format(extra="", secret='"Kp9#mQ2vX7wLz4"'), "swanctl.conf")
    assert any(f"below the {WARN_BITS} bits" in str(w) for w in loaded.warnings)


def test_strong_psk_loads_quietly():
    loaded = load_config_text(CONF.format(extra="", secret='"Xq7vR2pL9zWtKd4mH8sNb3Jc6fYe"'),
                              "swanctl.conf")
    assert not [w for w in loaded.warnings if "pre-shared key" in str(w)]
