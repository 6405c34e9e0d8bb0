"""IKE header codec, RFC 7296 3.1 (Figure 4)."""

from __future__ import annotations

import pytest

from ikepy.wire import (
    HEADER_SIZE,
    ExchangeType,
    HeaderFlags,
    IkeHeader,
    InvalidMajorVersion,
    InvalidSyntax,
    NotifyType,
)

SPI_I = bytes.fromhex("0102030405060708")
SPI_R = bytes.fromhex("1112131415161718")

# RFC 7296 3.1: SPIi(8) SPIr(8) NextPayload MjVer|MnVer ExchangeType Flags MessageID(4) Length(4)
RAW = SPI_I + SPI_R + bytes([33, 0x20, 34, 0x08]) + (0).to_bytes(4, "big") + (28).to_bytes(4, "big")


def test_header_size():
    assert HEADER_SIZE == 28


def test_parse_hand_built_header():
    h = IkeHeader.parse(RAW)
    assert h == IkeHeader(SPI_I, SPI_R, 33, ExchangeType.IKE_SA_INIT, 0x08, 0, 28, 2, 0)
    assert h.is_initiator and not h.is_response
    assert h.serialize() == RAW


def test_flags_and_message_id():
    raw = RAW[:18] + bytes([37, 0x20]) + (0xDEADBEEF).to_bytes(4, "big") + RAW[24:]
    h = IkeHeader.parse(raw)
    assert h.is_response and not h.is_initiator
    assert h.flags == HeaderFlags.RESPONSE
    assert h.message_id == 0xDEADBEEF
    assert h.serialize() == raw


def test_reserved_flag_bits_kept():
    raw = RAW[:19] + bytes([0x08 | 0x01 | 0x80]) + RAW[20:]
    assert IkeHeader.parse(raw).serialize() == raw


def test_minor_version_accepted():
    raw = RAW[:17] + bytes([0x21]) + RAW[18:]
    h = IkeHeader.parse(raw)
    assert (h.major, h.minor) == (2, 1)
    assert h.serialize() == raw


@pytest.mark.parametrize("ver", [0x10, 0x30, 0x00, 0xF0])
def test_wrong_major_version(ver):
    raw = RAW[:17] + bytes([ver]) + RAW[18:]
    with pytest.raises(InvalidMajorVersion) as exc:
        IkeHeader.parse(raw)
    assert exc.value.notify == NotifyType.INVALID_MAJOR_VERSION
    assert exc.value.major == ver >> 4


@pytest.mark.parametrize("n", [0, 1, 27])
def test_short_datagram(n):
    with pytest.raises(InvalidSyntax) as exc:
        IkeHeader.parse(RAW[:n])
    assert exc.value.notify == NotifyType.INVALID_SYNTAX


def test_length_field_must_match_datagram():
    with pytest.raises(InvalidSyntax):
        IkeHeader.parse(RAW + b"\x00")
    with pytest.raises(InvalidSyntax):
        IkeHeader.parse(RAW[:24] + (29).to_bytes(4, "big"))


def test_parse_accepts_memoryview_and_bytearray():
    assert IkeHeader.parse(memoryview(RAW)) == IkeHeader.parse(bytearray(RAW))


def test_serialize_rejects_bad_fields():
    h = IkeHeader.parse(RAW)
    with pytest.raises(InvalidSyntax):
        IkeHeader(b"short", SPI_R, 0, 34, 0, 0, 28).serialize()
    with pytest.raises(InvalidSyntax):
        IkeHeader(SPI_I, SPI_R, 0, 34, 0, 1 << 32, 28).serialize()
    with pytest.raises(InvalidSyntax):
        IkeHeader(SPI_I, SPI_R, 0, 34, 0, 0, 28, major=16).serialize()
    assert h.serialize(next_payload=0, length=99)[16] == 0
