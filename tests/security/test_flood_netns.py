"""Threat 5 for real: an IKE_SA_INIT flood against the ikepy daemon in namespaces.

    left namespace                                   right namespace
    charon 10.99.0.1 (initiator)   --- veth --->    ikepy daemon 10.99.0.2
    flooder 10.99.0.10-209                          (--dataplane none --cookie-threshold 10)

The flooder sends thousands of IKE_SA_INIT per second from 200 addresses for a
bounded time; meanwhile charon brings up its tunnel. The figures printed
(requests/s, cookies sent, half-open, RSS, charon's time) go in SECURITY.md.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from harness import swanctl_conf, wait_for
from sec_helpers import vm_rss_kib

HERE = Path(__file__).resolve().parent
SOURCES = ("10.99.0.10", 200)
RATE, SECONDS, MAX = 5000, 10, 60000


def stats(d) -> dict:
    return json.loads(d.cli("stats", "--json", check=True).stdout)


def test_flood_with_charon_connecting(sec_netns, sec_charon, sec_ikepy):
    topo = sec_netns
    first = SOURCES[0].rsplit(".", 1)
    for i in range(SOURCES[1]):
        topo.run("left", "ip", "addr", "add", f"{first[0]}.{int(first[1]) + i}/24", "dev",
                 topo.left_if)
    right_conf = swanctl_conf(local_addr=topo.right_addr, remote_addr="%any", local_id="right",
                              remote_id="left", local_ts="10.2.0.0/24", remote_ts="10.1.0.0/24")
    left_conf = swanctl_conf(local_addr=topo.left_addr, remote_addr=topo.right_addr,
                             local_id="left", remote_id="right", local_ts="10.1.0.0/24",
                             remote_ts="10.2.0.0/24")
    ikepy = sec_ikepy(topo.right, right_conf, extra_args=["--cookie-threshold", "10"])
    charon = sec_charon(topo.left, left_conf)
    pid = ikepy.proc.pid
    rss_before = vm_rss_kib(pid)
    last = f"{first[0]}.{int(first[1]) + SOURCES[1] - 1}"
    flooder = topo.popen("left", sys.executable, str(HERE / "flooder.py"), "--target",
                         topo.right_addr, "--sources", f"{SOURCES[0]}-{last}", "--rate", RATE,
                         "--seconds", SECONDS, "--max", MAX, stdout=-1, text=True)
    time.sleep(2.0)  # the flood is on
    mid_stats = stats(ikepy)
    t0 = time.monotonic()
    res = charon.initiate("net", timeout=30)
    tunnel_s = time.monotonic() - t0
    rss_peak = vm_rss_kib(pid)
    out, _ = flooder.communicate(timeout=SECONDS + 30)
    flood = json.loads(out.strip().splitlines()[-1])
    wait_for(lambda: stats(ikepy).get("ike_received", 0) > 0, 5)
    time.sleep(1.0)
    end_stats = stats(ikepy)
    rss_after = vm_rss_kib(pid)
    assert res.returncode == 0, res.stdout + res.stderr
    sas = ikepy.list_sas()
    assert any(sa["state"] == "ESTABLISHED" and sa["remote_addr"] == topo.left_addr
               and sa["children"] for sa in sas), sas
    figures = {
        "flood_sent": flood["sent"], "flood_rate_per_s": flood["rate"],
        "flood_seconds": flood["seconds"], "flood_sources": flood["sources"],
        "ike_received": end_stats.get("ike_received"),
        "cookies_sent": end_stats.get("cookies_sent", 0),
        "half_open_during_flood": mid_stats.get("ike_sas_half_open"),
        "half_open_at_end": end_stats.get("ike_sas_half_open"),
        "dropped": {k: v for k, v in end_stats.items() if k.startswith("dropped")},
        "rss_kib_before": rss_before, "rss_kib_during": rss_peak, "rss_kib_after": rss_after,
        "charon_tunnel_s": round(tunnel_s, 2),
    }
    print("\nFLOOD FIGURES " + json.dumps(figures))
    if os.environ.get("IKEPY_FLOOD_FIGURES"):
        Path(os.environ["IKEPY_FLOOD_FIGURES"]).write_text(json.dumps(figures, indent=2))
    # the defences held: cookies, not state; bounded memory; the honest peer got through
    assert end_stats.get("cookies_sent", 0) > flood["sent"] / 4
    assert mid_stats["ike_sas_half_open"] <= 10 + 1
    assert rss_after - rss_before < 20 * 1024, figures  # < 20 MiB growth
    assert tunnel_s < 10, figures
