"""Property tests: generated payloads round trip; garbage only raises CodecError."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ikepy.wire import (
    AuthPayload,
    CertPayload,
    CertReqPayload,
    CodecError,
    ConfigAttribute,
    ConfigPayload,
    DeletePayload,
    EapPayload,
    EncryptedFragmentPayload,
    EncryptedPayload,
    IDiPayload,
    IDrPayload,
    IkeHeader,
    KePayload,
    Message,
    NoncePayload,
    NotifyPayload,
    Proposal,
    SaPayload,
    TrafficSelector,
    Transform,
    TransformAttribute,
    TSiPayload,
    TSrPayload,
    UnknownPayload,
    VendorIdPayload,
    parse_message,
    parse_payloads,
    serialize_message,
    serialize_payloads,
)
from ikepy.wire.payloads import CONFIG_ATTRIBUTE_LENGTHS, NOTIFY_DATA_LENGTHS, PAYLOAD_CLASSES

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
blob = st.binary(max_size=64)

attr = st.one_of(
    st.builds(TransformAttribute, st.integers(0, 0x7FFF), u16),
    st.builds(TransformAttribute, st.integers(0, 0x7FFF), st.binary(max_size=8)),
)
transform = st.builds(Transform, u8, u16, st.lists(attr, max_size=3).map(tuple))


@st.composite
def proposal(draw):
    proto = draw(st.integers(0, 6))
    if proto == 1:
        spi = draw(st.sampled_from([b"", bytes(range(8))]))
    elif proto in (2, 3):
        spi = draw(st.binary(min_size=4, max_size=4))
    else:
        spi = draw(st.binary(max_size=8))
    return Proposal(draw(u8), proto, spi, tuple(draw(st.lists(transform, max_size=5))))


sa = st.builds(SaPayload, st.lists(proposal(), min_size=1, max_size=3).map(tuple))
ke = st.builds(KePayload, u16, st.binary(min_size=1, max_size=64))


@st.composite
def ident(draw, cls):
    id_type = draw(u8)
    if id_type == 1:
        data = draw(st.binary(min_size=4, max_size=4))
    elif id_type == 5:
        data = draw(st.binary(min_size=16, max_size=16))
    else:
        data = draw(blob)
    return cls(id_type, data, draw(st.binary(min_size=3, max_size=3)))


@st.composite
def notify(draw):
    ntype = draw(st.one_of(u16, st.sampled_from(sorted(NOTIFY_DATA_LENGTHS))))
    lo, hi = NOTIFY_DATA_LENGTHS.get(ntype, (0, 64))
    data = draw(st.binary(min_size=lo, max_size=hi))
    if ntype == 16431 and len(data) % 2:
        data = data[:-1]
    choice = draw(st.integers(0, 2))
    if choice == 0:
        proto, spi = draw(u8), b""
    elif choice == 1:
        proto, spi = draw(st.sampled_from([2, 3])), draw(st.binary(min_size=4, max_size=4))
    else:
        proto, spi = 1, draw(st.binary(min_size=8, max_size=8))
    return NotifyPayload(proto, spi, ntype, data)


@st.composite
def delete(draw):
    proto = draw(st.sampled_from([1, 2, 3]))
    if proto == 1:
        return DeletePayload(1, ())
    return DeletePayload(
        proto, tuple(draw(st.lists(st.binary(min_size=4, max_size=4), max_size=5)))
    )


v4 = st.builds(IPv4Address, st.integers(0, 2**32 - 1))
v6 = st.builds(IPv6Address, st.integers(0, 2**128 - 1))
selector = st.one_of(
    st.builds(TrafficSelector, st.just(7), u8, u16, u16, v4, v4),
    st.builds(TrafficSelector, st.just(8), u8, u16, u16, v6, v6),
)
selectors = st.lists(selector, max_size=4).map(tuple)


@st.composite
def cfg_attr(draw):
    a_type = draw(
        st.one_of(st.integers(0, 0x7FFF), st.sampled_from(sorted(CONFIG_ATTRIBUTE_LENGTHS)))
    )
    if a_type in CONFIG_ATTRIBUTE_LENGTHS:
        n = draw(st.sampled_from(sorted(CONFIG_ATTRIBUTE_LENGTHS[a_type])))
        return ConfigAttribute(a_type, draw(st.binary(min_size=n, max_size=n)))
    value = draw(st.binary(max_size=20))
    if a_type == 14 and len(value) % 2:
        value = value[:-1]
    return ConfigAttribute(a_type, value)


@st.composite
def eap(draw):
    rest = draw(st.binary(max_size=40))
    return EapPayload(bytes([draw(u8), draw(u8)]) + (4 + len(rest)).to_bytes(2, "big") + rest)


unknown_type = st.integers(1, 255).filter(lambda t: t not in PAYLOAD_CLASSES)

plain_payload = st.one_of(
    sa,
    ke,
    ident(IDiPayload),
    ident(IDrPayload),
    st.builds(CertPayload, u8, blob),
    st.builds(CertReqPayload, u8, blob),
    st.builds(AuthPayload, u8, blob),
    st.builds(NoncePayload, st.binary(min_size=16, max_size=256)),
    notify(),
    delete(),
    st.builds(VendorIdPayload, blob),
    st.builds(TSiPayload, selectors),
    st.builds(TSrPayload, selectors),
    st.builds(ConfigPayload, u8, st.lists(cfg_attr(), max_size=4).map(tuple)),
    eap(),
    st.builds(UnknownPayload, unknown_type, st.just(False), blob),
)
encrypted = st.one_of(
    st.builds(EncryptedPayload, u8, blob),
    st.builds(
        EncryptedFragmentPayload,
        u8,
        st.integers(1, 5),
        st.integers(5, 0xFFFF),
        blob,
    ),
)


@st.composite
def chain(draw):
    payloads = draw(st.lists(plain_payload, max_size=6))
    if draw(st.booleans()):
        payloads.append(draw(encrypted))
    return tuple(payloads)


header = st.builds(
    IkeHeader,
    st.binary(min_size=8, max_size=8),
    st.binary(min_size=8, max_size=8),
    st.just(0),
    u8,
    u8,
    st.integers(0, 2**32 - 1),
    st.just(0),
    st.just(2),
    st.integers(0, 15),
)


@SETTINGS
@given(plain_payload)
def test_every_payload_round_trips(p):
    body = p.serialize_body()
    if isinstance(p, UnknownPayload):
        return
    again = type(p).parse_body(body)
    assert again == p
    assert again.serialize_body() == body


@SETTINGS
@given(chain())
def test_payload_chain_round_trips(payloads):
    first, raw = serialize_payloads(payloads)
    parsed = parse_payloads(first, raw)
    assert parsed == payloads
    assert serialize_payloads(parsed) == (first, raw)


@SETTINGS
@given(header, chain())
def test_message_round_trips(hdr, payloads):
    raw = serialize_message(Message(hdr, payloads))
    msg = parse_message(raw)
    assert msg.payloads == payloads
    assert msg.header.length == len(raw)
    assert serialize_message(msg) == raw
    assert isinstance(msg.describe(), str)


def _only_codec_errors(data: bytes) -> None:
    try:
        msg = parse_message(data)
    except CodecError:
        return
    # anything accepted must re-serialize to something that parses the same
    assert parse_message(serialize_message(msg)).payloads == msg.payloads


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_codec_error(data):
    _only_codec_errors(data)
    try:
        parse_payloads(data[0] if data else 0, data[1:])
    except CodecError:
        pass


@SETTINGS
@given(st.binary(max_size=300), u8)
def test_random_chain_behind_valid_header(chain_bytes, first):
    hdr = IkeHeader(bytes(8), bytes(8), first, 34, 8, 0, 28 + len(chain_bytes))
    _only_codec_errors(hdr.serialize() + chain_bytes)


@SETTINGS
@given(header, chain(), st.data())
def test_mutated_messages_only_raise_codec_error(hdr, payloads, data):
    raw = bytearray(serialize_message(Message(hdr, payloads)))
    mutation = data.draw(st.sampled_from(["flip", "truncate", "extend", "fixlen-flip"]))
    if mutation in ("flip", "fixlen-flip"):
        for _ in range(data.draw(st.integers(1, 4))):
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] ^= 1 << data.draw(st.integers(0, 7))
        if mutation == "fixlen-flip":  # keep the header plausible, so the chain is reached
            raw[17] = 0x20
            raw[24:28] = len(raw).to_bytes(4, "big")
    elif mutation == "truncate":
        del raw[data.draw(st.integers(0, len(raw) - 1)) :]
    else:
        raw += data.draw(st.binary(min_size=1, max_size=16))
    _only_codec_errors(bytes(raw))
