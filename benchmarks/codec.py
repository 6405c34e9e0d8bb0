"""Wire codec throughput: parse and serialize rates in messages per second.

Run with ``python benchmarks/codec.py [seconds-per-case]``.  Not a test.

Cases:
* a typical IKE_SA_INIT request: SA with one proposal of 4 transforms, KE
  (X25519, 32 octets), Nonce (32), N(NATD_S_IP), N(NATD_D_IP), N(FRAG_SUP),
  N(HASH_ALG);
* a typical protected IKE_AUTH request, outer only (header + raw SK);
* the inner chain of that IKE_AUTH: IDi, AUTH, SA, TSi, TSr, N.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from ipaddress import IPv4Address

from ikepy.wire import (
    AuthMethod,
    AuthPayload,
    EncrId,
    EncryptedPayload,
    ExchangeType,
    HeaderFlags,
    IDiPayload,
    IdType,
    IkeHeader,
    IntegId,
    KeId,
    KePayload,
    Message,
    NoncePayload,
    NotifyPayload,
    NotifyType,
    PayloadType,
    PrfId,
    Proposal,
    ProtocolId,
    SaPayload,
    TrafficSelector,
    Transform,
    TransformAttribute,
    TransformAttributeType,
    TransformType,
    TSiPayload,
    TSrPayload,
    TsType,
    parse_message,
    parse_payloads,
    serialize_message,
    serialize_payloads,
)

SPI_I = bytes.fromhex("0123456789abcdef")
SPI_R = bytes.fromhex("fedcba9876543210")


def ike_sa_init() -> Message:
    aes256 = (TransformAttribute(TransformAttributeType.KEY_LENGTH, 256),)
    sa = SaPayload(
        (
            Proposal(
                1,
                ProtocolId.IKE,
                b"",
                (
                    Transform(TransformType.ENCR, EncrId.AES_GCM_16, aes256),
                    Transform(TransformType.PRF, PrfId.HMAC_SHA2_256),
                    Transform(TransformType.KE, KeId.CURVE25519),
                    Transform(TransformType.KE, KeId.ECP_256),
                ),
            ),
        )
    )
    payloads = (
        sa,
        KePayload(KeId.CURVE25519, bytes(range(32))),
        NoncePayload(bytes(range(100, 132))),
        NotifyPayload(0, b"", NotifyType.NAT_DETECTION_SOURCE_IP, b"\x11" * 20),
        NotifyPayload(0, b"", NotifyType.NAT_DETECTION_DESTINATION_IP, b"\x22" * 20),
        NotifyPayload(0, b"", NotifyType.IKEV2_FRAGMENTATION_SUPPORTED),
        NotifyPayload(
            0, b"", NotifyType.SIGNATURE_HASH_ALGORITHMS, bytes.fromhex("0002000300040005")
        ),
    )
    hdr = IkeHeader(SPI_I, bytes(8), 0, ExchangeType.IKE_SA_INIT, HeaderFlags.INITIATOR, 0, 0)
    return Message(hdr, payloads)


def ike_auth_inner() -> tuple:
    ts = TrafficSelector(
        TsType.TS_IPV4_ADDR_RANGE, 0, 0, 65535, IPv4Address("10.0.0.0"), IPv4Address("10.0.0.255")
    )
    sa = SaPayload(
        (
            Proposal(
                1,
                ProtocolId.ESP,
                b"\xc1\xc2\xc3\xc4",
                (
                    Transform(
                        TransformType.ENCR,
                        EncrId.AES_CBC,
                        (TransformAttribute(TransformAttributeType.KEY_LENGTH, 128),),
                    ),
                    Transform(TransformType.INTEG, IntegId.HMAC_SHA2_256_128),
                    Transform(TransformType.ESN, 0),
                ),
            ),
        )
    )
    return (
        IDiPayload(IdType.ID_FQDN, b"moon.strongswan.org"),
        AuthPayload(AuthMethod.SHARED_KEY_MIC, bytes(32)),
        sa,
        TSiPayload((ts,)),
        TSrPayload((ts,)),
        NotifyPayload(0, b"", NotifyType.MOBIKE_SUPPORTED),
    )


def ike_auth_outer(inner_len: int) -> Message:
    # IV 16 + ciphertext (inner padded to 16) + ICV 16, as AES-CBC/HMAC would.
    sk = EncryptedPayload(PayloadType.IDi, bytes(16 + (inner_len // 16 + 1) * 16 + 16))
    hdr = IkeHeader(SPI_I, SPI_R, 0, ExchangeType.IKE_AUTH, HeaderFlags.INITIATOR, 1, 0)
    return Message(hdr, (sk,))


def rate(fn: Callable[[], object], seconds: float) -> float:
    n, batch = 0, 200
    start = time.perf_counter()
    while True:
        for _ in range(batch):
            fn()
        n += batch
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n / elapsed


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    init = ike_sa_init()
    init_raw = serialize_message(init)
    inner = ike_auth_inner()
    first, inner_raw = serialize_payloads(inner)
    auth = ike_auth_outer(len(inner_raw))
    auth_raw = serialize_message(auth)
    assert parse_message(init_raw) == Message(
        init.header.with_length(PayloadType.SA, len(init_raw)), init.payloads
    )
    assert parse_payloads(first, inner_raw) == inner

    cases: list[tuple[str, int, Callable[[], object], Callable[[], object]]] = [
        (
            "IKE_SA_INIT request",
            len(init_raw),
            lambda: parse_message(init_raw),
            lambda: serialize_message(init),
        ),
        (
            "IKE_AUTH outer (SK raw)",
            len(auth_raw),
            lambda: parse_message(auth_raw),
            lambda: serialize_message(auth),
        ),
        (
            "IKE_AUTH inner chain",
            len(inner_raw),
            lambda: parse_payloads(first, inner_raw),
            lambda: serialize_payloads(inner),
        ),
    ]
    print(f"python {sys.version.split()[0]}, {seconds:g} s per measurement")
    print(f"{'case':26} {'octets':>6} {'parse/s':>12} {'serialize/s':>12}")
    for name, size, parse, ser in cases:
        print(f"{name:26} {size:6d} {rate(parse, seconds):12,.0f} {rate(ser, seconds):12,.0f}")
    print(f"sample: {parse_message(init_raw)}")


if __name__ == "__main__":
    main()
