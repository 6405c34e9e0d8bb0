"""Whole messages (RFC 7296 3.1, 3.2, 3.14) and the exchange rules (1.2-1.5)."""

from __future__ import annotations

import pytest

from ikepy.wire import (
    ExchangeType,
    HeaderFlags,
    IkeHeader,
    InvalidMajorVersion,
    InvalidSyntax,
    KePayload,
    Message,
    NoncePayload,
    NotifyPayload,
    NotifyType,
    PayloadType,
    Proposal,
    SaPayload,
    Transform,
    UnknownPayload,
    UnsupportedCriticalPayload,
    check_outer,
    check_rules,
    parse_message,
    parse_payloads,
    serialize_message,
    serialize_payloads,
)
from ikepy.wire.payloads import (
    AuthPayload,
    DeletePayload,
    EapPayload,
    EncryptedFragmentPayload,
    EncryptedPayload,
    IDiPayload,
    IDrPayload,
)

SPI_I = bytes.fromhex("0102030405060708")


def u16(n: int) -> bytes:
    return n.to_bytes(2, "big")


def gen(nxt: int, body: bytes, critical: bool = False) -> bytes:
    # 3.2 Figure 5: Next Payload, C|RESERVED, Payload Length
    return bytes([nxt, 0x80 if critical else 0]) + u16(4 + len(body)) + body


def datagram(first: int, chain: bytes, exch: int = 34, flags: int = 0x08, mid: int = 0) -> bytes:
    return (
        SPI_I
        + bytes(8)
        + bytes([first, 0x20, exch, flags])
        + mid.to_bytes(4, "big")
        + (28 + len(chain)).to_bytes(4, "big")
        + chain
    )


SA_BODY = b"\x00\x00\x00\x10\x01\x01\x00\x01" + b"\x00\x00\x00\x08\x01\x00\x00\x0c"
KE_BODY = u16(31) + b"\x00\x00" + bytes(32)
NONCE_BODY = bytes(32)
NATD_S = b"\x00\x00" + u16(16388) + bytes(20)
NATD_D = b"\x00\x00" + u16(16389) + bytes(20)

INIT_CHAIN = (
    gen(34, SA_BODY) + gen(40, KE_BODY) + gen(41, NONCE_BODY) + gen(41, NATD_S) + gen(0, NATD_D)
)
INIT = datagram(33, INIT_CHAIN)


def test_ike_sa_init_request_round_trip():
    msg = parse_message(INIT)
    assert [type(p).__name__ for p in msg.payloads] == [
        "SaPayload",
        "KePayload",
        "NoncePayload",
        "NotifyPayload",
        "NotifyPayload",
    ]
    assert serialize_message(msg) == INIT
    assert str(msg) == "IKE_SA_INIT request 0 [ SA KE No N(NATD_S_IP) N(NATD_D_IP) ]"
    assert msg.describe() == str(msg)
    assert msg.first(KePayload) == KePayload(31, bytes(32))
    assert len(msg.notifies()) == 2
    assert msg.notifies(NotifyType.NAT_DETECTION_DESTINATION_IP)[0].notify_type == 16389
    assert list(msg.of_type(NoncePayload)) == [NoncePayload(bytes(32))]
    check_rules(msg.header.exchange_type, msg.header.is_response, msg.payloads)
    check_outer(msg.header.exchange_type, msg.header.is_response, msg.payloads)


def test_serialize_recomputes_next_payload_and_lengths():
    msg = parse_message(INIT)
    hdr = IkeHeader(SPI_I, bytes(8), 0, 34, HeaderFlags.INITIATOR, 0, 0)
    assert serialize_message(Message(hdr, msg.payloads)) == INIT


def test_empty_message():
    raw = datagram(0, b"", exch=37, flags=0x20, mid=7)
    msg = parse_message(raw)
    assert msg.payloads == ()
    assert serialize_message(msg) == raw
    assert str(msg) == "INFORMATIONAL response 7 [  ]"


def test_sk_must_be_last_and_stays_raw():
    raw = datagram(46, gen(35, b"IV-cipher-ICV"), exch=35)
    msg = parse_message(raw)
    assert msg.payloads == (EncryptedPayload(PayloadType.IDi, b"IV-cipher-ICV"),)
    assert serialize_message(msg) == raw
    assert str(msg) == "IKE_AUTH request 0 [ E ]"
    check_outer(35, False, msg.payloads)
    with pytest.raises(InvalidSyntax):
        parse_message(datagram(46, gen(35, b"xx") + gen(0, b"yy"), exch=35))
    with pytest.raises(InvalidSyntax):
        serialize_payloads((EncryptedPayload(35, b"x"), NoncePayload(bytes(16))))


def test_skf_describe():
    raw = datagram(53, gen(35, u16(1) + u16(2) + b"frag"), exch=35)
    msg = parse_message(raw)
    assert msg.payloads == (EncryptedFragmentPayload(35, 1, 2, b"frag"),)
    assert str(msg) == "IKE_AUTH request 0 [ EF(1/2) ]"
    assert serialize_message(msg) == raw


def test_unknown_noncritical_payload_kept():
    chain = gen(49, NONCE_BODY) + gen(0, b"opaque")  # 49 (GSPM) is not decoded
    raw = datagram(40, chain)
    msg = parse_message(raw)
    assert msg.payloads[1] == UnknownPayload(49, False, b"opaque")
    assert serialize_message(msg) == raw
    assert "U(49)" in str(msg)


def test_unknown_critical_payload():
    raw = datagram(40, gen(200, NONCE_BODY) + gen(0, b"opaque", critical=True))
    with pytest.raises(UnsupportedCriticalPayload) as exc:
        parse_message(raw)
    assert exc.value.payload_type == 200
    assert exc.value.notify == NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD
    assert exc.value.notify_data == b"\xc8"


def test_critical_bit_on_known_payload_ignored():
    raw = datagram(40, gen(0, NONCE_BODY, critical=True))
    msg = parse_message(raw)
    assert msg.payloads == (NoncePayload(NONCE_BODY),)
    assert serialize_message(msg) != raw  # 3.2: C bit is zero for RFC 7296 payloads


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(INIT + b"\x00", id="trailing-after-datagram"),
        pytest.param(INIT[:-1], id="header-length-mismatch"),
        pytest.param(datagram(33, INIT_CHAIN + b"\x00\x00"), id="trailing-after-last-payload"),
        pytest.param(datagram(40, bytes([0, 0]) + u16(3)), id="payload-length-below-4"),
        pytest.param(datagram(40, bytes([0, 0]) + u16(40) + bytes(20)), id="payload-past-end"),
        pytest.param(datagram(40, gen(40, NONCE_BODY)), id="chain-announces-more"),
        pytest.param(datagram(40, b"\x00\x00"), id="half-generic-header"),
    ],
)
def test_malformed_messages(raw):
    with pytest.raises(InvalidSyntax) as exc:
        parse_message(raw)
    assert exc.value.notify == NotifyType.INVALID_SYNTAX


def test_invalid_major_version_message():
    raw = bytearray(INIT)
    raw[17] = 0x10
    with pytest.raises(InvalidMajorVersion):
        parse_message(bytes(raw))


def test_parse_payloads_inner_chain():
    inner = (IDiPayload(2, b"carol"), AuthPayload(2, bytes(32)), NotifyPayload(0, b"", 16384))
    first, raw = serialize_payloads(inner)
    assert first == PayloadType.IDi
    assert parse_payloads(first, raw) == inner
    assert parse_payloads(first, memoryview(raw)) == inner
    assert serialize_payloads(()) == (0, b"")


# --- rules (1.2 - 1.5) --------------------------------------------------------------

SA = SaPayload((Proposal(1, 1, b"", (Transform(1, 12),)),))
KE = KePayload(31, bytes(32))
NO = NoncePayload(bytes(32))


def n(t: int, data: bytes = b"") -> NotifyPayload:
    return NotifyPayload(0, b"", t, data)


def test_rules_ike_sa_init():
    check_rules(34, False, (SA, KE, NO, n(16388, bytes(20))))
    check_rules(34, True, (SA, KE, NO))
    check_rules(34, True, (n(NotifyType.INVALID_KE_PAYLOAD, u16(19)),))  # 1.2 lone error
    check_rules(34, True, (n(NotifyType.COOKIE, b"c"),))  # 2.6 lone COOKIE
    check_rules(34, True, (n(NotifyType.NO_PROPOSAL_CHOSEN),))
    with pytest.raises(InvalidSyntax, match="KE"):
        check_rules(34, False, (SA, NO))
    with pytest.raises(InvalidSyntax, match="2 NONCE"):
        check_rules(34, False, (SA, KE, NO, NO))
    with pytest.raises(InvalidSyntax, match="SA"):
        check_rules(34, True, (KE, NO, n(16388, bytes(20))))
    with pytest.raises(InvalidSyntax, match="AUTH payload not allowed"):
        check_rules(34, False, (SA, KE, NO, AuthPayload(2, b"x")))
    check_rules(34, False, (SA, KE, NO, UnknownPayload(49, False, b"")))


def test_rules_ike_auth():
    idi = IDiPayload(2, b"carol")
    auth = AuthPayload(2, bytes(32))
    check_rules(35, False, (idi, auth, SA))
    check_rules(35, False, (EapPayload(b"\x02\x01\x00\x04"),))  # 2.16 later EAP round
    check_rules(35, True, (IDrPayload(2, b"moon"), auth, n(NotifyType.NO_PROPOSAL_CHOSEN)))
    with pytest.raises(InvalidSyntax, match="2 IDi"):
        check_rules(35, False, (idi, idi, auth))
    with pytest.raises(InvalidSyntax, match="KE payload not allowed"):
        check_rules(35, False, (idi, auth, KE))
    with pytest.raises(InvalidSyntax):
        check_rules(35, False, (EncryptedPayload(35, b""),))  # inner rules, SK not allowed


def test_rules_create_child_sa_and_informational():
    check_rules(36, False, (n(NotifyType.REKEY_SA), SA, NO, KE))
    check_rules(36, True, (n(NotifyType.NO_ADDITIONAL_SAS),))
    with pytest.raises(InvalidSyntax, match="NONCE"):
        check_rules(36, False, (SA,))
    with pytest.raises(InvalidSyntax, match="NONCE"):
        check_rules(36, True, (SA, n(16384)))  # status notify does not waive
    check_rules(37, False, ())
    check_rules(37, False, (DeletePayload(1, ()),))
    check_rules(37, True, (n(16384), n(16384)))
    with pytest.raises(InvalidSyntax, match="SA payload not allowed"):
        check_rules(37, False, (SA,))


def test_rules_extensions_and_unknown_exchange():
    check_rules(ExchangeType.IKE_INTERMEDIATE, False, (KE,))
    check_rules(ExchangeType.IKE_FOLLOWUP_KE, False, (KE, n(NotifyType.ADDITIONAL_KEY_EXCHANGE)))
    with pytest.raises(InvalidSyntax):
        check_rules(99, False, ())


def test_check_outer():
    check_outer(36, True, (EncryptedFragmentPayload(33, 2, 2, b""),))
    with pytest.raises(InvalidSyntax):
        check_outer(36, False, (SA, NO))
    with pytest.raises(InvalidSyntax):
        check_outer(36, False, ())
