"""Range coding with one stream per table, for autoregressive decoders.

An autoregressive decoder learns each symbol's table only step by step, so the single-stream
coder of :mod:`ncodec.entropy.rangecoder` (grouped by table over the whole array) cannot be
used. Here every table has its own ``constriction`` range-coder stream: the encoder, which knows
everything, codes each table's symbols with **one call** in the decoder's order; the decoder
pulls, at each step, the symbols of each table present from that table's stream. Escaped values
(outside a table's support) follow as zig-zag varints in the decoder's order.

Layout: u16 stream count, then per stream (u16 table, u32 words, words), then the varints.
"""
from __future__ import annotations

import struct

import constriction
import numpy as np

from ncodec.entropy.rangecoder import (TableSet, _groups, _unvarints, _varints, check_tables, decode_symbols,
                                       join_escapes, range_decoder, split_escapes)
from ncodec.errors import FormatError

_WORD = np.dtype("<u4")


def encode(values: np.ndarray, tables: np.ndarray, tset: TableSet) -> bytes:
    """``values`` and ``tables`` flattened in the exact order the decoder will ask for them."""
    values = np.asarray(values, dtype=np.int64).reshape(-1)
    tables = np.asarray(tables, dtype=np.int64).reshape(-1)
    if tables.size and (tables.min() < 0 or tables.max() >= len(tset)):
        raise ValueError("table index out of range")
    index, overflow = split_escapes(values, tables, tset)
    parts = []
    for t, pos in _groups(tables):
        enc = constriction.stream.queue.RangeEncoder()
        enc.encode(index[pos], tset.model(t))
        words = enc.get_compressed().astype(_WORD).tobytes()
        parts += [struct.pack("<HI", t, len(words) // 4), words]
    return struct.pack("<H", len(parts) // 2) + b"".join(parts) + _varints(overflow)


def _unvarints_all(data: bytes) -> np.ndarray:
    """Every varint in ``data`` (which must end at a varint's last byte)."""
    b = np.frombuffer(data, dtype=np.uint8)
    return _unvarints(data, int((b < 128).sum()))


class Decoder:
    """Pulls symbols table by table, in the encoder's order."""

    def __init__(self, data: bytes, tset: TableSet):
        self.tset = tset
        self.decoders: dict[int, object] = {}
        try:
            (n,) = struct.unpack_from("<H", data, 0)
            pos = 2
            for _ in range(n):
                t, n_words = struct.unpack_from("<HI", data, pos)
                pos += 6
                if t >= len(tset) or pos + 4 * n_words > len(data):
                    raise FormatError("entropy-coded section is corrupted")
                words = np.frombuffer(data, dtype=_WORD, count=n_words, offset=pos).astype(np.uint32)
                self.decoders[t] = range_decoder(words)
                pos += 4 * n_words
        except struct.error:
            raise FormatError("entropy-coded section is truncated") from None
        self.overflow = _unvarints_all(data[pos:])
        self.used = 0

    def decode(self, tables: np.ndarray) -> np.ndarray:
        tables = np.asarray(tables, dtype=np.int64).reshape(-1)
        check_tables(tables, self.tset)
        index = np.empty(tables.shape, dtype=np.int64)
        for t, pos in _groups(tables):
            dec = self.decoders.get(t)
            if dec is None:
                raise FormatError("entropy-coded section is corrupted (missing stream)")
            index[pos] = decode_symbols(dec, self.tset.model(t), len(pos))
        return join_escapes(index, tables, self.tset, self._take_overflow)

    def _take_overflow(self, count: int) -> np.ndarray:
        if self.used + count > len(self.overflow):
            raise FormatError("entropy-coded section is corrupted (escape values missing)")
        self.used += count
        return self.overflow[self.used - count : self.used]

    def finish(self) -> None:
        if self.used != len(self.overflow):
            raise FormatError("entropy-coded section is corrupted (extra escape values)")
