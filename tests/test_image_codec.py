"""Round trips through real files with the shipped checkpoint: decoded == encoder's reconstruction."""
import numpy as np
import pytest
import torch
from PIL import Image

import ncodec
from ncodec.codecs.image.base import pad_to
from ncodec.media.image import Picture, read_image, write_image


def _roundtrip(tmp_path, pixels: np.ndarray, name="in.png", out="out.png", quality=3.0):
    src, ncd, dst = tmp_path / name, tmp_path / "x.ncd", tmp_path / out
    write_image(src, Picture(pixels))
    enc = ncodec.encode_file(src, ncd, quality=quality)
    dec = ncodec.decode_file(ncd, dst)
    assert torch.equal(enc["x_hat"], dec["x_hat"]), "decoder output differs from the encoder's reconstruction"
    return enc, dec, read_image(dst).pixels


@pytest.mark.parametrize("h, w", [(1, 1), (17, 33), (3, 2000), (64, 64)])
def test_odd_sizes_bit_exact(tmp_path, photo, h, w):
    pixels = np.resize(photo, (h, w, 3)).astype(np.uint8)
    enc, dec, out = _roundtrip(tmp_path, pixels)
    assert out.shape == (h, w, 3) and out.dtype == np.uint8
    expected = np.clip(np.round(enc["x_hat"][0].permute(1, 2, 0).double().numpy() * 255), 0, 255)
    assert np.array_equal(out, expected.astype(np.uint8))


def test_bpp_is_file_size(tmp_path, photo_png):
    ncd = tmp_path / "a.ncd"
    enc = ncodec.encode_file(photo_png, ncd, quality=2.0)
    info = ncodec.read_info(ncd)
    assert enc["bytes"] == ncd.stat().st_size == info["bytes"]
    assert enc["bpp"] == info["bpp"] == ncd.stat().st_size * 8 / (512 * 512)


@pytest.mark.parametrize("quality", [1.0, 3.5, 6.0])
def test_real_rate_matches_estimate(codec, photo, quality):
    """Coded bits are within 1% of the model's estimated bits on a real photo."""
    x = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255
    real = sum(len(s) for s in codec.compress(x, quality)["strings"]) * 8
    with torch.no_grad():
        out = codec(pad_to(x, codec.stride), quality)
    estimate = sum(float(-torch.log2(l).sum()) for l in out["likelihoods"].values())
    assert abs(real - estimate) <= 0.01 * estimate


def test_quality_orders_rate_and_distortion(tmp_path, photo_png):
    reports = [ncodec.encode_file(photo_png, tmp_path / f"{q}.ncd", quality=q) for q in (1.0, 3.5, 6.0)]
    bpps, psnrs = [r["bpp"] for r in reports], [r["psnr"] for r in reports]
    assert bpps == sorted(bpps) and psnrs == sorted(psnrs)


def test_gray_is_decoded_as_gray(tmp_path, photo):
    gray = photo.mean(axis=2).astype(np.uint8)[:40, :50, None]
    enc, _, out = _roundtrip(tmp_path, gray)
    assert out.shape == (40, 50, 1)
    assert enc["psnr"] > 15


def test_rgba_alpha_is_lossless(tmp_path, photo):
    rgba = np.concatenate([photo[:30, :45], np.arange(30 * 45, dtype=np.uint8).reshape(30, 45, 1)], axis=2)
    _, _, out = _roundtrip(tmp_path, rgba)
    assert out.shape == (30, 45, 4) and np.array_equal(out[..., 3], rgba[..., 3])


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_sixteen_bit_is_decoded_as_sixteen_bit(tmp_path, photo, channels):
    rgb16 = photo[:24, :40].astype(np.uint16) * 257 + 3
    pixels = {1: rgb16[..., :1], 3: rgb16, 4: np.concatenate([rgb16, rgb16[..., :1] ^ 0x5A5A], axis=2)}[channels]
    enc, _, out = _roundtrip(tmp_path, pixels)
    assert out.dtype == np.uint16 and out.shape == pixels.shape
    if channels == 4:
        assert np.array_equal(out[..., 3], pixels[..., 3])
    assert enc["psnr"] > 15


@pytest.mark.parametrize("suffix", [".jpg", ".bmp", ".ppm", ".tif"])
def test_input_formats(tmp_path, photo, suffix):
    path = tmp_path / f"in{suffix}"
    Image.fromarray(photo[:48, :48]).save(path)
    ncodec.encode_file(path, tmp_path / "a.ncd")
    ncodec.decode_file(tmp_path / "a.ncd", tmp_path / f"out{suffix}")
    assert read_image(tmp_path / f"out{suffix}").pixels.shape == (48, 48, 3)


def test_target_bpp_and_psnr(tmp_path, photo):
    src = tmp_path / "crop.png"
    Image.fromarray(photo[100:228, 100:228]).save(src)
    lo = ncodec.encode_file(src, tmp_path / "lo.ncd", quality=1.0)
    hi = ncodec.encode_file(src, tmp_path / "hi.ncd", quality=6.0)
    target = (lo["bpp"] + hi["bpp"]) / 2
    r = ncodec.encode_file(src, tmp_path / "t.ncd", target_bpp=target)
    assert r["target_met"] and r["bpp"] <= target and r["bpp"] > lo["bpp"]
    assert r["bpp"] == (tmp_path / "t.ncd").stat().st_size * 8 / 128**2
    target = (lo["psnr"] + hi["psnr"]) / 2
    r = ncodec.encode_file(src, tmp_path / "p.ncd", target_psnr=target)
    assert r["target_met"] and r["psnr"] >= target and r["quality"] < 6.0
    r = ncodec.encode_file(src, tmp_path / "u.ncd", target_psnr=99.0)
    assert not r["target_met"] and r["quality"] == ncodec.load().quality_range[1]  # the default codec's top


@pytest.mark.parametrize("target_bpp, target_psnr", [(0.3, None), (1.2, None), (None, 31.3), (None, 38.9)])
def test_quality_search_interpolates_to_the_target(monkeypatch, target_bpp, target_psnr):
    """The search keeps bisection's guarantees (the highest quality within the rate, the lowest
    reaching the PSNR, at most 12/256 of the range from a quality that misses) and in a few
    encodings gets within 0.5% / 0.02 dB of the target or that close in quality, on a codec whose
    rate doubles every 2 quality units (PSNR +3 dB) with a ripple."""
    from ncodec.codecs.image import modality

    calls = []

    def rate(quality):
        bpp = 0.05 * 2 ** (quality / 2 + 0.05 * np.sin(3 * quality))
        return {"quality": quality, "bpp": bpp, "psnr": 25 + 3 * np.log2(bpp / 0.05)}

    def encode_once(codec, picture, quality, device):
        calls.append(quality)
        return rate(quality)

    monkeypatch.setattr(modality, "_encode_once", encode_once)
    codec = type("C", (), {"quality_range": (-2.0, 10.0)})()
    r = modality._search_quality(codec, None, "cpu", target_bpp, target_psnr)
    assert r["target_met"] and len(calls) <= 7
    if target_bpp is not None:
        met = [q for q in calls if rate(q)["bpp"] <= target_bpp]
        assert r["quality"] == max(met) and r["bpp"] <= target_bpp
        close = r["bpp"] >= target_bpp * 0.995
    else:
        met = [q for q in calls if rate(q)["psnr"] >= target_psnr]
        assert r["quality"] == min(met) and r["psnr"] >= target_psnr
        close = r["psnr"] <= target_psnr + 0.02
    missed = [q for q in calls if q not in met]
    assert close or min(abs(q - r["quality"]) for q in missed) <= 12 / 256
