"""lwc: CDF 9/7 transform, exact fixed-point context model, bit-exact round trips of the shipped
model through the file API, rate from file size, monotone quality, odd sizes."""

import numpy as np
import pytest
import torch
from PIL import Image

import ncodec
from ncodec.codecs.image import cdf97
from ncodec.entropy import subband_context as ctx


@pytest.mark.parametrize("h, w", [(512, 768), (37, 53), (8, 9), (3, 5), (1, 1)])
def test_cdf97_inverts_any_size(h, w):
    x = np.random.default_rng(0).uniform(0, 255, (h, w, 3))
    levels = cdf97.levels_for(h, w)
    ll, details = cdf97.forward(x, levels)
    assert np.abs(cdf97.inverse(ll, details) - x).max() < 1e-9


def test_cdf97_is_nearly_orthonormal():
    """Unit noise on every balanced detail coefficient costs unit MSE in RGB (within 2%)."""
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 255, (256, 384, 3))
    ll, details = cdf97.forward(x, 5)
    noisy = [tuple(b + rng.normal(0, 1, b.shape) for b in bands) for bands in details]
    mse = np.mean((cdf97.inverse(ll, noisy) - x) ** 2)
    assert abs(mse - 1) < 0.02


def test_log_map_is_floor_4_log2():
    v = np.arange(ctx.LOG_CLIP + 1)
    ref = np.floor(4 * np.log2(1 + v) + 1e-9).astype(np.int64)
    assert np.array_equal(ctx.LOG_MAP, ref)


def test_exact_mlp_matches_integer_arithmetic():
    """The float64 evaluation equals the same network in Python integers (exact, any machine)."""
    rng = np.random.default_rng(2)
    hidden = 8
    w = {"w1": rng.integers(-9000, 9000, (ctx.N_FEATURES, hidden)), "b1": rng.integers(-9000, 9000, hidden),
         "w2": rng.integers(-9000, 9000, (hidden, hidden)), "b2": rng.integers(-9000, 9000, hidden),
         "w3": rng.integers(-9000, 9000, (hidden, 1)), "b3": rng.integers(-9000, 9000, 1)}
    mlp = ctx.ExactMLP(*(w[k] for k in ("w1", "b1", "w2", "b2", "w3", "b3")))
    x = rng.integers(0, 49, (200, ctx.N_NUMERIC))
    x[:50] = 0  # the shared all-zero path
    band = ctx.band_features(40, 2, 1, 2, 1)
    got = mlp(x, mlp.band_bias(band))

    def reference(row):
        full = [int(v) for v in row] + [int(v) for v in band]
        h = [max(0, sum(full[i] * int(w["w1"][i, j]) for i in range(len(full))) + int(w["b1"][j])) >> 4
             for j in range(hidden)]
        h = [max(0, sum(h[i] * int(w["w2"][i, j]) for i in range(hidden)) + (int(w["b2"][j]) << 8)) >> 12
             for j in range(hidden)]
        return sum(h[i] * int(w["w3"][i, 0]) for i in range(hidden)) + (int(w["b3"][0]) << 8)

    assert [int(v) for v in got] == [reference(r) for r in x]


@pytest.mark.parametrize("rows", [1000, 30000])  # the product; Horner's rule
def test_feature_row_keys_are_the_base_49_number_of_the_row(rows):
    rng = np.random.default_rng(0)
    x = np.vstack([rng.integers(0, 49, (rows, ctx.N_NUMERIC)), np.full((1, ctx.N_NUMERIC), 48)]).astype(np.uint8)
    keys = ctx._row_keys(x)
    some = np.r_[rng.choice(rows, 500, replace=False), rows]
    expected = [sum(int(v) * 49**f for f, v in enumerate(row)) for row in x[some]]
    assert keys[some].tolist() == expected and expected[-1] == 49**ctx.N_NUMERIC - 1 < 2**63


def test_exact_mlp_refuses_weights_too_large_for_float64():
    big = np.full((ctx.N_FEATURES, 4), 2**46)
    with pytest.raises(ValueError, match="too large"):
        ctx.ExactMLP(big, np.zeros(4), np.zeros((4, 4)), np.zeros(4), np.zeros((4, 1)), np.zeros(1))


def test_tables_are_integer_built_and_cover_the_grid():
    tset = ctx.tables(ctx.thetas())
    assert len(tset) == ctx.N_TABLES and tset.cdfs.dtype == np.int64
    assert ctx.tables(ctx.thetas()) is tset  # cached


@pytest.fixture(scope="module")
def lwc():
    return ncodec.load("lwc")


@pytest.mark.parametrize("h, w", [(1, 1), (5, 300), (37, 53), (129, 200)])
def test_round_trip_is_bit_exact_any_size(lwc, photo, h, w):
    x = torch.from_numpy(photo[:h, :w]).permute(2, 0, 1)[None].float() / 255
    enc = lwc.compress(x, 5.0)
    dec = lwc.decompress(enc["strings"], enc["payload"], 5.0)
    assert torch.equal(enc["x_hat"], dec["x_hat"]) and enc["x_hat"].shape == x.shape


def test_files_round_trip_rate_and_monotone_quality(tmp_path, photo):
    src = tmp_path / "in.png"
    Image.fromarray(photo[:200, :300]).save(src)
    reports = []
    for q in (0.0, 3.0, 6.0, 10.0):
        dst, out = tmp_path / f"q{q}.ncd", tmp_path / f"q{q}.png"
        rep = ncodec.encode_file(src, dst, codec="lwc", quality=q)
        assert rep["bpp"] == pytest.approx(dst.stat().st_size * 8 / (200 * 300))
        ncodec.decode_file(dst, out)
        decoded = np.asarray(Image.open(out))
        enc_pixels = np.clip(np.round(rep["x_hat"][0].permute(1, 2, 0).double().numpy() * 255), 0, 255)
        assert np.array_equal(decoded, enc_pixels.astype(np.uint8))
        reports.append(rep)
    bpps, psnrs = [r["bpp"] for r in reports], [r["psnr"] for r in reports]
    assert bpps == sorted(bpps) and psnrs == sorted(psnrs)
    assert reports[-1]["psnr"] > 40


def test_damaged_side_values_are_a_format_error(lwc, photo):
    from ncodec.errors import FormatError

    x = torch.from_numpy(photo[:64, :64]).permute(2, 0, 1)[None].float() / 255
    old = lwc.compress(x, 5.0, header_section=True)
    with pytest.raises(FormatError):
        lwc.decompress([old["strings"][0][:-1], old["strings"][1]], old["payload"], 5.0)
    new = lwc.compress(x, 5.0)
    with pytest.raises(FormatError, match="wrong size"):  # neither a version byte nor version 1's side values
        lwc.decompress([b"\x02\x00", new["strings"][1]], new["payload"], 5.0)
    with pytest.raises(FormatError, match="payload version 4 is newer than this ncodec supports"):
        lwc.decompress([b"\x04", new["strings"][1]], new["payload"], 5.0)
    for header in (b"\x01", b"\x03", b"\x02\x00\x00\x00"):  # version 3 has its colour angles, 2 none
        with pytest.raises(FormatError, match=f"payload version {header[0]} is invalid"):
            lwc.decompress([header, new["strings"][1]], new["payload"], 5.0)


@pytest.mark.parametrize("size", [(64, 64), (37, 90)])
def test_side_values_in_the_stream_decode_like_the_older_layout(lwc, photo, size):
    """Layout version 2 (2026-12-06): the lowpass tables and calibration shifts are range-coded at
    the start of the stream (section 0 the version byte, the word count a varint); version-1 files,
    with them in section 0, keep decoding, and the stream is smaller. Version 3 (2026-12-07) adds
    the colour basis's three angle bytes to section 0; with no turn its stream is version 2's (a
    grey image keeps the fixed basis)."""
    x = torch.from_numpy(photo[: size[0], : size[1]]).permute(2, 0, 1)[None].float() / 255
    grey = x.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1).contiguous()
    for q in (-2.0, 4.0):
        old, new = lwc.compress(x, q, header_section=True), lwc.compress(x, q)
        assert new["strings"][0][:1] == b"\x03" and len(new["strings"][0]) == 4 and len(old["strings"][0]) > 1
        assert len(new["strings"][1]) < len(old["strings"][0]) + len(old["strings"][1])
        for enc in (old, new):
            assert torch.equal(lwc.decompress(enc["strings"], enc["payload"], q)["x_hat"], enc["x_hat"])
        old, new = lwc.compress(grey, q, header_section=True), lwc.compress(grey, q)
        assert new["strings"][0] == b"\x03\x00\x00\x00"
        for header in (b"\x02", new["strings"][0]):
            dec = lwc.decompress([header, new["strings"][1]], new["payload"], q)
            assert torch.equal(dec["x_hat"], new["x_hat"]) and torch.equal(dec["x_hat"], old["x_hat"])


def test_own_colour_basis_is_signalled_and_decoded(lwc, photo):
    """The encoder codes a colour image in its own basis (three angle codes in section 0): the file
    decodes to exactly the encoder's reconstruction, the estimation pass agrees with it, and the
    same stream read in the fixed basis gives other pixels."""
    x = torch.from_numpy(photo[:96, :128]).permute(2, 0, 1)[None].float() / 255
    rgb = x[0].permute(1, 2, 0).double().numpy() * 255.0
    codes = cdf97.own_colour(rgb)
    assert codes != cdf97.NO_TURN
    basis = cdf97.colour_basis(codes)
    assert np.allclose(basis @ basis.T, np.eye(3)) and np.all(np.sum(basis * cdf97.COLOUR, axis=1) > 0.5)
    enc = lwc.compress(x, 3.0)
    assert enc["strings"][0] == bytes([3]) + np.array(codes, dtype=np.int8).tobytes()
    dec = lwc.decompress(enc["strings"], enc["payload"], 3.0)
    assert torch.equal(dec["x_hat"], enc["x_hat"]) and torch.equal(lwc(x, 3.0)["x_hat"], enc["x_hat"])
    fixed = lwc.decompress([b"\x03\x00\x00\x00", enc["strings"][1]], enc["payload"], 3.0)
    assert torch.equal(fixed["y_hat"], dec["y_hat"]) and not torch.equal(fixed["x_hat"], dec["x_hat"])


@pytest.mark.parametrize("passes", [2, 4])
def test_fast_pass_features_equal_the_reference_maps(passes):
    """The coder's polyphase fast path (band_statics + pass_features) gives exactly the features
    the training samples use (static_maps / pass_maps / features over boolean masks)."""
    rng = np.random.default_rng(3)
    shapes = [(37, 53), (19, 27), (10, 14)]
    mags = [[(rng.random((3,) + s) < 0.4) * rng.integers(0, 3000, (3,) + s) for _ in range(3)] for s in shapes]
    for level, channel, orient in ctx.band_order(len(shapes)):
        band = mags[level][orient][channel]
        static = ctx.static_maps(mags, level, channel, orient)
        fast = ctx.band_statics(mags, level, channel, orient)
        for pass_, (mask, index) in enumerate(zip(ctx.pass_masks(band.shape, passes), ctx.pass_index(band.shape, passes))):
            ref = ctx.features(static[mask], ctx.pass_maps(band, pass_, passes)[mask])
            assert np.array_equal(ctx.pass_features(fast, band, index, pass_, passes), ref)
            assert np.array_equal(ctx.take(band, index), band[mask])
            rows, cols = ctx.pass_positions(band.shape, index)
            assert np.array_equal(rows * band.shape[1] + cols, np.flatnonzero(mask))
            assert ctx.pass_size(band.shape, index) == len(rows)
            some = np.arange(0, len(rows), 3)
            assert all(np.array_equal(a[some], b) for a, b in zip((rows, cols), ctx.pass_positions(band.shape, index, some)))
            assert np.array_equal(ctx.BandFeatures(mags, level, channel, orient)(rows, cols, pass_, passes), ref)


def test_band_features_at_a_few_positions_equal_the_whole_band_features():
    """The encoder's gathered features (run again where an RDO sweep changed a neighbour) equal
    the whole band's, with sibling bands one row or column apart as the wavelet makes them."""
    rng = np.random.default_rng(5)
    shapes = [((3, 37, 54), (3, 38, 53), (3, 38, 54)), ((3, 19, 27), (3, 19, 27), (3, 19, 27)),
              ((3, 9, 14), (3, 10, 13), (3, 10, 14))]
    mags = [[(rng.random(s) < 0.4) * rng.integers(0, 3000, s) for s in level] for level in shapes]
    for level, channel, orient in ctx.band_order(len(shapes)):
        band = mags[level][orient][channel]
        static = ctx.band_statics(mags, level, channel, orient)
        for pass_, index in enumerate(ctx.pass_index(band.shape, 4)):
            full = ctx.pass_features(static, band, index, pass_, 4)
            rows, cols = ctx.pass_positions(band.shape, index)
            pick = np.flatnonzero(rng.random(len(rows)) < 0.3)
            got = ctx.BandFeatures(mags, level, channel, orient)(rows[pick], cols[pick], pass_, 4)
            assert np.array_equal(got, full[pick])


@pytest.mark.parametrize("quality", [3.0, 8.5])  # with the detail predictor (level by level), without (whole image)
def test_rdo_sweeps_rerun_the_network_only_where_a_neighbour_changed(monkeypatch, lwc, photo, quality):
    """After each RDO sweep the encoder reruns the context network only at positions within
    reach of a changed magnitude: the same file as rerunning it everywhere, for less work."""
    x = torch.from_numpy(photo[:203, :261].astype(np.float32) / 255).permute(2, 0, 1)[None]
    rows = []
    call = ctx.ExactMLP.__call__
    monkeypatch.setattr(ctx.ExactMLP, "__call__", lambda self, f, bias: rows.append(len(f)) or call(self, f, bias))
    lwc._last = None
    fast = lwc.compress(x, quality)
    fast_rows, rows[:] = sum(rows), []
    monkeypatch.setattr(type(lwc), "_reusable", staticmethod(lambda records, old, new: None))
    lwc._last = None
    full = lwc.compress(x, quality)
    lwc._last = None
    assert fast["strings"] == full["strings"] and torch.equal(fast["x_hat"], full["x_hat"])
    assert fast_rows < 0.6 * sum(rows)


def test_quality_range_reaches_below_zero(lwc):
    lo, hi = lwc.quality_range
    assert lo < 0 < hi


def _with_predictor(std: float, max_quality: float | None = None, blocks: int = 0):
    """lwc-pfs's entropy model, no post-filter, with a small detail predictor of random weights
    (``std``; 0: its last layer zero, no prediction; ``blocks``: residual); and the same model
    without the predictor."""
    from ncodec.codecs.checkpoint import create_model

    base = create_model("lwc-pfs")
    config = {k: v for k, v in base.config.items() if not k.startswith("postfilter")}
    state = {k: v for k, v in base.state_dict().items() if not k.startswith("postfilter.")}
    plain = create_model("lwc", pretrained=False, **config)
    plain.load_state_dict(state)
    model = create_model("lwc", pretrained=False, **config, predictor=4, predictor_layers=2,
                         predictor_max_quality=max_quality, predictor_blocks=blocks)
    model.load_state_dict(state, strict=False)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.predictor.parameters():
            p.normal_(0.0, 0.3)
        if std == 0:
            model.predictor.layers[-1].weight.zero_()
            model.predictor.layers[-1].bias.zero_()
    return model.eval(), plain.eval()


@pytest.fixture(scope="module")
def predicted():
    return _with_predictor(0.3)


@pytest.mark.parametrize("h, w", [(1, 1), (5, 300), (37, 53), (129, 200)])
def test_detail_predictor_round_trip_is_bit_exact_any_size(predicted, photo, h, w):
    model, plain = predicted
    x = torch.from_numpy(photo[:h, :w]).permute(2, 0, 1)[None].float() / 255
    enc = model.compress(x, 2.0)
    dec = model.decompress(enc["strings"], enc["payload"], 2.0)
    assert torch.equal(enc["x_hat"], dec["x_hat"]) and enc["x_hat"].shape == x.shape
    assert torch.equal(enc["y_hat"], dec["y_hat"])  # the integers the range decoder gave back
    if h > 8:  # the prediction moves the pixels: the plain codec decodes the same stream otherwise
        assert not torch.equal(plain.decompress(enc["strings"], enc["payload"], 2.0)["x_hat"], dec["x_hat"])


def test_residual_detail_predictor_round_trip_is_bit_exact(photo):
    """``predictor_blocks``: residual blocks in place of the plain stack; its own config key (the
    plain predictor's model ids are unchanged) and the same exact round trip."""
    model, plain = _with_predictor(0.1, blocks=2)
    assert model.config["predictor_blocks"] == 2 and "predictor_layers" not in model.config
    assert "predictor_blocks" not in _with_predictor(0.1)[0].config
    x = torch.from_numpy(photo[:70, :90]).permute(2, 0, 1)[None].float() / 255
    enc = model.compress(x, 1.0)
    dec = model.decompress(enc["strings"], enc["payload"], 1.0)
    assert torch.equal(enc["x_hat"], dec["x_hat"]) and torch.equal(enc["y_hat"], dec["y_hat"])
    assert not torch.equal(plain.decompress(enc["strings"], enc["payload"], 1.0)["x_hat"], dec["x_hat"])


def test_zero_detail_prediction_decodes_as_the_plain_codec(photo):
    """With the predictor's last layer zero the level-by-level synthesis is the plain inverse
    transform: the same file decodes to the same pixels with and without it."""
    zero, plain = _with_predictor(0.0)
    x = torch.from_numpy(photo[:96, :130]).permute(2, 0, 1)[None].float() / 255
    enc = zero.compress(x, 3.0)
    a = zero.decompress(enc["strings"], enc["payload"], 3.0)["x_hat"]
    b = plain.decompress(enc["strings"], enc["payload"], 3.0)["x_hat"]
    assert torch.allclose(a, b, atol=1e-6) and torch.equal(a, enc["x_hat"])


def test_above_its_max_quality_the_predictor_is_not_run(photo):
    """``predictor_max_quality``: above it the codec is the plain one (same bytes, same pixels);
    at or below it the prediction changes both."""
    model, plain = _with_predictor(0.3, max_quality=4.0)
    x = torch.from_numpy(photo[:64, :96]).permute(2, 0, 1)[None].float() / 255
    for q, same in ((6.0, True), (4.0, False)):
        a, b = model.compress(x, q), plain.compress(x, q)
        assert (a["strings"] == b["strings"]) is same and torch.equal(a["x_hat"], b["x_hat"]) is same
        assert torch.equal(model.decompress(a["strings"], a["payload"], q)["x_hat"], a["x_hat"])


def test_coded_targets_are_what_the_coded_values_quantise(photo):
    """``coded_targets`` (the training samples' continuous values): with the predictor, the
    wavelet details less the decoder's predictions, which the coded residuals quantise (a nonzero
    value is the floor or the ceiling of |target| / step, with its sign; RDO may zero any); above
    its max quality, the details."""
    from ncodec.codecs.image import cdf97

    model, _ = _with_predictor(0.3, max_quality=4.0)
    rgb = photo[:64, :96].astype(np.float64)
    levels = cdf97.levels_for(64, 96, model.config["max_levels"])
    details = cdf97.forward(rgb, levels, cdf97.colour_basis(cdf97.own_colour(rgb)))[1]  # in the image's own basis
    for quality, predicting in ((3.0, True), (6.0, False)):
        q, targets = model.coded_targets(rgb, quality)
        step = model.step(quality)
        moved = False
        for level in range(levels):
            for orient in range(3):
                t, d = targets[level][orient], details[level][orient]
                v = q[level][orient]
                nz = v != 0
                assert np.all(np.abs(np.abs(v[nz]) - np.abs(t[nz]) / step) < 1.0 + 1e-9)
                assert np.array_equal(np.sign(v[nz]), np.sign(t[nz]))
                moved |= not np.allclose(t, d)
        assert moved is predicting


@pytest.mark.parametrize("h, coarse", [(97, False), (97, True), (64, True), (5, True)])
def test_strips_compute_the_whole_image_function(h, coarse):
    """:func:`in_strips` keeps of each strip only the rows whose receptive field it holds: with
    integer weights (exact float sums) the strips give the whole image's output bit for bit,
    including a 2x2 pixel-unshuffled branch (``align=2``) and an odd last strip."""
    import torch.nn.functional as F

    from ncodec.codecs.image.tiling import in_strips

    torch.manual_seed(0)
    weights = [torch.randint(-2, 3, (4, 4, 3, 3)).float() for _ in range(3)]

    def net(x):  # three 3x3 convolutions at full resolution, two on the 2x2 grid: radius 3 and 2*2+1
        y = x
        for wt in weights:
            y = F.conv2d(y, wt, padding=1)
        z = F.pixel_unshuffle(F.pad(x, (0, 0, 0, x.shape[-2] % 2), mode="replicate"), 2)[:, :4]
        for wt in weights[:2]:
            z = F.conv2d(z, wt, padding=1)
        return y + F.interpolate(z, scale_factor=2)[..., : x.shape[-2], :] if coarse else y

    x = torch.randint(0, 4, (1, 4, h, 10)).float()
    radius, align = (5, 2) if coarse else (3, 1)
    assert torch.equal(in_strips(net, x, radius, max_pixels=10 * 12, align=align), net(x))
    assert not torch.equal(in_strips(net, x, 1, max_pixels=10 * 12, align=align), net(x)) or h <= 12  # too little context


def test_large_images_filter_in_strips_and_still_decode_exactly(monkeypatch, photo):
    """The default codec's predictor and post-filter run in strips above STRIP_PIXELS: the decoder
    splits as the encoder did, so it rebuilds the encoder's reconstruction bit for bit, which is
    the whole-image one up to float rounding."""
    from ncodec.codecs.image import tiling

    model = ncodec.load()
    x = torch.from_numpy(photo[:150, :130]).permute(2, 0, 1)[None].float() / 255
    whole = model.compress(x, 3.0)["x_hat"]
    monkeypatch.setattr(tiling, "STRIP_PIXELS", 40 * 130)
    model._last = None
    enc = model.compress(x, 3.0)
    assert torch.equal(model.decompress(enc["strings"], enc["payload"], 3.0)["x_hat"], enc["x_hat"])
    assert (enc["x_hat"] - whole).abs().max() < 1e-4
