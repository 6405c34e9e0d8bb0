"""The engine's errors (tier 2 of ../shared/ARCHITECTURE.md rule 5).

An authenticated protocol violation raises ``ProtocolError`` carrying the
notify type the RFC asks for; the task manager turns it into the one reply in
one place.
"""

from __future__ import annotations

from ..wire.enums import NotifyType


class ProtocolError(Exception):
    def __init__(self, notify: int, message: str, data: bytes = b"") -> None:
        super().__init__(message)
        self.notify = notify
        self.data = data

    @property
    def notify_name(self) -> str:
        try:
            return NotifyType(self.notify).name
        except ValueError:
            return str(self.notify)


class NegotiationFailed(Exception):
    """The exchange failed on our side as initiator; the message says why in words."""
