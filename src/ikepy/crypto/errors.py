"""Errors raised by ``ikepy.crypto``."""

from __future__ import annotations

from ikepy.wire.enums import NotifyType

__all__ = ["CryptoError", "IntegrityError", "KeyExchangeError"]


class CryptoError(Exception):
    """Base class of the crypto layer's errors."""


class IntegrityError(CryptoError):
    """An SK payload failed its ICV / AEAD tag check, or was malformed.

    The message is unauthenticated: the caller drops it (and counts it);
    RFC 7296 2.21.2 forbids answering it, hence no ``notify``.
    """

    notify: NotifyType | None = None


class KeyExchangeError(CryptoError):
    """The peer's KE value failed the RFC 6989 / length checks.

    RFC 7296 3.4 and RFC 6989 2: answer with INVALID_SYNTAX.
    """

    notify: NotifyType = NotifyType.INVALID_SYNTAX
