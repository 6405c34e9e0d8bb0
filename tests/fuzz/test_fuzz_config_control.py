"""Fuzz what operators hand the daemon: configuration text and control-socket lines.

load_config_text (swanctl.conf and TOML syntax) may only raise ConfigError;
decode_request may only raise control.protocol.ProtocolError.
"""

from __future__ import annotations

import json

from fuzz_corpus import FUZZ
from hypothesis import given
from hypothesis import strategies as st

from ikepy.config import ConfigError, load_config_text
from ikepy.control.protocol import MAX_REQUEST, ProtocolError, decode_request
from ikepy.ikev2.simulate import swanctl_text

SWANCTL = swanctl_text("10.99.0.1", "10.99.0.2", "left", "right", "10.1.0.0/24", "10.2.0.0/24",
                       conn={"rekey_time": "1h", "dpd_delay": "30s"},
                       child={"start_action": "start", "life_time": "2h"})
TOML = """
[connections.net]
local_addrs = ["10.99.0.1"]
remote_addrs = ["10.99.0.2"]
proposals = ["aes256gcm16-prfsha256-x25519"]
rekey_time = "4h"
[connections.net.local]
auth = "psk"
id = "left"
[connections.net.remote]
auth = "psk"
id = "right"
[connections.net.children.net]
local_ts = ["10.1.0.0/24"]
remote_ts = ["10.2.0.0/24"]
esp_proposals = ["aes256gcm16-x25519"]
[secrets.ike-1]
id-1 = "left"
id-2 = "right"
secret = "Xq7vR2pL9zWtKd4mH8sNb3Jc6fYe"
"""

TOKENS = ["{", "}", "=", "\n", " ", "#", '"', "'", "[", "]", ",", ".", "include", "connections",
          "children", "secrets", "local", "remote", "auth", "psk", "id", "proposals", "default",
          "aes256gcm16", "x25519", "-", "%any", "10.1.0.0/24", "::/0", "0x", "0s", "yes", "no",
          "1h", "-5s", "99999999999999999999", "rekey_time", "life_time", "esp_proposals",
          "local_ts", "remote_ts", "secret", "\\", "\x00", "\u00e9", "start_action", "start"]


def _load(text: str, fmt: str) -> None:
    try:
        load_config_text(text, f"fuzz.{fmt}", fmt=fmt)  # type: ignore[arg-type]
    except ConfigError as e:
        assert str(e)  # an operator-readable message


@st.composite
def mutated_text(draw, seed: str) -> str:
    lines = seed.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 5))):
        op = draw(st.sampled_from(["token", "delete_line", "dup_line", "chars", "truncate"]))
        if not lines:
            lines = [""]
        i = draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        if op == "token":
            j = draw(st.integers(0, len(line)))
            lines[i] = line[:j] + draw(st.sampled_from(TOKENS)) + line[j:]
        elif op == "delete_line":
            del lines[i]
        elif op == "dup_line":
            lines.insert(i, line)
        elif op == "chars":
            j = draw(st.integers(0, len(line)))
            lines[i] = line[:j] + draw(st.text(max_size=8)) + line[j + draw(st.integers(0, 4)):]
        else:
            lines = lines[:i] + [line[: draw(st.integers(0, len(line)))]]
    return "".join(lines)


@FUZZ
@given(st.text(max_size=300))
def test_swanctl_random_text(text):
    _load(text, "swanctl")


@FUZZ
@given(mutated_text(SWANCTL))
def test_swanctl_mutated(text):
    _load(text, "swanctl")


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=60).map("".join))
def test_swanctl_token_soup(text):
    _load(text, "swanctl")


@FUZZ
@given(st.text(max_size=300))
def test_toml_random_text(text):
    _load(text, "toml")


@FUZZ
@given(mutated_text(TOML))
def test_toml_mutated(text):
    _load(text, "toml")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12)


def _decode(line: bytes) -> None:
    try:
        cmd, args = decode_request(line)
    except ProtocolError as e:
        assert str(e)
        return
    assert isinstance(cmd, str) and isinstance(args, dict)


@FUZZ
@given(st.binary(max_size=200))
def test_control_random_lines(line):
    _decode(line)


@FUZZ
@given(st.fixed_dictionaries({}, optional={
    "cmd": st.one_of(st.sampled_from(["list-sas", "initiate", "stats", "load", "nope"]), json_values),
    "args": json_values}).map(lambda o: json.dumps(o).encode()))
def test_control_structured_lines(line):
    _decode(line)


def test_control_deeply_nested_and_huge_lines():
    _decode(b"[" * 100000 + b"]" * 100000)
    _decode(b'{"cmd": "stats", "args": ' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}")
    _decode(b'{"cmd": "' + b"x" * MAX_REQUEST + b'"}')
    _decode(b"\xff\xfe" * 100)
