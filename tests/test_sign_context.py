"""Sign contexts of ``lwc`` (entropy/sign_context.py): integer tables, mirror symmetry, the fit,
and exact round trips under any skew table."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ncodec.entropy import sign_context as sc
from ncodec.entropy import subband_context as ctx


def test_slot_zero_is_the_symmetric_table_and_skews_mirror():
    base = ctx.tables(ctx.thetas())
    skewed = sc.skewed_tables(base)
    n = len(base)
    assert len(skewed) == n * sc.N_SLOTS and np.array_equal(skewed.cdfs[:n], base.cdfs)
    values = np.arange(-3, 4)
    for t in (0, 20, 40):
        for j in range(1, sc.SKEW_MAX + 1):
            pos, neg = t + n * int(sc.slot_of(j)), t + n * int(sc.slot_of(-j))
            cost_pos = [skewed.code_length(np.array([v]), np.array([pos])) for v in values]
            cost_neg = [skewed.code_length(np.array([v]), np.array([neg])) for v in values]
            assert cost_pos == pytest.approx(cost_neg[::-1], abs=1e-9)  # mirror images
            if t >= 20:  # a table where nonzero values are common: positives now cost less
                assert cost_pos[4] < cost_pos[2]


def test_mirror_is_an_involution_and_fit_pools_mirrors():
    m = sc.mirror()
    assert np.array_equal(m[m], np.arange(sc.N_CLASSES)) and len(set(m.tolist())) == sc.N_CLASSES
    counts = np.zeros((sc.N_CLASSES, 2))
    counts[10] = (100, 900)  # mostly positive
    counts[m[10]] = (900, 100)  # its mirror: mostly negative
    skew = sc.fit_skew(counts)
    assert skew[10] == sc.SKEW_MAX and skew[m[10]] == -sc.SKEW_MAX
    assert (np.delete(skew, [10, m[10]]) == 0).all()  # no data: symmetric


def test_classes_see_only_decoded_neighbours_along_the_edge():
    signs = np.zeros((6, 6), dtype=np.int8)
    signs[0::2, 0::2] = 1  # pass 0 decoded, all positive
    index = ctx.pass_index(signs.shape, 4)
    for orient, pass_ in ((0, 3), (1, 2)):  # HL sees up/down, LH left/right: both from pass 0
        c = sc.classes(signs, None, index[pass_], orient, pass_)
        pred = (c // 3) % sc.N_PRED - sc.PRED_MAX
        assert (pred[pred != 2] >= 1).all() and (pred == 2).any()
    c = sc.classes(signs, None, index[1], 0, 1)  # pass 1's vertical neighbours are not decoded yet
    assert ((c // 3) % sc.N_PRED == sc.PRED_MAX).all()


def test_any_skew_table_round_trips_exactly():
    from ncodec.codecs.checkpoint import create_model

    shipped = create_model("lwc")
    model = create_model("lwc", pretrained=False, **{**shipped.config, "sign_context": 1})
    model.load_state_dict(shipped.state_dict(), strict=False)
    rng = np.random.default_rng(0)
    model.sign_skew.copy_(torch.from_numpy(rng.integers(-sc.SKEW_MAX, sc.SKEW_MAX + 1, sc.N_CLASSES)))
    model._mlp = None
    y, x = np.mgrid[0:70, 0:90]
    rgb = np.stack([128 + 60 * np.sin(x / 5.0 + y / 9.0), 100 + 40 * np.cos(y / 4.0), 90 + x], -1)
    rgb = np.clip(rgb + rng.normal(0, 6, rgb.shape), 0, 255).astype(np.float32) / 255
    img = torch.from_numpy(rgb).permute(2, 0, 1)[None]
    for quality in (0.0, 5.0, 9.0):
        out = model.compress(img, quality)
        dec = model.decompress(out["strings"], out["payload"], quality)
        assert torch.equal(dec["x_hat"], out["x_hat"]) and torch.equal(dec["y_hat"], out["y_hat"])


def test_sign_contexts_need_polyphase_passes():
    from ncodec.codecs.checkpoint import create_model

    with pytest.raises(ValueError, match="polyphase passes"):
        create_model("lwc", pretrained=False, passes=2, sign_context=1)
