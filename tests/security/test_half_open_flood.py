"""Threat 5: half-open floods (SECURITY.md, "Denial of service").

A flood of IKE_SA_INIT requests, usually from spoofed addresses, tries to make
the responder compute Diffie-Hellman and keep state for each. The manager's
stateless checks come first (RFC 7296 2.6, strongSwan's knobs):

- once ``cookie_threshold`` SAs are half-open, a request without a valid
  COOKIE gets a stateless N(COOKIE) (HMAC of Ni, IPi, SPIi under a rotating
  secret): no Diffie-Hellman, no allocation;
- ``block_threshold``: at most that many half-open SAs per peer address;
- ``init_limit_half_open``: at most that many in all;
- half-open SAs expire after ``half_open_timeout``.
"""

from __future__ import annotations

import ipaddress
import os
import tracemalloc

import pytest
from sec_helpers import LEFT, RIGHT, engine, init_request, is_up

from ikepy.ikev2.options import ManagerOptions
from ikepy.ikev2.simulate import Network
from ikepy.ikev2.tasks import ike_init
from ikepy.wire.enums import NotifyType
from ikepy.wire.message import parse_message
from ikepy.wire.payloads import NotifyPayload

PORT = 500


@pytest.fixture
def dh_calls(monkeypatch):
    calls = []
    original = ike_init.new_key_exchange

    def counting(group, *a, **kw):
        calls.append(group)
        return original(group, *a, **kw)

    monkeypatch.setattr(ike_init, "new_key_exchange", counting)
    return calls


def responder(**opts):
    return engine(RIGHT, "%any", "right", "left", options=ManagerOptions(**opts), name="right")


def sources(n: int):
    base = ipaddress.ip_address("172.16.0.1")
    return [str(base + i) for i in range(n)]


def flood(mgr, srcs, per_source=1, now=1000.0, drain=True):
    replies = []
    for src in srcs:
        for _ in range(per_source):
            mgr.receive(init_request(os.urandom(8), os.urandom(32)), (RIGHT, PORT), (src, PORT), now)
        if drain:
            replies += mgr.datagrams_to_send()
    return replies


def notify_types(replies):
    out = []
    for data, _, _ in replies:
        msg = parse_message(data)
        out += [p.notify_type for p in msg.payloads if isinstance(p, NotifyPayload)]
    return out


def test_cookies_demanded_once_half_open_reaches_the_threshold(dh_calls):
    mgr = responder(cookie_threshold=10)
    replies = flood(mgr, sources(2000))
    stats = mgr.stats()
    # exactly `cookie_threshold` requests got state and a Diffie-Hellman; the rest a COOKIE
    assert stats["ike_sas_half_open"] == 10 and stats["ike_sas"] == 10
    assert len(dh_calls) == 10
    assert stats["cookies_sent"] == 1990
    assert notify_types(replies).count(NotifyType.COOKIE) == 1990
    # a COOKIE reply is stateless and small (no amplification)
    cookie_replies = [d for d, _, _ in replies if len(d) < 100]
    assert len(cookie_replies) == 1990 and max(map(len, cookie_replies)) <= 60


def test_no_state_and_no_memory_growth_under_a_cookie_flood(dh_calls):
    mgr = responder(cookie_threshold=10)
    flood(mgr, sources(10))  # fill the half-open slots
    assert len(dh_calls) == 10
    flood(mgr, sources(500))  # warm up caches and counters
    requests = [(init_request(os.urandom(8), os.urandom(32)), src) for src in sources(3000)]
    only_ikepy = [tracemalloc.Filter(True, "*/ikepy/*")]
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot().filter_traces(only_ikepy)
        for data, src in requests:
            mgr.receive(data, (RIGHT, PORT), (src, PORT), 1000.0)
            mgr.datagrams_to_send()
        after = tracemalloc.take_snapshot().filter_traces(only_ikepy)
    finally:
        tracemalloc.stop()
    assert len(dh_calls) == 10 and len(mgr.sas) == 10
    grew = sum(s.size_diff for s in after.compare_to(before, "filename"))
    print(f"\nflood of 3000 IKE_SA_INIT past the cookie threshold: memory held by ikepy "
          f"grew by {grew} bytes, 0 Diffie-Hellman")
    assert grew < 16 * 1024, grew


def test_cookie_secret_rotates_and_old_cookies_expire():
    mgr = responder(cookie_threshold=0, cookie_secret_lifetime=60.0)
    spi, ni, src = os.urandom(8), os.urandom(32), "172.16.9.9"
    mgr.receive(init_request(spi, ni), (RIGHT, PORT), (src, PORT), 1000.0)
    (reply,) = mgr.datagrams_to_send()
    cookie = parse_message(reply[0]).payloads[0].data
    # the cookie binds Ni, the address and SPIi: another address can't use it
    mgr.receive(init_request(spi, ni, cookie=cookie), (RIGHT, PORT), ("172.16.9.10", PORT), 1001.0)
    assert mgr.stats()["ike_sas"] == 0
    mgr.datagrams_to_send()
    # still valid after one rotation, refused after two
    mgr.receive(init_request(spi, ni, cookie=cookie), (RIGHT, PORT), (src, PORT), 1070.0)
    assert mgr.stats()["ike_sas"] == 1
    mgr.receive(init_request(os.urandom(8), ni), (RIGHT, PORT), (src, PORT), 1140.0)
    mgr.datagrams_to_send()
    spi2 = os.urandom(8)
    mgr.receive(init_request(spi2, ni, cookie=cookie), (RIGHT, PORT), (src, PORT), 1141.0)
    assert mgr.stats()["ike_sas"] == 1


def test_per_address_cap_even_for_an_attacker_who_answers_cookies(dh_calls):
    mgr = responder(cookie_threshold=0, block_threshold=5)
    src = "172.16.1.1"
    for _ in range(50):
        spi, ni = os.urandom(8), os.urandom(32)
        mgr.receive(init_request(spi, ni), (RIGHT, PORT), (src, PORT), 1000.0)
        (reply,) = mgr.datagrams_to_send()
        cookie = parse_message(reply[0]).payloads[0].data
        mgr.receive(init_request(spi, ni, cookie=cookie), (RIGHT, PORT), (src, PORT), 1000.0)
        mgr.datagrams_to_send()
    stats = mgr.stats()
    assert stats["ike_sas_half_open"] == 5 and len(dh_calls) == 5
    assert stats["dropped_half_open_per_address"] == 45


def test_per_address_cap_without_cookies(dh_calls):
    mgr = responder(cookie_threshold=1000, block_threshold=5)
    flood(mgr, ["172.16.1.1"], per_source=100)
    assert mgr.stats()["dropped_half_open_per_address"] == 95
    assert len(dh_calls) == 5


def test_global_half_open_limit(dh_calls):
    mgr = responder(cookie_threshold=1000, init_limit_half_open=20)
    flood(mgr, sources(300))
    stats = mgr.stats()
    assert stats["ike_sas_half_open"] == 20 and stats["dropped_half_open_limit"] == 280
    assert len(dh_calls) == 20


def test_half_open_sas_expire():
    mgr = responder(cookie_threshold=10, half_open_timeout=30.0)
    flood(mgr, sources(200), now=1000.0)
    assert mgr.stats()["ike_sas_half_open"] == 10
    mgr.handle_timer(1031.0)
    assert mgr.stats()["ike_sas_half_open"] == 0 and mgr.sas == {}
    assert mgr.stats()["half_open_expired"] == 10


def test_a_legitimate_peer_connects_during_the_flood():
    right = responder(cookie_threshold=10)
    left = engine(LEFT, RIGHT, "left", "right", name="left")
    net = Network()
    net.attach(LEFT, left)
    net.attach(RIGHT, right)
    flood(right, sources(3000), now=net.now)
    left.initiate("net", None, net.now)
    net.run(until=lambda: is_up(left), max_time=10)
    assert is_up(left) and is_up(right)
    assert right.stats()["cookies_sent"] >= 2991  # the flood's and one for the honest peer
