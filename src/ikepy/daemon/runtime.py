"""The asyncio runtime around the sans-I/O IKEv2 engine.

``Runtime`` owns what the engine must not touch: the UDP sockets (IKE port
and NAT-T port, RFC 3948 / RFC 7296 2.23), the clock and one timer. After
every input (a datagram, a timer expiry, an operator command) it calls
``pump()``, which sends what the engine queued, fans its events out to the log
and to subscribers, and re-arms the timer from ``next_deadline()``.

On the NAT-T port (RFC 3948 2.2): four zero octets (the non-ESP marker) mean
IKE and are stripped before the engine sees the message (and added to every
datagram the engine sends from that port); a single 0xFF octet is a NAT
keepalive; anything else is ESP for the data plane's ``receive_esp``.

There is no global state: two runtimes can share one event loop (``ikepy
demo`` runs two peers that way).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import ipaddress
import logging
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from ikepy.daemon.events import EventFilter, event_kind, event_line
from ikepy.daemon.udp import Addr, UdpEndpoint, family_of

NON_ESP_MARKER = b"\x00\x00\x00\x00"
NATT_KEEPALIVE = b"\xff"
READ_BURST = 64  # datagrams read per wake-up before the engine's output is flushed

log = logging.getLogger("ikepy.daemon")


class InitiateError(Exception):
    """initiate did not bring the child up; str() gives the reason in words."""


class Runtime:
    """Sockets, timer and event fan-out for one IkeManager.

    ``addresses``: local IPs to bind; None or empty binds the IPv4 and IPv6
    wildcards (with pktinfo so the engine learns each datagram's local address).
    ``port``/``port_nat_t``: 500/4500 by default (0 in tests: the first socket
    picks a free port and the other addresses reuse it).
    """

    def __init__(
        self,
        manager: Any,
        backend: Any = None,
        *,
        addresses: Iterable[str] | None = None,
        port: int = 500,
        port_nat_t: int = 4500,
        clock: Callable[[], float] = time.monotonic,
        name: str = "",
        logger: logging.Logger | None = None,
    ) -> None:
        self.manager = manager
        self.backend = backend
        self.addresses = [str(a) for a in addresses] if addresses else []
        self.port = port
        self.port_nat_t = port_nat_t
        self.clock = clock
        self.name = name
        self.log = logger or log
        self.counters: Counter[str] = Counter()
        self._endpoints: list[tuple[UdpEndpoint, bool]] = []  # (endpoint, is NAT-T port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._subscribers: list[Callable[[Any], None]] = []
        self._pumping = False
        self.started = False

    # -- lifecycle ---------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            self._open_sockets()
        except OSError:
            self._close_sockets()
            raise
        prepare = getattr(self.backend, "prepare_socket", None)
        for ep, natt in self._endpoints:
            if prepare is not None:  # kernel IPsec: IKE bypasses policies, ESP-in-UDP on 4500
                prepare(ep.sock, natt)
            self._loop.add_reader(ep.fileno(), self._on_readable, ep, natt)
        start = getattr(self.backend, "start", None)
        if start is not None:
            start(self._loop)
        self.started = True
        mgr_start = getattr(self.manager, "start", None)
        if mgr_start is not None:  # start_action = start
            mgr_start(self.clock())
        self.pump()

    def _open_sockets(self) -> None:
        ips: list[str | None] = list(self.addresses) or [None]
        for port_attr, natt in (("port", False), ("port_nat_t", True)):
            for ip in ips:
                families = [family_of(ip)] if ip is not None else [socket.AF_INET, socket.AF_INET6]
                for fam in families:
                    try:
                        ep = UdpEndpoint(ip, getattr(self, port_attr), fam)
                    except OSError as exc:
                        if ip is None and fam == socket.AF_INET6 and exc.errno in (97, 99):
                            self.log.info("%sno IPv6 here; listening on IPv4 only", self._prefix())
                            continue
                        where = f"[{ip or '*'}]:{getattr(self, port_attr)}"
                        raise OSError(exc.errno, f"cannot bind UDP {where}: {exc.strerror}") from None
                    setattr(self, port_attr, ep.port)  # port 0 resolved once, reused after
                    self._endpoints.append((ep, natt))
                    self.log.info("%slistening on UDP %s[%d]%s", self._prefix(), ep.bound_ip,
                                  ep.port, " (NAT-T)" if natt else "")

    async def stop(self, close_backend: bool = True) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._close_sockets()
        if close_backend and self.backend is not None:
            close = getattr(self.backend, "close", None)
            if close is not None:
                result = close()
                if asyncio.iscoroutine(result):
                    await result
        self.started = False

    def _close_sockets(self) -> None:
        for ep, _natt in self._endpoints:
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(ep.fileno())
            ep.close()
        self._endpoints.clear()

    async def shutdown(self, grace: float = 3.0) -> None:
        """Delete every SA (mgr.shutdown) and keep running until the engine is idle or grace passed."""
        self.manager.shutdown(self.clock())
        self.pump()
        deadline = self.clock() + grace
        while self._busy() and self.clock() < deadline:
            await asyncio.sleep(0.02)
        if self._busy():
            self.log.warning("%sgave up waiting for the peers' delete replies after %.0f s",
                             self._prefix(), grace)

    def _busy(self) -> bool:
        busy = getattr(self.manager, "busy", None)
        return bool(busy()) if busy is not None else False

    def _prefix(self) -> str:
        return f"{self.name}: " if self.name else ""

    # -- input -------------------------------------------------------------
    def _on_readable(self, ep: UdpEndpoint, natt: bool) -> None:
        ike_in = self.counters["ike_in"]
        for _ in range(READ_BURST):
            try:
                data, local, remote = ep.recv()
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # e.g. ICMP errors reported on the socket
                self.counters["udp_recv_errors"] += 1
                self.log.debug("%sUDP receive error: %s", self._prefix(), exc)
                break
            self.datagram_received(data, local, remote, natt)
        if self.counters["ike_in"] != ike_in:  # a burst of ESP only leaves the engine idle
            self.pump()

    def datagram_received(self, data: bytes, local: Addr, remote: Addr, natt: bool) -> None:
        """Demultiplex one datagram (does not pump; callers do)."""
        if natt:
            if data == NATT_KEEPALIVE:
                self.counters["natt_keepalives_in"] += 1
                return
            if data[:4] == NON_ESP_MARKER:
                if len(data) == 4:
                    self.counters["drop_empty_ike"] += 1
                    return
                self._to_engine(data[4:], local, remote)
                return
            if len(data) < 8:  # RFC 3948 2.2: an ESP header is at least SPI and sequence number
                self.counters["drop_short_natt"] += 1
                return
            receive_esp = getattr(self.backend, "receive_esp", None)
            if receive_esp is None:
                self.counters["drop_esp_no_dataplane"] += 1
                return
            self.counters["esp_in"] += 1
            try:
                receive_esp(data, remote, local)
            except Exception:  # noqa: BLE001 - a data plane bug must not stop IKE
                self.counters["dataplane_errors"] += 1
                self.log.exception("%sdata plane failed on an ESP packet from %s[%d]",
                                   self._prefix(), remote[0], remote[1])
            return
        self._to_engine(data, local, remote)

    def _to_engine(self, data: bytes, local: Addr, remote: Addr) -> None:
        self.counters["ike_in"] += 1
        try:
            self.manager.receive(data, local, remote, self.clock())
        except Exception:  # noqa: BLE001 - never let one datagram stop the daemon
            self.counters["engine_errors"] += 1
            self.log.exception("%sengine failed on a datagram from %s[%d]",
                               self._prefix(), remote[0], remote[1])

    def dataplane_event(self, kind: str, reqid: int) -> None:
        """A lifetime or sequence-number event from the data plane (soft, hard, ...)."""
        try:
            self.manager.dataplane_event(kind, reqid, self.clock())
        except Exception:  # noqa: BLE001
            self.counters["engine_errors"] += 1
            self.log.exception("%sengine failed on data plane event %s", self._prefix(), kind)
        self.pump()

    def _on_timer(self) -> None:
        self._timer = None
        try:
            self.manager.handle_timer(self.clock())
        except Exception:  # noqa: BLE001
            self.counters["engine_errors"] += 1
            self.log.exception("%sengine failed in handle_timer", self._prefix())
        self.pump()

    # -- output ------------------------------------------------------------
    def pump(self) -> None:
        """Send queued datagrams, dispatch events, re-arm the timer."""
        if self._pumping:
            return
        self._pumping = True
        try:
            while True:
                datagrams = self.manager.datagrams_to_send()
                events = self.manager.events()
                if not datagrams and not events:
                    break
                for data, local, remote in datagrams:
                    self.send_ike(data, local, remote)
                for ev in events:
                    self._dispatch(ev)
        finally:
            self._pumping = False
        self._arm_timer()

    def _arm_timer(self) -> None:
        if self._loop is None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.manager.next_deadline()
        if deadline is not None:
            delay = max(0.0, deadline - self.clock())
            self._timer = self._loop.call_later(delay, self._on_timer)

    def next_timer(self) -> float | None:
        """When the timer fires, in loop time (for tests)."""
        return self._timer.when() if self._timer is not None else None

    def send_ike(self, data: bytes, local: Any, remote: Any) -> None:
        """Send one engine datagram; the non-ESP marker is added on the NAT-T port."""
        local_ip = str(local[0]) if local and local[0] is not None else None
        local_port = int(local[1]) if local and local[1] else self.port
        if local_port == self.port_nat_t:
            data = NON_ESP_MARKER + data
        self._send(data, local_ip, local_port, (str(remote[0]), int(remote[1])), "ike_out")

    def send_udp(self, data: bytes, src: Any, dst: Any) -> None:
        """For the userspace data plane: raw ESP-in-UDP, no marker."""
        src_ip = str(src[0]) if src and src[0] is not None else None
        src_port = int(src[1]) if src and src[1] else self.port_nat_t
        self._send(data, src_ip, src_port, (str(dst[0]), int(dst[1])), "esp_out")

    def udp_sender(self, src: Any, dst: Any) -> Callable[[bytes], object] | None:
        """For the userspace data plane: ``send(data)`` for ESP-in-UDP from src to dst, the
        socket and addresses resolved once (per CHILD_SA), or None when no socket fits.
        It raises OSError like a socket; it does not count (the data plane does)."""
        src_ip = str(src[0]) if src and src[0] is not None else None
        src_port = int(src[1]) if src and src[1] else self.port_nat_t
        remote = (str(dst[0]), int(dst[1]))
        ep = self._endpoint_for(src_ip, src_port, family_of(remote[0]))
        return None if ep is None else ep.sender(src_ip, remote)

    def _send(self, data: bytes, local_ip: str | None, local_port: int, remote: Addr, what: str) -> None:
        ep = self._endpoint_for(local_ip, local_port, family_of(remote[0]))
        if ep is None:
            self.counters["send_no_socket"] += 1
            self.log.warning("%sno socket for %s[%d] -> %s[%d]; datagram dropped", self._prefix(),
                             local_ip or "*", local_port, remote[0], remote[1])
            return
        try:
            ep.send(data, local_ip, remote)
        except OSError as exc:
            self.counters["send_errors"] += 1
            self.log.warning("%ssending to %s[%d] failed: %s", self._prefix(), remote[0], remote[1],
                             exc.strerror or exc)
            return
        self.counters[what] += 1

    def _endpoint_for(self, local_ip: str | None, port: int, family: int) -> UdpEndpoint | None:
        """The socket bound to local_ip, else a wildcard one (which sets the source itself)."""
        if local_ip is not None and ipaddress.ip_address(local_ip).is_unspecified:
            local_ip = None
        wildcard = first = None
        for ep, _natt in self._endpoints:
            if ep.port != port or ep.family != family:
                continue
            if local_ip is not None and not ep.wildcard and ep.bound_ip == local_ip:
                return ep
            if ep.wildcard and wildcard is None:
                wildcard = ep
            if first is None:
                first = ep
        if wildcard is not None:
            return wildcard
        return first if local_ip is None else None

    # -- events ------------------------------------------------------------
    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        """Call callback(event) for every engine event; returns the unsubscribe function."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    def _dispatch(self, ev: Any) -> None:
        kind = event_kind(ev)
        self.counters[f"events_{kind}"] += 1
        # the engine has logged the event where it happened; repeat it only for debugging
        self.log.debug("%sevent %s", self._prefix(), event_line(ev))
        for cb in list(self._subscribers):
            try:
                cb(ev)
            except Exception:  # noqa: BLE001
                self.log.exception("%sevent subscriber failed", self._prefix())

    # -- operator commands -------------------------------------------------
    async def initiate(
        self,
        child_name: str,
        ike_name: str | None = None,
        timeout: float = 30.0,
        progress: Callable[[str], None] | None = None,
    ) -> Any:
        """Start child_name and wait for its child_up event (returned).

        Raises InitiateError on a failed/ike_down/child_down event for it, or
        after timeout seconds; errors from mgr.initiate (unknown name, ...) propagate.
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()
        filt = EventFilter(child_name, ike_name or _ike_of_child(self.manager, child_name))

        def on_event(ev: Any) -> None:
            if done.done() or not filt.related(ev):
                return
            if progress is not None:
                progress(event_line(ev))
            verdict = filt.verdict(ev)
            if verdict == "up":
                done.set_result(ev)
            elif verdict is not None:
                done.set_exception(InitiateError(verdict))

        unsubscribe = self.subscribe(on_event)
        try:
            self.manager.initiate(child_name, ike_name, self.clock())
            self.pump()
            try:
                return await asyncio.wait_for(done, timeout)
            except TimeoutError:
                raise InitiateError(
                    f"child '{child_name}' was not up within {timeout:g} s "
                    "(is the peer reachable? see the daemon log)"
                ) from None
        finally:
            unsubscribe()

    def terminate_ike(self, name: str) -> Any:
        try:
            return self.manager.terminate_ike(name, self.clock())
        finally:
            self.pump()

    def terminate_child(self, name: str) -> Any:
        try:
            return self.manager.terminate_child(name, self.clock())
        finally:
            self.pump()

    def stats(self) -> dict[str, int]:
        return dict(sorted(self.counters.items()))

    def list_sas(self) -> Any:
        """mgr.list_sas(), with the current time when the engine takes it."""
        fn = self.manager.list_sas
        try:
            takes_now = "now" in inspect.signature(fn).parameters
        except (TypeError, ValueError):
            takes_now = False
        return fn(self.clock()) if takes_now else fn()


def _ike_of_child(manager: Any, child_name: str) -> str | None:
    """The connection a child belongs to, from list_conns() (best effort)."""
    list_conns = getattr(manager, "list_conns", None)
    if list_conns is None:
        return None
    try:
        conns = list_conns()
    except Exception:  # noqa: BLE001
        return None
    for conn in conns or ():
        if not isinstance(conn, dict):
            continue
        children = conn.get("children") or ()
        names = children.keys() if isinstance(children, dict) else [
            c.get("name") if isinstance(c, dict) else c for c in children
        ]
        if child_name in names:
            name = conn.get("name")
            return str(name) if name is not None else None
    return None
