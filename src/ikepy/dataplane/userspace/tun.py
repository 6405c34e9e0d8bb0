"""TUN device and the routes that steer CHILD_SA traffic into it.

The device is opened through ``/dev/net/tun`` with ``TUNSETIFF``
(IFF_TUN | IFF_NO_PI: every read/write is one bare IP packet), made
non-blocking, given its MTU and brought up with pyroute2.  :class:`RouteTable`
installs one route per remote traffic selector network via the device,
with ``src`` set to a host address inside the local selectors when there is
one (as strongSwan's kernel-libipsec does), reference counted so that
overlapping CHILD_SAs (rekeying) share routes.
"""

from __future__ import annotations

import fcntl
import ipaddress
import logging
import os
import struct
from collections.abc import Callable, Hashable

from pyroute2 import IPRoute

from ikepy.dataplane.base import IPAddress, IPNetwork, Selector

log = logging.getLogger(__name__)

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
_IFREQ = struct.Struct("16sH22x")

DEFAULT_TUN_NAME = "ipsec0"
DEFAULT_MTU = 1400
MAIN_TABLE = 254


class TunDevice:
    """An open TUN interface.  ``fd`` is non-blocking; read/write whole packets."""

    __slots__ = ("name", "fd", "mtu", "index", "_ipr")

    def __init__(
        self, name: str = DEFAULT_TUN_NAME, mtu: int = DEFAULT_MTU, ipr: IPRoute | None = None
    ) -> None:
        if len(name.encode()) > 15:
            raise ValueError(f"TUN device name {name!r} is longer than 15 octets")
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            ifr = fcntl.ioctl(fd, TUNSETIFF, _IFREQ.pack(name.encode(), IFF_TUN | IFF_NO_PI))
            self.name = _IFREQ.unpack(ifr)[0].rstrip(b"\0").decode()
            self._ipr = ipr if ipr is not None else IPRoute()
            idx = self._ipr.link_lookup(ifname=self.name)
            if not idx:
                raise OSError(f"TUN device {self.name} vanished")
            self.index = idx[0]
            self._ipr.link("set", index=self.index, mtu=mtu, state="up")
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        self.mtu = mtu

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # a non-persistent TUN disappears with its last fd
            self.fd = -1


class RouteTable:
    """Reference-counted routes via the TUN device."""

    def __init__(self, ipr: IPRoute, ifindex: int, table: int = MAIN_TABLE) -> None:
        self._ipr = ipr
        self._ifindex = ifindex
        self._table = table
        self._refs: dict[IPNetwork, int] = {}
        self._by_reqid: dict[Hashable, list[IPNetwork]] = {}  # CHILD_SA reqid or trap key

    def host_addresses(self) -> list[IPAddress]:
        out: list[IPAddress] = []
        for msg in self._ipr.get_addr():
            a = msg.get_attr("IFA_ADDRESS")
            if a:
                out.append(ipaddress.ip_address(a))
        return out

    def pick_src(self, local: tuple[Selector, ...], version: int) -> IPAddress | None:
        for addr in self.host_addresses():
            if addr.version != version or addr.is_link_local:
                continue
            for sel in local:
                if sel.version == version and sel.start <= addr <= sel.end:  # type: ignore[operator]
                    return addr
        return None

    def add(
        self,
        reqid: Hashable,
        remote: tuple[Selector, ...],
        local: tuple[Selector, ...],
        peer: IPAddress | None = None,
    ) -> list[IPNetwork]:
        """Routes to every remote selector network; returns those installed."""
        installed: list[IPNetwork] = []
        for sel in remote:
            src = self.pick_src(local, sel.version)
            for net in sel.networks():
                if peer is not None and peer.version == net.version and peer in net:
                    # a route covering the peer would pull the ESP packets themselves
                    # into the tunnel; leave such routes to the operator
                    log.warning(
                        "not routing %s via the TUN device: it contains the peer %s", net, peer
                    )
                    continue
                n = self._refs.get(net, 0)
                if n == 0:
                    kw: dict[str, object] = {
                        "dst": str(net),
                        "oif": self._ifindex,
                        "table": self._table,
                    }
                    if src is not None:
                        kw["prefsrc"] = str(src)
                    try:
                        self._ipr.route("replace", **kw)
                    except Exception as exc:  # netlink errors are local trouble, not fatal
                        log.warning("cannot add route %s via TUN: %s", net, exc)
                        continue
                self._refs[net] = n + 1
                installed.append(net)
        self._by_reqid.setdefault(reqid, []).extend(installed)
        return installed

    def remove(self, reqid: Hashable) -> None:
        for net in self._by_reqid.pop(reqid, []):
            n = self._refs.get(net, 0) - 1
            if n > 0:
                self._refs[net] = n
                continue
            self._refs.pop(net, None)
            try:
                self._ipr.route("del", dst=str(net), oif=self._ifindex, table=self._table)
            except Exception as exc:
                log.debug("route %s already gone: %s", net, exc)

    def clear(self) -> None:
        for reqid in list(self._by_reqid):
            self.remove(reqid)

    def routes(self) -> dict[IPNetwork, int]:
        return dict(self._refs)


class NetlinkWorker:
    """pyroute2's IPRoute on a thread of its own.

    pyroute2 0.9 runs its synchronous API on an asyncio loop of its own, which
    it cannot start inside the daemon's running loop; route and link changes
    are rare, so each call is handed to one worker thread and waited for.
    """

    def __init__(self) -> None:
        import concurrent.futures

        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ikepy-netlink")
        self._ipr: IPRoute = self._pool.submit(IPRoute).result()

    def _call(self, name: str, *args: object, **kwargs: object) -> object:
        def run() -> object:
            out = getattr(self._ipr, name)(*args, **kwargs)
            if hasattr(out, "__next__"):  # a lazy generator must run on this thread
                out = list(out)
            return out

        return self._pool.submit(run).result()

    def __getattr__(self, name: str) -> object:
        return lambda *a, **kw: self._call(name, *a, **kw)

    def run_on_thread(self, fn: Callable[[], object]) -> object:
        """Run ``fn`` on the worker thread (capabilities are per thread)."""
        return self._pool.submit(fn).result()

    def close(self) -> None:
        try:
            self._pool.submit(self._ipr.close).result()
        finally:
            self._pool.shutdown(wait=True)
