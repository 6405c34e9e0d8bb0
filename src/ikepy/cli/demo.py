"""`ikepy demo`: a real tunnel in network namespaces, or two peers on loopback.

As root (with ``/dev/net/tun`` and ``ip``), the demo builds two network
namespaces joined by a veth pair (outer 10.99.0.1 <-> 10.99.0.2, inner
10.1.0.1 and 10.2.0.1 on their loopbacks), starts one ``ikepy daemon`` with
the userspace data plane in each (configurations mode 0600 and control sockets
in a private temporary folder), runs ``ikepy initiate``, pings 10.2.0.1 from
10.1.0.1 through the tunnel, prints ``ikepy list-sas`` of both sides with
their counters, and then removes everything it made (daemons stopped with
SIGTERM, namespaces and the folder deleted), also on failure or Ctrl-C.

Otherwise (or with ``--loopback``) it runs the loopback demo: two IkeManagers,
each inside its own daemon ``Runtime``, share one asyncio loop: "left" on
127.0.0.1 and "right" on 127.0.0.2 (Linux answers on all of 127/8), IKE on
port 15500 and NAT-T on 19500, so no root is needed. Left initiates the child
10.1.0.0/24 === 10.2.0.0/24 with a PSK and aes256gcm16-prfsha256-x25519; the
demo prints both sides' list-sas, then deletes the IKE SA and waits for both
sides to see it go. No traffic flows (no data plane).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
import time
from typing import Any

from ikepy.cli.format import format_sas

IKE_PORT = 15500
NATT_PORT = 19500
LEFT_IP, RIGHT_IP = "127.0.0.1", "127.0.0.2"
PSK = secrets.token_hex(24)  # fresh for every run: the demo has no secret to keep


def swanctl_conf(me: str, my_ip: str, peer: str, peer_ip: str, my_net: str, peer_net: str,
                 transport: str | None = None, psk: str | None = None) -> str:
    """One demo side in swanctl.conf syntax; ``transport`` is the line that says how
    IKE and ESP travel (the loopback demo's ports, the namespace demo's encap = no)."""
    if transport is None:
        transport = f"local_port = {IKE_PORT}\n        remote_port = {IKE_PORT}"
    return f"""\
connections {{
    demo {{
        version = 2
        local_addrs = {my_ip}
        remote_addrs = {peer_ip}
        {transport}
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
        secret = "{psk or PSK}"
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


def run_loopback_demo() -> int:
    from ikepy.cli.main import setup_logging

    setup_logging("info")
    try:
        return asyncio.run(run_demo())
    except Exception as exc:  # noqa: BLE001 - the demo reports in words
        print(f"ikepy: demo failed: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 1


def main(loopback: bool = False) -> int:
    """``ikepy demo``: the namespace demo when possible, else the loopback one (says why)."""
    from ikepy.cli.demo_netns import netns_unavailable, run_netns_demo

    if loopback:
        return run_loopback_demo()
    why = netns_unavailable()
    if why is not None:
        print(f"{why}: running the loopback demo (no traffic); "
              "run as root for a real tunnel in network namespaces", flush=True)
        return run_loopback_demo()
    return run_netns_demo()
