"""Socket options the daemon's IKE sockets need with a kernel data plane.

* ``bypass_socket``: per-socket XFRM policies (``IP_XFRM_POLICY`` /
  ``IPV6_XFRM_POLICY``) with action ALLOW for both directions, so IKE itself is
  never caught by an IPsec policy (e.g. a 0.0.0.0/0 selector); this is what
  strongSwan's kernel-netlink does for its sockets.
* ``enable_udp_encap``: ``UDP_ENCAP_ESPINUDP`` on the NAT-T (4500) socket
  (RFC 3948): the kernel then decapsulates ESP-in-UDP arriving there itself and
  hands only non-ESP (marker 0x00000000, i.e. IKE) datagrams to the socket.
"""

from __future__ import annotations

import socket

from ikepy.dataplane.xfrm import uapi as u


def _policy_opt(sock: socket.socket) -> tuple[int, int]:
    if sock.family == socket.AF_INET6:
        return socket.IPPROTO_IPV6, u.IPV6_XFRM_POLICY
    if sock.family == socket.AF_INET:
        return socket.IPPROTO_IP, u.IP_XFRM_POLICY
    raise ValueError(f"not an IP socket: {sock!r}")


def bypass_policy(family: int, direction: int) -> bytes:
    """The xfrm_userpolicy_info the kernel takes as a per-socket ALLOW policy."""
    sel = u.XfrmSelector(family=family)
    return u.UserPolicyInfo(sel, direction, action=u.XFRM_POLICY_ALLOW).pack()


def bypass_socket(sock: socket.socket) -> None:
    """Exempt ``sock`` from every XFRM policy, inbound and outbound."""
    level, opt = _policy_opt(sock)
    for direction in (u.XFRM_POLICY_IN, u.XFRM_POLICY_OUT):
        sock.setsockopt(level, opt, bypass_policy(sock.family, direction))


def enable_udp_encap(sock: socket.socket) -> None:
    """Let the kernel decapsulate ESP-in-UDP arriving on ``sock`` (the NAT-T port)."""
    sock.setsockopt(u.SOL_UDP, u.UDP_ENCAP, u.UDP_ENCAP_ESPINUDP)
