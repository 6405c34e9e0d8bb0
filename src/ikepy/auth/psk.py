"""Pre-shared key authentication data (RFC 7296 section 2.15).

    AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets> )

``signed_octets`` is built by the IKE engine (RealMessage | Nonce |
prf(SK_p, RestOfIDPayload)).  Compare a received AUTH with
``hmac.compare_digest``.
"""

from __future__ import annotations

from ikepy.crypto.prf import Prf

__all__ = ["KEY_PAD", "psk_auth_data"]

#: The 17 ASCII octets of RFC 7296 2.15, no NUL terminator.
KEY_PAD = b"Key Pad for IKEv2"


def psk_auth_data(prf_id: int, secret: bytes, signed_octets: bytes) -> bytes:
    """The AUTH payload data for shared-key authentication (method 2)."""
    prf = Prf(prf_id)
    return prf.compute(prf.compute(secret, KEY_PAD), signed_octets)
