"""Real Kodak photos (skips cleanly when ../shared/data is absent)."""
import numpy as np
import pytest
from PIL import Image

import ncodec
from ncodec.eval.metrics import psnr


def test_kodak_roundtrip(tmp_path, kodak):
    src = kodak / "kodim23.png"
    enc = ncodec.encode_file(src, tmp_path / "k.ncd", quality=3.0)
    dec = ncodec.decode_file(tmp_path / "k.ncd", tmp_path / "k.png")
    assert (enc["x_hat"] == dec["x_hat"]).all()
    decoded, original = np.asarray(Image.open(tmp_path / "k.png")), np.asarray(Image.open(src))
    assert enc["psnr"] == pytest.approx(psnr(original, decoded, 255))
    assert enc["bpp"] == (tmp_path / "k.ncd").stat().st_size * 8 / (768 * 512)
