"""The IKEv2 engine's interop matrix against Debian's charon (control plane only).

Every test runs ikepy in both roles (``role``): ikepy always lives in the
``left`` namespace and charon in ``right``, both read swanctl.conf text made
by ``conf()`` below, and only who initiates changes:

    ikepy_initiator:  ikepy (left)  IKE_SA_INIT, IKE_AUTH, ...  -->  charon (right)
    ikepy_responder:  charon (right) IKE_SA_INIT, IKE_AUTH, ... -->  ikepy (left)

What is shown, each checked on both sides (charon's ``--list-sas --raw`` and
ikepy's ``list-sas --json``):

1. PSK with four IKE proposal families and the ESP proposals of the same
   family: same IKE SPIs, same negotiated algorithms, CHILD_SA SPIs swapped,
   selectors as configured; a second CHILD_SA by CREATE_CHILD_SA does PFS
   with the family's group (ESP groups are not negotiated in IKE_AUTH).
2. INVALID_KE_PAYLOAD and the retry with the responder's group.
3. COOKIE demanded by the responder (RFC 7296 2.6).
4. A wrong PSK: AUTHENTICATION_FAILED, nothing left, both daemons alive.
5. Mismatched IKE or ESP proposals: NO_PROPOSAL_CHOSEN, explained in the logs.
6. Traffic selectors narrowed by the responder.
7. A second CHILD_SA (CREATE_CHILD_SA with a KE payload) on the same IKE_SA.
8. Deletes of a CHILD_SA and of the IKE_SA by either side.
9. IPv6 outer addresses.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

import pytest
from harness import DEFAULT_PSK, Charon, HarnessError, IkepyDaemon, Netns, run, wait_for

IKEPY_INITIATOR = "ikepy_initiator"
IKEPY_RESPONDER = "ikepy_responder"

# failures are expected in some tests: keep ikepy's retransmissions short
IKEPY_ARGS = ("--retransmit-timeout", "1", "--retransmit-tries", "2")

NET_TS = ("10.1.0.0/24", "10.2.0.0/24")   # (left side, right side)
WEB_TS = ("10.1.1.0/24", "10.2.1.0/24")


# --------------------------------------------------------------------------- #
# configuration
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class ChildConf:
    name: str
    local_ts: str
    remote_ts: str
    esp_proposals: str


def conf(*, local_addr: str, remote_addr: str, local_id: str, remote_id: str,
         proposals: str, children: list[ChildConf], psk: str = DEFAULT_PSK) -> str:
    """One PSK connection ``net`` (encap = yes: the test machines need ESP-in-UDP)."""
    kids = "\n".join(
        f"""      {c.name} {{
        local_ts = {c.local_ts}
        remote_ts = {c.remote_ts}
        esp_proposals = {c.esp_proposals}
      }}""" for c in children)
    return f"""connections {{
  net {{
    version = 2
    local_addrs = {local_addr}
    remote_addrs = {remote_addr}
    encap = yes
    proposals = {proposals}
    local {{
      auth = psk
      id = {local_id}
    }}
    remote {{
      auth = psk
      id = {remote_id}
    }}
    children {{
{kids}
    }}
  }}
}}
secrets {{
  ike-1 {{
    id-1 = {local_id}
    id-2 = {remote_id}
    secret = "{psk}"
  }}
}}
"""


@dataclass
class Side:
    """What one side is configured with (its own view: local/remote)."""

    proposals: str = "aes256gcm16-prfsha256-x25519"
    esp_proposals: str = "aes256gcm16-x25519"
    psk: str = DEFAULT_PSK
    net_ts: tuple[str, str] | None = None   # (left side, right side); None: NET_TS
    web: str | None = None                  # esp_proposals of a second child "web"


def side_conf(topo: Netns, side: str, s: Side, v6: bool = False) -> str:
    left_addr = topo.left_addr6 if v6 else topo.left_addr
    right_addr = topo.right_addr6 if v6 else topo.right_addr
    lts, rts = s.net_ts or NET_TS
    children = [(ChildConf("net", lts, rts, s.esp_proposals))]
    if s.web:
        children.append(ChildConf("web", WEB_TS[0], WEB_TS[1], s.web))
    if side == "right":
        children = [ChildConf(c.name, c.remote_ts, c.local_ts, c.esp_proposals) for c in children]
        return conf(local_addr=right_addr, remote_addr=left_addr, local_id="right",
                    remote_id="left", proposals=s.proposals, children=children, psk=s.psk)
    return conf(local_addr=left_addr, remote_addr=right_addr, local_id="left",
                remote_id="right", proposals=s.proposals, children=children, psk=s.psk)


# --------------------------------------------------------------------------- #
# the pair of daemons
# --------------------------------------------------------------------------- #


@dataclass
class Pair:
    role: str
    topo: Netns
    ikepy: IkepyDaemon
    charon: Charon

    @property
    def ikepy_initiates(self) -> bool:
        return self.role == IKEPY_INITIATOR

    def initiate(self, child: str = "net", timeout: float = 8) -> tuple[int, str]:
        """The initiator brings ``child`` up (on IKE_SA ``net``): (exit status, its output)."""
        if self.ikepy_initiates:
            res = self.ikepy.initiate(child, ike="net", timeout=timeout, check=False)
        else:
            res = self.charon.initiate(child, ike="net", timeout=timeout, check=False)
        return res.returncode, res.stdout + res.stderr

    def up(self, child: str = "net") -> None:
        rc, out = self.initiate(child)
        assert rc == 0, f"initiating {child} failed ({rc}):\n{out}"

    # -- views, normalised --------------------------------------------------- #

    def charon_sas(self) -> list[dict]:
        return [sa for sa in self.charon.list_sas() if sa["state"] != "CONNECTING"]

    def ikepy_sas(self) -> list[dict]:
        return self.ikepy.list_sas()

    def both_established(self, n_children: int = 1) -> tuple[dict, dict]:
        """Wait until each side has exactly one ESTABLISHED IKE_SA with ``n_children``
        INSTALLED CHILD_SAs; return (charon's, ikepy's)."""

        def ready():
            c, i = self.charon_sas(), self.ikepy_sas()
            if len(c) != 1 or len(i) != 1:
                return None
            c, i = c[0], i[0]
            if c["state"] != "ESTABLISHED" or i["state"] != "ESTABLISHED":
                return None
            if [ch["state"] for ch in c["children"]] != ["INSTALLED"] * n_children:
                return None
            if [ch["state"] for ch in i["children"]] != ["INSTALLED"] * n_children:
                return None
            return c, i

        try:
            return wait_for(ready, 5, what=f"one IKE_SA with {n_children} CHILD_SA(s) on both sides")
        except HarnessError as e:
            raise AssertionError(f"{e}\ncharon: {self.charon_sas()}\nikepy: {self.ikepy_sas()}") \
                from None

    def both_empty(self) -> None:
        try:
            wait_for(lambda: self.charon_sas() == [] and self.ikepy_sas() == [], 5,
                     what="no IKE_SA left on either side")
        except HarnessError as e:
            raise AssertionError(f"{e}\ncharon: {self.charon.list_sas()}\n"
                                 f"ikepy: {self.ikepy_sas()}") from None

    def ikepy_stats(self) -> dict:
        return json.loads(self.ikepy.cli("stats", "--json", check=True).stdout)

    def stop_ikepy_cleanly(self) -> None:
        assert self.charon.running, "charon died"
        assert self.ikepy.running, "ikepy died"
        assert self.ikepy.stop() == 0, self.ikepy.log_tail()


@pytest.fixture(params=[IKEPY_INITIATOR, IKEPY_RESPONDER])
def role(request) -> str:
    return request.param


@pytest.fixture
def make_pair(role, netns, charon_factory, ikepy_factory):
    """``make_pair(initiator=Side(...), responder=Side(...), ...) -> Pair``."""

    def factory(initiator: Side | None = None, responder: Side | None = None, *,
                v6: bool = False, ikepy_args: tuple[str, ...] = (),
                charon_opts: str = "", charon_log: dict | None = None) -> Pair:
        initiator = initiator or Side()
        responder = responder or initiator
        ikepy_side, charon_side = ((initiator, responder) if role == IKEPY_INITIATOR
                                   else (responder, initiator))
        # kernel-libipsec routes a CHILD_SA into ipsec0 with a source address from
        # its local selector: without one inside 10.2.1.0/24 charon refuses "web"
        # ("error installing route with policy"), so give each side one
        run(netns.left, "ip", "addr", "add", "10.1.1.1/32", "dev", "lo")
        run(netns.right, "ip", "addr", "add", "10.2.1.1/32", "dev", "lo")
        charon = charon_factory(netns.right, side_conf(netns, "right", charon_side, v6),
                                name="charon", charon_opts=charon_opts,
                                log_levels=charon_log)
        ikepy = ikepy_factory(netns.left, side_conf(netns, "left", ikepy_side, v6),
                              name="ikepy", extra_args=[*IKEPY_ARGS, *ikepy_args])
        return Pair(role, netns, ikepy, charon)

    return factory


# --------------------------------------------------------------------------- #
# comparing what charon and ikepy say
# --------------------------------------------------------------------------- #


def charon_algs(d: dict, esp: bool = False) -> str:
    """charon's list-sas algorithm keys in ikepy's "algorithms" format."""
    encr = d["encr-alg"]
    if d.get("encr-keysize") and encr != "CHACHA20_POLY1305":
        encr += f"-{d['encr-keysize']}"
    parts = [encr]
    if d.get("integ-alg"):
        parts.append(d["integ-alg"])
    if not esp and d.get("prf-alg"):
        parts.append(d["prf-alg"])
    if d.get("dh-group"):
        parts.append(d["dh-group"])
    if esp and d.get("esn") == "1":
        parts.append("ESN")
    return "/".join(parts)


def check_ike(pair: Pair, c: dict, i: dict, ike_algs: str) -> None:
    assert c["initiator-spi"] == i["spi_i"] and c["responder-spi"] == i["spi_r"], (c, i)
    assert int(i["spi_i"], 16) != 0 and int(i["spi_r"], 16) != 0
    assert i["role"] == ("initiator" if pair.ikepy_initiates else "responder")
    assert c.get("initiator") == (None if pair.ikepy_initiates else "yes"), c
    assert (c["local-id"], c["remote-id"]) == ("right", "left")
    assert (i["local_id"], i["remote_id"]) == ("left", "right")
    assert i["algorithms"] == ike_algs, i
    assert charon_algs(c) == ike_algs, c


def check_child(c_child: dict, i_child: dict, esp_algs: str,
                ts: tuple[str, str] = NET_TS) -> None:
    """One CHILD_SA as each side sees it; ``ts`` = (left side, right side)."""
    assert c_child["name"] == i_child["name"]
    assert c_child["state"] == i_child["state"] == "INSTALLED"
    # charon's inbound SPI is ikepy's outbound one and vice versa
    assert c_child["spi-in"] == i_child["spi_out"], (c_child, i_child)
    assert c_child["spi-out"] == i_child["spi_in"], (c_child, i_child)
    assert c_child["mode"] == i_child["mode"] == "TUNNEL"
    assert c_child["encap"] == "yes" and i_child["encap"] is True
    assert i_child["local_ts"] == [ts[0]] and i_child["remote_ts"] == [ts[1]], i_child
    assert c_child["local-ts"] == [ts[1]] and c_child["remote-ts"] == [ts[0]], c_child
    assert i_child["algorithms"] == esp_algs, i_child
    assert charon_algs(c_child, esp=True) == esp_algs, c_child


def by_name(children: list[dict]) -> dict[str, dict]:
    return {ch["name"]: ch for ch in children}


# --------------------------------------------------------------------------- #
# 1. PSK, four proposal families, and PFS on CREATE_CHILD_SA
# --------------------------------------------------------------------------- #

# (IKE proposal, ESP proposal, IKE algorithms, ESP algorithms without and with PFS)
FAMILIES = {
    "aesgcm-x25519": ("aes256gcm16-prfsha256-x25519", "aes256gcm16-x25519",
                      "AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519",
                      "AES_GCM_16-256", "AES_GCM_16-256/CURVE_25519"),
    "aescbc-ecp256": ("aes128-sha256-ecp256", "aes128-sha256-ecp256",
                      "AES_CBC-128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/ECP_256",
                      "AES_CBC-128/HMAC_SHA2_256_128", "AES_CBC-128/HMAC_SHA2_256_128/ECP_256"),
    "aescbc-modp3072": ("aes256-sha384-modp3072", "aes256-sha384-modp3072",
                        "AES_CBC-256/HMAC_SHA2_384_192/PRF_HMAC_SHA2_384/MODP_3072",
                        "AES_CBC-256/HMAC_SHA2_384_192",
                        "AES_CBC-256/HMAC_SHA2_384_192/MODP_3072"),
    "chacha-x448": ("chacha20poly1305-prfsha512-x448", "chacha20poly1305-x448",
                    "CHACHA20_POLY1305/PRF_HMAC_SHA2_512/CURVE_448",
                    "CHACHA20_POLY1305", "CHACHA20_POLY1305/CURVE_448"),
}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_psk_proposals(make_pair, family):
    ike, esp, ike_algs, esp_algs, pfs_algs = FAMILIES[family]
    pair = make_pair(Side(proposals=ike, esp_proposals=esp, web=esp))
    pair.up("net")
    c, i = pair.both_established(1)
    check_ike(pair, c, i, ike_algs)
    # IKE_AUTH's CHILD_SA: no key exchange, whatever the ESP proposal says (RFC 7296 1.2)
    check_child(c["children"][0], i["children"][0], esp_algs)

    # a second CHILD_SA by CREATE_CHILD_SA: PFS with the family's group
    pair.up("web")
    c2, i2 = pair.both_established(2)
    assert (c2["initiator-spi"], c2["responder-spi"]) == (c["initiator-spi"], c["responder-spi"])
    cc, ic = by_name(c2["children"]), by_name(i2["children"])
    check_child(cc["net"], ic["net"], esp_algs)
    check_child(cc["web"], ic["web"], pfs_algs, WEB_TS)
    pair.stop_ikepy_cleanly()


def test_ipv6_outer_addresses(make_pair):
    pair = make_pair(v6=True)
    pair.up()
    c, i = pair.both_established(1)
    check_ike(pair, c, i, "AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519")
    check_child(c["children"][0], i["children"][0], "AES_GCM_16-256")
    assert (c["local-host"], c["remote-host"]) == ("fd00:99::2", "fd00:99::1")
    assert (i["local_addr"], i["remote_addr"]) == ("fd00:99::1", "fd00:99::2")
    pair.stop_ikepy_cleanly()


# --------------------------------------------------------------------------- #
# 2. INVALID_KE_PAYLOAD
# --------------------------------------------------------------------------- #


def test_invalid_ke_retry(make_pair):
    pair = make_pair(Side(proposals="aes256gcm16-prfsha256-x25519-ecp256"),
                     Side(proposals="aes256gcm16-prfsha256-ecp256"))
    pair.up()
    c, i = pair.both_established(1)
    check_ike(pair, c, i, "AES_GCM_16-256/PRF_HMAC_SHA2_256/ECP_256")
    check_child(c["children"][0], i["children"][0], "AES_GCM_16-256")
    stats = pair.ikepy_stats()
    if pair.ikepy_initiates:
        assert "peer prefers key exchange group ECP_256" in pair.ikepy.log()
        assert "DH group CURVE_25519 unacceptable, requesting ECP_256" in pair.charon.log()
    else:
        assert stats.get("invalid_ke_sent") == 1, stats
        assert "peer didn't accept DH group CURVE_25519, it requested ECP_256" \
            in pair.charon.log()
    pair.stop_ikepy_cleanly()


# --------------------------------------------------------------------------- #
# 3. COOKIE
# --------------------------------------------------------------------------- #

# An IKE_SA_INIT request made by ikepy's engine and sent from UDP port 5000,
# whose exchange is never completed: it leaves one half-open IKE_SA at charon.
_HALF_OPEN = r"""
import socket, sys
from ikepy.config import load_config
from ikepy.dataplane.memory import MemoryBackend
from ikepy.ikev2.manager import IkeManager
from ikepy.ikev2.options import ManagerOptions

path, local, remote = sys.argv[1:4]
mgr = IkeManager(load_config(path).config, MemoryBackend(), ManagerOptions(ike_port=5000))
mgr.initiate("net", "net", 0.0)
(packet, _, _), = mgr.datagrams_to_send()
s = socket.socket(socket.AF_INET6 if ":" in local else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((local, 5000))
s.settimeout(5)
s.sendto(packet, (remote, 500))
print(len(s.recv(65535)))
"""


def charon_half_open(pair: Pair) -> None:
    """Leave one half-open (responder) IKE_SA at charon."""
    res = run(pair.topo.left, sys.executable, "-c", _HALF_OPEN, pair.ikepy.config_path,
              pair.topo.left_addr, pair.topo.right_addr, check=False, timeout=15)
    assert res.returncode == 0, res.stdout + res.stderr
    wait_for(lambda: any(sa["state"] == "CONNECTING" for sa in pair.charon.list_sas()), 5,
             what="a half-open IKE_SA at charon")


def test_cookie(make_pair, role):
    if role == IKEPY_INITIATOR:
        # charon demands a COOKIE once `cookie_threshold` (0: never) IKE_SAs are
        # half-open; 1 with one half-open IKE_SA makes it demand one from us
        pair = make_pair(charon_opts="cookie_threshold = 1", charon_log={"net": 2})
        charon_half_open(pair)
    else:
        pair = make_pair(ikepy_args=("--cookie-threshold", "0"))
    pair.up()
    c, i = pair.both_established(1)
    check_ike(pair, c, i, "AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519")
    check_child(c["children"][0], i["children"][0], "AES_GCM_16-256")
    if pair.ikepy_initiates:
        clog = pair.charon.log()
        assert "sending COOKIE notify to 10.99.0.1" in clog, clog
        assert "parsed IKE_SA_INIT request 0 [ N(COOKIE) SA KE" in clog, clog
        assert "peer asked for a COOKIE" in pair.ikepy.log()
    else:
        stats = pair.ikepy_stats()
        assert stats.get("cookies_sent", 0) >= 1, stats
        clog = pair.charon.log()
        assert "parsed IKE_SA_INIT response 0 [ N(COOKIE) ]" in clog, clog
        assert "generating IKE_SA_INIT request 0 [ N(COOKIE) SA KE" in clog, clog
    pair.stop_ikepy_cleanly()


# --------------------------------------------------------------------------- #
# 4. wrong PSK
# --------------------------------------------------------------------------- #


def test_wrong_psk(make_pair):
    pair = make_pair(Side(psk="Initiator-has-this-key-0123456789"),
                     Side(psk="Responder-has-another-key-987654"))
    rc, out = pair.initiate()
    assert rc != 0, out
    assert "AUTHENTICATION_FAILED" in out, out
    if pair.ikepy_initiates:
        assert "check that both sides use the same pre-shared key" in out, out
    else:
        assert "received AUTHENTICATION_FAILED notify error" in out, out
    pair.both_empty()
    clog, ilog = pair.charon.log(), pair.ikepy.log()
    if pair.ikepy_initiates:
        assert "MAC mismatched" in clog and "N(AUTH_FAILED)" in clog, clog
        assert "peer refused our authentication (AUTHENTICATION_FAILED)" in ilog, ilog
    else:
        assert "received AUTHENTICATION_FAILED notify error" in clog, clog
        assert "AUTHENTICATION_FAILED" in ilog and "pre-shared key failed" in ilog, ilog
    assert pair.ikepy_stats().get("auth_failed") == 1
    pair.stop_ikepy_cleanly()


# --------------------------------------------------------------------------- #
# 5. mismatched proposals
# --------------------------------------------------------------------------- #


def test_no_proposal_chosen_ike(make_pair):
    pair = make_pair(Side(proposals="aes256gcm16-prfsha256-x25519"),
                     Side(proposals="aes128-sha256-ecp256"))
    rc, out = pair.initiate()
    assert rc != 0, out
    assert "NO_PROPOSAL_CHOSEN" in out or "N(NO_PROP)" in out, out
    if pair.ikepy_initiates:
        assert "we offered aes256gcm16-prfsha256-x25519" in out, out
    pair.both_empty()
    clog, ilog = pair.charon.log(), pair.ikepy.log()
    if pair.ikepy_initiates:
        assert "received proposals unacceptable" in clog, clog
        assert "peer refused IKE_SA_INIT with NO_PROPOSAL_CHOSEN" in ilog, ilog
    else:
        assert "received NO_PROPOSAL_CHOSEN notify error" in clog, clog
        line = next(x for x in ilog.splitlines() if "NO_PROPOSAL_CHOSEN" in x)
        assert "IKE:aes256gcm16-prfsha256-x25519" in line, line  # offered
        # configured; ikepy spells out the PRF that strongSwan's syntax implies
        assert "IKE:aes128-sha256-prfsha256-ecp256" in line, line
        assert pair.ikepy_stats().get("no_proposal_chosen") == 1
    pair.stop_ikepy_cleanly()


def test_no_proposal_chosen_esp(make_pair):
    """The IKE_SA comes up, its CHILD_SA is refused with NO_PROPOSAL_CHOSEN."""
    pair = make_pair(Side(esp_proposals="aes256gcm16"), Side(esp_proposals="aes128-sha256"))
    rc, out = pair.initiate()
    assert rc != 0, out
    assert "NO_PROPOSAL_CHOSEN" in out, out
    clog, ilog = pair.charon.log(), pair.ikepy.log()
    if pair.ikepy_initiates:
        assert "no acceptable proposal found" in clog, clog
        assert "peer refused CHILD_SA net: NO_PROPOSAL_CHOSEN" in ilog, ilog
    else:
        assert "received NO_PROPOSAL_CHOSEN notify, no CHILD_SA built" in clog, clog
        line = next(x for x in ilog.splitlines() if "no acceptable ESP proposal" in x)
        assert "ESP:aes256gcm16" in line and "ESP:aes128-sha256" in line, line
    # no CHILD_SA on either side; what is left of the IKE_SA must agree
    wait_for(lambda: all(not sa["children"] for sa in pair.charon_sas() + pair.ikepy_sas()), 5,
             what="no CHILD_SA")
    c_ike = {(sa["initiator-spi"], sa["responder-spi"]) for sa in pair.charon_sas()
             if sa["state"] == "ESTABLISHED"}
    wait_for(lambda: c_ike == {(sa["spi_i"], sa["spi_r"]) for sa in pair.ikepy_sas()
                               if sa["state"] == "ESTABLISHED"}, 5,
             what="both sides to agree on the IKE_SA")
    pair.stop_ikepy_cleanly()


# --------------------------------------------------------------------------- #
# 6. narrowed traffic selectors
# --------------------------------------------------------------------------- #


def test_narrowed_traffic_selectors(make_pair):
    pair = make_pair(Side(net_ts=("10.1.0.0/16", "10.2.0.0/16")),
                     Side(net_ts=("10.1.0.0/24", "10.2.0.0/24")))
    pair.up()
    c, i = pair.both_established(1)
    check_ike(pair, c, i, "AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519")
    check_child(c["children"][0], i["children"][0], "AES_GCM_16-256",
                ("10.1.0.0/24", "10.2.0.0/24"))
    pair.stop_ikepy_cleanly()


# --------------------------------------------------------------------------- #
# 7. a second CHILD_SA with PFS
# --------------------------------------------------------------------------- #


def test_second_child_sa_with_pfs(make_pair):
    pair = make_pair(Side(web="aes128gcm16-ecp256"))
    pair.up("net")
    c, i = pair.both_established(1)
    pair.up("web")
    c2, i2 = pair.both_established(2)
    assert (c2["initiator-spi"], c2["responder-spi"]) == (c["initiator-spi"], c["responder-spi"])
    assert (i2["spi_i"], i2["spi_r"]) == (i["spi_i"], i["spi_r"])
    cc, ic = by_name(c2["children"]), by_name(i2["children"])
    assert sorted(cc) == sorted(ic) == ["net", "web"]
    check_child(cc["net"], ic["net"], "AES_GCM_16-256")
    check_child(cc["web"], ic["web"], "AES_GCM_16-128/ECP_256", WEB_TS)
    assert "CREATE_CHILD_SA" in pair.charon.log()
    pair.stop_ikepy_cleanly()


# --------------------------------------------------------------------------- #
# 8. deletes in both directions
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("deleter", ["ikepy", "charon"])
@pytest.mark.parametrize("what", ["child", "ike"])
def test_delete(make_pair, deleter, what):
    pair = make_pair(Side(web="aes128gcm16-ecp256"))
    pair.up("net")
    pair.up("web")
    c, i = pair.both_established(2)
    if deleter == "ikepy":
        res = pair.ikepy.terminate(**{what: "web" if what == "child" else "net"}, check=False)
    else:
        res = pair.charon.terminate(**{what: "web" if what == "child" else "net"}, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    if what == "ike":
        pair.both_empty()
    else:
        c2, i2 = pair.both_established(1)
        assert (c2["initiator-spi"], i2["spi_i"]) == (c["initiator-spi"], i["spi_i"])
        assert [ch["name"] for ch in c2["children"]] == [ch["name"] for ch in i2["children"]] \
            == ["net"]
        check_child(c2["children"][0], i2["children"][0], "AES_GCM_16-256")
    pair.stop_ikepy_cleanly()
