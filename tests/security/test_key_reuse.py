"""Threat 4: key reuse (SECURITY.md, "Key reuse and forward secrecy").

Every key exchange uses a fresh ephemeral key pair (no caching of DH
secrets across SAs, as some implementations did for speed), every nonce
comes from the operating system's CSPRNG (os.urandom via SystemRng) and is
32 octets (RFC 7296 2.10: at least 16 and at least half the PRF's key size),
CREATE_CHILD_SA carries a fresh key exchange when the ESP proposal names a
group (PFS), and SAs never outlive their hard lifetime.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
from sec_helpers import is_up

from ikepy.crypto import ke as ke_mod
from ikepy.crypto.prf import Prf
from ikepy.crypto.transforms import PRF
from ikepy.ikev2 import manager as manager_mod
from ikepy.ikev2.manager import SystemRng
from ikepy.ikev2.options import ManagerOptions
from ikepy.ikev2.simulate import Link, pair
from ikepy.ikev2.tasks import child_create, ike_init, ike_rekey
from ikepy.wire.enums import ExchangeType
from ikepy.wire.message import parse_message
from ikepy.wire.payloads import KePayload, NoncePayload

HANDSHAKES = 200


@pytest.fixture
def recorder(monkeypatch):
    """Wraps new_key_exchange where the engine calls it and SystemRng.bytes."""
    rec: dict[str, list] = {"ke": [], "ke_where": [], "rng": [], "urandom": 0}
    original = ke_mod.new_key_exchange

    def wrap(where):
        def new_key_exchange(group, *a, **kw):
            kx = original(group, *a, **kw)
            rec["ke"].append(kx.public_value)
            rec["ke_where"].append(where)
            return kx
        return new_key_exchange

    for mod in (ike_init, child_create, ike_rekey):
        monkeypatch.setattr(mod, "new_key_exchange", wrap(mod.__name__.rsplit(".", 1)[1]))
    real_bytes = SystemRng.bytes

    def rng_bytes(self, n):
        out = real_bytes(self, n)
        rec["rng"].append(out)
        return out

    monkeypatch.setattr(SystemRng, "bytes", rng_bytes)
    real_urandom = os.urandom

    def urandom(n):
        rec["urandom"] += 1
        return real_urandom(n)

    monkeypatch.setattr(manager_mod.os, "urandom", urandom)
    return rec


def tapped_pair(wire: list, **both):
    link = Link()
    link.taps.append(lambda d, s, t: wire.append(d))
    return pair(link, both=both)


def test_fresh_ephemeral_keys_and_nonces_over_many_handshakes_and_rekeys(recorder):
    wire: list[bytes] = []
    for _ in range(HANDSHAKES):
        net, left, right = tapped_pair(wire)
        left.initiate("net", None, net.now)
        net.run(until=lambda a=left, b=right: is_up(a) and is_up(b))
        assert is_up(left)
    # a few tunnels live for hours: CHILD_SA rekeys with PFS and IKE_SA rekeys
    for _ in range(5):
        net, left, right = tapped_pair(wire, conn={"rekey_time": "1h", "rand_time": "5m"},
                                       child={"rekey_time": "20m", "rand_time": "2m"},
                                       esp="aes256gcm16-x25519")
        left.initiate("net", None, net.now)
        start = net.now
        net.run(until=lambda n=net, t=start: n.now > t + 3 * 3600, max_steps=10**6, max_time=4 * 3600)
    where = Counter(recorder["ke_where"])
    assert where["ike_init"] == 2 * HANDSHAKES + 10
    assert where["child_create"] >= 5 * 8 and where["ike_rekey"] >= 5 * 2, where
    # no public value ever repeats (one per key pair: no key pair reused)
    values = recorder["ke"]
    assert len(values) == len(set(values)), "a key exchange public value was used twice"
    # the cleartext KE payloads on the wire are exactly those fresh values
    init_ke, nonces = [], []
    for d in wire:
        msg = parse_message(d)
        if msg.header.exchange_type != ExchangeType.IKE_SA_INIT:
            continue
        init_ke += [p.data for p in msg.payloads if isinstance(p, KePayload)]
        nonces += [p.data for p in msg.payloads if isinstance(p, NoncePayload)]
    assert len(init_ke) == 2 * (HANDSHAKES + 5) and set(init_ke) <= set(values)
    # nonces: 32 octets, never repeated, straight from SystemRng (os.urandom)
    assert {len(n) for n in nonces} == {32}
    assert len(nonces) == len(set(nonces))
    assert set(nonces) <= set(recorder["rng"])
    assert recorder["urandom"] >= len(recorder["rng"])  # SystemRng.bytes is os.urandom
    print(f"\nkey reuse: {len(values)} key exchanges ({dict(where)}), "
          f"{len(nonces)} IKE_SA_INIT nonces, no value repeated")


def test_nonce_size_meets_rfc7296_2_10_for_every_prf():
    size = ManagerOptions().nonce_size
    assert size >= 16
    for prf_id in PRF:
        assert size >= Prf(prf_id).key_size // 2, prf_id
    # and the engine's default random source is the OS CSPRNG
    net, left, right = pair()
    assert isinstance(left.rng, SystemRng)


def test_hard_lifetime_removes_a_child_sa_that_is_never_rekeyed():
    # rekeying fails (the peer is gone): the CHILD_SA still ends at life_time
    net, left, right = pair(both={"child": {"rekey_time": "10m", "life_time": "15m",
                                            "rand_time": "0"}})
    left.initiate("net", None, net.now)
    net.run(until=lambda: is_up(left) and is_up(right))
    start = net.now
    del net.peers["10.99.0.2"]  # the responder vanishes: no rekey can succeed
    net.run(until=lambda: not left.backend.sas, max_steps=10**5, max_time=3600)
    assert not left.backend.sas
    assert net.now - start <= 15 * 60 + 1, "the CHILD_SA outlived its hard lifetime"
