"""IKE messages: header plus payload chain (RFC 7296 sections 3.1, 3.2, 3.14).

``parse_message`` decodes a whole datagram; an SK (or SKF) payload must be the
last payload and stays raw as ``EncryptedPayload`` for the crypto layer, which
calls ``parse_payloads`` on the decrypted inner chain.  ``serialize_message``
fills in every Next Payload and Payload Length field and the header's Next
Payload and Length itself.

Round trips: ``serialize_message(parse_message(b)) == b`` for every datagram
whose RESERVED fields and critical bits on known payloads are zero (RFC 7296
3.2 says receivers ignore both, so other values are accepted but not kept).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar

from .enums import CfgType, ExchangeType, NotifyType, PayloadType
from .errors import CodecError, InvalidSyntax, UnsupportedCriticalPayload
from .header import HEADER_SIZE, IkeHeader
from .payloads import (
    PAYLOAD_CLASSES,
    ConfigPayload,
    EncryptedFragmentPayload,
    EncryptedPayload,
    NotifyPayload,
    Payload,
    UnknownPayload,
    payload_type_of,
)

__all__ = [
    "Message",
    "parse_message",
    "parse_payloads",
    "serialize_message",
    "serialize_payloads",
]

_GEN = struct.Struct("!BBH")  # generic payload header (3.2)
_CRITICAL: Final = 0x80
_SK: Final = int(PayloadType.SK)
_SKF: Final = int(PayloadType.SKF)
_UNEXPECTED = (struct.error, ValueError, IndexError, UnicodeDecodeError, TypeError, OverflowError)

P = TypeVar("P")


def _parse_chain(nxt: int, data: bytes, off: int) -> tuple[Payload, ...]:
    out: list[Payload] = []
    end = len(data)
    classes = PAYLOAD_CLASSES
    while nxt:
        if off + 4 > end:
            raise InvalidSyntax(f"payload {nxt} announced but only {end - off} octets left")
        following, flags, length = _GEN.unpack_from(data, off)
        if length < 4 or off + length > end:
            raise InvalidSyntax(f"payload {nxt} length {length} with {end - off} octets left")
        body = data[off + 4 : off + length]
        cls = classes.get(nxt)
        if cls is None:
            if flags & _CRITICAL:
                raise UnsupportedCriticalPayload(nxt)
            out.append(UnknownPayload(nxt, False, body))
        elif nxt == _SK or nxt == _SKF:
            # 3.14: the Encrypted payload MUST be the last payload; its Next
            # Payload field names the first inner payload.
            if off + length != end:
                raise InvalidSyntax("Encrypted payload is not the last payload")
            out.append(cls.parse_body(body, following))
            return tuple(out)
        else:
            out.append(cls.parse_body(body))
        off += length
        nxt = following
    if off != end:
        raise InvalidSyntax(f"{end - off} octets after the last payload")
    return tuple(out)


def parse_payloads(first_type: int, data: bytes | bytearray | memoryview) -> tuple[Payload, ...]:
    """Decode a payload chain starting with type ``first_type`` (e.g. SK inner)."""
    if type(data) is not bytes:
        data = bytes(data)
    try:
        return _parse_chain(first_type, data, 0)
    except CodecError:
        raise
    except _UNEXPECTED as exc:  # defence in depth: never leak a stray exception
        raise InvalidSyntax(f"malformed payload chain: {exc}") from None


def serialize_payloads(payloads: Sequence[Payload]) -> tuple[int, bytes]:
    """Encode a payload chain; returns (type of the first payload, octets)."""
    try:
        parts: list[bytes] = []
        n = len(payloads)
        types = [payload_type_of(p) for p in payloads]
        for i, p in enumerate(payloads):
            body = p.serialize_body()
            if isinstance(p, EncryptedPayload | EncryptedFragmentPayload):
                if i != n - 1:
                    raise InvalidSyntax("Encrypted payload must be the last payload")
                nxt = p.first_inner
            else:
                nxt = types[i + 1] if i + 1 < n else 0
            flags = _CRITICAL if isinstance(p, UnknownPayload) and p.critical else 0
            if len(body) > 0xFFFB:
                raise InvalidSyntax(f"payload {types[i]} too long ({len(body)} octets)")
            parts.append(_GEN.pack(nxt, flags, 4 + len(body)))
            parts.append(body)
        return (types[0] if n else 0), b"".join(parts)
    except CodecError:
        raise
    except _UNEXPECTED as exc:
        raise InvalidSyntax(f"cannot serialize payloads: {exc}") from None


def parse_message(data: bytes | bytearray | memoryview) -> Message:
    """Decode a whole IKE datagram (without the non-ESP marker)."""
    if type(data) is not bytes:
        data = bytes(data)
    header = IkeHeader.parse(data)
    try:
        payloads = _parse_chain(header.next_payload, data, HEADER_SIZE)
    except CodecError:
        raise
    except _UNEXPECTED as exc:
        raise InvalidSyntax(f"malformed payload chain: {exc}") from None
    return Message(header, payloads)


def serialize_message(msg: Message) -> bytes:
    """Encode ``msg``; header Next Payload and Length are recomputed."""
    first, body = serialize_payloads(msg.payloads)
    return msg.header.serialize(first, HEADER_SIZE + len(body)) + body


# ---------------------------------------------------------------------------
# Message and its log summary
# ---------------------------------------------------------------------------

_SHORT: Final[dict[int, str]] = {
    PayloadType.SA: "SA",
    PayloadType.KE: "KE",
    PayloadType.IDi: "IDi",
    PayloadType.IDr: "IDr",
    PayloadType.CERT: "CERT",
    PayloadType.CERTREQ: "CERTREQ",
    PayloadType.AUTH: "AUTH",
    PayloadType.NONCE: "No",
    PayloadType.DELETE: "D",
    PayloadType.VENDOR_ID: "V",
    PayloadType.TSi: "TSi",
    PayloadType.TSr: "TSr",
    PayloadType.SK: "E",
    PayloadType.EAP: "EAP",
}

# strongSwan's abbreviations for the notify types seen in everyday logs.
_NOTIFY_SHORT: Final[dict[int, str]] = {
    NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD: "UNSUPPORTED_CRITICAL_PAYLOAD",
    NotifyType.INVALID_SYNTAX: "INVAL_SYN",
    NotifyType.INVALID_MESSAGE_ID: "INVAL_MID",
    NotifyType.INVALID_SPI: "INVAL_SPI",
    NotifyType.NO_PROPOSAL_CHOSEN: "NO_PROP",
    NotifyType.INVALID_KE_PAYLOAD: "INVAL_KE",
    NotifyType.AUTHENTICATION_FAILED: "AUTH_FAILED",
    NotifyType.NO_ADDITIONAL_SAS: "NO_ADD_SAS",
    NotifyType.INTERNAL_ADDRESS_FAILURE: "INT_ADDR_FAIL",
    NotifyType.FAILED_CP_REQUIRED: "FAIL_CP_REQ",
    NotifyType.TS_UNACCEPTABLE: "TS_UNACCEPT",
    NotifyType.INVALID_SELECTORS: "INVAL_SEL",
    NotifyType.TEMPORARY_FAILURE: "TEMP_FAIL",
    NotifyType.CHILD_SA_NOT_FOUND: "CHILD_SA_NOT_FOUND",
    NotifyType.INITIAL_CONTACT: "INIT_CONTACT",
    NotifyType.SET_WINDOW_SIZE: "SET_WINSIZE",
    NotifyType.ADDITIONAL_TS_POSSIBLE: "ADD_TS_POSS",
    NotifyType.IPCOMP_SUPPORTED: "IPCOMP_SUP",
    NotifyType.NAT_DETECTION_SOURCE_IP: "NATD_S_IP",
    NotifyType.NAT_DETECTION_DESTINATION_IP: "NATD_D_IP",
    NotifyType.COOKIE: "COOKIE",
    NotifyType.USE_TRANSPORT_MODE: "USE_TRANSP",
    NotifyType.HTTP_CERT_LOOKUP_SUPPORTED: "HTTP_CERT_LOOK",
    NotifyType.REKEY_SA: "REKEY_SA",
    NotifyType.ESP_TFC_PADDING_NOT_SUPPORTED: "ESP_TFC_PAD_N",
    NotifyType.NON_FIRST_FRAGMENTS_ALSO: "NON_FIRST_FRAG",
    NotifyType.MOBIKE_SUPPORTED: "MOBIKE_SUP",
    NotifyType.ADDITIONAL_IP4_ADDRESS: "ADD_4_ADDR",
    NotifyType.ADDITIONAL_IP6_ADDRESS: "ADD_6_ADDR",
    NotifyType.NO_ADDITIONAL_ADDRESSES: "NO_ADD_ADDR",
    NotifyType.UPDATE_SA_ADDRESSES: "UPD_SA_ADDR",
    NotifyType.COOKIE2: "COOKIE2",
    NotifyType.NO_NATS_ALLOWED: "NO_NATS",
    NotifyType.AUTH_LIFETIME: "AUTH_LFT",
    NotifyType.MULTIPLE_AUTH_SUPPORTED: "MULT_AUTH",
    NotifyType.ANOTHER_AUTH_FOLLOWS: "AUTH_FOLLOWS",
    NotifyType.REDIRECT_SUPPORTED: "REDIR_SUP",
    NotifyType.REDIRECT: "REDIR",
    NotifyType.REDIRECTED_FROM: "REDIR_FROM",
    NotifyType.EAP_ONLY_AUTHENTICATION: "EAP_ONLY",
    NotifyType.CHILDLESS_IKEV2_SUPPORTED: "CHDLESS_SUP",
    NotifyType.IKEV2_FRAGMENTATION_SUPPORTED: "FRAG_SUP",
    NotifyType.SIGNATURE_HASH_ALGORITHMS: "HASH_ALG",
    NotifyType.USE_PPK: "USE_PPK",
    NotifyType.PPK_IDENTITY: "PPK_ID",
    NotifyType.NO_PPK_AUTH: "NO_PPK_AUTH",
    NotifyType.INTERMEDIATE_EXCHANGE_SUPPORTED: "IKE_INT_SUP",
    NotifyType.ADDITIONAL_KEY_EXCHANGE: "ADD_KE",
    NotifyType.USE_AGGFRAG: "USE_AGGFRAG",
}

_CFG_SHORT: Final[dict[int, str]] = {
    CfgType.CFG_REQUEST: "CPRQ",
    CfgType.CFG_REPLY: "CPRP",
    CfgType.CFG_SET: "CPS",
    CfgType.CFG_ACK: "CPA",
}


def notify_name(notify_type: int) -> str:
    """Short (strongSwan-style) name of a notify type, for logs."""
    name = _NOTIFY_SHORT.get(notify_type)
    if name is not None:
        return name
    try:
        return NotifyType(notify_type).name
    except ValueError:
        return f"({notify_type})"


def payload_name(p: Payload) -> str:
    """Short (strongSwan-style) name of one payload, for logs."""
    if isinstance(p, NotifyPayload):
        return f"N({notify_name(p.notify_type)})"
    if isinstance(p, ConfigPayload):
        return _CFG_SHORT.get(p.cfg_type, f"CP({p.cfg_type})")
    if isinstance(p, EncryptedFragmentPayload):
        return f"EF({p.fragment_number}/{p.total_fragments})"
    if isinstance(p, UnknownPayload):
        return f"U({p.payload_type})"
    return _SHORT.get(p.PAYLOAD_TYPE, str(p.PAYLOAD_TYPE))


def describe_payloads(payloads: Sequence[Payload]) -> str:
    return "[ " + " ".join([payload_name(p) for p in payloads]) + " ]"


@dataclass(frozen=True, slots=True)
class Message:
    """One IKE message: header and the payloads in wire order."""

    header: IkeHeader
    payloads: tuple[Payload, ...]

    def describe(self) -> str:
        """E.g. ``IKE_SA_INIT request 0 [ SA KE No N(NATD_S_IP) N(NATD_D_IP) ]``."""
        h = self.header
        try:
            exch = ExchangeType(h.exchange_type).name
        except ValueError:
            exch = f"EXCHANGE({h.exchange_type})"
        role = "response" if h.is_response else "request"
        return f"{exch} {role} {h.message_id} {describe_payloads(self.payloads)}"

    def __str__(self) -> str:
        return self.describe()

    def of_type(self, cls: type[P]) -> Iterator[P]:
        """The payloads that are instances of ``cls``, in order."""
        return (p for p in self.payloads if isinstance(p, cls))

    def first(self, cls: type[P]) -> P | None:
        """The first payload of class ``cls``, or None."""
        for p in self.payloads:
            if isinstance(p, cls):
                return p
        return None

    def notifies(self, notify_type: int | None = None) -> list[NotifyPayload]:
        """The Notify payloads, optionally only those of ``notify_type``."""
        return [
            p
            for p in self.payloads
            if isinstance(p, NotifyPayload)
            and (notify_type is None or p.notify_type == notify_type)
        ]
