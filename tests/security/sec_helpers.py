"""Shared pieces of the security tests: engines, a man in the middle, forged requests."""

from __future__ import annotations

import ctypes
import os
import socket
from collections.abc import Callable
from typing import Any

from ikepy.config import load_config_text
from ikepy.crypto.ke import new_key_exchange
from ikepy.crypto.proposals import parse_proposals
from ikepy.dataplane.memory import MemoryBackend
from ikepy.ikev2.manager import IkeManager
from ikepy.ikev2.options import ManagerOptions
from ikepy.ikev2.simulate import Network, swanctl_text
from ikepy.wire.enums import ExchangeType, HeaderFlags, KeId, NotifyType, ProtocolId
from ikepy.wire.header import IkeHeader
from ikepy.wire.message import Message, serialize_message
from ikepy.wire.payloads import KePayload, NoncePayload, NotifyPayload, SaPayload

Addr = tuple[str, int]
LEFT, RIGHT, MALLORY = "10.99.0.1", "10.99.0.2", "10.99.0.66"


def engine(me: str, peer: str, my_id: str, peer_id: str, *, options: ManagerOptions | None = None,
           name: str = "", local_ts: str | None = None, remote_ts: str | None = None,
           backend: Any = None, **kw: Any) -> IkeManager:
    """One engine; ``kw`` are keyword arguments of ``simulate.swanctl_text``."""
    lts = local_ts or ("10.1.0.0/24" if my_id == "left" else "10.2.0.0/24")
    rts = remote_ts or ("10.2.0.0/24" if my_id == "left" else "10.1.0.0/24")
    cfg = load_config_text(swanctl_text(me, peer, my_id, peer_id, lts, rts, **kw),
                           f"<{name or my_id}>").config
    return IkeManager(cfg, backend or MemoryBackend(), options=options, name=name or my_id)


def is_up(mgr: IkeManager, children: int = 1) -> bool:
    sas = [s for s in mgr.list_sas() if s["state"] == "ESTABLISHED"]
    return bool(sas) and len(sas[0]["children"]) >= children


Rewrite = Callable[[bytes, Addr, Addr], list[tuple[bytes, Addr, Addr]]]


class MitmNetwork(Network):
    """A Network whose every datagram passes through an active attacker first.

    ``rewrite(data, src, dst)`` returns what really goes on the wire: the
    datagram unchanged, rewritten, dropped (``[]``) or accompanied by forged
    datagrams (with any source address: the attacker sits on the path).
    """

    def __init__(self, rewrite: Rewrite, **kw: Any) -> None:
        super().__init__(**kw)
        self.rewrite = rewrite

    def _flush(self) -> None:
        for mgr in self.peers.values():
            for data, src, dst in mgr.datagrams_to_send():
                for out, s, d in self.rewrite(data, src, dst):
                    self.link.push(self.now, out, s, d)


def plain_response(spi_i: bytes, *payloads: Any) -> bytes:
    """An IKE_SA_INIT response as a responder (or an attacker posing as one) sends it."""
    h = IkeHeader(spi_i=spi_i, spi_r=bytes(8), next_payload=0,
                  exchange_type=ExchangeType.IKE_SA_INIT, flags=HeaderFlags.RESPONSE,
                  message_id=0, length=0)
    return serialize_message(Message(h, tuple(payloads)))


_KE_CACHE: dict[int, bytes] = {}


def init_request(spi_i: bytes, nonce: bytes, proposals: str = "aes256gcm16-prfsha256-x25519",
                 group: int = KeId.CURVE25519, cookie: bytes | None = None,
                 ke_value: bytes | None = None) -> bytes:
    """A forged IKE_SA_INIT request, as a flooder sends it (one public value reused)."""
    if ke_value is None:
        if group not in _KE_CACHE:
            _KE_CACHE[group] = new_key_exchange(group).public_value
        ke_value = _KE_CACHE[group]
    specs = parse_proposals(proposals, ProtocolId.IKE)
    out: list[Any] = []
    if cookie is not None:
        out.append(NotifyPayload(0, b"", NotifyType.COOKIE, cookie))
    out += [SaPayload(tuple(p.to_wire(n, b"") for n, p in enumerate(specs, 1))),
            KePayload(group, ke_value), NoncePayload(nonce)]
    h = IkeHeader(spi_i=spi_i, spi_r=bytes(8), next_payload=0,
                  exchange_type=ExchangeType.IKE_SA_INIT, flags=HeaderFlags.INITIATOR,
                  message_id=0, length=0)
    return serialize_message(Message(h, tuple(out)))


# ----------------------------------------------------------------- namespaces
_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def socket_in_netns(ns: str, family: int = socket.AF_INET,
                    kind: int = socket.SOCK_DGRAM) -> socket.socket:
    """A socket created inside network namespace ``ns`` (it stays there for its life)."""
    with open(f"/var/run/netns/{ns}") as target, open("/proc/self/ns/net") as home:
        if _libc.setns(target.fileno(), _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns({ns}) failed")
        try:
            return socket.socket(family, kind)
        finally:
            if _libc.setns(home.fileno(), _CLONE_NEWNET) != 0:  # pragma: no cover
                raise OSError(ctypes.get_errno(), "setns back failed")


def vm_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def rng_bytes(n: int) -> bytes:
    return os.urandom(n)


def seal_raw(sa: Any, exchange: int, response: bool, mid: int, first: int, octets: bytes) -> bytes:
    """An SK-protected message with arbitrary inner octets, under ``sa``'s outbound keys."""
    import struct

    from ikepy.wire.enums import PayloadType
    from ikepy.wire.header import HEADER_SIZE

    flags = (HeaderFlags.INITIATOR if sa.initiator else 0) | (HeaderFlags.RESPONSE if response else 0)
    header = IkeHeader(sa.spi_i, sa.spi_r, 0, exchange, flags, mid, 0)
    cipher = sa.cipher_out
    sk_len = 4 + cipher.body_length(len(octets))
    aad = header.with_length(PayloadType.SK, HEADER_SIZE + sk_len).serialize() + struct.pack(
        "!BBH", first, 0, sk_len)
    return aad + cipher.seal(octets, aad)
