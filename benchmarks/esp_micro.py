# ruff: noqa: B023  (the lambdas are called before the loop variables change)
"""ESP encap/decap micro benchmark for the userspace data plane.

    python benchmarks/esp_micro.py [--seconds 1.0]

Measures EspOutbound.seal and EspInbound.open alone (the crypto + framing),
and the full UserspaceBackend path (SPD lookup, counters, selector check)
without sockets or TUN, for 64- and 1400-octet inner packets.
"""

from __future__ import annotations

import argparse
import ipaddress
import itertools
import os
import struct
import time

from ikepy.dataplane.base import ChildSaSpec
from ikepy.dataplane.userspace.backend import UserspaceBackend
from ikepy.dataplane.userspace.esp import (
    ENCR_AES_CBC,
    ENCR_AES_GCM_16,
    ENCR_CHACHA20_POLY1305,
    INTEG_HMAC_SHA2_256_128,
    make_inbound,
    make_outbound,
)

SUITES = [
    ("AES-GCM-256", ENCR_AES_GCM_16, 36, None, 0),
    ("ChaCha20-Poly1305", ENCR_CHACHA20_POLY1305, 36, None, 0),
    ("AES-CBC-256+HMAC-SHA2-256", ENCR_AES_CBC, 32, INTEG_HMAC_SHA2_256_128, 32),
]


def ip_packet(size: int) -> bytes:
    """An IPv4/UDP packet of ``size`` octets from 10.1.0.1 to 10.2.0.1."""
    hdr = struct.pack(
        "!BBHHHBBH4s4sHHHH", 0x45, 0, size, 0, 0, 64, 17, 0,
        bytes([10, 1, 0, 1]), bytes([10, 2, 0, 1]), 1234, 5678, size - 20, 0,
    )  # fmt: skip
    return hdr + bytes(size - len(hdr))


def rate(fn, arg, seconds: float) -> float:
    n = 0
    t0 = time.perf_counter()
    end = t0 + seconds
    while True:
        for _ in range(1000):
            fn(arg)
        n += 1000
        t = time.perf_counter()
        if t >= end:
            return n / (t - t0)


def bench_esp(seconds: float) -> None:
    print(f"{'suite':28} {'size':>5} {'encap pps':>11} {'MB/s':>8} {'decap pps':>11} {'MB/s':>8}")
    for name, encr, klen, integ, ilen in SUITES:
        key, ikey = os.urandom(klen), os.urandom(ilen)
        for size in (64, 1400):
            pkt = ip_packet(size)
            out = make_outbound(0x1000, encr, key, integ, ikey, False)
            enc = rate(lambda p: out.seal(p, 4), pkt, seconds)
            # decap: a pool of sealed packets replayed, anti-replay window 0 (check still runs)
            inn = make_inbound(0x1000, encr, key, integ, ikey, False, 0)
            pool = [out.seal(pkt, 4) or b"" for _ in range(1000)]
            it = itertools.cycle(pool)
            dec = rate(lambda _: inn.open(next(it)), None, seconds)
            print(
                f"{name:28} {size:5} {enc:11,.0f} {enc * size / 1e6:8.1f} {dec:11,.0f} {dec * size / 1e6:8.1f}"
            )


def bench_backend(seconds: float) -> None:
    print("\nfull backend path (SPD + ESP + counters + selector check, no I/O)")
    print(f"{'suite':28} {'size':>5} {'out pps':>11} {'MB/s':>8} {'in pps':>11} {'MB/s':>8}")
    for name, encr, klen, integ, ilen in SUITES:
        key, ikey = os.urandom(klen), os.urandom(ilen)
        for size in (64, 1400):
            sent: list[bytes] = []
            a = UserspaceBackend(lambda d, s, r: None, keepalive_interval=0, install_routes=False)
            b = UserspaceBackend(lambda d, s, r: sent.append(d), keepalive_interval=0,
                                 install_routes=False, deliver=lambda p: None)  # fmt: skip
            common = dict(encr_id=encr, integ_id=integ, encap=True, name="bench", reqid=1,
                          replay_window=0)  # fmt: skip
            a.add_child_sa(ChildSaSpec(
                spi_in=0x2000, spi_out=0x1000, encr_key_in=key, encr_key_out=key,
                integ_key_in=ikey, integ_key_out=ikey,
                local_addr=ipaddress.ip_address("192.0.2.1"), remote_addr=ipaddress.ip_address("192.0.2.2"),
                local_ts=(ipaddress.ip_network("10.1.0.0/24"),), remote_ts=(ipaddress.ip_network("10.2.0.0/24"),),
                **common))  # type: ignore[arg-type]  # fmt: skip
            b.add_child_sa(ChildSaSpec(
                spi_in=0x1000, spi_out=0x2000, encr_key_in=key, encr_key_out=key,
                integ_key_in=ikey, integ_key_out=ikey,
                local_addr=ipaddress.ip_address("192.0.2.2"), remote_addr=ipaddress.ip_address("192.0.2.1"),
                local_ts=(ipaddress.ip_network("10.2.0.0/24"),), remote_ts=(ipaddress.ip_network("10.1.0.0/24"),),
                **common))  # type: ignore[arg-type]  # fmt: skip
            pkt = ip_packet(size)
            outr = rate(a.send_packet, pkt, seconds)
            a2 = UserspaceBackend(lambda d, s, r: sent.append(d), keepalive_interval=0,
                                  install_routes=False)  # fmt: skip
            a2.add_child_sa(a._sas[1].spec)
            sent.clear()
            for _ in range(1000):
                a2.send_packet(pkt)
            it = itertools.cycle(sent)
            inr = rate(lambda _: b.receive_esp(next(it)), None, seconds)
            assert not any(b.stats().values()) and b.counters(1).packets_in > 0, b.stats()
            print(
                f"{name:28} {size:5} {outr:11,.0f} {outr * size / 1e6:8.1f} {inr:11,.0f} {inr * size / 1e6:8.1f}"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=1.0)
    args = ap.parse_args()
    bench_esp(args.seconds)
    bench_backend(args.seconds)


if __name__ == "__main__":
    main()
