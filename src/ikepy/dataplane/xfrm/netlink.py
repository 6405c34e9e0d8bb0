"""NETLINK_XFRM transport: a plain ``socket(AF_NETLINK, SOCK_RAW, NETLINK_XFRM)``.

``XfrmSocket.request`` sends one message with NLM_F_ACK and returns the
replies (raising :class:`XfrmError` on a negative ack); ``dump`` walks a
NLM_F_DUMP listing. ``EventSocket`` joins the ACQUIRE and EXPIRE multicast
groups and is read non-blocking from the event loop.
"""

from __future__ import annotations

import errno
import itertools
import socket

from ikepy.dataplane.xfrm import uapi as u
from ikepy.dataplane.xfrm.errors import NO_XFRM_NETLINK, XfrmError

RECV_SIZE = 1 << 18
Reply = tuple[int, int, bytes]  # (type, flags, body)


def open_xfrm_socket(groups: int = 0) -> socket.socket:
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, u.NETLINK_XFRM)
    except OSError as exc:
        if exc.errno in (errno.EPROTONOSUPPORT, errno.EAFNOSUPPORT):
            raise XfrmError(exc.errno, "open NETLINK_XFRM socket", hint="",
                            extack=NO_XFRM_NETLINK) from None
        raise
    try:
        for opt in (u.NETLINK_EXT_ACK, u.NETLINK_CAP_ACK):
            try:
                sock.setsockopt(u.SOL_NETLINK, opt, 1)
            except OSError:
                pass  # kernels before 4.12: plain errno without text
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind((0, groups))
    except BaseException:
        sock.close()
        raise
    return sock


class XfrmSocket:
    """Request/response on NETLINK_XFRM (blocking, with a timeout: the kernel answers at once)."""

    def __init__(self, timeout: float = 5.0) -> None:
        self.sock = open_xfrm_socket()
        self.sock.settimeout(timeout)
        self._seq = itertools.count(1)

    def close(self) -> None:
        self.sock.close()

    def request(self, msg_type: int, body: bytes, *, flags: int = 0, what: str = "",
                hint: str = "") -> list[Reply]:
        """Send, wait for the ack; replies before the ack (e.g. GETSA's) are returned."""
        seq = next(self._seq)
        self.sock.send(u.nlmsg(msg_type, u.NLM_F_REQUEST | u.NLM_F_ACK | flags, seq, body))
        out: list[Reply] = []
        while True:
            data = self.sock.recv(RECV_SIZE)
            for t, fl, s, b in u.split_messages(data):
                if s != seq:
                    continue  # a stale answer to an earlier, timed-out request
                if t == u.NLMSG_ERROR:
                    err, text = u.parse_error(b, fl)
                    if err:
                        raise XfrmError(err, what or f"XFRM message {msg_type}", text, hint)
                    return out
                if t == u.NLMSG_DONE:
                    return out
                out.append((t, fl, b))

    def dump(self, msg_type: int, body: bytes, what: str = "") -> list[Reply]:
        seq = next(self._seq)
        self.sock.send(u.nlmsg(msg_type, u.NLM_F_REQUEST | u.NLM_F_DUMP, seq, body))
        out: list[Reply] = []
        while True:
            data = self.sock.recv(RECV_SIZE)
            for t, fl, s, b in u.split_messages(data):
                if s != seq:
                    continue
                if t == u.NLMSG_DONE:
                    return out
                if t == u.NLMSG_ERROR:
                    err, text = u.parse_error(b, fl)
                    if err:
                        raise XfrmError(err, what or f"dump XFRM message {msg_type}", text)
                    return out
                out.append((t, fl, b))


class EventSocket:
    """Kernel notifications: XFRMNLGRP_ACQUIRE and XFRMNLGRP_EXPIRE."""

    GROUPS = (1 << (u.XFRMNLGRP_ACQUIRE - 1)) | (1 << (u.XFRMNLGRP_EXPIRE - 1))

    def __init__(self) -> None:
        self.sock = open_xfrm_socket(self.GROUPS)
        self.sock.setblocking(False)

    def fileno(self) -> int:
        return self.sock.fileno()

    def read(self) -> list[tuple[int, bytes]]:
        """Every queued notification as (type, body); [] when none."""
        out: list[tuple[int, bytes]] = []
        while True:
            try:
                data = self.sock.recv(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return out
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:  # overrun: events were lost, keep reading
                    continue
                raise
            out += [(t, b) for t, _fl, _s, b in u.split_messages(data)]

    def close(self) -> None:
        self.sock.close()
