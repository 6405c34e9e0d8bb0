"""IKEv2 payload bodies (RFC 7296 section 3.2 to 3.16, RFC 7383 2.5).

One frozen, slotted dataclass per payload.  ``parse_body(body)`` decodes what
follows the 4-octet generic payload header and ``serialize_body()`` produces
it again; the generic header itself (Next Payload, C bit, Payload Length) is
written by ``ikepy.wire.message``.

Structure is checked here (every length, count and SPI size); meaning (is the
proposal acceptable, are the ports ordered?) is checked by the engine.

RESERVED fields are ignored on receipt (RFC 7296 3.2 "MUST be ignored") and
written as zero, so a message whose peer set reserved bits does not
re-serialize byte for byte.  The one exception is the three RESERVED octets
of the ID payloads: they are part of the octets the AUTH payload signs
(RFC 7296 2.15, "RestOfInitIDPayload"), so they are kept in ``reserved``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Any, ClassVar, Final, Self, TypeAlias

from .enums import (
    ConfigAttributeType,
    IdType,
    NotifyType,
    PayloadType,
    ProtocolId,
    TransformAttributeType,
    TsType,
)
from .errors import InvalidSyntax

__all__ = [
    "PAYLOAD_CLASSES",
    "AuthPayload",
    "CertPayload",
    "CertReqPayload",
    "ConfigAttribute",
    "ConfigPayload",
    "DeletePayload",
    "EapPayload",
    "EncryptedFragmentPayload",
    "EncryptedPayload",
    "IDiPayload",
    "IDrPayload",
    "KePayload",
    "NoncePayload",
    "NotifyPayload",
    "Payload",
    "Proposal",
    "SaPayload",
    "TSiPayload",
    "TSrPayload",
    "TrafficSelector",
    "Transform",
    "TransformAttribute",
    "UnknownPayload",
    "VendorIdPayload",
    "payload_type_of",
]

_U8_U8_U16 = struct.Struct("!BBH")  # notify, delete, attribute-less headers
_U16_U16 = struct.Struct("!HH")  # KE header, attributes, SKF header
_U8_3X = struct.Struct("!B3x")  # ID/AUTH/CP/TS header with 3 reserved octets
_U8_3S = struct.Struct("!B3s")  # ID header keeping RESERVED
_PROPOSAL = struct.Struct("!BxHBBBB")
_TRANSFORM = struct.Struct("!BxHBxH")
_TS_HDR = struct.Struct("!BBHHH")
_TS4 = struct.Struct("!BBHHH4s4s")
_TS6 = struct.Struct("!BBHHH16s16s")

_IKE: Final = int(ProtocolId.IKE)
_AH: Final = int(ProtocolId.AH)
_ESP: Final = int(ProtocolId.ESP)
_TS_IPV4: Final = int(TsType.TS_IPV4_ADDR_RANGE)
_TS_IPV6: Final = int(TsType.TS_IPV6_ADDR_RANGE)
_KEY_LENGTH: Final = int(TransformAttributeType.KEY_LENGTH)

#: Allowed SPI sizes per Security Protocol ID in an SA proposal (RFC 7296 3.3.1):
#: IKE carries none in IKE_SA_INIT and 8 octets when rekeying the IKE SA.
PROPOSAL_SPI_SIZES: Final[dict[int, tuple[int, ...]]] = {_IKE: (0, 8), _AH: (4,), _ESP: (4,)}

#: Notification Data lengths fixed by an RFC, (min, max) octets.
NOTIFY_DATA_LENGTHS: Final[dict[int, tuple[int, int]]] = {
    NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD: (1, 1),  # 3.10.1: the payload type
    NotifyType.INVALID_MESSAGE_ID: (4, 4),  # 3.10.1: the Message ID
    NotifyType.INVALID_KE_PAYLOAD: (2, 2),  # 3.10.1: the accepted group
    NotifyType.SET_WINDOW_SIZE: (4, 4),  # 3.10.1
    NotifyType.NAT_DETECTION_SOURCE_IP: (20, 20),  # 2.23: SHA-1 digest
    NotifyType.NAT_DETECTION_DESTINATION_IP: (20, 20),
    NotifyType.COOKIE: (1, 64),  # 2.6
    NotifyType.ADDITIONAL_IP4_ADDRESS: (4, 4),  # RFC 4555 3.6
    NotifyType.ADDITIONAL_IP6_ADDRESS: (16, 16),
    NotifyType.AUTH_LIFETIME: (4, 4),  # RFC 4478
    NotifyType.IKEV2_FRAGMENTATION_SUPPORTED: (0, 0),  # RFC 7383 2.3
}

#: Configuration attribute value lengths (RFC 7296 3.15.1), allowed sets.
CONFIG_ATTRIBUTE_LENGTHS: Final[dict[int, frozenset[int]]] = {
    ConfigAttributeType.INTERNAL_IP4_ADDRESS: frozenset((0, 4)),
    ConfigAttributeType.INTERNAL_IP4_NETMASK: frozenset((0, 4)),
    ConfigAttributeType.INTERNAL_IP4_DNS: frozenset((0, 4)),
    ConfigAttributeType.INTERNAL_IP4_NBNS: frozenset((0, 4)),
    ConfigAttributeType.INTERNAL_ADDRESS_EXPIRY: frozenset((0, 4)),
    ConfigAttributeType.INTERNAL_IP4_DHCP: frozenset((0, 4)),
    ConfigAttributeType.INTERNAL_IP6_ADDRESS: frozenset((0, 17)),
    ConfigAttributeType.INTERNAL_IP6_DNS: frozenset((0, 16)),
    ConfigAttributeType.INTERNAL_IP6_NBNS: frozenset((0, 16)),
    ConfigAttributeType.INTERNAL_IP6_DHCP: frozenset((0, 16)),
    ConfigAttributeType.INTERNAL_IP4_SUBNET: frozenset((0, 8)),
    ConfigAttributeType.INTERNAL_IP6_SUBNET: frozenset((0, 17)),
    ConfigAttributeType.P_CSCF_IP4_ADDRESS: frozenset((0, 4)),  # RFC 7651
    ConfigAttributeType.P_CSCF_IP6_ADDRESS: frozenset((0, 16, 17)),
}


def _u16(value: int, what: str) -> int:
    if not 0 <= value <= 0xFFFF:
        raise InvalidSyntax(f"{what} {value} does not fit in 16 bits")
    return value


def _u8(value: int, what: str) -> int:
    if not 0 <= value <= 0xFF:
        raise InvalidSyntax(f"{what} {value} does not fit in 8 bits")
    return value


def _check_notify_data(notify_type: int, n: int) -> None:
    bounds = NOTIFY_DATA_LENGTHS.get(notify_type)
    if bounds is not None and not bounds[0] <= n <= bounds[1]:
        raise InvalidSyntax(
            f"notify {notify_type} data of {n} octets, expected {bounds[0]}..{bounds[1]}"
        )
    if notify_type == NotifyType.SIGNATURE_HASH_ALGORITHMS and n % 2:
        raise InvalidSyntax("SIGNATURE_HASH_ALGORITHMS data is not a list of 16-bit values")


# ---------------------------------------------------------------------------
# SA payload (3.3)
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TransformAttribute:
    """Data Attribute (3.3.5): an ``int`` value is TV format, ``bytes`` is TLV."""

    attr_type: int
    value: int | bytes

    def serialize(self) -> bytes:
        if not 0 <= self.attr_type < 0x8000:
            raise InvalidSyntax(f"transform attribute type {self.attr_type} out of range")
        if isinstance(self.value, int):
            return _U16_U16.pack(self.attr_type | 0x8000, _u16(self.value, "TV attribute value"))
        return _U16_U16.pack(self.attr_type, _u16(len(self.value), "TLV attribute length")) + bytes(
            self.value
        )


def _parse_attributes(data: bytes, off: int, end: int) -> tuple[TransformAttribute, ...]:
    attrs: list[TransformAttribute] = []
    while off < end:
        if off + 4 > end:
            raise InvalidSyntax("truncated transform attribute")
        af_type, lv = _U16_U16.unpack_from(data, off)
        off += 4
        if af_type & 0x8000:
            attrs.append(TransformAttribute(af_type & 0x7FFF, lv))
        else:
            if off + lv > end:
                raise InvalidSyntax("transform attribute length exceeds its transform")
            attrs.append(TransformAttribute(af_type, data[off : off + lv]))
            off += lv
    return tuple(attrs)


@dataclass(frozen=True, slots=True)
class Transform:
    """Transform Substructure (3.3.2)."""

    transform_type: int
    transform_id: int
    attributes: tuple[TransformAttribute, ...] = ()

    @property
    def key_length(self) -> int | None:
        for attr in self.attributes:
            if attr.attr_type == _KEY_LENGTH and isinstance(attr.value, int):
                return attr.value
        return None

    def serialize(self, last: bool) -> bytes:
        attrs = b"".join([a.serialize() for a in self.attributes])
        return (
            _TRANSFORM.pack(
                0 if last else 3,
                _u16(8 + len(attrs), "transform length"),
                _u8(self.transform_type, "transform type"),
                _u16(self.transform_id, "transform ID"),
            )
            + attrs
        )


@dataclass(frozen=True, slots=True)
class Proposal:
    """Proposal Substructure (3.3.1); ``spi`` is empty for IKE_SA_INIT."""

    number: int
    protocol_id: int
    spi: bytes
    transforms: tuple[Transform, ...]

    def serialize(self, last: bool) -> bytes:
        sizes = PROPOSAL_SPI_SIZES.get(self.protocol_id)
        if sizes is not None and len(self.spi) not in sizes:
            raise InvalidSyntax(
                f"proposal SPI of {len(self.spi)} octets for protocol {self.protocol_id}"
            )
        n = len(self.transforms)
        body = b"".join([t.serialize(i == n - 1) for i, t in enumerate(self.transforms)])
        return (
            _PROPOSAL.pack(
                0 if last else 2,
                _u16(8 + len(self.spi) + len(body), "proposal length"),
                _u8(self.number, "proposal number"),
                _u8(self.protocol_id, "protocol ID"),
                _u8(len(self.spi), "SPI size"),
                _u8(n, "transform count"),
            )
            + self.spi
            + body
        )


def _parse_proposal(data: bytes, off: int, end: int) -> Proposal:
    # ``off`` points after the 8-octet proposal header, ``end`` is its end.
    _, _, number, protocol_id, spi_size, n_transforms = _PROPOSAL.unpack_from(data, off - 8)
    sizes = PROPOSAL_SPI_SIZES.get(protocol_id)
    if sizes is not None and spi_size not in sizes:
        raise InvalidSyntax(f"proposal SPI size {spi_size} invalid for protocol {protocol_id}")
    if off + spi_size > end:
        raise InvalidSyntax("proposal SPI exceeds the proposal")
    spi = data[off : off + spi_size]
    off += spi_size
    transforms: list[Transform] = []
    for i in range(n_transforms):
        if off + 8 > end:
            raise InvalidSyntax(f"proposal {number} announces {n_transforms} transforms, has {i}")
        last_more, length, t_type, t_id = _TRANSFORM.unpack_from(data, off)
        if last_more != (3 if i < n_transforms - 1 else 0):
            raise InvalidSyntax(f"transform Last Substruc {last_more} disagrees with the count")
        if length < 8 or off + length > end:
            raise InvalidSyntax(f"transform length {length} inconsistent with its proposal")
        attrs = _parse_attributes(data, off + 8, off + length) if length > 8 else ()
        transforms.append(Transform(t_type, t_id, attrs))
        off += length
    if off != end:
        raise InvalidSyntax(f"proposal {number} has {end - off} octets after its transforms")
    return Proposal(number, protocol_id, spi, tuple(transforms))


@dataclass(frozen=True, slots=True)
class SaPayload:
    """Security Association payload (3.3): one or more proposals."""

    PAYLOAD_TYPE: ClassVar[int] = PayloadType.SA
    proposals: tuple[Proposal, ...]

    @classmethod
    def parse_body(cls, body: bytes) -> SaPayload:
        proposals: list[Proposal] = []
        off, end = 0, len(body)
        if not end:
            raise InvalidSyntax("SA payload without proposals")
        while off < end:
            if off + 8 > end:
                raise InvalidSyntax("truncated proposal header")
            last_more, length = body[off], (body[off + 2] << 8) | body[off + 3]
            if length < 8 or off + length > end:
                raise InvalidSyntax(f"proposal length {length} inconsistent with the SA payload")
            is_last = off + length == end
            if last_more != (0 if is_last else 2):
                raise InvalidSyntax(
                    f"proposal Last Substruc {last_more} disagrees with its position"
                )
            proposals.append(_parse_proposal(body, off + 8, off + length))
            off += length
        return cls(tuple(proposals))

    def serialize_body(self) -> bytes:
        n = len(self.proposals)
        if not n:
            raise InvalidSyntax("SA payload without proposals")
        return b"".join([p.serialize(i == n - 1) for i, p in enumerate(self.proposals)])


# ---------------------------------------------------------------------------
# Simple payloads
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KePayload:
    """Key Exchange payload (3.4)."""

    PAYLOAD_TYPE: ClassVar[int] = PayloadType.KE
    group: int
    data: bytes

    @classmethod
    def parse_body(cls, body: bytes) -> KePayload:
        if len(body) <= 4:
            raise InvalidSyntax("KE payload without key exchange data")
        return cls((body[0] << 8) | body[1], body[4:])

    def serialize_body(self) -> bytes:
        if not self.data:
            raise InvalidSyntax("KE payload without key exchange data")
        return _U16_U16.pack(_u16(self.group, "KE group"), 0) + self.data


_ID_ADDR_LENGTHS: Final = {int(IdType.ID_IPV4_ADDR): 4, int(IdType.ID_IPV6_ADDR): 16}


@dataclass(frozen=True, slots=True)
class _IdPayload:
    """Identification payloads (3.5); ``reserved`` is kept, AUTH signs it."""

    PAYLOAD_TYPE: ClassVar[int] = 0
    id_type: int
    data: bytes
    reserved: bytes = b"\x00\x00\x00"

    @classmethod
    def parse_body(cls, body: bytes) -> Self:
        if len(body) < 4:
            raise InvalidSyntax("truncated ID payload")
        id_type, reserved = _U8_3S.unpack_from(body, 0)
        data = body[4:]
        want = _ID_ADDR_LENGTHS.get(id_type)
        if want is not None and len(data) != want:
            raise InvalidSyntax(f"ID type {id_type} with {len(data)} octets of data")
        return cls(id_type, data, reserved)

    def serialize_body(self) -> bytes:
        want = _ID_ADDR_LENGTHS.get(self.id_type)
        if want is not None and len(self.data) != want:
            raise InvalidSyntax(f"ID type {self.id_type} with {len(self.data)} octets of data")
        if len(self.reserved) != 3:
            raise InvalidSyntax("ID RESERVED must be 3 octets")
        return _U8_3S.pack(_u8(self.id_type, "ID type"), self.reserved) + self.data


@dataclass(frozen=True, slots=True)
class IDiPayload(_IdPayload):
    PAYLOAD_TYPE: ClassVar[int] = PayloadType.IDi


@dataclass(frozen=True, slots=True)
class IDrPayload(_IdPayload):
    PAYLOAD_TYPE: ClassVar[int] = PayloadType.IDr


@dataclass(frozen=True, slots=True)
class _CertBase:
    PAYLOAD_TYPE: ClassVar[int] = 0
    encoding: int
    data: bytes

    @classmethod
    def parse_body(cls, body: bytes) -> Self:
        if not body:
            raise InvalidSyntax("certificate payload without encoding")
        return cls(body[0], body[1:])

    def serialize_body(self) -> bytes:
        return bytes((_u8(self.encoding, "certificate encoding"),)) + self.data


@dataclass(frozen=True, slots=True)
class CertPayload(_CertBase):
    """Certificate payload (3.6)."""

    PAYLOAD_TYPE: ClassVar[int] = PayloadType.CERT


@dataclass(frozen=True, slots=True)
class CertReqPayload(_CertBase):
    """Certificate Request payload (3.7)."""

    PAYLOAD_TYPE: ClassVar[int] = PayloadType.CERTREQ


@dataclass(frozen=True, slots=True)
class AuthPayload:
    """Authentication payload (3.8)."""

    PAYLOAD_TYPE: ClassVar[int] = PayloadType.AUTH
    method: int
    data: bytes

    @classmethod
    def parse_body(cls, body: bytes) -> AuthPayload:
        if len(body) < 4:
            raise InvalidSyntax("truncated AUTH payload")
        return cls(body[0], body[4:])

    def serialize_body(self) -> bytes:
        return _U8_3X.pack(_u8(self.method, "auth method")) + self.data


NONCE_MIN: Final = 16
NONCE_MAX: Final = 256


@dataclass(frozen=True, slots=True)
class NoncePayload:
    """Nonce payload (3.9): 16 to 256 octets."""

    PAYLOAD_TYPE: ClassVar[int] = PayloadType.NONCE
    data: bytes

    @classmethod
    def parse_body(cls, body: bytes) -> NoncePayload:
        if not NONCE_MIN <= len(body) <= NONCE_MAX:
            raise InvalidSyntax(f"nonce of {len(body)} octets (16..256 allowed)")
        return cls(body)

    def serialize_body(self) -> bytes:
        if not NONCE_MIN <= len(self.data) <= NONCE_MAX:
            raise InvalidSyntax(f"nonce of {len(self.data)} octets (16..256 allowed)")
        return self.data


def _check_notify_spi(protocol_id: int, spi_size: int) -> None:
    # 3.10: no SPI (any Protocol ID, ignored then), 4 octets for AH/ESP,
    # 8 for IKE (tolerated; 7296 says the SPI is empty for the IKE SA).
    if spi_size and not (
        (spi_size == 4 and protocol_id in (_AH, _ESP)) or (spi_size == 8 and protocol_id == _IKE)
    ):
        raise InvalidSyntax(f"notify SPI size {spi_size} invalid for protocol {protocol_id}")


@dataclass(frozen=True, slots=True)
class NotifyPayload:
    """Notify payload (3.10)."""

    PAYLOAD_TYPE: ClassVar[int] = PayloadType.NOTIFY
    protocol_id: int
    spi: bytes
    notify_type: int
    data: bytes = b""

    @classmethod
    def parse_body(cls, body: bytes) -> NotifyPayload:
        if len(body) < 4:
            raise InvalidSyntax("truncated Notify payload")
        protocol_id, spi_size, notify_type = _U8_U8_U16.unpack_from(body, 0)
        _check_notify_spi(protocol_id, spi_size)
        if 4 + spi_size > len(body):
            raise InvalidSyntax("notify SPI exceeds the payload")
        data = body[4 + spi_size :]
        _check_notify_data(notify_type, len(data))
        return cls(protocol_id, body[4 : 4 + spi_size], notify_type, data)

    def serialize_body(self) -> bytes:
        _check_notify_spi(self.protocol_id, len(self.spi))
        _check_notify_data(self.notify_type, len(self.data))
        return (
            _U8_U8_U16.pack(
                _u8(self.protocol_id, "protocol ID"),
                len(self.spi),
                _u16(self.notify_type, "notify type"),
            )
            + self.spi
            + self.data
        )

    @property
    def is_error(self) -> bool:
        return self.notify_type < 16384


_DELETE_SPI_SIZES: Final = {_IKE: 0, _AH: 4, _ESP: 4}


@dataclass(frozen=True, slots=True)
class DeletePayload:
    """Delete payload (3.11): no SPI for IKE, 4-octet SPIs for AH/ESP."""

    PAYLOAD_TYPE: ClassVar[int] = PayloadType.DELETE
    protocol_id: int
    spis: tuple[bytes, ...]

    @classmethod
    def parse_body(cls, body: bytes) -> DeletePayload:
        if len(body) < 4:
            raise InvalidSyntax("truncated Delete payload")
        protocol_id, spi_size, count = _U8_U8_U16.unpack_from(body, 0)
        want = _DELETE_SPI_SIZES.get(protocol_id)
        if want is not None and spi_size != want:
            raise InvalidSyntax(f"delete SPI size {spi_size} invalid for protocol {protocol_id}")
        if protocol_id == _IKE and count:
            raise InvalidSyntax("IKE SA delete must carry no SPIs")
        if want is None and count == 0 and spi_size:
            raise InvalidSyntax("delete with SPI size but no SPIs")
        if 4 + spi_size * count != len(body):
            raise InvalidSyntax(f"delete of {count} SPIs of {spi_size} octets has {len(body) - 4}")
        return cls(
            protocol_id,
            tuple([body[i : i + spi_size] for i in range(4, len(body), spi_size)])
            if spi_size
            else (),
        )

    def serialize_body(self) -> bytes:
        want = _DELETE_SPI_SIZES.get(self.protocol_id)
        size = len(self.spis[0]) if self.spis else (want or 0)
        if any(len(s) != size for s in self.spis) or size > 255:
            raise InvalidSyntax("delete SPIs of differing sizes")
        if want is not None and size != want:
            raise InvalidSyntax(f"delete SPI size {size} invalid for protocol {self.protocol_id}")
        if self.protocol_id == _IKE and self.spis:
            raise InvalidSyntax("IKE SA delete must carry no SPIs")
        if size == 0 and self.spis:
            raise InvalidSyntax("empty SPIs in a delete payload")
        return _U8_U8_U16.pack(
            _u8(self.protocol_id, "protocol ID"), size, _u16(len(self.spis), "SPI count")
        ) + b"".join(self.spis)


@dataclass(frozen=True, slots=True)
class VendorIdPayload:
    """Vendor ID payload (3.12)."""

    PAYLOAD_TYPE: ClassVar[int] = PayloadType.VENDOR_ID
    data: bytes

    @classmethod
    def parse_body(cls, body: bytes) -> VendorIdPayload:
        return cls(body)

    def serialize_body(self) -> bytes:
        return self.data


# ---------------------------------------------------------------------------
# Traffic selectors (3.13)
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrafficSelector:
    """Traffic Selector (3.13.1); port ordering is the engine's business."""

    ts_type: int
    ip_protocol: int
    start_port: int
    end_port: int
    start_addr: IPv4Address | IPv6Address
    end_addr: IPv4Address | IPv6Address

    def serialize(self) -> bytes:
        if self.ts_type == _TS_IPV4:
            st, version = _TS4, 4
        elif self.ts_type == _TS_IPV6:
            st, version = _TS6, 6
        else:
            raise InvalidSyntax(f"unsupported traffic selector type {self.ts_type}")
        if self.start_addr.version != version or self.end_addr.version != version:
            raise InvalidSyntax("traffic selector addresses do not match its type")
        return st.pack(
            self.ts_type,
            _u8(self.ip_protocol, "IP protocol"),
            st.size,
            _u16(self.start_port, "start port"),
            _u16(self.end_port, "end port"),
            self.start_addr.packed,
            self.end_addr.packed,
        )


def _parse_selectors(body: bytes) -> tuple[TrafficSelector, ...]:
    if len(body) < 4:
        raise InvalidSyntax("truncated traffic selector payload")
    count = body[0]
    off, end = 4, len(body)
    selectors: list[TrafficSelector] = []
    for i in range(count):
        if off + 8 > end:
            raise InvalidSyntax(f"TS payload announces {count} selectors, has {i}")
        ts_type, proto, length, sport, eport = _TS_HDR.unpack_from(body, off)
        if ts_type == _TS_IPV4:
            if length != 16 or off + 16 > end:
                raise InvalidSyntax(f"IPv4 traffic selector of length {length}")
            a = IPv4Address(body[off + 8 : off + 12])
            b = IPv4Address(body[off + 12 : off + 16])
        elif ts_type == _TS_IPV6:
            if length != 40 or off + 40 > end:
                raise InvalidSyntax(f"IPv6 traffic selector of length {length}")
            a6 = IPv6Address(body[off + 8 : off + 24])
            b6 = IPv6Address(body[off + 24 : off + 40])
            selectors.append(TrafficSelector(ts_type, proto, sport, eport, a6, b6))
            off += 40
            continue
        else:
            raise InvalidSyntax(f"unsupported traffic selector type {ts_type}")
        selectors.append(TrafficSelector(ts_type, proto, sport, eport, a, b))
        off += 16
    if off != end:
        raise InvalidSyntax(f"{end - off} octets after the last traffic selector")
    return tuple(selectors)


def _serialize_selectors(selectors: tuple[TrafficSelector, ...]) -> bytes:
    return _U8_3X.pack(_u8(len(selectors), "TS count")) + b"".join(
        [ts.serialize() for ts in selectors]
    )


@dataclass(frozen=True, slots=True)
class _TsPayload:
    PAYLOAD_TYPE: ClassVar[int] = 0
    selectors: tuple[TrafficSelector, ...]

    @classmethod
    def parse_body(cls, body: bytes) -> Self:
        return cls(_parse_selectors(body))

    def serialize_body(self) -> bytes:
        return _serialize_selectors(self.selectors)


@dataclass(frozen=True, slots=True)
class TSiPayload(_TsPayload):
    PAYLOAD_TYPE: ClassVar[int] = PayloadType.TSi


@dataclass(frozen=True, slots=True)
class TSrPayload(_TsPayload):
    PAYLOAD_TYPE: ClassVar[int] = PayloadType.TSr


# ---------------------------------------------------------------------------
# Encrypted payloads (3.14, RFC 7383 2.5)
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EncryptedPayload:
    """Encrypted and Authenticated payload (3.14), kept raw.

    ``first_inner`` is the generic header's Next Payload field (the type of
    the first inner payload); ``data`` is IV, ciphertext and ICV.
    """

    PAYLOAD_TYPE: ClassVar[int] = PayloadType.SK
    first_inner: int
    data: bytes

    @classmethod
    def parse_body(cls, body: bytes, first_inner: int = 0) -> EncryptedPayload:
        return cls(first_inner, body)

    def serialize_body(self) -> bytes:
        return self.data


_SKF_HDR = _U16_U16


@dataclass(frozen=True, slots=True)
class EncryptedFragmentPayload:
    """Encrypted Fragment payload (RFC 7383 2.5), kept raw."""

    PAYLOAD_TYPE: ClassVar[int] = PayloadType.SKF
    first_inner: int
    fragment_number: int
    total_fragments: int
    data: bytes

    @staticmethod
    def _check(number: int, total: int) -> None:
        if not 1 <= number <= total:
            raise InvalidSyntax(f"fragment {number} of {total}")

    @classmethod
    def parse_body(cls, body: bytes, first_inner: int = 0) -> EncryptedFragmentPayload:
        if len(body) < 4:
            raise InvalidSyntax("truncated SKF payload")
        number, total = _SKF_HDR.unpack_from(body, 0)
        cls._check(number, total)
        return cls(first_inner, number, total, body[4:])

    def serialize_body(self) -> bytes:
        self._check(self.fragment_number, self.total_fragments)
        return _SKF_HDR.pack(self.fragment_number, _u16(self.total_fragments, "total")) + self.data


# ---------------------------------------------------------------------------
# Configuration (3.15) and EAP (3.16)
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigAttribute:
    """Configuration Attribute (3.15.1); the R bit is ignored on receipt."""

    attr_type: int
    value: bytes = b""

    def serialize(self) -> bytes:
        if not 0 <= self.attr_type < 0x8000:
            raise InvalidSyntax(f"configuration attribute type {self.attr_type} out of range")
        _check_cfg_length(self.attr_type, len(self.value))
        return _U16_U16.pack(self.attr_type, _u16(len(self.value), "attribute length")) + self.value


def _check_cfg_length(attr_type: int, n: int) -> None:
    allowed = CONFIG_ATTRIBUTE_LENGTHS.get(attr_type)
    if allowed is not None and n not in allowed:
        raise InvalidSyntax(f"configuration attribute {attr_type} of {n} octets")
    if attr_type == ConfigAttributeType.SUPPORTED_ATTRIBUTES and n % 2:
        raise InvalidSyntax("SUPPORTED_ATTRIBUTES is not a list of 16-bit types")


@dataclass(frozen=True, slots=True)
class ConfigPayload:
    """Configuration payload (3.15)."""

    PAYLOAD_TYPE: ClassVar[int] = PayloadType.CP
    cfg_type: int
    attributes: tuple[ConfigAttribute, ...] = ()

    @classmethod
    def parse_body(cls, body: bytes) -> ConfigPayload:
        end = len(body)
        if end < 4:
            raise InvalidSyntax("truncated Configuration payload")
        attrs: list[ConfigAttribute] = []
        off = 4
        while off < end:
            if off + 4 > end:
                raise InvalidSyntax("truncated configuration attribute")
            a_type, length = _U16_U16.unpack_from(body, off)
            a_type &= 0x7FFF
            off += 4
            if off + length > end:
                raise InvalidSyntax("configuration attribute exceeds the payload")
            _check_cfg_length(a_type, length)
            attrs.append(ConfigAttribute(a_type, body[off : off + length]))
            off += length
        return cls(body[0], tuple(attrs))

    def serialize_body(self) -> bytes:
        return _U8_3X.pack(_u8(self.cfg_type, "CFG type")) + b"".join(
            [a.serialize() for a in self.attributes]
        )


@dataclass(frozen=True, slots=True)
class EapPayload:
    """EAP payload (3.16): one whole EAP packet, its Length field checked."""

    PAYLOAD_TYPE: ClassVar[int] = PayloadType.EAP
    data: bytes

    @staticmethod
    def _check(data: bytes) -> None:
        if len(data) < 4 or ((data[2] << 8) | data[3]) != len(data):
            raise InvalidSyntax("EAP message length disagrees with the EAP payload")

    @classmethod
    def parse_body(cls, body: bytes) -> EapPayload:
        cls._check(body)
        return cls(body)

    def serialize_body(self) -> bytes:
        self._check(self.data)
        return self.data


# ---------------------------------------------------------------------------
# Unknown payloads (3.2)
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnknownPayload:
    """A payload type this codec does not decode, kept so round trips are exact.

    Only non-critical ones come out of the parser; a critical unknown payload
    raises UnsupportedCriticalPayload instead.
    """

    PAYLOAD_TYPE: ClassVar[int] = -1
    payload_type: int
    critical: bool
    body: bytes

    def serialize_body(self) -> bytes:
        if not 0 < self.payload_type <= 0xFF or self.payload_type in PAYLOAD_CLASSES:
            raise InvalidSyntax(f"payload type {self.payload_type} cannot be an UnknownPayload")
        return self.body


Payload: TypeAlias = (
    SaPayload
    | KePayload
    | IDiPayload
    | IDrPayload
    | CertPayload
    | CertReqPayload
    | AuthPayload
    | NoncePayload
    | NotifyPayload
    | DeletePayload
    | VendorIdPayload
    | TSiPayload
    | TSrPayload
    | EncryptedPayload
    | EncryptedFragmentPayload
    | ConfigPayload
    | EapPayload
    | UnknownPayload
)

#: Payload type -> class, for every type the codec decodes.
PAYLOAD_CLASSES: Final[dict[int, Any]] = {
    int(c.PAYLOAD_TYPE): c
    for c in (
        SaPayload,
        KePayload,
        IDiPayload,
        IDrPayload,
        CertPayload,
        CertReqPayload,
        AuthPayload,
        NoncePayload,
        NotifyPayload,
        DeletePayload,
        VendorIdPayload,
        TSiPayload,
        TSrPayload,
        EncryptedPayload,
        EncryptedFragmentPayload,
        ConfigPayload,
        EapPayload,
    )
}


def payload_type_of(payload: Payload) -> int:
    """The IANA payload type of ``payload`` (also for UnknownPayload)."""
    if isinstance(payload, UnknownPayload):
        return payload.payload_type
    return payload.PAYLOAD_TYPE
