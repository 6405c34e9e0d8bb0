"""SA lifecycle against charon, with real traffic through the tunnel.

    left 10.1.0.1 --[ ESP-in-UDP 4500, 10.99.0.1 <-> 10.99.0.2 ]-- right 10.2.0.1

ikepy runs ``--dataplane userspace``, charon kernel-libipsec (``encap = yes``),
ikepy in both roles. CHILD_SAs rekey every few seconds and the IKE SA every ten
or so, once with ikepy rekeying first and once with charon first, under a
continuous ping (its loss is measured and printed) and a rate-limited TCP
transfer whose SHA-256 is checked at the far end. The ESP proposal carries a
key exchange group, so every CHILD_SA rekey carries a KE payload (PFS): that is
read from charon's log (``parsed/generating CREATE_CHILD_SA ... [ N(REKEY_SA)
SA No KE TSi TSr ]``). At the end both sides hold exactly one IKE SA and one
CHILD_SA, with the same SPIs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import time

import pytest
from harness import Impairment, pair_confs, wait_for

IKE_PROPOSALS = "aes256gcm16-prfsha256-x25519"
ESP_PROPOSALS = "aes256gcm16-x25519"  # a KE group: CHILD_SA rekeys carry KE (PFS)

# (child rekey_time, IKE rekey_time) per side: the fast side rekeys first, always
FAST = (5, 10)
SLOW = (30, 40)

RUN_S = 16  # traffic for this long: 3-4 CHILD_SA rekeys and 1 IKE SA rekey
PING_INTERVAL = 0.05


def lifetimes(child_rekey: float, ike_rekey: float, rand: float = 1) -> tuple[str, str]:
    """(extra_conn, extra_child) swanctl.conf lines for short lifetimes."""
    # generous hard lifetimes: over a lossy link one exchange may retransmit for ~12 s
    # (window size 1), and the SAs must not expire meanwhile
    extra_conn = (f"rekey_time = {ike_rekey}s\n    over_time = {ike_rekey * 3}s\n"
                  f"    rand_time = {rand}s")
    extra_child = (f"rekey_time = {child_rekey}s\n        life_time = {child_rekey * 5}s\n"
                   f"        rand_time = {rand}s")
    return extra_conn, extra_child


def confs(netns, *, ikepy_side: str, ikepy_times, charon_times, ikepy_conn: str = "",
          ikepy_child: str = "", charon_conn: str = "", charon_child: str = ""):
    """(ikepy conf, charon conf); ``ikepy_side`` is 'left' or 'right'."""
    ic, ich = lifetimes(*ikepy_times)
    cc, cch = lifetimes(*charon_times)
    left_i, right_i = pair_confs(netns, proposals=IKE_PROPOSALS, esp_proposals=ESP_PROPOSALS,
                                 extra_conn=ic + "\n    " + ikepy_conn,
                                 extra_child=ich + "\n        " + ikepy_child)
    left_c, right_c = pair_confs(netns, proposals=IKE_PROPOSALS, esp_proposals=ESP_PROPOSALS,
                                 extra_conn=cc + "\n    " + charon_conn,
                                 extra_child=cch + "\n        " + charon_child)
    return (left_i, right_c) if ikepy_side == "left" else (right_i, left_c)


def bring_up(netns, charon_factory, ikepy_factory, role, ikepy_conf, charon_conf,
             ikepy_args=(), charon_opts: str = ""):
    """ikepy on the left as initiator, or on the right as responder; the tunnel up."""
    if role == "ikepy-initiator":
        charon = charon_factory(netns.right, charon_conf, name="charon-right",
                                charon_opts=charon_opts)
        charon.add_route("10.1.0.0/24", "10.2.0.1")
        ikepy = ikepy_factory(netns.left, ikepy_conf, dataplane="userspace",
                              extra_args=list(ikepy_args))
        res = ikepy.initiate("net", ike="net", timeout=30)
        assert res.returncode == 0, res.stdout + res.stderr
    else:
        ikepy = ikepy_factory(netns.right, ikepy_conf, dataplane="userspace",
                              extra_args=list(ikepy_args))
        charon = charon_factory(netns.left, charon_conf, name="charon-left",
                                charon_opts=charon_opts)
        charon.add_route("10.2.0.0/24", "10.1.0.1")
        charon.initiate("net", ike="net", timeout=30)
    wait_for(lambda: one_tunnel(ikepy, charon, ignore_deleting=True), 30, interval=0.2,
             what="one matching tunnel")
    return ikepy, charon


def one_tunnel(ikepy, charon, ignore_deleting: bool = False):
    """Exactly one IKE SA and one CHILD_SA on each side, with the same SPIs; or None.

    ``ignore_deleting``: leave out IKE SAs in state DELETING without children (a
    superseded IKE SA whose DELETE is retransmitted because the response was lost:
    the peer destroyed it on the first DELETE and cannot answer the retransmits).
    """
    try:
        isas, csas = ikepy.list_sas(), charon.list_sas()
    except Exception:  # a daemon being restarted, a CLI timeout: not yet
        return None
    if ignore_deleting:  # and, on a lossy link, CHILD_SAs whose rekey is still being settled
        isas = [dict(sa, children=[c for c in sa["children"] if c["state"] == "INSTALLED"])
                for sa in isas if sa["state"] != "DELETING"]
        csas = [dict(sa, children=[c for c in sa["children"] if c.get("state") == "INSTALLED"])
                for sa in csas if sa.get("state") != "DELETING"]
    if len(isas) != 1 or len(csas) != 1:
        return None
    (isa,), (csa,) = isas, csas
    if isa["state"] != "ESTABLISHED" or csa.get("state") != "ESTABLISHED":
        return None
    if (isa["spi_i"], isa["spi_r"]) != (csa.get("initiator-spi"), csa.get("responder-spi")):
        return None
    # charon keeps a rekeyed CHILD_SA's inbound SA for delete_rekeyed_delay (5 s) in state
    # DELETED, so that packets still in flight on it are not lost: those do not count
    cchildren = [c for c in csa["children"] if c.get("state") != "DELETED"]
    if len(isa["children"]) != 1 or len(cchildren) != 1:
        return None
    (ich,), (cch,) = isa["children"], cchildren
    if ich["state"] != "INSTALLED" or cch.get("state") != "INSTALLED":
        return None
    if (ich["spi_in"], ich["spi_out"]) != (cch.get("spi-out"), cch.get("spi-in")):
        return None
    return isa, csa


# --------------------------------------------------------------------------- #
# traffic
# --------------------------------------------------------------------------- #


class Pinger:
    """``ping -i 0.05`` from left to right's inner address for ``seconds``; loss counted."""

    def __init__(self, netns, seconds: float, interval: float = PING_INTERVAL):
        self.count = int(seconds / interval)
        self.proc = netns.popen(netns.left, "ping", "-n", "-q", "-i", interval, "-W", "1",
                                "-c", self.count, "-I", netns.left_inner, netns.right_inner,
                                stdout=subprocess.PIPE, text=True)

    def stop(self) -> tuple[int, int]:
        """Stop it now (SIGINT: ping prints its summary)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
        return self.result(timeout=10)

    def result(self, timeout: float = 60) -> tuple[int, int]:
        out, _ = self.proc.communicate(timeout=timeout)
        m = re.search(r"(\d+) packets transmitted, (\d+) (?:packets )?received", out)
        assert m, out
        return int(m.group(1)), int(m.group(2))


def tcp_transfer(netns, tmp_path, size: int, seconds: float, tag: str):
    """Start a ``size`` bytes TCP stream left -> right paced over ~``seconds``; returns
    a function that waits for it and checks the SHA-256 at the far end."""
    blob = tmp_path / f"blob-{tag}"
    blob.write_bytes(hashlib.shake_256(tag.encode()).digest(size))
    want = hashlib.sha256(blob.read_bytes()).hexdigest()
    got = tmp_path / f"got-{tag}"
    port = 5002
    server = netns.popen(netns.right, "python3", "-c",
                         "import socket,sys\n"
                         "s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                         f"s.bind(('{netns.right_inner}',{port}));s.listen(1);c,_=s.accept()\n"
                         f"f=open('{got}','wb')\n"
                         "while True:\n d=c.recv(65536)\n if not d: break\n f.write(d)\n"
                         "f.close()\n")
    wait_for(lambda: f":{port}" in netns.run(netns.right, "ss", "-ltn", check=False).stdout, 10,
             what="the TCP sink")
    chunk = 64 * 1024
    rate = size / seconds
    client = netns.popen(netns.left, "python3", "-c",
                         "import socket,time\n"
                         f"data=open('{blob}','rb').read()\n"
                         f"s=socket.create_connection(('{netns.right_inner}',{port}),"
                         f"source_address=('{netns.left_inner}',0),timeout=60)\n"
                         "t0=time.monotonic()\n"
                         f"for i in range(0,len(data),{chunk}):\n"
                         f" s.sendall(data[i:i+{chunk}])\n"
                         f" d=t0+(i+{chunk})/{rate}-time.monotonic()\n"
                         " if d>0: time.sleep(d)\n"
                         "s.close()\n")

    def finish(timeout: float = 120):
        rc = client.wait(timeout=timeout)
        assert rc == 0, "the TCP sender failed"
        server.wait(timeout=30)
        assert hashlib.sha256(got.read_bytes()).hexdigest() == want, "TCP stream corrupted"

    return finish


# --------------------------------------------------------------------------- #
# charon's log
# --------------------------------------------------------------------------- #

_MSG = re.compile(r"(parsed|generating) CREATE_CHILD_SA (request|response) \d+ \[ ([^\]]*)\]")


def create_child_messages(log: str) -> list[tuple[str, str, list[str]]]:
    """charon's CREATE_CHILD_SA messages: [(parsed|generating, request|response, payloads)]."""
    return [(m.group(1), m.group(2), m.group(3).split()) for m in _MSG.finditer(log)]


def rekey_summary(log: str) -> dict[str, int]:
    """Counts of the rekeys charon saw or made, and how many carried KE."""
    out = {"child_rekey_requests": 0, "child_rekey_requests_ke": 0,
           "child_rekey_responses": 0, "child_rekey_responses_ke": 0,
           "ike_rekeys": 0, "by_charon": 0, "by_ikepy": 0}
    msgs = create_child_messages(log)
    for how, kind, pl in msgs:
        if kind == "request" and "N(REKEY_SA)" in pl:
            out["child_rekey_requests"] += 1
            out["child_rekey_requests_ke"] += "KE" in pl
            out["by_charon" if how == "generating" else "by_ikepy"] += 1
        elif kind == "request" and "TSi" not in pl and "KE" in pl and "SA" in pl:
            out["ike_rekeys"] += 1
    # responses to the CHILD_SA rekeys: a response carrying TSi/TSr (a CHILD_SA answer)
    for _how, kind, pl in msgs:
        if kind == "response" and "TSi" in pl:
            out["child_rekey_responses"] += 1
            out["child_rekey_responses_ke"] += "KE" in pl
    return out


def ikepy_counters(ikepy) -> dict:
    stats = json.loads(ikepy.cli("stats", "--json", check=True).stdout)
    keys = ("child_sas_rekeyed", "ike_sas_rekeyed", "ike_sas_established", "esp_bad_spi",
            "esp_replay", "esp_integrity", "dataplane.no_sa_for_selector")
    return {k: stats.get(k) for k in keys}


# --------------------------------------------------------------------------- #
# 1. rekeys under traffic
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("first", ["ikepy-rekeys-first", "charon-rekeys-first"])
@pytest.mark.parametrize("role", ["ikepy-initiator", "ikepy-responder"])
def test_rekeys_under_traffic(netns, charon_factory, ikepy_factory, role, first, tmp_path,
                              capsys):
    ikepy_times, charon_times = (FAST, SLOW) if first == "ikepy-rekeys-first" else (SLOW, FAST)
    side = "left" if role == "ikepy-initiator" else "right"
    ikepy_conf, charon_conf = confs(netns, ikepy_side=side, ikepy_times=ikepy_times,
                                    charon_times=charon_times)
    ikepy, charon = bring_up(netns, charon_factory, ikepy_factory, role, ikepy_conf, charon_conf)
    before = one_tunnel(ikepy, charon)
    assert before
    pinger = Pinger(netns, RUN_S)
    finish = tcp_transfer(netns, tmp_path, 30 * 1024 * 1024, RUN_S - 2, tag=f"{role}-{first}")
    finish(timeout=RUN_S + 90)
    sent, received = pinger.result(timeout=RUN_S + 30)
    loss = 100.0 * (sent - received) / sent
    after = wait_for(lambda: one_tunnel(ikepy, charon), 20, interval=0.2,
                     what="one IKE SA and one CHILD_SA with matching SPIs on both sides")
    summary = rekey_summary(charon.log())
    with capsys.disabled():
        print(f"\n[{role}, {first}] ping loss during rekeys: {sent - received}/{sent} "
              f"= {loss:.2f}%\n  charon saw: {summary}\n  ikepy: {ikepy_counters(ikepy)}")
    # the SAs did change: several CHILD_SA rekeys and at least one IKE SA rekey
    assert after[0]["children"][0]["spi_in"] != before[0]["children"][0]["spi_in"]
    assert after[0]["spi_i"] != before[0]["spi_i"]
    assert summary["child_rekey_requests"] >= 2, summary
    assert summary["ike_rekeys"] >= 1, summary
    # PFS: every CHILD_SA rekey request and response carried a KE payload
    assert summary["child_rekey_requests_ke"] == summary["child_rekey_requests"], summary
    assert summary["child_rekey_responses_ke"] == summary["child_rekey_responses"], summary
    # the side with the short rekey_time did the rekeying
    if first == "ikepy-rekeys-first":
        assert summary["by_ikepy"] >= 2 and summary["by_charon"] == 0, summary
    else:
        assert summary["by_charon"] >= 2 and summary["by_ikepy"] == 0, summary
    # make-before-break: hardly a packet lost (a slow CI machine gets some slack)
    assert loss <= 5.0, f"ping loss {loss:.2f}% during rekeys"


# --------------------------------------------------------------------------- #
# 2. a lossy, then a reordering and duplicating link
# --------------------------------------------------------------------------- #

LOSSY_IKEPY_ARGS = ("--retransmit-timeout", "1", "--retransmit-tries", "6")


def ping_ok(netns, count: int = 20, interval: float = 0.1) -> tuple[int, int]:
    """(sent, received) of a short ping left -> right (duplicates not counted)."""
    res = netns.run(netns.left, "ping", "-n", "-q", "-i", interval, "-W", "1", "-c", count,
                    "-I", netns.left_inner, netns.right_inner, check=False,
                    timeout=count * (interval + 1) + 10)
    m = re.search(r"(\d+) packets transmitted, (\d+) (?:packets )?received", res.stdout)
    assert m, res.stdout + res.stderr
    return int(m.group(1)), int(m.group(2))


def rekeyed_since(ikepy, charon, prev):
    """The tunnel, once both its IKE SA and its CHILD_SA were rekeyed since ``prev``."""
    now = one_tunnel(ikepy, charon, ignore_deleting=True)
    if not now:
        return None
    if now[0]["spi_i"] == prev[0]["spi_i"]:
        return None
    if now[0]["children"][0]["spi_in"] == prev[0]["children"][0]["spi_in"]:
        return None
    return now


@pytest.mark.parametrize("role", ["ikepy-initiator", "ikepy-responder"])
def test_lossy_then_reordering_link(netns, charon_factory, ikepy_factory, role, tmp_path,
                                    capsys):
    side = "left" if role == "ikepy-initiator" else "right"
    # ikepy rekeys (its retransmissions under test), charon answers (its resends of
    # cached responses); in the responder role charon's IKE_SA_INIT/IKE_AUTH go through too
    ikepy_conf, charon_conf = confs(netns, ikepy_side=side, ikepy_times=FAST,
                                    charon_times=SLOW)
    # what left sends to right: 20 % lost, so every few exchanges need a retransmission.
    # (This kernel has no sch_netem, so harness.Impairment does netem's job in userspace.)
    # Besides, every 4th IKE message from left is dropped, so that retransmissions happen
    # on every run, not only when the dice say so.
    imp = Impairment(netns, netns.left, netns.right_addr, netns.left_addr, tmp_path).start(
        loss=0.2, drop_ike_every=4)
    t0 = time.monotonic()
    ikepy, charon = bring_up(netns, charon_factory, ikepy_factory, role, ikepy_conf,
                             charon_conf, ikepy_args=LOSSY_IKEPY_ARGS)
    up_s = time.monotonic() - t0
    background = Pinger(netns, 120)  # ESP all along, through the impairment
    first = one_tunnel(ikepy, charon, ignore_deleting=True)
    lossy = wait_for(lambda: rekeyed_since(ikepy, charon, first), 45, interval=0.3,
                     what="an IKE SA and a CHILD_SA rekey over the lossy link")
    sent, recv = ping_ok(netns)
    assert recv >= sent // 3, f"ping over 20% loss: {recv}/{sent}"
    lossy_stats = imp.stats()
    # then as netem "delay 10ms reorder 25% 50% duplicate 10%" (without the correlation)
    imp.set(delay=0.01, reorder=0.25, duplicate=0.1)
    reordered = wait_for(lambda: rekeyed_since(ikepy, charon, lossy), 45, interval=0.3,
                         what="an IKE SA and a CHILD_SA rekey over the reordering link")
    sent2, recv2 = ping_ok(netns)
    assert recv2 >= sent2 * 8 // 10, f"ping over reordering/duplication: {recv2}/{sent2}"
    total = imp.stats()
    bg_sent, bg_recv = background.stop()
    imp.stop()
    assert wait_for(lambda: one_tunnel(ikepy, charon, ignore_deleting=True), 20, interval=0.3,
                    what="one tunnel at the end")
    assert reordered
    stats = json.loads(ikepy.cli("stats", "--json", check=True).stdout)
    clog = charon.log()
    c_re = len(re.findall(r"retransmit \d+ of request", clog))
    i_re = len(re.findall(r"retransmit \d+ of", ikepy.log()))
    retrans = (f"charon retransmitted {c_re} requests and resent "
               f"{clog.count('retransmitting response')} responses; ikepy retransmitted "
               f"{i_re} requests")
    with capsys.disabled():
        print(f"\n[{role}] up over 20% loss in {up_s:.1f}s; ping {recv}/{sent} over loss, "
              f"{recv2}/{sent2} over reordering+duplication; background ping "
              f"{bg_recv}/{bg_sent}\n  impairment: lossy {lossy_stats}, "
              f"total {total}\n  {retrans}; ikepy esp_replay {stats.get('esp_replay')}")
    assert lossy_stats.get("dropped", 0) > 0 and total.get("duplicated", 0) > 0
    assert lossy_stats.get("dropped_ike", 0) > 0, lossy_stats
    # the lost IKE messages were recovered by retransmission: ikepy's requests (it sits
    # on the lossy side as initiator) or charon's requests and resent responses
    assert c_re + i_re + clog.count("retransmitting response") > 0, retrans
    if role == "ikepy-responder":  # duplicated ESP reached ikepy: its replay window dropped them
        assert stats.get("esp_replay", 0) > 0, stats


# --------------------------------------------------------------------------- #
# 3. a peer killed (SIGKILL) and restarted
# --------------------------------------------------------------------------- #

DPD_IKEPY_ARGS = ("--retransmit-timeout", "1", "--retransmit-tries", "2")


def ping_until(netns, timeout: float) -> float:
    """Seconds until a ping left -> right gets through the tunnel."""
    t0 = time.monotonic()
    wait_for(lambda: netns.ping(netns.left, count=1, timeout=0.5).returncode == 0, timeout,
             interval=0.1, what="ping through the restored tunnel")
    return time.monotonic() - t0


def plain_confs(netns, side, *, ikepy_conn="", ikepy_child="", charon_conn="", charon_child=""):
    """(ikepy conf, charon conf) with default (long) lifetimes."""
    li, ri = pair_confs(netns, proposals=IKE_PROPOSALS, esp_proposals=ESP_PROPOSALS,
                        extra_conn=ikepy_conn, extra_child=ikepy_child)
    lc, rc = pair_confs(netns, proposals=IKE_PROPOSALS, esp_proposals=ESP_PROPOSALS,
                        extra_conn=charon_conn, extra_child=charon_child)
    return (li, rc) if side == "left" else (ri, lc)


def test_charon_killed_ikepy_initiator_dpd_restart(netns, charon_factory, ikepy_factory, capsys):
    ikepy_conf, charon_conf = plain_confs(netns, "left", ikepy_conn="dpd_delay = 2s",
                                          ikepy_child="dpd_action = restart")
    ikepy, charon = bring_up(netns, charon_factory, ikepy_factory, "ikepy-initiator",
                             ikepy_conf, charon_conf, ikepy_args=DPD_IKEPY_ARGS)
    old = one_tunnel(ikepy, charon)
    assert netns.ping(netns.left, count=2).returncode == 0
    charon.kill()
    t0 = time.monotonic()
    charon.start(netns.right, charon_conf)
    charon.add_route("10.1.0.0/24", "10.2.0.1")
    # dpd_delay 2 s, then 1 + 1.8 + 3.24 s of retransmissions, then a new IKE SA
    ping_until(netns, 30)
    back_s = time.monotonic() - t0
    new = wait_for(lambda: one_tunnel(ikepy, charon), 20, interval=0.2, what="one new tunnel")
    assert new[0]["spi_i"] != old[0]["spi_i"]
    assert "dpd_action = restart" in ikepy.log(), ikepy.log_tail()
    with capsys.disabled():
        print(f"\n[charon SIGKILLed, ikepy initiator, dpd restart] ping back after {back_s:.1f}s")
    assert back_s < 2 + 1 + 1.8 + 3.24 + 10, back_s


def test_charon_killed_ikepy_responder_initial_contact(netns, charon_factory, ikepy_factory,
                                                      capsys):
    ikepy_conf, charon_conf = plain_confs(netns, "right")
    ikepy, charon = bring_up(netns, charon_factory, ikepy_factory, "ikepy-responder",
                             ikepy_conf, charon_conf)
    old = one_tunnel(ikepy, charon)
    charon.kill()
    t0 = time.monotonic()
    charon.start(netns.left, charon_conf)
    charon.add_route("10.2.0.0/24", "10.1.0.1")
    charon.initiate("net", ike="net", timeout=30)  # a fresh charon: INITIAL_CONTACT
    new = wait_for(lambda: one_tunnel(ikepy, charon), 20, interval=0.2,
                   what="ikepy holding only the new IKE SA")
    ping_until(netns, 20)
    back_s = time.monotonic() - t0
    assert new[0]["spi_i"] != old[0]["spi_i"]
    # ikepy dropped the old IKE SA on the new one's INITIAL_CONTACT (RFC 7296 2.4)
    assert "INITIAL_CONTACT" in ikepy.log(), ikepy.log_tail()
    with capsys.disabled():
        print(f"\n[charon SIGKILLed, ikepy responder, charon re-initiates] ping back after "
              f"{back_s:.1f}s")


def test_ikepy_killed_initiator_start_action(netns, charon_factory, ikepy_factory, capsys):
    ikepy_conf, charon_conf = plain_confs(netns, "left", ikepy_child="start_action = start")
    charon = charon_factory(netns.right, charon_conf, name="charon-right")
    charon.add_route("10.1.0.0/24", "10.2.0.1")
    ikepy = ikepy_factory(netns.left, ikepy_conf, dataplane="userspace")
    old = wait_for(lambda: one_tunnel(ikepy, charon), 30, interval=0.2,
                   what="the tunnel from start_action = start")
    assert netns.ping(netns.left, count=2).returncode == 0
    ikepy.kill()
    t0 = time.monotonic()
    ikepy.start(netns.left, ikepy_conf, dataplane="userspace")
    # charon drops the old IKE SA on the new one's INITIAL_CONTACT, at once
    new = wait_for(lambda: one_tunnel(ikepy, charon), 30, interval=0.2,
                   what="charon holding only the new IKE SA")
    ping_until(netns, 20)
    back_s = time.monotonic() - t0
    assert new[0]["spi_i"] != old[0]["spi_i"]
    log = charon.log()
    assert re.search(r"INITIAL_CONTACT", log), charon.log_tail(60)
    with capsys.disabled():
        ic = [ln for ln in log.splitlines() if "INITIAL_CONTACT" in ln]
        print(f"\n[ikepy SIGKILLed, initiator, start_action] ping back after {back_s:.1f}s"
              f"\n  charon: {ic[-1].strip() if ic else None}")


def test_ikepy_killed_responder_charon_dpd_restart(netns, charon_factory, ikepy_factory, capsys):
    ikepy_conf, charon_conf = plain_confs(netns, "right", charon_conn="dpd_delay = 2s",
                                          charon_child="dpd_action = restart")
    ikepy, charon = bring_up(netns, charon_factory, ikepy_factory, "ikepy-responder",
                             ikepy_conf, charon_conf)
    old = one_tunnel(ikepy, charon)
    ikepy.kill()
    t0 = time.monotonic()
    ikepy.start(netns.right, ikepy_conf, dataplane="userspace")
    # charon: dpd_delay 2 s, then 1 + 1.8 + 3.24 + 5.8 s of retransmissions, then restart
    new = wait_for(lambda: one_tunnel(ikepy, charon), 45, interval=0.3,
                   what="charon's dpd_action = restart bringing the tunnel back")
    ping_until(netns, 20)
    back_s = time.monotonic() - t0
    assert new[0]["spi_i"] != old[0]["spi_i"]
    assert re.search(r"giving up after \d+ retransmits", charon.log()), charon.log_tail(60)
    with capsys.disabled():
        print(f"\n[ikepy SIGKILLed, responder, charon dpd restart] ping back after "
              f"{back_s:.1f}s")


def test_reauthentication_make_before_break(netns, charon_factory, ikepy_factory, capsys):
    """ikepy (initiator, reauth_time = 8s) reauthenticates with charon: a whole new IKE SA
    and CHILD_SA come up before the old ones are deleted, with a ping running throughout."""
    ikepy_conf, charon_conf = plain_confs(netns, "left",
                                          ikepy_conn="reauth_time = 8s\n    rand_time = 0s")
    ikepy, charon = bring_up(netns, charon_factory, ikepy_factory, "ikepy-initiator",
                             ikepy_conf, charon_conf)
    old = one_tunnel(ikepy, charon)
    pinger = netns.popen(netns.left, "ping", "-n", "-q", "-i", "0.05", "-w", "14",
                         "-I", netns.left_inner, netns.right_inner,
                         stdout=subprocess.PIPE, text=True)
    # the old IKE SA is gone and a new one carries the tunnel
    first = old[0]["spi_i"]
    new = wait_for(lambda: (t := one_tunnel(ikepy, charon)) and t[0]["spi_i"] != first and t,
                   30, interval=0.2, what="the reauthenticated tunnel")
    out, _ = pinger.communicate(timeout=30)
    m = re.search(r"(\d+) packets transmitted, (\d+) (?:packets )?received", out)
    assert m, out
    sent, got = int(m.group(1)), int(m.group(2))
    with capsys.disabled():
        print(f"\n[reauth] ping during make-before-break reauthentication: {sent - got}/{sent} "
              f"lost")
    assert new[0]["children"][0]["spi_in"] != old[0]["children"][0]["spi_in"]
    assert "reauthenticating IKE_SA (make-before-break)" in ikepy.log()
    assert sent - got <= max(2, sent // 20), out
