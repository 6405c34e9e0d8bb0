"""End-to-end engine fuzz: whatever arrives, IkeManager.receive never raises.

Unauthenticated garbage is dropped and counted; authenticated garbage (a
peer that holds the keys but sends nonsense inside SK) is refused with an
error notify or dropped. Targets:

- a responder with no SAs: random and mutated datagrams;
- an established IKE SA: mutated datagrams carrying its SPIs;
- the same SA, authenticated: mutated and generated inner payload chains,
  sealed with the SA's real keys, as requests (any exchange type, the
  expected message ID) and as responses to a request it has outstanding.

After each example the engine's views and timers must still work.
"""

from __future__ import annotations

import ipaddress
import struct

from fuzz_corpus import FUZZ, corpus, established_pair, mutated
from hypothesis import assume, given
from hypothesis import strategies as st

from ikepy.ikev2.tasks.informational import Liveness
from ikepy.wire.enums import ExchangeType, HeaderFlags, NotifyType, PayloadType
from ikepy.wire.errors import CodecError
from ikepy.wire.header import HEADER_SIZE, IkeHeader
from ikepy.wire.message import parse_payloads, serialize_payloads
from ikepy.wire.payloads import (
    DeletePayload,
    KePayload,
    NoncePayload,
    NotifyPayload,
    Proposal,
    SaPayload,
    TrafficSelector,
    Transform,
    TSiPayload,
    TSrPayload,
)

DATAGRAMS, INNER = corpus()
LEFT, RIGHT = ("10.99.0.1", 500), ("10.99.0.2", 500)
_SK = struct.Struct("!BBH")


class Live:
    """One established pair, rebuilt when a fuzz case tears it down."""

    net = left = right = None

    @classmethod
    def get(cls):
        if cls.right is None or not cls.right.sas or not any(
                sa.state == "ESTABLISHED" for sa in cls.right.sas.values()) or not cls.left.sas:
            cls.net, cls.left, cls.right = established_pair()
        return cls.net, cls.left, cls.right


def check_alive(*mgrs, now):
    for m in mgrs:
        m.datagrams_to_send()
        m.events()
        m.list_sas()
        m.stats()
        m.next_deadline()
        m.handle_timer(now)


def sa_of(mgr):
    return next(sa for sa in mgr.sas.values() if sa.state == "ESTABLISHED")


def seal(sa, exchange: int, response: bool, mid: int, first: int, octets: bytes) -> bytes:
    flags = (HeaderFlags.INITIATOR if sa.initiator else 0) | (HeaderFlags.RESPONSE if response else 0)
    header = IkeHeader(sa.spi_i, sa.spi_r, 0, exchange, flags, mid, 0)
    cipher = sa.cipher_out
    sk_len = 4 + cipher.body_length(len(octets))
    aad = header.with_length(PayloadType.SK, HEADER_SIZE + sk_len).serialize() + _SK.pack(
        first, 0, sk_len)
    return aad + cipher.seal(octets, aad)


# ------------------------------------------------------------- unauthenticated

@FUZZ
@given(st.one_of(st.binary(max_size=400), st.sampled_from(DATAGRAMS).flatmap(mutated)))
def test_fresh_responder_survives_garbage(data):
    _, _, right = established_pair() if Live.right is None else Live.get()
    right.receive(data, RIGHT, ("10.99.0.77", 500), 1000.0)
    check_alive(right, now=1000.0)


@FUZZ
@given(st.sampled_from(DATAGRAMS).flatmap(mutated), st.booleans())
def test_established_sa_survives_mutated_datagrams_with_its_spis(data, to_right):
    net, left, right = Live.get()
    sa = sa_of(right)
    if len(data) >= 16:
        data = sa.spi_i + sa.spi_r + data[16:]
    target, local, remote = (right, RIGHT, LEFT) if to_right else (left, LEFT, RIGHT)
    target.receive(data, local, remote, net.now)
    check_alive(left, right, now=net.now)


# --------------------------------------------------------------- authenticated

EXCHANGES = [ExchangeType.IKE_SA_INIT, ExchangeType.IKE_AUTH, ExchangeType.CREATE_CHILD_SA,
             ExchangeType.INFORMATIONAL, 43, 99]

u8, u16, u32 = st.integers(0, 255), st.integers(0, 0xFFFF), st.integers(0, 2**32 - 1)
addr4 = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
addr6 = st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address)


@st.composite
def selector(draw):
    a, b = (draw(addr4), draw(addr4)) if draw(st.booleans()) else (draw(addr6), draw(addr6))
    ts_type = 7 if a.version == 4 else 8
    return TrafficSelector(ts_type, draw(u8), draw(u16), draw(u16), a, b)


transform = st.builds(Transform, st.integers(1, 5), st.sampled_from([1, 2, 3, 12, 14, 19, 20, 31]))
proposal = st.builds(lambda n, proto, spi, ts: Proposal(n, proto, spi, tuple(ts)),
                     st.integers(1, 3), st.sampled_from([1, 3]),
                     st.sampled_from([b"", b"\x01\x02\x03\x04", bytes(8)]),
                     st.lists(transform, max_size=5))
payload = st.one_of(
    st.builds(lambda ps: SaPayload(tuple(ps)), st.lists(proposal, min_size=1, max_size=3)),
    st.builds(KePayload, st.sampled_from([14, 19, 31, 2, 0, 999]), st.binary(max_size=64)),
    st.builds(NoncePayload, st.binary(min_size=16, max_size=40)),
    st.builds(NotifyPayload, st.sampled_from([0, 1, 3]), st.sampled_from([b"", b"\x01\x02\x03\x04"]),
              st.sampled_from(list(NotifyType)), st.binary(max_size=8)),
    st.builds(lambda p, spis: DeletePayload(p, tuple(spis)), st.sampled_from([1, 3]),
              st.lists(st.binary(min_size=4, max_size=4), max_size=3)),
    st.builds(lambda s: TSiPayload(tuple(s)), st.lists(selector(), min_size=1, max_size=2)),
    st.builds(lambda s: TSrPayload(tuple(s)), st.lists(selector(), min_size=1, max_size=2)),
)


@st.composite
def inner_chain(draw):
    """(first payload type, octets): a mutated real chain or a generated one."""
    if draw(st.booleans()):
        first, octets = draw(st.sampled_from(INNER))
        return draw(st.one_of(st.just(first), u8)), draw(mutated(octets))
    payloads = draw(st.lists(payload, max_size=7))
    try:
        first, octets = serialize_payloads(payloads)
    except CodecError:
        assume(False)
    return first, octets


@FUZZ
@given(st.sampled_from(EXCHANGES), inner_chain(), st.booleans())
def test_authenticated_garbage_requests(exchange, chain, to_right):
    net, left, right = Live.get()
    sender, target = (left, right) if to_right else (right, left)
    s_sa, t_sa = sa_of(sender), sa_of(target)
    first, octets = chain
    data = seal(s_sa, exchange, False, t_sa.peer_mid, first, octets)
    local, remote = (RIGHT, LEFT) if to_right else (LEFT, RIGHT)
    target.receive(data, local, remote, net.now)
    check_alive(left, right, now=net.now)


@FUZZ
@given(inner_chain())
def test_authenticated_garbage_responses(chain):
    net, left, right = Live.get()
    lsa, rsa = sa_of(left), sa_of(right)
    if lsa.active is None:
        lsa.queue_task(Liveness(), net.now)
    left.datagrams_to_send()  # the request is "lost": the fuzzer answers it instead
    if lsa.active is None:
        return
    first, octets = chain
    data = seal(rsa, lsa.active.task.exchange, True, lsa.active.message_id, first, octets)
    left.receive(data, LEFT, RIGHT, net.now)
    check_alive(left, right, now=net.now)


def test_inner_corpus_is_real():
    # the corpus holds the decrypted chains of IKE_AUTH, CREATE_CHILD_SA and INFORMATIONAL
    kinds = set()
    for first, octets in INNER:
        kinds |= {type(p).__name__ for p in parse_payloads(first, octets)}
    assert {"IDiPayload", "AuthPayload", "TSiPayload", "KePayload", "SaPayload"} <= kinds
