"""IKEv2 key derivation: SKEYSEED and SK_* (RFC 7296 2.14), rekeyed IKE SA
keys (2.18) and Child SA KEYMAT (2.17).

Key sizes come from the transform registries: SK_d, SK_pi and SK_pr are the
PRF's preferred key size, SK_a* the integrity key size, SK_e* the cipher key
plus, for the AEAD ciphers, the 4-octet salt (RFC 5282 7.1, RFC 7634 2), which
stays appended to the key here and is split off by ``crypto/sk.py`` or the
data plane.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from .prf import Prf
from .transforms import encr_spec, integ_spec

__all__ = [
    "ChildKeys",
    "IkeKeys",
    "derive_child_keys",
    "derive_ike_keys",
    "derive_rekeyed_ike_keys",
    "encr_key_octets",
    "integ_key_octets",
]


def _redacted_repr(obj: object) -> str:
    parts = ", ".join(f"{f.name}=<{len(getattr(obj, f.name))} octets>" for f in fields(obj))  # type: ignore[arg-type]
    return f"{type(obj).__name__}({parts})"


@dataclass(frozen=True, slots=True, repr=False)
class IkeKeys:
    """The IKE SA's keys; ``repr`` never shows key bytes."""

    skeyseed: bytes
    sk_d: bytes
    sk_ai: bytes
    sk_ar: bytes
    sk_ei: bytes
    sk_er: bytes
    sk_pi: bytes
    sk_pr: bytes

    def __repr__(self) -> str:
        return _redacted_repr(self)


@dataclass(frozen=True, slots=True, repr=False)
class ChildKeys:
    """One Child SA's keys, by direction (initiator -> responder first)."""

    encr_i: bytes
    integ_i: bytes
    encr_r: bytes
    integ_r: bytes = field(default=b"")

    def __repr__(self) -> str:
        return _redacted_repr(self)


def encr_key_octets(encr_id: int, encr_key_bits: int) -> int:
    """KEYMAT octets per direction for a cipher: key plus salt."""
    return encr_spec(encr_id, encr_key_bits).key_octets(encr_key_bits)


def integ_key_octets(encr_id: int, integ_id: int | None) -> int:
    """KEYMAT octets per direction for integrity: 0 for AEAD or none."""
    if integ_id is None or integ_id == 0 or encr_spec(encr_id).aead:
        return 0
    return integ_spec(integ_id).key_size


def _split_ike(
    prf: Prf,
    skeyseed: bytes,
    encr_id: int,
    encr_key_bits: int,
    integ_id: int | None,
    ni: bytes,
    nr: bytes,
    spi_i: bytes,
    spi_r: bytes,
) -> IkeKeys:
    # {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
    #     = prf+ (SKEYSEED, Ni | Nr | SPIi | SPIr)
    d = prf.key_size
    a = integ_key_octets(encr_id, integ_id)
    e = encr_key_octets(encr_id, encr_key_bits)
    keymat = prf.plus(skeyseed, ni + nr + spi_i + spi_r, 3 * d + 2 * a + 2 * e)
    o = 0

    def take(n: int) -> bytes:
        nonlocal o
        o += n
        return keymat[o - n : o]

    sk_d = take(d)
    sk_ai, sk_ar = take(a), take(a)
    sk_ei, sk_er = take(e), take(e)
    sk_pi, sk_pr = take(d), take(d)
    return IkeKeys(skeyseed, sk_d, sk_ai, sk_ar, sk_ei, sk_er, sk_pi, sk_pr)


def derive_ike_keys(
    prf_id: int,
    encr_id: int,
    encr_key_bits: int,
    integ_id: int | None,
    ni: bytes,
    nr: bytes,
    g_ir: bytes,
    spi_i: bytes,
    spi_r: bytes,
) -> IkeKeys:
    """RFC 7296 2.14: SKEYSEED = prf(Ni | Nr, g^ir), then the SK_* split.

    (Only HMAC PRFs are implemented, so the nonces are never truncated.)
    """
    prf = Prf(prf_id)
    skeyseed = prf.compute(ni + nr, g_ir)
    return _split_ike(prf, skeyseed, encr_id, encr_key_bits, integ_id, ni, nr, spi_i, spi_r)


def derive_rekeyed_ike_keys(
    old_prf_id: int,
    old_sk_d: bytes,
    prf_id: int,
    encr_id: int,
    encr_key_bits: int,
    integ_id: int | None,
    g_ir: bytes,
    ni: bytes,
    nr: bytes,
    spi_i: bytes,
    spi_r: bytes,
) -> IkeKeys:
    """RFC 7296 2.18: SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr) with
    the old SA's PRF; the SK_* split uses the new SA's PRF, nonces and SPIs."""
    skeyseed = Prf(old_prf_id).compute(old_sk_d, g_ir + ni + nr)
    return _split_ike(
        Prf(prf_id), skeyseed, encr_id, encr_key_bits, integ_id, ni, nr, spi_i, spi_r
    )


def derive_child_keys(
    prf_id: int,
    sk_d: bytes,
    encr_id: int,
    encr_key_bits: int,
    integ_id: int | None,
    ni: bytes,
    nr: bytes,
    g_ir: bytes | None = None,
) -> ChildKeys:
    """RFC 7296 2.17: KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr).

    Initiator-to-responder keys come first; within a direction the
    encryption key (with salt) precedes the integrity key.
    """
    e = encr_key_octets(encr_id, encr_key_bits)
    a = integ_key_octets(encr_id, integ_id)
    seed = (g_ir or b"") + ni + nr
    keymat = Prf(prf_id).plus(sk_d, seed, 2 * (e + a))
    return ChildKeys(
        encr_i=keymat[:e],
        integ_i=keymat[e : e + a],
        encr_r=keymat[e + a : 2 * e + a],
        integ_r=keymat[2 * e + a :],
    )
