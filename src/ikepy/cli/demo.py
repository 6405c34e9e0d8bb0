"""`ikepy demo`: two peers in one process, over real UDP on loopback.

Two IkeManagers, each inside its own daemon ``Runtime``, share one asyncio
loop: "left" on 127.0.0.1 and "right" on 127.0.0.2 (Linux answers on all of
127/8), IKE on port 15500 and NAT-T on 19500, so no root is needed. Left
initiates the child 10.1.0.0/24 === 10.2.0.0/24 with a PSK and
aes256gcm16-prfsha256-x25519; the demo prints both sides' list-sas, then
deletes the IKE SA and waits for both sides to see it go.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import Any

from ikepy.cli.format import format_sas

IKE_PORT = 15500
NATT_PORT = 19500
LEFT_IP, RIGHT_IP = "127.0.0.1", "127.0.0.2"
PSK = "ikepy-demo-secret-not-for-production"


def swanctl_conf(me: str, my_ip: str, peer: str, peer_ip: str, my_net: str, peer_net: str) -> str:
    return f"""\
connections {{
    demo {{
        version = 2
        local_addrs = {my_ip}
        remote_addrs = {peer_ip}
        local_port = {IKE_PORT}
        remote_port = {IKE_PORT}
        proposals = aes256gcm16-prfsha256-x25519
        local {{
            auth = psk
            id = {me}
        }}
        remote {{
            auth = psk
            id = {peer}
        }}
        children {{
            net {{
                local_ts = {my_net}
                remote_ts = {peer_net}
                esp_proposals = aes256gcm16-x25519
                mode = tunnel
            }}
        }}
    }}
}}
secrets {{
    ike-demo {{
        id-1 = {me}
        id-2 = {peer}
        secret = "{PSK}"
    }}
}}
"""


async def _wait(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.02)


async def run_demo(out: Any = sys.stdout) -> int:
    from ikepy.config import load_config_text
    from ikepy.daemon.runtime import Runtime
    from ikepy.daemon.service import build_manager
    from ikepy.dataplane.memory import MemoryBackend

    sides = {
        "left": swanctl_conf("left", LEFT_IP, "right", RIGHT_IP, "10.1.0.0/24", "10.2.0.0/24"),
        "right": swanctl_conf("right", RIGHT_IP, "left", LEFT_IP, "10.2.0.0/24", "10.1.0.0/24"),
    }
    runtimes: dict[str, Runtime] = {}
    for name, text in sides.items():
        config = load_config_text(text, f"<demo {name}>").config
        backend = MemoryBackend()
        mgr = build_manager(config, backend, IKE_PORT, NATT_PORT, name=name)
        ip = LEFT_IP if name == "left" else RIGHT_IP
        runtimes[name] = Runtime(mgr, backend, addresses=[ip], port=IKE_PORT, port_nat_t=NATT_PORT,
                                 name=name, logger=logging.getLogger(f"ikepy.demo.{name}"))
    left, right = runtimes["left"], runtimes["right"]
    try:
        for rt in runtimes.values():
            await rt.start()
        print(f"left {LEFT_IP}[{IKE_PORT}] initiates child 'net' to right {RIGHT_IP}[{IKE_PORT}]", file=out)
        await left.initiate("net", "demo", timeout=10.0,
                            progress=lambda line: print(f"  left: {line}", file=out))
        await _wait(lambda: bool(right.manager.list_sas()), 5.0, "right never listed its SA")
        for name, rt in runtimes.items():
            print(f"\n=== {name}: ikepy list-sas ===", file=out)
            print(format_sas(rt.list_sas()), file=out)
        print("\nleft deletes the IKE SA", file=out)
        left.terminate_ike("demo")
        await _wait(lambda: not left.manager.list_sas() and not right.manager.list_sas(), 10.0,
                    "the IKE SA was not deleted on both sides")
        print("both sides deleted the IKE SA and its child; done", file=out)
        return 0
    finally:
        for rt in runtimes.values():
            await rt.stop()


def main() -> int:
    from ikepy.cli.main import setup_logging

    setup_logging("info")
    try:
        return asyncio.run(run_demo())
    except Exception as exc:  # noqa: BLE001 - the demo reports in words
        print(f"ikepy: demo failed: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 1
