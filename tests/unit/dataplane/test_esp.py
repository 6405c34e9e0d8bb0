"""ESP framing and transforms (RFC 4303, 4106, 7634, 3602 + 4868/2404).

Known answers come from scapy's independent ESP implementation
(scapy.layers.ipsec.SecurityAssociation): scapy encrypts, we decrypt, and the
other way round, for every transform, with and without ESN, IPv4 and IPv6
inner packets.  The AES-GCM framing is also rebuilt by hand from RFC 4106
(nonce = salt || IV, AAD = SPI || SeqNo) with cryptography's AESGCM.
"""

from __future__ import annotations

import struct

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ikepy.dataplane.userspace.esp import (
    ENCR_AES_CBC,
    ENCR_AES_GCM_16,
    ENCR_CHACHA20_POLY1305,
    INTEG_HMAC_SHA1_96,
    INTEG_HMAC_SHA2_256_128,
    INTEG_HMAC_SHA2_384_192,
    INTEG_HMAC_SHA2_512_256,
    SEQ_MAX_32,
    EspDrop,
    make_inbound,
    make_outbound,
)

from .helpers import ipv4_packet, ipv6_packet

scapy_all = pytest.importorskip("scapy.all")
ipsec = pytest.importorskip("scapy.layers.ipsec")
IP, IPv6, Raw, raw = scapy_all.IP, scapy_all.IPv6, scapy_all.Raw, scapy_all.raw
ESP, SecurityAssociation = ipsec.ESP, ipsec.SecurityAssociation

# (scapy crypt name, our encr id, key material length, scapy auth, our integ id, integ key length)
SUITES = [
    ("AES-GCM", ENCR_AES_GCM_16, 20, None, None, 0),
    ("AES-GCM", ENCR_AES_GCM_16, 36, None, None, 0),
    ("CHACHA20-POLY1305", ENCR_CHACHA20_POLY1305, 36, None, None, 0),
    ("AES-CBC", ENCR_AES_CBC, 16, "HMAC-SHA1-96", INTEG_HMAC_SHA1_96, 20),
    ("AES-CBC", ENCR_AES_CBC, 32, "SHA2-256-128", INTEG_HMAC_SHA2_256_128, 32),
    ("AES-CBC", ENCR_AES_CBC, 32, "SHA2-384-192", INTEG_HMAC_SHA2_384_192, 48),
    ("AES-CBC", ENCR_AES_CBC, 32, "SHA2-512-256", INTEG_HMAC_SHA2_512_256, 64),
]
IDS = [f"{s[0]}-{s[2]}-{s[3]}" for s in SUITES]
SPI = 0xC0FFEE01
INNER4 = ipv4_packet("10.1.0.1", "10.2.0.1", b"hello esp" * 7)
INNER6 = ipv6_packet("2001:db8:1::1", "2001:db8:2::1", b"v6 payload" * 3)


def _keys(klen: int, ilen: int) -> tuple[bytes, bytes]:
    return bytes((7 * i + 3) & 0xFF for i in range(klen)), bytes(
        (5 * i + 1) & 0xFF for i in range(ilen)
    )


def _scapy_sa(suite, key: bytes, ikey: bytes, esn_high: int | None, v6: bool):
    crypt, _, _, auth, _, _ = suite
    outer = (
        IPv6(src="2001:db8::1", dst="2001:db8::2") if v6 else IP(src="192.0.2.1", dst="192.0.2.2")
    )
    return SecurityAssociation(
        ESP, spi=SPI, crypt_algo=crypt, crypt_key=key, auth_algo=auth, auth_key=ikey or None,
        tunnel_header=outer, esn_en=esn_high is not None, esn=esn_high or 0,
    )  # fmt: skip


@pytest.mark.parametrize("suite", SUITES, ids=IDS)
@pytest.mark.parametrize("esn", [False, True])
@pytest.mark.parametrize("inner", [INNER4, INNER6], ids=["ipv4", "ipv6"])
def test_scapy_encrypts_we_decrypt(suite, esn: bool, inner: bytes) -> None:
    _, encr, klen, _, integ, ilen = suite
    key, ikey = _keys(klen, ilen)
    high = 3 if esn else None
    sa = _scapy_sa(suite, key, ikey, high, inner[0] >> 4 == 6)
    inner_pkt = IPv6(inner) if inner[0] >> 4 == 6 else IP(inner)
    esp = raw(sa.encrypt(inner_pkt, seq_num=42)[ESP])
    ours = make_inbound(SPI, encr, key, integ, ikey, esn, 64)
    if esn:
        ours.replay.update((3 << 32) | 40)
    got, nh = ours.open(esp)
    assert got == inner
    assert nh == (41 if inner[0] >> 4 == 6 else 4)
    assert ours.replay.top == ((3 << 32) | 42 if esn else 42)


@pytest.mark.parametrize("suite", SUITES, ids=IDS)
@pytest.mark.parametrize("esn", [False, True])
@pytest.mark.parametrize("inner", [INNER4, INNER6], ids=["ipv4", "ipv6"])
def test_we_encrypt_scapy_decrypts(suite, esn: bool, inner: bytes) -> None:
    _, encr, klen, _, integ, ilen = suite
    key, ikey = _keys(klen, ilen)
    v6 = inner[0] >> 4 == 6
    sa = _scapy_sa(suite, key, ikey, 9 if esn else None, v6)
    out = make_outbound(SPI, encr, key, integ, ikey, esn)
    out.seq = ((9 << 32) | 99) if esn else 99
    esp = out.seal(inner, 41 if v6 else 4)
    assert esp is not None
    assert struct.unpack("!II", esp[:8]) == (SPI, 100)
    if v6:
        outer = IPv6(raw(IPv6(src="2001:db8::1", dst="2001:db8::2", nh=50) / Raw(esp)))
    else:
        outer = IP(raw(IP(src="192.0.2.1", dst="192.0.2.2", proto=50) / Raw(esp)))
    assert raw(sa.decrypt(outer)) == inner


def test_gcm_framing_by_hand_rfc4106() -> None:
    """RFC 4106 3/5: nonce = salt || IV, AAD = SPI || SeqNo, ICV 16 octets;
    our IV is the 64-bit sequence number."""
    key = bytes(range(32)) + b"SALT"
    out = make_outbound(0x01020304, ENCR_AES_GCM_16, key, None, b"", False)
    inner = ipv4_packet("10.0.0.1", "10.0.0.2", b"abc")  # 31 octets -> padding 1, 2, 3
    esp = out.seal(inner, 4)
    assert esp is not None
    iv = struct.pack("!Q", 1)
    aad = struct.pack("!II", 0x01020304, 1)
    expected = (
        aad + iv + AESGCM(key[:32]).encrypt(b"SALT" + iv, inner + b"\x01\x02\x03\x03\x04", aad)
    )
    assert esp == expected
    assert (len(esp) - 8 - 8 - 16) % 4 == 0


def test_gcm_esn_aad_by_hand() -> None:
    """RFC 4106 5: with ESN, AAD = SPI || Seq high || Seq low; only the low
    half is on the wire."""
    key = bytes(range(16)) + b"salt"
    out = make_outbound(0xAABBCCDD, ENCR_AES_GCM_16, key, None, b"", True)
    out.seq = (5 << 32) | 0xFFFFFFFF
    inner = ipv4_packet("10.0.0.1", "10.0.0.2", b"abcd")
    esp = out.seal(inner, 4)
    assert esp is not None
    seq = 6 << 32
    iv = struct.pack("!Q", seq)
    aad = struct.pack("!III", 0xAABBCCDD, 6, 0)
    assert esp[:8] == struct.pack("!II", 0xAABBCCDD, 0)
    assert esp[16:] == AESGCM(key[:16]).encrypt(b"salt" + iv, inner + _trailer(inner, 4, 4), aad)


def _trailer(inner: bytes, align: int, nh: int) -> bytes:
    pad = -(len(inner) + 2) % align
    return bytes(range(1, pad + 1)) + bytes((pad, nh))


@pytest.mark.parametrize("suite", SUITES, ids=IDS)
def test_roundtrip_every_length(suite) -> None:
    """All padding lengths: inner sizes 28..60 through our own pair."""
    _, encr, klen, _, integ, ilen = suite
    key, ikey = _keys(klen, ilen)
    out = make_outbound(SPI, encr, key, integ, ikey, False)
    inn = make_inbound(SPI, encr, key, integ, ikey, False, 64)
    for n in range(28, 61):
        pkt = ipv4_packet("10.0.0.1", "10.0.0.2", bytes(n - 28))
        esp = out.seal(pkt, 4)
        assert esp is not None
        assert inn.open(esp) == (pkt, 4)


@pytest.mark.parametrize("suite", SUITES, ids=IDS)
def test_flipped_bit_fails_integrity_and_keeps_window(suite) -> None:
    _, encr, klen, _, integ, ilen = suite
    key, ikey = _keys(klen, ilen)
    out = make_outbound(SPI, encr, key, integ, ikey, False)
    inn = make_inbound(SPI, encr, key, integ, ikey, False, 64)
    esp = out.seal(INNER4, 4)
    assert esp is not None
    for pos in (5, 9, len(esp) // 2, len(esp) - 1):
        bad = bytearray(esp)
        bad[pos] ^= 0x01
        with pytest.raises(EspDrop) as ei:
            inn.open(bytes(bad))
        assert ei.value.reason == "integrity"
    assert inn.replay.top == 0  # the window moved for none of them
    assert inn.open(esp)[0] == INNER4
    with pytest.raises(EspDrop) as ei:
        inn.open(esp)
    assert ei.value.reason == "replay"


def _aead_raw(key: bytes, payload_and_trailer: bytes, seq: int = 1) -> bytes:
    iv = struct.pack("!Q", seq)
    aad = struct.pack("!II", SPI, seq)
    return aad + iv + AESGCM(key[:-4]).encrypt(key[-4:] + iv, payload_and_trailer, aad)


@pytest.mark.parametrize(
    "trailer",
    [
        b"\x01\x03\x02\x04",  # padding 1, 3 instead of 1, 2
        b"\x00\x00\x02\x04",  # zero padding
        b"\x05\x04",  # pad length beyond the payload start... padding octets wrong
    ],
)
def test_bad_padding_is_dropped(trailer: bytes) -> None:
    """RFC 4303 2.4: padding must be 1, 2, 3, ...; checked after decryption."""
    key = bytes(range(36))
    inn = make_inbound(SPI, ENCR_AES_GCM_16, key, None, b"", False, 64)
    body = INNER4[: 24 - len(trailer)] + trailer
    assert len(body) % 4 == 0
    with pytest.raises(EspDrop) as ei:
        inn.open(_aead_raw(key, body))
    assert ei.value.reason == "padding"


def test_pad_length_longer_than_payload() -> None:
    key = bytes(range(36))
    inn = make_inbound(SPI, ENCR_AES_GCM_16, key, None, b"", False, 64)
    with pytest.raises(EspDrop) as ei:
        inn.open(_aead_raw(key, b"\x01\x02\xff\x04"))
    assert ei.value.reason == "padding"


def test_good_padding_accepted_by_hand() -> None:
    key = bytes(range(36))
    inn = make_inbound(SPI, ENCR_AES_GCM_16, key, None, b"", False, 64)
    assert inn.open(_aead_raw(key, b"abcdef" + b"\x01\x02\x03\x04\x04\x04")) == (b"abcdef", 4)


@pytest.mark.parametrize("length", [0, 7, 8, 31, 33])
def test_truncated_or_misaligned_is_malformed(length: int) -> None:
    key = bytes(range(36))
    inn = make_inbound(SPI, ENCR_AES_GCM_16, key, None, b"", False, 64)
    with pytest.raises(EspDrop) as ei:
        inn.open(struct.pack("!II", SPI, 1).ljust(length, b"\0")[:length])
    assert ei.value.reason == "malformed"


def test_cbc_misaligned_is_malformed() -> None:
    key, ikey = _keys(32, 32)
    inn = make_inbound(SPI, ENCR_AES_CBC, key, INTEG_HMAC_SHA2_256_128, ikey, False, 64)
    with pytest.raises(EspDrop) as ei:
        inn.open(bytes(8 + 16 + 17 + 16))
    assert ei.value.reason == "malformed"


def test_aead_iv_never_repeats() -> None:
    out = make_outbound(SPI, ENCR_AES_GCM_16, bytes(36), None, b"", False)
    ivs = {out.seal(INNER4, 4)[8:16] for _ in range(1000)}  # type: ignore[index]
    assert len(ivs) == 1000


def test_cbc_ivs_differ() -> None:
    key, ikey = _keys(32, 32)
    out = make_outbound(SPI, ENCR_AES_CBC, key, INTEG_HMAC_SHA2_256_128, ikey, False)
    ivs = {out.seal(INNER4, 4)[8:24] for _ in range(1000)}  # type: ignore[index]
    assert len(ivs) == 1000


@pytest.mark.parametrize("esn", [False, True])
def test_sequence_exhaustion_never_wraps(esn: bool) -> None:
    out = make_outbound(SPI, ENCR_AES_GCM_16, bytes(36), None, b"", esn)
    top = (1 << 64) - 1 if esn else SEQ_MAX_32
    out.seq = top - 1
    assert out.seal(INNER4, 4) is not None  # the very last number
    assert out.seq == top and out.exhausted
    for _ in range(3):
        assert out.seal(INNER4, 4) is None
    assert out.seq == top


def test_bad_keys_and_transforms_rejected() -> None:
    with pytest.raises(ValueError):
        make_outbound(SPI, ENCR_AES_GCM_16, bytes(16), None, b"", False)  # no salt
    with pytest.raises(ValueError):
        make_outbound(SPI, ENCR_CHACHA20_POLY1305, bytes(32), None, b"", False)
    with pytest.raises(ValueError):
        make_outbound(SPI, ENCR_AES_CBC, bytes(32), None, b"", False)  # needs integrity
    with pytest.raises(ValueError):
        make_outbound(SPI, ENCR_AES_CBC, bytes(32), INTEG_HMAC_SHA2_256_128, bytes(20), False)
    with pytest.raises(ValueError):
        make_outbound(SPI, 3, bytes(24), INTEG_HMAC_SHA1_96, bytes(20), False)  # 3DES: no
    with pytest.raises(ValueError):
        make_inbound(SPI, ENCR_AES_GCM_16, bytes(36), INTEG_HMAC_SHA1_96, bytes(20), False, 64)
