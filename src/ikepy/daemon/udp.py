"""UDP sockets with the local address of each datagram (IP_PKTINFO / IPV6_RECVPKTINFO).

A wildcard socket tells us, per datagram, which local address the peer sent
to; a reply must leave from that same address, so ``send`` sets the source
with a pktinfo control message. Sockets bound to one address need neither.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Callable

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux value; Python does not export it
IPV6_RECVPKTINFO = getattr(socket, "IPV6_RECVPKTINFO", 49)
IPV6_PKTINFO = getattr(socket, "IPV6_PKTINFO", 50)

_IN_PKTINFO = struct.Struct("=I4s4s")  # ifindex, spec_dst, addr
_IN6_PKTINFO = struct.Struct("=16sI")  # addr, ifindex
_ANCBUF = socket.CMSG_SPACE(max(_IN_PKTINFO.size, _IN6_PKTINFO.size))
MAX_DATAGRAM = 65535
# Socket buffers: ESP in UDP arrives in bursts (a TCP window at a time) and the daemon
# drains the socket between other work; the kernel's 208 KiB default overflows
# (Udp RcvbufErrors) at a few hundred Mbit/s. SO_RCVBUFFORCE/SO_SNDBUFFORCE (root,
# CAP_NET_ADMIN) pass net.core.rmem_max/wmem_max; without them the kernel caps the size.
SOCKET_BUFFER = 4 * 1024 * 1024
SOL_UDP = 17
UDP_SEGMENT = getattr(socket, "UDP_SEGMENT", 103)  # linux/udp.h
_SEGMENT = struct.Struct("=H")
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
_SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)


def set_buffer_sizes(sock: socket.socket, size: int = SOCKET_BUFFER) -> None:
    """Ask for ``size`` octets of receive and send buffer (best effort)."""
    for force, plain in ((_SO_RCVBUFFORCE, socket.SO_RCVBUF), (_SO_SNDBUFFORCE, socket.SO_SNDBUF)):
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, size)
        except OSError:
            try:
                sock.setsockopt(socket.SOL_SOCKET, plain, size)
            except OSError:
                pass

Addr = tuple[str, int]


class UdpEndpoint:
    """One bound, non-blocking UDP socket."""

    __slots__ = ("sock", "family", "bound_ip", "port", "wildcard")

    def __init__(self, ip: str | None, port: int, family: int) -> None:
        self.family = family
        self.wildcard = ip is None
        bind_ip = ip if ip is not None else ("::" if family == socket.AF_INET6 else "0.0.0.0")
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
            else:
                sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            set_buffer_sizes(sock)
            sock.bind((bind_ip, port))
        except OSError:
            sock.close()
            raise
        self.sock = sock
        self.bound_ip = bind_ip
        self.port = sock.getsockname()[1]

    def fileno(self) -> int:
        return self.sock.fileno()

    def recv(self) -> tuple[bytes, Addr, Addr]:
        """One datagram as (data, local, remote); raises BlockingIOError when none is queued."""
        if not self.wildcard:  # bound to one address: that is the local one, no pktinfo needed
            data, addr = self.sock.recvfrom(MAX_DATAGRAM)
            return data, (self.bound_ip, self.port), (addr[0], addr[1])
        data, ancdata, _flags, addr = self.sock.recvmsg(MAX_DATAGRAM, _ANCBUF)
        local_ip = self.bound_ip
        for level, ctype, cdata in ancdata:
            if level == socket.IPPROTO_IP and ctype == IP_PKTINFO and len(cdata) >= _IN_PKTINFO.size:
                _ifindex, _spec_dst, dst = _IN_PKTINFO.unpack_from(cdata)
                local_ip = socket.inet_ntop(socket.AF_INET, dst)
            elif level == socket.IPPROTO_IPV6 and ctype == IPV6_PKTINFO and len(cdata) >= _IN6_PKTINFO.size:
                dst6, _ifindex = _IN6_PKTINFO.unpack_from(cdata)
                local_ip = socket.inet_ntop(socket.AF_INET6, dst6)
        return data, (local_ip, self.port), (addr[0], addr[1])

    def send(self, data: bytes, local_ip: str | None, remote: Addr) -> None:
        """Send from local_ip (when this socket is a wildcard one and local_ip is known)."""
        dest = (remote[0], remote[1])
        if not self.wildcard or not local_ip or ipaddress.ip_address(local_ip).is_unspecified:
            self.sock.sendto(data, dest)
            return
        if self.family == socket.AF_INET6:
            cmsg = (socket.IPPROTO_IPV6, IPV6_PKTINFO,
                    _IN6_PKTINFO.pack(socket.inet_pton(socket.AF_INET6, local_ip), 0))
        else:
            cmsg = (socket.IPPROTO_IP, IP_PKTINFO,
                    _IN_PKTINFO.pack(0, socket.inet_pton(socket.AF_INET, local_ip), b"\0\0\0\0"))
        self.sock.sendmsg([data], [cmsg], 0, dest)

    def sender(self, local_ip: str | None, remote: Addr) -> Callable[..., object]:
        """``send(data, segment=0)`` to ``remote`` from ``local_ip``, the address work done
        once (for the userspace data plane, which sends every ESP packet of a CHILD_SA
        alike). ``segment`` > 0: ``data`` is several datagrams of ``segment`` octets
        each (the last may be shorter), handed to the kernel in one call with UDP GSO
        (UDP_SEGMENT, Linux 4.18); the kernel raises OSError (EIO) where it cannot."""
        dest = (remote[0], remote[1])
        cmsgs: list[tuple[int, int, bytes]] = []
        if self.wildcard and local_ip and not ipaddress.ip_address(local_ip).is_unspecified:
            if self.family == socket.AF_INET6:
                cmsgs.append((socket.IPPROTO_IPV6, IPV6_PKTINFO,
                              _IN6_PKTINFO.pack(socket.inet_pton(socket.AF_INET6, local_ip), 0)))
            else:
                cmsgs.append((socket.IPPROTO_IP, IP_PKTINFO, _IN_PKTINFO.pack(
                    0, socket.inet_pton(socket.AF_INET, local_ip), b"\0\0\0\0")))
        sendto, sendmsg = self.sock.sendto, self.sock.sendmsg
        seg = _SEGMENT.pack

        def send(data: bytes, segment: int = 0) -> int:
            if segment:
                return sendmsg([data], [*cmsgs, (SOL_UDP, UDP_SEGMENT, seg(segment))], 0, dest)
            if cmsgs:
                return sendmsg([data], cmsgs, 0, dest)
            return sendto(data, dest)

        return send

    def close(self) -> None:
        self.sock.close()



def family_of(ip: str) -> int:
    return socket.AF_INET6 if ipaddress.ip_address(ip).version == 6 else socket.AF_INET


def source_for(remote_ip: str) -> str:
    """The local address the kernel's routing would use to reach remote_ip (no packet is sent)."""
    family = family_of(remote_ip)
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.connect((remote_ip, 9))
            return str(s.getsockname()[0])
        except OSError:
            return "::" if family == socket.AF_INET6 else "0.0.0.0"
