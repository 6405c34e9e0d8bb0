"""Kernel refusals turned into words an operator can act on.

The kernel answers a bad XFRM request with an errno and, since 4.12, an
extended-ack text (``NLMSGERR_ATTR_MSG``), e.g. ``EPROTONOSUPPORT`` "Requested
type not found" when ESP itself is missing, ``ENOSYS`` "Requested AEAD
algorithm not found" when a crypto module is missing.
"""

from __future__ import annotations

import errno
import os


class XfrmError(OSError):
    """A request the kernel refused; ``str()`` says what and what to do about it.

    ``errno`` is the kernel's error, ``extack`` its own text (may be empty),
    ``what`` the operation ("add inbound ESP SA 0x... rfc4106(gcm(aes))").
    """

    def __init__(self, err: int, what: str, extack: str = "", hint: str = "") -> None:
        self.extack = extack
        self.what = what
        self.hint = hint
        super().__init__(err, explain(err, what, extack, hint))

    def __str__(self) -> str:
        return str(self.strerror)


def explain(err: int, what: str, extack: str = "", hint: str = "") -> str:
    kernel = f"{os.strerror(err)}" + (f": {extack}" if extack else "")
    if err == errno.EPROTONOSUPPORT:
        advice = ("the kernel has no ESP: load the esp4 module (esp6 for IPv6), "
                  "e.g. `modprobe esp4 esp6`, or use --dataplane userspace")
    elif err == errno.ENOSYS:
        advice = (f"the kernel has no {hint or 'such algorithm'}: load its crypto module"
                  + (f" (e.g. `modprobe {_modules(hint)}`)" if hint else "")
                  + " or choose another ESP proposal")
    elif err in (errno.EPERM, errno.EACCES):
        advice = "XFRM needs CAP_NET_ADMIN: run the daemon as root"
    elif err == errno.EINVAL:
        advice = ("the kernel rejected the request as invalid"
                  + (f" (check {hint}: key length, ICV/truncation length)" if hint else "")
                  + "; an older kernel may also lack a feature asked for"
                  " (ESN, XFRM interface id, UDP encapsulation)")
    elif err == errno.EEXIST:
        advice = "an entry with the same identity is already installed"
    elif err in (errno.ESRCH, errno.ENOENT):
        advice = "no such entry in the kernel"
    elif err == errno.ENOBUFS:
        advice = "the kernel's netlink buffer overflowed"
    else:
        advice = ""
    return f"{what}: {kernel}" + (f" ({advice})" if advice else "")


def _modules(hint: str) -> str:
    from ikepy.dataplane.xfrm.algorithms import ENCR, INTEG

    for alg in (*ENCR.values(), *INTEG.values()):
        if alg.name in hint and alg.modules:
            return alg.modules
    return "esp4"


NO_XFRM_NETLINK = ("the kernel has no XFRM netlink interface: load the xfrm_user module "
                   "(CONFIG_XFRM_USER), e.g. `modprobe xfrm_user`, or use --dataplane userspace")
