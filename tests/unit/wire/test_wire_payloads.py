"""Payload bodies, hand-built from the RFC 7296 section 3 figures."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from ikepy.wire import (
    AuthPayload,
    CertPayload,
    CertReqPayload,
    CodecError,
    ConfigAttribute,
    ConfigPayload,
    DeletePayload,
    EapPayload,
    EncrId,
    EncryptedFragmentPayload,
    EncryptedPayload,
    IDiPayload,
    IDrPayload,
    InvalidSyntax,
    KePayload,
    NoncePayload,
    NotifyPayload,
    NotifyType,
    Proposal,
    ProtocolId,
    SaPayload,
    TrafficSelector,
    Transform,
    TransformAttribute,
    TransformType,
    TSiPayload,
    TSrPayload,
    UnknownPayload,
    VendorIdPayload,
)


def u16(n: int) -> bytes:
    return n.to_bytes(2, "big")


def transform(last: bool, t_type: int, t_id: int, attrs: bytes = b"") -> bytes:
    # 3.3.2 Figure 8: Last Substruc, RESERVED, Transform Length, Type, RESERVED, ID
    return (
        bytes([0 if last else 3, 0]) + u16(8 + len(attrs)) + bytes([t_type, 0]) + u16(t_id) + attrs
    )


def proposal(last: bool, num: int, proto: int, spi: bytes, transforms: list[bytes]) -> bytes:
    # 3.3.1 Figure 7
    body = b"".join(transforms)
    return (
        bytes([0 if last else 2, 0])
        + u16(8 + len(spi) + len(body))
        + bytes([num, proto, len(spi), len(transforms)])
        + spi
        + body
    )


KEYLEN_256 = u16(0x8000 | 14) + u16(256)  # 3.3.5 TV attribute


def roundtrip(cls, body: bytes):
    p = cls.parse_body(body)
    assert p.serialize_body() == body
    return p


# --- SA (3.3) -------------------------------------------------------------


def test_sa_ike_proposal():
    body = proposal(
        True,
        1,
        1,
        b"",
        [
            transform(False, 1, 20, KEYLEN_256),
            transform(False, 2, 5),
            transform(True, 4, 31),
        ],
    )
    sa = roundtrip(SaPayload, body)
    (p,) = sa.proposals
    assert p == Proposal(
        1,
        ProtocolId.IKE,
        b"",
        (
            Transform(TransformType.ENCR, EncrId.AES_GCM_16, (TransformAttribute(14, 256),)),
            Transform(TransformType.PRF, 5),
            Transform(TransformType.KE, 31),
        ),
    )
    assert p.transforms[0].key_length == 256
    assert p.transforms[1].key_length is None


def test_sa_two_esp_proposals_and_tlv_attribute():
    tlv = u16(99) + u16(3) + b"abc"
    body = proposal(False, 1, 3, b"\x01\x02\x03\x04", [transform(True, 1, 12, KEYLEN_256 + tlv)])
    body += proposal(True, 2, 3, b"\x01\x02\x03\x04", [transform(True, 1, 28)])
    sa = roundtrip(SaPayload, body)
    assert sa.proposals[0].transforms[0].attributes[1] == TransformAttribute(99, b"abc")
    assert sa.proposals[1].number == 2


def test_sa_ike_rekey_spi_8():
    body = proposal(True, 1, 1, bytes(range(8)), [transform(True, 1, 12)])
    assert roundtrip(SaPayload, body).proposals[0].spi == bytes(range(8))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="no-proposals"),
        pytest.param(b"\x00\x00\x00\x08\x01\x01\x00", id="truncated-proposal-header"),
        pytest.param(proposal(True, 1, 3, b"\x01\x02", []), id="esp-spi-2"),
        pytest.param(proposal(True, 1, 1, b"\x01\x02\x03\x04", []), id="ike-spi-4"),
        pytest.param(proposal(True, 1, 2, b"", []), id="ah-spi-0"),
        pytest.param(proposal(False, 1, 1, b"", [transform(True, 1, 12)]), id="more-but-last"),
        pytest.param(proposal(True, 1, 1, b"", [transform(True, 1, 12)]) * 2, id="last-but-more"),
        pytest.param(proposal(True, 1, 1, b"", [transform(False, 1, 12)]), id="xform-more-last"),
        pytest.param(
            proposal(True, 1, 1, b"", [transform(True, 1, 12)])[:-1], id="proposal-too-long"
        ),
        pytest.param(proposal(True, 1, 1, b"", [transform(True, 1, 12)]) + b"\x00", id="trailing"),
        pytest.param(b"\x00\x00\x00\x04" + b"\x01\x01\x00\x00", id="proposal-length-below-8"),
    ],
)
def test_sa_malformed(body):
    with pytest.raises(InvalidSyntax):
        SaPayload.parse_body(body)


def test_sa_transform_count_mismatch():
    p = bytearray(proposal(True, 1, 1, b"", [transform(True, 1, 12)]))
    p[7] = 2  # announces 2 transforms, has 1
    with pytest.raises(InvalidSyntax):
        SaPayload.parse_body(bytes(p))
    p[7] = 0  # announces none, carries one
    with pytest.raises(InvalidSyntax):
        SaPayload.parse_body(bytes(p))


def test_sa_transform_length_inconsistent():
    t = bytearray(transform(True, 1, 12, KEYLEN_256))
    t[3] = 7  # transform length < 8
    with pytest.raises(InvalidSyntax):
        SaPayload.parse_body(proposal(True, 1, 1, b"", [bytes(t)]))
    t[3] = 30  # past the proposal
    with pytest.raises(InvalidSyntax):
        SaPayload.parse_body(proposal(True, 1, 1, b"", [bytes(t)]))
    # TLV attribute longer than its transform
    bad = transform(True, 1, 12, u16(99) + u16(10) + b"abc")
    with pytest.raises(InvalidSyntax):
        SaPayload.parse_body(proposal(True, 1, 1, b"", [bad]))
    # half an attribute
    with pytest.raises(InvalidSyntax):
        SaPayload.parse_body(proposal(True, 1, 1, b"", [transform(True, 1, 12, b"\x80\x0e")]))


def test_sa_reserved_ignored_on_receipt():
    good = proposal(True, 1, 1, b"", [transform(True, 1, 12)])
    bad = bytearray(good)
    bad[1] = 0xFF  # proposal RESERVED
    bad[8 + 1] = 0xFF  # transform RESERVED
    bad[8 + 5] = 0xFF  # transform RESERVED
    sa = SaPayload.parse_body(bytes(bad))
    assert sa == SaPayload.parse_body(good)
    assert sa.serialize_body() == good  # round trip not byte exact: RESERVED zeroed


def test_sa_serialize_checks():
    with pytest.raises(InvalidSyntax):
        SaPayload(()).serialize_body()
    with pytest.raises(InvalidSyntax):
        SaPayload((Proposal(1, 3, b"", ()),)).serialize_body()
    with pytest.raises(InvalidSyntax):
        SaPayload((Proposal(1, 1, b"", (Transform(1, 70000),)),)).serialize_body()
    with pytest.raises(InvalidSyntax):
        TransformAttribute(0x8000, 1).serialize()
    with pytest.raises(InvalidSyntax):
        TransformAttribute(14, 1 << 16).serialize()


# --- KE (3.4), ID (3.5), CERT (3.6), CERTREQ (3.7), AUTH (3.8) -------------------


def test_ke():
    body = u16(31) + b"\x00\x00" + bytes(range(32))
    assert roundtrip(KePayload, body) == KePayload(31, bytes(range(32)))
    with pytest.raises(InvalidSyntax):
        KePayload.parse_body(u16(31) + b"\x00\x00")  # empty KE data
    with pytest.raises(InvalidSyntax):
        KePayload.parse_body(b"\x00\x1f")
    with pytest.raises(InvalidSyntax):
        KePayload(31, b"").serialize_body()


@pytest.mark.parametrize("cls", [IDiPayload, IDrPayload])
def test_id(cls):
    body = b"\x02\x00\x00\x00moon.strongswan.org"
    assert roundtrip(cls, body) == cls(2, b"moon.strongswan.org")
    assert roundtrip(cls, b"\x01\x00\x00\x00\xc0\x00\x02\x01").data == b"\xc0\x00\x02\x01"
    assert roundtrip(cls, b"\x05\x00\x00\x00" + bytes(16)).id_type == 5
    assert roundtrip(cls, b"\x0d\x00\x00\x00").data == b""  # ID_NULL (RFC 7619)


def test_id_reserved_kept_for_auth():
    # 2.15: the RESERVED octets are part of RestOfInitIDPayload, keep them
    body = b"\x02\xaa\xbb\xccexample.org"
    p = roundtrip(IDiPayload, body)
    assert p.reserved == b"\xaa\xbb\xcc"
    assert p != IDiPayload(2, b"example.org")


def test_id_malformed():
    for body in (b"\x01\x00\x00", b"\x01\x00\x00\x00\x01\x02\x03", b"\x05\x00\x00\x00" + bytes(4)):
        with pytest.raises(InvalidSyntax):
            IDiPayload.parse_body(body)
    assert IDiPayload(2, b"x") != IDrPayload(2, b"x")


@pytest.mark.parametrize("cls", [CertPayload, CertReqPayload])
def test_cert(cls):
    assert roundtrip(cls, b"\x04" + b"DER") == cls(4, b"DER")
    assert roundtrip(cls, b"\x04") == cls(4, b"")
    with pytest.raises(InvalidSyntax):
        cls.parse_body(b"")


def test_auth():
    body = b"\x02\x00\x00\x00" + bytes(32)
    assert roundtrip(AuthPayload, body) == AuthPayload(2, bytes(32))
    with pytest.raises(InvalidSyntax):
        AuthPayload.parse_body(b"\x02\x00")


# --- Nonce (3.9) ---------------------------------------------------------------


@pytest.mark.parametrize("n", [16, 32, 256])
def test_nonce_ok(n):
    assert roundtrip(NoncePayload, bytes(n)).data == bytes(n)


@pytest.mark.parametrize("n", [0, 15, 257])
def test_nonce_bad_length(n):
    with pytest.raises(InvalidSyntax):
        NoncePayload.parse_body(bytes(n))
    with pytest.raises(InvalidSyntax):
        NoncePayload(bytes(n)).serialize_body()


# --- Notify (3.10) --------------------------------------------------------------


def test_notify_natd():
    body = b"\x00\x00" + u16(16388) + bytes(20)
    assert roundtrip(NotifyPayload, body) == NotifyPayload(0, b"", 16388, bytes(20))


def test_notify_rekey_sa_with_esp_spi():
    body = b"\x03\x04" + u16(16393) + b"\xde\xad\xbe\xef"
    p = roundtrip(NotifyPayload, body)
    assert (p.protocol_id, p.spi, p.data) == (3, b"\xde\xad\xbe\xef", b"")
    assert not p.is_error


def test_notify_error_and_invalid_ke():
    p = roundtrip(NotifyPayload, b"\x00\x00" + u16(17) + u16(19))
    assert p.is_error and p.notify_type == NotifyType.INVALID_KE_PAYLOAD


@pytest.mark.parametrize(
    "body",
    [
        b"\x00\x00\x40",  # truncated
        b"\x03\x04" + u16(16393) + b"\x01\x02",  # SPI past the end
        b"\x03\x08" + u16(16393) + bytes(8),  # ESP SPI of 8
        b"\x00\x04" + u16(16393) + bytes(4),  # SPI without a protocol
        b"\x01\x04" + u16(16393) + bytes(4),  # IKE SPI of 4
        b"\x00\x00" + u16(16388) + bytes(19),  # NAT-D not SHA-1 sized
        b"\x00\x00" + u16(16390),  # empty COOKIE
        b"\x00\x00" + u16(16390) + bytes(65),  # COOKIE too long
        b"\x00\x00" + u16(17) + b"\x13",  # INVALID_KE_PAYLOAD of 1 octet
        b"\x00\x00" + u16(16431) + b"\x00\x02\x00",  # odd SIGNATURE_HASH_ALGORITHMS
        b"\x00\x00" + u16(16430) + b"\x00",  # FRAGMENTATION_SUPPORTED with data
    ],
)
def test_notify_malformed(body):
    with pytest.raises(InvalidSyntax):
        NotifyPayload.parse_body(body)


# --- Delete (3.11), Vendor ID (3.12) ---------------------------------------------


def test_delete():
    assert roundtrip(DeletePayload, b"\x01\x00\x00\x00") == DeletePayload(1, ())
    body = b"\x03\x04\x00\x02" + b"\x01\x02\x03\x04" + b"\x05\x06\x07\x08"
    assert roundtrip(DeletePayload, body) == DeletePayload(
        3, (b"\x01\x02\x03\x04", b"\x05\x06\x07\x08")
    )


@pytest.mark.parametrize(
    "body",
    [
        b"\x03\x04\x00",
        b"\x01\x08\x00\x01" + bytes(8),  # IKE with SPIs
        b"\x03\x04\x00\x02" + bytes(4),  # count says 2, has 1
        b"\x03\x04\x00\x01" + bytes(5),  # trailing octet
        b"\x03\x02\x00\x01" + bytes(2),  # ESP SPI of 2
    ],
)
def test_delete_malformed(body):
    with pytest.raises(InvalidSyntax):
        DeletePayload.parse_body(body)


def test_delete_serialize_checks():
    with pytest.raises(InvalidSyntax):
        DeletePayload(3, (b"\x01\x02\x03\x04", b"\x01")).serialize_body()
    with pytest.raises(InvalidSyntax):
        DeletePayload(1, (bytes(8),)).serialize_body()


def test_vendor_id():
    assert roundtrip(VendorIdPayload, b"strongSwan") == VendorIdPayload(b"strongSwan")


# --- Traffic selectors (3.13) ------------------------------------------------------


def ts4(proto, sp, ep, a, b) -> bytes:
    # 3.13.1 Figure 20: type, IP protocol, length, ports, addresses
    return (
        bytes([7, proto])
        + u16(16)
        + u16(sp)
        + u16(ep)
        + IPv4Address(a).packed
        + IPv4Address(b).packed
    )


def test_ts_ipv4_and_ipv6():
    six = (
        bytes([8, 6])
        + u16(40)
        + u16(443)
        + u16(443)
        + IPv6Address("2001:db8::").packed
        + IPv6Address("2001:db8::ffff").packed
    )
    body = b"\x02\x00\x00\x00" + ts4(0, 0, 65535, "10.0.0.0", "10.0.0.255") + six
    for cls in (TSiPayload, TSrPayload):
        p = roundtrip(cls, body)
        assert p.selectors == (
            TrafficSelector(7, 0, 0, 65535, IPv4Address("10.0.0.0"), IPv4Address("10.0.0.255")),
            TrafficSelector(
                8, 6, 443, 443, IPv6Address("2001:db8::"), IPv6Address("2001:db8::ffff")
            ),
        )


def test_ts_ports_reversed_is_meaning_not_syntax():
    body = b"\x01\x00\x00\x00" + ts4(17, 500, 100, "10.0.0.9", "10.0.0.1")
    assert roundtrip(TSiPayload, body).selectors[0].start_port == 500


@pytest.mark.parametrize(
    "body",
    [
        b"\x01\x00\x00",  # truncated header
        b"\x02\x00\x00\x00" + ts4(0, 0, 65535, "10.0.0.0", "10.0.0.1"),  # count 2, has 1
        b"\x01\x00\x00\x00" + ts4(0, 0, 65535, "10.0.0.0", "10.0.0.1") + b"\x00",  # trailing
        b"\x01\x00\x00\x00" + bytes([7, 0]) + u16(40) + bytes(12),  # IPv4 with IPv6 length
        b"\x01\x00\x00\x00" + bytes([8, 0]) + u16(16) + bytes(12),  # IPv6 with IPv4 length
        b"\x01\x00\x00\x00" + bytes([9, 0]) + u16(16) + bytes(12),  # FC (unsupported)
        b"\x01\x00\x00\x00" + ts4(0, 0, 65535, "10.0.0.0", "10.0.0.1")[:12],  # truncated TS
    ],
)
def test_ts_malformed(body):
    with pytest.raises(InvalidSyntax):
        TSiPayload.parse_body(body)


def test_ts_serialize_checks():
    bad = TrafficSelector(7, 0, 0, 1, IPv6Address("::1"), IPv6Address("::1"))
    with pytest.raises(InvalidSyntax):
        TSiPayload((bad,)).serialize_body()
    with pytest.raises(InvalidSyntax):
        TrafficSelector(7, 0, 0, 70000, IPv4Address(1), IPv4Address(2)).serialize()


# --- SK (3.14) and SKF (RFC 7383 2.5) -----------------------------------------------


def test_encrypted_kept_raw():
    assert EncryptedPayload.parse_body(b"ivcipherICV", 35) == EncryptedPayload(35, b"ivcipherICV")


def test_encrypted_fragment():
    p = EncryptedFragmentPayload.parse_body(u16(1) + u16(3) + b"data", 35)
    assert p == EncryptedFragmentPayload(35, 1, 3, b"data")
    assert p.serialize_body() == u16(1) + u16(3) + b"data"
    for hdr in (u16(0) + u16(3), u16(4) + u16(3), u16(1) + u16(0), b"\x00\x01\x00"):
        with pytest.raises(InvalidSyntax):
            EncryptedFragmentPayload.parse_body(hdr)


# --- CP (3.15) and EAP (3.16) --------------------------------------------------------


def test_config_request_and_reply():
    req = b"\x01\x00\x00\x00" + u16(1) + u16(0) + u16(10) + u16(0)
    assert roundtrip(ConfigPayload, req) == ConfigPayload(
        1, (ConfigAttribute(1), ConfigAttribute(10))
    )
    rep = b"\x02\x00\x00\x00" + u16(1) + u16(4) + b"\x0a\x00\x00\x05" + u16(7) + u16(3) + b"abc"
    assert roundtrip(ConfigPayload, rep).attributes[0].value == b"\x0a\x00\x00\x05"


def test_config_r_bit_ignored():
    p = ConfigPayload.parse_body(b"\x01\x00\x00\x00" + u16(0x8001) + u16(0))
    assert p.attributes == (ConfigAttribute(1),)


@pytest.mark.parametrize(
    "body",
    [
        b"\x01\x00\x00",
        b"\x01\x00\x00\x00" + u16(1) + u16(3) + b"abc",  # IPv4 address of 3 octets
        b"\x01\x00\x00\x00" + u16(8) + u16(16) + bytes(16),  # IPv6 address without prefix
        b"\x01\x00\x00\x00" + u16(7) + u16(5) + b"abc",  # past the end
        b"\x01\x00\x00\x00" + u16(7),  # half a header
        b"\x01\x00\x00\x00" + u16(14) + u16(3) + b"abc",  # odd SUPPORTED_ATTRIBUTES
    ],
)
def test_config_malformed(body):
    with pytest.raises(InvalidSyntax):
        ConfigPayload.parse_body(body)


def test_eap():
    identity = b"\x02\x07" + u16(9) + b"\x01carol"[:5]
    assert roundtrip(EapPayload, identity).data == identity
    assert roundtrip(EapPayload, b"\x03\x07\x00\x04").data == b"\x03\x07\x00\x04"  # Success
    for body in (b"\x03\x07\x00", b"\x03\x07\x00\x05", b"\x03\x07\x00\x04\x00"):
        with pytest.raises(InvalidSyntax):
            EapPayload.parse_body(body)


def test_unknown_payload_serialize_checks():
    assert UnknownPayload(49, False, b"x").serialize_body() == b"x"
    for t in (0, 33, 256):
        with pytest.raises(CodecError):
            UnknownPayload(t, False, b"").serialize_body()
