"""Keep only the capabilities the daemon needs once its sockets and devices are open.

A daemon that parses packets from the internet should not keep the rest of
root's powers. After start-up ikepy keeps, in its effective, permitted and
bounding sets, only:

- CAP_NET_ADMIN: routes through the TUN device, XFRM states and policies;
- CAP_NET_RAW: raw ESP (IP protocol 50) sockets, re-created on demand;
- CAP_NET_BIND_SERVICE: re-binding UDP 500/4500 after a reload.

Everything else (reading other users' files, ptrace, module loading, ...)
is dropped for good with prctl(PR_CAPBSET_DROP) and capset(2), through libc
with ctypes; the uid stays 0 so files it created (the control socket) stay
its own. Capabilities belong to threads: the call runs on every thread the
daemon has at that point (the data plane's netlink worker too), and threads
made later inherit the reduced sets. Not root, or a kernel that refuses: a
warning, and nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

log = logging.getLogger("ikepy.daemon")

CAP_NET_BIND_SERVICE = 10
CAP_NET_ADMIN = 12
CAP_NET_RAW = 13
KEEP = (CAP_NET_BIND_SERVICE, CAP_NET_ADMIN, CAP_NET_RAW)

_PR_CAPBSET_DROP = 24
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def mask(caps: tuple[int, ...] = KEEP) -> int:
    return sum(1 << c for c in caps)


def drop_capabilities(keep: tuple[int, ...] = KEEP) -> str | None:
    """Drop every capability but ``keep``; None on success, else why not."""
    if os.geteuid() != 0:
        return "not running as root"
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except (OSError, ValueError):
        last = 40
    for cap in range(last + 1):
        if cap not in keep and libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            err = ctypes.get_errno()
            if err != 22:  # EINVAL: a capability this kernel does not have
                return f"prctl(PR_CAPBSET_DROP, {cap}) failed: {os.strerror(err)}"
    want = mask(keep)
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)(_Data(want & 0xFFFFFFFF, want & 0xFFFFFFFF, 0),
                       _Data(want >> 32, want >> 32, 0))
    if libc.capset(ctypes.byref(header), data) != 0:
        return f"capset failed: {os.strerror(ctypes.get_errno())}"
    return None


def effective_capabilities(pid: int | str = "self", task: int | None = None) -> int:
    path = f"/proc/{pid}/status" if task is None else f"/proc/{pid}/task/{task}/status"
    with open(path) as f:
        for line in f:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    raise RuntimeError("no CapEff in /proc/status")


def threads_above(keep: tuple[int, ...] = KEEP) -> list[int]:
    """Thread ids of this process that still hold more than ``keep``."""
    extra = []
    for task in os.listdir("/proc/self/task"):
        if effective_capabilities("self", int(task)) & ~mask(keep):
            extra.append(int(task))
    return extra
