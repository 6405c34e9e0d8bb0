"""Cost of the IKE crypto building blocks, in microseconds per operation.

    python benchmarks/keyderivation.py [--seconds 0.5]

Key exchange = both key pairs generated and one shared secret computed per
side (what an IKE_SA_INIT costs the two peers together); SKEYSEED+SK_* and
child KEYMAT use PRF-HMAC-SHA2-256; SK seal/open protect 300 octets.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from functools import partial

from ikepy.crypto.ke import new_key_exchange
from ikepy.crypto.keymat import derive_child_keys, derive_ike_keys
from ikepy.crypto.sk import SkCipher
from ikepy.wire.enums import EncrId, IntegId, KeId, PrfId


def bench(fn: Callable[[], object], seconds: float) -> float:
    fn()
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return elapsed / n * 1e6


def kex(group: int) -> Callable[[], object]:
    def run() -> object:
        a, b = new_key_exchange(group), new_key_exchange(group)
        return a.shared_secret(b.public_value), b.shared_secret(a.public_value)

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=0.5)
    t = ap.parse_args().seconds
    ni, nr, spi_i, spi_r, g_ir = os.urandom(32), os.urandom(32), b"i" * 8, b"r" * 8, os.urandom(32)
    keys = derive_ike_keys(
        PrfId.HMAC_SHA2_256, EncrId.AES_CBC, 256, IntegId.HMAC_SHA2_256_128, ni, nr, g_ir, spi_i, spi_r
    )
    rows: list[tuple[str, Callable[[], object]]] = [
        ("X25519 key exchange (2 keygen + 2 DH)", kex(KeId.CURVE25519)),
        ("ECP-256 key exchange (2 keygen + 2 DH)", kex(KeId.ECP_256)),
        ("MODP-3072 key exchange (2 keygen + 2 DH)", kex(KeId.MODP_3072)),
        (
            "SKEYSEED + SK_* (AES-CBC-256, SHA2-256)",
            lambda: derive_ike_keys(
                PrfId.HMAC_SHA2_256, EncrId.AES_CBC, 256, IntegId.HMAC_SHA2_256_128,
                ni, nr, g_ir, spi_i, spi_r,
            ),
        ),
        (
            "child KEYMAT (AES-GCM-256, no PFS)",
            lambda: derive_child_keys(
                PrfId.HMAC_SHA2_256, keys.sk_d, EncrId.AES_GCM_16, 256, None, ni, nr
            ),
        ),
    ]
    payload, aad = os.urandom(300), os.urandom(32)
    gcm = SkCipher(EncrId.AES_GCM_16, 256, None, os.urandom(36))
    cbc = SkCipher(EncrId.AES_CBC, 256, IntegId.HMAC_SHA2_256_128, os.urandom(32), os.urandom(32))
    for name, c in (("AES-GCM-256", gcm), ("AES-CBC-256+SHA2-256-128", cbc)):
        body = c.seal(payload, aad)
        rows.append((f"SK seal 300 B {name}", partial(c.seal, payload, aad)))
        rows.append((f"SK open 300 B {name}", partial(c.open, body, aad)))
    width = max(len(n) for n, _ in rows)
    for name, fn in rows:
        print(f"{name:<{width}}  {bench(fn, t):10.1f} us")


if __name__ == "__main__":
    main()
