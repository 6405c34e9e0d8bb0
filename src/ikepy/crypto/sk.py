"""Encrypted payload (SK) protection: RFC 7296 3.14, RFC 5282 (AES-GCM) and
RFC 7634 (ChaCha20-Poly1305).

One ``SkCipher`` per direction of an IKE SA, built once: the AEAD objects
(``AESGCM``, ``ChaCha20Poly1305``), the AES/3DES key object for CBC and a
keyed HMAC context are created in ``__init__`` and reused for every message.

SK body layout (what ``seal`` returns and ``open`` takes)::

    IV | Encrypted( inner payloads | Padding | Pad Length ) | ICV

- AES-CBC / 3DES-CBC + HMAC: random IV (``os.urandom`` or the injected
  ``rng``); the ICV is the truncated HMAC over ``aad_prefix | IV |
  ciphertext``, where ``aad_prefix`` is the IKE header and the SK generic
  payload header as sent (RFC 7296 3.14).
- AES-GCM (8/12/16-octet ICV) and ChaCha20-Poly1305: nonce = salt (last 4
  octets of the key material) | 8-octet IV; AAD = ``aad_prefix``; the ICV is
  the tag (RFC 5282 5.1, RFC 7634 3).  The IV is a per-cipher 64-bit counter
  starting at a random value, so it never repeats under one key, or
  ``rng(8)`` when an ``rng`` is injected (tests).

Padding: the sender pads to the cipher's block size (AEAD: block size 1, so
Pad Length 0) with zero octets; the receiver accepts any padding content and
any Pad Length that fits (RFC 7296 3.14).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Sequence
from hmac import compare_digest
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from ikepy.wire.enums import EncrId, PayloadType
from ikepy.wire.header import HEADER_SIZE, IkeHeader
from ikepy.wire.message import Message, parse_payloads, serialize_payloads
from ikepy.wire.payloads import EncryptedPayload, Payload

from .errors import IntegrityError
from .prf import hash_algorithm
from .transforms import encr_spec, integ_spec

__all__ = ["IntegrityError", "SkCipher", "protect_message", "unprotect_message"]

Rng = Callable[[int], bytes]

_SK_HEADER = struct.Struct("!BBH")
_IV_MASK = (1 << 64) - 1


class SkCipher:
    """Protects (``seal``) or checks and decrypts (``open``) SK bodies for
    one direction of an IKE SA.

    ``encr_key`` includes the 4-octet salt for the AEAD ciphers (as
    ``crypto/keymat.py`` derives it); ``integ_id``/``integ_key`` are None/b""
    for AEAD.
    """

    __slots__ = (
        "encr_id",
        "integ_id",
        "iv_size",
        "icv_size",
        "block_size",
        "aead",
        "_rng",
        "_salt",
        "_aead_obj",
        "_gcm_key",
        "_block_alg",
        "_hmac",
        "_iv_counter",
        "_ivs_left",
    )

    def __init__(
        self,
        encr_id: int,
        encr_key_bits: int,
        integ_id: int | None,
        encr_key: bytes,
        integ_key: bytes = b"",
        *,
        rng: Rng | None = None,
    ) -> None:
        spec = encr_spec(encr_id, encr_key_bits)
        want = spec.key_octets(encr_key_bits)
        if len(encr_key) != want:
            raise ValueError(f"{spec.name} needs {want} octets of key material, got {len(encr_key)}")
        self.encr_id = encr_id
        self.iv_size = spec.iv_size
        self.block_size = spec.block_size
        self.aead = spec.aead
        self._rng = rng
        self._salt = b""
        self._aead_obj: Any = None
        self._gcm_key: Any = None
        self._block_alg: Any = None
        self._hmac: hmac.HMAC | None = None
        self._iv_counter = int.from_bytes(os.urandom(8), "big")
        self._ivs_left = 1 << 64
        if spec.aead:
            if integ_id not in (None, 0):
                raise ValueError(f"{spec.name} is an AEAD cipher; it takes no INTEG transform")
            self.integ_id = None
            self.icv_size = spec.icv_size
            key, self._salt = encr_key[: -spec.salt_size], encr_key[-spec.salt_size :]
            if encr_id == EncrId.CHACHA20_POLY1305:
                self._aead_obj = ChaCha20Poly1305(key)
            elif spec.icv_size == 16:
                self._aead_obj = AESGCM(key)
            else:
                # AESGCM only does 16-octet tags; 8/12-octet ICVs go through the
                # Cipher API with a truncated tag (RFC 4106 / RFC 5282).
                self._gcm_key = algorithms.AES(key)
        else:
            if integ_id is None or integ_id == 0:
                raise ValueError(f"{spec.name} needs an INTEG transform")
            ispec = integ_spec(integ_id)
            if len(integ_key) != ispec.key_size:
                raise ValueError(
                    f"{ispec.name} needs a {ispec.key_size}-octet key, got {len(integ_key)}"
                )
            self.integ_id = integ_id
            self.icv_size = ispec.icv_size
            if encr_id == EncrId.TRIPLE_DES:
                self._block_alg = TripleDES(encr_key)
            else:
                self._block_alg = algorithms.AES(encr_key)
            self._hmac = hmac.HMAC(integ_key, hash_algorithm(ispec.hash_name))

    def __repr__(self) -> str:
        return f"<SkCipher encr={self.encr_id} integ={self.integ_id}>"

    # -- sizes ---------------------------------------------------------------

    def _pad_length(self, plain_len: int) -> int:
        return -(plain_len + 1) % self.block_size

    def body_length(self, plain_len: int) -> int:
        """Octets of the SK body for ``plain_len`` octets of inner payloads:
        IV + padded ciphertext (with the Pad Length octet) + ICV."""
        return self.iv_size + plain_len + self._pad_length(plain_len) + 1 + self.icv_size

    # -- sending ---------------------------------------------------------------

    def _next_iv(self) -> bytes:
        if self._rng is not None:
            return self._rng(self.iv_size)
        if self.aead:
            # Counter IV (RFC 5282 3.1 / RFC 7634 2: must not repeat per key).
            if self._ivs_left == 0:
                raise IntegrityError("AEAD IV space exhausted; the IKE SA must be rekeyed")
            self._ivs_left -= 1
            iv = self._iv_counter.to_bytes(8, "big")
            self._iv_counter = (self._iv_counter + 1) & _IV_MASK
            return iv
        return os.urandom(self.iv_size)

    def seal(self, plaintext: bytes, aad_prefix: bytes) -> bytes:
        """Pad, encrypt and authenticate ``plaintext`` (the serialized inner
        payloads).  ``aad_prefix`` is the IKE header and the SK generic
        payload header exactly as they will be sent (their lengths already
        account for ``body_length(len(plaintext))``)."""
        pad = self._pad_length(len(plaintext))
        padded = plaintext + bytes(pad) + bytes((pad,))
        iv = self._next_iv()
        if self.aead:
            return iv + self._aead_encrypt(iv, padded, aad_prefix)
        cbc = Cipher(self._block_alg, modes.CBC(iv)).encryptor()
        ct = cbc.update(padded) + cbc.finalize()
        assert self._hmac is not None
        h = self._hmac.copy()
        h.update(aad_prefix)
        h.update(iv)
        h.update(ct)
        return iv + ct + h.finalize()[: self.icv_size]

    def _aead_encrypt(self, iv: bytes, data: bytes, aad: bytes) -> bytes:
        """AEAD encryption with nonce = salt | iv; returns ciphertext | ICV."""
        nonce = self._salt + iv
        if self._aead_obj is not None:
            out: bytes = self._aead_obj.encrypt(nonce, data, aad)
            return out
        enc = Cipher(self._gcm_key, modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(aad)
        ct = enc.update(data) + enc.finalize()
        return ct + enc.tag[: self.icv_size]

    def _aead_decrypt(self, iv: bytes, data: bytes, aad: bytes) -> bytes:
        """Inverse of ``_aead_encrypt``; ``IntegrityError`` on a bad tag."""
        nonce = self._salt + iv
        icv_size = self.icv_size
        try:
            if self._aead_obj is not None:
                out: bytes = self._aead_obj.decrypt(nonce, data, aad)
                return out
            dec = Cipher(
                self._gcm_key, modes.GCM(nonce, data[-icv_size:], min_tag_length=icv_size)
            ).decryptor()
            dec.authenticate_additional_data(aad)
            return dec.update(data[:-icv_size]) + dec.finalize()
        except InvalidTag:
            raise IntegrityError("SK payload failed authentication") from None

    # -- receiving -----------------------------------------------------------

    def open(self, body: bytes, aad_prefix: bytes) -> bytes:
        """Check and decrypt an SK body; returns the inner payload octets with
        the padding removed.  Raises ``IntegrityError`` on any failure."""
        iv_size, icv_size = self.iv_size, self.icv_size
        ct_len = len(body) - iv_size - icv_size
        if ct_len < 1 or ct_len % self.block_size:
            raise IntegrityError(f"SK body of {len(body)} octets has an impossible length")
        iv = body[:iv_size]
        if self.aead:
            padded = self._aead_decrypt(iv, body[iv_size:], aad_prefix)
        else:
            assert self._hmac is not None
            h = self._hmac.copy()
            h.update(aad_prefix)
            h.update(body[:-icv_size])
            if not compare_digest(h.finalize()[:icv_size], body[-icv_size:]):
                raise IntegrityError("SK payload ICV mismatch")
            cbc = Cipher(self._block_alg, modes.CBC(iv)).decryptor()
            padded = cbc.update(body[iv_size:-icv_size]) + cbc.finalize()
        pad = padded[-1]
        if pad + 1 > len(padded):
            # Authenticated, so the peer really sent this: a syntax error.
            raise IntegrityError(f"SK Pad Length {pad} exceeds the decrypted data")
        return padded[: len(padded) - pad - 1]


def protect_message(header: IkeHeader, inner: Sequence[Payload], cipher: SkCipher) -> bytes:
    """Serialize ``header`` + SK{inner payloads} and protect it.

    The header's Next Payload and Length are filled in here (RFC 7296 3.14:
    the SK payload is the only/last payload of a protected message).
    """
    first, octets = serialize_payloads(inner)
    sk_len = 4 + cipher.body_length(len(octets))
    aad = (
        header.with_length(PayloadType.SK, HEADER_SIZE + sk_len).serialize()
        + _SK_HEADER.pack(first, 0, sk_len)
    )
    return aad + cipher.seal(octets, aad)


def unprotect_message(raw: bytes, msg: Message, cipher: SkCipher) -> tuple[Payload, ...]:
    """Check and decrypt the SK payload of a parsed message; returns the
    inner payloads.  AAD = raw[:len(raw) - len(sk.data)] because SK is last.

    Raises ``IntegrityError`` (drop silently) or, for a message that
    authenticated but whose inner payloads are malformed, the codec's
    ``CodecError``.
    """
    sk = msg.payloads[-1] if msg.payloads else None
    if not isinstance(sk, EncryptedPayload):
        raise IntegrityError("message has no SK payload")
    raw = bytes(raw[: msg.header.length])
    plain = cipher.open(sk.data, raw[: len(raw) - len(sk.data)])
    return tuple(parse_payloads(sk.first_inner, plain))
