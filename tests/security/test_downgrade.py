"""Threat 2: man-in-the-middle downgrade (SECURITY.md, "Downgrade").

An active attacker on the path between two engines rewrites IKE_SA_INIT, the
only cleartext exchange:

(a) it strips the strong proposals from the initiator's SAi1, leaving a weaker
    one both sides also allow. The responder picks the weak one, but each AUTH
    covers the IKE_SA_INIT message its sender really sent (RealMessage1/2,
    RFC 7296 2.15), so IKE_AUTH fails on both sides:

    # IKE_SA_INIT { SAi1(strong, weak), KEi, Ni } --> MITM --> { SAi1(weak), KEi, Ni }
    # <-- { SAr1(weak), KEr, Nr }
    # IKE_AUTH { IDi, AUTH(over the original SAi1) } -->
    # <-- { N(AUTHENTICATION_FAILED) }

(b) it forges N(INVALID_KE_PAYLOAD) naming a weaker group. The initiator only
    retries with a group from its own proposals (RFC 7296 1.2), and the
    responder insists on its own preferred group, so the result is either the
    same as without the attacker or no SA at all: never a silent downgrade.
"""

from __future__ import annotations

import dataclasses

import pytest
from sec_helpers import LEFT, RIGHT, MitmNetwork, engine, is_up, plain_response

from ikepy.ikev2 import events as ev
from ikepy.ikev2.simulate import Network
from ikepy.wire.enums import ExchangeType, KeId, NotifyType
from ikepy.wire.message import Message, parse_message, serialize_message
from ikepy.wire.payloads import NotifyPayload, SaPayload

STRONG = "aes256gcm16-prfsha384-x25519"


def within(selected, specs) -> bool:
    """Is ``selected`` one of the combinations that ``specs`` (a config's proposals) allow?"""
    for s in specs:
        if selected.encr_id not in {e[0] for e in s.encr}:
            continue
        if selected.prf_id and selected.prf_id not in s.prf:
            continue
        if selected.integ_id and selected.integ_id not in s.integ:
            continue
        if selected.ke_id and selected.ke_id not in s.ke:
            continue
        return True
    return False


def the_sa(mgr):
    (sa,) = mgr.sas.values()
    return sa


def pair(net: Network, left_prop: str, right_prop: str, esp: str = "aes256gcm16"):
    left = engine(LEFT, RIGHT, "left", "right", proposals=left_prop, esp=esp)
    right = engine(RIGHT, LEFT, "right", "left", proposals=right_prop, esp=esp)
    net.attach(LEFT, left)
    net.attach(RIGHT, right)
    return left, right


def strip_proposals(keep: int):
    """MITM (a): every IKE_SA_INIT request keeps only proposal number ``keep``."""
    stripped = []

    def rewrite(data, src, dst):
        msg = parse_message(data)
        h = msg.header
        if h.exchange_type == ExchangeType.IKE_SA_INIT and not h.is_response:
            payloads = tuple(
                SaPayload(tuple(p for p in pl.proposals if p.number == keep))
                if isinstance(pl, SaPayload) else pl for pl in msg.payloads)
            data = serialize_message(Message(h, payloads))
            stripped.append(data)
        return [(data, src, dst)]

    return rewrite, stripped


@pytest.mark.parametrize("weak", ["aes128-sha256-x25519", "aes128-sha256-modp2048"])
def test_stripping_strong_proposals_fails_at_ike_auth(weak, caplog):
    rewrite, stripped = strip_proposals(keep=2)
    net = MitmNetwork(rewrite)
    left, right = pair(net, f"{STRONG}, {weak}", f"{STRONG}, {weak}")
    left.initiate("net", None, net.now)
    net.run(max_time=60)
    assert stripped, "the attacker never saw IKE_SA_INIT"
    # the responder did take the bait at IKE_SA_INIT ...
    assert right.stats()["ike_sa_init_requests"] >= 1
    # ... but nothing was established on either side
    assert not is_up(left) and not is_up(right)
    assert left.list_sas() == [] and right.list_sas() == []
    assert right.stats()["auth_failed"] == 1 and left.stats()["auth_failed"] == 1
    lfail = [e.reason for e in left.events() if e.kind == ev.FAILED]
    rfail = [e.reason for e in right.events() if e.kind == ev.FAILED]
    assert any("AUTHENTICATION_FAILED" in r for r in lfail), lfail
    assert any("pre-shared key failed" in r for r in rfail), rfail
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "left: net" in logged and "AUTHENTICATION_FAILED" in logged
    assert "right: net" in logged and "pre-shared key failed" in logged


def test_without_the_attacker_the_strong_proposal_wins():
    net = Network()
    left, right = pair(net, f"{STRONG}, aes128-sha256-modp2048", f"{STRONG}, aes128-sha256-modp2048")
    left.initiate("net", None, net.now)
    net.run(until=lambda: is_up(left) and is_up(right))
    assert left.list_sas()[0]["algorithms"] == "AES_GCM_16-256/PRF_HMAC_SHA2_384/CURVE_25519"


def forge_invalid_ke(group: int, times: int = 1):
    """MITM (b): answer the first ``times`` IKE_SA_INIT requests itself with
    N(INVALID_KE_PAYLOAD(group)) from the responder's address, and drop them."""
    forged = []

    def rewrite(data, src, dst):
        msg = parse_message(data)
        h = msg.header
        if (h.exchange_type == ExchangeType.IKE_SA_INIT and not h.is_response
                and len(forged) < times):
            reply = plain_response(h.spi_i, NotifyPayload(0, b"", NotifyType.INVALID_KE_PAYLOAD,
                                                          group.to_bytes(2, "big")))
            forged.append(reply)
            return [(reply, dst, src)]
        return [(data, src, dst)]

    return rewrite, forged


@pytest.mark.parametrize("group", [KeId.MODP_1024, KeId.MODP_2048, KeId.ECP_256])
def test_forged_invalid_ke_to_a_group_we_do_not_propose_is_refused(group):
    rewrite, forged = forge_invalid_ke(group)
    net = MitmNetwork(rewrite)
    left, right = pair(net, "aes256gcm16-prfsha256-x25519-ecp384", "aes256gcm16-prfsha256-x25519")
    left.initiate("net", None, net.now)
    net.run(max_time=60)
    assert forged
    fail = [e.reason for e in left.events() if e.kind == ev.FAILED]
    assert fail and "which our proposals do not allow" in fail[0], fail
    assert left.list_sas() == []
    assert right.stats().get("ike_sa_init_requests", 0) == 0  # never reached the responder


# (left proposals, right proposals, forged group): the forged group is one the initiator allows
CASES = [
    ("aes256gcm16-prfsha256-x25519-modp2048", "aes256gcm16-prfsha256-x25519-modp2048", KeId.MODP_2048),
    ("aes256gcm16-prfsha256-x25519-ecp256", "aes256gcm16-prfsha256-x25519-ecp256", KeId.ECP_256),
    ("aes256gcm16-prfsha256-ecp384-modp2048", "aes256gcm16-prfsha256-ecp384-modp2048", KeId.MODP_2048),
    (f"{STRONG}, aes128-sha256-modp2048", f"{STRONG}, aes128-sha256-modp2048", KeId.MODP_2048),
    ("aes256gcm16-prfsha256-x25519-modp2048", "aes256gcm16-prfsha256-modp2048", KeId.MODP_2048),
]


@pytest.mark.parametrize("left_prop,right_prop,group", CASES)
@pytest.mark.parametrize("times", [1, 3])
def test_forged_invalid_ke_within_our_proposals_never_downgrades(left_prop, right_prop, group, times):
    # the honest outcome, for reference
    net0 = Network()
    l0, r0 = pair(net0, left_prop, right_prop)
    l0.initiate("net", None, net0.now)
    net0.run(until=lambda: is_up(l0) and is_up(r0))
    honest = the_sa(r0).selected

    rewrite, forged = forge_invalid_ke(group, times)
    net = MitmNetwork(rewrite)
    left, right = pair(net, left_prop, right_prop)
    left.initiate("net", None, net.now)
    net.run(until=lambda: is_up(left) and is_up(right), max_time=60)
    assert forged
    if not (is_up(left) and is_up(right)):
        # the attacker may deny service (it is on the path), never downgrade
        assert left.list_sas() == [] or not is_up(left)
        return
    lsel, rsel = the_sa(left).selected, the_sa(right).selected
    assert lsel == rsel
    # within both configurations, and exactly what the honest run chose
    assert within(rsel, left.config.connections["net"].proposals)
    assert within(rsel, right.config.connections["net"].proposals)
    assert dataclasses.astuple(rsel) == dataclasses.astuple(honest), \
        f"downgraded: {rsel} instead of {honest}"
