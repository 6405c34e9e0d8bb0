"""Engine events as the runtime sees them: kind, log line, and initiate's filter.

The engine's events carry ``kind`` ('ike_up', 'ike_down', 'child_up',
'child_down', 'failed'), ``ike_name``, ``child_name``, ``reason`` and
``message``; a ``log_prefix`` (name and SPIs, e.g. ``net[1] 1b2c..._i 9f8e..._r``)
or ``spi_i``/``spi_r`` are used for the log line when present. The dataclass
names of docs/contracts.md (IkeSaUp, ...) are understood too.
"""

from __future__ import annotations

from typing import Any

_KIND_BY_CLASS = {
    "IkeSaUp": "ike_up",
    "IkeSaDown": "ike_down",
    "ChildSaUp": "child_up",
    "ChildSaDown": "child_down",
    "NegotiationFailed": "failed",
}


def event_kind(ev: Any) -> str:
    kind = getattr(ev, "kind", None)
    if isinstance(kind, str):
        return kind
    if kind is not None and hasattr(kind, "value"):
        return str(kind.value)
    return _KIND_BY_CLASS.get(type(ev).__name__, type(ev).__name__)


def _hex(v: Any) -> str:
    if isinstance(v, bytes | bytearray):
        return bytes(v).hex()
    if isinstance(v, int):
        return f"{v:016x}"
    return str(v)


def event_prefix(ev: Any) -> str:
    prefix = getattr(ev, "log_prefix", None)
    if prefix:
        return str(prefix)
    name = getattr(ev, "ike_name", None) or getattr(ev, "name", None) or "?"
    parts = [str(name)]
    uid = getattr(ev, "ike_uniqueid", None) or getattr(ev, "uniqueid", None)
    if uid:
        parts[0] += f"[{uid}]"
    spi_i, spi_r = getattr(ev, "spi_i", None), getattr(ev, "spi_r", None)
    if spi_i is not None or spi_r is not None:
        parts.append(f"{_hex(spi_i or b'')}_i {_hex(spi_r or b'')}_r")
    return " ".join(parts)


def event_line(ev: Any) -> str:
    """One log line: '<name[id] [SPIs]>: <engine's message, or kind and child> [(reason)]'."""
    message = getattr(ev, "message", None)
    if message:
        text = str(message)
    else:
        words = [event_kind(ev).replace("_", " ")]
        child = getattr(ev, "child_name", None)
        if child:
            words.append(f"'{child}'")
        text = " ".join(words)
    reason = getattr(ev, "reason", None)
    if reason and str(reason) not in text:
        text += f" ({reason})"
    name = getattr(ev, "ike_name", None) or getattr(ev, "name", None)
    if message and name and text.startswith(str(name)):
        return text  # the engine's message already leads with the SA's name and SPIs
    return f"{event_prefix(ev)}: {text}"


class EventFilter:
    """Which events concern an `initiate` of child_name, and what they mean for it."""

    def __init__(self, child_name: str, ike_name: str | None) -> None:
        self.child_name = child_name
        self.ike_name = ike_name

    def related(self, ev: Any) -> bool:
        child = getattr(ev, "child_name", None)
        ike = getattr(ev, "ike_name", None) or getattr(ev, "name", None)
        if child == self.child_name:
            if ike and self.ike_name is None:
                self.ike_name = ike  # learn the IKE SA the child is negotiated on
            return True
        return child is None and self.ike_name is not None and ike == self.ike_name

    def verdict(self, ev: Any) -> str | None:
        """'up' when the child is up, a failure reason, or None to keep waiting."""
        kind = event_kind(ev)
        child = getattr(ev, "child_name", None)
        if kind == "child_up" and child == self.child_name:
            return "up"
        if kind in ("failed", "ike_down") or (kind == "child_down" and child == self.child_name):
            reason = getattr(ev, "reason", None) or getattr(ev, "message", None) or kind.replace("_", " ")
            what = f"child '{self.child_name}'"
            return f"{what} failed: {reason}"
        return None
