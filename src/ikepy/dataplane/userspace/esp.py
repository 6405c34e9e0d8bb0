"""ESP (RFC 4303) tunnel-mode packet protection, one object per SA direction.

Wire format (RFC 4303 2)::

    SPI(4) | Sequence Number(4) | IV | payload | Padding | Pad Length(1) |
    Next Header(1) | ICV

Transforms (IKEv2 transform ids):
  * AES-GCM with a 16-octet ICV, ENCR_AES_GCM_16 = 20 (RFC 4106): key material
    is key || salt(4); nonce = salt || IV(8); AAD = SPI || SeqNo, or
    SPI || SeqNo-high || SeqNo-low with ESN (RFC 4106 5).
  * ChaCha20-Poly1305, ENCR_CHACHA20_POLY1305 = 28 (RFC 7634): same framing.
  * AES-CBC, ENCR_AES_CBC = 12 (RFC 3602) with HMAC-SHA1-96 (RFC 2404) or
    HMAC-SHA2-256-128 / 384-192 / 512-256 (RFC 4868).  The ICV covers
    SPI .. Next Header, plus the high 32 sequence bits appended (not sent) with
    ESN (RFC 4303 3.3.2.1 / 2.2.1).

Speed notes: cipher objects are built once per SA.  The AEAD IV is the 64-bit
sequence number (allowed by RFC 4106 3.1 / RFC 7634 2; it never repeats
because the sequence number never wraps).  For CBC, one long-lived CBC
encryptor is chained across packets: the first block fed for each packet is
the sequence number, and its ciphertext block becomes the packet's explicit IV
(the IV is then E_K(seq XOR C_prev), unpredictable without the key, as NIST SP
800-38A Appendix C suggests).  Likewise one long-lived CBC decryptor is fed
IV || ciphertext and the first output block discarded.  This saves building a
cipher context per packet (about 17 us each).
"""

from __future__ import annotations

import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import constant_time, hashes
from cryptography.hazmat.primitives import hmac as c_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from ikepy.dataplane.base import DROP_INTEGRITY, DROP_MALFORMED, DROP_PADDING, DROP_REPLAY
from ikepy.dataplane.userspace.replay import ReplayWindow

try:  # the IANA registry lives in wire/; the numbers are fixed by IANA anyway
    from ikepy.wire.enums import EncrId, IntegId

    ENCR_AES_CBC = int(EncrId.AES_CBC)
    ENCR_AES_GCM_16 = int(EncrId.AES_GCM_16)
    ENCR_CHACHA20_POLY1305 = int(EncrId.CHACHA20_POLY1305)
    INTEG_HMAC_SHA1_96 = int(IntegId.HMAC_SHA1_96)
    INTEG_HMAC_SHA2_256_128 = int(IntegId.HMAC_SHA2_256_128)
    INTEG_HMAC_SHA2_384_192 = int(IntegId.HMAC_SHA2_384_192)
    INTEG_HMAC_SHA2_512_256 = int(IntegId.HMAC_SHA2_512_256)
except (ImportError, AttributeError):  # pragma: no cover - wire/ not there yet
    ENCR_AES_CBC = 12
    ENCR_AES_GCM_16 = 20
    ENCR_CHACHA20_POLY1305 = 28
    INTEG_HMAC_SHA1_96 = 2
    INTEG_HMAC_SHA2_256_128 = 12
    INTEG_HMAC_SHA2_384_192 = 13
    INTEG_HMAC_SHA2_512_256 = 14

NH_IPV4 = 4  # IP-in-IP (tunnel mode, IPv4 inner)
NH_IPV6 = 41  # IPv6 inner
NH_NONE = 59  # "no next header": a dummy packet (RFC 4303 2.6), dropped silently

SEQ_MAX_32 = 0xFFFFFFFF
SEQ_MAX_64 = 0xFFFFFFFFFFFFFFFF
_MASK32 = 0xFFFFFFFF

# (hash, key length, ICV length) per RFC 2404 / RFC 4868
INTEG_ALGS: dict[int, tuple[type[hashes.HashAlgorithm], int, int]] = {
    INTEG_HMAC_SHA1_96: (hashes.SHA1, 20, 12),
    INTEG_HMAC_SHA2_256_128: (hashes.SHA256, 32, 16),
    INTEG_HMAC_SHA2_384_192: (hashes.SHA384, 48, 24),
    INTEG_HMAC_SHA2_512_256: (hashes.SHA512, 64, 32),
}
AEAD_ALGS = (ENCR_AES_GCM_16, ENCR_CHACHA20_POLY1305)
SUPPORTED_ENCR = (ENCR_AES_CBC, ENCR_AES_GCM_16, ENCR_CHACHA20_POLY1305)

_HDR = struct.Struct("!II")  # SPI, sequence number (low 32 bits)
_U32 = struct.Struct("!I")
_U64 = struct.Struct("!Q")
_AAD_ESN = struct.Struct("!III")  # SPI, seq high, seq low (RFC 4106 5)
_CBC_SEED = struct.Struct("!QQ")

# Monotonic padding 1, 2, 3, ... (RFC 4303 2.4)
PADS: tuple[bytes, ...] = tuple(bytes(range(1, n + 1)) for n in range(256))


def _trailers(align: int) -> dict[int, tuple[bytes, ...]]:
    """trailer[next_header][pad_len] = Padding || Pad Length || Next Header."""
    return {
        nh: tuple(PADS[p] + bytes((p, nh)) for p in range(align))
        for nh in (NH_IPV4, NH_IPV6, NH_NONE)
    }


_TRAILERS_4 = _trailers(4)
_TRAILERS_16 = _trailers(16)


class EspDrop(Exception):
    """A packet failed a check; ``reason`` is one of the base.DROP_* names."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_E_MALFORMED = EspDrop(DROP_MALFORMED)
_E_REPLAY = EspDrop(DROP_REPLAY)
_E_INTEGRITY = EspDrop(DROP_INTEGRITY)
_E_PADDING = EspDrop(DROP_PADDING)


def _check_keys(encr_id: int, encr_key: bytes, integ_id: int | None, integ_key: bytes) -> None:
    if encr_id == ENCR_AES_GCM_16:
        if len(encr_key) not in (20, 28, 36):
            raise ValueError("AES-GCM key material must be 16/24/32 octets + 4 octets salt")
    elif encr_id == ENCR_CHACHA20_POLY1305:
        if len(encr_key) != 36:
            raise ValueError("ChaCha20-Poly1305 key material must be 32 octets + 4 octets salt")
    elif encr_id == ENCR_AES_CBC:
        if len(encr_key) not in (16, 24, 32):
            raise ValueError("AES-CBC key must be 16/24/32 octets")
    else:
        raise ValueError(f"unsupported ESP encryption transform {encr_id}")
    if encr_id in AEAD_ALGS:
        if integ_id not in (None, 0):
            raise ValueError("an AEAD transform takes no integrity transform")
        return
    if integ_id not in INTEG_ALGS:
        raise ValueError(f"unsupported ESP integrity transform {integ_id}")
    if len(integ_key) != INTEG_ALGS[integ_id][1]:
        raise ValueError(
            f"integrity key for transform {integ_id} must be {INTEG_ALGS[integ_id][1]} octets"
        )


def _aead(encr_id: int, key: bytes) -> AESGCM | ChaCha20Poly1305:
    if encr_id == ENCR_AES_GCM_16:
        return AESGCM(key)
    return ChaCha20Poly1305(key)


# --------------------------------------------------------------------------
# outbound
# --------------------------------------------------------------------------


class EspOutbound:
    """Protects packets for one outbound SA.  ``seal`` returns None once the
    sequence number space is exhausted (never wraps; RFC 4303 3.3.3)."""

    __slots__ = ("spi", "seq", "esn", "max_seq", "overhead", "last", "_spi_b")

    def __init__(self, spi: int, esn: bool) -> None:
        self.spi = spi
        self.last = b""  # the last packet sealed (the backend's hand-off, no tuple per packet)
        self.seq = 0  # last sequence number sent; the first packet carries 1
        self.esn = esn
        self.max_seq = SEQ_MAX_64 if esn else SEQ_MAX_32
        self._spi_b = _U32.pack(spi)
        self.overhead = 0

    @property
    def exhausted(self) -> bool:
        return self.seq >= self.max_seq

    def seal(self, inner: bytes, next_header: int) -> bytes | None:  # pragma: no cover
        raise NotImplementedError


class AeadOutbound(EspOutbound):
    __slots__ = ("_encrypt", "_salt", "_trailers")

    def __init__(self, spi: int, esn: bool, encr_id: int, key: bytes) -> None:
        super().__init__(spi, esn)
        self._encrypt = _aead(encr_id, key[:-4]).encrypt
        self._salt = key[-4:]
        self._trailers = _TRAILERS_4
        self.overhead = 8 + 8 + 3 + 2 + 16

    def seal(self, inner: bytes, next_header: int) -> bytes | None:
        seq = self.seq + 1
        if seq > self.max_seq:
            return None
        self.seq = seq
        iv = _U64.pack(seq)
        if self.esn:
            hdr = self._spi_b + _U32.pack(seq & _MASK32)
            aad = _AAD_ESN.pack(self.spi, seq >> 32, seq & _MASK32)
        else:
            hdr = aad = _HDR.pack(self.spi, seq)
        trailer = self._trailers[next_header][-(len(inner) + 2) & 3]
        return hdr + iv + self._encrypt(self._salt + iv, inner + trailer, aad)


class CbcHmacOutbound(EspOutbound):
    __slots__ = ("_enc", "_hmac", "_icv_len", "_trailers")

    def __init__(self, spi: int, esn: bool, key: bytes, integ_id: int, integ_key: bytes) -> None:
        super().__init__(spi, esn)
        self._enc = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).encryptor().update
        alg, _, icv_len = INTEG_ALGS[integ_id]
        self._hmac = c_hmac.HMAC(integ_key, alg())
        self._icv_len = icv_len
        self._trailers = _TRAILERS_16
        self.overhead = 8 + 16 + 17 + icv_len

    def seal(self, inner: bytes, next_header: int) -> bytes | None:
        seq = self.seq + 1
        if seq > self.max_seq:
            return None
        self.seq = seq
        trailer = self._trailers[next_header][-(len(inner) + 2) & 15]
        # first output block = E(seed ^ C_prev) = this packet's IV (see module doc)
        body = _HDR.pack(self.spi, seq & _MASK32) + self._enc(
            _CBC_SEED.pack(seq, 0x1B5EC0DE) + inner + trailer
        )
        h = self._hmac.copy()
        h.update(body)
        if self.esn:
            h.update(_U32.pack(seq >> 32))  # RFC 4303 2.2.1: high bits in the ICV only
        return body + h.finalize()[: self._icv_len]


# --------------------------------------------------------------------------
# inbound
# --------------------------------------------------------------------------


class EspInbound:
    """Verifies and decrypts packets of one inbound SA.

    ``open(data)`` takes the ESP packet from the SPI on and returns
    ``(inner_packet, next_header)``; it raises :class:`EspDrop` with the reason.
    Order (RFC 4303 3.4.3/3.4.4): replay check, ICV check, window update,
    decrypt (CBC), padding check.
    """

    __slots__ = ("spi", "esn", "replay", "_min_len")

    def __init__(self, spi: int, esn: bool, replay_window: int) -> None:
        self.spi = spi
        self.esn = esn
        self.replay = ReplayWindow(replay_window, esn)
        self._min_len = 0

    def open(self, data: bytes) -> tuple[bytes, int]:  # pragma: no cover
        raise NotImplementedError


class AeadInbound(EspInbound):
    __slots__ = ("_decrypt", "_salt")

    def __init__(self, spi: int, esn: bool, replay_window: int, encr_id: int, key: bytes) -> None:
        super().__init__(spi, esn, replay_window)
        self._decrypt = _aead(encr_id, key[:-4]).decrypt
        self._salt = key[-4:]
        self._min_len = 8 + 8 + 4 + 16  # header, IV, >= one 4-octet block, ICV

    def open(self, data: bytes) -> tuple[bytes, int]:
        if len(data) < self._min_len or (len(data) - 32) & 3:
            raise _E_MALFORMED
        replay = self.replay
        seq = replay.check(_U32.unpack_from(data, 4)[0])
        if seq < 0:
            raise _E_REPLAY
        if self.esn:
            aad = data[:4] + _U32.pack(seq >> 32) + data[4:8]
        else:
            aad = data[:8]
        try:
            pt = self._decrypt(self._salt + data[8:16], data[16:], aad)
        except InvalidTag:
            raise _E_INTEGRITY from None
        replay.update(seq)
        pad_len = pt[-2]
        end = len(pt) - 2 - pad_len
        if end < 0 or (pad_len and pt[end : end + pad_len] != PADS[pad_len]):
            raise _E_PADDING
        return pt[:end], pt[-1]


class CbcHmacInbound(EspInbound):
    __slots__ = ("_dec", "_hmac", "_icv_len")

    def __init__(
        self, spi: int, esn: bool, replay_window: int, key: bytes, integ_id: int, integ_key: bytes
    ) -> None:
        super().__init__(spi, esn, replay_window)
        self._dec = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).decryptor().update
        alg, _, icv_len = INTEG_ALGS[integ_id]
        self._hmac = c_hmac.HMAC(integ_key, alg())
        self._icv_len = icv_len
        self._min_len = 8 + 16 + 16 + icv_len

    def open(self, data: bytes) -> tuple[bytes, int]:
        icv_len = self._icv_len
        n = len(data)
        if n < self._min_len or (n - 8 - icv_len) & 15:
            raise _E_MALFORMED
        replay = self.replay
        seq = replay.check(_U32.unpack_from(data, 4)[0])
        if seq < 0:
            raise _E_REPLAY
        h = self._hmac.copy()
        h.update(data[: n - icv_len])
        if self.esn:
            h.update(_U32.pack(seq >> 32))
        if not constant_time.bytes_eq(h.finalize()[:icv_len], data[n - icv_len :]):
            raise _E_INTEGRITY
        replay.update(seq)
        # feed IV || ciphertext to the chained decryptor, drop the first block
        pt = self._dec(data[8 : n - icv_len])
        pad_len = pt[-2]
        end = len(pt) - 2 - pad_len
        if end < 16 or (pad_len and pt[end : end + pad_len] != PADS[pad_len]):
            raise _E_PADDING
        return pt[16:end], pt[-1]


def make_outbound(
    spi: int, encr_id: int, encr_key: bytes, integ_id: int | None, integ_key: bytes, esn: bool
) -> EspOutbound:
    _check_keys(encr_id, encr_key, integ_id, integ_key)
    if encr_id in AEAD_ALGS:
        return AeadOutbound(spi, esn, encr_id, encr_key)
    assert integ_id is not None
    return CbcHmacOutbound(spi, esn, encr_key, integ_id, integ_key)


def make_inbound(
    spi: int,
    encr_id: int,
    encr_key: bytes,
    integ_id: int | None,
    integ_key: bytes,
    esn: bool,
    replay_window: int,
) -> EspInbound:
    _check_keys(encr_id, encr_key, integ_id, integ_key)
    if encr_id in AEAD_ALGS:
        return AeadInbound(spi, esn, replay_window, encr_id, encr_key)
    assert integ_id is not None
    return CbcHmacInbound(spi, esn, replay_window, encr_key, integ_id, integ_key)
