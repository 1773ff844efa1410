"""Range coding of integer symbols under tabulated distributions, built on ``constriction``.

Every symbol is coded with one of a set of *tables*: quantised CDFs in CompressAI's layout
(row ``t`` has ``length[t]`` entries, covers the values ``offset[t] .. offset[t] + length[t] - 3``
and its last symbol is an escape). Values outside a table's support are coded as the escape
symbol and their exact value is appended after the range-coded words as a zig-zag varint, so any
integer round-trips.

Coding is vectorised: symbols are grouped by table (a stable sort), each group is coded with one
``constriction`` call, and the decoder, which knows every symbol's table before decoding,
regroups identically. The tables are integers and table selection is an integer, so the
bitstream depends on nothing that floating point could perturb.
"""
from __future__ import annotations

import struct

import constriction
import numpy as np

from ncodec.entropy.limits import MAX_LATENT_SYMBOLS
from ncodec.errors import FormatError

_WORD = np.dtype("<u4")
_TRIMMED_WORD = np.dtype(">u4")  # big-endian: a stream's last bytes are its least significant ones
MAX_TRIM = 7  # the trimmed layout drops at most this many trailing bytes (each try is one decode)
_MAX_ESCAPE = 1 << 62  # zig-zag escape values beyond this cannot come from an int64 symbol: damaged
#: What constriction raises when the words cannot be decoded under the model (invalid data).
CODER_ERRORS = (AssertionError, ValueError, RuntimeError, OverflowError)


def decode_symbols(coder, model, count: int) -> np.ndarray:
    """``count`` symbols from a constriction decoder; its complaints about invalid compressed data
    (an AssertionError, a ValueError) become the FormatError of a damaged file."""
    try:
        return coder.decode(model, count)
    except CODER_ERRORS:
        raise FormatError("entropy-coded section is corrupted (range decoder rejected the data)") from None


def range_decoder(words: np.ndarray):
    """A constriction range decoder over ``words``; data it refuses is a damaged file."""
    try:
        return constriction.stream.queue.RangeDecoder(words)
    except CODER_ERRORS:
        raise FormatError("entropy-coded section is corrupted (range decoder rejected the data)") from None


def check_tables(tables: np.ndarray, tset: "TableSet") -> None:
    """Table indices the decoder derived from decoded values must name a table, and a stream may
    not ask for more symbols than the limit (a crafted header could ask for billions)."""
    if tables.size > MAX_LATENT_SYMBOLS:
        raise FormatError(f"entropy-coded section claims {tables.size} symbols (limit {MAX_LATENT_SYMBOLS})")
    if tables.size and (tables.min() < 0 or tables.max() >= len(tset)):
        raise FormatError("entropy-coded section is corrupted (decoded context selects no table)")


class TableSet:
    """A fixed set of quantised CDF tables, with the ``constriction`` models built lazily."""

    def __init__(self, cdfs: np.ndarray, lengths: np.ndarray, offsets: np.ndarray):
        self.cdfs = np.asarray(cdfs, dtype=np.int64)
        self.lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
        self.offsets = np.asarray(offsets, dtype=np.int64).reshape(-1)
        if not (len(self.cdfs) == len(self.lengths) == len(self.offsets)):
            raise ValueError("cdfs, lengths and offsets must describe the same number of tables")
        self._models: dict[int, object] = {}

    def __len__(self) -> int:
        return len(self.lengths)

    def escape(self, t: int) -> int:
        """Index of the escape symbol of table ``t`` (its last symbol)."""
        return int(self.lengths[t]) - 2

    def code_length(self, values: np.ndarray, tables: np.ndarray, escape_bits: int = 16) -> float:
        """Estimated bits of ``values`` under ``tables`` (escaped values: the escape symbol plus
        ``escape_bits`` for their varint), for encoder-side choices."""
        index = values - self.offsets[tables]
        escape = self.lengths[tables] - 2
        out = (index < 0) | (index >= escape)
        index = np.where(out, escape, index)
        p = self.cdfs[tables, index + 1] - self.cdfs[tables, index]
        return float(np.log2(self.cdfs[tables, escape + 1]).sum() - np.log2(p).sum() + escape_bits * out.sum())

    def model(self, t: int):
        if t not in self._models:
            cdf = self.cdfs[t, : self.lengths[t]]
            probabilities = np.diff(cdf).astype(np.float64)
            self._models[t] = constriction.stream.model.Categorical(probabilities, perfect=False)
        return self._models[t]


def _groups(tables: np.ndarray):
    """Stable grouping of positions by table index (non-negative): yields (table, positions).
    Indices below 2**15 sort as int16, which numpy's stable sort does by radix (one pass, the same
    order); the groups come from counts rather than a second sort."""
    if tables.size == 0:
        return
    small = int(tables.max()) < 1 << 15
    order = np.argsort(tables.astype(np.int16) if small else tables, kind="stable")
    counts = np.bincount(tables)
    used = np.flatnonzero(counts)
    starts = np.cumsum(counts) - counts
    for t, s, c in zip(used.tolist(), starts[used].tolist(), counts[used].tolist()):
        yield t, order[s : s + c]


def split_escapes(values: np.ndarray, tables: np.ndarray, tset: TableSet) -> tuple[np.ndarray, np.ndarray]:
    """Symbol indices to range-code (values outside a table become its escape symbol) and the
    zig-zag overflow of the escaped values, in order, for the varint tail."""
    index = values - tset.offsets[tables]
    escape = tset.lengths[tables] - 2
    out = np.flatnonzero((index < 0) | (index >= escape))  # few: work on them alone
    index_out, escape_out = index[out], escape[out]
    overflow = np.where(index_out < 0, -2 * index_out - 1, 2 * (index_out - escape_out))
    index[out] = escape_out
    return index.astype(np.int32), overflow


def join_escapes(index: np.ndarray, tables: np.ndarray, tset: TableSet, take_overflow) -> np.ndarray:
    """The inverse of :func:`split_escapes`: decoded symbol indices whose escape symbols are
    replaced by the values ``take_overflow(count)`` returns (the zig-zag overflow, in order), then
    shifted by each table's offset. Every range decoder ends with this."""
    escape = tset.lengths[tables] - 2
    escaped = np.flatnonzero(index == escape)
    if len(escaped):
        o = take_overflow(len(escaped))
        index[escaped] = np.where(o % 2 == 1, -(o + 1) // 2, escape[escaped] + o // 2)
    return index + tset.offsets[tables]


class StreamEncoder:
    """One bitstream coded in several passes (context models: pass ``k+1``'s tables depend on the
    values of passes ``<= k``). Each :meth:`push` is vectorised; the decoder pulls the same passes
    with the same tables in the same order. Escaped values of every pass follow the range-coded
    words as one run of varints, in pass order."""

    def __init__(self, tset: TableSet, trimmed: bool = False):
        """``trimmed``: the stream will end with :meth:`finish_trimmed`, which replays the coder
        calls, so they are kept (only then: image streams have millions of symbols)."""
        self.tset, self._coder, self._overflow = tset, constriction.stream.queue.RangeEncoder(), []
        self._calls: list[tuple[int, np.ndarray]] | None = [] if trimmed else None

    def push(self, values: np.ndarray, tables: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.int64).reshape(-1)
        tables = np.asarray(tables, dtype=np.int64).reshape(-1)
        if values.shape != tables.shape:
            raise ValueError("values and tables must have the same shape")
        if tables.size and (tables.min() < 0 or tables.max() >= len(self.tset)):
            raise ValueError("table index out of range")
        index, overflow = split_escapes(values, tables, self.tset)
        self._overflow.append(overflow)
        for t, pos in _groups(tables):
            self._coder.encode(index[pos], self.tset.model(t))
            if self._calls is not None:
                self._calls.append((t, index[pos]))

    def finish(self, compact: bool = False) -> bytes:
        """The stream: word count (u32, or a varint when ``compact``: 1 byte instead of 4 for
        streams under 128 words, what small video frames need), the words, the escapes."""
        words = self._coder.get_compressed().astype(_WORD).tobytes()
        overflow = np.concatenate(self._overflow) if self._overflow else np.zeros(0, np.int64)
        count = write_varint(len(words) // 4) if compact else struct.pack("<I", len(words) // 4)
        return count + words + _varints(overflow)

    def finish_trimmed(self) -> bytes:
        """The byte-granular layout of a stream whose end the container knows (video payload 3's
        frames, a few dozen bytes at low rates, where whole 32-bit words and a length field were
        a tenth of a frame): the range coder's words big-endian, then the escapes' varints
        reversed (the decoder reads them from the end), no length field. Trailing word bytes are
        dropped while the stream still decodes to the same values with the decoder's padding
        (:func:`trimmed_words`): checked by decoding, so the rule needs nothing from the coder's
        internals. About 15 bits shorter than whole words on average."""
        if self._calls is None:
            raise ValueError("finish_trimmed needs an encoder made with trimmed=True")
        words = self._coder.get_compressed().astype(_TRIMMED_WORD).tobytes()
        overflow = np.concatenate(self._overflow) if self._overflow else np.zeros(0, np.int64)
        tail = _varints(overflow)[::-1]
        best = words + tail
        for k in range(1, min(len(words), MAX_TRIM) + 1):
            candidate = words[: len(words) - k] + tail
            if not self._decodes(candidate):
                break
            best = candidate
        return best

    def _decodes(self, data: bytes) -> bool:
        """Whether a trimmed-layout decoder gets every range-coded symbol back from ``data`` (the
        coder calls replayed as the decoder makes them; escape values live in the tail, which the
        decoder reads from the end whatever the words are)."""
        try:
            coder = constriction.stream.queue.RangeDecoder(trimmed_words(data))
            return all(np.array_equal(coder.decode(self.tset.model(t), len(sym)), sym) for t, sym in self._calls)
        except CODER_ERRORS:
            return False


class StreamDecoder:
    """Inverse of :class:`StreamEncoder`: :meth:`pull` each pass with the encoder's tables."""

    def __init__(self, data: bytes, tset: TableSet, compact: bool = False, trimmed: bool = False):
        self.tset, self._trimmed = tset, trimmed
        if trimmed:  # StreamEncoder.finish_trimmed's layout: words, then the escapes reversed
            self._coder = range_decoder(trimmed_words(data))
            self._tail = np.frombuffer(data[::-1], dtype=np.uint8)
            self._ends = np.flatnonzero(self._tail < 128)
            self._used = 0
            return
        if compact:
            n_words, start = read_varint(data, 0)
        else:
            if len(data) < 4:
                raise FormatError("entropy-coded section is truncated")
            (n_words,), start = struct.unpack_from("<I", data), 4
        end = start + 4 * n_words
        if end > len(data):
            raise FormatError("entropy-coded section is truncated")
        words = np.frombuffer(data, dtype=_WORD, count=n_words, offset=start).astype(np.uint32)
        self._coder = range_decoder(words)
        self._tail = np.frombuffer(data[end:], dtype=np.uint8)
        self._ends = np.flatnonzero(self._tail < 128)  # each varint ends at a byte < 128
        self._used = 0  # varints consumed so far

    def pull(self, tables: np.ndarray) -> np.ndarray:
        shape = np.shape(tables)
        tables = np.asarray(tables, dtype=np.int64).reshape(-1)
        check_tables(tables, self.tset)
        index = np.empty(tables.shape, dtype=np.int64)
        for t, pos in _groups(tables):
            index[pos] = decode_symbols(self._coder, self.tset.model(t), len(pos))
        return join_escapes(index, tables, self.tset, self._take_varints).reshape(shape)

    def _take_varints(self, count: int) -> np.ndarray:
        if self._used + count > len(self._ends):
            raise FormatError("entropy-coded section is corrupted (escape values do not match)")
        start = 0 if self._used == 0 else int(self._ends[self._used - 1]) + 1
        stop = int(self._ends[self._used + count - 1]) + 1 if count else start
        self._used += count
        return _unvarints(self._tail[start:stop].tobytes(), count)

    def finish(self) -> None:
        """Every escape value must have been used: trailing bytes mean a damaged section (the
        trimmed layout has no boundary between words and escapes: its container's check value
        covers it)."""
        if self._trimmed:
            return
        consumed = int(self._ends[self._used - 1]) + 1 if self._used else 0
        if consumed != len(self._tail):
            raise FormatError("entropy-coded section is corrupted (escape values do not match)")


def trimmed_words(data: bytes) -> np.ndarray:
    """The words a decoder of the trimmed layout reads: ``data`` big-endian, padded with 0xFF
    bytes to whole words and two more words (the range decoder reads ahead)."""
    padded = bytes(data) + b"\xff" * ((-len(data)) % 4 + 8)
    return np.frombuffer(padded, dtype=_TRIMMED_WORD).astype(np.uint32)


def encode(values: np.ndarray, tables: np.ndarray, tset: TableSet) -> bytes:
    """Code integer ``values`` (any shape), each under the table named by ``tables`` (same shape)."""
    encoder = StreamEncoder(tset)
    encoder.push(values, tables)
    return encoder.finish()


def decode(data: bytes, tables: np.ndarray, tset: TableSet) -> np.ndarray:
    """Inverse of :func:`encode`: ``tables`` must be the same array the encoder used."""
    decoder = StreamDecoder(data, tset)
    values = decoder.pull(tables)
    decoder.finish()
    return values


def _varints(values: np.ndarray) -> bytes:
    """LEB128 varints of non-negative integers, vectorised (at most 10 bytes each)."""
    v = np.asarray(values, dtype=np.uint64)
    if v.size == 0:
        return b""
    groups = (v[:, None] >> (7 * np.arange(10, dtype=np.uint64))[None, :]) & np.uint64(0x7F)
    nonzero = groups != 0
    nbytes = np.where(nonzero.any(axis=1), 10 - np.argmax(nonzero[:, ::-1], axis=1), 1)
    keep = np.arange(10)[None, :] < nbytes[:, None]
    more = np.arange(10)[None, :] < (nbytes[:, None] - 1)
    out = (groups | (more.astype(np.uint64) << np.uint64(7)))[keep]
    return out.astype(np.uint8).tobytes()


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """One LEB128 varint at ``pos`` (at most 5 bytes, below 2**32) -> (value, position after it)."""
    value = 0
    for k in range(5):
        if pos + k >= len(data):
            raise FormatError("entropy-coded section is truncated")
        byte = data[pos + k]
        value |= (byte & 0x7F) << (7 * k)
        if byte < 128:
            if value >= 1 << 32:
                break
            return value, pos + k + 1
    raise FormatError("entropy-coded section is corrupted (length too long)")


def write_varint(value: int) -> bytes:
    """LEB128 bytes of one non-negative integer below 2**32 (inverse of :func:`read_varint`)."""
    if not 0 <= value < 1 << 32:
        raise ValueError("varint out of range")
    return _varints(np.array([value]))


def _unvarints(data: bytes, count: int) -> np.ndarray:
    b = np.frombuffer(data, dtype=np.uint8).astype(np.uint64)
    ends = np.flatnonzero(b < 128)
    if len(ends) != count or (count and ends[-1] != len(b) - 1) or (not count and len(b)):
        raise FormatError("entropy-coded section is corrupted (escape values do not match)")
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.concatenate(([0], ends[:-1] + 1))
    if np.any(ends - starts >= 10):
        raise FormatError("entropy-coded section is corrupted (escape value too long)")
    if np.any((ends - starts == 9) & (b[ends] > 1)):
        raise FormatError("entropy-coded section is corrupted (escape value too large)")
    position = np.arange(len(b)) - np.repeat(starts, ends - starts + 1)
    parts = (b & np.uint64(0x7F)) << (np.uint64(7) * position.astype(np.uint64))
    values = np.add.reduceat(parts, starts)
    if np.any(values >= np.uint64(_MAX_ESCAPE)):
        raise FormatError("entropy-coded section is corrupted (escape value too large)")
    return values.astype(np.int64)
