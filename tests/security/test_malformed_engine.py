"""Threat 6 (engine level): malformed input gets the one reply RFC 7296 asks for, or none.

RFC 7296 2.5 and 3.10.1: an IKE_SA_INIT request with an unknown payload whose
critical bit is set gets N(UNSUPPORTED_CRITICAL_PAYLOAD) carrying that
payload type; a request with a higher major version gets
N(INVALID_MAJOR_VERSION) in a header of the version we speak (2.0). Both
replies are unauthenticated, stateless and no larger than the request. Any
other garbage is dropped and counted. Also the regressions the fuzzer found
(tests/fuzz/test_fuzz_engine.py): IKE_AUTH without IDi, and IKE_AUTH again
on an established IKE SA.
"""

from __future__ import annotations

import os

from sec_helpers import LEFT, RIGHT, MitmNetwork, engine, init_request, is_up, seal_raw

from ikepy.ikev2.simulate import Network
from ikepy.wire.enums import ExchangeType, NotifyType
from ikepy.wire.header import IkeHeader
from ikepy.wire.message import Message, parse_message, serialize_message
from ikepy.wire.payloads import NotifyPayload, UnknownPayload

SRC = ("172.16.5.5", 500)
DST = (RIGHT, 500)


def responder():
    return engine(RIGHT, "%any", "right", "left", name="right")


def with_critical(payload_type: int = 200, critical: bool = True) -> bytes:
    msg = parse_message(init_request(os.urandom(8), os.urandom(32)))
    return serialize_message(Message(msg.header, (*msg.payloads,
                                                  UnknownPayload(payload_type, critical, b"xyz"))))


def only_reply(mgr):
    out = mgr.datagrams_to_send()
    assert len(out) == 1, out
    data, local, remote = out[0]
    assert (local, remote) == (DST, SRC)
    return data, parse_message(data)


def test_unknown_critical_payload_in_ike_sa_init_gets_unsupported_critical_payload():
    mgr = responder()
    req = with_critical(200)
    mgr.receive(req, DST, SRC, 1000.0)
    data, msg = only_reply(mgr)
    assert msg.header.is_response and msg.header.spi_i == req[:8]
    assert msg.header.exchange_type == ExchangeType.IKE_SA_INIT and msg.header.message_id == 0
    (n,) = msg.payloads
    assert isinstance(n, NotifyPayload)
    assert n.notify_type == NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD and n.data == bytes([200])
    assert len(data) <= len(req)
    assert mgr.sas == {} and mgr.stats()["sent_unsupported_critical_payload"] == 1


def test_unknown_non_critical_payload_is_ignored():
    mgr = responder()
    mgr.receive(with_critical(200, critical=False), DST, SRC, 1000.0)
    data, msg = only_reply(mgr)
    assert any(p.PAYLOAD_TYPE == 33 for p in msg.payloads)  # a normal SAr1: the handshake goes on


def test_higher_major_version_gets_invalid_major_version():
    mgr = responder()
    req = bytearray(init_request(os.urandom(8), os.urandom(32)))
    req[17] = 0x30  # version 3.0
    mgr.receive(bytes(req), DST, SRC, 1000.0)
    data, msg = only_reply(mgr)
    assert data[17] == 0x20  # the version we support, in the header (3.10.1)
    (n,) = msg.payloads
    assert n.notify_type == NotifyType.INVALID_MAJOR_VERSION
    assert mgr.sas == {} and mgr.stats()["sent_invalid_major_version"] == 1


def test_ikev1_and_responses_and_garbage_are_only_dropped():
    mgr = responder()
    req = bytearray(init_request(os.urandom(8), os.urandom(32)))
    v1 = bytes(req[:17]) + b"\x10" + bytes(req[18:])
    resp = bytearray(with_critical())
    resp[17], resp[19] = 0x30, 0x20  # a "response" of version 3: never answered (no loops)
    crit_resp = bytearray(with_critical())
    crit_resp[19] = 0x20
    for bad in (v1, bytes(resp), bytes(crit_resp), b"", b"\x00" * 27, bytes(req[:40]),
                os.urandom(300)):
        mgr.receive(bad, DST, SRC, 1000.0)
    assert mgr.datagrams_to_send() == []
    assert mgr.stats()["dropped_malformed"] == 7 and mgr.sas == {}


def test_ike_auth_without_idi_from_an_unauthenticated_initiator():
    # anyone can finish IKE_SA_INIT and then send an IKE_AUTH that decrypts to nothing
    def rewrite(data, src, dst):
        msg = parse_message(data)
        if msg.header.exchange_type == ExchangeType.IKE_AUTH and not msg.header.is_response:
            (sa,) = left.sas.values()
            return [(seal_raw(sa, ExchangeType.IKE_AUTH, False, 1, 0, b""), src, dst)]
        return [(data, src, dst)]

    net = MitmNetwork(rewrite)
    left = engine(LEFT, RIGHT, "left", "right")
    right = engine(RIGHT, LEFT, "right", "left")
    net.attach(LEFT, left)
    net.attach(RIGHT, right)
    left.initiate("net", None, net.now)
    net.run(max_time=30)  # must not raise
    assert right.sas == {} and left.sas == {}
    assert any("without IDi" in e.reason for e in right.events())


def test_a_second_ike_auth_on_an_established_sa_is_refused():
    net = Network()
    left = engine(LEFT, RIGHT, "left", "right")
    right = engine(RIGHT, LEFT, "right", "left")
    net.attach(LEFT, left)
    net.attach(RIGHT, right)
    left.initiate("net", None, net.now)
    net.run(until=lambda: is_up(left) and is_up(right))
    (lsa,), (rsa,) = left.sas.values(), right.sas.values()
    # the responder (holding the keys) sends an IKE_AUTH request to the initiator, and v.v.
    for sender, receiver, sa_r, local, remote in ((rsa, left, lsa, (LEFT, 500), (RIGHT, 500)),
                                                 (lsa, right, rsa, (RIGHT, 500), (LEFT, 500))):
        data = seal_raw(sender, ExchangeType.IKE_AUTH, False, sa_r.peer_mid, 0, b"")
        receiver.receive(data, local, remote, net.now)
        (reply, _, _), = receiver.datagrams_to_send()
        assert IkeHeader.parse(reply).is_response
    assert is_up(left) and is_up(right)
