"""Metrics and colour conversion of the evaluation against reference values."""
import numpy as np
import pytest
import skimage.data

from ncodec.eval.colour import rgb_to_ycbcr, ycbcr_to_rgb
from ncodec.eval.metrics import bits_per_pixel, ms_ssim, ms_ssim_db, psnr, psnr_yuv


def test_psnr_hand_values():
    a = np.zeros((4, 4, 3), np.uint8)
    assert psnr(a, a + 1, 255) == pytest.approx(20 * np.log10(255))
    assert psnr(a, a, 255) == float("inf")


def test_yuv_psnr_is_weighted_6_1_1():
    y = np.full((8, 8), 100, np.uint8)
    r = psnr_yuv((y, y, y), (y + 1, y + 2, y + 4))
    assert r["y"] == pytest.approx(20 * np.log10(255))
    assert r["yuv"] == pytest.approx((6 * r["y"] + r["u"] + r["v"]) / 8)


def test_ms_ssim_matches_pytorch_msssim_and_skips_small_images():
    img = skimage.data.astronaut()[:192, :192]
    noisy = np.clip(img.astype(int) + np.random.default_rng(0).integers(-8, 9, img.shape), 0, 255).astype(np.uint8)
    assert ms_ssim(img, img) == pytest.approx(1.0)
    assert 0.8 < ms_ssim(img, noisy) < 1.0
    assert ms_ssim(img[:100], noisy[:100]) is None
    assert ms_ssim_db(0.99) == pytest.approx(20.0)


def test_ycbcr_round_trip_is_within_one_level():
    img = skimage.data.coffee()
    back = ycbcr_to_rgb(rgb_to_ycbcr(img))
    assert np.abs(back.astype(int) - img).max() <= 2 and psnr(img, back, 255) > 50
    planes = rgb_to_ycbcr(np.array([[[255, 255, 255], [0, 0, 0]]], np.uint8))
    assert planes[:, 0, 0].tolist() == [255, 128, 128] and planes[:, 0, 1].tolist() == [0, 128, 128]


def test_bpp_from_file(tmp_path):
    (tmp_path / "f").write_bytes(b"x" * 100)
    assert bits_per_pixel(tmp_path / "f", 400) == 2.0
