"""How guessable is a pre-shared key? (the offline-guessing threat of RFC 7296 2.15)

An active attacker who answers as the responder gets an initiator's AUTH
payload, prf(prf(PSK, "Key Pad for IKEv2"), octets) over values it knows, and
can test candidate keys offline at GPU speed (SECURITY.md). So the PSK must
carry enough entropy on its own. This is a deliberately conservative
estimate, not a password-meter:

- a secret given as 0x hex or 0s base64 counts 8 bits per octet (it is
  assumed to come from a random generator), less when it repeats octets;
- a text secret counts log2(pool) bits per character, where the pool is the
  character classes present (lower 26, upper 26, digits 10, others 33), but
  only for characters that add something: repeats of an earlier character and
  steps of a run (abc, 123, aaa) count 1 bit; and a text made only of letters
  (a passphrase of words) counts at most 2.5 bits per character.

Thresholds: below ``REFUSE_BITS`` (64) the configuration is refused unless
the connection sets ``allow_weak_psk = yes`` (an ikepy key); below
``WARN_BITS`` (112, NIST's floor for new keys) it loads with a warning.
"""

from __future__ import annotations

import math

REFUSE_BITS = 64
WARN_BITS = 112


def estimate_bits(secret: bytes, binary: bool) -> float:
    if not secret:
        return 0.0
    if binary:
        distinct = len(set(secret))
        return 8.0 * min(len(secret), distinct * 2)
    text = secret.decode("utf-8", "replace")
    pool = 0
    if any(c.islower() for c in text):
        pool += 26
    if any(c.isupper() for c in text):
        pool += 26
    if any(c.isdigit() for c in text):
        pool += 10
    if any(not c.isalnum() for c in text):
        pool += 33
    per_char = math.log2(max(pool, 2))
    bits = 0.0
    seen: set[str] = set()
    prev = None
    for c in text:
        step = prev is not None and abs(ord(c) - ord(prev)) <= 1
        bits += 1.0 if (c in seen or step) else per_char
        seen.add(c)
        prev = c
    if text.isalpha() or all(c.isalpha() or c in " -_." for c in text):
        bits = min(bits, 2.5 * len(text))
    return bits


def verdict(secret: bytes, binary: bool) -> tuple[str, float]:
    """("refuse" | "warn" | "ok", estimated bits)."""
    bits = estimate_bits(secret, binary)
    if bits < REFUSE_BITS:
        return "refuse", bits
    if bits < WARN_BITS:
        return "warn", bits
    return "ok", bits
