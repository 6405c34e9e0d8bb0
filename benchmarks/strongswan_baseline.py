#!/usr/bin/env python3
"""strongSwan-to-strongSwan handshake rate: the reference for ikepy's handshake benchmark.

Run as root::

    sudo python benchmarks/strongswan_baseline.py -n 50
    sudo python benchmarks/strongswan_baseline.py -n 50 --proposal aes128-sha256-ecp256 --json

Two charons (left initiator, right responder) in network namespaces (the
interop harness, tests/interop/harness.py), PSK, ``encap = yes``; N sequential
``swanctl --initiate`` + ``--terminate`` pairs. Reported: setups/s counting
only the initiate wall time (which includes the swanctl process start, as in
the testbed's figure of ~36 ms), and the full up+down cycle rate. charon's DoS
throttles are lifted (NO_DOS_LIMITS), so the figure is the handshake itself.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "interop"))

from harness import NO_DOS_LIMITS, Charon, Netns, missing_requirements, pair_confs  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=30, help="number of handshakes (default 30)")
    ap.add_argument("--proposal", default="aes256gcm16-prfsha256-x25519")
    ap.add_argument("--esp", default="aes256gcm16-x25519")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    missing = missing_requirements()
    if missing:
        ap.error("missing: " + "; ".join(missing))

    work = Path(tempfile.mkdtemp(prefix="ikepy-bench-sw-"))
    topo = Netns.create()
    charons = []
    try:
        lconf, rconf = pair_confs(topo, proposals=args.proposal, esp_proposals=args.esp)
        quiet = {"default": 0, "ike": 0, "cfg": 0, "knl": 0, "net": 0, "enc": 0}
        right = Charon(work / "right", "right")
        charons.append(right)
        right.start(topo.right, rconf, charon_opts=NO_DOS_LIMITS, log_levels=quiet)
        left = Charon(work / "left", "left")
        charons.append(left)
        left.start(topo.left, lconf, charon_opts=NO_DOS_LIMITS, log_levels=quiet)

        left.initiate("net", ike="net")  # warm-up
        left.terminate(ike="net")
        up_times = []
        t0 = time.perf_counter()
        for _ in range(args.n):
            t = time.perf_counter()
            left.initiate("net", ike="net")
            up_times.append(time.perf_counter() - t)
            left.terminate(ike="net")
        total = time.perf_counter() - t0
        result = {
            "peer": "strongSwan charon (kernel-libipsec) <-> charon",
            "proposal": args.proposal,
            "esp_proposal": args.esp,
            "n": args.n,
            "setups_per_s": args.n / sum(up_times),
            "cycles_per_s": args.n / total,
            "initiate_ms_median": statistics.median(up_times) * 1000,
            "initiate_ms_p90": sorted(up_times)[int(0.9 * (len(up_times) - 1))] * 1000,
        }
        if args.json:
            print(json.dumps(result))
        else:
            print(f"strongSwan baseline, {args.proposal} / {args.esp}, {args.n} sequential handshakes")
            print(f"  setups/s (swanctl --initiate wall time): {result['setups_per_s']:.1f}")
            print(f"  up+down cycles/s:                         {result['cycles_per_s']:.1f}")
            print(f"  initiate median {result['initiate_ms_median']:.1f} ms, "
                  f"p90 {result['initiate_ms_p90']:.1f} ms")
        return 0
    finally:
        for c in charons:
            c.stop()
        topo.close()


if __name__ == "__main__":
    sys.exit(main())
