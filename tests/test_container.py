import struct
import zlib

import pytest

from ncodec.entropy.container import VERSION, Container, unpack
from ncodec.errors import FormatError


def _sample() -> Container:
    return Container("image", "hyperprior", bytes(range(8)), 3.25, b"\x01\x02", [b"abc", b"", b"\x00" * 100])


def test_roundtrip():
    c = _sample()
    assert unpack(c.pack()) == c


def test_layout_is_as_documented():
    data = _sample().pack()
    assert data[:4] == b"NCDC" and data[4] == VERSION and data[5] == 1
    assert data[6] == len("hyperprior") and data[7:17] == b"hyperprior"
    assert struct.unpack_from("<f", data, 25)[0] == 3.25
    assert struct.unpack_from("<I", data, len(data) - 4)[0] == zlib.crc32(data[:-4])


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"JUNKJUNKJUNKJUNK", "bad magic"),
    (b"NCDC", "truncated"),
])
def test_rejects_garbage(data, message):
    with pytest.raises(FormatError, match=message):
        unpack(data)


def test_rejects_newer_version():
    data = bytearray(_sample().pack())
    data[4] = VERSION + 1
    with pytest.raises(FormatError, match="newer"):
        unpack(bytes(data))


def test_every_truncation_and_every_flipped_byte_is_refused():
    data = _sample().pack()
    for n in range(len(data)):
        with pytest.raises(FormatError):
            unpack(data[:n])
    for i in range(len(data)):
        for bit in (0x01, 0x80):
            flipped = bytearray(data)
            flipped[i] ^= bit
            with pytest.raises(FormatError):
                unpack(bytes(flipped))


def test_section_count_is_limited():
    from ncodec.entropy.limits import MAX_SECTIONS

    many = Container("image", "hyperprior", bytes(8), 1.0, b"", [b""] * (MAX_SECTIONS + 1))
    with pytest.raises(FormatError, match="sections"):
        unpack(many.pack())
    assert len(unpack(Container("image", "hyperprior", bytes(8), 1.0, b"", [b""] * MAX_SECTIONS).pack()).sections) == MAX_SECTIONS


# -- limits.inflate: the bound holds while inflating --------------------------------------------------

def test_inflate_exact_size_and_every_damage():
    from ncodec.entropy.limits import inflate

    raw = bytes(range(256)) * 40
    data = zlib.compress(raw, 9)
    assert inflate(data, len(raw)) == raw and inflate(data, 10**9) == raw
    assert inflate(zlib.compress(b""), 0) == b""
    for bad, limit, message in [(data, len(raw) - 1, "beyond its limit"), (data[:-5], len(raw), "truncated"),
                                (data + b"\x00", len(raw), "trailing"), (b"\x00" * 8, 100, "corrupted"),
                                (b"", 100, "truncated")]:
        with pytest.raises(FormatError, match=message):
            inflate(bad, limit)


def test_inflate_stops_a_deflate_bomb_at_the_limit():
    """1 GiB of zeros deflates to about 1 MB; with a 1 MiB limit it is refused after producing at
    most the limit + 1 bytes (peak memory: the limit, not the bomb)."""
    import tracemalloc

    from ncodec.entropy.limits import inflate

    bomb = zlib.compressobj(9)
    data = b"".join(bomb.compress(bytes(1 << 24)) for _ in range(64)) + bomb.flush()
    assert len(data) < 2 << 20
    tracemalloc.start()
    with pytest.raises(FormatError, match="beyond its limit"):
        inflate(data, 1 << 20)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 << 20
