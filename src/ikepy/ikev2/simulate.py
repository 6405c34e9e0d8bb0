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
        for _ in range(max_steps):
            if until is not None and until():
                return
            if self.now > end or not self.step():
                return

    def collect_events(self) -> dict[str, list[Any]]:
        return {ip: m.events() for ip, m in self.peers.items()}
