"""UserspaceBackend trap policies without a TUN device (send_packet/deliver hooks):
acquire on the first packet without a CHILD_SA (rate-limited per trap), drops
counted, CHILD_SAs taking precedence, routes shared with CHILD_SAs."""

from __future__ import annotations

import ipaddress

import pytest

from ikepy.dataplane.base import TrapSpec
from ikepy.dataplane.userspace import backend as ub
from ikepy.dataplane.userspace.backend import UserspaceBackend
from ikepy.dataplane.userspace.tun import RouteTable

from .helpers import ipv4_packet, spec_pair

net = ipaddress.ip_network
A2B = ipv4_packet("10.1.0.1", "10.2.0.1", b"ping" * 10)


def trap_spec(trap_id: int = 50, **kw: object) -> TrapSpec:
    base: dict[str, object] = dict(
        trap_id=trap_id, name="net", local_addr=ipaddress.ip_address("192.0.2.1"),
        remote_addr=ipaddress.ip_address("192.0.2.2"), local_ts=(net("10.1.0.0/24"),),
        remote_ts=(net("10.2.0.0/24"),))  # fmt: skip
    base.update(kw)
    return TrapSpec(**base)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(ub.time, "monotonic", c)
    return c


def make(events: list[tuple[str, int]], sent: list[bytes] | None = None) -> UserspaceBackend:
    return UserspaceBackend(
        lambda d, s, r: (sent if sent is not None else []).append(d), install_routes=False,
        deliver=lambda p: None, keepalive_interval=0,
        on_event=lambda k, r: events.append((k, r)),
    )  # fmt: skip


def test_first_packet_raises_acquire_and_is_dropped(clock: Clock) -> None:
    events: list[tuple[str, int]] = []
    b = make(events)
    b.install_trap(trap_spec())
    assert b.send_packet(A2B) is False
    assert events == [("acquire", 50)]
    st = b.stats()
    assert st["acquire"] == 1 and st["no_sa_for_selector"] == 0 and st["acquires"] == 1
    # outside the trap's selectors: an ordinary no-SA drop, no event
    assert b.send_packet(ipv4_packet("10.1.0.1", "10.3.0.1")) is False
    assert events == [("acquire", 50)] and b.stats()["no_sa_for_selector"] == 1


def test_acquire_is_rate_limited_per_trap(clock: Clock) -> None:
    events: list[tuple[str, int]] = []
    b = make(events)
    b.install_trap(trap_spec(50))
    b.install_trap(trap_spec(51, remote_ts=(net("10.3.0.0/24"),)))
    for _ in range(5):
        b.send_packet(A2B)
        clock.t += 0.1
    b.send_packet(ipv4_packet("10.1.0.1", "10.3.0.9"))
    assert events == [("acquire", 50), ("acquire", 51)]
    assert b.stats()["acquire"] == 6 and b.traps() == {50: 5, 51: 1}
    clock.t += 0.6  # a second after the first acquire of trap 50
    b.send_packet(A2B)
    assert events[-1] == ("acquire", 50) and b.stats()["acquires"] == 3


def test_child_sa_takes_precedence_and_the_trap_comes_back(clock: Clock) -> None:
    events: list[tuple[str, int]] = []
    sent: list[bytes] = []
    b = make(events, sent)
    b.install_trap(trap_spec())
    b.send_packet(A2B)
    spec_a, _spec_b = spec_pair(reqid=7, encap=True)
    b.add_child_sa(spec_a)
    assert b.send_packet(A2B) is True and len(sent) == 1
    assert events == [("acquire", 50)] and b.traps() == {50: 1}
    # the CHILD_SA goes (close_action = trap): the next packet acquires again
    b.delete_child_sa(7)
    clock.t += 5
    assert b.send_packet(A2B) is False
    assert events == [("acquire", 50), ("acquire", 50)]


def test_trap_installed_after_the_child_sa_does_not_shadow_it(clock: Clock) -> None:
    events: list[tuple[str, int]] = []
    sent: list[bytes] = []
    b = make(events, sent)
    spec_a, _ = spec_pair(reqid=7, encap=True)
    b.add_child_sa(spec_a)
    b.install_trap(trap_spec(remote_ts=(net("10.2.0.1/32"),)))  # narrower than the SA
    assert b.send_packet(A2B) is True and events == []


def test_uninstall(clock: Clock) -> None:
    events: list[tuple[str, int]] = []
    b = make(events)
    b.install_trap(trap_spec())
    b.uninstall_trap(50)
    assert b.send_packet(A2B) is False
    assert events == [] and b.stats()["no_sa_for_selector"] == 1 and b.traps() == {}
    with pytest.raises(KeyError):
        b.uninstall_trap(50)
    with pytest.raises(ValueError):
        b.install_trap(trap_spec(mode="transport"))


class FakeIpr:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, object]]] = []

    def route(self, op: str, **kw: object) -> None:
        self.calls.append((op, kw))

    def get_addr(self) -> list[object]:
        class Msg:
            def get_attr(self, name: str) -> str:
                return "10.1.0.1"

        return [Msg()]


def test_trap_routes_shared_with_child_sas(clock: Clock) -> None:
    events: list[tuple[str, int]] = []
    b = UserspaceBackend(lambda d, s, r: None, install_routes=True, deliver=lambda p: None,
                         keepalive_interval=0, on_event=lambda k, r: events.append((k, r)))
    ipr = FakeIpr()
    b._routes = RouteTable(ipr, 9)  # what start() would set up
    b.install_trap(trap_spec())
    ((op, kw),) = ipr.calls
    assert op == "replace" and kw["dst"] == "10.2.0.0/24" and kw["oif"] == 9
    assert kw["prefsrc"] == "10.1.0.1"  # src from the local selectors, the host has it
    spec_a, _ = spec_pair(reqid=7, encap=True)
    b.add_child_sa(spec_a)
    assert len(ipr.calls) == 1  # the SA shares the trap's route
    b.uninstall_trap(50)
    assert len(ipr.calls) == 1  # still needed by the CHILD_SA
    b.delete_child_sa(7)
    assert [op for op, _ in ipr.calls] == ["replace", "del"]
    # install_routes = no: no routes for traps either
    b2 = UserspaceBackend(lambda d, s, r: None, install_routes=False, keepalive_interval=0)
    ipr2 = FakeIpr()
    b2._routes = RouteTable(ipr2, 9)
    b2.install_trap(trap_spec())
    assert ipr2.calls == []
