"""Value syntaxes: durations, sizes, traffic selectors, secrets, PSK lookup."""

from __future__ import annotations

import ipaddress

import pytest

from ikepy.config import Config, IkeSecret, load_config_text
from ikepy.config.values import (
    parse_duration,
    parse_secret,
    parse_size,
    parse_traffic_selector,
    parse_traffic_selectors,
)


@pytest.mark.parametrize("text,seconds", [
    ("3600", 3600), ("10s", 10), ("30m", 1800), ("1h", 3600), ("2d", 172800),
    ("4H", 14400), ("1.5h", 5400), ("0", 0),
])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["1w", "h", "-5", "1 h x", ""])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize("text,n", [("1000", 1000), ("1k", 1024), ("500m", 500 * 2**20),
                                    ("2G", 2 * 2**30), ("0x10", 16)])
def test_sizes(text: str, n: int) -> None:
    assert parse_size(text) == n


def test_traffic_selector_forms() -> None:
    t = parse_traffic_selector("10.1.0.0/24")
    assert (t.start, t.end, t.protocol, t.start_port, t.end_port) == (
        ipaddress.ip_address("10.1.0.0"), ipaddress.ip_address("10.1.0.255"), 0, 0, 65535)
    assert parse_traffic_selector("dynamic").dynamic
    h = parse_traffic_selector("10.1.0.1")
    assert h.start == h.end == ipaddress.ip_address("10.1.0.1")
    r = parse_traffic_selector("10.1.0.5-10.1.0.9")
    assert (str(r.start), str(r.end)) == ("10.1.0.5", "10.1.0.9")
    assert r.network() is None
    p = parse_traffic_selector("0.0.0.0/0[tcp/443]")
    assert (p.protocol, p.start_port, p.end_port) == (6, 443, 443)
    u = parse_traffic_selector("[udp]")
    assert (u.protocol, u.start_port, u.end_port, str(u.start)) == (17, 0, 65535, "0.0.0.0")
    d = parse_traffic_selector("dynamic[icmp]")
    assert d.dynamic and d.protocol == 1
    v6 = parse_traffic_selector("2001:db8::/32[udp/1024-65535]")
    assert v6.version == 6 and (v6.start_port, v6.end_port) == (1024, 65535)
    assert v6.network() == ipaddress.ip_network("2001:db8::/32")
    o = parse_traffic_selector("10.0.0.0/8[tcp/opaque]")
    assert (o.start_port, o.end_port) == (65535, 0)
    assert parse_traffic_selector("::1[58]").protocol == 58
    assert parse_traffic_selector("10.0.0.0/8[any/53]").start_port == 53
    lst = parse_traffic_selectors("10.1.0.0/24, 10.3.0.0/16,dynamic")
    assert [t.text for t in lst] == ["10.1.0.0/24", "10.3.0.0/16", "dynamic"]


@pytest.mark.parametrize("text,msg", [
    ("10.1.0.0/33", "not a traffic selector"),
    ("10.1.0.9-10.1.0.5", "reversed"),
    ("10.1.0.0/24[tcp", "missing ']'"),
    ("10.1.0.0/24[nosuchproto]", "unknown protocol"),
    ("10.1.0.0/24[tcp/99999]", "out of range"),
    ("10.1.0.1-::1", "mixes IPv4 and IPv6"),
])
def test_bad_traffic_selectors(text: str, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        parse_traffic_selector(text)


def test_secret_forms() -> None:
    assert parse_secret("plain") == b"plain"
    assert parse_secret("with spaces and , commas") == b"with spaces and , commas"
    assert parse_secret("0x0102ff") == b"\x01\x02\xff"
    assert parse_secret("0sAQL/") == b"\x01\x02\xff"
    for bad in ("0xzz", "0s!!!", ""):
        with pytest.raises(ValueError):
            parse_secret(bad)


def test_secret_forms_in_file() -> None:
    text = r'''secrets {
  ike-plain { secret = plain }
  ike-quoted { secret = "with  spaces # and \"quotes\"" }
  ike-hex { secret = 0x0102ff }
  ike-b64 { secret = 0sAQL/ }
}'''
    s = load_config_text(text, "s.conf").config.secrets
    assert [x.secret for x in s] == [b"plain", b'with  spaces # and "quotes"',
                                     b"\x01\x02\xff", b"\x01\x02\xff"]
    assert [x.name for x in s] == ["ike-plain", "ike-quoted", "ike-hex", "ike-b64"]


def test_find_psk_best_match() -> None:
    cfg = Config(secrets=(
        IkeSecret((), b"no-ids"),
        IkeSecret(("left",), b"one"),
        IkeSecret(("left", "right"), b"both"),
        IkeSecret(("10.0.0.1",), b"ip"),
        IkeSecret(("%any",), b"any"),
    ))
    assert cfg.find_psk("right", "left") == b"both"
    assert cfg.find_psk("@RIGHT", "left") == b"both"  # FQDN: '@' dropped, case-insensitive
    assert cfg.find_psk("me", "left") == b"any"  # %any matches both sides
    only = Config(secrets=(IkeSecret((), b"no-ids"), IkeSecret(("left",), b"one")))
    assert only.find_psk("me", "left") == b"one"
    assert only.find_psk("me", "stranger") == b"no-ids"
    ip = Config(secrets=(IkeSecret(("10.0.0.1",), b"ip"),))
    assert ip.find_psk("x", "10.000.0.1".replace("000", "0")) == b"ip"
    v6 = Config(secrets=(IkeSecret(("2001:db8:0::1",), b"v6"),))
    assert v6.find_psk("x", "2001:DB8::1") == b"v6"
    assert Config().find_psk("a", "b") is None
