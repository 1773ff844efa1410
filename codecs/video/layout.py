"""The video file's layout below the container, without torch (``ncodec info`` reads it): the
codec payload (frame size, count, intra period, payload version) and the frame index (per frame
its type and byte length, and a check value: per frame the low 16 bits of its CRC32 (versions
1 and 2), per intra period its CRC32 (version 3)).

Payload version 1 (14 bytes): index entries of 7 bytes (type u8, length u32, check u16).
Version 2 (17 bytes: version u8, then log2 of the motion block and of the largest quadtree block,
the encoder's choice): entries of a varint (length * 2 + type) and the check. Version 3 (same
payload): entries of the varint alone, and after each I frame's entry the CRC32 (u32) of its
intra period's bytes (the I frame and the P frames up to the next I frame): a damaged frame still
refuses its whole period, at 4 bytes a period instead of 2 a frame. (The frame streams' own
changes between versions: :mod:`ncodec.codecs.video.codec`.)
"""
from __future__ import annotations

import struct
import zlib
from typing import NamedTuple

from ncodec.entropy.rangecoder import read_varint, write_varint
from ncodec.errors import FormatError

I_FRAME, P_FRAME = 0, 1
PAYLOAD_VERSION = 3
_INDEX = struct.Struct("<BIH")  # version 1: frame type, bytes, CRC32 of the bytes (low 16 bits)
_CHECK = struct.Struct("<H")
_PERIOD_CHECK = struct.Struct("<I")  # version 3: CRC32 of an intra period
_PAYLOAD = struct.Struct("<IIIH")  # height, width, frames, intra period (+ version 2's three bytes)
MIN_BLOCK_LOG2, MAX_BLOCK_LOG2 = 2, 7  # motion blocks of 4..128 pixels


class Header(NamedTuple):
    """The codec's payload: frame size and count, intra period, payload version and (version >= 2)
    the motion block sizes the encoder chose (version 1: the model's ``block``, no quadtree)."""
    height: int
    width: int
    frames: int
    intra_period: int
    version: int = PAYLOAD_VERSION
    block: int | None = None
    max_block: int | None = None


def pack_payload(header: Header) -> bytes:
    head = _PAYLOAD.pack(header.height, header.width, header.frames, header.intra_period)
    if header.version == 1:
        return head
    return head + bytes([header.version, _log2(header.block), _log2(header.max_block)])


def unpack_payload(payload: bytes) -> Header:
    if len(payload) == _PAYLOAD.size:
        return Header(*_PAYLOAD.unpack(payload), version=1)
    if len(payload) <= _PAYLOAD.size:
        raise FormatError("video codec payload has the wrong size")
    version = payload[_PAYLOAD.size]
    if version > PAYLOAD_VERSION:
        raise FormatError(f"video payload version {version} is newer than this ncodec supports ({PAYLOAD_VERSION}); "
                          "upgrade ncodec")
    if version < 2 or len(payload) != _PAYLOAD.size + 3:
        raise FormatError(f"video payload (version {version}) is invalid")
    block_log2, max_log2 = payload[_PAYLOAD.size + 1], payload[_PAYLOAD.size + 2]
    if not MIN_BLOCK_LOG2 <= block_log2 <= max_log2 <= MAX_BLOCK_LOG2:
        raise FormatError("video payload is invalid (motion block sizes)")
    return Header(*_PAYLOAD.unpack(payload[: _PAYLOAD.size]), version=version, block=1 << block_log2,
                  max_block=1 << max_log2)


def _log2(size: int) -> int:
    k = int(size).bit_length() - 1
    if size != 1 << k or not MIN_BLOCK_LOG2 <= k <= MAX_BLOCK_LOG2:
        raise ValueError(f"motion block size must be a power of two in {1 << MIN_BLOCK_LOG2}..{1 << MAX_BLOCK_LOG2}, got {size}")
    return k


def pack_index(frames: list[tuple[int, bytes]], version: int = PAYLOAD_VERSION) -> bytes:
    """The frame index of (type, bytes) frames in the payload ``version``'s layout."""
    if version == 1:
        return b"".join(_INDEX.pack(kind, len(d), zlib.crc32(d) & 0xFFFF) for kind, d in frames)
    if version == 2:
        return b"".join(write_varint(2 * len(d) + kind) + _CHECK.pack(zlib.crc32(d) & 0xFFFF) for kind, d in frames)
    out = []
    for k, (kind, d) in enumerate(frames):
        out.append(write_varint(2 * len(d) + kind))
        if kind == I_FRAME:
            end = period_end(frames, k)
            out.append(_PERIOD_CHECK.pack(zlib.crc32(b"".join(f for _, f in frames[k:end]))))
    return b"".join(out)


def period_end(entries: list[tuple], start: int) -> int:
    """The frame after the intra period that starts at the I frame ``start`` (``entries``: one
    tuple per frame, its type first)."""
    return next((j for j in range(start + 1, len(entries)) if entries[j][0] == I_FRAME), len(entries))


def parse_index(index: bytes, frames: int, version: int) -> list[tuple[int, int, int]]:
    """(type, bytes, check) per frame; the index must hold exactly ``frames`` entries. The check
    is the low 16 bits of the frame's CRC32 (versions 1 and 2) or, version 3, the CRC32 of the
    intra period for an I frame and -1 for a P frame."""
    if version == 1:
        if len(index) != frames * _INDEX.size:
            raise FormatError("video frame index has the wrong size")
        entries = [_INDEX.unpack_from(index, k * _INDEX.size) for k in range(frames)]
    else:  # a varint (length * 2 + type), then version 2: every frame's check; 3: each I frame's
        entries, pos = [], 0
        for _ in range(frames):
            try:
                value, pos = read_varint(index, pos)
            except FormatError:
                raise FormatError("video frame index has the wrong size") from None
            check, kind = -1, value & 1
            field = _CHECK if version == 2 else _PERIOD_CHECK if kind == I_FRAME else None
            if field is not None:
                if pos + field.size > len(index):
                    raise FormatError("video frame index has the wrong size")
                (check,), pos = field.unpack_from(index, pos), pos + field.size
            entries.append((kind, value >> 1, check))
        if pos != len(index):
            raise FormatError("video frame index has the wrong size")
    if frames and entries[0][0] != I_FRAME:
        raise FormatError("video does not start with an intra frame")
    if any(kind not in (I_FRAME, P_FRAME) for kind, _, _ in entries):
        raise FormatError("video frame index is corrupted (unknown frame type)")
    return entries
