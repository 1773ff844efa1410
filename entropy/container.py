"""The ncodec file: one little-endian, versioned, self-describing, checked container for every
modality (DESIGN.md, "File format").

    magic "NCDC" | version u8 | modality u8 | codec name (u8 length + utf-8) | model id (8 bytes)
    | quality f32 | payload description (u16 length + bytes) | section count u32
    | sections (u32 length + bytes each) | CRC32 u32 of everything before it
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from ncodec.entropy.limits import MAX_SECTIONS
from ncodec.errors import FormatError

MAGIC = b"NCDC"
VERSION = 1


def _codes() -> dict[str, int]:
    """Modality name -> code byte, from the modality registry (declared ones and plug-ins)."""
    from ncodec.codecs.registry import modality_codes

    return modality_codes()


@dataclass
class Container:
    modality: str
    codec: str
    model_id: bytes
    quality: float
    payload: bytes = b""
    sections: list[bytes] = field(default_factory=list)
    version: int = VERSION  # as read; pack() always writes the current VERSION

    def pack(self) -> bytes:
        name = self.codec.encode("utf-8")
        codes = _codes()
        if self.modality not in codes:
            raise ValueError(f"unknown modality {self.modality!r}")
        if len(name) > 255 or len(self.model_id) != 8 or len(self.payload) > 0xFFFF:
            raise ValueError("codec name, model id or payload description out of range")
        parts = [
            MAGIC, struct.pack("<BB", VERSION, codes[self.modality]),
            struct.pack("<B", len(name)), name, self.model_id, struct.pack("<f", self.quality),
            struct.pack("<H", len(self.payload)), self.payload, struct.pack("<I", len(self.sections)),
        ]
        for section in self.sections:
            parts += [struct.pack("<I", len(section)), bytes(section)]
        body = b"".join(parts)
        return body + struct.pack("<I", zlib.crc32(body))


class _Reader:
    def __init__(self, data: bytes, end: int):
        self.data, self.pos, self.end = data, 0, end

    def take(self, n: int) -> bytes:
        if self.pos + n > self.end:
            raise FormatError("file is truncated")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))


def unpack(data: bytes) -> Container:
    """Parse and check a container; every failure is a :class:`FormatError` with a clear message."""
    if len(data) == 0:
        raise FormatError("file is empty")
    if data[:4] != MAGIC:
        raise FormatError("not an ncodec file (bad magic)")
    if len(data) < 4 + 2 + 4:
        raise FormatError("file is truncated")
    version = data[4]
    if version > VERSION:
        raise FormatError(f"file format version {version} is newer than this ncodec supports ({VERSION}); upgrade ncodec")
    if version == 0:
        raise FormatError("file format version 0 is invalid")
    (crc,) = struct.unpack_from("<I", data, len(data) - 4)
    if zlib.crc32(data[:-4]) != crc:
        raise FormatError("file is truncated or corrupted (CRC mismatch)")
    r = _Reader(data, len(data) - 4)
    r.take(5)
    (modality_code,) = r.unpack("<B")
    names = {code: name for name, code in _codes().items()}
    if modality_code not in names:
        raise FormatError(f"unknown modality code {modality_code}")
    (name_len,) = r.unpack("<B")
    try:
        codec = r.take(name_len).decode("utf-8")
    except UnicodeDecodeError:
        raise FormatError("codec name is not valid UTF-8") from None
    model_id = r.take(8)
    (quality,) = r.unpack("<f")
    (payload_len,) = r.unpack("<H")
    payload = r.take(payload_len)
    (count,) = r.unpack("<I")
    if count > (r.end - r.pos) // 4:
        raise FormatError("section count exceeds the file size")
    if count > MAX_SECTIONS:
        raise FormatError(f"file has {count} sections (limit {MAX_SECTIONS})")
    sections = []
    for _ in range(count):
        (length,) = r.unpack("<I")
        sections.append(r.take(length))
    if r.pos != r.end:
        raise FormatError("trailing bytes after the last section")
    return Container(names[modality_code], codec, model_id, quality, payload, sections, version)
