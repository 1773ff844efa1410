"""The video file's layout below the container, without torch (``ncodec info`` reads it): the
codec payload (frame size, count, intra period, payload version) and the frame index (per frame
its type, byte length and the low 16 bits of the CRC32 of its bytes).

Payload version 1 (14 bytes): index entries of 7 bytes (type u8, length u32, check u16).
Version 2 (15 bytes: the version byte appended): entries of a varint (length * 2 + type) and the
check. (The frame streams' own changes between versions: :mod:`ncodec.codecs.video.codec`.)
"""
from __future__ import annotations

import struct
import zlib

from ncodec.entropy.rangecoder import read_varint, write_varint
from ncodec.errors import FormatError

I_FRAME, P_FRAME = 0, 1
PAYLOAD_VERSION = 2
_INDEX = struct.Struct("<BIH")  # version 1: frame type, bytes, CRC32 of the bytes (low 16 bits)
_CHECK = struct.Struct("<H")
_PAYLOAD = struct.Struct("<IIIH")  # height, width, frames, intra period (+ version u8 from version 2)


def pack_payload(height: int, width: int, frames: int, intra_period: int, version: int = PAYLOAD_VERSION) -> bytes:
    head = _PAYLOAD.pack(height, width, frames, intra_period)
    return head if version == 1 else head + bytes([version])


def unpack_payload(payload: bytes) -> tuple[int, int, int, int, int]:
    """(height, width, frames, intra period, payload version) of the codec's payload."""
    if len(payload) == _PAYLOAD.size:
        return (*_PAYLOAD.unpack(payload), 1)
    if len(payload) != _PAYLOAD.size + 1:
        raise FormatError("video codec payload has the wrong size")
    version = payload[-1]
    if version > PAYLOAD_VERSION:
        raise FormatError(f"video payload version {version} is newer than this ncodec supports ({PAYLOAD_VERSION}); "
                          "upgrade ncodec")
    if version < 2:
        raise FormatError(f"video payload version {version} is invalid")
    return (*_PAYLOAD.unpack(payload[: _PAYLOAD.size]), version)


def pack_index(frames: list[tuple[int, bytes]], version: int = PAYLOAD_VERSION) -> bytes:
    """The frame index of (type, bytes) frames in the payload ``version``'s layout."""
    if version == 1:
        return b"".join(_INDEX.pack(kind, len(d), zlib.crc32(d) & 0xFFFF) for kind, d in frames)
    return b"".join(write_varint(2 * len(d) + kind) + _CHECK.pack(zlib.crc32(d) & 0xFFFF) for kind, d in frames)


def parse_index(index: bytes, frames: int, version: int) -> list[tuple[int, int, int]]:
    """(type, bytes, check) per frame; the index must hold exactly ``frames`` entries."""
    if version == 1:
        if len(index) != frames * _INDEX.size:
            raise FormatError("video frame index has the wrong size")
        entries = [_INDEX.unpack_from(index, k * _INDEX.size) for k in range(frames)]
    else:
        entries, pos = [], 0
        for _ in range(frames):
            try:
                value, pos = read_varint(index, pos)
            except FormatError:
                raise FormatError("video frame index has the wrong size") from None
            if pos + _CHECK.size > len(index):
                raise FormatError("video frame index has the wrong size")
            entries.append((value & 1, value >> 1, _CHECK.unpack_from(index, pos)[0]))
            pos += _CHECK.size
        if pos != len(index):
            raise FormatError("video frame index has the wrong size")
    if frames and entries[0][0] != I_FRAME:
        raise FormatError("video does not start with an intra frame")
    if any(kind not in (I_FRAME, P_FRAME) for kind, _, _ in entries):
        raise FormatError("video frame index is corrupted (unknown frame type)")
    return entries
