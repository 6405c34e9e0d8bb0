"""The data plane contract, one set of checks for every backend (docs/contracts.md).

The same engine drives the backend under test through a whole tunnel life:
a handshake, a second CHILD_SA, a CHILD_SA rekey, a data plane soft expire
that makes the engine rekey, and the IKE SA's delete; the peer engine uses
the in-memory backend. Used by tests/unit/dataplane/test_backend_contract.py
(memory, userspace without a TUN, XFRM against a recording fake kernel) and
tests/kernelvm/guest/test_backend_contract_kernel.py (XFRM, the real kernel).
"""

from __future__ import annotations

from typing import Any

from ikepy.config import load_config_text
from ikepy.dataplane.base import SaCounters
from ikepy.dataplane.memory import MemoryBackend
from ikepy.ikev2.manager import IkeManager
from ikepy.ikev2.simulate import LEFT, RIGHT, Network, swanctl_text

WEB_L = "web { local_ts = 10.1.1.0/24\n remote_ts = 10.2.1.0/24\n esp_proposals = aes128-sha256 }"
WEB_R = "web { local_ts = 10.2.1.0/24\n remote_ts = 10.1.1.0/24\n esp_proposals = aes128-sha256 }"


def _reqids(m: IkeManager) -> dict[str, int]:
    return {c["name"]: c["reqid"] for sa in m.list_sas() for c in sa["children"]}


def _settle(net: Network, left: IkeManager, right: IkeManager, children: int) -> None:
    def done() -> bool:
        return (len(_reqids(left)) == children and len(_reqids(right)) == children
                and not left.busy() and not right.busy())

    net.run(until=done, max_time=120)
    assert done(), (left.list_sas(), right.list_sas())


def run_contract(backend: Any) -> None:
    # SPIs: fresh, never below 256 (RFC 4303 2.1), and given back
    spis = [backend.alloc_spi() for _ in range(50)]
    assert len(set(spis)) == 50 and min(spis) >= 256
    for spi in spis:
        backend.release_spi(spi)

    lcfg = load_config_text(swanctl_text(LEFT, RIGHT, "left", "right", "10.1.0.0/24",
                                         "10.2.0.0/24", esp="aes256gcm16-x25519",
                                         extra_child=WEB_L)).config
    rcfg = load_config_text(swanctl_text(RIGHT, LEFT, "right", "left", "10.2.0.0/24",
                                         "10.1.0.0/24", esp="aes256gcm16-x25519",
                                         extra_child=WEB_R)).config
    net = Network()
    left = IkeManager(lcfg, backend, name="under-test")
    right = IkeManager(rcfg, MemoryBackend(), name="peer")
    net.attach(LEFT, left)
    net.attach(RIGHT, right)

    # the engine's CHILD_SAs appear in the data plane, with counters and stats
    left.initiate("net", None, net.now)
    _settle(net, left, right, 1)
    left.initiate("web", None, net.now)
    _settle(net, left, right, 2)
    ids = _reqids(left)
    for reqid in ids.values():
        c = backend.counters(reqid)
        assert isinstance(c, SaCounters) and c.bytes_in >= 0 and c.packets_out >= 0
    stats = backend.stats()
    assert isinstance(stats, dict) and all(isinstance(v, int) for v in stats.values())

    # a CHILD_SA rekey: the new one installed, then the old one gone
    (sa,) = left.sas.values()
    next(c for c in sa.children if c.name == "net").rekey_at = net.now
    net.run(until=lambda: _reqids(left).get("net") not in (None, ids["net"]) and not left.busy(),
            max_time=60)
    _settle(net, left, right, 2)
    assert _reqids(left)["net"] != ids["net"]
    _gone(backend, ids["net"])

    # the data plane's soft expire makes the engine rekey (here raised by hand)
    left.dataplane_event("soft", ids["web"], net.now)
    net.run(until=lambda: _reqids(left).get("web") not in (None, ids["web"]) and not left.busy(),
            max_time=60)
    _settle(net, left, right, 2)
    _gone(backend, ids["web"])

    # the IKE SA's delete takes every CHILD_SA out of the data plane
    last = _reqids(left)
    left.terminate_ike("net", net.now)
    net.run(until=lambda: not left.list_sas() and not right.list_sas(), max_time=60)
    for reqid in last.values():
        _gone(backend, reqid)
    backend.close()


def _gone(backend: Any, reqid: int) -> None:
    try:
        backend.counters(reqid)
    except KeyError:
        return
    raise AssertionError(f"reqid {reqid} still installed")
