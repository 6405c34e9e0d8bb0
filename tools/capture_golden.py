#!/usr/bin/env python3
"""Capture golden IKEv2 messages and key material from two strongSwan charons.

Run as root (network namespaces), with Debian's strongswan-charon,
strongswan-swanctl, libcharon-extra-plugins, libstrongswan-extra-plugins,
tshark and Python's scapy::

    sudo python tools/capture_golden.py                  # all proposals -> tests/data/golden/
    sudo python tools/capture_golden.py --only aes128-sha256-ecp256 --pcap-dir /tmp/golden

For each IKE proposal, two charons (left initiator 10.99.0.1, right responder
10.99.0.2, PSK, ``encap = yes`` so IKE_AUTH already runs on UDP 4500 with the
non-ESP marker) bring a tunnel up and delete it again while tshark captures on
left's veth. The ``ike`` log group runs at level 4, where charon dumps the DH
shared secret, SKEYSEED, SK_d, SK_a*, SK_e*, SK_p* and the AUTH inputs as hex;
those dumps are parsed into the JSON's ``keys``. The nonces come from the
IKE_SA_INIT messages themselves (charon does not dump them) and are checked
against the AUTH octets charon dumps (RealMessage1 | Nr | prf(SK_pi, IDi')).

The pcap files stay outside the repository (``--pcap-dir``, default a temp dir;
``*.pcap`` is in .gitignore anyway).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "interop"))

from harness import (  # noqa: E402
    CHARON,
    DEFAULT_PSK,
    Charon,
    HarnessError,
    Netns,
    missing_requirements,
    pair_confs,
    parse_hexdumps,
    wait_for,
)

PROPOSALS = [
    ("aes256gcm16-prfsha256-x25519", "aes256gcm16-x25519"),
    ("aes128-sha256-ecp256", "aes128-sha256-ecp256"),
    ("aes256-sha384-modp3072", "aes256-sha384-modp3072"),
    ("chacha20poly1305-prfsha512-x448", "chacha20poly1305-x448"),
]

EXCHANGES = {34: "IKE_SA_INIT", 35: "IKE_AUTH", 36: "CREATE_CHILD_SA", 37: "INFORMATIONAL",
             43: "IKE_INTERMEDIATE"}

# charon's labels at ike level 4 (src/libcharon/sa/ikev2/keymat_v2.c) -> JSON key
KEY_LABELS = {
    "shared Diffie Hellman secret": "g_ir",
    "SKEYSEED": "SKEYSEED",
    "Sk_d secret": "SK_d",
    "Sk_ai secret": "SK_ai",
    "Sk_ar secret": "SK_ar",
    "Sk_ei secret": "SK_ei",
    "Sk_er secret": "SK_er",
    "Sk_pi secret": "SK_pi",
    "Sk_pr secret": "SK_pr",
}


def strongswan_version() -> str:
    out = subprocess.run([str(CHARON), "--version"], capture_output=True, text=True).stdout
    m = re.search(r"strongSwan (\S+)", out)
    return m.group(1) if m else "5.9.x"


def ike_payloads(msg: bytes) -> list[tuple[int, bytes]]:
    """(type, body) of the unencrypted payload chain (enough to find the nonces)."""
    out = []
    nxt, pos = msg[16], 28
    while nxt and pos + 4 <= len(msg):
        ptype = nxt
        nxt, length = msg[pos], int.from_bytes(msg[pos + 2:pos + 4], "big")
        out.append((ptype, msg[pos + 4:pos + length]))
        if ptype == 46:  # SK: last
            break
        pos += length
    return out


def read_ike_messages(pcap: Path) -> list[bytes]:
    """IKE messages (UDP payloads; non-ESP marker stripped on 4500) in capture order."""
    from scapy.all import UDP, rdpcap  # imported late: only this tool needs scapy

    msgs = []
    for pkt in rdpcap(str(pcap)):
        if UDP not in pkt:
            continue
        udp = pkt[UDP]
        data = bytes(udp.payload)
        if 4500 in (udp.sport, udp.dport):
            if len(data) < 4 or data[:4] != b"\0\0\0\0":
                continue  # ESP or a NAT keepalive (0xff)
            data = data[4:]
        if len(data) < 28 or int.from_bytes(data[24:28], "big") != len(data):
            continue
        msgs.append(data)
    return msgs


def extract_keys(log: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The IKE keys and the AUTH computations (in log order) from a charon log."""
    keys: dict[str, str] = {}
    auths: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    for label, data in parse_hexdumps(log):
        if label in KEY_LABELS:
            keys.setdefault(KEY_LABELS[label], data.hex())
        elif label == "IDx'":
            cur = {"IDx'": data.hex()}
        elif label == "octets = message + nonce + prf(Sk_px, IDx')":
            cur["octets"] = data.hex()
        elif label == "prf(secret, keypad)":
            cur["prf(secret, keypad)"] = data.hex()
        elif label == "AUTH = prf(prf(secret, keypad), octets)":
            cur["AUTH"] = data.hex()
            auths.append(cur)
            cur = {}
    return keys, auths


def capture_one(ike: str, esp: str, outdir: Path, pcap_dir: Path, verbose: bool) -> Path:
    topo = Netns.create(tag=f"{os.getpid()}-g")
    work = Path(tempfile.mkdtemp(prefix=f"golden-{ike}-"))
    charons: list[Charon] = []
    tshark = None
    pcap = pcap_dir / f"{ike}.pcap"
    try:
        left_conf, right_conf = pair_confs(topo, proposals=ike, esp_proposals=esp)
        right = Charon(work / "right", "right")
        charons.append(right)
        right.start(topo.right, right_conf, log_levels={"ike": 4})
        left = Charon(work / "left", "left")
        charons.append(left)
        left.start(topo.left, left_conf, log_levels={"ike": 4})

        if pcap.exists():
            pcap.unlink()
        err_path = work / "tshark.err"
        with open(err_path, "wb") as err:
            tshark = topo.popen(topo.left, "tshark", "-i", topo.left_if, "-w", pcap, "-F", "pcap",
                                "-f", "udp port 500 or udp port 4500",
                                stdout=subprocess.DEVNULL, stderr=err)
        wait_for(lambda: "Capturing on" in err_path.read_text(errors="replace"), 15,
                 what="tshark to start capturing")

        left.initiate("net", ike="net", timeout=10)
        sas = left.list_sas()
        assert sas and sas[0]["state"] == "ESTABLISHED", sas
        left.terminate(ike="net", timeout=10)
        wait_for(lambda: right.list_sas() == [], 5, what="right to delete its IKE_SA")
        time.sleep(0.5)
        tshark.send_signal(2)
        tshark.wait(10)

        raw = read_ike_messages(pcap)
        messages = []
        for m in raw:
            flags = m[19]
            messages.append({
                "direction": "i->r" if flags & 0x08 else "r->i",
                "exchange": EXCHANGES.get(m[18], str(m[18])),
                "response": bool(flags & 0x20),
                "message_id": int.from_bytes(m[20:24], "big"),
                "hex": m.hex(),
            })
        shape = [(x["exchange"], x["direction"]) for x in messages]
        want = [("IKE_SA_INIT", "i->r"), ("IKE_SA_INIT", "r->i"), ("IKE_AUTH", "i->r"),
                ("IKE_AUTH", "r->i"), ("INFORMATIONAL", "i->r"), ("INFORMATIONAL", "r->i")]
        if shape != want:
            raise HarnessError(f"{ike}: unexpected message sequence {shape}")

        m1, m2 = raw[0], raw[1]
        ni = next(b for t, b in ike_payloads(m1) if t == 40)
        nr = next(b for t, b in ike_payloads(m2) if t == 40)
        keys, auths = extract_keys(left.log())
        rkeys, _ = extract_keys(right.log())
        if keys != rkeys:
            raise HarnessError(f"{ike}: left and right logged different keys")
        for k in ("g_ir", "SKEYSEED", "SK_d", "SK_ei", "SK_er", "SK_pi", "SK_pr"):
            if k not in keys:
                raise HarnessError(f"{ike}: no {k} in left's log (ike = 4?)")
        keys.setdefault("SK_ai", "")  # AEAD: no integrity keys
        keys.setdefault("SK_ar", "")
        if len(auths) != 2:
            raise HarnessError(f"{ike}: expected 2 AUTH computations in left's log, got {len(auths)}")
        auth_i, auth_r = auths  # left builds its own AUTH first, then verifies right's
        # RFC 7296 2.15: InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI
        assert bytes.fromhex(auth_i["octets"]).startswith(m1 + nr), "octets_i != msg1 | Nr | ..."
        assert bytes.fromhex(auth_r["octets"]).startswith(m2 + ni), "octets_r != msg2 | Ni | ..."

        out = {
            "source": (
                f"captured from strongSwan {strongswan_version()} (Debian) charon-to-charon in "
                f"network namespaces by tools/capture_golden.py on {_dt.date.today().isoformat()}"
            ),
            "ike_proposal": ike,
            "esp_proposal": esp,
            "psk": DEFAULT_PSK,
            "ids": {"IDi": "left", "IDr": "right", "id_type": "FQDN"},
            "addresses": {"i": f"{topo.left_addr}", "r": f"{topo.right_addr}"},
            "notes": (
                "encap = yes: charon fakes NAT-D so IKE_AUTH and INFORMATIONAL run on UDP 4500; "
                "hex is the IKE message without the 4-octet non-ESP marker. SK_ai/SK_ar are "
                "empty for AEAD. AEAD SK_e* include the 4-octet salt. auth.i/auth.r are charon's "
                "AUTH computations (IDx' = ID payload body, octets = signed octets of RFC 7296 2.15)."
            ),
            "messages": messages,
            "keys": {
                "Ni": ni.hex(),
                "Nr": nr.hex(),
                "g_ir": keys["g_ir"],
                "SPIi": m1[0:8].hex(),
                "SPIr": m2[8:16].hex(),
                **{k: keys[k] for k in ("SKEYSEED", "SK_d", "SK_ai", "SK_ar", "SK_ei", "SK_er",
                                         "SK_pi", "SK_pr")},
            },
            "auth": {"i": auth_i, "r": auth_r},
        }
        dest = outdir / f"{ike}.json"
        dest.write_text(json.dumps(out, indent=1) + "\n")
        if verbose:
            print(f"{ike}: {len(messages)} messages -> {dest} (pcap {pcap})")
        return dest
    except BaseException:
        for c in charons:
            sys.stderr.write(f"--- {c.name} log tail ---\n{c.log_tail(30)}\n")
        raise
    finally:
        for c in charons:
            c.stop()
        topo.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "data" / "golden")
    ap.add_argument("--pcap-dir", type=Path, default=None,
                    help="where the pcaps go (default: a new temp dir; never the repo)")
    ap.add_argument("--only", action="append", help="IKE proposal(s) to capture")
    args = ap.parse_args(argv)
    missing = missing_requirements(tshark=True)
    if missing:
        ap.error("missing: " + "; ".join(missing))
    args.out.mkdir(parents=True, exist_ok=True)
    pcap_dir = args.pcap_dir or Path(tempfile.mkdtemp(prefix="ikepy-golden-pcap-"))
    pcap_dir.mkdir(parents=True, exist_ok=True)
    todo = [p for p in PROPOSALS if not args.only or p[0] in args.only]
    for ike, esp in todo:
        capture_one(ike, esp, args.out, pcap_dir, verbose=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
