"""Key exchange: known answers (RFC 5903, RFC 5114, RFC 7748), the RFC 6989
peer value checks, and the MODP backend (cryptography's FFDH, pow() fallback)."""

from __future__ import annotations

import warnings

import pytest

from ikepy.crypto import ke
from ikepy.crypto.errors import KeyExchangeError
from ikepy.crypto.ke import MODP_PRIMES, new_key_exchange, supported_groups
from ikepy.wire.enums import KeId, NotifyType


def H(s: str) -> bytes:
    return bytes.fromhex("".join(s.split()))


# RFC 5903 section 8.1 (256-bit) and 8.2 (384-bit random ECP group):
# i, g^i = gix || giy, g^r = grx || gry, g^ir = girx.  (Section 8.3, the
# 521-bit group, could not be retrieved; RFC 5114's P-521 data below covers it.)
RFC5903 = {
    KeId.ECP_256: (
        "C88F01F5 10D9AC3F 70A292DA A2316DE5 44E9AAB8 AFE84049 C62A9C57 862D1433",
        "DAD0B653 94221CF9 B051E1FE CA5787D0 98DFE637 FC90B9EF 945D0C37 72581180"
        "5271A046 1CDB8252 D61F1C45 6FA3E59A B1F45B33 ACCF5F58 389E0577 B8990BB3",
        "D12DFB52 89C8D4F8 1208B702 70398C34 2296970A 0BCCB74C 736FC755 4494BF63"
        "56FBF3CA 366CC23E 8157854C 13C58D6A AC23F046 ADA30F83 53E74F33 039872AB",
        "D6840F6B 42F6EDAF D13116E0 E1256520 2FEF8E9E CE7DCE03 812464D0 4B9442DE",
    ),
    KeId.ECP_384: (
        "099F3C70 34D4A2C6 99884D73 A375A67F 7624EF7C 6B3C0F16 0647B674 14DCE655"
        "E35B5380 41E649EE 3FAEF896 783AB194",
        "667842D7 D180AC2C DE6F74F3 7551F557 55C7645C 20EF73E3 1634FE72 B4C55EE6"
        "DE3AC808 ACB4BDB4 C88732AE E95F41AA"
        "9482ED1F C0EEB9CA FC498462 5CCFC23F 65032149 E0E144AD A0241815 35A0F38E"
        "EB9FCFF3 C2C947DA E69B4C63 4573A81C",
        "E558DBEF 53EECDE3 D3FCCFC1 AEA08A89 A987475D 12FD950D 83CFA417 32BC509D"
        "0D1AC43A 0336DEF9 6FDA41D0 774A3571"
        "DCFBEC7A ACF31964 72169E83 8430367F 66EEBE3C 6E70C416 DD5F0C68 759DD1FF"
        "F83FA401 42209DFF 5EAAD96D B9E6386C",
        "11187331 C279962D 93D60424 3FD592CB 9D0A926F 422E4718 7521287E 7156C5C4"
        "D6031355 69B9E9D0 9CF5D4A2 70F59746",
    ),
}


@pytest.mark.parametrize("group", sorted(RFC5903))
def test_ecp_rfc5903(group: KeId) -> None:
    i, gi, gr, gir = (H(v) for v in RFC5903[group])
    kex = new_key_exchange(group, private_value=i)
    assert kex.public_value == gi  # x || y, no 0x04 prefix
    assert kex.shared_secret(gr) == gir  # the x coordinate


# Full two-party vectors (i, g^i, r, g^r, g^ir) as carried by strongSwan's
# src/libstrongswan/plugins/test_vectors/test_vectors/ecp.c (ECP groups, from
# RFC 5114 appendix A.6-A.8 test data), curve25519.c (RFC 7748 section 6.1)
# and curve448.c (RFC 7748 section 6.2); public values as in the KE payload.
TWO_PARTY = {
    KeId.ECP_256: (
        "814264145f2f56f2e96a8e337a1284993faf432a5abce59e867b7291d507a3af",
        "2af502f3be8952f2c9b5a8d4160d09e97165be50bc42ae4a5e8d3b4ba83aeb15"
        "eb0faf4ca986c4d38681a0f9872d79d56795bd4bff6e6de3c0f5015ece5efd85",
        "2ce1788ec197e096db95a200cc0ab26a19ce6bccad562b8eee1b593761cf7f41",
        "b120de4aa36492795346e8de6c2c8646ae06aaea279fa775b3ab0715f6ce51b0"
        "9f1b7eece20d7b5ed8ec685fa3f071d83727027092a8411385c34dde5708b2b6",
        "dd0f5396219d1ea393310412d19a08f1f5811e9dc8ec8eea7f80d21c820c2788",
    ),
    KeId.ECP_384: (
        "d27335ea71664af244dd14e9fd1260715dfd8a7965571c48d709ee7a7962a156"
        "d706a90cbcb5df2986f05feadb9376f1",
        "793148f1787634d5da4c6d9074417d05e057ab62f82054d10ee6b0403d627954"
        "7e6a8ea9d1fd77427d016fe27a8b8c66c6c41294331d23e6f480f4fb4cd40504"
        "c947392e94f4c3f06b8f398bb29e42368f7a685923de3b67baced214a1a1d128",
        "52d1791fdb4b70f89c0f00d456c2f7023b6125262c36a7df1f80231121cce3d3"
        "9be52e00c194a4132c4a6c768bcd94d2",
        "5cd42ab9c41b5347f74b8d4efb708b3d5b36db65915359b44abc17647b6b9999"
        "789d72a84865ae2f223f12b5a1abc120e171458feaa939aaa3a8bfac46b404bd"
        "8f6d5b348c0fa4d80ceca16356ca933240bde8723415a8ece035b0edf36755de",
        "5ea1fc4af7256d2055981b110575e0a8cae53160137d904c59d926eb1b8456e4"
        "27aa8a4540884c37de159a58028abc0e",
    ),
    KeId.ECP_521: (
        "0113f82da825735e3d97276683b2b74277bad27335ea71664af2430cc4f33459"
        "b9669ee78b3ffb9b8683015d344dcbfef6fb9af4c6c470be254516cd3c1a1fb4"
        "7362",
        "01ebb34dd75721abf8adc9dbed17889cbb9765d90a7c60f2cef007bb0f2b26e1"
        "4881fd4442e689d61cb2dd046ee30e3ffd20f9a45bbdf6413d583a2dbf59924f"
        "d35c00f6b632d194c0388e22d8437e558c552ae195adfd153f92d74908351b2f"
        "8c4eda94edb0916d1b53c020b5eecaed1a5fc38a233e4830587bb2ee3489b3b4"
        "2a5a86a4",
        "00cee3480d8645a17d249f2776d28bae616952d1791fdb4b70f7c3378732aa1b"
        "22928448bcd1dc2496d435b01048066ebe4f72903c361b1a9dc1193dc2c9d089"
        "1b96",
        "010ebfafc6e85e08d24bfffcc1a4511db0e634beeb1b6dec8c5939ae44766201"
        "af6200430ba97c8ac6a0e9f08b33ce7e9feeb5ba4ee5e0d81510c24295b8a08d"
        "023500a4a6ec300df9e257b0372b5e7abfef093436719a77887ebb0b18cf8099"
        "b9f4212b6e30a1419c18e029d36863cc9d448f4dba4d2a0e60711be572915fbd"
        "4fef2695",
        "00cdea89621cfa46b132f9e4cfe2261cde2d4368eb5656634c7cc98c7a00cde5"
        "4ed1866a0dd3e6126c9d2f845daff82ceb1da08f5d87521bb0ebeca77911169c"
        "20cc",
    ),
    KeId.CURVE25519: (
        "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
        "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
        "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
        "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
    ),
    KeId.CURVE448: (
        "9a8f4925d1519f5775cf46b04b5800d4ee9ee8bae8bc5565d498c28dd9c9baf5"
        "74a9419744897391006382a6f127ab1d9ac2d8c0a598726b",
        "9b08f7cc31b7e3e67d22d5aea121074a273bd2b83de09c63faa73d2c22c5d9bb"
        "c836647241d953d40c5b12da88120d53177f80e532c41fa0",
        "1c306a7ac2a0e2e0990b294470cba339e6453772b075811d8fad0d1d6927c120"
        "bb5ee8972b0d3e21374c9c921b09d1b0366f10b65173992d",
        "3eb7a829b0cd20f5bcfc0b599b6feccf6da4627107bdb0d4f345b43027d8b972"
        "fc3e34fb4232a13ca706dcb57aec3dae07bdc1c67bf33609",
        "07fff4181ac6cc95ec1c16a94a0f74d12da232ce40a77552281d282bb60c0b56"
        "fd2464c335543936521c24403085d59a449a5037514a879d",
    ),
}


@pytest.mark.parametrize("group", sorted(TWO_PARTY))
def test_two_party_kat(group: KeId) -> None:
    a, pub_a, b, pub_b, shared = (H(v) for v in TWO_PARTY[group])
    ka = new_key_exchange(group, private_value=a)
    kb = new_key_exchange(group, private_value=b)
    assert (ka.group, ka.public_value, kb.public_value) == (group, pub_a, pub_b)
    assert ka.shared_secret(pub_b) == shared
    assert kb.shared_secret(pub_a) == shared


@pytest.mark.parametrize("group", sorted(supported_groups()))
def test_agreement_and_fixed_lengths(group: int) -> None:
    a, b = new_key_exchange(group), new_key_exchange(group)
    spec = ke.KE[group]
    assert len(a.public_value) == len(b.public_value) == spec.public_size
    s = a.shared_secret(b.public_value)
    assert s == b.shared_secret(a.public_value)
    assert len(s) == spec.secret_size


@pytest.mark.parametrize("group", sorted(supported_groups()))
def test_wrong_length_rejected(group: int) -> None:
    kex = new_key_exchange(group)
    for bad in (kex.public_value[:-1], kex.public_value + b"\0", b"", b"\x04" + kex.public_value):
        with pytest.raises(KeyExchangeError) as exc:
            kex.shared_secret(bad)
        assert exc.value.notify == NotifyType.INVALID_SYNTAX


# -- RFC 6989 ------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["cryptography", "pow"])
@pytest.mark.parametrize("group", [KeId.MODP_2048, KeId.MODP_3072])
def test_modp_rfc6989_range(group: int, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # RFC 6989 2.1: 1 < y < p-1.  y = 0, 1, p-1, p and larger are refused.
    monkeypatch.setattr(ke, "MODP_BACKEND", backend)
    kex = new_key_exchange(group)
    p = MODP_PRIMES[group]
    size = ke.KE[group].public_size
    for y in (0, 1, p - 1, p, p + 1, 2**(8 * size) - 1):
        with pytest.raises(KeyExchangeError):
            kex.shared_secret(y.to_bytes(size, "big"))
    assert len(kex.shared_secret((2).to_bytes(size, "big"))) == size  # 2 is in range


def test_modp_rfc6989_subgroup_check() -> None:
    # RFC 6989 2.2: with q = (p-1)/2, y^q must be 1.  y = p-2 passes the range
    # check but is outside the order-q subgroup (asserted below).
    kex = new_key_exchange(KeId.MODP_2048)
    p = MODP_PRIMES[KeId.MODP_2048]
    bad = (p - 2).to_bytes(256, "big")
    assert pow(p - 2, (p - 1) // 2, p) != 1
    kex.shared_secret(bad)  # accepted without the optional check
    kex.check_subgroup = True  # type: ignore[attr-defined]
    with pytest.raises(KeyExchangeError):
        kex.shared_secret(bad)
    peer = new_key_exchange(KeId.MODP_2048)
    assert kex.shared_secret(peer.public_value) == peer.shared_secret(kex.public_value)


@pytest.mark.parametrize("group", [KeId.ECP_256, KeId.ECP_384, KeId.ECP_521])
def test_ecp_point_not_on_curve(group: int) -> None:
    kex = new_key_exchange(group)
    good = bytearray(new_key_exchange(group).public_value)
    good[-1] ^= 1  # flip a bit of y: no longer on the curve
    for bad in (bytes(good), bytes(len(good)), b"\xaa" * len(good)):
        with pytest.raises(KeyExchangeError):
            kex.shared_secret(bad)


# RFC 7748 section 5: u = 0 and u = 1 are points of small order; X25519 of
# any scalar with them is all zero (RFC 7748 section 6.1 says to reject it).
# The third value is an order-8 point (from the small-order list on
# cr.yp.to/ecdh.html, not an RFC vector); the test itself shows it is refused.
X25519_LOW_ORDER = [
    bytes(32),
    (1).to_bytes(32, "little"),
    H("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
]


@pytest.mark.parametrize("peer", X25519_LOW_ORDER)
def test_x25519_low_order_rejected(peer: bytes) -> None:
    with pytest.raises(KeyExchangeError):
        new_key_exchange(KeId.CURVE25519).shared_secret(peer)


def test_x448_low_order_rejected() -> None:
    for peer in (bytes(56), (1).to_bytes(56, "little")):
        with pytest.raises(KeyExchangeError):
            new_key_exchange(KeId.CURVE448).shared_secret(peer)


# -- MODP backend ----------------------------------------------------------------


def test_modp_uses_cryptography_ffdh() -> None:
    # Fails the day cryptography drops finite-field DH: MODP then silently runs
    # on the pow() fallback, which is not constant time.  Decide then.
    assert ke.MODP_BACKEND == "cryptography", "cryptography no longer offers FFDH"


def test_modp_no_warning_leaks() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a, b = new_key_exchange(KeId.MODP_2048), new_key_exchange(KeId.MODP_2048)
        assert a.shared_secret(b.public_value) == b.shared_secret(a.public_value)
    assert caught == []


def test_modp_backends_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    a = new_key_exchange(KeId.MODP_3072)
    monkeypatch.setattr(ke, "MODP_BACKEND", "pow")
    b = new_key_exchange(KeId.MODP_3072)
    assert type(a) is not type(b)
    assert a.shared_secret(b.public_value) == b.shared_secret(a.public_value)
    # Same fixed private exponent on both paths -> same public value.
    x = (123456789).to_bytes(16, "big")
    p_pow = new_key_exchange(KeId.MODP_2048, private_value=x).public_value
    monkeypatch.setattr(ke, "MODP_BACKEND", "cryptography")
    assert new_key_exchange(KeId.MODP_2048, private_value=x).public_value == p_pow
    assert p_pow == pow(2, 123456789, MODP_PRIMES[KeId.MODP_2048]).to_bytes(256, "big")


# RFC 3526 (and RFC 2409 6.2): p = 2^n - 2^(n-64) - 1 + 2^64 * ([2^(n-130) pi] + k)
RFC3526_K: dict[int, tuple[int, int]] = {
    KeId.MODP_1024: (1024, 129093),
    KeId.MODP_2048: (2048, 124476),
    KeId.MODP_3072: (3072, 1690314),
    KeId.MODP_4096: (4096, 240904),
    KeId.MODP_6144: (6144, 929484),
    KeId.MODP_8192: (8192, 4743158),
}


@pytest.mark.parametrize("group", sorted(RFC3526_K))
def test_modp_primes_match_rfc3526_formula(group: int) -> None:
    import mpmath  # a test dependency (pyproject: test extra)
    n, k = RFC3526_K[group]
    mpmath.mp.prec = n + 64
    pi_part = int(mpmath.floor(mpmath.mpf(2) ** (n - 130) * mpmath.pi))
    assert MODP_PRIMES[group] == 2**n - 2 ** (n - 64) - 1 + 2**64 * (pi_part + k)
