"""Key exchange methods (IKEv2 Transform Type 4) behind one interface.

``new_key_exchange(group)`` returns an object with ``group``, the fixed-length
``public_value`` that goes into the KE payload, and ``shared_secret(peer)``
giving g^ir.  Every operation is OpenSSL's, through ``cryptography``:

- MODP groups 14-18 (RFC 3526, plus the weak group 2 of RFC 2409) use
  ``cryptography``'s finite-field DH with the pregenerated primes below (no
  parameters are ever generated).  ``cryptography`` 50 deprecates finite-field
  DH: the deprecation warning is suppressed locally, and if the module ever
  disappears the code falls back to Python's ``pow()`` with a private exponent
  from the OS CSPRNG (``secrets``).  ``MODP_BACKEND`` says which path is in use
  and a unit test pins it, so the day the library drops FFDH is noticed.
- ECP groups 19-21 (RFC 5903): public value x || y without the 0x04 prefix,
  shared secret the x coordinate.
- Curve25519 / Curve448 (RFC 8031, X25519 / X448 of RFC 7748).

Peer values are checked as RFC 6989 asks, failures raise ``KeyExchangeError``
(INVALID_SYNTAX): MODP 1 < y < p-1 (and, on request, y^q = 1 with
q = (p-1)/2), ECP point on the curve and not the point at infinity,
X25519/X448 shared secret not all zero.  Every public value must have the
group's exact length (RFC 7296 3.4; MODP values are zero-padded on the left).
"""

from __future__ import annotations

import secrets
import warnings
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import ec, x448, x25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.utils import CryptographyDeprecationWarning

from ikepy.wire.enums import KeId

from .errors import KeyExchangeError
from .transforms import KE, KeSpec, ke_spec

__all__ = [
    "KeyExchange",
    "KeyExchangeError",
    "MODP_BACKEND",
    "MODP_PRIMES",
    "new_key_exchange",
    "supported_groups",
]

# cryptography >= 50 deprecates finite-field DH; keep its warning local.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    try:
        from cryptography.hazmat.primitives.asymmetric import dh as _dh
    except ImportError:  # pragma: no cover - only when the library drops FFDH
        _dh = None  # type: ignore[assignment]

#: "cryptography" (OpenSSL) or "pow" (Python big integers; the fallback).
MODP_BACKEND: str = "cryptography" if _dh is not None else "pow"

# RFC 3526 sections 3-7 (groups 14-18) and RFC 2409 section 6.2 (group 2),
# generator 2.  p = 2^n - 2^(n-64) - 1 + 2^64 * ( [2^(n-130) pi] + k );
# tests/unit/crypto/test_ke.py re-derives every prime from that formula.
_PRIME_HEX: dict[int, str] = {
    KeId.MODP_1024: (
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
        "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
        "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
        "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF"
    ),
    KeId.MODP_2048: (
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
        "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
        "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
        "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
        "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
        "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
        "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
        "3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF"
    ),
    KeId.MODP_3072: (
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
        "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
        "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
        "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
        "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
        "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
        "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
        "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33"
        "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
        "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864"
        "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2"
        "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF"
    ),
    KeId.MODP_4096: (
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
        "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
        "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
        "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
        "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
        "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
        "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
        "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33"
        "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
        "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864"
        "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2"
        "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7"
        "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8"
        "DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2"
        "233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9"
        "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF"
    ),
    KeId.MODP_6144: (
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
        "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
        "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
        "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
        "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
        "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
        "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
        "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33"
        "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
        "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864"
        "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2"
        "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7"
        "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8"
        "DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2"
        "233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9"
        "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C93402849236C3FAB4D27C7026"
        "C1D4DCB2602646DEC9751E763DBA37BDF8FF9406AD9E530EE5DB382F413001AE"
        "B06A53ED9027D831179727B0865A8918DA3EDBEBCF9B14ED44CE6CBACED4BB1B"
        "DB7F1447E6CC254B332051512BD7AF426FB8F401378CD2BF5983CA01C64B92EC"
        "F032EA15D1721D03F482D7CE6E74FEF6D55E702F46980C82B5A84031900B1C9E"
        "59E7C97FBEC7E8F323A97A7E36CC88BE0F1D45B7FF585AC54BD407B22B4154AA"
        "CC8F6D7EBF48E1D814CC5ED20F8037E0A79715EEF29BE32806A1D58BB7C5DA76"
        "F550AA3D8A1FBFF0EB19CCB1A313D55CDA56C9EC2EF29632387FE8D76E3C0468"
        "043E8F663F4860EE12BF2D5B0B7474D6E694F91E6DCC4024FFFFFFFFFFFFFFFF"
    ),
    KeId.MODP_8192: (
        "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74"
        "020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437"
        "4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
        "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05"
        "98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB"
        "9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
        "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
        "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33"
        "A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
        "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864"
        "D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2"
        "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7"
        "88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8"
        "DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2"
        "233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9"
        "93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C93402849236C3FAB4D27C7026"
        "C1D4DCB2602646DEC9751E763DBA37BDF8FF9406AD9E530EE5DB382F413001AE"
        "B06A53ED9027D831179727B0865A8918DA3EDBEBCF9B14ED44CE6CBACED4BB1B"
        "DB7F1447E6CC254B332051512BD7AF426FB8F401378CD2BF5983CA01C64B92EC"
        "F032EA15D1721D03F482D7CE6E74FEF6D55E702F46980C82B5A84031900B1C9E"
        "59E7C97FBEC7E8F323A97A7E36CC88BE0F1D45B7FF585AC54BD407B22B4154AA"
        "CC8F6D7EBF48E1D814CC5ED20F8037E0A79715EEF29BE32806A1D58BB7C5DA76"
        "F550AA3D8A1FBFF0EB19CCB1A313D55CDA56C9EC2EF29632387FE8D76E3C0468"
        "043E8F663F4860EE12BF2D5B0B7474D6E694F91E6DBE115974A3926F12FEE5E4"
        "38777CB6A932DF8CD8BEC4D073B931BA3BC832B68D9DD300741FA7BF8AFC47ED"
        "2576F6936BA424663AAB639C5AE4F5683423B4742BF1C978238F16CBE39D652D"
        "E3FDB8BEFC848AD922222E04A4037C0713EB57A81A23F0C73473FC646CEA306B"
        "4BCBC8862F8385DDFA9D4B7FA2C087E879683303ED5BDD3A062B3CF5B3A278A6"
        "6D2A13F83F44F82DDF310EE074AB6A364597E899A0255DC164F31CC50846851D"
        "F9AB48195DED7EA1B1D510BD7EE74D73FAF36BC31ECFA268359046F4EB879F92"
        "4009438B481C6CD7889A002ED5EE382BC9190DA6FC026E479558E4475677E9AA"
        "9E3050E2765694DFC81F56E880B96E7160C980DD98EDD3DFFFFFFFFFFFFFFFFF"
    ),
}

MODP_PRIMES: dict[int, int] = {group: int(h, 16) for group, h in _PRIME_HEX.items()}
MODP_GENERATOR = 2

# Private exponent sizes for the pow() fallback: twice the security strength
# of the group (NIST SP 800-57 part 1 table 2, RFC 3526 section 8); OpenSSL
# chooses the same order of size for these named groups.
_EXPONENT_BITS: dict[int, int] = {
    KeId.MODP_1024: 160,
    KeId.MODP_2048: 224,
    KeId.MODP_3072: 256,
    KeId.MODP_4096: 304,
    KeId.MODP_6144: 352,
    KeId.MODP_8192: 400,
}

_CURVES: dict[int, ec.EllipticCurve] = {
    KeId.ECP_256: ec.SECP256R1(),
    KeId.ECP_384: ec.SECP384R1(),
    KeId.ECP_521: ec.SECP521R1(),
}


class KeyExchange(Protocol):
    """What the IKE engine sees of a key exchange."""

    @property
    def group(self) -> int: ...

    @property
    def public_value(self) -> bytes: ...

    def shared_secret(self, peer_value: bytes) -> bytes: ...


def supported_groups() -> set[int]:
    """Ids of every KE method implemented here (weak ones included; policy
    lives in ``crypto/proposals.py``)."""
    return set(KE)


def new_key_exchange(group_id: int, *, private_value: bytes | None = None) -> KeyExchange:
    """A fresh key pair for ``group_id``.

    ``private_value`` (big-endian exponent/scalar for MODP/ECP, the raw
    32/56-octet scalar for X25519/X448) fixes the key pair for known-answer
    tests; normally it is None and the key comes from OpenSSL's CSPRNG.
    """
    spec = ke_spec(group_id)  # UnsupportedTransform for an unknown id
    if spec.kind == "modp":
        if MODP_BACKEND == "cryptography":
            return _ModpOpenSsl(spec, private_value)
        return _ModpPow(spec, private_value)
    if spec.kind == "ecp":
        return _Ecp(spec, private_value)
    return _Montgomery(spec, private_value)


def _check_length(spec: KeSpec, peer_value: bytes) -> None:
    if len(peer_value) != spec.public_size:
        raise KeyExchangeError(
            f"{spec.name} public value is {len(peer_value)} octets, expected {spec.public_size}"
        )


class _ModpBase:
    __slots__ = ("_spec", "_p", "_public", "check_subgroup")

    def __init__(self, spec: KeSpec) -> None:
        self._spec = spec
        self._p = MODP_PRIMES[spec.transform_id]
        self._public = b""
        #: RFC 6989 2.2 optional y^q check (costs one more exponentiation).
        self.check_subgroup = False

    @property
    def group(self) -> int:
        return self._spec.transform_id

    @property
    def public_value(self) -> bytes:
        return self._public

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._spec.name}>"

    def _peer_int(self, peer_value: bytes) -> int:
        """RFC 6989 section 2.1: 1 < y < p-1 (and 2.2, y^q = 1, if asked)."""
        _check_length(self._spec, peer_value)
        y = int.from_bytes(peer_value, "big")
        p = self._p
        if not 1 < y < p - 1:
            raise KeyExchangeError(f"{self._spec.name} public value outside 1 < y < p-1")
        # The RFC 3526/2409 primes are safe primes: q = (p-1)/2.
        if self.check_subgroup and pow(y, (p - 1) // 2, p) != 1:
            raise KeyExchangeError(f"{self._spec.name} public value not in the order-q subgroup")
        return y

    def _pad(self, value: int) -> bytes:
        return value.to_bytes(self._spec.public_size, "big")


class _ModpOpenSsl(_ModpBase):
    __slots__ = ("_private",)
    _params: dict[int, Any] = {}

    def __init__(self, spec: KeSpec, private_value: bytes | None) -> None:
        super().__init__(spec)
        assert _dh is not None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            pn = _dh.DHParameterNumbers(self._p, MODP_GENERATOR)
            if private_value is None:
                params = self._params.get(spec.transform_id)
                if params is None:
                    params = self._params.setdefault(spec.transform_id, pn.parameters())
                self._private = params.generate_private_key()
            else:
                x = int.from_bytes(private_value, "big")
                y = pow(MODP_GENERATOR, x, self._p)
                self._private = _dh.DHPrivateNumbers(x, _dh.DHPublicNumbers(y, pn)).private_key()
            y = self._private.public_key().public_numbers().y
        self._public = self._pad(y)

    def shared_secret(self, peer_value: bytes) -> bytes:
        y = self._peer_int(peer_value)
        assert _dh is not None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            pn = _dh.DHParameterNumbers(self._p, MODP_GENERATOR)
            peer = _dh.DHPublicNumbers(y, pn).public_key()
            try:
                secret = self._private.exchange(peer)
            except ValueError as exc:
                raise KeyExchangeError(f"{self._spec.name} key exchange failed: {exc}") from None
        # cryptography pads to the prime's length already; make sure of it.
        return secret.rjust(self._spec.secret_size, b"\0")


class _ModpPow(_ModpBase):
    """Fallback without ``cryptography``'s DH: Python's constant-ish pow()
    (not constant time, hence only a fallback); the exponent comes from the
    OS CSPRNG through ``secrets``."""

    __slots__ = ("_x",)

    def __init__(self, spec: KeSpec, private_value: bytes | None) -> None:
        super().__init__(spec)
        if private_value is None:
            bits = _EXPONENT_BITS[spec.transform_id]
            x = secrets.randbits(bits) | (1 << (bits - 1))
        else:
            x = int.from_bytes(private_value, "big")
        self._x = x
        self._public = self._pad(pow(MODP_GENERATOR, x, self._p))

    def shared_secret(self, peer_value: bytes) -> bytes:
        y = self._peer_int(peer_value)
        return self._pad(pow(y, self._x, self._p))


class _Ecp:
    __slots__ = ("_spec", "_curve", "_private", "_public")

    def __init__(self, spec: KeSpec, private_value: bytes | None) -> None:
        self._spec = spec
        self._curve = _CURVES[spec.transform_id]
        if private_value is None:
            self._private = ec.generate_private_key(self._curve)
        else:
            self._private = ec.derive_private_key(int.from_bytes(private_value, "big"), self._curve)
        point = self._private.public_key().public_bytes(
            Encoding.X962, PublicFormat.UncompressedPoint
        )
        self._public = point[1:]  # RFC 5903 section 7: no 0x04 prefix

    @property
    def group(self) -> int:
        return self._spec.transform_id

    @property
    def public_value(self) -> bytes:
        return self._public

    def __repr__(self) -> str:
        return f"<_Ecp {self._spec.name}>"

    def shared_secret(self, peer_value: bytes) -> bytes:
        _check_length(self._spec, peer_value)
        # RFC 6989 2.3: the point must be on the curve.  from_encoded_point
        # (EC_POINT_oct2point + EC_KEY_check_key) rejects points off the
        # curve; infinity has no x || y encoding at all.
        try:
            peer = ec.EllipticCurvePublicKey.from_encoded_point(self._curve, b"\x04" + peer_value)
            secret = self._private.exchange(ec.ECDH(), peer)
        except ValueError as exc:
            raise KeyExchangeError(f"{self._spec.name} public value rejected: {exc}") from None
        return secret  # the x coordinate, fixed length (RFC 5903 section 7)


class _Montgomery:
    __slots__ = ("_spec", "_private", "_public", "_load")

    def __init__(self, spec: KeSpec, private_value: bytes | None) -> None:
        self._spec = spec
        mod: Any = x25519 if spec.kind == "x25519" else x448
        cls = mod.X25519PrivateKey if spec.kind == "x25519" else mod.X448PrivateKey
        self._load = (
            mod.X25519PublicKey.from_public_bytes
            if spec.kind == "x25519"
            else mod.X448PublicKey.from_public_bytes
        )
        self._private = cls.generate() if private_value is None else cls.from_private_bytes(
            private_value
        )
        self._public = self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def group(self) -> int:
        return self._spec.transform_id

    @property
    def public_value(self) -> bytes:
        return self._public

    def __repr__(self) -> str:
        return f"<_Montgomery {self._spec.name}>"

    def shared_secret(self, peer_value: bytes) -> bytes:
        _check_length(self._spec, peer_value)
        try:
            secret: bytes = self._private.exchange(self._load(peer_value))
        except ValueError as exc:
            # OpenSSL refuses an all-zero result (low-order peer point).
            raise KeyExchangeError(f"{self._spec.name} public value rejected: {exc}") from None
        # RFC 7748 section 6 / RFC 8031 section 2.3: reject the all-zero value.
        if not any(secret):
            raise KeyExchangeError(f"{self._spec.name} shared secret is all zero")
        return secret
