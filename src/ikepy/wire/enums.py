"""IANA "Internet Key Exchange Version 2 (IKEv2) Parameters" registries.

Names follow the registry (RFC 7296 section 3 and the extension RFCs cited per
member). Values not listed here are still legal on the wire: every codec field
is a plain ``int`` so that unknown code points survive a parse/serialize round
trip; use ``enum_name()`` to print one.

A few registry names are not valid Python identifiers or are long; the
readable alias (for example ``AuthMethod.PSK`` for ``SHARED_KEY_MIC``) is
defined *after* the registry name so that ``.name`` returns the registry name.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

__all__ = [
    "AuthMethod",
    "CertEncoding",
    "CfgType",
    "ConfigAttributeType",
    "EncrId",
    "EsnId",
    "ExchangeType",
    "HeaderFlags",
    "IdType",
    "IntegId",
    "KeId",
    "NotifyType",
    "PayloadType",
    "PrfId",
    "ProtocolId",
    "TransformAttributeType",
    "TransformType",
    "TsType",
    "enum_name",
]


class ExchangeType(IntEnum):
    """IKEv2 Exchange Types (RFC 7296 3.1)."""

    IKE_SA_INIT = 34
    IKE_AUTH = 35
    CREATE_CHILD_SA = 36
    INFORMATIONAL = 37
    IKE_SESSION_RESUME = 38  # RFC 5723
    IKE_INTERMEDIATE = 43  # RFC 9242
    IKE_FOLLOWUP_KE = 44  # RFC 9370


class HeaderFlags(IntFlag):
    """IKE header Flags octet (RFC 7296 3.1); the other bits are reserved."""

    INITIATOR = 0x08
    VERSION = 0x10
    RESPONSE = 0x20


class PayloadType(IntEnum):
    """IKEv2 Payload Types (RFC 7296 3.2)."""

    NONE = 0
    SA = 33
    KE = 34
    IDi = 35
    IDr = 36
    CERT = 37
    CERTREQ = 38
    AUTH = 39
    NONCE = 40
    NOTIFY = 41
    DELETE = 42
    VENDOR_ID = 43
    TSi = 44
    TSr = 45
    SK = 46
    CP = 47
    EAP = 48
    GSPM = 49  # RFC 6467
    SKF = 53  # RFC 7383
    PS = 54  # RFC 8019 (Puzzle Solution)


class ProtocolId(IntEnum):
    """Security Protocol Identifiers (RFC 7296 3.3.1)."""

    IKE = 1
    AH = 2
    ESP = 3
    FC_ESP_HEADER = 4  # RFC 4595
    FC_CT_AUTHENTICATION = 5  # RFC 4595


class TransformType(IntEnum):
    """Transform Type Values (RFC 7296 3.3.2, RFC 9370 for ADDKE1..7)."""

    ENCR = 1
    PRF = 2
    INTEG = 3
    KE = 4  # "D-H" before RFC 9370
    ESN = 5
    ADDKE1 = 6
    ADDKE2 = 7
    ADDKE3 = 8
    ADDKE4 = 9
    ADDKE5 = 10
    ADDKE6 = 11
    ADDKE7 = 12


class EncrId(IntEnum):
    """Transform Type 1 - Encryption Algorithm Transform IDs."""

    DES_IV64 = 1
    DES = 2
    TRIPLE_DES = 3  # registry name "ENCR_3DES"
    RC5 = 4
    IDEA = 5
    CAST = 6
    BLOWFISH = 7
    THREE_IDEA = 8  # registry name "ENCR_3IDEA"
    DES_IV32 = 9
    NULL = 11
    AES_CBC = 12
    AES_CTR = 13  # RFC 5930
    AES_CCM_8 = 14  # RFC 5282
    AES_CCM_12 = 15
    AES_CCM_16 = 16
    AES_GCM_8 = 18  # RFC 5282
    AES_GCM_12 = 19
    AES_GCM_16 = 20
    NULL_AUTH_AES_GMAC = 21  # RFC 4543
    CAMELLIA_CBC = 23  # RFC 5529
    CAMELLIA_CTR = 24
    CAMELLIA_CCM_8 = 25
    CAMELLIA_CCM_12 = 26
    CAMELLIA_CCM_16 = 27
    CHACHA20_POLY1305 = 28  # RFC 7634


class PrfId(IntEnum):
    """Transform Type 2 - Pseudorandom Function Transform IDs."""

    HMAC_MD5 = 1
    HMAC_SHA1 = 2
    HMAC_TIGER = 3
    AES128_XCBC = 4  # RFC 4434
    HMAC_SHA2_256 = 5  # RFC 4868
    HMAC_SHA2_384 = 6
    HMAC_SHA2_512 = 7
    AES128_CMAC = 8  # RFC 4615


class IntegId(IntEnum):
    """Transform Type 3 - Integrity Algorithm Transform IDs."""

    NONE = 0
    HMAC_MD5_96 = 1
    HMAC_SHA1_96 = 2
    DES_MAC = 3
    KPDK_MD5 = 4
    AES_XCBC_96 = 5  # RFC 3566
    HMAC_MD5_128 = 6  # RFC 4595
    HMAC_SHA1_160 = 7  # RFC 4595
    AES_CMAC_96 = 8  # RFC 4494
    AES_128_GMAC = 9  # RFC 4543
    AES_192_GMAC = 10
    AES_256_GMAC = 11
    HMAC_SHA2_256_128 = 12  # RFC 4868
    HMAC_SHA2_384_192 = 13
    HMAC_SHA2_512_256 = 14


class KeId(IntEnum):
    """Transform Type 4 - Key Exchange Method Transform IDs (RFC 9370 name)."""

    NONE = 0
    MODP_768 = 1
    MODP_1024 = 2
    MODP_1536 = 5  # RFC 3526
    MODP_2048 = 14
    MODP_3072 = 15
    MODP_4096 = 16
    MODP_6144 = 17
    MODP_8192 = 18
    ECP_256 = 19  # RFC 5903
    ECP_384 = 20
    ECP_521 = 21
    MODP_1024_160 = 22  # RFC 5114
    MODP_2048_224 = 23
    MODP_2048_256 = 24
    ECP_192 = 25  # RFC 5114
    ECP_224 = 26
    BRAINPOOL_P224R1 = 27  # RFC 6954
    BRAINPOOL_P256R1 = 28
    BRAINPOOL_P384R1 = 29
    BRAINPOOL_P512R1 = 30
    CURVE25519 = 31  # RFC 8031
    CURVE448 = 32
    ML_KEM_512 = 35  # draft-ietf-ipsecme-ikev2-mlkem
    ML_KEM_768 = 36
    ML_KEM_1024 = 37


class EsnId(IntEnum):
    """Transform Type 5 - Extended Sequence Numbers Transform IDs."""

    NO_ESN = 0
    ESN = 1
    NO = 0  # alias
    YES = 1  # alias


class TransformAttributeType(IntEnum):
    """IKEv2 Transform Attribute Types (RFC 7296 3.3.5)."""

    KEY_LENGTH = 14


class NotifyType(IntEnum):
    """IKEv2 Notify Message Types (RFC 7296 3.10.1).

    Error types are below 16384, status types from 16384 on.
    """

    # --- Error types ---
    UNSUPPORTED_CRITICAL_PAYLOAD = 1
    INVALID_IKE_SPI = 4
    INVALID_MAJOR_VERSION = 5
    INVALID_SYNTAX = 7
    INVALID_MESSAGE_ID = 9
    INVALID_SPI = 11
    NO_PROPOSAL_CHOSEN = 14
    INVALID_KE_PAYLOAD = 17
    AUTHENTICATION_FAILED = 24
    SINGLE_PAIR_REQUIRED = 34
    NO_ADDITIONAL_SAS = 35
    INTERNAL_ADDRESS_FAILURE = 36
    FAILED_CP_REQUIRED = 37
    TS_UNACCEPTABLE = 38
    INVALID_SELECTORS = 39
    UNACCEPTABLE_ADDRESSES = 40  # RFC 4555
    UNEXPECTED_NAT_DETECTED = 41  # RFC 4555
    USE_ASSIGNED_HoA = 42  # RFC 5026
    TEMPORARY_FAILURE = 43
    CHILD_SA_NOT_FOUND = 44
    # --- Status types ---
    INITIAL_CONTACT = 16384
    SET_WINDOW_SIZE = 16385
    ADDITIONAL_TS_POSSIBLE = 16386
    IPCOMP_SUPPORTED = 16387
    NAT_DETECTION_SOURCE_IP = 16388
    NAT_DETECTION_DESTINATION_IP = 16389
    COOKIE = 16390
    USE_TRANSPORT_MODE = 16391
    HTTP_CERT_LOOKUP_SUPPORTED = 16392
    REKEY_SA = 16393
    ESP_TFC_PADDING_NOT_SUPPORTED = 16394
    NON_FIRST_FRAGMENTS_ALSO = 16395
    MOBIKE_SUPPORTED = 16396  # RFC 4555
    ADDITIONAL_IP4_ADDRESS = 16397
    ADDITIONAL_IP6_ADDRESS = 16398
    NO_ADDITIONAL_ADDRESSES = 16399
    UPDATE_SA_ADDRESSES = 16400
    COOKIE2 = 16401
    NO_NATS_ALLOWED = 16402
    AUTH_LIFETIME = 16403  # RFC 4478
    MULTIPLE_AUTH_SUPPORTED = 16404  # RFC 4739
    ANOTHER_AUTH_FOLLOWS = 16405
    REDIRECT_SUPPORTED = 16406  # RFC 5685
    REDIRECT = 16407
    REDIRECTED_FROM = 16408
    TICKET_LT_OPAQUE = 16409  # RFC 5723
    TICKET_REQUEST = 16410
    TICKET_ACK = 16411
    TICKET_NACK = 16412
    TICKET_OPAQUE = 16413
    LINK_ID = 16414  # RFC 5739
    USE_WESP_MODE = 16415  # RFC 5840
    ROHC_SUPPORTED = 16416  # RFC 5857
    EAP_ONLY_AUTHENTICATION = 16417  # RFC 5998
    CHILDLESS_IKEV2_SUPPORTED = 16418  # RFC 6023
    QUICK_CRASH_DETECTION = 16419  # RFC 6290
    IKEV2_MESSAGE_ID_SYNC_SUPPORTED = 16420  # RFC 6311
    IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED = 16421
    IKEV2_MESSAGE_ID_SYNC = 16422
    IPSEC_REPLAY_COUNTER_SYNC = 16423
    SECURE_PASSWORD_METHODS = 16424  # RFC 6467
    PSK_PERSIST = 16425  # RFC 6631
    PSK_CONFIRM = 16426
    ERX_SUPPORTED = 16427  # RFC 6867
    IFOM_CAPABILITY = 16428  # 3GPP TS 24.303
    SENDER_REQUEST_ID = 16429  # G-IKEv2
    IKEV2_FRAGMENTATION_SUPPORTED = 16430  # RFC 7383
    SIGNATURE_HASH_ALGORITHMS = 16431  # RFC 7427
    CLONE_IKE_SA_SUPPORTED = 16432  # RFC 7791
    CLONE_IKE_SA = 16433
    PUZZLE = 16434  # RFC 8019
    USE_PPK = 16435  # RFC 8784
    PPK_IDENTITY = 16436
    NO_PPK_AUTH = 16437
    INTERMEDIATE_EXCHANGE_SUPPORTED = 16438  # RFC 9242
    IP4_ALLOWED = 16439  # RFC 8983
    IP6_ALLOWED = 16440
    ADDITIONAL_KEY_EXCHANGE = 16441  # RFC 9370
    USE_AGGFRAG = 16442  # RFC 9347
    SUPPORTED_AUTH_METHODS = 16443  # RFC 9593
    SA_RESOURCE_INFO = 16444  # RFC 9611

    @property
    def is_error(self) -> bool:
        return self.value < 16384


class IdType(IntEnum):
    """IKEv2 Identification Payload ID Types (RFC 7296 3.5)."""

    ID_IPV4_ADDR = 1
    ID_FQDN = 2
    ID_RFC822_ADDR = 3
    ID_IPV6_ADDR = 5
    ID_DER_ASN1_DN = 9
    ID_DER_ASN1_GN = 10
    ID_KEY_ID = 11
    ID_FC_NAME = 12  # RFC 4595
    ID_NULL = 13  # RFC 7619


class AuthMethod(IntEnum):
    """IKEv2 Authentication Method (RFC 7296 3.8)."""

    RSA_DIGITAL_SIGNATURE = 1
    SHARED_KEY_MIC = 2  # "Shared Key Message Integrity Code"
    DSS_DIGITAL_SIGNATURE = 3
    ECDSA_SHA256_P256 = 9  # RFC 4754
    ECDSA_SHA384_P384 = 10
    ECDSA_SHA512_P521 = 11
    GSPAM = 12  # RFC 6467
    NULL = 13  # RFC 7619
    DIGITAL_SIGNATURE = 14  # RFC 7427
    # short aliases
    RSA = 1
    PSK = 2
    DSS = 3
    ECDSA_256 = 9
    ECDSA_384 = 10
    ECDSA_521 = 11


class TsType(IntEnum):
    """IKEv2 Traffic Selector Types (RFC 7296 3.13.1)."""

    TS_IPV4_ADDR_RANGE = 7
    TS_IPV6_ADDR_RANGE = 8
    TS_FC_ADDR_RANGE = 9  # RFC 4595 (not decoded by this codec)


class CfgType(IntEnum):
    """IKEv2 Configuration Payload CFG Types (RFC 7296 3.15)."""

    CFG_REQUEST = 1
    CFG_REPLY = 2
    CFG_SET = 3
    CFG_ACK = 4


class ConfigAttributeType(IntEnum):
    """IKEv2 Configuration Payload Attribute Types (RFC 7296 3.15.1)."""

    INTERNAL_IP4_ADDRESS = 1
    INTERNAL_IP4_NETMASK = 2
    INTERNAL_IP4_DNS = 3
    INTERNAL_IP4_NBNS = 4
    INTERNAL_ADDRESS_EXPIRY = 5  # RFC 4306, deprecated
    INTERNAL_IP4_DHCP = 6
    APPLICATION_VERSION = 7
    INTERNAL_IP6_ADDRESS = 8
    INTERNAL_IP6_DNS = 10
    INTERNAL_IP6_NBNS = 11  # RFC 4306, deprecated
    INTERNAL_IP6_DHCP = 12
    INTERNAL_IP4_SUBNET = 13
    SUPPORTED_ATTRIBUTES = 14
    INTERNAL_IP6_SUBNET = 15
    MIP6_HOME_PREFIX = 16  # RFC 5026
    INTERNAL_IP6_LINK = 17  # RFC 5739
    INTERNAL_IP6_PREFIX = 18  # RFC 5739
    HOME_AGENT_ADDRESS = 19  # 3GPP TS 24.302
    P_CSCF_IP4_ADDRESS = 20  # RFC 7651
    P_CSCF_IP6_ADDRESS = 21  # RFC 7651
    INTERNAL_DNS_DOMAIN = 25  # RFC 8598
    INTERNAL_DNSSEC_TA = 26  # RFC 8598


class CertEncoding(IntEnum):
    """IKEv2 Certificate Encodings (RFC 7296 3.6)."""

    PKCS7_WRAPPED_X509 = 1
    PGP = 2
    DNS_SIGNED_KEY = 3
    X509_CERT_SIGNATURE = 4
    KERBEROS_TOKEN = 6
    CRL = 7
    ARL = 8
    SPKI = 9
    X509_CERT_ATTRIBUTE = 10
    RAW_RSA_KEY = 11  # deprecated by RFC 7670
    HASH_URL_X509_CERT = 12
    HASH_URL_X509_BUNDLE = 13
    OCSP_CONTENT = 14  # RFC 4806
    RAW_PUBLIC_KEY = 15  # RFC 7670


def enum_name(enum_cls: type[IntEnum], value: int) -> str:
    """The registry name of ``value`` in ``enum_cls``, or the number as text."""
    try:
        return enum_cls(value).name
    except ValueError:
        return str(value)
