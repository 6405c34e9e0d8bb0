"""Threat 1: password guessing against a pre-shared key (SECURITY.md, "Password guessing").

Offline: in IKEv2 the initiator authenticates first. An active attacker who
answers as the responder completes IKE_SA_INIT (its own Diffie-Hellman, so it
holds SK_ei/SK_ai/SK_pi), receives IKE_AUTH and reads

    AUTH = prf(prf(PSK, "Key Pad for IKEv2"), RealMessage1 | Nr | prf(SK_pi, IDi'))

in which everything but the PSK is known to it (RFC 7296 2.15). Guesses are
then tested offline, at any speed, with no further packet:

    # IKE_SA_INIT { SAi1, KEi, Ni, N(NATD_S_IP), N(NATD_D_IP) } -->  (to "the responder")
    # <-- { SAr1, KEr, Nr }                                          (the attacker's own)
    # IKE_AUTH { IDi, IDr, AUTH, SAi2, TSi, TSr } -->                 (captured, decrypted)
    # ... dictionary: for each word w: prf(prf(w, pad), octets) == AUTH ?

The defence is a PSK with enough entropy, which the configuration loader
enforces (config/psk_strength.py; tests/unit/config/test_psk_strength.py),
and certificates/EAP where a human-chosen secret is unavoidable.

Online: a peer that keeps failing authentication is ignored for a back-off
that doubles with each failure (ManagerOptions.auth_failures_allowed and
auth_backoff_max); other peers are unaffected.
"""

from __future__ import annotations

import itertools
import logging

import pytest
from sec_helpers import LEFT, MALLORY, RIGHT, engine, is_up

from ikepy.auth.psk import psk_auth_data
from ikepy.config import ConfigError, load_config_text
from ikepy.crypto.ke import new_key_exchange
from ikepy.crypto.keymat import derive_ike_keys
from ikepy.crypto.prf import Prf
from ikepy.crypto.proposals import ProposalSpec, select_proposal
from ikepy.crypto.sk import SkCipher, unprotect_message
from ikepy.ikev2 import events as ev
from ikepy.ikev2.options import ManagerOptions
from ikepy.ikev2.simulate import DEMO_PSK, Network, swanctl_text
from ikepy.wire.enums import ExchangeType, HeaderFlags
from ikepy.wire.header import IkeHeader
from ikepy.wire.message import Message, parse_message, serialize_message
from ikepy.wire.payloads import AuthPayload, IDiPayload, KePayload, NoncePayload, SaPayload

WEAK_PSK = "Summer2024!"


def wordlist() -> list[str]:
    """A tiny cracking dictionary: common words, capitalised, with years and symbols."""
    words = ["password", "letmein", "welcome", "vpn", "admin", "secret", "spring",
             "summer", "autumn", "winter", "company", "ipsec", "dragon", "monkey"]
    out = []
    for w, year, tail in itertools.product(words, range(2015, 2027), ("", "!", "#", "1")):
        out += [f"{w}{year}{tail}", f"{w.capitalize()}{year}{tail}"]
    return out


class FakeResponder:
    """The attacker: answers IKE_SA_INIT as the responder would, then keeps AUTH."""

    def __init__(self, addr: str) -> None:
        self.addr = addr
        self.out: list[tuple[bytes, tuple[str, int], tuple[str, int]]] = []
        self.captured: dict[str, bytes | int] = {}
        self.state: dict = {}

    # the manager interface simulate.Network drives
    def datagrams_to_send(self):
        out, self.out = self.out, []
        return out

    def next_deadline(self):
        return None

    def handle_timer(self, now):
        pass

    def receive(self, data: bytes, local, remote, now) -> None:
        msg = parse_message(data)
        h = msg.header
        if h.exchange_type == ExchangeType.IKE_SA_INIT:
            sap = next(p for p in msg.payloads if isinstance(p, SaPayload))
            kep = next(p for p in msg.payloads if isinstance(p, KePayload))
            ni = next(p for p in msg.payloads if isinstance(p, NoncePayload)).data
            # accept whatever the victim offers first, with the group it already sent
            prop, sel = select_proposal([ProposalSpec.from_wire(sap.proposals[0])], sap.proposals)
            ke = new_key_exchange(kep.group)
            nr, spi_r = b"N" * 32, b"\x66" * 8
            keys = derive_ike_keys(sel.prf_id, sel.encr_id, sel.encr_key_bits,
                                   sel.integ_id or None, ni, nr, ke.shared_secret(kep.data),
                                   h.spi_i, spi_r)
            self.state = {"keys": keys, "sel": sel, "nr": nr, "init": data}
            reply = Message(IkeHeader(h.spi_i, spi_r, 0, ExchangeType.IKE_SA_INIT,
                                      HeaderFlags.RESPONSE, 0, 0),
                            (SaPayload((prop,)), KePayload(kep.group, ke.public_value),
                             NoncePayload(nr)))
            self.out.append((serialize_message(reply), local, remote))
        elif h.exchange_type == ExchangeType.IKE_AUTH and not self.captured:
            keys, sel = self.state["keys"], self.state["sel"]
            cipher = SkCipher(sel.encr_id, sel.encr_key_bits, sel.integ_id or None,
                              keys.sk_ei, keys.sk_ai)
            inner = unprotect_message(data, msg, cipher)
            idi = next(p for p in inner if isinstance(p, IDiPayload))
            auth = next(p for p in inner if isinstance(p, AuthPayload))
            # RFC 7296 2.15: InitiatorSignedOctets, all known to the attacker
            octets = (self.state["init"] + self.state["nr"]
                      + Prf(sel.prf_id).compute(keys.sk_pi, idi.serialize_body()))
            self.captured = {"auth": auth.data, "octets": octets, "prf": sel.prf_id}
            # no answer: the victim retransmits and eventually gives up


def crack(captured: dict, candidates: list[str]) -> tuple[str | None, int]:
    tried = 0
    for word in candidates:
        tried += 1
        if psk_auth_data(captured["prf"], word.encode(), captured["octets"]) == captured["auth"]:
            return word, tried
    return None, tried


def mount_offline_attack(psk: str, **conn) -> dict:
    victim = engine(LEFT, RIGHT, "left", "right", psk=psk, conn=conn)
    attacker = FakeResponder(RIGHT)
    net = Network()
    net.attach(LEFT, victim)
    net.attach(RIGHT, attacker)  # the attacker answers for the responder's address
    victim.initiate("net", None, net.now)
    net.run(until=lambda: bool(attacker.captured), max_time=30)
    assert attacker.captured, "the victim never sent IKE_AUTH to the fake responder"
    return attacker.captured


def test_offline_dictionary_attack_recovers_a_weak_psk():
    # the operator opted out of the strength check: exactly what the check prevents
    captured = mount_offline_attack(WEAK_PSK, allow_weak_psk="yes")
    found, tried = crack(captured, wordlist())
    assert found == WEAK_PSK, "the dictionary attack should find a weak key offline"
    print(f"\noffline guessing: weak PSK {found!r} found after {tried} guesses, "
          "from one captured IKE_AUTH and no further packet")


def test_offline_dictionary_attack_fails_on_a_strong_psk():
    captured = mount_offline_attack(DEMO_PSK)
    found, tried = crack(captured, [*wordlist(), "Xq7vR2pL9zWtKd4mH8sNb3Jc6f"])
    assert found is None and tried > 1000


def test_defence_the_loader_refuses_the_weak_psk():
    text = swanctl_text(LEFT, RIGHT, "left", "right", "10.1.0.0/24", "10.2.0.0/24", psk=WEAK_PSK)
    with pytest.raises(ConfigError) as exc:
        load_config_text(text, "weak.conf")
    assert "too weak" in str(exc.value) and "allow_weak_psk" in str(exc.value)
    # the same key is refused in TOML syntax too (one builder for both syntaxes)


def test_defence_the_weak_psk_is_refused_in_toml_too():
    toml = f"""
[connections.net]
remote_addrs = ["{RIGHT}"]
[connections.net.local]
auth = "psk"
id = "left"
[connections.net.remote]
auth = "psk"
id = "right"
[secrets.ike-1]
id-1 = "left"
id-2 = "right"
secret = "{WEAK_PSK}"
"""
    with pytest.raises(ConfigError, match="too weak"):
        load_config_text(toml, "weak.toml", fmt="toml")


# ----------------------------------------------------------------- online guessing

def online_setup(opts: ManagerOptions | None = None):
    responder = engine(RIGHT, "%any", "right", "left", options=opts, name="right")
    guesser = engine(MALLORY, RIGHT, "left", "right", psk="Wrong-guess-0-aB3xY9qT7zL2vK5m",
                     name="mallory", local_ts="10.1.0.0/24")
    honest = engine(LEFT, RIGHT, "left", "right", name="left")
    net = Network()
    for ip, m in ((RIGHT, responder), (MALLORY, guesser), (LEFT, honest)):
        net.attach(ip, m)
    return net, responder, guesser, honest


def test_online_guessing_is_backed_off_per_address(caplog):
    caplog.set_level(logging.DEBUG, logger="ikepy")
    net, responder, guesser, honest = online_setup()
    for attempt in range(3):
        guesser.initiate("net", None, net.now)
        net.run(until=lambda: not guesser.sas, max_time=60)
        failed = [e for e in guesser.events() if e.kind == ev.FAILED]
        assert failed and "AUTHENTICATION_FAILED" in failed[-1].reason, attempt
    assert responder.stats()["auth_failed"] == 3
    assert any("3 failed authentications" in r.getMessage() for r in caplog.records)
    # the fourth attempt's IKE_SA_INIT is ignored: no answer, no state, no Diffie-Hellman
    sent_before = responder.stats().get("ike_sa_init_requests", 0)
    guesser.initiate("net", None, net.now)
    net.run(until=lambda: responder.stats().get("dropped_auth_backoff", 0) > 0, max_time=0.5)
    stats = responder.stats()
    assert stats["dropped_auth_backoff"] == 1
    assert stats["ike_sa_init_requests"] == sent_before + 1
    assert stats["ike_sas"] == 0 and stats["ike_sas_half_open"] == 0
    # meanwhile an honest peer from another address connects at once
    honest.initiate("net", None, net.now)
    net.run(until=lambda: is_up(honest) and is_up(responder), max_time=5)
    assert is_up(honest) and is_up(responder)


def test_online_backoff_doubles_and_caps():
    # each failure past the allowance doubles the back-off, up to auth_backoff_max
    opts = ManagerOptions(auth_failures_allowed=3, auth_backoff_max=60.0)
    net, responder, guesser, honest = online_setup(opts)
    start = net.now
    # the guesser tries again as soon as its last attempt is over (it retransmits
    # its ignored IKE_SA_INIT on the usual schedule until the back-off ends)
    while net.now - start < 600:
        guesser.initiate("net", None, net.now)
        net.run(until=lambda: not guesser.sas, max_time=600)
    guesses = responder.stats()["auth_failed"]
    # back-offs 1, 2, 4, ... 32 s, then 60 s each: about 18 guesses in ten minutes,
    # where a responder without back-off would allow thousands
    assert guesses <= 20, guesses
    assert responder.stats()["dropped_auth_backoff"] >= guesses - 3
    failures, until = responder.auth_failures[MALLORY]
    assert failures == guesses and until - net.now <= 60.0
    print(f"\nonline guessing: {guesses} guesses in {net.now - start:.0f} s of simulated time")
