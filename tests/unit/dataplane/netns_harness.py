"""One side of the TUN test, run inside a network namespace (`ip netns exec`).

Does the socket plumbing the daemon would do: a UDP socket on 4500, the
RFC 3948 demux (0xFF keepalive, four-zero-octet non-ESP marker = IKE, anything
else ESP), ``send_udp``; installs one CHILD_SA from the JSON config in argv[1];
prints "ready", runs until stdin closes, then prints a JSON report.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import json
import socket
import sys

from pyroute2 import IPRoute

from ikepy.dataplane.base import ChildSaSpec
from ikepy.dataplane.userspace.backend import UserspaceBackend


def main() -> None:
    cfg = json.loads(sys.argv[1])
    loop = asyncio.new_event_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((cfg["local"], 4500))
    sock.setblocking(False)
    events: list[tuple[str, int]] = []
    keepalives = 0

    def send_udp(data: bytes, src: tuple[str, int], dst: tuple[str, int]) -> None:
        sock.sendto(data, dst)

    be = UserspaceBackend(
        send_udp,
        tun_name="ipsec0",
        mtu=1400,
        on_event=lambda k, r: events.append((k, r)),
        keepalive_interval=cfg.get("keepalive", 20.0),
    )
    be.start(loop)
    spec = ChildSaSpec(
        name="net",
        reqid=1,
        spi_in=cfg["spi_in"],
        spi_out=cfg["spi_out"],
        encr_id=cfg["encr_id"],
        encr_key_in=bytes.fromhex(cfg["key_in"]),
        encr_key_out=bytes.fromhex(cfg["key_out"]),
        integ_id=cfg.get("integ_id"),
        integ_key_in=bytes.fromhex(cfg.get("ikey_in", "")),
        integ_key_out=bytes.fromhex(cfg.get("ikey_out", "")),
        local_addr=ipaddress.ip_address(cfg["local"]),
        remote_addr=ipaddress.ip_address(cfg["remote"]),
        local_ts=(ipaddress.ip_network(cfg["local_ts"]),),
        remote_ts=(ipaddress.ip_network(cfg["remote_ts"]),),
        encap=cfg["encap"],
        esn=cfg.get("esn", False),
    )
    be.add_child_sa(spec)

    def on_udp() -> None:
        nonlocal keepalives
        for _ in range(64):
            try:
                data, addr = sock.recvfrom(65535)
            except BlockingIOError:
                return
            if data == b"\xff":
                keepalives += 1
            elif data[:4] == b"\0\0\0\0":
                pass  # IKE: not ours
            else:
                be.receive_esp(data, addr, (cfg["local"], 4500))

    loop.add_reader(sock.fileno(), on_udp)
    loop.add_reader(sys.stdin.fileno(), loop.stop)  # readable = EOF: the test is done
    print("ready", flush=True)
    loop.run_forever()

    with IPRoute() as ipr:

        def tun_routes() -> list[str]:
            idx = be.tun_index
            return [
                f"{r.get_attr('RTA_DST')}/{r['dst_len']} src {r.get_attr('RTA_PREFSRC')}"
                for r in ipr.get_routes(family=socket.AF_INET)
                if r.get_attr("RTA_OIF") == idx and r.get_attr("RTA_DST")
            ]

        routes_before = tun_routes()
        counters = dataclasses.asdict(be.counters(1))
        be.delete_child_sa(1)
        routes_after = tun_routes()
    report = {
        "stats": be.stats(),
        "counters": counters,
        "events": events,
        "keepalives_received": keepalives,
        "routes_before": routes_before,
        "routes_after": routes_after,
    }
    be.close()
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
