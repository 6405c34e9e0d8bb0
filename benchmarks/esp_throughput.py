#!/usr/bin/env python3
"""ESP throughput through a real tunnel: ikepy's userspace data plane next to strongSwan's.

Run as root::

    sudo python benchmarks/esp_throughput.py                  # 5 s per measurement
    sudo python benchmarks/esp_throughput.py -t 10 --json
    sudo python benchmarks/esp_throughput.py --ikepy-pair     # also ikepy <-> ikepy

In one run, on this machine, with the same cipher (IKE
aes256gcm16-prfsha256-x25519, ESP aes256gcm16, ESP in UDP 4500 since
kernel-libipsec needs it) and the same topology (the interop harness,
tests/interop/harness.py: two namespaces joined by a veth pair):

  (a) strongSwan charon (kernel-libipsec) <-> charon: the reference
  (b) ikepy (``--dataplane userspace``) <-> charon (kernel-libipsec)
  (c) with --ikepy-pair: ikepy <-> ikepy

For each: iperf3 TCP for ``-t`` seconds from the left peer's inner address to
the right one's (left sends: ikepy encrypts), the same reversed (``-R``: ikepy
decrypts), and the small-packet rate: iperf3 UDP with 64-octet payloads at
unlimited rate (``-u -l 64 -b 0``), reported as packets per second that
arrived (the sender is faster than either data plane, so this is the data
plane's packet rate, not the sender's). The left daemon's CPU time (charon's
or ikepy's) over the three runs, also per ESP packet it handled (in + out,
from its SA counters): on a shared machine, where the data planes compete with
iperf3 and each other for the cores, this is steadier than the rates. For
ikepy: its resident memory (VmRSS when idle with the tunnel up; VmHWM, the
peak, after the run). Ratios are b / a.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "interop"))

from harness import (  # noqa: E402
    Charon,
    IkepyDaemon,
    Netns,
    missing_requirements,
    pair_confs,
    wait_for,
)

IKE = "aes256gcm16-prfsha256-x25519"
ESP = "aes256gcm16"
QUIET = {"default": 0, "ike": 0, "cfg": 0, "knl": 0, "net": 0, "enc": 0}


def _iperf(topo: Netns, seconds: float, *extra: str) -> dict[str, Any]:
    res = topo.run(topo.left, "iperf3", "-c", topo.right_inner, "-B", topo.left_inner,
                   "-t", str(seconds), "-J", *extra, timeout=seconds + 60, check=False)
    try:
        data: dict[str, Any] = json.loads(res.stdout)
    except ValueError:
        raise RuntimeError(f"iperf3 {' '.join(extra)} failed: {res.stdout[-500:]} "
                           f"{res.stderr[-500:]}") from None
    if "error" in data:
        raise RuntimeError(f"iperf3 {' '.join(extra)}: {data['error']}")
    return data


def _tcp_mbps(topo: Netns, seconds: float, reverse: bool = False) -> float:
    data = _iperf(topo, seconds, *(("-R",) if reverse else ()))
    return float(data["end"]["sum_received"]["bits_per_second"]) / 1e6


def _udp_pps(topo: Netns, seconds: float, size: int = 64) -> dict[str, float]:
    data = _iperf(topo, seconds, "-u", "-l", str(size), "-b", "0")
    end = data["end"]
    recv = end.get("sum_received") or end["sum"]
    sent = end.get("sum_sent") or end["sum"]
    packets = int(recv.get("packets", 0)) - int(recv.get("lost_packets", 0))
    secs = float(recv.get("seconds") or seconds)
    sent_packets = int(sent.get("packets", 0))
    return {"pps": packets / secs, "sent_pps": sent_packets / float(sent.get("seconds") or secs),
            "lost_percent": float(recv.get("lost_percent", 0.0))}


def _proc_status(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])  # kB
    return out


def _cpu_seconds(pid: int) -> float:
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(topo: Netns, seconds: float, label: str, pid: int, packets: Callable[[], int],
             ikepy: bool) -> dict[str, Any]:
    """The three iperf3 runs; ``pid`` is the left peer's daemon (ikepy or charon), whose
    CPU time per ESP packet (in + out, from its SA counters) is reported too."""
    server = topo.popen(topo.right, "iperf3", "-s", "-B", topo.right_inner,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: ":5201" in topo.run(topo.right, "ss", "-ltnH", check=False).stdout, 10,
                 what="iperf3 server")
        ping = topo.ping(topo.left, count=3)
        if ping.returncode != 0:
            raise RuntimeError(f"{label}: no ping through the tunnel:\n{ping.stdout}")
        out: dict[str, Any] = {"setup": label}
        if ikepy:
            out["ikepy_rss_idle_kb"] = _proc_status(pid)["VmRSS"]
        cpu0, t0, p0 = _cpu_seconds(pid), time.monotonic(), packets()
        print(f"  {label}: TCP {seconds:g} s ...", file=sys.stderr, flush=True)
        out["tcp_mbps"] = _tcp_mbps(topo, seconds)
        print(f"  {label}: TCP reverse {seconds:g} s ...", file=sys.stderr, flush=True)
        out["tcp_reverse_mbps"] = _tcp_mbps(topo, seconds, reverse=True)
        print(f"  {label}: UDP 64-octet {seconds:g} s ...", file=sys.stderr, flush=True)
        udp = _udp_pps(topo, seconds)
        out["udp64_pps"] = udp["pps"]
        out["udp64_sent_pps"] = udp["sent_pps"]
        out["udp64_lost_percent"] = udp["lost_percent"]
        cpu = _cpu_seconds(pid) - cpu0
        out["left_cpu_percent"] = 100 * cpu / (time.monotonic() - t0)
        out["left_cpu_us_per_packet"] = 1e6 * cpu / max(1, packets() - p0)
        if ikepy:
            st = _proc_status(pid)
            out["ikepy_rss_after_kb"] = st["VmRSS"]
            out["ikepy_rss_peak_kb"] = st["VmHWM"]
        return out
    finally:
        server.terminate()
        server.wait(5)


def _charon_packets(c: Charon) -> int:
    return sum(int(ch.get("packets-in", 0)) + int(ch.get("packets-out", 0))
               for sa in c.list_sas() for ch in sa["children"])


def _ikepy_packets(d: IkepyDaemon) -> int:
    return sum(int(ch.get("packets_in", 0)) + int(ch.get("packets_out", 0))
               for sa in d.list_sas() for ch in sa["children"])


def _charon_pair(work: Path, seconds: float) -> dict[str, Any]:
    with Netns.create(tag=f"bench-a-{int(time.time()) % 100000}") as topo:
        lconf, rconf = pair_confs(topo, proposals=IKE, esp_proposals=ESP, encap=True)
        right = Charon(work / "a-right", "right")
        left = Charon(work / "a-left", "left")
        try:
            right.start(topo.right, rconf, log_levels=QUIET)
            right.add_route("10.1.0.0/24", topo.right_inner)
            left.start(topo.left, lconf, log_levels=QUIET)
            left.add_route("10.2.0.0/24", topo.left_inner)
            left.initiate("net", ike="net", timeout=15)
            assert left.proc is not None  # charon itself (unshare and sh exec it)
            return _measure(topo, seconds, "charon <-> charon", left.proc.pid,
                            lambda: _charon_packets(left), ikepy=False)
        finally:
            left.stop()
            right.stop()


def _ikepy_charon(work: Path, seconds: float) -> dict[str, Any]:
    with Netns.create(tag=f"bench-b-{int(time.time()) % 100000}") as topo:
        lconf, rconf = pair_confs(topo, proposals=IKE, esp_proposals=ESP, encap=True)
        right = Charon(work / "b-right", "right")
        left = IkepyDaemon(work / "b-left", "ikepy")
        try:
            right.start(topo.right, rconf, log_levels=QUIET)
            right.add_route("10.1.0.0/24", topo.right_inner)
            left.start(topo.left, lconf, dataplane="userspace")
            left.initiate("net", ike="net", timeout=15)
            assert left.proc is not None
            return _measure(topo, seconds, "ikepy <-> charon", left.proc.pid,
                            lambda: _ikepy_packets(left), ikepy=True)
        finally:
            left.stop()
            right.stop()


def _ikepy_pair(work: Path, seconds: float) -> dict[str, Any]:
    with Netns.create(tag=f"bench-c-{int(time.time()) % 100000}") as topo:
        lconf, rconf = pair_confs(topo, proposals=IKE, esp_proposals=ESP, encap=True)
        right = IkepyDaemon(work / "c-right", "ikepy-right")
        left = IkepyDaemon(work / "c-left", "ikepy-left")
        try:
            right.start(topo.right, rconf, dataplane="userspace")
            left.start(topo.left, lconf, dataplane="userspace")
            left.initiate("net", ike="net", timeout=15)
            assert left.proc is not None
            return _measure(topo, seconds, "ikepy <-> ikepy", left.proc.pid,
                            lambda: _ikepy_packets(left), ikepy=True)
        finally:
            left.stop()
            right.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("-t", type=float, default=5.0, help="seconds per iperf3 run (default 5)")
    ap.add_argument("--ikepy-pair", action="store_true", help="also measure ikepy <-> ikepy")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args(argv)
    missing = missing_requirements()
    if missing:
        ap.error("missing: " + "; ".join(missing))
    if args.t < 5:
        ap.error("-t: at least 5 seconds per run")
    work = Path(tempfile.mkdtemp(prefix="ikepy-bench-esp-"))
    a = _charon_pair(work, args.t)
    b = _ikepy_charon(work, args.t)
    runs = [a, b]
    if args.ikepy_pair:
        runs.append(_ikepy_pair(work, args.t))
    result: dict[str, Any] = {
        "ike_proposal": IKE, "esp_proposal": ESP, "seconds": args.t, "runs": runs,
        "ratio_tcp": b["tcp_mbps"] / a["tcp_mbps"],
        "ratio_tcp_reverse": b["tcp_reverse_mbps"] / a["tcp_reverse_mbps"],
        "ratio_udp64_pps": b["udp64_pps"] / a["udp64_pps"],
        "ratio_cpu_per_packet": b["left_cpu_us_per_packet"] / a["left_cpu_us_per_packet"],
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"ESP throughput, IKE {IKE}, ESP {ESP} (ESP in UDP), iperf3 {args.t:g} s per figure")
    print(f"{'setup':<18} {'TCP Mbit/s':>10} {'TCP -R':>7} {'UDP64 pps':>9} {'(sent)':>7}"
          f" {'left CPU %':>10} {'us/packet':>9} {'ikepy RSS idle/peak MB':>23}")
    for r in runs:
        rss = (f"{r['ikepy_rss_idle_kb'] / 1024:.1f}/{r['ikepy_rss_peak_kb'] / 1024:.1f}"
               if "ikepy_rss_idle_kb" in r else "-")
        print(f"{r['setup']:<18} {r['tcp_mbps']:>10.1f} {r['tcp_reverse_mbps']:>7.1f} "
              f"{r['udp64_pps']:>9.0f} {r['udp64_sent_pps']:>7.0f} {r['left_cpu_percent']:>10.0f}"
              f" {r['left_cpu_us_per_packet']:>9.1f} {rss:>23}")
    print(f"ratio ikepy/strongSwan (b/a): TCP {result['ratio_tcp']:.2f}, "
          f"TCP reverse {result['ratio_tcp_reverse']:.2f}, "
          f"UDP 64-octet packets/s {result['ratio_udp64_pps']:.2f}, "
          f"CPU time per ESP packet {result['ratio_cpu_per_packet']:.2f}")
    print("(left CPU: the left daemon, charon or ikepy, over the three runs; us/packet: its CPU "
          "time per ESP packet in or out)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
