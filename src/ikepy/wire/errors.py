"""Codec errors (RFC 7296 section 2.21 error handling).

Every problem the wire codec finds in bytes from the network (or in a
dataclass handed to a serializer) is raised as a ``CodecError`` subclass that
carries the Notify type the RFC asks to report.  Nothing in ``ikepy.wire``
lets IndexError, struct.error, ValueError or UnicodeDecodeError escape.
"""

from __future__ import annotations

from .enums import NotifyType

__all__ = [
    "CodecError",
    "InvalidMajorVersion",
    "InvalidSyntax",
    "UnsupportedCriticalPayload",
]


class CodecError(Exception):
    """Malformed IKE message; ``notify`` is the error Notify to answer with."""

    notify: NotifyType = NotifyType.INVALID_SYNTAX

    def __init__(self, message: str, notify: NotifyType | None = None) -> None:
        super().__init__(message)
        self.message = message
        if notify is not None:
            self.notify = notify

    @property
    def notify_data(self) -> bytes:
        """Notification Data to send with ``notify`` (empty unless specified)."""
        return b""


class InvalidSyntax(CodecError):
    """INVALID_SYNTAX (7): a length, count or field is structurally wrong."""

    notify = NotifyType.INVALID_SYNTAX


class UnsupportedCriticalPayload(CodecError):
    """UNSUPPORTED_CRITICAL_PAYLOAD (1): an unknown payload had its C bit set.

    RFC 7296 3.10.1: the notification data is the one-octet payload type.
    """

    notify = NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD

    def __init__(self, payload_type: int, message: str | None = None) -> None:
        super().__init__(message or f"unsupported critical payload type {payload_type}")
        self.payload_type = payload_type

    @property
    def notify_data(self) -> bytes:
        return bytes((self.payload_type & 0xFF,))


class InvalidMajorVersion(CodecError):
    """INVALID_MAJOR_VERSION (5): the header's major version is not 2."""

    notify = NotifyType.INVALID_MAJOR_VERSION

    def __init__(self, major: int, minor: int = 0) -> None:
        super().__init__(f"unsupported IKE major version {major}.{minor}")
        self.major = major
        self.minor = minor
