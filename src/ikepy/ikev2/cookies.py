"""COOKIEs (RFC 7296 2.6): a responder under load makes the initiator prove its
address before any state or Diffie-Hellman.

    Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>)

HMAC-SHA256 keyed with a secret from the engine's random source, rotated
every ``lifetime`` seconds; a cookie made with the previous secret is still
accepted, so a rotation does not fail an initiator caught in between.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from cryptography.hazmat.primitives import constant_time, hashes, hmac

COOKIE_SIZE = 17  # one octet of secret version, 16 of MAC


class CookieJar:
    def __init__(self, rng: Any, lifetime: float) -> None:
        self._rng = rng
        self._lifetime = lifetime
        self._secrets: list[tuple[int, bytes, float]] = []  # (version, secret, since)

    def _current(self, now: float) -> tuple[int, bytes]:
        secrets = self._secrets
        if not secrets or now - secrets[-1][2] > self._lifetime:
            version = (secrets[-1][0] + 1) % 256 if secrets else 0
            secrets.append((version, self._rng.bytes(32), now))
            del secrets[:-2]  # the current secret and the one before it
        return secrets[-1][0], secrets[-1][1]

    @staticmethod
    def _mac(secret: bytes, ni: bytes, ip: str, spi_i: bytes) -> bytes:
        mac = hmac.HMAC(secret, hashes.SHA256())
        mac.update(ni + ipaddress.ip_address(ip).packed + spi_i)
        return mac.finalize()[:COOKIE_SIZE - 1]

    def make(self, ni: bytes, ip: str, spi_i: bytes, now: float) -> bytes:
        version, secret = self._current(now)
        return bytes([version]) + self._mac(secret, ni, ip, spi_i)

    def valid(self, cookie: bytes, ni: bytes, ip: str, spi_i: bytes, now: float) -> bool:
        self._current(now)
        if len(cookie) != COOKIE_SIZE:
            return False
        for version, secret, _ in self._secrets:
            if cookie[0] == version:
                return constant_time.bytes_eq(cookie[1:], self._mac(secret, ni, ip, spi_i))
        return False
