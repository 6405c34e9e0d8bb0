"""The kernel's XFRM user API (``include/uapi/linux/xfrm.h``) as ``struct.Struct`` rows.

Pure packing and unpacking, no I/O.  Layouts are those of x86_64 (and every
other Linux ABI where ``__u64`` is 8-aligned inside these structs); sizes and
offsets were checked against the header with a C program printing ``sizeof``/
``offsetof`` (the expected values live in ``tests/unit/xfrm/test_uapi.py``).

Byte order: ``__be16``/``__be32`` fields (ports, SPI) are in network order,
everything else host order (``=`` below, i.e. native order, standard sizes, no
implicit padding: every pad byte is written out as ``x``).
"""

from __future__ import annotations

import builtins
import ipaddress
import socket
import struct
from dataclasses import dataclass, field

# --- netlink (linux/netlink.h) --------------------------------------------
NETLINK_XFRM = 6
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_ROOT = 0x100
NLM_F_MATCH = 0x200
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_CAPPED = 0x100  # in an NLMSG_ERROR: only the request's header is echoed
NLM_F_ACK_TLVS = 0x200  # in an NLMSG_ERROR: extended ack attributes follow
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
NLMSGERR_ATTR_MSG = 1
SOL_NETLINK = 270

NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid (16)
NLATTR = struct.Struct("=HH")  # len, type (4)
NLMSGERR = struct.Struct("=i")  # error, then the request's nlmsghdr (and maybe body)

# --- XFRM message types ---------------------------------------------------
XFRM_MSG_NEWSA = 16
XFRM_MSG_DELSA = 17
XFRM_MSG_GETSA = 18
XFRM_MSG_NEWPOLICY = 19
XFRM_MSG_DELPOLICY = 20
XFRM_MSG_GETPOLICY = 21
XFRM_MSG_ALLOCSPI = 22
XFRM_MSG_ACQUIRE = 23
XFRM_MSG_EXPIRE = 24
XFRM_MSG_UPDPOLICY = 25
XFRM_MSG_UPDSA = 26
XFRM_MSG_POLEXPIRE = 27
XFRM_MSG_FLUSHSA = 28
XFRM_MSG_FLUSHPOLICY = 29

# --- XFRMA_* attributes (enum xfrm_attr_type_t) ---------------------------
XFRMA_ALG_AUTH = 1
XFRMA_ALG_CRYPT = 2
XFRMA_ALG_COMP = 3
XFRMA_ENCAP = 4
XFRMA_TMPL = 5
XFRMA_SA = 6
XFRMA_POLICY = 7
XFRMA_SEC_CTX = 8
XFRMA_LTIME_VAL = 9
XFRMA_REPLAY_VAL = 10
XFRMA_REPLAY_THRESH = 11
XFRMA_ETIMER_THRESH = 12
XFRMA_SRCADDR = 13
XFRMA_COADDR = 14
XFRMA_LASTUSED = 15
XFRMA_POLICY_TYPE = 16
XFRMA_MIGRATE = 17
XFRMA_ALG_AEAD = 18
XFRMA_KMADDRESS = 19
XFRMA_ALG_AUTH_TRUNC = 20
XFRMA_MARK = 21
XFRMA_TFCPAD = 22
XFRMA_REPLAY_ESN_VAL = 23
XFRMA_SA_EXTRA_FLAGS = 24
XFRMA_PROTO = 25
XFRMA_ADDRESS_FILTER = 26
XFRMA_PAD = 27
XFRMA_OFFLOAD_DEV = 28
XFRMA_SET_MARK = 29
XFRMA_SET_MARK_MASK = 30
XFRMA_IF_ID = 31

# --- multicast groups (enum xfrm_nlgroups) --------------------------------
XFRMNLGRP_ACQUIRE = 1
XFRMNLGRP_EXPIRE = 2
XFRMNLGRP_SA = 3
XFRMNLGRP_POLICY = 4

# --- flags and enums ------------------------------------------------------
XFRM_STATE_NOECN = 1
XFRM_STATE_DECAP_DSCP = 2
XFRM_STATE_NOPMTUDISC = 4
XFRM_STATE_WILDRECV = 8
XFRM_STATE_ICMP = 16
XFRM_STATE_AF_UNSPEC = 32
XFRM_STATE_ALIGN4 = 64
XFRM_STATE_ESN = 128

XFRM_MODE_TRANSPORT = 0
XFRM_MODE_TUNNEL = 1

XFRM_POLICY_IN = 0
XFRM_POLICY_OUT = 1
XFRM_POLICY_FWD = 2
XFRM_POLICY_ALLOW = 0
XFRM_POLICY_BLOCK = 1
XFRM_SHARE_ANY = 0

XFRM_INF = (1 << 64) - 1
IPPROTO_ESP = 50

# socket options (linux/in.h, linux/in6.h, linux/udp.h)
IP_XFRM_POLICY = 17
IPV6_XFRM_POLICY = 35
SOL_UDP = 17
UDP_ENCAP = 100
UDP_ENCAP_ESPINUDP = 2

# --- structs ----------------------------------------------------------------
XFRM_ADDRESS_SIZE = 16  # xfrm_address_t: a union of __be32 a4 / __be32 a6[4]
# struct xfrm_selector: daddr, saddr, dport, dport_mask, sport, sport_mask
# (__be16), family (u16), prefixlen_d, prefixlen_s, proto (u8), pad, ifindex
# (int), user (uid)
XFRM_SELECTOR = struct.Struct("=16s16s2s2s2s2sHBBB3xiI")
XFRM_ID = struct.Struct("=16s4sB3x")  # daddr, spi (__be32), proto
XFRM_LIFETIME_CFG = struct.Struct("=8Q")
XFRM_LIFETIME_CUR = struct.Struct("=4Q")  # bytes, packets, add_time, use_time
XFRM_STATS = struct.Struct("=3I")  # replay_window, replay, integrity_failed
# struct xfrm_usersa_info: sel, id, saddr, lft, curlft, stats, seq, reqid,
# family, mode, replay_window, flags
XFRM_USERSA_INFO = struct.Struct("=56s24s16s64s32s12sIIHBBB7x")
# struct xfrm_userpolicy_info: sel, lft, curlft, priority, index, dir, action, flags, share
XFRM_USERPOLICY_INFO = struct.Struct("=56s64s32sIIBBBB4x")
# struct xfrm_user_tmpl: id, family, saddr, reqid, mode, share, optional, aalgos, ealgos, calgos
XFRM_USER_TMPL = struct.Struct("=24sH2x16sIBBBxIII")
XFRM_USERSPI_INFO = struct.Struct("=224sII")  # info, min, max
XFRM_USERSA_ID = struct.Struct("=16s4sHBx")  # daddr, spi (__be32), family, proto
XFRM_ALGO = struct.Struct("=64sI")  # alg_name, alg_key_len (bits); key follows
XFRM_ALGO_AUTH = struct.Struct("=64sII")  # + alg_trunc_len (bits)
XFRM_ALGO_AEAD = struct.Struct("=64sII")  # + alg_icv_len (bits)
XFRM_ENCAP_TMPL = struct.Struct("=H2s2s2x16s")  # type, sport, dport (__be16), encap_oa
# struct xfrm_replay_state_esn: bmp_len, oseq, seq, oseq_hi, seq_hi, replay_window; bmp[] follows
XFRM_REPLAY_STATE_ESN = struct.Struct("=6I")
XFRM_MARK = struct.Struct("=II")  # v, m
# struct xfrm_user_acquire: id, saddr, sel, policy, aalgos, ealgos, calgos, seq
XFRM_USER_ACQUIRE = struct.Struct("=24s16s56s168sIIII")
XFRM_USER_EXPIRE = struct.Struct("=224sB7x")  # state, hard
XFRM_USERPOLICY_ID = struct.Struct("=56sIB3x")  # sel, index, dir
XFRM_USER_POLEXPIRE = struct.Struct("=168sB7x")  # pol, hard
XFRM_USERSA_FLUSH = struct.Struct("=B")  # proto

ALG_NAME_LEN = 64

IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address


def align4(n: int) -> int:
    return (n + 3) & ~3


def family_of(addr: IPAddr) -> int:
    return socket.AF_INET6 if addr.version == 6 else socket.AF_INET


def pack_addr(addr: IPAddr | None) -> bytes:
    """An xfrm_address_t: the address' octets, zero-padded to 16."""
    if addr is None:
        return bytes(16)
    return addr.packed.ljust(16, b"\0")


def unpack_addr(raw: bytes, family: int) -> IPAddr:
    if family == socket.AF_INET6:
        return ipaddress.IPv6Address(raw[:16])
    return ipaddress.IPv4Address(raw[:4])


def be16(v: int) -> bytes:
    return v.to_bytes(2, "big")


def be32(v: int) -> bytes:
    return v.to_bytes(4, "big")


# --- selector ---------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class XfrmSelector:
    daddr: IPAddr | None = None
    saddr: IPAddr | None = None
    prefixlen_d: int = 0
    prefixlen_s: int = 0
    family: int = socket.AF_INET
    proto: int = 0
    dport: int = 0
    dport_mask: int = 0
    sport: int = 0
    sport_mask: int = 0
    ifindex: int = 0
    user: int = 0

    def pack(self) -> bytes:
        return XFRM_SELECTOR.pack(
            pack_addr(self.daddr), pack_addr(self.saddr), be16(self.dport),
            be16(self.dport_mask), be16(self.sport), be16(self.sport_mask), self.family,
            self.prefixlen_d, self.prefixlen_s, self.proto, self.ifindex, self.user)

    @classmethod
    def unpack(cls, raw: bytes) -> XfrmSelector:
        d, s, dp, dpm, sp, spm, fam, pd, ps, proto, ifi, user = XFRM_SELECTOR.unpack(raw)
        return cls(unpack_addr(d, fam), unpack_addr(s, fam), pd, ps, fam, proto,
                   int.from_bytes(dp, "big"), int.from_bytes(dpm, "big"),
                   int.from_bytes(sp, "big"), int.from_bytes(spm, "big"), ifi, user)


def pack_id(daddr: IPAddr | None, spi: int, proto: int = IPPROTO_ESP) -> bytes:
    return XFRM_ID.pack(pack_addr(daddr), be32(spi), proto)


@dataclass(frozen=True, slots=True)
class LifetimeCfg:
    soft_byte_limit: int = XFRM_INF
    hard_byte_limit: int = XFRM_INF
    soft_packet_limit: int = XFRM_INF
    hard_packet_limit: int = XFRM_INF
    soft_add_expires_seconds: int = 0
    hard_add_expires_seconds: int = 0
    soft_use_expires_seconds: int = 0
    hard_use_expires_seconds: int = 0

    def pack(self) -> bytes:
        return XFRM_LIFETIME_CFG.pack(
            self.soft_byte_limit, self.hard_byte_limit, self.soft_packet_limit,
            self.hard_packet_limit, self.soft_add_expires_seconds,
            self.hard_add_expires_seconds, self.soft_use_expires_seconds,
            self.hard_use_expires_seconds)

    @staticmethod
    def limits(soft: int, hard: int) -> tuple[int, int]:
        """(soft, hard) for the kernel: 0 (no limit) becomes XFRM_INF."""
        return (soft or XFRM_INF, hard or XFRM_INF)


@dataclass(frozen=True, slots=True)
class LifetimeCur:
    bytes: int = 0
    packets: int = 0
    add_time: int = 0
    use_time: int = 0

    @classmethod
    def unpack(cls, raw: builtins.bytes) -> LifetimeCur:
        return cls(*XFRM_LIFETIME_CUR.unpack(raw))


@dataclass(frozen=True, slots=True)
class UserSaInfo:
    """struct xfrm_usersa_info (NEWSA/UPDSA body, GETSA reply, EXPIRE's state)."""

    daddr: IPAddr
    saddr: IPAddr
    spi: int
    reqid: int
    mode: int = XFRM_MODE_TUNNEL
    proto: int = IPPROTO_ESP
    family: int = socket.AF_INET
    sel: XfrmSelector = field(default_factory=XfrmSelector)
    lft: LifetimeCfg = field(default_factory=LifetimeCfg)
    curlft: LifetimeCur = field(default_factory=LifetimeCur)
    replay_window: int = 0
    flags: int = 0
    seq: int = 0
    stats: tuple[int, int, int] = (0, 0, 0)

    def pack(self) -> bytes:
        cur = XFRM_LIFETIME_CUR.pack(self.curlft.bytes, self.curlft.packets,
                                     self.curlft.add_time, self.curlft.use_time)
        return XFRM_USERSA_INFO.pack(
            self.sel.pack(), pack_id(self.daddr, self.spi, self.proto), pack_addr(self.saddr),
            self.lft.pack(), cur, XFRM_STATS.pack(*self.stats), self.seq, self.reqid,
            self.family, self.mode, self.replay_window, self.flags)

    @classmethod
    def unpack(cls, raw: bytes) -> UserSaInfo:
        sel, id_, saddr, lft, cur, stats, seq, reqid, fam, mode, rw, flags = \
            XFRM_USERSA_INFO.unpack_from(raw)
        daddr, spi, proto = XFRM_ID.unpack(id_)
        return cls(unpack_addr(daddr, fam), unpack_addr(saddr, fam), int.from_bytes(spi, "big"),
                   reqid, mode, proto, fam, XfrmSelector.unpack(sel),
                   LifetimeCfg(*XFRM_LIFETIME_CFG.unpack(lft)), LifetimeCur.unpack(cur), rw,
                   flags, seq, XFRM_STATS.unpack(stats))


@dataclass(frozen=True, slots=True)
class UserPolicyInfo:
    """struct xfrm_userpolicy_info."""

    sel: XfrmSelector
    dir: int
    priority: int = 0
    action: int = XFRM_POLICY_ALLOW
    index: int = 0
    flags: int = 0
    share: int = XFRM_SHARE_ANY
    lft: LifetimeCfg = field(default_factory=LifetimeCfg)

    def pack(self) -> bytes:
        return XFRM_USERPOLICY_INFO.pack(
            self.sel.pack(), self.lft.pack(), bytes(XFRM_LIFETIME_CUR.size), self.priority,
            self.index, self.dir, self.action, self.flags, self.share)

    @classmethod
    def unpack(cls, raw: bytes) -> UserPolicyInfo:
        sel, lft, _cur, prio, index, dir_, action, flags, share = \
            XFRM_USERPOLICY_INFO.unpack_from(raw)
        return cls(XfrmSelector.unpack(sel), dir_, prio, action, index, flags, share,
                   LifetimeCfg(*XFRM_LIFETIME_CFG.unpack(lft)))


@dataclass(frozen=True, slots=True)
class UserTmpl:
    """struct xfrm_user_tmpl: which SA (by reqid) a policy wants."""

    reqid: int
    mode: int
    family: int
    daddr: IPAddr | None = None
    saddr: IPAddr | None = None
    spi: int = 0
    proto: int = IPPROTO_ESP
    share: int = XFRM_SHARE_ANY
    optional: int = 0
    aalgos: int = 0xFFFFFFFF
    ealgos: int = 0xFFFFFFFF
    calgos: int = 0xFFFFFFFF

    def pack(self) -> bytes:
        return XFRM_USER_TMPL.pack(
            pack_id(self.daddr, self.spi, self.proto), self.family, pack_addr(self.saddr),
            self.reqid, self.mode, self.share, self.optional, self.aalgos, self.ealgos,
            self.calgos)

    @classmethod
    def unpack(cls, raw: bytes) -> UserTmpl:
        id_, fam, saddr, reqid, mode, share, opt, a, e, c = XFRM_USER_TMPL.unpack_from(raw)
        daddr, spi, proto = XFRM_ID.unpack(id_)
        return cls(reqid, mode, fam, unpack_addr(daddr, fam), unpack_addr(saddr, fam),
                   int.from_bytes(spi, "big"), proto, share, opt, a, e, c)


def pack_usersa_id(daddr: IPAddr, spi: int, proto: int = IPPROTO_ESP) -> bytes:
    return XFRM_USERSA_ID.pack(pack_addr(daddr), be32(spi), family_of(daddr), proto)


def pack_userpolicy_id(sel: XfrmSelector, dir_: int, index: int = 0) -> bytes:
    return XFRM_USERPOLICY_ID.pack(sel.pack(), index, dir_)


def pack_algo(name: str, key: bytes) -> bytes:
    return XFRM_ALGO.pack(name.encode(), len(key) * 8) + key


def pack_algo_auth(name: str, key: bytes, trunc_bits: int) -> bytes:
    return XFRM_ALGO_AUTH.pack(name.encode(), len(key) * 8, trunc_bits) + key


def pack_algo_aead(name: str, key: bytes, icv_bits: int) -> bytes:
    return XFRM_ALGO_AEAD.pack(name.encode(), len(key) * 8, icv_bits) + key


def pack_encap(sport: int, dport: int, encap_type: int = UDP_ENCAP_ESPINUDP,
               oa: IPAddr | None = None) -> bytes:
    return XFRM_ENCAP_TMPL.pack(encap_type, be16(sport), be16(dport), pack_addr(oa))


def pack_replay_esn(replay_window: int, oseq: int = 0, seq: int = 0, oseq_hi: int = 0,
                    seq_hi: int = 0) -> bytes:
    """struct xfrm_replay_state_esn with an all-zero bitmap of ceil(window/32) words."""
    bmp_len = (replay_window + 31) // 32
    return (XFRM_REPLAY_STATE_ESN.pack(bmp_len, oseq, seq, oseq_hi, seq_hi, replay_window)
            + bytes(4 * bmp_len))


def pack_mark(value: int, mask: int = 0xFFFFFFFF) -> bytes:
    return XFRM_MARK.pack(value, mask)


def pack_u32(v: int) -> bytes:
    return struct.pack("=I", v)


# --- netlink framing ----------------------------------------------------------
def nlattr(attr_type: int, payload: bytes) -> bytes:
    """One netlink attribute, padded to 4 octets (the length excludes the padding)."""
    n = NLATTR.size + len(payload)
    return NLATTR.pack(n, attr_type) + payload + bytes(align4(n) - n)


def parse_attrs(data: bytes | memoryview, offset: int = 0) -> dict[int, bytes]:
    """Attributes from ``offset`` to the end: {type: payload} (last one wins;
    the NLA_F_NESTED/NET_BYTEORDER bits are masked off)."""
    out: dict[int, bytes] = {}
    end = len(data)
    while offset + NLATTR.size <= end:
        n, t = NLATTR.unpack_from(data, offset)
        if n < NLATTR.size or offset + n > end:
            break
        out[t & 0x3FFF] = bytes(data[offset + NLATTR.size:offset + n])
        offset += align4(n)
    return out


def nlmsg(msg_type: int, flags: int, seq: int, body: bytes, pid: int = 0) -> bytes:
    return NLMSGHDR.pack(NLMSGHDR.size + len(body), msg_type, flags, seq, pid) + body


def split_messages(data: bytes) -> list[tuple[int, int, int, bytes]]:
    """A datagram from a netlink socket -> [(type, flags, seq, body), ...]."""
    out = []
    off = 0
    while off + NLMSGHDR.size <= len(data):
        n, t, flags, seq, _pid = NLMSGHDR.unpack_from(data, off)
        if n < NLMSGHDR.size or off + n > len(data):
            break
        out.append((t, flags, seq, data[off + NLMSGHDR.size:off + n]))
        off += align4(n)
    return out


def parse_error(body: bytes, flags: int) -> tuple[int, str]:
    """An NLMSG_ERROR body -> (errno (positive; 0 = ack), extended-ack text or '')."""
    (err,) = NLMSGERR.unpack_from(body)
    text = ""
    if flags & NLM_F_ACK_TLVS:
        # after the error: the echoed request (just its header when capped)
        echoed = NLMSGHDR.size
        if not flags & NLM_F_CAPPED and len(body) >= NLMSGERR.size + NLMSGHDR.size:
            echoed = align4(NLMSGHDR.unpack_from(body, NLMSGERR.size)[0])
        attrs = parse_attrs(body, NLMSGERR.size + echoed)
        raw = attrs.get(NLMSGERR_ATTR_MSG, b"")
        text = raw.split(b"\0", 1)[0].decode(errors="replace")
    return -err, text
