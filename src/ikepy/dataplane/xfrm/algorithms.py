"""IKEv2 transform ids (IANA) -> the Linux crypto API names XFRM expects.

The names and ICV/truncation lengths are those strongSwan's kernel-netlink
plugin uses (``kernel_netlink_ipsec.c``), which match RFC 4106 (GCM),
RFC 4309 (CCM), RFC 4543 (GMAC), RFC 7634 (ChaCha20-Poly1305), RFC 3686 (CTR),
RFC 4868 (HMAC-SHA-2) and RFC 2404 (HMAC-SHA-1-96).
"""

from __future__ import annotations

from dataclasses import dataclass

from ikepy.wire.enums import EncrId, IntegId


@dataclass(frozen=True, slots=True)
class KernelAlg:
    name: str  # crypto API name, e.g. "rfc4106(gcm(aes))"
    bits: int  # AEAD: ICV length; auth: truncation length; plain cipher: 0
    aead: bool = False
    modules: str = ""  # what `modprobe` loads it, for error messages


ENCR: dict[int, KernelAlg] = {
    EncrId.AES_GCM_16: KernelAlg("rfc4106(gcm(aes))", 128, True, "gcm aes"),
    EncrId.AES_GCM_12: KernelAlg("rfc4106(gcm(aes))", 96, True, "gcm aes"),
    EncrId.AES_GCM_8: KernelAlg("rfc4106(gcm(aes))", 64, True, "gcm aes"),
    EncrId.AES_CCM_16: KernelAlg("rfc4309(ccm(aes))", 128, True, "ccm aes"),
    EncrId.AES_CCM_12: KernelAlg("rfc4309(ccm(aes))", 96, True, "ccm aes"),
    EncrId.AES_CCM_8: KernelAlg("rfc4309(ccm(aes))", 64, True, "ccm aes"),
    EncrId.NULL_AUTH_AES_GMAC: KernelAlg("rfc4543(gcm(aes))", 128, True, "gcm aes"),
    EncrId.CHACHA20_POLY1305: KernelAlg("rfc7539esp(chacha20,poly1305)", 128, True,
                                        "chacha20poly1305"),
    EncrId.AES_CBC: KernelAlg("cbc(aes)", 0, False, "authenc cbc aes"),
    EncrId.AES_CTR: KernelAlg("rfc3686(ctr(aes))", 0, False, "authenc ctr aes"),
    EncrId.TRIPLE_DES: KernelAlg("cbc(des3_ede)", 0, False, "authenc cbc des3_ede"),
    EncrId.CAMELLIA_CBC: KernelAlg("cbc(camellia)", 0, False, "authenc cbc camellia"),
    EncrId.NULL: KernelAlg("ecb(cipher_null)", 0, False, "crypto_null"),
}

INTEG: dict[int, KernelAlg] = {
    IntegId.HMAC_SHA2_256_128: KernelAlg("hmac(sha256)", 128, modules="hmac sha256"),
    IntegId.HMAC_SHA2_384_192: KernelAlg("hmac(sha384)", 192, modules="hmac sha512"),
    IntegId.HMAC_SHA2_512_256: KernelAlg("hmac(sha512)", 256, modules="hmac sha512"),
    IntegId.HMAC_SHA1_96: KernelAlg("hmac(sha1)", 96, modules="hmac sha1"),
    IntegId.HMAC_MD5_96: KernelAlg("hmac(md5)", 96, modules="hmac md5"),
    IntegId.AES_XCBC_96: KernelAlg("xcbc(aes)", 96, modules="xcbc aes"),
    IntegId.AES_CMAC_96: KernelAlg("cmac(aes)", 96, modules="cmac aes"),
}


class UnsupportedAlgorithm(ValueError):
    """An IKE transform id this backend cannot express to the kernel."""


def encr_alg(encr_id: int) -> KernelAlg:
    try:
        return ENCR[encr_id]
    except KeyError:
        raise UnsupportedAlgorithm(
            f"ESP encryption transform {_name(EncrId, encr_id)} has no kernel XFRM name here "
            f"(supported: {', '.join(_name(EncrId, i) for i in ENCR)})") from None


def integ_alg(integ_id: int) -> KernelAlg:
    try:
        return INTEG[integ_id]
    except KeyError:
        raise UnsupportedAlgorithm(
            f"ESP integrity transform {_name(IntegId, integ_id)} has no kernel XFRM name here "
            f"(supported: {', '.join(_name(IntegId, i) for i in INTEG)})") from None


def _name(enum: type[EncrId] | type[IntegId], value: int) -> str:
    try:
        return f"{enum(value).name}({int(value)})"
    except ValueError:
        return str(int(value))
