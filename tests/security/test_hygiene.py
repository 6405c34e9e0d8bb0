"""Threat 7: secure defaults and hygiene (SECURITY.md, "Secure defaults").

- secrets never reach the log, even at debug level: not the PSK, not SK_d,
  SK_a*, SK_e*, SK_p*, not the CHILD_SA keys;
- a configuration file holding secrets that others can read is warned about;
- RFC 8247: weak algorithms (DES, 3DES, MD5, SHA-1 PRF with MODP-1024, ...)
  are never part of ``default`` and a peer that offers only those gets
  NO_PROPOSAL_CHOSEN (the daemon-level check with ike-scan is in
  test_malformed_daemon.py).
"""

from __future__ import annotations

import logging
import os

from sec_helpers import LEFT, RIGHT, engine, is_up

from ikepy.config import load_config
from ikepy.crypto.proposals import parse_proposals
from ikepy.ikev2 import events as ev
from ikepy.ikev2.simulate import DEMO_PSK, Network, swanctl_text
from ikepy.ikev2.tasks.child_rekey import ChildRekey
from ikepy.wire.enums import EncrId, IntegId, KeId, ProtocolId


def test_secrets_never_logged(caplog):
    caplog.set_level(logging.DEBUG)
    net = Network()
    left = engine(LEFT, RIGHT, "left", "right", esp="aes256gcm16-x25519")
    right = engine(RIGHT, LEFT, "right", "left", esp="aes256gcm16-x25519")
    net.attach(LEFT, left)
    net.attach(RIGHT, right)
    left.initiate("net", None, net.now)
    net.run(until=lambda: is_up(left) and is_up(right))
    (lsa,) = left.sas.values()
    lsa.queue_task(ChildRekey(lsa.children[0]), net.now)
    net.run(until=lambda: not left.busy() and not right.busy(), max_time=30)
    left.terminate_ike("net", net.now)
    net.run(until=lambda: not left.sas, max_time=30)
    secrets = {"psk": DEMO_PSK.encode()}
    k = lsa.keys
    for name in ("sk_d", "sk_ai", "sk_ar", "sk_ei", "sk_er", "sk_pi", "sk_pr"):
        if getattr(k, name):
            secrets[name] = getattr(k, name)
    for i, spec in enumerate(left.backend.history if hasattr(left.backend, "history") else []):
        secrets[f"child{i}"] = spec.encr_key_in
    for spec in list(left.backend.sas.values()):
        secrets["child_in"], secrets["child_out"] = spec.encr_key_in, spec.encr_key_out
    assert len(caplog.records) > 10
    text = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    for name, value in secrets.items():
        for form in {value.hex(), value.hex().upper(), repr(value),
                     value.decode("latin-1") if name == "psk" else value.hex()}:
            assert form not in text, f"{name} appears in the log"
    # events reach control clients: no secrets there either
    evtext = " ".join(e.message + e.reason for e in left.events() + right.events())
    assert DEMO_PSK not in evtext


def test_config_file_readable_by_others_is_warned_about(tmp_path, caplog):
    text = swanctl_text(LEFT, RIGHT, "left", "right", "10.1.0.0/24", "10.2.0.0/24")
    path = tmp_path / "swanctl.conf"
    path.write_text(text)
    os.chmod(path, 0o644)
    loaded = load_config(path)
    assert any("readable by other users" in str(w) and "chmod 600" in str(w)
               for w in loaded.warnings)
    os.chmod(path, 0o600)
    assert not any("readable" in str(w) for w in load_config(path).warnings)


def test_default_proposals_contain_no_weak_algorithm():
    for proto in (ProtocolId.IKE, ProtocolId.ESP):
        for spec in parse_proposals("default", proto):
            assert not {e[0] for e in spec.encr} & {EncrId.TRIPLE_DES, EncrId.DES}
            assert IntegId.HMAC_MD5_96 not in spec.integ
            assert not set(spec.ke) & {KeId.MODP_1024, KeId.MODP_768, KeId.MODP_1536}


def test_legacy_only_initiator_gets_no_proposal_chosen():
    # what ike-scan offers by default: 3DES, SHA-1, MODP-1024 (named explicitly, with a warning)
    net = Network()
    left = engine(LEFT, RIGHT, "left", "right", proposals="3des-sha1-modp1024")
    right = engine(RIGHT, LEFT, "right", "left", proposals="default")
    net.attach(LEFT, left)
    net.attach(RIGHT, right)
    left.initiate("net", None, net.now)
    net.run(max_time=30)
    failed = [e.reason for e in left.events() if e.kind == ev.FAILED]
    assert failed and "NO_PROPOSAL_CHOSEN" in failed[0]
    assert right.stats()["no_proposal_chosen"] == 1 and right.sas == {}
