"""The video codec ``lvc`` trains and exports through the common commands:
``ncodec train fit --config configs/video/lvc.yaml`` (rounds of coding statistics through the
decoded reference + lookup fit) and ``ncodec export``; the exported model's files decode exactly.
Clips are camera moves across photos scikit-image ships."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_process, train_and_export

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path, dict]:
    from PIL import Image
    from skimage import data

    work = tmp_path_factory.mktemp("lvc-train")
    (work / "photos").mkdir()
    Image.fromarray(data.astronaut()[:200, :240]).save(work / "photos/a.png")
    Image.fromarray(data.coffee()[:200, :240]).save(work / "photos/b.png")
    last, card = train_and_export(ROOT / "configs/video/lvc.yaml", work, "tiny-lvc", "--data.clips", "[]",
                                  "--data.frames", "3", "--data.photos", "2", "--data.photo_root", work / "photos",
                                  "--data.size", "[64, 96]", "--model.qualities", "[1.0, 3.0]")
    return work, last, card


def test_lvc_trains_in_rounds_and_exports(trained):
    trained, last, card = trained
    rounds = card["training"]["rounds"]
    assert card["codec"] == "lvc" and card["training"]["steps"] == 2 and len(rounds) == 2
    assert [r["quantiser"] for r in rounds] == ["dead-zone", "RDO"]
    assert all(r["bits_after"] <= r["bits_before"] for r in rounds)  # each fit lowers its own round's bits
    assert sorted(card["training"]["data"]) == ["pan:a.png", "pan:b.png"]
    assert card["config"]["intra"]["hidden"] == 24 and card["default_quality"] == 2.0

    from ncodec.codecs.checkpoint import load_codec
    from ncodec.train.video import camera_move

    model = load_codec("tiny-lvc", "video", folder=trained / "ckpts")
    state = torch.load(last, map_location="cpu", weights_only=False)["state_dict"]
    for key, value in model.state_dict().items():
        assert torch.equal(value, state["codec." + key].to(value.dtype)), key
    clip = camera_move(np.asarray(__import__("PIL.Image").Image.open(trained / "photos/a.png").convert("RGB")),
                       4, (48, 64), np.random.default_rng(5))
    out = model.compress(clip, quality=2.0, intra_period=8)
    dec = model.decompress(out["strings"], out["payload"], 2.0)
    assert np.array_equal(np.asarray(dec["x_hat"]), out["x_hat"])


def test_lvc_training_refuses_missing_clips(tmp_path):
    r = run_process("train", "fit", "--config", ROOT / "configs/video/lvc.yaml", "--data.clips",
                    f"[{tmp_path / 'none.mp4'}]", "--trainer.logger", "false", cwd=tmp_path)
    last = r.stderr.strip().splitlines()[-1]  # Lightning's start-up lines come first
    assert r.returncode == 2 and last.startswith("ncodec: error:") and "does not exist" in last and "Traceback" not in r.stderr


def test_clips_from_frame_folders_and_video_files_with_random_crops(tmp_path):
    """VideoClipsData reads PNG-frame folders and video files (through ffmpeg), takes a random
    crop (multiple of 8) at each start, and skips sources too short for two frames."""
    import subprocess

    from PIL import Image

    from ncodec.train.video import VideoClipsData

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (6, 40, 56, 3), dtype=np.uint8)
    (tmp_path / "seq").mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(tmp_path / "seq" / f"{i:04d}.png")
    mp4 = tmp_path / "clip.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "56x40", "-i", "-",
                    "-c:v", "ffv1", str(mp4)], input=frames.tobytes(), check=True)
    data = VideoClipsData(clips=[str(tmp_path / "seq"), str(mp4)], frames=3, clip_starts=[0, 2, 5], crop=(32, 48),
                          photos=0)
    data.setup()
    names = [name for name, _ in data.clips]
    assert names == ["seq@0", "seq@2", "clip@0", "clip@2"]  # start 5 leaves one frame: skipped
    for name, clip in data.clips:
        assert clip.shape == (3, 32, 48, 3) and clip.dtype == np.uint8
    folder_clip = data.clips[0][1]  # a crop of the folder's first three frames
    hits = [(y, x) for y in range(9) for x in range(9) if np.array_equal(frames[:3, y:y + 32, x:x + 48], folder_clip)]
    assert len(hits) == 1


def test_shipped_lvc_plus_a_post_filter_without_refitting():
    """``--model.init_from video-lvc --model.refit false --model.postfilter_from lwc-pf`` (how
    video-lvc-pf was built): a round measures the shipped lookup and keeps it; the model is
    video-lvc's weights plus lwc-pf's filter."""
    import yaml

    from ncodec.codecs.checkpoint import create_model
    from ncodec.codecs.video import residual as rs
    from ncodec.train.video import LvcModule

    config = yaml.safe_load((ROOT / "configs/video/lvc.yaml").read_text())["model"]["init_args"]["codec_config"]
    module = LvcModule(codec_config=config, init_from="video-lvc", postfilter_from="lwc-pf", refit=False)
    module.begin_round(0)
    counts = torch.zeros((rs.N_CLASSES, rs.CELLS, 32), dtype=torch.float64)
    counts[..., 0] = 10.0
    report = module.fit_round(counts)
    assert report["bits_after"] == report["bits_before"] and report["quantiser"] == "RDO"
    shipped = create_model("video-lvc-pf").state_dict()
    assert all(torch.equal(v, shipped[k]) for k, v in module.codec.state_dict().items())


def test_a_quality_cascade_is_added_after_the_warm_start():
    """``--model.codec_config.p_cascade [...]`` with ``init_from``: the shipped weights, plus the
    cascade's buffer from the config (the warm start does not ask the checkpoint for it)."""
    import yaml

    from ncodec.codecs.checkpoint import create_model
    from ncodec.codecs.video import motion
    from ncodec.train.video import LvcModule

    config = yaml.safe_load((ROOT / "configs/video/lvc.yaml").read_text())["model"]["init_args"]["codec_config"]
    module = LvcModule(codec_config=dict(config, p_cascade=[0.0, 1.5, 1.0, 1.5]), init_from="video-lvc",
                       postfilter_from="lwc-pf", refit=False)
    state, shipped = module.codec.state_dict(), create_model("video-lvc-pf").state_dict()
    assert set(state) - set(shipped) == {"cascade16"} and state["cascade16"].tolist() == [0, 24, 16, 24]
    assert all(torch.equal(state[k], v) for k, v in shipped.items())
    assert module.codec.config["p_cascade"] == [0.0, 1.5, 1.0, 1.5]
    # the interpolation filter too (configs/video/lvc-qt.yaml); block sizes are plain config
    qt = LvcModule(codec_config=dict(config, p_cascade=[0.0, 1.5, 1.0, 1.5], interp_taps="hevc", max_block=64),
                   init_from="video-lvc", postfilter_from="lwc-pf", refit=False)
    state = qt.codec.state_dict()
    assert set(state) - set(shipped) == {"cascade16", "interp_taps"} and qt.codec.config["max_block"] == 64
    assert state["interp_taps"].tolist() == qt.codec.config["interp_taps"] == motion.HEVC_TAPS.tolist()


def test_lvc_context_network_trains_exports_and_decodes_exactly(trained):
    """``configs/video/lvc-mlp.yaml``: residual samples coded by the shipped encoder, a few
    gradient steps, export; the exported model's context network is exact fixed point (a buffer:
    its own model id), and its files decode to the encoder's reconstruction bit for bit."""
    work, _, _ = trained
    last, card = train_and_export(ROOT / "configs/video/lvc-mlp.yaml", work, "tiny-lvc-mlp", "--data.clips", "[]",
                                  "--data.frames", "3", "--data.photos", "2", "--data.photo_root", work / "photos",
                                  "--data.size", "[64, 96]", "--data.qualities", "[1.0, 3.0]",
                                  "--data.qualities_per_clip", "1", "--data.batch_size", "256",
                                  "--trainer.max_steps", "20")
    assert card["codec"] == "lvc" and card["config"]["context_hidden"] == 32 and card["training"]["samples"] > 0
    assert card["training"]["quantiser"] == "video-lvc-qt" and sorted(card["training"]["data"]) == ["pan:a.png", "pan:b.png"]

    from ncodec.codecs.checkpoint import create_model, load_codec
    from ncodec.train.video import camera_move

    model = load_codec("tiny-lvc-mlp", "video", folder=work / "ckpts")
    base = create_model("video-lvc-qt")
    assert model.model_id != base.model_id
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in base.state_dict().items())  # all but the network
    assert model.ctx_w1.dtype == torch.int64 and model.ctx_w1.abs().sum() > 0
    clip = camera_move(np.asarray(__import__("PIL.Image").Image.open(work / "photos/b.png").convert("RGB")),
                       4, (48, 64), np.random.default_rng(6))
    out = model.compress(clip, quality=2.0, intra_period=8)
    dec = model.decompress(out["strings"], out["payload"], 2.0)
    assert np.array_equal(np.asarray(dec["x_hat"]), out["x_hat"])


def test_table_bits_are_the_coder_tables_at_integer_indices():
    """The training loss is the video coder's own table costs (escapes included) at integer
    table indices, linear in between."""
    from ncodec.codecs.video import tables as tb
    from ncodec.train.video import table_bits

    v = torch.tensor([-300.0, -7.0, -1.0, 0.0, 2.0, 40.0])
    for k in (0, 17, 28, 60):
        expected = tb.cost(v.long().numpy(), np.full(6, k))
        assert np.allclose(table_bits(v, torch.full_like(v, float(k))).numpy(), expected, atol=1e-4)
    mid = table_bits(v, torch.full_like(v, 17.25)).numpy()
    assert np.allclose(mid, 0.75 * tb.cost(v.long().numpy(), np.full(6, 17)) + 0.25 * tb.cost(v.long().numpy(), np.full(6, 18)),
                       atol=1e-4)


def test_video_post_filter_trains_on_decoded_frames_and_keeps_the_bytes(trained):
    """``configs/video/lvc-vpf.yaml``: the base video model's frames coded through the decoded
    reference, a few steps of its post-filter on crops of them, validation on a held-out clip,
    export; the exported model writes the base's bytes, shows other (filtered) frames, and its
    files decode to the encoder's output bit for bit."""
    from PIL import Image

    from ncodec.codecs.checkpoint import create_model, load_codec
    from ncodec.train.video import camera_move

    work, _, _ = trained
    photo = np.asarray(Image.open(work / "photos/a.png").convert("RGB"))
    (work / "seq").mkdir(exist_ok=True)
    for i, frame in enumerate(camera_move(photo, 6, (48, 64), np.random.default_rng(3))):
        Image.fromarray(frame).save(work / "seq" / f"{i:04d}.png")
    last, card = train_and_export(ROOT / "configs/video/lvc-vpf.yaml", work, "tiny-lvc-vpf", "--data.clips",
                                  f"[{work / 'seq'}]", "--data.clip_starts", "[3]", "--data.frames", "3",
                                  "--data.photos", "1", "--data.photo_root", work / "photos", "--data.size", "[64, 96]",
                                  "--data.qualities", "[1.0]", "--data.patch", "32", "--data.patches", "24",
                                  "--data.batch_size", "4", "--data.val_clips", f"[{work / 'seq'}]", "--data.val_frames", "3", "--model.val_qualities", "[1.0]",
                                  "--trainer.max_steps", "6", "--trainer.val_check_interval", "6")
    assert card["codec"] == "lvc" and card["config"]["postfilter"] == 24 and card["config"]["postfilter_coarse"] == 32
    assert card["config"]["rdo_passes"] == 2 and card["config"]["rdo_frame_importance"] == 0.5  # the config's encoder
    assert card["training"]["base"]["checkpoint"] == "video-lvc-mlp" and card["training"]["validation_clips"] == 1 and "validation_images" not in card["training"]
    assert card["training"]["data"][-1] == "validation: seq@0" and card["training"]["validation_rd"][0]["quality"] == 1.0

    model, base = load_codec("tiny-lvc-vpf", "video", folder=work / "ckpts"), create_model("video-lvc-mlp")
    assert model.model_id != base.model_id
    clip = camera_move(np.asarray(Image.open(work / "photos/b.png").convert("RGB")), 4, (48, 64),
                       np.random.default_rng(7))
    base.config.update(rdo_passes=2, rdo_frame_importance=0.5)  # the same encoder: the same bytes, other frames
    out, ref = model.compress(clip, quality=1.0, intra_period=8), base.compress(clip, quality=1.0, intra_period=8)
    assert out["strings"] == ref["strings"] and not np.array_equal(out["x_hat"], ref["x_hat"])
    assert np.array_equal(model.decompress(out["strings"], out["payload"], 1.0)["x_hat"], out["x_hat"])


def test_encoder_settings_that_change_decoding_are_refused():
    """A post-filter run may set the exported encoder's choices (``encoder``), never what a file
    decodes to: settings that change the model id are refused with one line."""
    from ncodec.codecs.checkpoint import create_model
    from ncodec.errors import InputError
    from ncodec.train.lwc import check_encoder_only

    config = create_model("video-lvc-mlp").config
    check_encoder_only("lvc", config, {"rdo_passes": 2, "rdo_frame_importance": 0.5, "mv_lambda": 0.3})
    for bad in ({"p_offset": 0.75}, {"p_cascade": [0.0, 1.0]}, {"no_such_setting": 1}):
        with pytest.raises(InputError, match="encoder"):
            check_encoder_only("lvc", config, bad)
