"""IKE header (RFC 7296 section 3.1).

                         1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                       IKE SA Initiator's SPI                  |
    |                                                               |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                       IKE SA Responder's SPI                  |
    |                                                               |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                          Message ID                           |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                            Length                             |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

The reserved Flags bits are kept as received (so a round trip is exact);
the engine ignores them as 3.1 requires.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from typing import Final

from .enums import HeaderFlags
from .errors import InvalidMajorVersion, InvalidSyntax

__all__ = ["HEADER_SIZE", "IKE_MAJOR_VERSION", "IkeHeader"]

HEADER_SIZE: Final = 28
IKE_MAJOR_VERSION: Final = 2

_HDR = struct.Struct("!8s8sBBBBII")
_F_INITIATOR: Final = int(HeaderFlags.INITIATOR)
_F_RESPONSE: Final = int(HeaderFlags.RESPONSE)


@dataclass(frozen=True, slots=True)
class IkeHeader:
    spi_i: bytes
    spi_r: bytes
    next_payload: int
    exchange_type: int
    flags: int
    message_id: int
    length: int
    major: int = 2
    minor: int = 0

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> IkeHeader:
        """Decode the first 28 octets and check Length against ``len(data)``.

        Raises InvalidMajorVersion for a major version other than 2 (checked
        before the length, since another version may lay out differently) and
        InvalidSyntax for a short datagram or a Length that does not match.
        """
        if len(data) < HEADER_SIZE:
            raise InvalidSyntax(f"datagram of {len(data)} octets is shorter than the IKE header")
        spi_i, spi_r, nxt, ver, exch, flags, mid, length = _HDR.unpack_from(data, 0)
        major = ver >> 4
        if major != IKE_MAJOR_VERSION:
            raise InvalidMajorVersion(major, ver & 0x0F)
        if length != len(data):
            raise InvalidSyntax(f"IKE header length {length} != datagram length {len(data)}")
        return cls(spi_i, spi_r, nxt, exch, flags, mid, length, major, ver & 0x0F)

    def serialize(self, next_payload: int | None = None, length: int | None = None) -> bytes:
        """Encode the header; ``next_payload``/``length`` override the fields."""
        if len(self.spi_i) != 8 or len(self.spi_r) != 8:
            raise InvalidSyntax("IKE SPIs must be 8 octets")
        if not (0 <= self.major <= 15 and 0 <= self.minor <= 15):
            raise InvalidSyntax("IKE version nibbles out of range")
        try:
            return _HDR.pack(
                self.spi_i,
                self.spi_r,
                self.next_payload if next_payload is None else next_payload,
                (self.major << 4) | self.minor,
                self.exchange_type,
                self.flags,
                self.message_id,
                self.length if length is None else length,
            )
        except struct.error as exc:
            raise InvalidSyntax(f"IKE header field out of range: {exc}") from None

    @property
    def is_initiator(self) -> bool:
        return bool(self.flags & _F_INITIATOR)

    @property
    def is_response(self) -> bool:
        return bool(self.flags & _F_RESPONSE)

    def with_length(self, next_payload: int, length: int) -> IkeHeader:
        """A copy with Next Payload and Length replaced (used by serializers)."""
        return replace(self, next_payload=next_payload, length=length)
