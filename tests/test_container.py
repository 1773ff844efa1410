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
