"""The guest kernel (with ESP) accepts every state and policy shape the backend
builds: each algorithm, ESN, large replay windows, UDP encapsulation, XFRM
interface ids, lifetimes. Runs in the guest's own (throw-away) root namespace,
in this process: no daemon, so it is cheap under emulation."""

from __future__ import annotations

import ipaddress
import subprocess

import pytest

from ikepy.dataplane.base import ChildSaSpec
from ikepy.dataplane.xfrm import XfrmBackend
from ikepy.dataplane.xfrm.interface import create_xfrm_interface, delete_xfrm_interface
from ikepy.wire.enums import EncrId, IntegId

ip = ipaddress.ip_address
net = ipaddress.ip_network

CASES = [
    # (id, encr, encr key octets (incl. salt), integ, integ key octets, esn, encap)
    ("aes256gcm16", EncrId.AES_GCM_16, 36, None, 0, False, False),
    ("aes128gcm16-esn-encap", EncrId.AES_GCM_16, 20, None, 0, True, True),
    ("chacha20poly1305", EncrId.CHACHA20_POLY1305, 36, None, 0, False, False),
    ("aes128-sha256", EncrId.AES_CBC, 16, IntegId.HMAC_SHA2_256_128, 32, False, False),
    ("aes256-sha384-esn", EncrId.AES_CBC, 32, IntegId.HMAC_SHA2_384_192, 48, True, False),
    ("aes256-sha512-encap", EncrId.AES_CBC, 32, IntegId.HMAC_SHA2_512_256, 64, False, True),
    ("aes128-sha1", EncrId.AES_CBC, 16, IntegId.HMAC_SHA1_96, 20, False, False),
]


def ip_xfrm(*args: str) -> str:
    if args and args[0] == "-s":
        return subprocess.run(["ip", "-s", "xfrm", *args[1:]], capture_output=True, text=True,
                              check=True).stdout
    return subprocess.run(["ip", "xfrm", *args], capture_output=True, text=True,
                          check=True).stdout


@pytest.fixture(scope="module")
def backend():
    b = XfrmBackend()
    yield b
    b.close()
    assert ip_xfrm("state").strip() == "" and ip_xfrm("policy").strip() == ""


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_state_accepted(backend, case):
    name, encr, klen, integ, ilen, esn, encap = case
    n = CASES.index(case) + 1
    spec = ChildSaSpec(
        name=name, reqid=n, spi_in=backend.alloc_spi(), spi_out=0x10000 + n, encr_id=encr,
        encr_key_in=bytes(range(klen)), encr_key_out=bytes(klen), integ_id=integ,
        integ_key_in=bytes(ilen), integ_key_out=bytes(ilen), esn=esn, encap=encap,
        local_addr=ip("192.0.2.1"), remote_addr=ip("192.0.2.2"),
        local_ts=(net(f"10.1.{n}.0/24"),), remote_ts=(net(f"10.2.{n}.0/24"),),
        replay_window=1024, rekey_bytes=10**6, life_bytes=2 * 10**6, rekey_packets=1000,
        life_packets=2000, remote_port=31000)
    backend.add_child_sa(spec)
    out = ip_xfrm("-s", "state", "get", "src", "192.0.2.2", "dst", "192.0.2.1", "proto", "esp",
                  "spi", hex(spec.spi_in))
    assert f"reqid {backend.installed()[n]}" in out
    assert ("flag esn" in out) is esn, out
    assert ("encap type espinudp sport 31000 dport 4500" in out) is encap, out
    assert "replay-window 1024" in out or "replay_window 1024" in out, out
    assert "soft 1000000(bytes), hard 2000000(bytes)" in out, out
    c = backend.counters(n)
    assert (c.bytes_in, c.packets_in, c.bytes_out, c.packets_out) == (0, 0, 0, 0)
    pol = ip_xfrm("policy", "list", "src", f"10.1.{n}.0/24", "dst", f"10.2.{n}.0/24")
    assert "dir out" in pol and "tmpl src 192.0.2.1 dst 192.0.2.2" in pol, pol
    backend.delete_child_sa(n)
    assert hex(spec.spi_in)[2:] not in ip_xfrm("state")


def test_xfrm_interface_and_if_id():
    index = create_xfrm_interface("ipsec42", 42)
    try:
        assert index > 0
        b = XfrmBackend(if_id_in=42, if_id_out=42)
        spec = ChildSaSpec(
            name="route", reqid=1, spi_in=b.alloc_spi(), spi_out=0x4242,
            encr_id=EncrId.AES_GCM_16, encr_key_in=bytes(36), encr_key_out=bytes(36),
            integ_id=None, integ_key_in=b"", integ_key_out=b"", local_addr=ip("192.0.2.1"),
            remote_addr=ip("192.0.2.2"), local_ts=(net("0.0.0.0/0"),),
            remote_ts=(net("0.0.0.0/0"),))
        b.add_child_sa(spec)
        assert "if_id 0x2a" in ip_xfrm("state") and "if_id 0x2a" in ip_xfrm("policy")
        b.close()
        assert ip_xfrm("state").strip() == ""
    finally:
        delete_xfrm_interface("ipsec42")
