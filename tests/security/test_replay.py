"""Threat 3: replay of IKE messages (SECURITY.md, "Replay").

An attacker records every request of a tunnel's life and sends it again.
IKEv2's defences (RFC 7296 2.1-2.3): each request carries a message ID; the
responder processes exactly the next one, answers a retransmission of the
last one from its response cache without processing it again, and drops
every other ID (counted as dropped_bad_message_id). The message ID is in the
header, which the SK payload's integrity check covers, so an old request
cannot be renumbered. ESP replay is the data plane's anti-replay window
(tests/unit/dataplane/test_replay.py).

    # IKE_SA_INIT, IKE_AUTH                    (left -> right)
    # CREATE_CHILD_SA { SA, Ni, KEi, TSi, TSr }  (left -> right: a second CHILD_SA)
    # CREATE_CHILD_SA { N(REKEY_SA), ... }       (right -> left: rekey of the first)
    # INFORMATIONAL { D(ESP) }                   (both ways)
    # INFORMATIONAL { }                          (right -> left: liveness)
    # ... then every captured request again, in order, then in reverse
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from sec_helpers import LEFT, RIGHT, is_up

from ikepy.dataplane.memory import MemoryBackend
from ikepy.ikev2.simulate import Link, Network, pair
from ikepy.ikev2.tasks.child_rekey import ChildRekey
from ikepy.ikev2.tasks.informational import Liveness
from ikepy.wire.header import HEADER_SIZE, IkeHeader
from ikepy.wire.message import parse_message

WEB = "web {{ local_ts = {}\n remote_ts = {}\n esp_proposals = aes128gcm16-ecp256 }}"
WEB_L, WEB_R = WEB.format("10.1.1.0/24", "10.2.1.0/24"), WEB.format("10.2.1.0/24", "10.1.1.0/24")


class RecordingBackend(MemoryBackend):
    def __init__(self) -> None:
        super().__init__()
        self.installs = 0
        self.deletes = 0

    def add_child_sa(self, spec):  # type: ignore[override]
        self.installs += 1
        return super().add_child_sa(spec)

    def delete_child_sa(self, reqid):  # type: ignore[override]
        self.deletes += 1
        return super().delete_child_sa(reqid)


def snapshot(*mgrs) -> str:
    views = []
    for m in mgrs:
        sas = m.list_sas()
        for sa in sas:
            for k in [k for k in sa if k.endswith("_s")]:
                del sa[k]
            for c in sa["children"]:
                for k in [k for k in c if k.endswith("_s")]:
                    del c[k]
        views.append({"sas": sas, "backend": sorted(m.backend.sas),
                      "ids": dict(m._ids), "installs": m.backend.installs,
                      "deletes": m.backend.deletes,
                      "mids": [(sa.my_mid, sa.peer_mid) for sa in m.sas.values()]})
    return json.dumps(views, sort_keys=True, default=str)


def drain(net: Network) -> None:
    """Deliver what is in flight without letting the clock reach any timer."""
    net._flush()
    while net.link.in_flight:
        net.step()


def settle(net, left, right, children):
    net.run(until=lambda: is_up(left, children) and is_up(right, children)
            and not left.busy() and not right.busy(), max_time=60)


@pytest.fixture
def tunnel_life():
    requests: list[tuple[bytes, tuple, tuple]] = []
    link = Link()
    link.taps.append(lambda d, s, t: requests.append((d, s, t))
                     if not parse_message(d).header.is_response else None)
    net, left, right = pair(link, left={"extra_child": WEB_L}, right={"extra_child": WEB_R},
                            both={"esp": "aes256gcm16-x25519"},
                            backend=RecordingBackend)
    left.initiate("net", None, net.now)
    settle(net, left, right, 1)
    left.initiate("web", None, net.now)                   # CREATE_CHILD_SA, left -> right
    settle(net, left, right, 2)
    (rsa,) = right.sas.values()
    net_child = next(c for c in rsa.children if c.name == "net")
    rsa.queue_task(ChildRekey(net_child), net.now)        # CREATE_CHILD_SA + delete, right -> left
    net.run(until=lambda: not right.busy() and not left.busy()
            and len(right.backend.sas) == 2, max_time=60)
    left.terminate_child("web", net.now)                  # INFORMATIONAL D(ESP), left -> right
    net.run(until=lambda: not left.busy() and len(right.backend.sas) == 1, max_time=60)
    rsa.queue_task(Liveness(), net.now)                   # INFORMATIONAL { }, right -> left
    net.run(until=lambda: not right.busy(), max_time=60)
    assert is_up(left) and is_up(right)
    exchanges = {(parse_message(d).header.exchange_type, s[0]) for d, s, _ in requests}
    assert {(34, LEFT), (35, LEFT), (36, LEFT), (36, RIGHT), (37, LEFT), (37, RIGHT)} <= exchanges
    return net, left, right, requests


def replay(net, requests, order=1):
    for data, src, dst in requests[::order]:
        net.peers[dst[0]].receive(data, dst, src, net.now)
        drain(net)


def test_replayed_requests_change_nothing(tunnel_life):
    net, left, right, requests = tunnel_life
    before = snapshot(left, right)
    stats_l, stats_r = left.stats(), right.stats()
    replay(net, requests)
    replay(net, requests, order=-1)
    assert snapshot(left, right) == before, "a replayed request changed state"
    after_l, after_r = left.stats(), right.stats()
    n = len(requests) * 2
    answered = sum(s.get("retransmits_answered", 0) for s in (after_l, after_r)) - sum(
        s.get("retransmits_answered", 0) for s in (stats_l, stats_r))
    dropped = sum(s.get("dropped_bad_message_id", 0) for s in (after_l, after_r)) - sum(
        s.get("dropped_bad_message_id", 0) for s in (stats_l, stats_r))
    # each side's last request is answered from the cache; every other one is dropped
    assert answered == 4, (answered, n)
    assert answered + dropped == n
    assert after_l.get("ike_sas_established") == stats_l.get("ike_sas_established")
    print(f"\nreplay: {n} replayed requests, {answered} answered from the response cache, "
          f"{dropped} dropped (dropped_bad_message_id), no state change")


def test_out_of_window_and_renumbered_requests_are_dropped(tunnel_life):
    net, left, right, requests = tunnel_life
    (rsa,) = right.sas.values()
    before = snapshot(left, right)
    last = next(d for d, s, _ in reversed(requests) if s[0] == LEFT)
    hdr = IkeHeader.parse(last)
    # a message ID far ahead of the window: dropped before any decryption
    ahead = dataclasses.replace(hdr, message_id=rsa.peer_mid + 5)
    right.receive(ahead.serialize(hdr.next_payload, hdr.length) + last[HEADER_SIZE:],
                  (RIGHT, 500), (LEFT, 500), net.now)
    assert right.stats()["dropped_bad_message_id"] >= 1
    # renumbered to the next expected ID: the header is covered by the ICV
    renum = dataclasses.replace(hdr, message_id=rsa.peer_mid)
    right.receive(renum.serialize(hdr.next_payload, hdr.length) + last[HEADER_SIZE:],
                  (RIGHT, 500), (LEFT, 500), net.now)
    assert right.stats()["dropped_integrity"] == 1
    drain(net)
    assert snapshot(left, right) == before


def test_replay_after_the_ike_sa_is_gone(tunnel_life):
    net, left, right, requests = tunnel_life
    left.terminate_ike("net", net.now)
    net.run(until=lambda: not left.sas and not right.sas, max_time=60)
    installs = (left.backend.installs, right.backend.installs)
    replay(net, requests)
    # the replayed IKE_SA_INIT is indistinguishable from a new initiator: one
    # half-open SA (as for any spoofed request), never completed, since the
    # replayed IKE_AUTH carries the old SPIs and keys
    assert right.stats()["ike_sas_half_open"] <= 1
    assert not any(sa["state"] == "ESTABLISHED" for m in (left, right) for sa in m.list_sas())
    assert (left.backend.installs, right.backend.installs) == installs
    assert right.stats()["dropped_unknown_spi"] >= len([r for r in requests if r[1][0] == LEFT]) - 1
    net.run(max_time=120)  # the half-open SA times out
    assert right.sas == {} and left.sas == {}
