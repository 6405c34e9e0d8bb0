"""XfrmBackend against a fake NETLINK_XFRM socket: which messages it sends, and
how it reads replies and kernel events. Runs anywhere (no kernel needed)."""

from __future__ import annotations

import errno
import ipaddress
import random
import socket
import struct

import pytest

from ikepy.dataplane.base import ChildSaSpec, Selector, UnknownSa
from ikepy.dataplane.xfrm import uapi as u
from ikepy.dataplane.xfrm.backend import REQID_BASE, XfrmBackend, port_blocks, selectors
from ikepy.dataplane.xfrm.errors import XfrmError
from ikepy.wire.enums import EncrId, IntegId

ip = ipaddress.ip_address
net = ipaddress.ip_network


class FakeNl:
    """Records requests; answers GETSA from ``states``; dumps from ``dump_*``."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, bytes]] = []
        self.states: dict[tuple[object, int], u.UserSaInfo] = {}
        self.dump_sa: list[bytes] = []
        self.dump_pol: list[bytes] = []
        self.fail: dict[int, XfrmError] = {}
        self.closed = False

    def request(self, msg_type, body, *, flags=0, what="", hint=""):
        if msg_type in self.fail:
            raise self.fail[msg_type]
        self.sent.append((msg_type, body))
        if msg_type in (u.XFRM_MSG_NEWSA, u.XFRM_MSG_UPDSA):
            info = u.UserSaInfo.unpack(body)
            self.states[(info.daddr, info.spi)] = info
        if msg_type == u.XFRM_MSG_DELSA:
            daddr, spi, fam, _p = u.XFRM_USERSA_ID.unpack_from(body)
            key = (u.unpack_addr(daddr, fam), int.from_bytes(spi, "big"))
            if self.states.pop(key, None) is None:
                raise XfrmError(errno.ESRCH, what)
        if msg_type == u.XFRM_MSG_GETSA:
            daddr, spi, fam, _p = u.XFRM_USERSA_ID.unpack_from(body)
            info = self.states.get((u.unpack_addr(daddr, fam), int.from_bytes(spi, "big")))
            if info is None:
                raise XfrmError(errno.ESRCH, what)
            return [(u.XFRM_MSG_NEWSA, 0, info.pack())]
        return []

    def dump(self, msg_type, body, what=""):
        if msg_type == u.XFRM_MSG_GETSA:
            return [(u.XFRM_MSG_NEWSA, 0, b) for b in self.dump_sa]
        return [(u.XFRM_MSG_NEWPOLICY, 0, b) for b in self.dump_pol]

    def close(self):
        self.closed = True

    def of(self, msg_type):
        return [b for t, b in self.sent if t == msg_type]


def spec(reqid=1, spi_in=0x1001, spi_out=0x2002, **kw):
    base = dict(name="net", reqid=reqid, spi_in=spi_in, spi_out=spi_out,
                encr_id=EncrId.AES_GCM_16, encr_key_in=b"\x11" * 36, encr_key_out=b"\x22" * 36,
                integ_id=None, integ_key_in=b"", integ_key_out=b"",
                local_addr=ip("10.99.0.1"), remote_addr=ip("10.99.0.2"),
                local_ts=(net("10.1.0.0/24"),), remote_ts=(net("10.2.0.0/24"),))
    base.update(kw)
    return ChildSaSpec(**base)


@pytest.fixture
def nl():
    return FakeNl()


@pytest.fixture
def backend(nl):
    return XfrmBackend(netlink=nl, rng=random.Random(1))  # type: ignore[arg-type]


def attrs_of_state(body):
    return u.parse_attrs(body, u.XFRM_USERSA_INFO.size)


def test_gcm_tunnel_states_and_policies(backend, nl):
    backend.add_child_sa(spec())
    new = nl.of(u.XFRM_MSG_NEWSA)
    assert len(new) == 2
    sa_in, sa_out = (u.UserSaInfo.unpack(b) for b in new)
    # inbound: remote -> local with our SPI; outbound: local -> remote with theirs
    assert (sa_in.saddr, sa_in.daddr, sa_in.spi) == (ip("10.99.0.2"), ip("10.99.0.1"), 0x1001)
    assert (sa_out.saddr, sa_out.daddr, sa_out.spi) == (ip("10.99.0.1"), ip("10.99.0.2"), 0x2002)
    assert sa_in.reqid == sa_out.reqid == REQID_BASE
    assert sa_in.mode == u.XFRM_MODE_TUNNEL and sa_in.replay_window == 0
    a = attrs_of_state(new[0])
    # 1024-packet window > 32: the ESN-style replay attribute carries it
    assert struct.unpack_from("=6I", a[u.XFRMA_REPLAY_ESN_VAL])[5] == 1024
    name, keybits, icv = u.XFRM_ALGO_AEAD.unpack_from(a[u.XFRMA_ALG_AEAD])
    assert name.rstrip(b"\0") == b"rfc4106(gcm(aes))" and (keybits, icv) == (288, 128)
    assert a[u.XFRMA_ALG_AEAD][72:] == b"\x11" * 36
    assert attrs_of_state(new[1])[u.XFRMA_ALG_AEAD][72:] == b"\x22" * 36
    assert u.XFRMA_ENCAP not in a and u.XFRMA_REPLAY_ESN_VAL not in attrs_of_state(new[1])
    pols = [(u.UserPolicyInfo.unpack(b), u.UserTmpl.unpack(u.parse_attrs(
        b, u.XFRM_USERPOLICY_INFO.size)[u.XFRMA_TMPL])) for b in nl.of(u.XFRM_MSG_UPDPOLICY)]
    dirs = {p.dir: (p, t) for p, t in pols}
    assert set(dirs) == {u.XFRM_POLICY_OUT, u.XFRM_POLICY_IN, u.XFRM_POLICY_FWD}
    out, t_out = dirs[u.XFRM_POLICY_OUT]
    assert (out.sel.saddr, out.sel.prefixlen_s, out.sel.daddr) == (ip("10.1.0.0"), 24,
                                                                   ip("10.2.0.0"))
    assert (t_out.saddr, t_out.daddr, t_out.reqid) == (ip("10.99.0.1"), ip("10.99.0.2"),
                                                       REQID_BASE)
    inn, t_in = dirs[u.XFRM_POLICY_IN]
    assert (inn.sel.saddr, inn.sel.daddr) == (ip("10.2.0.0"), ip("10.1.0.0"))
    assert (t_in.saddr, t_in.daddr) == (ip("10.99.0.2"), ip("10.99.0.1"))


def test_cbc_hmac_esn_encap_lifetimes(backend, nl):
    s = spec(encr_id=EncrId.AES_CBC, encr_key_in=b"k" * 16, encr_key_out=b"K" * 16,
             integ_id=IntegId.HMAC_SHA2_384_192, integ_key_in=b"a" * 48, integ_key_out=b"A" * 48,
             esn=True, encap=True, local_port=4500, remote_port=31000, replay_window=64,
             rekey_bytes=1000, life_bytes=2000, rekey_packets=10, life_packets=20)
    backend.add_child_sa(s)
    b_in, b_out = nl.of(u.XFRM_MSG_NEWSA)
    i_in, i_out = u.UserSaInfo.unpack(b_in), u.UserSaInfo.unpack(b_out)
    assert i_in.flags & u.XFRM_STATE_ESN and i_out.flags & u.XFRM_STATE_ESN
    assert (i_in.lft.soft_byte_limit, i_in.lft.hard_byte_limit) == (1000, 2000)
    assert (i_in.lft.soft_packet_limit, i_in.lft.hard_packet_limit) == (10, 20)
    a_in, a_out = attrs_of_state(b_in), attrs_of_state(b_out)
    assert struct.unpack_from("=6I", a_in[u.XFRMA_REPLAY_ESN_VAL]) == (2, 0, 0, 0, 0, 64)
    assert struct.unpack_from("=6I", a_out[u.XFRMA_REPLAY_ESN_VAL])[5] == 1  # ESN needs >= 1
    assert a_in[u.XFRMA_ALG_CRYPT][:8] == b"cbc(aes)"
    name, keybits, trunc = u.XFRM_ALGO_AUTH.unpack_from(a_in[u.XFRMA_ALG_AUTH_TRUNC])
    assert name.rstrip(b"\0") == b"hmac(sha384)" and (keybits, trunc) == (384, 192)
    # encapsulation ports as seen by each state: inbound comes from the peer's port
    t, sport, dport, _oa = u.XFRM_ENCAP_TMPL.unpack(a_in[u.XFRMA_ENCAP])
    assert (t, int.from_bytes(sport, "big"), int.from_bytes(dport, "big")) == (2, 31000, 4500)
    _t, sport, dport, _oa = u.XFRM_ENCAP_TMPL.unpack(a_out[u.XFRMA_ENCAP])
    assert (int.from_bytes(sport, "big"), int.from_bytes(dport, "big")) == (4500, 31000)


@pytest.mark.parametrize(("integ", "name", "trunc"), [
    (IntegId.HMAC_SHA2_256_128, b"hmac(sha256)", 128),
    (IntegId.HMAC_SHA2_512_256, b"hmac(sha512)", 256),
    (IntegId.HMAC_SHA1_96, b"hmac(sha1)", 96),
])
def test_integrity_truncation(backend, nl, integ, name, trunc):
    backend.add_child_sa(spec(encr_id=EncrId.AES_CBC, encr_key_in=bytes(32),
                              encr_key_out=bytes(32), integ_id=integ, integ_key_in=b"x" * 20,
                              integ_key_out=b"y" * 20))
    a = attrs_of_state(nl.of(u.XFRM_MSG_NEWSA)[0])
    got_name, _bits, got_trunc = u.XFRM_ALGO_AUTH.unpack_from(a[u.XFRMA_ALG_AUTH_TRUNC])
    assert (got_name.rstrip(b"\0"), got_trunc) == (name, trunc)


def test_chacha20_poly1305(backend, nl):
    backend.add_child_sa(spec(encr_id=EncrId.CHACHA20_POLY1305))
    a = attrs_of_state(nl.of(u.XFRM_MSG_NEWSA)[0])
    name, bits, icv = u.XFRM_ALGO_AEAD.unpack_from(a[u.XFRMA_ALG_AEAD])
    assert name.rstrip(b"\0") == b"rfc7539esp(chacha20,poly1305)" and (bits, icv) == (288, 128)


def test_unsupported_algorithm_is_a_clear_error(backend, nl):
    with pytest.raises(ValueError, match="CAMELLIA_CTR"):
        backend.add_child_sa(spec(encr_id=EncrId.CAMELLIA_CTR))
    assert nl.sent == []


def test_rekey_shares_kernel_reqid_and_policies(backend, nl):
    backend.add_child_sa(spec(reqid=1))
    n_pol = len(nl.of(u.XFRM_MSG_UPDPOLICY))
    backend.add_child_sa(spec(reqid=2, spi_in=0x3003, spi_out=0x4004))
    assert len(nl.of(u.XFRM_MSG_UPDPOLICY)) == n_pol  # policies already there
    assert backend.installed() == {1: REQID_BASE, 2: REQID_BASE}
    backend.delete_child_sa(1)
    assert nl.of(u.XFRM_MSG_DELPOLICY) == []  # still used by reqid 2
    assert len(nl.of(u.XFRM_MSG_DELSA)) == 2
    backend.delete_child_sa(2)
    assert len(nl.of(u.XFRM_MSG_DELPOLICY)) == 3
    assert backend.policy_count() == 0
    with pytest.raises(UnknownSa):
        backend.delete_child_sa(2)


def test_other_selectors_get_another_kernel_reqid(backend):
    backend.add_child_sa(spec(reqid=1))
    backend.add_child_sa(spec(reqid=2, spi_in=5000, spi_out=6000,
                              remote_ts=(net("10.3.0.0/24"),)))
    assert backend.installed() == {1: REQID_BASE, 2: REQID_BASE + 1}


def test_failed_add_rolls_back(backend, nl):
    nl.fail[u.XFRM_MSG_UPDPOLICY] = XfrmError(errno.EINVAL, "install policy")
    with pytest.raises(XfrmError):
        backend.add_child_sa(spec())
    assert nl.states == {}
    assert backend.installed() == {}


def test_counters_from_getsa(backend, nl):
    s = spec()
    backend.add_child_sa(s)
    for (daddr, spi), info in list(nl.states.items()):
        cur = u.LifetimeCur(bytes=300 if spi == 0x1001 else 400,
                            packets=3 if spi == 0x1001 else 4, add_time=1, use_time=0)
        nl.states[(daddr, spi)] = u.UserSaInfo(info.daddr, info.saddr, info.spi, info.reqid,
                                               curlft=cur)
    c = backend.counters(1)
    assert (c.bytes_in, c.packets_in, c.bytes_out, c.packets_out) == (300, 3, 400, 4)
    assert c.last_in is None


def test_expire_events_map_to_engine_reqid_once(backend, nl):
    events = []
    backend.on_event = lambda kind, reqid: events.append((kind, reqid))
    backend.add_child_sa(spec(reqid=5))
    state = nl.states[(ip("10.99.0.1"), 0x1001)]
    soft = u.XFRM_USER_EXPIRE.pack(state.pack(), 0)
    backend.handle_event(u.XFRM_MSG_EXPIRE, soft)
    backend.handle_event(u.XFRM_MSG_EXPIRE, soft)  # the outbound state expires too: once
    backend.handle_event(u.XFRM_MSG_EXPIRE, u.XFRM_USER_EXPIRE.pack(state.pack(), 1))
    assert events == [("soft", 5), ("hard", 5)]
    backend.handle_event(u.XFRM_MSG_EXPIRE, u.XFRM_USER_EXPIRE.pack(  # not ours
        u.UserSaInfo(ip("1.2.3.4"), ip("1.2.3.5"), 99, 1).pack(), 0))
    assert len(events) == 2


def test_acquire_event(backend):
    got = []
    backend.on_acquire = got.append
    backend.on_event = lambda kind, reqid: got.append((kind, reqid))
    backend.add_child_sa(spec(reqid=3))
    sel = u.XfrmSelector(daddr=ip("10.2.0.5"), saddr=ip("10.1.0.5"), prefixlen_d=32,
                         prefixlen_s=32)
    pol = u.UserPolicyInfo(sel, u.XFRM_POLICY_OUT).pack()
    body = u.XFRM_USER_ACQUIRE.pack(u.pack_id(ip("10.99.0.2"), 0), ip("10.99.0.1").packed
                                    + bytes(12), sel.pack(), pol, 0, 0, 0, 1)
    body += u.nlattr(u.XFRMA_TMPL, u.UserTmpl(REQID_BASE, 1, socket.AF_INET).pack())
    backend.handle_event(u.XFRM_MSG_ACQUIRE, body)
    info, ev = got
    assert ev == ("acquire", 3)
    assert (info.reqid, info.kernel_reqid, info.dst, info.selector.daddr) == \
        (3, REQID_BASE, ip("10.99.0.2"), ip("10.2.0.5"))


def test_purge_stale_removes_only_our_range(nl):
    ours = u.UserSaInfo(ip("10.99.0.1"), ip("10.99.0.2"), 0x77, REQID_BASE + 9)
    theirs = u.UserSaInfo(ip("10.99.0.1"), ip("10.99.0.2"), 0x78, 1)
    nl.states = {(ours.daddr, 0x77): ours, (theirs.daddr, 0x78): theirs}
    nl.dump_sa = [ours.pack(), theirs.pack()]
    sel = u.XfrmSelector(family=socket.AF_INET)
    nl.dump_pol = [u.UserPolicyInfo(sel, d).pack() + u.nlattr(
        u.XFRMA_TMPL, u.UserTmpl(r, 1, socket.AF_INET).pack())
        for d, r in ((0, REQID_BASE), (1, 42))]
    b = XfrmBackend(netlink=nl)  # type: ignore[arg-type]
    assert list(nl.states) == [(theirs.daddr, 0x78)]
    (delpol,) = nl.of(u.XFRM_MSG_DELPOLICY)
    assert u.XFRM_USERPOLICY_ID.unpack_from(delpol)[2] == 0
    assert b.stats()["purged_states"] == 1


def test_alloc_spi_avoids_kernel_and_own(nl):
    taken = u.UserSaInfo(ip("10.0.0.1"), ip("10.0.0.2"), 0, 1)
    rng = random.Random(7)
    first = random.Random(7).getrandbits(32)
    nl.dump_sa = [u.UserSaInfo(taken.daddr, taken.saddr, first, 1).pack()]
    b = XfrmBackend(netlink=nl, rng=rng, purge=False)  # type: ignore[arg-type]
    spi = b.alloc_spi()
    assert spi != first and spi >= 256
    assert b.alloc_spi() != spi


def test_update_same_addresses_uses_updsa(backend, nl):
    backend.add_child_sa(spec(encap=True))
    backend.update_child_sa(spec(encap=True, remote_port=40000))
    upd = nl.of(u.XFRM_MSG_UPDSA)
    assert len(upd) == 2
    _t, sport, _d, _oa = u.XFRM_ENCAP_TMPL.unpack(attrs_of_state(upd[0])[u.XFRMA_ENCAP])
    assert int.from_bytes(sport, "big") == 40000


def test_update_new_address_moves_states_and_policies(backend, nl):
    backend.add_child_sa(spec())
    backend.update_child_sa(spec(local_addr=ip("10.99.0.7")))
    assert (ip("10.99.0.7"), 0x1001) in nl.states and (ip("10.99.0.1"), 0x1001) not in nl.states
    assert backend.installed() == {1: REQID_BASE + 1}


def test_close_removes_everything(backend, nl):
    backend.add_child_sa(spec())
    backend.close()
    assert nl.states == {} and backend.policy_count() == 0 and nl.closed


def test_if_id_and_mark_attributes(nl):
    b = XfrmBackend(netlink=nl, if_id_in=7, if_id_out=7, mark_out=(0x42, 0xFF),  # type: ignore[arg-type]
                    purge=False)
    b.add_child_sa(spec())
    sa_in, sa_out = (attrs_of_state(x) for x in nl.of(u.XFRM_MSG_NEWSA))
    assert sa_in[u.XFRMA_IF_ID] == struct.pack("=I", 7) and u.XFRMA_MARK not in sa_in
    assert sa_out[u.XFRMA_MARK] == struct.pack("=II", 0x42, 0xFF)
    for body in nl.of(u.XFRM_MSG_UPDPOLICY):
        assert u.parse_attrs(body, u.XFRM_USERPOLICY_INFO.size)[u.XFRMA_IF_ID] == \
            struct.pack("=I", 7)


def test_port_blocks():
    assert port_blocks(0, 65535) == [(0, 0)]
    assert port_blocks(443, 443) == [(443, 0xFFFF)]
    assert port_blocks(1024, 2047) == [(1024, 0xFC00)]
    blocks = port_blocks(5, 12)
    assert blocks == [(5, 0xFFFF), (6, 0xFFFE), (8, 0xFFFC), (12, 0xFFFF)]
    covered = sorted(p for start, mask in blocks for p in range(20) if p & mask == start)
    assert covered == list(range(5, 13))


def test_selectors_split_ranges_and_skip_family_mismatch():
    a = Selector(ip("10.0.0.0"), ip("10.0.0.2"))  # 10.0.0.0/31 + 10.0.0.2/32
    b = Selector(ip("10.2.0.0"), ip("10.2.0.255"), 6, 80, 80)
    sels = selectors(a, b)
    assert [(s.saddr, s.prefixlen_s, s.proto, s.dport, s.dport_mask) for s in sels] == [
        (ip("10.0.0.0"), 31, 6, 80, 0xFFFF), (ip("10.0.0.2"), 32, 6, 80, 0xFFFF)]
    assert selectors(a, Selector(ip("fd00::"), ip("fd00::ff"))) == []


def test_error_words():
    e = XfrmError(errno.EPROTONOSUPPORT, "add inbound ESP SA 00001001 (cbc(aes))",
                  "Requested type not found")
    assert "the kernel has no ESP: load the esp4 module" in str(e)
    assert "Requested type not found" in str(e)
    e = XfrmError(errno.ENOSYS, "add ESP SA", "Requested AEAD algorithm not found",
                  hint="rfc4106(gcm(aes))")
    assert "the kernel has no rfc4106(gcm(aes))" in str(e) and "modprobe gcm" in str(e)
    assert "root" in str(XfrmError(errno.EPERM, "x"))
    assert isinstance(e, OSError) and e.errno == errno.ENOSYS
