"""Seeds and mutations shared by the fuzz tests: real messages of a real handshake."""

from __future__ import annotations

import os
import struct
from functools import lru_cache

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from ikepy.crypto.sk import unprotect_message
from ikepy.ikev2.simulate import Link, pair
from ikepy.wire.enums import PayloadType
from ikepy.wire.header import HEADER_SIZE
from ikepy.wire.message import parse_message, serialize_payloads

EXAMPLES = int(os.environ.get("IKEPY_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


def established_pair(capture: list | None = None, **both):
    link = Link()
    if capture is not None:
        link.taps.append(lambda d, s, t: capture.append((d, s, t)))
    net, left, right = pair(link, both=both or None)
    left.initiate("net", None, net.now)
    net.run(until=lambda: any(sa["state"] == "ESTABLISHED" and sa["children"]
                              for sa in right.list_sas()) and not left.busy())
    return net, left, right


@lru_cache(maxsize=1)
def corpus() -> tuple[tuple[bytes, ...], tuple[tuple[int, bytes], ...]]:
    """(whole datagrams, decrypted inner chains as (first payload type, octets))."""
    captured: list = []
    net, left, right = established_pair(captured)
    from ikepy.ikev2.tasks.informational import Liveness
    (lsa,) = left.sas.values()
    lsa.queue_task(Liveness(), net.now)
    left.initiate("net", None, net.now)  # a CREATE_CHILD_SA
    net.run(until=lambda: not left.busy(), max_time=30)
    datagrams = [d for d, _, _ in captured]
    inner: list[tuple[int, bytes]] = []
    (rsa,) = right.sas.values()
    for d, src, _ in captured:
        msg = parse_message(d)
        if not msg.payloads or msg.payloads[-1].PAYLOAD_TYPE != PayloadType.SK:
            inner.append(serialize_payloads(msg.payloads))
            continue
        cipher = rsa.cipher_in if src[0] == "10.99.0.1" else lsa.cipher_in
        try:
            inner.append(serialize_payloads(unprotect_message(d, msg, cipher)))
        except Exception:  # noqa: BLE001 - a message of an SA that no longer exists
            continue
    return tuple(datagrams), tuple(inner)


_U16 = struct.Struct("!H")


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """Bit flips, byte overwrites, insertions, deletions, length-field lies, truncation."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "byte", "insert", "delete", "u16", "truncate",
                                   "extend"]))
        n = len(data)
        if op == "flip" and n:
            i = draw(st.integers(0, n - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte" and n:
            data[draw(st.integers(0, n - 1))] = draw(st.integers(0, 255))
        elif op == "insert":
            i = draw(st.integers(0, n))
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete" and n:
            i = draw(st.integers(0, n - 1))
            del data[i:i + draw(st.integers(1, 16))]
        elif op == "u16" and n >= 2:
            i = draw(st.integers(0, n - 2))
            data[i:i + 2] = _U16.pack(draw(st.sampled_from([0, 1, 3, 4, 5, 8, 0xFFFF,
                                                            n, n - i, n + 1, 28])))
        elif op == "truncate" and n:
            del data[draw(st.integers(0, n - 1)):]
        elif op == "extend":
            data += draw(st.binary(min_size=1, max_size=64))
    return bytes(data)


def header_of(data: bytes) -> bytes:
    return data[:HEADER_SIZE]
