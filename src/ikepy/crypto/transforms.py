"""Registries of the IKEv2 transforms ikepy implements, keyed by IANA id.

Each registry maps the transform id of the IANA "IKEv2 Transform Type N"
registry (RFC 7296 section 3.3.2, with the ids added by RFC 5282, RFC 5903,
RFC 7634 and RFC 8031) to a small frozen spec.  The primitives themselves
come from OpenSSL through ``cryptography``; this module only says what sizes
they have.

``weak=True`` marks the algorithms RFC 8247 says must not be used any more
(3DES, HMAC-MD5, MODP groups under 2048 bits).  They stay registered so that
an operator who names one explicitly can still interoperate with an old peer;
``crypto/proposals.py`` never offers or accepts them otherwise and warns when
they are named.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ikepy.wire.enums import EncrId, IntegId, KeId, PrfId

__all__ = [
    "ENCR",
    "INTEG",
    "KE",
    "PRF",
    "EncrSpec",
    "IntegSpec",
    "KeSpec",
    "PrfSpec",
    "encr_spec",
    "integ_spec",
    "ke_spec",
    "prf_spec",
    "UnsupportedTransform",
]


class UnsupportedTransform(ValueError):
    """A transform id (or key size) that this registry does not implement."""


@dataclass(frozen=True, slots=True)
class EncrSpec:
    """Transform Type 1 (ENCR).

    ``key_sizes`` are in bits, without the salt.  ``block_size`` is the
    alignment the SK payload padding is computed for (RFC 7296 3.14); it is 1
    for the AEAD modes, which are counter modes (strongSwan does the same).
    ``salt_size`` is the number of octets taken from KEYMAT after the key for
    the implicit nonce part (RFC 5282 section 7.1, RFC 7634 section 2).
    ``key_attr`` says whether a Key Length attribute is sent (RFC 7296 3.3.5:
    only for variable-key-length ciphers such as AES).
    """

    name: str
    transform_id: int
    key_sizes: tuple[int, ...]
    block_size: int
    iv_size: int
    aead: bool
    icv_size: int
    salt_size: int
    key_attr: bool
    weak: bool = False

    def key_octets(self, key_bits: int) -> int:
        """Octets of KEYMAT this cipher consumes: key plus salt."""
        return key_bits // 8 + self.salt_size


@dataclass(frozen=True, slots=True)
class PrfSpec:
    """Transform Type 2 (PRF).  HMAC-based, so the preferred key size equals
    the output size (RFC 7296 2.14: SK_d, SK_pi and SK_pr have that length)."""

    name: str
    transform_id: int
    hash_name: str
    output_size: int
    key_size: int
    weak: bool = False


@dataclass(frozen=True, slots=True)
class IntegSpec:
    """Transform Type 3 (INTEG): HMAC truncated to ``icv_size`` octets."""

    name: str
    transform_id: int
    hash_name: str
    key_size: int
    icv_size: int
    weak: bool = False


KeKind = Literal["modp", "ecp", "x25519", "x448"]


@dataclass(frozen=True, slots=True)
class KeSpec:
    """Transform Type 4 (KE).  ``public_size`` is the fixed length of the KE
    payload data and ``secret_size`` the length of g^ir."""

    name: str
    transform_id: int
    kind: KeKind
    bits: int
    public_size: int
    secret_size: int
    weak: bool = False


def _encr(*specs: EncrSpec) -> dict[int, EncrSpec]:
    return {s.transform_id: s for s in specs}


# IANA "Transform Type 1 - Encryption Algorithm Transform IDs".
ENCR: dict[int, EncrSpec] = _encr(
    # RFC 2451; weak per RFC 8247 (64-bit block).
    EncrSpec("ENCR_3DES", EncrId.TRIPLE_DES, (192,), 8, 8, False, 0, 0, False, weak=True),
    # RFC 3602
    EncrSpec("ENCR_AES_CBC", EncrId.AES_CBC, (128, 192, 256), 16, 16, False, 0, 0, True),
    # RFC 4106 / RFC 5282: 8-octet explicit IV, 4-octet salt.
    EncrSpec("ENCR_AES_GCM_8", EncrId.AES_GCM_8, (128, 192, 256), 1, 8, True, 8, 4, True),
    EncrSpec("ENCR_AES_GCM_12", EncrId.AES_GCM_12, (128, 192, 256), 1, 8, True, 12, 4, True),
    EncrSpec("ENCR_AES_GCM_16", EncrId.AES_GCM_16, (128, 192, 256), 1, 8, True, 16, 4, True),
    # RFC 7634: 256-bit key, 4-octet salt, 8-octet IV, 16-octet tag.
    EncrSpec("ENCR_CHACHA20_POLY1305", EncrId.CHACHA20_POLY1305, (256,), 1, 8, True, 16, 4, False),
)

# IANA "Transform Type 2 - Pseudorandom Function Transform IDs".
PRF: dict[int, PrfSpec] = {
    s.transform_id: s
    for s in (
        PrfSpec("PRF_HMAC_MD5", PrfId.HMAC_MD5, "md5", 16, 16, weak=True),
        PrfSpec("PRF_HMAC_SHA1", PrfId.HMAC_SHA1, "sha1", 20, 20),
        PrfSpec("PRF_HMAC_SHA2_256", PrfId.HMAC_SHA2_256, "sha256", 32, 32),
        PrfSpec("PRF_HMAC_SHA2_384", PrfId.HMAC_SHA2_384, "sha384", 48, 48),
        PrfSpec("PRF_HMAC_SHA2_512", PrfId.HMAC_SHA2_512, "sha512", 64, 64),
    )
}

# IANA "Transform Type 3 - Integrity Algorithm Transform IDs" (RFC 2403,
# RFC 2404, RFC 4868).
INTEG: dict[int, IntegSpec] = {
    s.transform_id: s
    for s in (
        IntegSpec("AUTH_HMAC_MD5_96", IntegId.HMAC_MD5_96, "md5", 16, 12, weak=True),
        IntegSpec("AUTH_HMAC_SHA1_96", IntegId.HMAC_SHA1_96, "sha1", 20, 12),
        IntegSpec("AUTH_HMAC_SHA2_256_128", IntegId.HMAC_SHA2_256_128, "sha256", 32, 16),
        IntegSpec("AUTH_HMAC_SHA2_384_192", IntegId.HMAC_SHA2_384_192, "sha384", 48, 24),
        IntegSpec("AUTH_HMAC_SHA2_512_256", IntegId.HMAC_SHA2_512_256, "sha512", 64, 32),
    )
}

# IANA "Transform Type 4 - Key Exchange Method Transform IDs".
KE: dict[int, KeSpec] = {
    s.transform_id: s
    for s in (
        # RFC 2409 group 2; weak per RFC 8247.
        KeSpec("MODP_1024", KeId.MODP_1024, "modp", 1024, 128, 128, weak=True),
        # RFC 3526
        KeSpec("MODP_2048", KeId.MODP_2048, "modp", 2048, 256, 256),
        KeSpec("MODP_3072", KeId.MODP_3072, "modp", 3072, 384, 384),
        KeSpec("MODP_4096", KeId.MODP_4096, "modp", 4096, 512, 512),
        KeSpec("MODP_6144", KeId.MODP_6144, "modp", 6144, 768, 768),
        KeSpec("MODP_8192", KeId.MODP_8192, "modp", 8192, 1024, 1024),
        # RFC 5903: public value x || y, shared secret x.
        KeSpec("ECP_256", KeId.ECP_256, "ecp", 256, 64, 32),
        KeSpec("ECP_384", KeId.ECP_384, "ecp", 384, 96, 48),
        KeSpec("ECP_521", KeId.ECP_521, "ecp", 521, 132, 66),
        # RFC 8031
        KeSpec("CURVE25519", KeId.CURVE25519, "x25519", 255, 32, 32),
        KeSpec("CURVE448", KeId.CURVE448, "x448", 448, 56, 56),
    )
}


def encr_spec(transform_id: int, key_bits: int | None = None) -> EncrSpec:
    """Look up an ENCR transform; with ``key_bits`` also check the size."""
    try:
        spec = ENCR[transform_id]
    except KeyError:
        raise UnsupportedTransform(f"unsupported ENCR transform {transform_id}") from None
    if key_bits is not None and key_bits not in spec.key_sizes:
        raise UnsupportedTransform(f"{spec.name} does not support a {key_bits}-bit key")
    return spec


def prf_spec(transform_id: int) -> PrfSpec:
    try:
        return PRF[transform_id]
    except KeyError:
        raise UnsupportedTransform(f"unsupported PRF transform {transform_id}") from None


def integ_spec(transform_id: int) -> IntegSpec:
    try:
        return INTEG[transform_id]
    except KeyError:
        raise UnsupportedTransform(f"unsupported INTEG transform {transform_id}") from None


def ke_spec(transform_id: int) -> KeSpec:
    try:
        return KE[transform_id]
    except KeyError:
        raise UnsupportedTransform(f"unsupported KE transform {transform_id}") from None
