"""The video modality and the ``lvc`` codec: exact round trips, random access, every input/output
format, ``info``, and bad input (one line on stderr, exit 2, no partial output). Clips are made
here: a few small frames of a camera move across a photo."""
from __future__ import annotations

import json
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from ncodec.codecs.video import io as vio
from ncodec.codecs.video import motion
from ncodec.codecs.video import residual as rs
from ncodec.codecs.video.layout import parse_index
from ncodec.entropy.container import unpack
from ncodec.errors import FormatError

CKPT = "video-lvc"


def run_process(*args, timeout=300):
    """A real ``ncodec`` process."""
    return subprocess.run([sys.executable, "-m", "ncodec.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def run(*args):
    """The same entry point in this process (the model stays loaded)."""
    import contextlib
    import io

    from ncodec.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def make_clip(frames=5, h=48, w=64, seed=0) -> np.ndarray:
    """A camera move (sub-pixel steps) across scikit-image's astronaut."""
    import skimage.data

    from ncodec.train.video import camera_move

    return camera_move(skimage.data.astronaut(), frames, (h, w), np.random.default_rng(seed))


@pytest.fixture(scope="module")
def codec():
    from ncodec.api import load

    return load(CKPT, "video")


@pytest.fixture(scope="module")
def clip():
    return make_clip()


def test_round_trip_is_exact_and_random_access(codec, clip):
    out = codec.compress(clip, quality=3.0, intra_period=3)
    assert out["frame_types"] == ["I", "P", "P", "I", "P"]
    full = codec.decompress(out["strings"], out["payload"], quality=3.0)["x_hat"]
    assert np.array_equal(full, out["x_hat"])
    psnr = 10 * np.log10(255**2 / ((full.astype(float) - clip) ** 2).mean())
    assert psnr > 25
    part = codec.decompress(out["strings"], out["payload"], quality=3.0, start=4, stop=5)["x_hat"]
    assert np.array_equal(part, out["x_hat"][4:5])  # decoding started at the I frame 3
    # inter frames are much cheaper than intra ones on a smooth camera move
    assert max(out["frame_bytes"][1:3]) < out["frame_bytes"][0]


def test_integer_wavelet_matches_band_layout():
    from ncodec.codecs.image import cdf97

    x = np.random.default_rng(0).integers(0, 255, (37, 50))
    ll, details = rs.analysis53(x, 3)
    fll, fdetails = cdf97.analysis(x[None].astype(float), 3)
    assert ll.shape == fll.shape[1:]
    assert [tuple(b.shape for b in d) for d in details] == [tuple(b.shape[1:] for b in d) for d in fdetails]


def test_vector_prediction_inverts():
    mv = np.random.default_rng(1).integers(-40, 40, (5, 7, 2))
    assert np.array_equal(motion.mv_from_residual(motion.mv_residual(mv)), mv)


def test_motion_finds_a_shift():
    rng = np.random.default_rng(2)
    base = (rng.random((80, 96, 3)) * 255).astype(np.uint8)
    import scipy.ndimage as nd

    base = nd.uniform_filter(base, size=(5, 5, 1))
    cur = np.roll(base, (3, -2), axis=(0, 1))
    mv = motion.estimate(cur, motion.Reference(base), 16, 8, 0.1)
    assert np.all(mv[1:-1, 1:-1] == [-12, 8])  # quarter pels: cur(y, x) = ref(y - 3, x + 2)


def test_interpolation_filter_is_the_stated_integer_formula():
    """8-tap sub-pel samples: (sum_y c_y sum_x c_x p + 2048) >> 12 clipped to 0..255, edges
    replicated, checked against Python integers at random positions of every phase; and a vector
    with a sub-pel part predicts a shifted ramp better than bilinear interpolation."""
    rng = np.random.default_rng(5)
    frame = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    ref = motion.Reference(frame, motion.HEVC_TAPS)
    p = ref.padded.astype(int)
    taps = motion.HEVC_TAPS.tolist()
    for fy in range(4):
        for fx in range(4):
            got = ref.phase(fy, fx)
            assert got.dtype == np.int32 and got.shape == p.shape
            for y, x, c in zip(rng.integers(0, p.shape[0], 6), rng.integers(0, p.shape[1], 6), rng.integers(0, 3, 6)):
                def at(yy, xx):
                    return p[min(max(yy, 0), p.shape[0] - 1), min(max(xx, 0), p.shape[1] - 1), c]
                v = sum(taps[fy][i] * sum(taps[fx][j] * at(y + i - 3, x + j - 3) for j in range(8)) for i in range(8))
                want = p[y, x, c] if fy == fx == 0 else min(max((v + 2048) >> 12, 0), 255)
                assert got[y, x, c] == want
    with pytest.raises(ValueError, match="taps"):
        motion.Reference(frame, np.ones((4, 8), dtype=np.int64))
    yy, xx = np.mgrid[0:64, 0:64]
    smooth = (128 + 90 * np.sin(xx / 3.0) * np.cos(yy / 4.0)).astype(np.uint8)[..., None].repeat(3, -1)
    mv = np.full((4, 4, 2), 2)  # half a pixel down and right
    truth = (128 + 90 * np.sin((xx + 0.5) / 3.0) * np.cos((yy + 0.5) / 4.0))[..., None]
    errs = [np.abs(motion.Reference(smooth, t).block_prediction(mv, 16) - truth)[8:-8, 8:-8].mean()
            for t in (None, motion.HEVC_TAPS)]
    assert errs[1] < 0.7 * errs[0]


def test_payload_versions():
    """Version 2 appends its version byte and the motion block sizes; a 14-byte payload is version
    1 (frozen files decode); a newer version is refused with the upgrade message; the compact
    index inverts."""
    from ncodec.codecs.video import layout

    v2 = layout.Header(240, 416, 64, 32, 2, 16, 64)
    assert layout.unpack_payload(layout.pack_payload(v2)) == v2
    v1 = layout.Header(240, 416, 64, 32, 1)
    assert len(layout.pack_payload(v1)) == 14 and layout.unpack_payload(layout.pack_payload(v1)) == v1
    newer = bytearray(layout.pack_payload(v2))
    newer[14] = 4
    with pytest.raises(FormatError, match="payload version 4 is newer than this ncodec supports"):
        layout.unpack_payload(bytes(newer))
    for bad in (layout.pack_payload(v2)[:-1], layout.pack_payload(v2)[:14] + bytes([2, 6, 4])):
        with pytest.raises(FormatError, match="invalid"):
            layout.unpack_payload(bad)
    with pytest.raises(ValueError, match="power of two"):
        layout.pack_payload(layout.Header(240, 416, 64, 32, 2, 24, 48))
    frames = [(0, b"i" * 300), (1, b"p" * 5), (1, b""), (0, b"x" * 70000)]
    for version in (1, 2, 3):
        index = layout.pack_index(frames, version)
        got = layout.parse_index(index, 4, version)
        assert [(k, n) for k, n, _ in got] == [(k, len(d)) for k, d in frames]
        with pytest.raises(FormatError, match="wrong size"):
            layout.parse_index(index[:-1], 4, version)
    assert len(layout.pack_index(frames, 2)) < len(layout.pack_index(frames, 1)) - 4 * 2
    # version 3: a varint per frame and the CRC32 of each intra period after its I frame's entry
    got = layout.parse_index(layout.pack_index(frames, 3), 4, 3)
    assert [c for _, _, c in got] == [zlib.crc32(b"i" * 300 + b"p" * 5), -1, -1, zlib.crc32(b"x" * 70000)]
    assert len(layout.pack_index(frames, 3)) == 2 + 1 + 1 + 3 + 2 * 4
    assert layout.period_end(got, 0) == 3 and layout.period_end(got, 3) == 4


def test_quadtree_motion_field_round_trips():
    """Random quadtrees (64 -> 16 on a grid whose edge nodes are partial) with one vector per
    leaf: the coded field decodes to the same fine field; flags of nodes whose parent is not split
    are not coded (the decoder ignores what the encoder did not send)."""
    from ncodec.codecs.video import partition, vectors
    from ncodec.codecs.video import tables as tb
    from ncodec.entropy.rangecoder import StreamDecoder, StreamEncoder

    rng = np.random.default_rng(7)
    gh, gw, depth = 7, 11, 2
    for _ in range(4):
        splits = [rng.random(partition.nodes(gh, gw, depth, k)[:2]) < 0.5 for k in range(depth)]
        eff = vectors.effective_splits(splits, gh, gw, depth)
        anchor = partition.anchors_from_splits(eff, gh, gw, depth)
        leaf_mv = rng.integers(-20, 20, (gh * gw, 2)) * (rng.random((gh * gw, 1)) < 0.6)
        mv = leaf_mv[anchor.reshape(-1)].reshape(gh, gw, 2)
        enc = StreamEncoder(tb.table_set())
        _, side = vectors.encode_field(enc, mv, 2, splits, depth)
        dec = StreamDecoder(enc.finish(compact=True), tb.table_set(), compact=True)
        got, got_side = vectors.decode_field(dec, gh, gw, 2, depth)
        assert np.array_equal(got, mv) and np.array_equal(got_side, side)
        dec.finish()
        # version 3: the table indices are coded against the previous frame's
        enc = StreamEncoder(tb.table_set(), trimmed=True)
        _, side3 = vectors.encode_field(enc, mv, 3, splits, depth, previous=side + 1)
        dec = StreamDecoder(enc.finish_trimmed(), tb.table_set(), trimmed=True)
        got, got_side = vectors.decode_field(dec, gh, gw, 3, depth, previous=side + 1)
        assert np.array_equal(got, mv) and np.array_equal(got_side, side3)
        leaves = len(np.unique(anchor))
        assert (gh // 4) * (gw // 4) < leaves <= gh * gw


def test_quadtree_merges_uniform_motion_and_splits_at_a_boundary():
    from ncodec.codecs.video import partition

    yy, xx = np.mgrid[0:128, 0:128]
    base = (128 + 60 * np.sin(xx / 5.0) + 50 * np.cos(yy / 7.0)).astype(np.uint8)[..., None].repeat(3, -1)
    ref = motion.Reference(base, motion.HEVC_TAPS)
    cur = np.roll(base, (2, 3), axis=(0, 1))
    splits, mv = partition.choose(cur, ref, 16, 64, 8, 4.0)
    assert not any(s.any() for s in splits)  # uniform motion: 64 x 64 leaves
    assert np.all(mv[2:-2, 2:-2] == [-8, -12])
    moving = cur.copy()
    moving[:, 32:96] = np.roll(base, (-3, 1), axis=(0, 1))[:, 32:96]  # a band inside the 64 blocks
    splits, mv = partition.choose(moving, ref, 16, 64, 8, 4.0)
    assert splits[0][:1].all() and not splits[1][0].any()  # split at 64; the first row of 32s is uniform
    assert np.all(mv[1:4, :2] == [-8, -12]) and np.all(mv[1:4, 2:6] == [12, -4])


def test_refinement_makes_a_noisy_field_coherent_and_keeps_real_motion():
    """Encoder-side refinement (partition.refine): on a frame where many vectors predict equally
    well (flat areas) a noisy field collapses to the cheap one; where the picture has detail the
    true vector is kept, and the field's coding proxy (SAD + lambda x bits) never grows."""
    from ncodec.codecs.video import partition

    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:96, 0:128]
    base = (128 + 60 * np.sin(xx / 5.0) + 50 * np.cos(yy / 7.0)).astype(np.uint8)[..., None].repeat(3, -1)
    flat = np.full_like(base, 90)
    for frame, expect in ((flat, None), (base, [-8, -12])):
        ref = motion.Reference(frame, motion.HEVC_TAPS)
        cur = np.roll(frame, (2, 3), axis=(0, 1))
        gh, gw = motion.grid(96, 128, 16)
        true = np.zeros((gh, gw, 2), np.int64) + ([-8, -12] if expect else [0, 0])
        noisy = true + rng.integers(-1, 2, (gh, gw, 2))
        anchor = np.arange(gh * gw).reshape(gh, gw)
        lam = 8.0
        yc, yr = motion.luma(cur), ref.luma()

        def proxy(mv):
            pred = yr.block_prediction(mv, 16)[3:-3, 4:-4]  # away from the frame edge (rolled in)
            return np.abs(yc[3:-3, 4:-4] - pred).sum() + lam * motion.mv_bits(motion.mv_residual(mv)).sum()

        out = partition.refine(noisy, anchor, yc, yr, 16, lam, sweeps=3)
        if expect is None:
            assert len(np.unique(out.reshape(-1, 2), axis=0)) == 1  # one vector for the whole flat frame
        else:
            assert np.all(out[1:-1, 1:-1] == expect)
        assert proxy(out) <= proxy(noisy)


def test_prune_undoes_splits_whose_leaves_share_a_vector():
    from ncodec.codecs.video import partition, vectors

    gh, gw, depth = 6, 9, 2  # 64 -> 16: partial nodes at the right and bottom edges
    splits = [np.ones(partition.nodes(gh, gw, depth, k)[:2], bool) for k in range(depth)]
    field = np.zeros((gh, gw, 2), np.int64)
    field[0, 1] = [4, 0]  # one 16 x 16 cell differs: its 32 and 64 parents stay split
    out = partition.prune(vectors.effective_splits(splits, gh, gw, depth), field, depth)
    assert out[0].tolist() == [[True, False, False], [False, False, False]]
    assert out[1][0, 0] and out[1].sum() == 1
    anchor = partition.anchors_from_splits(out, gh, gw, depth)
    assert np.array_equal(field.reshape(-1, 2)[anchor.reshape(-1)].reshape(gh, gw, 2), field)  # same field


def test_block_sizes_come_from_the_file(codec, clip):
    """The quadtree's block sizes are an encoder choice the payload records: a file made with
    16 -> 64 (or 8 -> 32) blocks decodes exactly under a model whose config says otherwise."""
    from ncodec.codecs.video import layout

    saved = dict(codec.config)
    try:
        for block, max_block in ((16, 64), (8, 32)):
            codec.config.update(block=block, max_block=max_block)
            out = codec.compress(clip, quality=2.0, intra_period=4)
            header = layout.unpack_payload(out["payload"])
            assert (header.version, header.block, header.max_block) == (3, block, max_block)
            codec.config.update(block=32, max_block=32)
            assert np.array_equal(codec.decompress(out["strings"], out["payload"], 2.0)["x_hat"], out["x_hat"])
    finally:
        codec.config.clear()
        codec.config.update(saved)


def test_calibration_pays_for_its_shifts():
    """An all-zero group no longer walks to the end of the shift range: the shift's own code
    length counts (an encoder choice; the decoder reads whatever shift the file holds)."""
    from ncodec.codecs.video import codec as lvc
    from ncodec.codecs.video import tables as tb

    zeros = np.zeros(400, dtype=np.int64)
    busy = np.random.default_rng(3).laplace(0, 6, 400).round().astype(np.int64)
    records = [(0, None, None, zeros, np.full(400, tb.ZERO - 12)), (1, None, None, busy, np.full(400, tb.ZERO))]
    free = rs.calibrate(records)
    paid = rs.calibrate(records, lvc.SHIFT_TABLE_V2)
    assert free[0] <= -10 and -4 <= paid[0] <= 0
    assert paid[1] == free[1] > 0


def test_yuv_conversions():
    rgb = make_clip(2, 16, 16)
    for fmt in ("yuv420p", "yuv444p"):
        y, u, v = vio.rgb_to_planes(rgb, fmt)
        back = vio.planes_to_rgb(y, u, v, fmt)
        err = np.abs(back.astype(int) - rgb).mean()
        assert err < (1.0 if fmt == "yuv444p" else 8.0)


@pytest.fixture(scope="module")
def y4m(tmp_path_factory, clip):
    d = tmp_path_factory.mktemp("video")
    path = d / "clip.y4m"
    path.write_bytes(vio.y4m_bytes(clip, 25.0, "yuv420p"))
    return path


@pytest.fixture(scope="module")
def encoded(y4m):
    out = y4m.with_suffix(".ncd")
    r = run_process("encode", y4m, out, "--codec", CKPT, "--quality", "3", "--intra-period", "3")
    assert r.returncode == 0, r.stderr
    assert "intra period 3" in r.stdout and "coded RGB 4:4:4 from yuv420p" in r.stdout
    return out


def test_cli_encode_decode_info(encoded, tmp_path):
    info = json.loads(run("info", encoded, "--json").stdout)
    assert info["modality"] == "video" and info["frames"] == 5 and info["fps"] == 25
    assert info["intra_period"] == 3 and info["frame_types"] == "IPPIP" and len(info["frame_bits"]) == 5
    assert info["coded"] == "RGB 4:4:4 8-bit" and info["source_pix_fmt"] == "yuv420p"
    assert info["bytes"] == encoded.stat().st_size
    text = run("info", encoded).stdout
    assert "frame_bits" in text or "frames" in text
    outputs = {}
    for name in ("out.y4m", "out.yuv", "out.mp4", "out.mkv", "frames"):
        r = run("decode", encoded, tmp_path / name)
        assert r.returncode == 0, (name, r.stderr)
        outputs[name] = tmp_path / name
    y4m_back = vio.read_y4m(outputs["out.y4m"])
    assert y4m_back.count == 5 and y4m_back.pix_fmt == "yuv420p"
    assert outputs["out.yuv"].stat().st_size == 5 * 64 * 48 * 3 // 2
    pngs = vio.read_png_folder(outputs["frames"]).frames
    assert pngs.shape == (5, 48, 64, 3)
    for name in ("out.mp4", "out.mkv"):  # lossless containers: exactly the PNG frames
        assert np.array_equal(vio.read_av(outputs[name]).frames, pngs), name
    r = run("decode", encoded, tmp_path / "part.y4m", "--frames", "3:5")
    assert r.returncode == 0, r.stderr
    assert vio.read_y4m(tmp_path / "part.y4m").count == 2


def test_decode_matches_encoder_reconstruction(codec, clip, tmp_path):
    from ncodec.api import decode_file, encode_file

    src = tmp_path / "frames"
    vio.write_png_folder(src, clip)
    report = encode_file(src, tmp_path / "c.ncd", codec=CKPT, quality=2.0)
    dec = decode_file(tmp_path / "c.ncd", tmp_path / "d")
    assert np.array_equal(dec["x_hat"], report["x_hat"])
    assert np.array_equal(vio.read_png_folder(tmp_path / "d").frames, report["x_hat"])


def test_raw_yuv_input(tmp_path, clip):
    for fmt in ("yuv420p", "yuv444p"):
        path = tmp_path / f"clip_{fmt}.yuv"
        path.write_bytes(vio.yuv_bytes(clip[:3], fmt))
        r = run("encode", path, tmp_path / f"{fmt}.ncd", "--codec", CKPT, "--size", "64x48", "--fps", "30",
                "--pix-fmt", fmt, "--quality", "1")
        assert r.returncode == 0, r.stderr
        info = json.loads(run("info", tmp_path / f"{fmt}.ncd", "--json").stdout)
        assert info["frames"] == 3 and info["fps"] == 30 and info["source_pix_fmt"] == fmt


def _bad(args, tmp_path, expect: str):
    out = tmp_path / "bad.ncd"
    r = run("encode", *args, out, "--codec", CKPT)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and expect in r.stderr, r.stderr
    assert not out.exists() and not list(tmp_path.glob(".bad.ncd*"))


def test_bad_inputs(tmp_path, clip, y4m):
    raw = tmp_path / "a.yuv"
    raw.write_bytes(vio.yuv_bytes(clip[:2], "yuv420p")[:-7])
    _bad([raw, "--size", "64x48"], tmp_path, "not a multiple")
    raw.write_bytes(b"\0" * (63 * 47 * 3))
    _bad([raw, "--size", "63x47"], tmp_path, "even sides")
    _bad([raw, "--size", "64x48", "--pix-fmt", "nv12"], tmp_path, "unsupported pixel format")
    _bad([raw], tmp_path, "--size")
    empty = tmp_path / "e.yuv"
    empty.write_bytes(b"")
    _bad([empty, "--size", "64x48"], tmp_path, "no frames")
    trunc = tmp_path / "t.y4m"
    trunc.write_bytes(y4m.read_bytes()[:-100])
    _bad([trunc], tmp_path, "truncated")
    none = tmp_path / "n.y4m"
    none.write_bytes(b"YUV4MPEG2 W64 H48 F25:1 C420jpeg\n")
    _bad([none], tmp_path, "no frames")
    hi = tmp_path / "h.y4m"
    hi.write_bytes(b"YUV4MPEG2 W64 H48 F25:1 C422\nFRAME\n" + b"\0" * 6144)
    _bad([hi], tmp_path, "unsupported")
    junk = tmp_path / "j.mp4"
    junk.write_bytes(b"not a video at all")
    _bad([junk], tmp_path, "cannot read video")


def test_clips_over_the_pixel_limit_are_refused_before_they_are_read(monkeypatch, tmp_path, clip, encoded):
    """A clip is held in memory as 8-bit RGB (read frame by frame): one over MAX_CLIP_PIXELS is
    refused by every reader with one line, exit 2, no output; a file stating more is refused by
    the decoder (what the encoder refuses), before anything of its size is allocated."""
    monkeypatch.setattr(vio, "MAX_CLIP_PIXELS", 3 * 64 * 48)  # three of the clip's five frames
    y4m, raw, frames = tmp_path / "a.y4m", tmp_path / "a.yuv", tmp_path / "frames"
    y4m.write_bytes(vio.y4m_bytes(clip, 25.0, "yuv420p"))
    raw.write_bytes(vio.yuv_bytes(clip, "yuv444p"))
    vio.write_png_folder(frames, clip)
    mp4 = tmp_path / "a.mp4"
    vio.write_av(mp4, clip, 25.0, "mp4")
    for args in ([y4m], [raw, "--size", "64x48", "--pix-fmt", "yuv444p"], [frames], [mp4]):
        _bad(args, tmp_path, "at most 3 frames of this size")
    _refuses(encoded, tmp_path, "over the limit")
    monkeypatch.setattr(vio, "MAX_CLIP_PIXELS", 5 * 64 * 48)  # at the limit: read, coded and decoded
    assert vio.read(y4m).count == 5 and vio.read(raw, "64x48", None, "yuv444p").count == 5
    assert run("decode", encoded, tmp_path / "o.y4m").returncode == 0


def _refuses(path: Path, tmp_path: Path, expect: str = ""):
    r = run("decode", path, tmp_path / "o.y4m")
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and expect in r.stderr, r.stderr
    assert not (tmp_path / "o.y4m").exists()


def test_damaged_files_are_refused(encoded, tmp_path):
    data = bytearray(encoded.read_bytes())
    bad = tmp_path / "bad.ncd"
    bad.write_bytes(bytes(data[:-50]))
    _refuses(bad, tmp_path)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x40
    bad.write_bytes(bytes(flipped))
    _refuses(bad, tmp_path)
    # a damaged inter frame inside an otherwise valid container (CRC recomputed) is refused too,
    # with its intra period (frames 0..2 of IPPIP); the next period still decodes on its own
    c = unpack(bytes(data))
    entries = parse_index(c.sections[0], 5, 3)
    offset = sum(n for _, n, _ in entries[:1]) + entries[1][1] // 2  # middle of the first P frame
    frames = bytearray(c.sections[1])
    frames[offset] ^= 0x01
    c.sections[1] = bytes(frames)
    bad.write_bytes(c.pack())
    _refuses(bad, tmp_path, "frames 0..2 (an intra period) are damaged")
    r = run("decode", bad, tmp_path / "tail.y4m", "--frames", "3:5")
    assert r.returncode == 0, r.stderr
    r = run("decode", encoded, tmp_path / "o.y4m", "--frames", "4:9")
    assert r.returncode == 2 and "frames 0..4" in r.stderr
    r = run("decode", encoded, tmp_path / "o.txt")
    assert r.returncode == 2


def test_frozen_headers_do_not_need_torch(encoded):
    code = ("import sys, json; from ncodec.api import read_info; i = read_info(sys.argv[1]); "
            "assert 'torch' not in sys.modules; print(json.dumps(i['frame_types']))")
    r = subprocess.run([sys.executable, "-c", code, str(encoded)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == "IPPIP"


def test_container_check_value(encoded):
    c = unpack(encoded.read_bytes())
    entries = parse_index(c.sections[0], 5, 3)
    assert [kind for kind, _, _ in entries] == [0, 1, 1, 0, 1] and all(n > 0 for _, n, _ in entries)
    ends = np.cumsum([n for _, n, _ in entries])
    assert entries[0][2] == zlib.crc32(c.sections[1][: ends[2]])  # frames 0..2
    assert entries[3][2] == zlib.crc32(c.sections[1][ends[2] :])  # frames 3..4
    assert [check for _, _, check in entries] [1:3] == [-1, -1] and entries[4][2] == -1


def test_ncodec_eval_on_a_clip(tmp_path, clip):
    """``ncodec eval`` runs the video codec and the x264 low-delay baseline on a folder of clips."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.y4m").write_bytes(vio.y4m_bytes(clip[:3], 25.0, "yuv420p"))
    r = run("eval", "--dataset", data, "--codecs", f"{CKPT},x264-ld", "--out", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "out" / f"{CKPT}.json").read_text())
    assert len(res["results"]["bpp"]) == 6 and all(p > 20 for p in res["results"]["psnr-rgb"])
    base = json.loads((tmp_path / "out" / "x264-ld.json").read_text())
    assert len(base["results"]["bpp"]) == 5 and "psnr-yuv" in base["results"]


def test_post_filter_is_out_of_the_loop(codec, clip):
    """``video-lvc-pf`` is ``video-lvc`` plus ``lwc-pf``'s post-filter: the same
    weights, so the same bytes and references; the filter only changes the frames shown, which
    decode exactly (random access too); above its quality limit it is not run."""
    from ncodec.api import load
    from ncodec.codecs.checkpoint import create_model

    pf = load("video-lvc-pf", "video")
    plain_state, pf_state = codec.state_dict(), pf.state_dict()
    assert all(torch.equal(plain_state[k], pf_state[k]) for k in plain_state)
    donor = create_model("lwc-pf").postfilter.state_dict()
    assert all(torch.equal(pf_state[f"postfilter.{k}"], v) for k, v in donor.items())
    a, b = pf.compress(clip, quality=2.0, intra_period=3), codec.compress(clip, quality=2.0, intra_period=3)
    assert a["strings"] == b["strings"] and not np.array_equal(a["x_hat"], b["x_hat"])
    dec = pf.decompress(a["strings"], a["payload"], 2.0)["x_hat"]
    assert np.array_equal(dec, a["x_hat"])
    assert np.array_equal(pf.decompress(a["strings"], a["payload"], 2.0, start=3)["x_hat"], a["x_hat"][3:])
    high = pf.compress(clip[:2], quality=8.0, intra_period=3)  # above postfilter_max_quality: not run
    assert np.array_equal(high["x_hat"], codec.compress(clip[:2], quality=8.0, intra_period=3)["x_hat"])


def test_decode_relevant_offsets_are_part_of_the_model_id(codec):
    """The P-frame step offset, the intra quality offset, overlapped compensation and the model's
    block size decide what a file decodes to: other values give another model id (the shipped
    models, with 0.5 / 0, OBMC and 16-pixel blocks, keep theirs)."""
    from ncodec.codecs.checkpoint import create_model, model_id

    ids = set()
    for changes in ({}, {"p_offset": 0.75}, {"i_offset": 0.5}, {"obmc": False}, {"block": 8}):
        other = create_model("lvc", pretrained=False, **{**codec.config, **changes})
        other.load_state_dict(codec.state_dict(), strict=False)
        ids.add(model_id(other.state_dict()))
    assert len(ids) == 5 and model_id(codec.state_dict()) in ids


def test_quality_cascade_codes_p_frames_by_position_and_decodes_exactly(codec, clip):
    """``p_cascade``: the P frame k frames after its I frame is coded at quality - cascade[k % n];
    the decoder derives the same qualities from the frame index, random access included, and the
    cascade is part of the model id (a file never decodes under a model with another cascade)."""
    from ncodec.codecs.checkpoint import create_model

    cascade = create_model("lvc", pretrained=False, **{**codec.config, "p_cascade": [0.0, 1.5, 1.0]})
    cascade.load_state_dict(codec.state_dict(), strict=False)
    assert [cascade.frame_quality(2.0, k) for k in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 0.5]
    from ncodec.codecs.checkpoint import model_id

    assert model_id(cascade.state_dict()) != model_id(codec.state_dict())
    a, b = cascade.compress(clip, quality=2.0, intra_period=3), codec.compress(clip, quality=2.0, intra_period=3)
    assert a["frame_bytes"][0] == b["frame_bytes"][0] and a["frame_bytes"][3] == b["frame_bytes"][3]  # I frames
    first_p = slice(a["frame_bytes"][0], a["frame_bytes"][0] + a["frame_bytes"][1])
    assert a["strings"][1][first_p] != b["strings"][1][first_p]  # the first P frame is coded 1.5 lower
    assert np.array_equal(cascade.decompress(a["strings"], a["payload"], 2.0)["x_hat"], a["x_hat"])
    assert np.array_equal(cascade.decompress(a["strings"], a["payload"], 2.0, start=4)["x_hat"], a["x_hat"][4:])


def test_lookahead_importance_follows_what_later_frames_inherit():
    from ncodec.codecs.video import lookahead

    static = np.repeat(make_clip(frames=1, h=64, w=64), 6, axis=0)
    weights = lookahead.importance(static, 0, 6)
    assert len(weights) == 6 and weights[0].shape == (4, 4)
    # every later frame copies the first: its detailed blocks carry the chain (flat ones have little
    # to pass on: predicting them saves little), the last frame passes on nothing
    assert weights[0].max() > 3 and weights[0].min() > 1.2 and np.allclose(weights[-1], 1)
    assert np.all(np.diff([w.mean() for w in weights]) < 0)
    noise = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    assert all(w.max() < 1.02 for w in lookahead.importance(noise, 0, 4))  # next to nothing predictable
    band = lookahead.lambda_scale(np.array([[1.0, 4.0], [1.0, 4.0]]), 1.0, 32, 32)
    m = band(2, (16, 16))
    assert np.allclose(m[:, :8], 2.0) and np.allclose(m[:, 8:], 0.5)  # around the geometric mean
    assert np.allclose(band(32, (1, 1)), 1.0)
    # with a frame strength the frame's geometric mean (2) moves its whole lambda: / 2 ** 0.5
    framed = lookahead.lambda_scale(np.array([[1.0, 4.0], [1.0, 4.0]]), 1.0, 32, 32, frame_strength=0.5)
    assert np.allclose(framed(2, (16, 16)), m / np.sqrt(2.0))


def _encoder_choice(codec, clip, setting: dict, plain: dict):
    """``clip`` coded with ``setting`` (which must decode, bit for bit, under ``plain``: the decoder
    never reads it) and with ``plain``: (both outputs)."""
    shipped = dict(codec.config)
    try:
        codec.config.update(setting)
        out = codec.compress(clip, quality=2.0, intra_period=4)
        codec.config.update(plain)
        assert np.array_equal(codec.decompress(out["strings"], out["payload"], quality=2.0)["x_hat"], out["x_hat"])
        return out, codec.compress(clip, quality=2.0, intra_period=4)
    finally:
        codec.config.clear()
        codec.config.update(shipped)


def test_lookahead_is_an_encoder_choice(codec, clip):
    """With the lookahead's RDO weighting (per block, and per frame) the file still decodes (with
    any copy of the model) to exactly the encoder's frames, and the bits move."""
    out, plain = _encoder_choice(codec, clip, {"rdo_importance": 1.0}, {"rdo_importance": 0.0})
    assert out["frame_bytes"] != plain["frame_bytes"]
    framed, _ = _encoder_choice(codec, clip, {"rdo_importance": 1.0, "rdo_frame_importance": 0.5},
                                {"rdo_frame_importance": 0.0})
    assert framed["frame_bytes"] != out["frame_bytes"]


def test_more_rdo_passes_are_an_encoder_choice(codec, clip):
    """A second RDO pass of the P frames' residual (under the tables its first pass left) changes
    the bits, not the decoder: the file decodes to exactly the encoder's frames with one pass set."""
    out, one = _encoder_choice(codec, clip, {"rdo_passes": 2}, {"rdo_passes": 1})
    assert out["frame_bytes"][0] == one["frame_bytes"][0]  # the I frame is lwc's own
    assert out["frame_bytes"][1:] != one["frame_bytes"][1:]


@pytest.mark.parametrize("name", ["video-lvc", "video-lvc-vpf"])  # lookup context; learned context network
def test_rdo_sweeps_rerun_the_context_only_where_a_change_reaches(monkeypatch, clip, name):
    """After an RDO sweep the P frames' contexts are computed again only where a changed magnitude
    reaches (:func:`residual.reusable`): the same file as computing them everywhere."""
    from ncodec.api import load
    from ncodec.codecs.video import residual as rs

    codec = load(name, "video")
    shipped = dict(codec.config)
    try:
        codec.config.update({"rdo_passes": 2})
        fast = codec.compress(clip, quality=2.0, intra_period=4)
        monkeypatch.setattr(rs, "reusable", lambda records, old, new, levels: None)
        full = codec.compress(clip, quality=2.0, intra_period=4)
    finally:
        codec.config.clear()
        codec.config.update(shipped)
    assert fast["strings"] == full["strings"] and np.array_equal(fast["x_hat"], full["x_hat"])
