"""Learned table shapes of ``lwc`` (entropy/subband_context.py): integer construction, the Laplace
starting point, the fit against hand-computed values, quality bands and exact round trips."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ncodec.entropy import subband_context as ctx


@pytest.mark.parametrize("k", [1, 4, 16, 64])
def test_laplace_shapes_rebuild_the_laplace_tables_exactly(k):
    theta = ctx.thetas()
    plain, shaped = ctx.tables(theta), ctx.tables(theta, ctx.laplace_shapes(theta, k))
    assert np.array_equal(plain.cdfs, shaped.cdfs) and np.array_equal(plain.lengths, shaped.lengths)
    assert np.array_equal(plain.offsets, shaped.offsets)


def test_learned_counts_are_the_first_magnitudes_and_the_tail_keeps_its_shape():
    theta, k = ctx.thetas(), 4
    shapes = ctx.laplace_shapes(theta, k)
    t = 40  # a wide table (half > k): learned 0..3, the Laplace tail scaled to the learned mass
    shapes[t] = [1000, 300, 100, 50, 10**12]
    plain, tset = ctx.tables(theta), ctx.tables(theta, shapes)
    zero = -int(tset.offsets[t])
    freq = np.diff(tset.cdfs[t, : tset.lengths[t]])
    assert freq[zero : zero + 4].tolist() == [1000, 300, 100, 50] and freq[zero - 3 : zero].tolist() == [50, 100, 300]
    base = np.diff(plain.cdfs[t, : plain.lengths[t]])
    tail = np.r_[freq[: zero - 3], freq[zero + 4 :]]
    assert tail.sum() == pytest.approx(10**12, rel=1e-6)  # (integer floors)
    ratio = tail / np.r_[base[: zero - 3], base[zero + 4 :]]
    assert ratio.max() == pytest.approx(ratio.min(), rel=1e-3)  # the same shape, scaled
    t = 0  # a narrow table (half 4 < k = 6): magnitudes beyond it fall into its escape
    shapes6 = ctx.laplace_shapes(theta, 6)
    shapes6[t] = [900, 20, 10, 5, 4, 3, 7]
    tset = ctx.tables(theta, shapes6)
    freq = np.diff(tset.cdfs[t, : tset.lengths[t]])
    assert -tset.offsets[t] == 4 and freq[4:9].tolist() == [900, 20, 10, 5, 4] and freq[-1] == 2 * 3 + 7


def test_bad_shapes_are_refused():
    theta = ctx.thetas()
    for bad in (np.zeros((ctx.N_TABLES, 1), dtype=np.int64), np.zeros((3, 5), dtype=np.int64),
                -np.ones((ctx.N_TABLES, 5), dtype=np.int64)):
        with pytest.raises(ValueError, match="table shapes"):
            ctx.tables(theta, bad)


def test_fit_is_the_counts_frequencies_per_sign():
    counts = np.array([[600.0, 300.0, 60.0, 40.0]])  # |v| = 0, 1, 2, >= 3
    prior = np.array([[1, 1, 1, 1]])
    shapes = ctx.fit_shapes(counts, prior, strength=0.0)
    one = 2.0**ctx.PRECISION
    assert shapes[0].tolist() == [round(0.6 * one), round(0.15 * one), round(0.03 * one), round(0.04 * one)]
    # pseudo-counts: an unseen table is its prior's mass per magnitude (per sign for 1..K-1)
    empty = ctx.fit_shapes(np.zeros((1, 4)), np.array([[4, 1, 1, 2]]), strength=10.0)
    assert empty[0].tolist() == [round(0.4 * one), round(0.1 * one), round(0.1 * one), round(0.2 * one)]


def _shaped_model(bands: int):
    from ncodec.codecs.checkpoint import create_model

    shipped = create_model("lwc-dpf")
    model = create_model("lwc", pretrained=False, **{**shipped.config, "table_shape": 8, "table_bands": bands})
    assert model.load_state_dict(shipped.state_dict(), strict=False).missing_keys == ["table_shapes"]
    return shipped, model


def test_quality_bands_split_the_range_by_the_integer_quality_code():
    _, model = _shaped_model(4)
    lo, hi = model.quality_range  # -2..10: codes -16..80, 97 codes; band (code + 16) * 4 // 97
    qualities = (lo, 1.0, 1.125, 4.0, 4.25, 7.0, 7.5, hi, hi + 5, lo - 5)
    assert [model.table_band(q) for q in qualities] == [0, 0, 1, 1, 2, 2, 3, 3, 3, 0]


def test_laplace_shapes_code_the_same_bytes_and_any_shapes_round_trip_exactly(photo):
    shipped, model = _shaped_model(3)
    x = torch.from_numpy(photo[100:180, 200:290].astype(np.float32) / 255).permute(2, 0, 1)[None]
    assert shipped.compress(x, 3.0)["strings"] == model.compress(x, 3.0)["strings"]  # the Laplace start
    rng = np.random.default_rng(1)
    shapes = model.table_shapes.numpy()
    model.table_shapes.copy_(torch.from_numpy(shapes * rng.uniform(0.3, 3.0, shapes.shape)).long() + 1)
    model._mlp = None
    sizes = []
    for quality in (-1.0, 4.0, 9.0):  # three bands, three table sets
        out = model.compress(x, quality)
        dec = model.decompress(out["strings"], out["payload"], quality)
        assert torch.equal(dec["x_hat"], out["x_hat"]) and torch.equal(dec["y_hat"], out["y_hat"])
        sizes.append(sum(map(len, out["strings"])))
    assert sizes == sorted(sizes)
