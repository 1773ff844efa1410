"""The complexity table's MAC counts against hand-computed values, and one real side-by-side run."""
import torch

from ncodec.codecs import get_codec
from ncodec.eval.complexity import kmacs_per_pixel, measure


def test_gdn_analysis_macs_match_a_hand_count():
    model = get_codec("hyperprior").factory(N=128, M=192)
    N, M, k = 128, 192, 25  # 5x5 kernels, each stage at 1/4 of the previous stage's pixels
    convs = k * 3 * N / 4 + k * N * N / 16 + k * N * N / 64 + k * N * M / 256
    gdns = N * N / 4 + N * N / 16 + N * N / 64  # GDN: a 1x1 convolution over the squares
    assert abs(kmacs_per_pixel(model.g_a, torch.rand(1, 3, 64, 64), 64 * 64) - (convs + gdns) / 1e3) < 1e-9


def test_measure_runs_a_real_round_trip():
    x = torch.rand(1, 3, 64, 96)
    r = measure("wavelet", x, 3.5, repeats=1)
    assert r["params_M"] > 0 and r["encode_s"] > 0 and r["decode_s"] > 0 and r["bpp"] > 0
    assert r["kmac_per_px_analysis"] < 1  # the wavelet codec's encoder is one linear projection
