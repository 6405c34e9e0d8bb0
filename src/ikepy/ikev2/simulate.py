"""Two engines joined by a simulated network, with a fake clock.

For exchange tests, benchmarks and the loopback demo: deterministic, no
sockets, no sleeping. The link can lose, duplicate and reorder datagrams
(seeded), so the task manager's retransmission and response cache are
exercised the way a bad network would.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .manager import IkeManager


@dataclass
class Link:
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    delay: float = 0.001
    seed: int = 1
    rng: random.Random = field(init=False)
    in_flight: list[tuple[float, int, bytes, tuple[str, int], tuple[str, int]]] = field(
        default_factory=list)
    sent: int = 0
    taps: list[Callable[[bytes, tuple[str, int], tuple[str, int]], None]] = field(
        default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def push(self, now: float, data: bytes, src: tuple[str, int], dst: tuple[str, int]) -> None:
        self.sent += 1
        for tap in self.taps:
            tap(data, src, dst)
        if self.rng.random() < self.loss:
            return
        copies = 2 if self.rng.random() < self.duplicate else 1
        for _ in range(copies):
            delay = self.delay
            if self.rng.random() < self.reorder:
                delay += self.rng.random() * 0.05
            self.in_flight.append((now + delay, self.sent, data, src, dst))


class Network:
    """Routes datagrams between managers by their IKE address (ip only)."""

    def __init__(self, link: Link | None = None, start: float = 1000.0) -> None:
        self.link = link or Link()
        self.now = start
        self.peers: dict[str, IkeManager] = {}

    def attach(self, ip: str, mgr: IkeManager) -> None:
        self.peers[ip] = mgr

    def _flush(self) -> None:
        for mgr in self.peers.values():
            for data, src, dst in mgr.datagrams_to_send():
                self.link.push(self.now, data, src, dst)

    def step(self) -> bool:
        """Advance to the next delivery or timer; False when nothing is left to do."""
        self._flush()
        deadlines = [t for t in (m.next_deadline() for m in self.peers.values()) if t is not None]
        arrival = min((p[0] for p in self.link.in_flight), default=None)
        candidates = [t for t in [arrival, *deadlines] if t is not None]
        if not candidates:
            return False
        self.now = max(self.now, min(candidates))
        if arrival is not None and arrival <= self.now:
            self.link.in_flight.sort(key=lambda p: (p[0], p[1]))
            _, _, data, src, dst = self.link.in_flight.pop(0)
            mgr = self.peers.get(dst[0])
            if mgr is not None:
                mgr.receive(data, dst, src, self.now)
        for mgr in self.peers.values():
            d = mgr.next_deadline()
            if d is not None and d <= self.now:
                mgr.handle_timer(self.now)
        self._flush()
        return True

    def run(self, until: Callable[[], bool] | None = None, max_steps: int = 10000,
            max_time: float = 600.0) -> None:
        end = self.now + max_time
        stuck, last = 0, (self.now, self.link.sent)
        for _ in range(max_steps):
            if until is not None and until():
                return
            if self.now > end or not self.step():
                return
            # an engine whose deadline is due but never acts would spin the daemon's loop
            stuck = stuck + 1 if (self.now, self.link.sent) == last and not self.link.in_flight \
                else 0
            last = (self.now, self.link.sent)
            if stuck > 100:
                raise RuntimeError(f"busy loop: a deadline at {self.now} is due and never cleared")

    def advance(self, to: float) -> None:
        """Deliver and fire everything due up to ``to``, then let the clock reach it
        (time passes even when nothing happens: a fake data plane can act meanwhile)."""
        while True:
            self._flush()
            times = [t for t in (m.next_deadline() for m in self.peers.values()) if t is not None]
            times += [p[0] for p in self.link.in_flight]
            if not times or min(times) > to:
                break
            self.step()
        self.now = max(self.now, to)

    def collect_events(self) -> dict[str, list[Any]]:
        return {ip: m.events() for ip, m in self.peers.items()}


LEFT, RIGHT = "10.99.0.1", "10.99.0.2"
DEMO_PSK = "Xq7vR2pL9zWtKd4mH8sNb3Jc6fYe"


def swanctl_text(me: str, peer: str, my_id: str, peer_id: str, local_ts: str, remote_ts: str,
                 proposals: str = "aes256gcm16-prfsha256-x25519", esp: str = "aes256gcm16-x25519",
                 psk: str = DEMO_PSK, extra_child: str = "", conn: dict[str, Any] | None = None,
                 child: dict[str, Any] | None = None) -> str:
    """One side of a PSK site-to-site pair in swanctl.conf syntax (tests, demo, benchmarks).

    ``conn`` and ``child`` add settings to the connection and to its child ``net``.
    """
    conn_lines = "\n    ".join(f"{k} = {v}" for k, v in (conn or {}).items())
    child_lines = "\n             ".join(f"{k} = {v}" for k, v in (child or {}).items())
    return f"""
connections {{
  net {{
    local_addrs = {me}
    remote_addrs = {peer}
    proposals = {proposals}
    {conn_lines}
    local {{ auth = psk
            id = {my_id} }}
    remote {{ auth = psk
             id = {peer_id} }}
    children {{
      net {{ local_ts = {local_ts}
             remote_ts = {remote_ts}
             esp_proposals = {esp}
             {child_lines} }}
      {extra_child}
    }}
  }}
}}
secrets {{ ike-1 {{ id-1 = {my_id}
                   id-2 = {peer_id}
                   secret = "{psk}" }} }}
"""


def pair(link: Link | None = None, left: dict[str, Any] | None = None,
         right: dict[str, Any] | None = None, both: dict[str, Any] | None = None,
         right_options: Any = None, left_options: Any = None, backend: Any = None
         ) -> tuple[Network, IkeManager, IkeManager]:
    """Two engines, left 10.99.0.1 (10.1.0.0/24) and right 10.99.0.2 (10.2.0.0/24).

    ``left``/``right``/``both`` are keyword arguments of ``swanctl_text``.
    """
    from ..config import load_config_text
    from ..dataplane.memory import MemoryBackend

    make_backend = backend or MemoryBackend
    lkw = {**(both or {}), **(left or {})}
    rkw = {**(both or {}), **(right or {})}
    lcfg = load_config_text(swanctl_text(LEFT, RIGHT, "left", "right", "10.1.0.0/24",
                                         "10.2.0.0/24", **lkw), "<left>").config
    rcfg = load_config_text(swanctl_text(RIGHT, LEFT, "right", "left", "10.2.0.0/24",
                                         "10.1.0.0/24", **rkw), "<right>").config
    net = Network(link)
    lm = IkeManager(lcfg, make_backend(), options=left_options, name="left")
    rm = IkeManager(rcfg, make_backend(), options=right_options, name="right")
    net.attach(LEFT, lm)
    net.attach(RIGHT, rm)
    return net, lm, rm
