"""Exchange tests: two sans-I/O engines in memory with a fake clock (RFC 7296 1.2-1.4).

Each test drives a real handshake through ikepy.ikev2.simulate.Network:

    # IKE_SA_INIT { SAi1, KEi, Ni, N(NATD_S_IP), N(NATD_D_IP) } -->
    # <-- { SAr1, KEr, Nr, N(NATD_S_IP), N(NATD_D_IP) }
    # IKE_AUTH { IDi, IDr, AUTH, N(INITIAL_CONTACT), SAi2, TSi, TSr } -->
    # <-- { IDr, AUTH, SAr2, TSi, TSr }
"""

from __future__ import annotations

import pytest

from ikepy.config import load_config_text
from ikepy.ikev2 import events as ev
from ikepy.ikev2.manager import IkeManager
from ikepy.ikev2.options import ManagerOptions
from ikepy.ikev2.simulate import LEFT, RIGHT, Link, pair, swanctl_text
from ikepy.wire.enums import ExchangeType
from ikepy.wire.header import IkeHeader


def make_pair(link: Link | None = None, left_kw: dict | None = None, right_kw: dict | None = None,
              right_opts: ManagerOptions | None = None):
    return pair(link, left=left_kw, right=right_kw, right_options=right_opts)


def up(mgr: IkeManager) -> bool:
    sas = mgr.list_sas()
    return bool(sas) and sas[0]["state"] == "ESTABLISHED" and bool(sas[0]["children"])


def test_handshake_establishes_ike_and_child_sa():
    net, left, right = make_pair()
    left.initiate("net", None, net.now)
    net.run(until=lambda: up(left) and up(right))
    lsa, rsa = left.list_sas()[0], right.list_sas()[0]
    assert lsa["spi_i"] == rsa["spi_i"] and lsa["spi_r"] == rsa["spi_r"]
    assert lsa["algorithms"] == "AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519"
    assert lsa["local_id"] == "left" and lsa["remote_id"] == "right"
    lc, rc = lsa["children"][0], rsa["children"][0]
    assert lc["spi_in"] == rc["spi_out"] and lc["spi_out"] == rc["spi_in"]
    assert lc["local_ts"] == ["10.1.0.0/24"] and lc["remote_ts"] == ["10.2.0.0/24"]
    # both ends installed matching keys: our outbound is their inbound
    lspec = left.backend.sas[lc["reqid"]]
    rspec = right.backend.sas[rc["reqid"]]
    assert lspec.encr_key_out == rspec.encr_key_in and lspec.encr_key_in == rspec.encr_key_out
    assert len(lspec.encr_key_out) == 36  # AES-256 key + 4-octet salt (RFC 4106 8.1)


@pytest.mark.parametrize("ike,esp", [
    ("aes256gcm16-prfsha256-x25519", "aes256gcm16"),
    ("aes128-sha256-ecp256", "aes128-sha256"),
    ("aes256-sha384-modp3072", "aes256-sha384"),
    ("chacha20poly1305-prfsha512-x448", "chacha20poly1305"),
])
def test_proposal_families(ike, esp):
    net, left, right = make_pair(left_kw={"proposals": ike, "esp": esp},
                                 right_kw={"proposals": ike, "esp": esp})
    left.initiate("net", None, net.now)
    net.run(until=lambda: up(left) and up(right))
    assert up(left) and up(right)


def test_invalid_ke_retry_uses_the_responders_group():
    # the initiator's first KE is x25519, the responder only takes ecp256
    net, left, right = make_pair(left_kw={"proposals": "aes256gcm16-prfsha256-x25519-ecp256"},
                                 right_kw={"proposals": "aes256gcm16-prfsha256-ecp256"})
    left.initiate("net", None, net.now)
    net.run(until=lambda: up(left) and up(right))
    assert up(left)
    assert right.stats()["invalid_ke_sent"] == 1
    assert "ECP_256" in left.list_sas()[0]["algorithms"]


def test_cookie_demanded_by_responder():
    net, left, right = make_pair(right_opts=ManagerOptions(cookie_threshold=0))
    left.initiate("net", None, net.now)
    net.run(until=lambda: up(left) and up(right))
    assert up(left) and up(right)
    assert right.stats()["cookies_sent"] == 1


def test_wrong_psk_fails_on_both_sides():
    net, left, right = make_pair(left_kw={"psk": "a-different-secret-entirely-123"})
    left.initiate("net", None, net.now)
    net.run(max_time=60)
    assert left.list_sas() == [] and right.list_sas() == []
    lev = [e for e in left.events() if e.kind == ev.FAILED]
    rev = [e for e in right.events() if e.kind == ev.FAILED]
    assert lev and "AUTHENTICATION_FAILED" in lev[0].reason
    assert rev and "pre-shared key failed" in rev[0].reason


def test_mismatched_proposals_no_proposal_chosen():
    net, left, right = make_pair(left_kw={"proposals": "aes128-sha256-ecp256"},
                                 right_kw={"proposals": "aes256gcm16-prfsha384-x448"})
    left.initiate("net", None, net.now)
    net.run(max_time=60)
    failed = [e for e in left.events() if e.kind == ev.FAILED]
    assert failed and "NO_PROPOSAL_CHOSEN" in failed[0].reason
    assert right.stats()["no_proposal_chosen"] == 1
    assert right.list_sas() == []


def test_traffic_selectors_are_narrowed():
    # the initiator asks for a /16 to the responder's /24: narrowed to what the responder allows
    net, left, right = make_pair(right_kw={}, left_kw={})
    left_cfg = load_config_text(swanctl_text(LEFT, RIGHT, "left", "right", "10.1.0.0/16",
                                             "10.2.0.0/16")).config
    left.config = left_cfg
    left.initiate("net", None, net.now)
    net.run(until=lambda: up(left) and up(right))
    child = left.list_sas()[0]["children"][0]
    assert child["local_ts"] == ["10.1.0.0/24"] and child["remote_ts"] == ["10.2.0.0/24"]


def test_second_child_and_deletes_both_directions():
    extra = "web { local_ts = 10.1.1.0/24\n remote_ts = 10.2.1.0/24\n esp_proposals = aes128gcm16-ecp256 }"
    net, left, right = make_pair(left_kw={"extra_child": extra}, right_kw={
        "extra_child": extra.replace("10.1.1.0/24", "X").replace("10.2.1.0/24", "10.1.1.0/24")
        .replace("X", "10.2.1.0/24")})
    left.initiate("net", None, net.now)
    net.run(until=lambda: up(left) and up(right))
    left.initiate("web", None, net.now)
    net.run(until=lambda: len(right.list_sas()[0]["children"]) == 2
            and len(left.list_sas()[0]["children"]) == 2)
    names = sorted(c["name"] for c in left.list_sas()[0]["children"])
    assert names == ["net", "web"]
    # the PFS key exchange ran: web's ESP proposal names ecp256
    assert "ECP_256" in left.list_sas()[0]["children"][1]["algorithms"]
    # the responder deletes a CHILD_SA ...
    right.terminate_child("web", net.now)
    net.run(until=lambda: len(left.list_sas()[0]["children"]) == 1
            and len(right.list_sas()[0]["children"]) == 1)
    assert [c["name"] for c in right.list_sas()[0]["children"]] == ["net"]
    assert len(left.backend.sas) == 1 and len(right.backend.sas) == 1
    # ... and the initiator deletes the IKE_SA
    left.terminate_ike("net", net.now)
    net.run(until=lambda: not left.list_sas() and not right.list_sas())
    assert left.backend.sas == {} and right.backend.sas == {}


def _handshake_over(link: Link) -> tuple[IkeManager, IkeManager, list[tuple[bytes, int]]]:
    net, left, right = make_pair(link)
    created: list[tuple[bytes, int]] = []
    original = right._init_request

    def spy(raw, msg, local, remote, now):
        created.append((msg.header.spi_i, len(right.sas)))
        return original(raw, msg, local, remote, now)

    right._init_request = spy
    left.initiate("net", None, net.now)
    net.run(until=lambda: up(left) and up(right), max_time=300)
    return left, right, created


@pytest.mark.parametrize("seed", range(8))
def test_lossy_duplicating_reordering_link_never_processes_twice(seed):
    left, right, created = _handshake_over(Link(loss=0.3, duplicate=0.3, reorder=0.3, seed=seed))
    assert up(left) and up(right)
    # one IKE_SA on each side, whatever the network did
    assert len(left.list_sas()) == 1 and len(right.list_sas()) == 1
    assert right.stats()["ike_sas_established"] == 1
    # a duplicated or retransmitted IKE_SA_INIT never reached the stateful path twice:
    # it was answered from the half-open SA's response cache
    assert len(created) == len(set(created))


def test_retransmission_gives_up_with_strongswan_timing():
    net, left, right = make_pair(Link(loss=1.0))
    start = net.now
    left.initiate("net", None, net.now)
    net.run(max_time=1000)
    failed = [e for e in left.events() if e.kind == ev.FAILED]
    assert failed and "did not answer" in failed[0].reason
    # 4 s * (1 + 1.8 + ... + 1.8**5): strongSwan gives up after about 165 s
    assert 160 < net.now - start < 170
    assert left.stats()["retransmits_sent"] == 5


def test_retransmitted_request_answered_from_cache():
    net, left, right = make_pair()
    sent: list[bytes] = []
    net.link.taps.append(lambda data, src, dst: sent.append(data) if dst[0] == "10.99.0.2" else None)
    left.initiate("net", None, net.now)
    net.run(until=lambda: up(left) and up(right))
    auth = [d for d in sent if IkeHeader.parse(d).exchange_type == ExchangeType.IKE_AUTH]
    before = right.stats().get("retransmits_answered", 0)
    right.receive(auth[0], ("10.99.0.2", 4500), ("10.99.0.1", 4500), net.now)
    assert right.stats()["retransmits_answered"] == before + 1
    assert len(right.list_sas()[0]["children"]) == 1  # not processed a second time


def test_late_duplicate_ike_sa_init_creates_no_second_sa():
    net, left, right = make_pair()
    sent: list[bytes] = []
    net.link.taps.append(lambda data, src, dst: sent.append(data) if dst[0] == "10.99.0.2" else None)
    left.initiate("net", None, net.now)
    net.run(until=lambda: up(left) and up(right))
    init = [d for d in sent if IkeHeader.parse(d).exchange_type == ExchangeType.IKE_SA_INIT][0]
    right.receive(init, ("10.99.0.2", 500), ("10.99.0.1", 500), net.now)
    assert len(right.list_sas()) == 1
    assert right.stats()["dropped_bad_message_id"] == 1


def test_load_keeps_matching_sas_and_deletes_the_rest():
    net, left, right = make_pair()
    left.initiate("net", None, net.now)
    net.run(until=lambda: up(left) and up(right))
    # same connection, a new rekey time: the SA stays and follows the new settings
    same = load_config_text(swanctl_text(LEFT, RIGHT, "left", "right", "10.1.0.0/24",
                                         "10.2.0.0/24", conn={"rekey_time": "2h"})).config
    summary = left.load(same, net.now)
    assert summary["ike_sas_kept"] == 1 and summary["ike_sas_deleted"] == 0
    assert left.sas[next(iter(left.sas))].conn.rekey_time == 7200
    # proposals that no longer accept what was negotiated: the SA is deleted with the peer
    other = load_config_text(swanctl_text(LEFT, RIGHT, "left", "right", "10.1.0.0/24",
                                          "10.2.0.0/24", proposals="aes128-sha256-ecp256")).config
    assert left.load(other, net.now)["ike_sas_deleted"] == 1
    net.run(until=lambda: not left.list_sas() and not right.list_sas())
    assert left.backend.sas == {} and right.backend.sas == {}


def test_unknown_critical_payload_inside_sk_is_answered():
    """RFC 7296 2.5: an authenticated request with an unknown critical payload gets
    UNSUPPORTED_CRITICAL_PAYLOAD naming its type, and is not processed."""
    from ikepy.crypto.sk import unprotect_message
    from ikepy.wire.enums import NotifyType
    from ikepy.wire.message import parse_message
    from ikepy.wire.payloads import NotifyPayload, UnknownPayload

    net, left, right = make_pair()
    left.initiate("net", None, net.now)
    net.run(until=lambda: up(left) and up(right))
    (lsa,) = left.sas.values()
    packet = lsa.pack(ExchangeType.INFORMATIONAL, False, lsa.my_mid,
                      [UnknownPayload(200, True, b"boom")])
    right.receive(packet, ("10.99.0.2", 500), ("10.99.0.1", 500), net.now)
    (reply, _, _), = right.datagrams_to_send()
    msg = parse_message(reply)
    (n,) = unprotect_message(reply, msg, lsa.cipher_in)
    assert isinstance(n, NotifyPayload)
    assert n.notify_type == NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD and n.data == bytes([200])
    assert right.stats()["malformed_inner_requests"] == 1
    assert up(right)


def test_retransmit_jitter_shortens_each_wait_within_its_bound():
    opts = ManagerOptions(retransmit_jitter=20.0)
    net, left, right = pair(Link(loss=1.0), left_options=opts)
    left.initiate("net", None, net.now)
    (sa,) = left.sas.values()
    delays = [sa.retransmit_delay(n) for n in range(5) for _ in range(20)]
    for n in range(5):
        base = 4.0 * 1.8 ** n
        ours = delays[n * 20:(n + 1) * 20]
        assert all(0.8 * base <= d <= base for d in ours) and len(set(ours)) > 1


def test_garbage_floods_do_not_flood_the_log(caplog):
    """Log lines caused by unauthenticated datagrams are limited per second and counted."""
    import logging

    net, left, right = make_pair()
    caplog.set_level(logging.INFO, "ikepy.ike")
    for i in range(500):
        right.receive(b"\x00" * 30 + bytes([i % 256]), ("10.99.0.2", 500), ("10.99.0.9", 500),
                      net.now)
    lines = [r for r in caplog.records if "malformed" in r.getMessage()]
    assert len(lines) == 20
    assert right.stats()["dropped_malformed"] == 500
    assert right.stats()["log_lines_suppressed"] == 480
    right.receive(b"\x00" * 31, ("10.99.0.2", 500), ("10.99.0.9", 500), net.now + 1)
    assert "480 similar lines held back" in caplog.records[-1].getMessage()
