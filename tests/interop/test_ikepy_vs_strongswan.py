"""ikepy against a real strongSwan, both roles (control plane only, dataplane none).

Data plane traffic (ping through ikepy's userspace ESP) is not covered yet.

    ikepy (left, initiator)  IKE_SA_INIT, IKE_AUTH -->  charon (right, responder)
    charon (left, initiator) IKE_SA_INIT, IKE_AUTH -->  ikepy (right, responder)
"""

from __future__ import annotations

from harness import pair_confs, wait_for


def _established(charon):
    sas = charon.list_sas()
    return sas if sas and sas[0]["state"] == "ESTABLISHED" else None


def test_ikepy_initiates_to_charon(netns, charon_factory, ikepy_factory):
    left_conf, right_conf = pair_confs(netns)
    right = charon_factory(netns.right, right_conf, name="charon-right")
    ikepy = ikepy_factory(netns.left, left_conf, fmt="swanctl", dataplane="none")
    res = ikepy.initiate("net", ike="net", timeout=10)
    assert res.returncode == 0, res.stdout + res.stderr
    (sa,) = wait_for(lambda: _established(right), 5, what="charon's IKE_SA")
    assert sa["remote-id"] == "left"
    (child,) = sa["children"]
    assert child["state"] == "INSTALLED"
    res = ikepy.terminate(ike="net")
    assert res.returncode == 0, res.stdout + res.stderr
    wait_for(lambda: right.list_sas() == [], 5, what="charon to delete the IKE_SA")
    assert ikepy.stop() == 0


def test_charon_initiates_to_ikepy(netns, charon_factory, ikepy_factory):
    left_conf, right_conf = pair_confs(netns)
    ikepy = ikepy_factory(netns.right, right_conf, fmt="swanctl", dataplane="none")
    left = charon_factory(netns.left, left_conf, name="charon-left")
    left.initiate("net", ike="net", timeout=10)
    (sa,) = left.list_sas()
    assert sa["state"] == "ESTABLISHED" and sa["remote-id"] == "right"
    listed = ikepy.list_sas()
    assert len(listed) == 1, listed
    left.terminate(ike="net")
    assert ikepy.stop() == 0


TOML_LEFT = """
[connections.net]
version = 2
local_addrs = "{left}"
remote_addrs = "{right}"
encap = true
proposals = "aes256gcm16-prfsha256-x25519"

[connections.net.local]
auth = "psk"
id = "left"

[connections.net.remote]
auth = "psk"
id = "right"

[connections.net.children.net]
local_ts = "10.1.0.0/24"
remote_ts = "10.2.0.0/24"
esp_proposals = "aes256gcm16-x25519"

[secrets.ike-1]
id-1 = "left"
id-2 = "right"
secret = "{psk}"
"""


def test_ikepy_reads_native_toml_and_initiates_to_charon(netns, charon_factory, ikepy_factory):
    from harness import DEFAULT_PSK

    _, right_conf = pair_confs(netns)
    right = charon_factory(netns.right, right_conf, name="charon-right")
    toml = TOML_LEFT.format(left=netns.left_addr, right=netns.right_addr, psk=DEFAULT_PSK)
    ikepy = ikepy_factory(netns.left, toml, fmt="toml", dataplane="none")
    res = ikepy.initiate("net", ike="net", timeout=10)
    assert res.returncode == 0, res.stdout + res.stderr
    (sa,) = wait_for(lambda: _established(right), 5, what="charon's IKE_SA")
    assert sa["remote-id"] == "left" and sa["children"][0]["state"] == "INSTALLED"
    assert ikepy.stop() == 0
