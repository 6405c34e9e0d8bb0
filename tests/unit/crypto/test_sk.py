"""SK payload protection: known answers (GCM, ChaCha20-Poly1305), round trips
for every ENCR/INTEG combination, tampering, padding, message helpers."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ikepy.crypto.errors import IntegrityError
from ikepy.crypto.sk import SkCipher, protect_message, unprotect_message
from ikepy.crypto.transforms import ENCR, INTEG
from ikepy.wire.enums import EncrId, ExchangeType, IntegId, NotifyType, ProtocolId
from ikepy.wire.header import IkeHeader
from ikepy.wire.message import parse_message
from ikepy.wire.payloads import NotifyPayload


def H(s: str) -> bytes:
    return bytes.fromhex("".join(s.split()))


def fixed(iv: bytes) -> Callable[[int], bytes]:
    return lambda n: iv[:n]


# McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 3 and 4
# (AES-128; 4 adds AAD) and 15/16 (AES-256), in the RFC 4106 salt | IV split,
# as carried by strongSwan's plugins/test_vectors/test_vectors/aes_gcm.c.
GCM_KEY128 = H("feffe9928665731c6d6a8f9467308308")
GCM_KEY256 = GCM_KEY128 * 2
GCM_SALT, GCM_IV = H("cafebabe"), H("facedbaddecaf888")
GCM_PT = H(
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
)
GCM_AAD = H("feedfacedeadbeeffeedfacedeadbeefabaddad2")
GCM_CT128 = H(
    "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
    "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985"
)
GCM_CT256 = H(
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad"
)
GCM_KAT = [
    # (encr id, key, plaintext, aad, ciphertext || ICV)
    (EncrId.AES_GCM_8, GCM_KEY128, GCM_PT, b"", GCM_CT128 + H("4d5c2af327cd64a6")),
    (EncrId.AES_GCM_12, GCM_KEY128, GCM_PT, b"", GCM_CT128 + H("4d5c2af327cd64a62cf35abd")),
    (EncrId.AES_GCM_16, GCM_KEY128, GCM_PT, b"", GCM_CT128 + H("4d5c2af327cd64a62cf35abd2ba6fab4")),
    (
        EncrId.AES_GCM_16,
        GCM_KEY128,
        GCM_PT[:60],
        GCM_AAD,
        GCM_CT128[:60] + H("5bc94fbc3221a5db94fae95ae7121a47"),
    ),
    (EncrId.AES_GCM_16, GCM_KEY256, GCM_PT, b"", GCM_CT256 + H("b094dac5d93471bdec1a502270e3cc6c")),
    (
        EncrId.AES_GCM_16,
        GCM_KEY256,
        GCM_PT[:60],
        GCM_AAD,
        GCM_CT256[:60] + H("76fc6ece0f4e1768cddf8853bb2d551b"),
    ),
]


@pytest.mark.parametrize(("encr", "key", "pt", "aad", "out"), GCM_KAT)
def test_gcm_kat(encr: int, key: bytes, pt: bytes, aad: bytes, out: bytes) -> None:
    c = SkCipher(encr, len(key) * 8, None, key + GCM_SALT)
    assert c._aead_encrypt(GCM_IV, pt, aad) == out
    assert c._aead_decrypt(GCM_IV, out, aad) == pt


# RFC 8439 2.8.2 AEAD_CHACHA20_POLY1305 ("Ladies and Gentlemen"), nonce
# 07000000 | 4041424344454647 split as RFC 7634 salt | IV; as carried by
# strongSwan's test_vectors/chacha20poly1305.c.
CHACHA_KEY = bytes(range(0x80, 0xA0))
LADIES = (
    b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for "
    b"the future, sunscreen would be it."
)
LADIES_OUT = H(
    "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
    "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
    "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
    "3ff4def08e4b7a9de576d26586cec64b6116"
    "1ae10b594f09e26a7e902ecbd0600691"
)


def test_chacha20poly1305_rfc8439() -> None:
    c = SkCipher(EncrId.CHACHA20_POLY1305, 256, None, CHACHA_KEY + H("07000000"))
    aad = H("50515253c0c1c2c3c4c5c6c7")
    assert c._aead_encrypt(H("4041424344454647"), LADIES, aad) == LADIES_OUT
    assert c._aead_decrypt(H("4041424344454647"), LADIES_OUT, aad) == LADIES


def test_chacha20poly1305_rfc7634_ikev2_example() -> None:
    # RFC 7634 appendix B: an IKEv2 INFORMATIONAL message with one Notify;
    # the plaintext ends with Pad Length 0, so seal() must give these octets.
    c = SkCipher(
        EncrId.CHACHA20_POLY1305,
        256,
        None,
        CHACHA_KEY + H("a0a1a2a3"),
        rng=fixed(H("1011121314151617")),
    )
    aad = H("c0c1c2c3c4c5c6c7d0d1d2d3d4d5d6d7 2e202500 00000009 00000045 29000029")
    inner = H("0000000c000040010000000a")
    body = c.seal(inner, aad)
    assert c.body_length(len(inner)) == len(body) == 8 + 13 + 16
    assert body == H("1011121314151617") + H(
        "610394701f8d017f7c129248896b71bf e25236efd7cdc67066906315b2"
    )
    assert c.open(body, aad) == inner


# -- every combination round trips --------------------------------------------

COMBOS: list[tuple[int, int, int | None]] = []
for _eid, _spec in ENCR.items():
    for _bits in _spec.key_sizes:
        if _spec.aead:
            COMBOS.append((_eid, _bits, None))
        else:
            COMBOS += [(_eid, _bits, _iid) for _iid in INTEG]


def make(encr: int, bits: int, integ: int | None) -> SkCipher:
    spec = ENCR[encr]
    key = bytes(range(1, spec.key_octets(bits) + 1))
    ikey = bytes(range(100, 100 + INTEG[integ].key_size)) if integ else b""
    return SkCipher(encr, bits, integ, key, ikey)


@pytest.mark.parametrize(("encr", "bits", "integ"), COMBOS)
def test_round_trip_and_tamper(encr: int, bits: int, integ: int | None) -> None:
    c = make(encr, bits, integ)
    aad = b"H" * 32
    for n in (0, 1, 15, 16, 17, 300):
        pt = bytes(range(256)) * 2
        pt = pt[:n]
        body = c.seal(pt, aad)
        assert len(body) == c.body_length(n)
        if not c.aead:
            assert (len(body) - c.iv_size - c.icv_size) % ENCR[encr].block_size == 0
        assert c.open(body, aad) == pt
    body = c.seal(b"payload" * 10, aad)
    for pos in (0, c.iv_size, len(body) // 2, len(body) - 1):  # IV, ct, middle, ICV
        bad = bytearray(body)
        bad[pos] ^= 0x01
        with pytest.raises(IntegrityError):
            c.open(bytes(bad), aad)
    with pytest.raises(IntegrityError):
        c.open(body, b"X" + aad[1:])  # the AAD / ICV covers the header
    for short in (b"", body[: c.iv_size + c.icv_size]):
        with pytest.raises(IntegrityError):
            c.open(short, aad)


def test_ivs_never_repeat() -> None:
    for encr in (EncrId.AES_GCM_16, EncrId.CHACHA20_POLY1305, EncrId.AES_CBC):
        c = make(encr, 256, IntegId.HMAC_SHA2_256_128 if encr == EncrId.AES_CBC else None)
        ivs = {c.seal(b"x", b"")[: c.iv_size] for _ in range(1000)}
        assert len(ivs) == 1000


def test_receiver_accepts_any_padding() -> None:
    # RFC 7296 3.14: padding octets may have any value and more padding than
    # needed is fine; build such a body by hand.
    key, ikey, iv = b"k" * 16, b"i" * 32, b"v" * 16
    c = SkCipher(EncrId.AES_CBC, 128, IntegId.HMAC_SHA2_256_128, key, ikey)
    inner = b"inner payloads!"  # 15 octets
    padded = inner + b"\xa5" * 16 + bytes((16,))  # 32 octets, pad length 16
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ct = enc.update(padded) + enc.finalize()
    aad = b"A" * 32
    h = hmac.HMAC(ikey, hashes.SHA256())
    h.update(aad + iv + ct)
    assert c.open(iv + ct + h.finalize()[:16], aad) == inner
    # A Pad Length pointing past the data is refused.
    padded = inner + bytes((200,))
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ct = enc.update(padded) + enc.finalize()
    h = hmac.HMAC(ikey, hashes.SHA256())
    h.update(aad + iv + ct)
    with pytest.raises(IntegrityError):
        c.open(iv + ct + h.finalize()[:16], aad)


def test_bad_keys_rejected() -> None:
    with pytest.raises(ValueError):
        SkCipher(EncrId.AES_GCM_16, 128, None, b"k" * 16)  # salt missing
    with pytest.raises(ValueError):
        SkCipher(EncrId.AES_CBC, 128, None, b"k" * 16)  # no INTEG
    with pytest.raises(ValueError):
        SkCipher(EncrId.AES_GCM_16, 128, IntegId.HMAC_SHA2_256_128, b"k" * 20, b"i" * 32)
    with pytest.raises(ValueError):
        SkCipher(EncrId.AES_CBC, 128, IntegId.HMAC_SHA2_256_128, b"k" * 16, b"i" * 31)


@pytest.mark.parametrize(
    ("encr", "integ"),
    [(EncrId.AES_GCM_16, None), (EncrId.AES_CBC, IntegId.HMAC_SHA2_256_128)],
)
def test_protect_unprotect_message(encr: int, integ: int | None) -> None:
    send, recv = make(encr, 256, integ), make(encr, 256, integ)
    header = IkeHeader(b"I" * 8, b"R" * 8, 0, ExchangeType.INFORMATIONAL, 0x08, 7, 0)
    inner = (NotifyPayload(ProtocolId.IKE, b"", NotifyType.INITIAL_CONTACT),)
    raw = protect_message(header, inner, send)
    msg = parse_message(raw)
    assert msg.header.length == len(raw) and msg.header.message_id == 7
    assert unprotect_message(raw, msg, recv) == inner
    tampered = bytearray(raw)
    tampered[20] ^= 0x40  # message ID in the header: covered by the ICV / AAD
    with pytest.raises(IntegrityError):
        unprotect_message(bytes(tampered), parse_message(bytes(tampered)), recv)


def test_combo_count() -> None:
    # 3 AES-CBC sizes + 3DES, times 5 INTEG; 3 GCM ICVs x 3 sizes; ChaCha20.
    assert len(COMBOS) == 4 * 5 + 9 + 1
