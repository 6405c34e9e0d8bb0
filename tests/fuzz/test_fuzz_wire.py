"""Fuzz the wire codec: only CodecError may ever escape (docs/contracts.md, wire/errors.py).

Targets: parse_message on random and mutated datagrams, parse_payloads on
random and mutated decrypted SK chains, every payload class's parse_body,
and IkeHeader.parse. A datagram that parses must serialize again.
"""

from __future__ import annotations

from fuzz_corpus import FUZZ, corpus, mutated
from hypothesis import given
from hypothesis import strategies as st

from ikepy.wire.errors import CodecError
from ikepy.wire.header import IkeHeader
from ikepy.wire.message import parse_message, parse_payloads, serialize_message
from ikepy.wire.payloads import (
    PAYLOAD_CLASSES,
    CertPayload,
    ConfigAttribute,
    ConfigPayload,
    DeletePayload,
    EapPayload,
    EncryptedFragmentPayload,
    EncryptedPayload,
    VendorIdPayload,
)

DATAGRAMS, INNER = corpus()


def _parse(data: bytes) -> None:
    try:
        msg = parse_message(data)
    except CodecError:
        return
    # whatever parses serializes again (possibly normalised), and that parses too
    parse_message(serialize_message(msg))


@FUZZ
@given(st.binary(max_size=600))
def test_parse_message_random_bytes(data):
    _parse(data)


@FUZZ
@given(st.sampled_from(DATAGRAMS).flatmap(mutated))
def test_parse_message_mutated_datagrams(data):
    _parse(data)


@FUZZ
@given(st.binary(min_size=28, max_size=28).map(lambda h: b"\0" * 8 + h[8:]))
def test_header_parse(data):
    try:
        IkeHeader.parse(data)
    except CodecError:
        pass


@FUZZ
@given(st.integers(0, 255), st.binary(max_size=400))
def test_parse_payloads_random(first, data):
    try:
        parse_payloads(first, data)
    except CodecError:
        pass


@FUZZ
@given(st.sampled_from(INNER).flatmap(lambda s: st.tuples(
    st.one_of(st.just(s[0]), st.integers(0, 255)), mutated(s[1]))))
def test_parse_payloads_mutated_inner_chains(case):
    first, data = case
    try:
        parse_payloads(first, data)
    except CodecError:
        pass


def _bodies():
    """Real payload bodies from the corpus, for structure-aware mutation."""
    out = []
    for first, octets in INNER:
        try:
            payloads = parse_payloads(first, octets)
        except CodecError:
            continue
        for p in payloads:
            out.append((type(p), p.serialize_body()))
    for p in (DeletePayload(3, (b"\x01\x02\x03\x04", b"\x05\x06\x07\x08")),
              DeletePayload(1, ()), ConfigPayload(1, (ConfigAttribute(1, b""),
                                                        ConfigAttribute(3, b"\x08\x08\x08\x08"))),
              EapPayload(bytes([1, 1, 0, 5, 1])), CertPayload(4, b"x" * 20),
              VendorIdPayload(b"strongSwan")):
        out.append((type(p), p.serialize_body()))
    return out


BODIES = _bodies()
CLASSES = sorted(PAYLOAD_CLASSES.values(), key=lambda c: c.PAYLOAD_TYPE)


def _parse_body(cls, body):
    try:
        if cls in (EncryptedPayload, EncryptedFragmentPayload):
            p = cls.parse_body(body, 0)
        else:
            p = cls.parse_body(body)
    except CodecError:
        return
    assert type(p) is cls
    try:
        p.serialize_body()
    except CodecError:
        pass


@FUZZ
@given(st.sampled_from(CLASSES), st.binary(max_size=200))
def test_every_parse_body_random(cls, body):
    _parse_body(cls, body)


@FUZZ
@given(st.sampled_from(BODIES).flatmap(lambda cb: st.tuples(st.just(cb[0]), mutated(cb[1]))))
def test_every_parse_body_mutated(case):
    _parse_body(*case)
