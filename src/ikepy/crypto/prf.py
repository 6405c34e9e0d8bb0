"""The IKEv2 pseudorandom functions: prf and prf+ (RFC 7296 section 2.13).

Only HMAC-based PRFs are implemented (RFC 2104 with the hashes of the PRF
registry); HMAC comes from OpenSSL through ``cryptography``.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, hmac

from .transforms import PrfSpec, prf_spec

__all__ = ["Prf", "hash_algorithm"]

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "md5": hashes.MD5,
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def hash_algorithm(name: str) -> hashes.HashAlgorithm:
    """A fresh ``cryptography`` hash object for a registry hash name."""
    return _HASHES[name]()


class Prf:
    """One PRF transform.  ``compute`` is prf(K, S); ``plus`` is prf+.

    Instances hold no key and can be shared freely.
    """

    __slots__ = ("prf_id", "spec", "output_size", "key_size", "_algorithm")

    def __init__(self, prf_id: int) -> None:
        spec: PrfSpec = prf_spec(prf_id)
        self.prf_id = prf_id
        self.spec = spec
        self.output_size = spec.output_size
        # RFC 7296 2.14: the preferred key size of an HMAC PRF is its output
        # size (the size of SK_d, SK_pi, SK_pr).
        self.key_size = spec.key_size
        self._algorithm = hash_algorithm(spec.hash_name)

    def __repr__(self) -> str:
        return f"Prf({self.spec.name})"

    def compute(self, key: bytes, data: bytes) -> bytes:
        """prf(key, data)."""
        h = hmac.HMAC(key, self._algorithm)
        h.update(data)
        return h.finalize()

    def plus(self, key: bytes, seed: bytes, length: int) -> bytes:
        """prf+(key, seed) truncated to ``length`` octets (RFC 7296 2.13):

            prf+ (K,S) = T1 | T2 | T3 | T4 | ...
            T1 = prf (K, S | 0x01)
            Tn = prf (K, Tn-1 | S | n)

        The counter is one octet, so at most 255 blocks can be produced.
        """
        if length < 0:
            raise ValueError("prf+ length must not be negative")
        blocks = -(-length // self.output_size)
        if blocks > 255:
            raise ValueError(
                f"prf+ cannot produce {length} octets with {self.spec.name} "
                f"(at most {255 * self.output_size})"
            )
        # One keyed HMAC context, copied per block: the key schedule is done once.
        base = hmac.HMAC(key, self._algorithm)
        out = bytearray()
        t = b""
        for n in range(1, blocks + 1):
            h = base.copy()
            h.update(t)
            h.update(seed)
            h.update(bytes((n,)))
            t = h.finalize()
            out += t
        return bytes(out[:length])
