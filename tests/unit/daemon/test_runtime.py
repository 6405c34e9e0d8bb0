"""Runtime: the NAT-T demux (RFC 3948 2.2), sending, timers, events and initiate."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from ikepy.daemon.runtime import NON_ESP_MARKER, InitiateError, Runtime

IKE_MSG = b"\x11" * 8 + b"\x00" * 8 + b"\x21\x20\x22\x08" + b"\x00" * 8  # header-shaped bytes


async def _started(mgr, backend, addresses=("127.0.0.1",)) -> Runtime:
    rt = Runtime(mgr, backend, addresses=list(addresses) if addresses else None, port=0, port_nat_t=0)
    await rt.start()
    return rt


def _peer(ip: str = "127.0.0.1") -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, 0))
    s.settimeout(2)
    return s


async def _until(pred, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_natt_marker_is_stripped_and_keepalive_ignored(fake_manager, fake_backend):
    async def go():
        rt = await _started(fake_manager, fake_backend)
        peer = _peer()
        try:
            peer.sendto(b"\xff", ("127.0.0.1", rt.port_nat_t))  # NAT keepalive
            peer.sendto(NON_ESP_MARKER + IKE_MSG, ("127.0.0.1", rt.port_nat_t))
            await _until(lambda: fake_manager.received)
            data, local, remote, _now = fake_manager.received[0]
            assert data == IKE_MSG
            assert local == ("127.0.0.1", rt.port_nat_t)
            assert remote == peer.getsockname()
            assert len(fake_manager.received) == 1
            assert rt.counters["natt_keepalives_in"] == 1
            assert fake_backend.esp == []
        finally:
            peer.close()
            await rt.stop()

    asyncio.run(go())


def test_esp_on_natt_port_goes_to_the_data_plane(fake_manager, fake_backend):
    async def go():
        rt = await _started(fake_manager, fake_backend)
        peer = _peer()
        esp = b"\xc1\xa2\xb3\xc4" + b"\x00\x00\x00\x01" + b"payload"
        try:
            peer.sendto(esp, ("127.0.0.1", rt.port_nat_t))
            await _until(lambda: fake_backend.esp)
            data, src, dst = fake_backend.esp[0]
            assert data == esp
            assert src == peer.getsockname()
            assert dst == ("127.0.0.1", rt.port_nat_t)
            assert fake_manager.received == []
            assert fake_backend.started
        finally:
            peer.close()
            await rt.stop()
        assert fake_backend.closed

    asyncio.run(go())


def test_esp_without_data_plane_is_counted_and_dropped(fake_manager):
    async def go():
        rt = await _started(fake_manager, None)
        peer = _peer()
        try:
            peer.sendto(b"\x01\x02\x03\x04\x00\x00\x00\x01xx", ("127.0.0.1", rt.port_nat_t))
            await _until(lambda: rt.counters["drop_esp_no_dataplane"] == 1)
            assert fake_manager.received == []
        finally:
            peer.close()
            await rt.stop()

    asyncio.run(go())


def test_ike_port_passes_datagram_unchanged(fake_manager, fake_backend):
    async def go():
        rt = await _started(fake_manager, fake_backend)
        peer = _peer()
        try:
            peer.sendto(IKE_MSG, ("127.0.0.1", rt.port))
            await _until(lambda: fake_manager.received)
            assert fake_manager.received[0][0] == IKE_MSG
            assert fake_manager.received[0][1] == ("127.0.0.1", rt.port)
        finally:
            peer.close()
            await rt.stop()

    asyncio.run(go())


def test_engine_output_gets_marker_only_on_natt_port(fake_manager, fake_backend):
    async def go():
        rt = await _started(fake_manager, fake_backend)
        peer = _peer()
        dst = peer.getsockname()
        try:
            fake_manager.outbox.append((b"to500", ("127.0.0.1", rt.port), dst))
            fake_manager.outbox.append((b"to4500", ("127.0.0.1", rt.port_nat_t), dst))
            rt.pump()
            got = {peer.recvfrom(100) for _ in range(2)}
            assert (b"to500", ("127.0.0.1", rt.port)) in got
            assert (NON_ESP_MARKER + b"to4500", ("127.0.0.1", rt.port_nat_t)) in got
            rt.send_udp(b"rawesp", ("127.0.0.1", rt.port_nat_t), dst)
            assert peer.recvfrom(100) == (b"rawesp", ("127.0.0.1", rt.port_nat_t))
        finally:
            peer.close()
            await rt.stop()

    asyncio.run(go())


def test_wildcard_socket_learns_and_replies_from_local_address(fake_manager):
    """IP_PKTINFO: a datagram sent to 127.0.0.2 is reported and answered from 127.0.0.2."""

    def echo(mgr, data, local, remote):
        mgr.outbox.append((b"reply", local, remote))

    fake_manager.on_receive = echo

    async def go():
        rt = await _started(fake_manager, None, addresses=None)
        peer = _peer()
        try:
            peer.sendto(IKE_MSG, ("127.0.0.2", rt.port))
            await _until(lambda: fake_manager.received)
            assert fake_manager.received[0][1] == ("127.0.0.2", rt.port)
            data, src = await asyncio.to_thread(peer.recvfrom, 100)
            assert (data, src) == (b"reply", ("127.0.0.2", rt.port))
        finally:
            peer.close()
            await rt.stop()

    asyncio.run(go())


def test_timer_is_armed_from_next_deadline(fake_manager):
    async def go():
        rt = await _started(fake_manager, None)
        try:
            fake_manager.deadline = time.monotonic() + 0.05
            rt.pump()
            assert rt.next_timer() is not None
            await _until(lambda: fake_manager.timer_calls)
            assert len(fake_manager.timer_calls) == 1
            assert rt.next_timer() is None  # handle_timer cleared the deadline
        finally:
            await rt.stop()

    asyncio.run(go())


def test_engine_exception_does_not_stop_the_runtime(fake_manager):
    def boom(mgr, data, local, remote):
        raise RuntimeError("bug")

    fake_manager.on_receive = boom

    async def go():
        rt = await _started(fake_manager, None)
        peer = _peer()
        try:
            peer.sendto(IKE_MSG, ("127.0.0.1", rt.port))
            peer.sendto(IKE_MSG, ("127.0.0.1", rt.port))
            await _until(lambda: rt.counters["engine_errors"] == 2)
        finally:
            peer.close()
            await rt.stop()

    asyncio.run(go())


def test_initiate_returns_on_child_up_and_streams_progress(fake_manager, fake_event):
    def up(mgr, child, ike):
        mgr.queued_events += [fake_event("ike_up", "net", message="net[1] aa_i bb_r: IKE SA up"),
                              fake_event("ike_up", "other"),
                              fake_event("child_up", "net", "net", message="net[1]: child up")]

    fake_manager.on_initiate = up
    lines: list[str] = []

    async def go():
        rt = Runtime(fake_manager, None, port=0, port_nat_t=0, addresses=["127.0.0.1"])
        await rt.start()
        try:
            ev = await rt.initiate("net", None, timeout=1, progress=lines.append)
            assert ev.kind == "child_up"
        finally:
            await rt.stop()

    asyncio.run(go())
    assert lines == ["net[1] aa_i bb_r: IKE SA up", "net[1]: child up"]


def test_initiate_fails_on_failed_event_and_on_timeout(fake_manager, fake_event):
    def fail(mgr, child, ike):
        mgr.queued_events.append(fake_event("failed", "net", reason="AUTHENTICATION_FAILED"))

    async def go():
        rt = await _started(fake_manager, None)
        try:
            fake_manager.on_initiate = fail
            with pytest.raises(InitiateError, match="AUTHENTICATION_FAILED"):
                await rt.initiate("net", "net", timeout=1)
            fake_manager.on_initiate = None
            with pytest.raises(InitiateError, match="not up within 0.1 s"):
                await rt.initiate("net", "net", timeout=0.1)
            with pytest.raises(KeyError):
                await rt.initiate("nosuch", None, timeout=0.1)
        finally:
            await rt.stop()

    asyncio.run(go())


def test_shutdown_waits_while_busy(fake_manager):
    async def go():
        rt = await _started(fake_manager, None)
        fake_manager.busy_flag = True
        asyncio.get_running_loop().call_later(0.1, setattr, fake_manager, "busy_flag", False)
        t0 = time.monotonic()
        await rt.shutdown(grace=3.0)
        elapsed = time.monotonic() - t0
        await rt.stop()
        assert fake_manager.shutdown_called
        assert 0.05 < elapsed < 1.0

    asyncio.run(go())


def test_two_runtimes_share_one_loop(fake_manager):
    from importlib import import_module

    FakeManager = type(fake_manager)
    assert import_module("ikepy.daemon.runtime")  # no module-level state to share

    async def go():
        a = await _started(FakeManager(), None, addresses=("127.0.0.1",))
        b = await _started(FakeManager(), None, addresses=("127.0.0.2",))
        try:
            a.manager.outbox.append((b"hi", ("127.0.0.1", a.port), ("127.0.0.2", b.port)))
            a.pump()
            await _until(lambda: b.manager.received)
            assert b.manager.received[0][:3] == (b"hi", ("127.0.0.2", b.port), ("127.0.0.1", a.port))
        finally:
            await a.stop()
            await b.stop()

    asyncio.run(go())
