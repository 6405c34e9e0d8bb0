"""A fake IkeManager with the interface the runtime drives (docs/contracts.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest


@dataclass
class FakeEvent:
    kind: str
    ike_name: str
    child_name: str | None = None
    reason: str = ""
    message: str = ""


class FakeManager:
    def __init__(self) -> None:
        self.received: list[tuple[bytes, Any, Any, float]] = []
        self.outbox: list[tuple[bytes, Any, Any]] = []
        self.queued_events: list[FakeEvent] = []
        self.deadline: float | None = None
        self.timer_calls: list[float] = []
        self.initiated: list[tuple[str, str | None]] = []
        self.on_initiate: Any = None
        self.on_receive: Any = None
        self.shutdown_called = False
        self.busy_flag = False
        self.terminated: list[str] = []

    def receive(self, data: bytes, local: Any, remote: Any, now: float) -> None:
        self.received.append((data, local, remote, now))
        if self.on_receive is not None:
            self.on_receive(self, data, local, remote)

    def initiate(self, child_name: str, ike_name: str | None, now: float) -> int:
        if child_name == "nosuch":
            raise KeyError("no child named 'nosuch' in the loaded configuration")
        self.initiated.append((child_name, ike_name))
        if self.on_initiate is not None:
            self.on_initiate(self, child_name, ike_name)
        return 1

    def terminate_ike(self, name: str, now: float) -> None:
        self.terminated.append(name)

    def terminate_child(self, name: str, now: float) -> None:
        self.terminated.append(name)

    def handle_timer(self, now: float) -> None:
        self.timer_calls.append(now)
        self.deadline = None

    def next_deadline(self) -> float | None:
        return self.deadline

    def datagrams_to_send(self) -> list[tuple[bytes, Any, Any]]:
        out, self.outbox = self.outbox, []
        return out

    def events(self) -> list[FakeEvent]:
        out, self.queued_events = self.queued_events, []
        return out

    def list_sas(self) -> list[dict[str, Any]]:
        return []

    def list_conns(self) -> list[dict[str, Any]]:
        return [{"name": "net", "children": ["net"]}]

    def stats(self) -> dict[str, int]:
        return {"ike_in": len(self.received)}

    def load(self, config: Any) -> str:
        return "1 connection"

    def shutdown(self, now: float) -> None:
        self.shutdown_called = True

    def busy(self) -> bool:
        return self.busy_flag


class FakeBackend:
    def __init__(self) -> None:
        self.esp: list[tuple[bytes, Any, Any]] = []
        self.started = False
        self.closed = False

    def start(self, loop: Any) -> None:
        self.started = True

    def receive_esp(self, data: bytes, src: Any, dst: Any) -> None:
        self.esp.append((data, src, dst))

    def stats(self) -> dict[str, int]:
        return {"esp_drops": 0}

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_manager() -> FakeManager:
    return FakeManager()


@pytest.fixture
def fake_backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def fake_event() -> type[FakeEvent]:
    return FakeEvent
