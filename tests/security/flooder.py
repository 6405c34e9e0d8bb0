"""IKE_SA_INIT flooder for tests/security/test_flood_netns.py (run inside a namespace).

    python flooder.py --target 10.99.0.2 --sources 10.99.0.10-10.99.0.209 \
                      --rate 5000 --seconds 10 --max 100000

Each source address has its own socket and a prebuilt request; every datagram
gets fresh SPIi and nonce octets (so none is a retransmission the responder
could answer from its cache). Prints one JSON line: sent, seconds, rate.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--port", type=int, default=500)
    ap.add_argument("--sources", required=True, help="FIRST-LAST")
    ap.add_argument("--rate", type=float, default=5000)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--max", type=int, default=100000)
    a = ap.parse_args()
    from sec_helpers import init_request  # noqa: PLC0415 - after sys.path

    first, last = (ipaddress.ip_address(x) for x in a.sources.split("-"))
    socks = []
    for i in range(int(last) - int(first) + 1):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        s.bind((str(first + i), 0))
        s.setblocking(False)
        socks.append(s)
    marker = b"\xab" * 32
    template = bytearray(init_request(os.urandom(8), marker))
    nonce_at = template.find(marker)
    sent, errors = 0, 0
    start = time.monotonic()
    end = start + a.seconds
    dst = (a.target, a.port)
    batch = max(1, int(a.rate / 100))
    while sent < a.max:
        now = time.monotonic()
        if now >= end:
            break
        due = int((now - start) * a.rate)
        if sent >= due:
            time.sleep(0.005)
            continue
        for _ in range(min(batch, due - sent, a.max - sent)):
            rnd = os.urandom(16)
            template[0:8] = rnd[:8]
            template[nonce_at:nonce_at + 8] = rnd[8:]
            try:
                socks[sent % len(socks)].sendto(template, dst)
            except (BlockingIOError, OSError):
                errors += 1
            sent += 1
    seconds = time.monotonic() - start
    print(json.dumps({"sent": sent, "errors": errors, "seconds": round(seconds, 2),
                      "rate": round(sent / seconds), "sources": len(socks)}))


if __name__ == "__main__":
    main()
