"""In-memory data plane: records what the engine installs (the test double).

It carries no traffic: counters stay zero unless a test sets them through
:meth:`MemoryBackend.set_counters`.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from ikepy.dataplane.base import DROP_REASONS, ChildSaSpec, SaCounters, TrapSpec, UnknownSa

MIN_SPI = 256  # RFC 4303 2.1: 1..255 are reserved by IANA, 0 is never sent


class MemoryBackend:
    """Implements :class:`ikepy.dataplane.base.Backend` in memory.

    ``rng`` (anything with ``getrandbits``) makes SPI allocation deterministic
    in tests; ``on_event(kind, reqid)`` is stored so tests can raise events
    themselves through :meth:`fire`.
    """

    def __init__(
        self,
        rng: random.Random | None = None,
        on_event: Callable[[str, int], None] | None = None,
    ) -> None:
        self._rng = rng or random.SystemRandom()
        self.on_event = on_event
        self.sas: dict[int, ChildSaSpec] = {}
        self.allocated_spis: set[int] = set()
        self.log: list[tuple[str, object]] = []  # ("add"|"update"|"delete"|"alloc"|"release", arg)
        self._counters: dict[int, SaCounters] = {}
        self._stats = dict.fromkeys(DROP_REASONS, 0)
        self.traps: dict[int, TrapSpec] = {}
        self.closed = False

    def install_trap(self, spec: TrapSpec) -> None:
        self.traps[spec.trap_id] = spec
        self.log.append(("trap", spec.trap_id))

    def uninstall_trap(self, trap_id: int) -> None:
        self.traps.pop(trap_id, None)
        self.log.append(("untrap", trap_id))

    def alloc_spi(self) -> int:
        while True:
            spi = self._rng.getrandbits(32)
            if spi >= MIN_SPI and spi not in self.allocated_spis:
                self.allocated_spis.add(spi)
                self.log.append(("alloc", spi))
                return spi

    def release_spi(self, spi: int) -> None:
        self.allocated_spis.discard(spi)
        self.log.append(("release", spi))

    def add_child_sa(self, spec: ChildSaSpec) -> None:
        if spec.reqid in self.sas:
            raise ValueError(f"reqid {spec.reqid} already installed")
        if any(s.spi_in == spec.spi_in for s in self.sas.values()):
            raise ValueError(f"inbound SPI {spec.spi_in:#010x} already installed")
        self.allocated_spis.add(spec.spi_in)
        self.sas[spec.reqid] = spec
        self._counters[spec.reqid] = SaCounters()
        self.log.append(("add", spec))

    def update_child_sa(self, spec: ChildSaSpec) -> None:
        if spec.reqid not in self.sas:
            raise UnknownSa(spec.reqid)
        self.sas[spec.reqid] = spec
        self.log.append(("update", spec))

    def delete_child_sa(self, reqid: int) -> None:
        spec = self.sas.pop(reqid, None)
        if spec is None:
            raise UnknownSa(reqid)
        self._counters.pop(reqid, None)
        self.allocated_spis.discard(spec.spi_in)
        self.log.append(("delete", reqid))

    def counters(self, reqid: int) -> SaCounters:
        try:
            return self._counters[reqid]
        except KeyError:
            raise UnknownSa(reqid) from None

    def set_counters(self, reqid: int, counters: SaCounters) -> None:
        """Test hook: pretend traffic flowed."""
        if reqid not in self.sas:
            raise UnknownSa(reqid)
        self._counters[reqid] = counters

    def fire(self, kind: str, reqid: int) -> None:
        """Test hook: raise a lifetime event as a real backend would."""
        if self.on_event is not None:
            self.on_event(kind, reqid)

    def stats(self) -> dict[str, int]:
        return dict(self._stats)

    def close(self) -> None:
        self.closed = True
        self.sas.clear()
        self._counters.clear()
