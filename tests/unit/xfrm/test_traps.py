"""XfrmBackend trap policies against the fake NETLINK_XFRM socket: the ``out``
policy without a state, ACQUIRE -> on_event("acquire", trap_id), the CHILD_SA
sharing the trap's kernel reqid, and what uninstall leaves behind."""

from __future__ import annotations

import ipaddress
import random
import socket
import struct

import pytest

from ikepy.dataplane.base import TrapSpec
from ikepy.dataplane.xfrm import uapi as u
from ikepy.dataplane.xfrm.backend import REQID_BASE, XfrmBackend

from .test_backend import FakeNl, spec

ip = ipaddress.ip_address
net = ipaddress.ip_network


def trap(trap_id=100, **kw):
    base = dict(trap_id=trap_id, name="net", local_addr=ip("10.99.0.1"),
                remote_addr=ip("10.99.0.2"), local_ts=(net("10.1.0.0/24"),),
                remote_ts=(net("10.2.0.0/24"),))
    base.update(kw)
    return TrapSpec(**base)


@pytest.fixture
def nl():
    return FakeNl()


@pytest.fixture
def backend(nl):
    return XfrmBackend(netlink=nl, rng=random.Random(1), purge=False)


def policies(nl, msg=u.XFRM_MSG_UPDPOLICY):
    out = []
    for body in nl.of(msg):
        pol = u.UserPolicyInfo.unpack(body)
        attrs = u.parse_attrs(body, u.XFRM_USERPOLICY_INFO.size)
        out.append((pol, u.UserTmpl.unpack(attrs[u.XFRMA_TMPL]), attrs))
    return out


def acquire_body(kreqid, src="10.1.0.1", dst="10.2.0.1"):
    sel = u.XfrmSelector(daddr=ip(dst), saddr=ip(src), prefixlen_d=32, prefixlen_s=32,
                         family=socket.AF_INET)
    pol = u.UserPolicyInfo(sel, u.XFRM_POLICY_OUT).pack()
    body = u.XFRM_USER_ACQUIRE.pack(u.pack_id(ip("10.99.0.2"), 0), ip("10.99.0.1").packed
                                    + bytes(12), sel.pack(), pol, 0, 0, 0, 1)
    return body + u.nlattr(u.XFRMA_TMPL, u.UserTmpl(kreqid, 1, socket.AF_INET).pack())


def test_trap_is_one_out_policy_with_a_tunnel_template_and_no_state(backend, nl):
    backend.install_trap(trap())
    assert nl.of(u.XFRM_MSG_NEWSA) == []
    ((pol, tmpl, attrs),) = policies(nl)
    assert pol.dir == u.XFRM_POLICY_OUT and pol.action == u.XFRM_POLICY_ALLOW
    assert (pol.sel.saddr, pol.sel.prefixlen_s, pol.sel.daddr, pol.sel.prefixlen_d) == \
        (ip("10.1.0.0"), 24, ip("10.2.0.0"), 24)
    assert tmpl.mode == u.XFRM_MODE_TUNNEL and tmpl.proto == u.IPPROTO_ESP
    assert (tmpl.saddr, tmpl.daddr) == (ip("10.99.0.1"), ip("10.99.0.2"))
    assert backend.owns(tmpl.reqid) and tmpl.reqid == REQID_BASE
    assert u.XFRMA_IF_ID not in attrs
    assert backend.traps() == {100: tmpl.reqid}


def test_acquire_maps_back_to_the_trap_id(backend):
    got = []
    backend.on_event = lambda kind, reqid: got.append((kind, reqid))
    backend.on_acquire = got.append
    backend.install_trap(trap())
    (kreqid,) = backend.traps().values()
    backend.handle_event(u.XFRM_MSG_ACQUIRE, acquire_body(kreqid))
    info, ev = got
    assert ev == ("acquire", 100)
    assert (info.reqid, info.kernel_reqid, info.selector.daddr) == (100, kreqid, ip("10.2.0.1"))
    got.clear()
    backend.handle_event(u.XFRM_MSG_ACQUIRE, acquire_body(kreqid + 7))  # not a trap of ours
    assert got[-1] == ("acquire", 0)


def test_child_sa_shares_the_trap_kernel_reqid_and_its_out_policy(backend, nl):
    backend.install_trap(trap())
    (kreqid,) = backend.traps().values()
    backend.add_child_sa(spec(reqid=101))
    assert backend.installed() == {101: kreqid}
    assert {u.UserSaInfo.unpack(b).reqid for b in nl.of(u.XFRM_MSG_NEWSA)} == {kreqid}
    # the out policy is the trap's (same template): not sent again; in and fwd are new
    dirs = [p.dir for p, _t, _a in policies(nl)]
    assert dirs == [u.XFRM_POLICY_OUT, u.XFRM_POLICY_IN, u.XFRM_POLICY_FWD]
    # CHILD_SA gone (close_action = trap): the trap's out policy stays
    backend.delete_child_sa(101)
    dels = [u.XFRM_USERPOLICY_ID.unpack_from(b)[2] for b in nl.of(u.XFRM_MSG_DELPOLICY)]
    assert sorted(dels) == sorted([u.XFRM_POLICY_IN, u.XFRM_POLICY_FWD])
    assert backend.policy_count() == 1 and backend.traps() == {100: kreqid}
    # the next CHILD_SA for the trap gets the same kernel reqid again
    backend.add_child_sa(spec(reqid=102, spi_in=0x3003, spi_out=0x4004))
    assert backend.installed() == {102: kreqid}


def test_uninstall_keeps_policies_a_child_sa_uses(backend, nl):
    backend.install_trap(trap())
    backend.add_child_sa(spec(reqid=101))
    backend.uninstall_trap(100)
    assert nl.of(u.XFRM_MSG_DELPOLICY) == [] and backend.policy_count() == 3
    backend.delete_child_sa(101)
    assert len(nl.of(u.XFRM_MSG_DELPOLICY)) == 3 and backend.policy_count() == 0
    assert backend._sets == {}


def test_uninstall_alone_deletes_the_policy(backend, nl):
    backend.install_trap(trap())
    backend.uninstall_trap(100)
    (body,) = nl.of(u.XFRM_MSG_DELPOLICY)
    assert u.XFRM_USERPOLICY_ID.unpack_from(body)[2] == u.XFRM_POLICY_OUT
    assert backend.policy_count() == 0 and backend.traps() == {}
    with pytest.raises(KeyError):
        backend.uninstall_trap(100)


def test_trap_after_child_sa_does_not_replace_its_template(backend, nl):
    backend.add_child_sa(spec(reqid=5, local_addr=ip("10.99.0.9")))  # another template
    n = len(nl.of(u.XFRM_MSG_UPDPOLICY))
    backend.install_trap(trap())
    assert len(nl.of(u.XFRM_MSG_UPDPOLICY)) == n  # the CHILD_SA's template stays
    # the CHILD_SA leaves: the trap's template is put back on the out policy
    backend.delete_child_sa(5)
    pol, tmpl, _a = policies(nl)[-1]
    assert pol.dir == u.XFRM_POLICY_OUT and tmpl.saddr == ip("10.99.0.1")
    assert tmpl.reqid == backend.traps()[100]


def test_child_sa_with_another_template_replaces_the_trap_policy(backend, nl):
    backend.install_trap(trap())
    backend.add_child_sa(spec(reqid=7, remote_addr=ip("10.99.0.3")))  # e.g. other peer addr
    out = [(p, t) for p, t, _a in policies(nl) if p.dir == u.XFRM_POLICY_OUT]
    assert [t.daddr for _p, t in out] == [ip("10.99.0.2"), ip("10.99.0.3")]
    backend.delete_child_sa(7)
    pol, tmpl, _a = policies(nl)[-1]
    assert pol.dir == u.XFRM_POLICY_OUT and tmpl.daddr == ip("10.99.0.2")


def test_if_ids_from_the_specs(backend, nl):
    backend.install_trap(trap(if_id_in=9, if_id_out=9))
    backend.add_child_sa(spec(reqid=101, if_id_in=9, if_id_out=9))
    for body in nl.of(u.XFRM_MSG_NEWSA):
        assert u.parse_attrs(body, u.XFRM_USERSA_INFO.size)[u.XFRMA_IF_ID] == \
            struct.pack("=I", 9)
    pols = policies(nl)
    assert len(pols) == 3  # the out policy (same if_id) shared with the trap
    for _p, _t, attrs in pols:
        assert attrs[u.XFRMA_IF_ID] == struct.pack("=I", 9)


def test_close_removes_traps(backend, nl):
    backend.install_trap(trap())
    backend.install_trap(trap(101, remote_ts=(net("10.3.0.0/24"),)))
    assert len(set(backend.traps().values())) == 2
    backend.close()
    assert len(nl.of(u.XFRM_MSG_DELPOLICY)) == 2 and backend.traps() == {} and nl.closed
