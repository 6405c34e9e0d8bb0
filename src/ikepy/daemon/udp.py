"""UDP sockets with the local address of each datagram (IP_PKTINFO / IPV6_RECVPKTINFO).

A wildcard socket tells us, per datagram, which local address the peer sent
to; a reply must leave from that same address, so ``send`` sets the source
with a pktinfo control message. Sockets bound to one address need neither.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)  # Linux value; Python does not export it
IPV6_RECVPKTINFO = getattr(socket, "IPV6_RECVPKTINFO", 49)
IPV6_PKTINFO = getattr(socket, "IPV6_PKTINFO", 50)

_IN_PKTINFO = struct.Struct("=I4s4s")  # ifindex, spec_dst, addr
_IN6_PKTINFO = struct.Struct("=16sI")  # addr, ifindex
_ANCBUF = socket.CMSG_SPACE(max(_IN_PKTINFO.size, _IN6_PKTINFO.size))
MAX_DATAGRAM = 65535

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
