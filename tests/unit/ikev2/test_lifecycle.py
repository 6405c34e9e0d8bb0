"""A day in the life of a tunnel, in seconds, with a fake clock (RFC 7296 2.8, 2.18, 2.4).

    # CREATE_CHILD_SA { N(REKEY_SA), SA, Ni, KEi, TSi, TSr } -->  <-- { SA, Nr, KEr, TSi, TSr }
    # INFORMATIONAL { D(ESP) } -->                                <-- { D(ESP) }
    # CREATE_CHILD_SA { SA(IKE), Ni, KEi } -->                    <-- { SA(IKE), Nr, KEr }
    # INFORMATIONAL { D(IKE) } -->  (old IKE SA)                  <-- { }

Every test ends with both sides holding exactly one IKE_SA and the expected
CHILD_SAs, with matching SPIs, and no SPI or key ever used twice.
"""

from __future__ import annotations

from ikepy.dataplane.memory import MemoryBackend
from ikepy.ikev2 import events as ev
from ikepy.ikev2.manager import IkeManager
from ikepy.ikev2.simulate import Link, Network, pair

DAY = 86400.0


class RecordingBackend(MemoryBackend):
    """Remembers every CHILD_SA ever installed."""

    def __init__(self) -> None:
        super().__init__()
        self.history: list = []

    def add_child_sa(self, spec):  # type: ignore[override]
        self.history.append(spec)
        return super().add_child_sa(spec)


def up(m: IkeManager, children: int = 1) -> bool:
    sas = m.list_sas()
    return (len(sas) == 1 and sas[0]["state"] == "ESTABLISHED"
            and len(sas[0]["children"]) == children)


def settle(net: Network, left: IkeManager, right: IkeManager, children: int = 1) -> None:
    net.run(until=lambda: up(left, children) and up(right, children)
            and not left.busy() and not right.busy(), max_time=600)


def assert_consistent(left: IkeManager, right: IkeManager, children: int = 1) -> None:
    (lsa,), (rsa,) = left.list_sas(), right.list_sas()
    assert lsa["state"] == rsa["state"] == "ESTABLISHED"
    assert (lsa["spi_i"], lsa["spi_r"]) == (rsa["spi_i"], rsa["spi_r"])
    lc = sorted((c["spi_in"], c["spi_out"]) for c in lsa["children"])
    rc = sorted((c["spi_out"], c["spi_in"]) for c in rsa["children"])
    assert lc == rc and len(lc) == children
    # the data plane holds exactly what the engine lists
    assert len(left.backend.sas) == len(right.backend.sas) == children


def assert_no_reuse(*backends: RecordingBackend) -> None:
    spis = [s.spi_in for b in backends for s in b.history]
    keys = [s.encr_key_in for b in backends for s in b.history]
    assert len(spis) == len(set(spis)), "an SPI was used twice"
    assert len(keys) == len(set(keys)), "a key was used twice"


def lifecycle_pair(link: Link | None = None, **both):
    return pair(link, both=both, backend=RecordingBackend)


def test_a_day_of_child_and_ike_rekeys():
    net, left, right = lifecycle_pair(
        conn={"rekey_time": "1h", "rand_time": "5m", "over_time": "10m"},
        child={"rekey_time": "20m", "life_time": "25m", "rand_time": "2m"})
    start = net.now
    left.initiate("net", None, net.now)
    settle(net, left, right)
    net.run(until=lambda: net.now > start + DAY, max_steps=10**6, max_time=DAY + 60)
    settle(net, left, right)
    assert_consistent(left, right)
    # about 72 CHILD_SA rekeys and 24 IKE_SA rekeys in a day, from either side
    installed = len(left.backend.history)
    assert installed >= 70, installed
    assert left.stats().get("ike_sas_rekeyed", 0) + right.stats().get("ike_sas_rekeyed", 0) >= 20
    assert_no_reuse(left.backend, right.backend)
    # never used past its hard lifetime
    for c in left.list_sas()[0]["children"]:
        assert c["life_in_s"] > 0


def test_child_rekey_collision_lowest_nonce_loses():
    # both sides rekey the same CHILD_SA at the same moment (no jitter)
    net, left, right = lifecycle_pair(child={"rekey_time": "10m", "rand_time": "0"})
    left.initiate("net", None, net.now)
    settle(net, left, right)
    at = net.now + 10
    for m in (left, right):
        (sa,) = m.sas.values()
        sa.children[0].rekey_at = at
    net.run(until=lambda: net.now > at + 5, max_time=900)
    settle(net, left, right)
    assert_consistent(left, right)
    assert left.counters["child_rekey_collisions"] + right.counters["child_rekey_collisions"] >= 2
    assert_no_reuse(left.backend, right.backend)


def test_ike_rekey_collision_lowest_nonce_loses():
    net, left, right = lifecycle_pair(conn={"rekey_time": "10m", "rand_time": "0"},
                                      child={"rekey_time": "0"})
    left.initiate("net", None, net.now)
    settle(net, left, right)
    at = net.now + 10
    for m in (left, right):
        (sa,) = m.sas.values()
        sa.rekey_at = at
    net.run(until=lambda: net.now > at + 5, max_time=900)
    settle(net, left, right)
    assert_consistent(left, right)
    assert left.counters["ike_rekey_collisions"] + right.counters["ike_rekey_collisions"] >= 2
    assert left.stats()["ike_sas_rekeyed"] >= 1


def test_rekey_crossing_a_delete():
    net, left, right = lifecycle_pair(child={"rekey_time": "10m", "rand_time": "0"})
    left.initiate("net", None, net.now)
    settle(net, left, right)
    # right's rekey timer and left's delete fire together
    (c,) = right.sas[next(iter(right.sas))].children
    at = c.rekey_at = net.now + 5
    net.run(until=lambda: net.now >= at - 0.0005, max_time=10)
    left.terminate_child("net", net.now)
    net.run(until=lambda: not left.busy() and not right.busy() and net.now > at + 5,
            max_time=60)
    lsa, rsa = left.list_sas()[0], right.list_sas()[0]
    # whatever order things crossed in, both sides agree
    assert sorted(x["spi_in"] for x in lsa["children"]) == sorted(
        x["spi_out"] for x in rsa["children"])
    assert len(left.backend.sas) == len(lsa["children"])
    assert len(right.backend.sas) == len(rsa["children"])


def test_delete_crossing_delete():
    net, left, right = lifecycle_pair()
    left.initiate("net", None, net.now)
    settle(net, left, right)
    left.terminate_child("net", net.now)
    right.terminate_child("net", net.now)
    net.run(until=lambda: not left.busy() and not right.busy(), max_time=60)
    assert left.list_sas()[0]["children"] == [] and right.list_sas()[0]["children"] == []
    assert left.backend.sas == {} and right.backend.sas == {}
    assert not [e for e in left.events() + right.events() if e.kind == ev.FAILED]


def test_dead_peer_detection_restarts_the_tunnel():
    link = Link()
    # the initiator restarts, the responder clears (strongSwan's usual pairing)
    net, left, right = pair(link, both={"conn": {"dpd_delay": "30s"}},
                            left={"child": {"dpd_action": "restart"}}, backend=RecordingBackend)
    left.initiate("net", None, net.now)
    settle(net, left, right)
    first = left.list_sas()[0]["spi_i"]
    link.loss = 1.0  # the peer vanishes ...
    dead_at = net.now
    net.run(until=lambda: any(e.kind == ev.FAILED for e in left._events), max_time=400)
    assert net.now - dead_at < 30 + 170  # dpd_delay plus strongSwan's retransmission schedule
    link.loss = 0.0  # ... and comes back; right has its stale SA until INITIAL_CONTACT
    net.run(until=lambda: up(left) and left.list_sas()[0]["spi_i"] != first and up(right),
            max_time=400)
    assert up(left) and up(right)
    assert right.list_sas()[0]["spi_i"] == left.list_sas()[0]["spi_i"]


def test_no_liveness_check_while_traffic_flows():
    net, left, right = lifecycle_pair(conn={"dpd_delay": "30s"})
    left.initiate("net", None, net.now)
    settle(net, left, right)
    sent = net.link.sent
    # IKE traffic keeps arriving from right (its own checks) so left stays quiet, and vice versa:
    # in 10 minutes the two sides exchange at most one check per 30 s between them
    net.run(until=lambda: net.now > 1000 + 600, max_time=700)
    assert (net.link.sent - sent) <= 2 * 600 / 30 + 2


def test_reauthentication_is_make_before_break():
    # reauthentication is the initiator's choice here (configured on one side, as usual)
    net, left, right = pair(left={"conn": {"reauth_time": "30m", "rekey_time": "0"}},
                            right={"conn": {"rekey_time": "0"}}, backend=RecordingBackend)
    left.initiate("net", None, net.now)
    settle(net, left, right)
    first = left.list_sas()[0]["spi_i"]
    child_events: list = []
    net.run(until=lambda: net.now > 1000 + 1900, max_time=2000)
    settle(net, left, right)
    assert left.list_sas()[0]["spi_i"] != first
    assert_consistent(left, right)
    child_events = [e.kind for e in left.events()]
    # the new CHILD_SA came up before the old one went down
    ups = [i for i, k in enumerate(child_events) if k == ev.CHILD_UP]
    downs = [i for i, k in enumerate(child_events) if k == ev.CHILD_DOWN]
    assert ups and downs and ups[-1] < downs[-1]


def test_close_action_start_brings_a_deleted_child_back():
    net, left, right = lifecycle_pair(child={"close_action": "start"})
    left.initiate("net", None, net.now)
    settle(net, left, right)
    old = left.list_sas()[0]["children"][0]["spi_in"]
    right.terminate_child("net", net.now)
    net.run(until=lambda: up(left) and up(right) and
            left.list_sas()[0]["children"][0]["spi_in"] != old, max_time=60)
    assert_consistent(left, right)


def test_child_keys_follow_the_exchange_initiator(monkeypatch):
    """RFC 7296 2.17: KEYMAT's first keys are for the direction from the initiator of the
    exchange that creates the CHILD_SA, here the IKE SA's original responder."""
    from ikepy.ikev2 import child_sa

    derived: list = []
    real = child_sa.derive_child_keys

    def spy(*args, **kwargs):
        keys = real(*args, **kwargs)
        derived.append(keys)
        return keys

    monkeypatch.setattr(child_sa, "derive_child_keys", spy)
    net, left, right = lifecycle_pair()
    left.initiate("net", None, net.now)
    settle(net, left, right)
    derived.clear()
    right.initiate("net", None, net.now)  # the original responder creates a second CHILD_SA
    settle(net, left, right, children=2)
    newest = max(right.backend.history, key=lambda s: s.reqid)
    assert newest.encr_key_out == derived[0].encr_i  # right initiated this exchange


def test_default_esp_proposals_rekey_with_pfs():
    """ikepy's own default ESP proposals put PFS first: every CHILD_SA rekey runs a key
    exchange (the first CHILD_SA, made inside IKE_AUTH, cannot have one, RFC 7296 1.2)."""
    net, left, right = lifecycle_pair(esp="default",
                                      child={"rekey_time": "10m", "rand_time": "1m"})
    left.initiate("net", None, net.now)
    settle(net, left, right)
    assert left.list_sas()[0]["children"][0]["algorithms"] == "AES_GCM_16-128"
    net.run(until=lambda: net.now > 1000 + 700, max_time=900)
    settle(net, left, right)
    assert left.list_sas()[0]["children"][0]["algorithms"] == "AES_GCM_16-128/CURVE_25519"


def test_child_work_queued_during_an_ike_rekey_moves_to_the_new_ike_sa():
    """A CHILD_SA rekey and a delete queued while the IKE SA is being rekeyed run on the
    new IKE SA, where the CHILD_SAs now live (strongSwan's adopt_child_tasks)."""
    from ikepy.ikev2.tasks.informational import DeleteChild

    extra = "web { local_ts = 10.1.1.0/24\n remote_ts = 10.2.1.0/24 }"
    mirrored = "web { local_ts = 10.2.1.0/24\n remote_ts = 10.1.1.0/24 }"
    net, left, right = pair(left={"extra_child": extra}, right={"extra_child": mirrored},
                            backend=RecordingBackend)
    left.initiate("net", None, net.now)
    settle(net, left, right)
    left.initiate("web", None, net.now)
    settle(net, left, right, children=2)
    (sa,) = left.sas.values()
    net_child, web_child = sa.children
    at = net.now + 10
    sa.rekey_at = at
    net_child.rekey_at = at + 0.0005  # while the IKE rekey is in flight
    net.run(until=lambda: net.now >= at + 0.0002, max_time=20)
    sa.queue_task(DeleteChild(web_child), net.now)  # queued behind the IKE rekey too
    settle(net, left, right, children=1)
    assert_consistent(left, right, children=1)
    assert left.counters["ike_sas_rekeyed"] == 1 and left.counters["child_sas_rekeyed"] == 1
    assert_no_reuse(left.backend, right.backend)


def test_trap_policy_brings_the_tunnel_up_on_the_first_packet():
    """start_action = trap: a trap policy is installed, and the data plane's acquire (the
    first packet for the remote selectors) starts the IKE_SA and CHILD_SA; after the peer
    deletes it (close_action = trap) the trap stays and the next packet brings it back."""
    net, left, right = pair(left={"child": {"start_action": "trap", "close_action": "trap"}},
                            backend=RecordingBackend)
    left.start(net.now)
    ((trap_id, trap),) = left.backend.traps.items()
    assert [str(t) for t in trap.remote_selectors()[0].networks()] == ["10.2.0.0/24"]
    assert left.list_sas() == []
    left.dataplane_event("acquire", trap_id, net.now)
    left.dataplane_event("acquire", trap_id, net.now)  # a second packet: no second IKE_SA
    settle(net, left, right)
    assert left.stats()["acquires"] == 1
    right.terminate_child("net", net.now)
    net.run(until=lambda: not left.list_sas()[0]["children"] and not right.busy(), max_time=30)
    assert trap_id in left.backend.traps
    left.dataplane_event("acquire", trap_id, net.now)
    settle(net, left, right)
    assert_consistent(left, right)


def test_esp_traffic_counts_as_life_no_liveness_check():
    """dpd_delay: a liveness check only after dpd_delay without anything from the peer;
    inbound ESP (the data plane's last_in) counts, read only when the check falls due."""
    from ikepy.dataplane.base import SaCounters
    from ikepy.ikev2.simulate import LEFT
    from ikepy.wire.enums import ExchangeType
    from ikepy.wire.header import IkeHeader

    net, left, right = pair(left={"conn": {"dpd_delay": "30s"}}, backend=RecordingBackend)
    left.initiate("net", None, net.now)
    settle(net, left, right)
    checks: list[float] = []
    net.link.taps.append(lambda d, src, dst: checks.append(net.now) if src[0] == LEFT and (
        IkeHeader.parse(d).exchange_type == ExchangeType.INFORMATIONAL) else None)
    (reqid,) = left.backend.sas
    start = net.now
    while net.now < start + 300:  # ESP keeps arriving every 10 s for five minutes
        left.backend.set_counters(reqid, SaCounters(last_in=net.now))
        net.advance(net.now + 10)
    assert checks == []
    net.run(until=lambda: net.now >= start + 400, max_time=120)  # then silence
    assert checks and checks[0] >= start + 300
