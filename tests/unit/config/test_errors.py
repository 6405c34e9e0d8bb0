"""Problems name file, line and key; unknown keys warn; unsupported features say so;
all errors are collected and nothing is half-loaded."""

from __future__ import annotations

import logging

import pytest

from ikepy.config import ConfigError, load_config_text

BASE = """\
connections {
  c {
    remote_addrs = 10.0.0.1
    local { auth = psk }
    remote { auth = psk }
    children {
      ch {
        local_ts = 10.1.0.0/24
      }
    }
  }
}
secrets { ike { secret = x } }
"""


def errors_of(text: str, fmt: str = "swanctl", name: str = "swanctl.conf") -> list[str]:
    with pytest.raises(ConfigError) as ei:
        load_config_text(text, name, fmt)  # type: ignore[arg-type]
    assert all(p.file == name for p in ei.value.problems)
    return str(ei.value).splitlines()


def with_line(after: int, line: str) -> str:
    lines = BASE.splitlines(keepends=True)
    lines.insert(after, line + "\n")
    return "".join(lines)


@pytest.mark.parametrize("after,line,expected", [
    (3, "    version = 1", "swanctl.conf:4: connections.c.version: IKEv1 is not supported yet (allowed: 0 = any, 2)"),
    (3, "    version = 3", "swanctl.conf:4: connections.c.version: 3 is out of range (allowed: 0..2)"),
    (3, "    rekey_time = 1w", "swanctl.conf:4: connections.c.rekey_time: '1w' is not a duration (allowed: a number of seconds, optionally with a unit s, m, h or d, e.g. 30m, 1h, 2d)"),
    (3, "    encap = maybe", "swanctl.conf:4: connections.c.encap: 'maybe' is not a boolean (allowed: yes, no, true, false, enabled, disabled, 1, 0)"),
    (3, "    unique = sometimes", "swanctl.conf:4: connections.c.unique: 'sometimes' is not allowed (allowed: no, never, replace, keep)"),
    (3, "    local_port = 0", "swanctl.conf:4: connections.c.local_port: 0 is out of range (allowed: 1..65535)"),
    (3, "    remote_addrs = 10.0.0.1, bad_host!", "swanctl.conf:4: connections.c.remote_addrs: 'bad_host!' is not an address (allowed: IP addresses, subnets, ranges, host names, %any, %any4, %any6; comma-separated)"),
    (3, "    vips = 0.0.0.0", "swanctl.conf:4: connections.c.vips: virtual IPs are not supported yet"),
    (3, "    pools = p", "swanctl.conf:4: connections.c.pools: address pools are not supported yet"),
    (8, "        mode = beet", "swanctl.conf:9: connections.c.children.ch.mode: mode beet is not supported yet (allowed: tunnel, transport, pass, drop)"),
    (8, "        start_action = later", "swanctl.conf:9: connections.c.children.ch.start_action: 'later' is not allowed (allowed: none, trap, start, trap|start)"),
    (8, "        dpd_action = explode", "swanctl.conf:9: connections.c.children.ch.dpd_action: 'explode' is not allowed (allowed: clear, none, trap, hold, route, restart, start)"),
    (8, "        remote_ts = 10.1.0.0/24[tcp/70000]", "swanctl.conf:9: connections.c.children.ch.remote_ts: port 70000 is out of range (allowed: 0..65535)"),
    (8, "        rekey_bytes = lots", "swanctl.conf:9: connections.c.children.ch.rekey_bytes: 'lots' is not a size (allowed: a whole number, optionally with a suffix k, m or g meaning x1024, e.g. 500m)"),
    (8, "        life_time = 10m", "swanctl.conf:9: connections.c.children.ch.life_time: life_time (10m) must not be less than rekey_time"),
    (8, "        ah_proposals = sha256", "swanctl.conf:9: connections.c.children.ch.ah_proposals: AH is not supported yet (use esp_proposals)"),
    (8, "        ipcomp = yes", "swanctl.conf:9: connections.c.children.ch.ipcomp: IPComp is not supported yet"),
])
def test_bad_value_rendering(after: int, line: str, expected: str) -> None:
    assert errors_of(with_line(after, line)) == [expected]


def test_bad_proposal_names_file_line_key_and_token() -> None:
    [err] = errors_of(with_line(3, "    proposals = aes999-sha256-x25519"))
    assert err.startswith("swanctl.conf:4: connections.c.proposals: ")
    assert "aes999" in err
    [err] = errors_of(with_line(8, "        esp_proposals = aes256gcm16-nope"))
    assert err.startswith("swanctl.conf:9: connections.c.children.ch.esp_proposals: ")
    assert "nope" in err


def test_unsupported_authentication() -> None:
    text = BASE.replace("local { auth = psk }", "local { auth = pubkey }")
    assert errors_of(text) == [
        "swanctl.conf:4: connections.c.local.auth: certificate authentication is not supported yet (allowed: psk)"]
    text = BASE.replace("remote { auth = psk }", "remote { auth = eap-mschapv2 }")
    assert errors_of(text) == [
        "swanctl.conf:5: connections.c.remote.auth: EAP authentication is not supported yet (allowed: psk)"]
    text = BASE.replace("local { auth = psk }", "local { id = me }")
    assert errors_of(text) == [
        "swanctl.conf:4: connections.c.local.auth: certificate authentication is not supported yet (allowed: psk) (auth = pubkey is strongSwan's default; set auth = psk)"]
    text = BASE.replace("    local { auth = psk }\n", "")
    assert errors_of(text) == [
        "swanctl.conf:2: connections.c.local: no local authentication round: strongSwan's default (auth = pubkey) is not supported yet (add a local { auth = psk } section)"]
    text = BASE.replace("local { auth = psk }", "local { auth = psk }\n    local-2 { auth = psk }")
    assert errors_of(text) == [
        "swanctl.conf:5: connections.c.local-2: multiple authentication rounds (RFC 4739) are not supported yet"]
    text = BASE.replace("local { auth = psk }", "local { auth = psk\n certs = a.pem }")
    assert errors_of(text) == ["swanctl.conf:5: connections.c.local.certs: certificates are not supported yet"]


def test_unknown_key_warns_with_location(caplog: pytest.LogCaptureFixture) -> None:
    text = with_line(3, "    colour = blue")
    text = text.replace("local_ts", "flavour = x\n        local_ts")
    with caplog.at_level(logging.WARNING, logger="ikepy.config"):
        loaded = load_config_text(text, "swanctl.conf")
    assert [str(w) for w in loaded.warnings] == [
        "swanctl.conf:4: connections.c.colour: unknown key, ignored",
        "swanctl.conf:9: connections.c.children.ch.flavour: unknown key, ignored",
    ]
    assert "swanctl.conf:4: connections.c.colour: unknown key, ignored" in caplog.text


def test_unsupported_but_harmless_warns() -> None:
    text = with_line(3, "    aggressive = yes").replace(
        "secrets { ike", "secrets { eap-x { secret = y }\n ike")
    loaded = load_config_text(text, "swanctl.conf")
    assert [str(w) for w in loaded.warnings] == [
        "swanctl.conf:4: connections.c.aggressive: IKEv1 aggressive mode is not supported yet; ignored",
        "swanctl.conf:14: secrets.eap-x: this kind of secret is not supported yet; ignored",
    ]


def test_psk_without_secret_is_a_warning() -> None:
    text = BASE.replace("secrets { ike { secret = x } }\n", "")
    loaded = load_config_text(text, "swanctl.conf")
    assert [str(w) for w in loaded.warnings] == [
        "swanctl.conf:4: connections.c.local: auth = psk but no secrets.ike section matches ids "
        "(local address) and %any (the connection will fail until one is added)"]


def test_all_errors_collected_nothing_half_loaded() -> None:
    text = BASE.replace("remote_addrs = 10.0.0.1", "remote_addrs = 10.0.0.1\n    dpd_delay = soon") \
        .replace("local_ts = 10.1.0.0/24", "local_ts = 10.1.0.0/24\n        reqid = -1") \
        .replace("secret = x", "secret = 0xnothex")
    with pytest.raises(ConfigError) as ei:
        load_config_text(text, "swanctl.conf")
    assert [(p.line, p.key_path) for p in ei.value.problems] == [
        (4, "connections.c.dpd_delay"),
        (10, "connections.c.children.ch.reqid"),
        (15, "secrets.ike.secret"),
    ]


def test_syntax_errors_name_the_line() -> None:
    assert errors_of("connections {\n  c {\n") == [
        "swanctl.conf:2: connections.c: section is missing its closing '}'"]
    assert errors_of("a = 1\n}\n") == ["swanctl.conf:2: unexpected '}'"]
    assert errors_of("x {\n  y\n}\n") == ["swanctl.conf:2: x.y: expected '=' or '{' after 'y'"]
    assert errors_of('s {\n k = "open\n') == ["swanctl.conf:2: s.k: unterminated quoted string"]


TOML_BAD = """\
[connections.c]
remote_addrs = "10.0.0.1"
rekey_time = "forever"

[connections.c.local]
auth = "psk"

[connections.c.remote]
auth = "psk"

[connections.c.children.ch]
esp_proposals = ["aes256gcm16", "bogus"]
mode = "beet"
"""


def test_toml_errors_name_line_and_key() -> None:
    errs = errors_of(TOML_BAD, "toml", "ikepy.toml")
    assert errs[0] == ("ikepy.toml:3: connections.c.rekey_time: 'forever' is not a duration "
                       "(allowed: a number of seconds, optionally with a unit s, m, h or d, e.g. 30m, 1h, 2d)")
    assert errs[1].startswith("ikepy.toml:12: connections.c.children.ch.esp_proposals: ")
    assert errs[2] == ("ikepy.toml:13: connections.c.children.ch.mode: mode beet is not "
                       "supported yet (allowed: tunnel, transport, pass, drop)")


def test_toml_unsupported_value_and_syntax() -> None:
    assert errors_of('[connections.c]\nx = 2024-01-01\n', "toml", "i.toml") == [
        "i.toml:2: connections.c.x: unsupported TOML value datetime.date(2024, 1, 1) "
        "(allowed: a string, integer, boolean or an array of those)"]
    [err] = errors_of("[connections\n", "toml", "i.toml")
    assert err.startswith("i.toml:1: invalid TOML")


def test_toml_unknown_key_warning_line() -> None:
    text = TOML_BAD.replace('rekey_time = "forever"', "rekey_time = 3600\ncolour = 7") \
        .replace('["aes256gcm16", "bogus"]', '"default"').replace('mode = "beet"', "")
    w = [str(x) for x in load_config_text(text, "i.toml", "toml").warnings]
    assert w[0] == "i.toml:4: connections.c.colour: unknown key, ignored"


def test_weak_algorithm_warning_is_located() -> None:
    mod = pytest.importorskip("ikepy.crypto.proposals")
    if not hasattr(mod, "WeakAlgorithmWarning"):
        pytest.skip("needs the real crypto.proposals")
    text = with_line(8, "        esp_proposals = aes128-sha256-modp1024")
    w = [str(x) for x in load_config_text(text, "swanctl.conf").warnings]
    assert len(w) == 1 and w[0].startswith("swanctl.conf:9: connections.c.children.ch.esp_proposals: ")
