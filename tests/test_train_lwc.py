"""The default image codec ``lwc`` trains, warm-starts and exports through the common commands:
``ncodec train fit --config configs/image/lwc.yaml`` and ``ncodec export``; every checkpoint is a
complete codec whose files decode exactly. Photos are crops of images scikit-image ships."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_process, train_and_export

ROOT = Path(__file__).resolve().parents[1]


def photo_folder(folder: Path, count: int) -> Path:
    """``count`` 96x128 PNG crops of scikit-image's sample photos."""
    from PIL import Image
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    photos = [data.astronaut(), data.chelsea(), data.coffee()]
    rng = np.random.default_rng(0)
    for i in range(count):
        p = photos[i % 3]
        y, x = rng.integers(0, p.shape[0] - 96), rng.integers(0, p.shape[1] - 128)
        Image.fromarray(p[y : y + 96, x : x + 128]).save(folder / f"{i:03d}.png")
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path, dict]:
    work = tmp_path_factory.mktemp("lwc-train")
    photos = photo_folder(work / "photos", 26)  # every 50th from the 26th on is held out: one
    last, card = train_and_export(ROOT / "configs/image/lwc.yaml", work, "tiny-lwc", "--data.root", photos,
                                  "--data.images", "4", "--data.batch_size", "512", "--data.quantiser", "null",
                                  "--model.val_qualities", "[4.0]", "--trainer.max_steps", "25",
                                  "--trainer.val_check_interval", "25")
    return work, last, card


def test_lwc_trains_and_exports_through_the_common_commands(trained):
    trained, last, card = trained
    t = card["training"]
    assert card["codec"] == "lwc" and t["steps"] == 25 and t["images"] == 4 and t["loop"] == "ncodec train (Lightning)"
    assert t["validation_images"] == 1 and t["validation_rd"][0]["quality"] == 4.0 and t["samples"] > 1000
    assert card["quality_range"] == [-2.0, 10.0] and card["config"]["hidden"] == 24

    from ncodec.codecs.checkpoint import load_codec

    model = load_codec("tiny-lwc", "image", folder=trained / "ckpts")
    state = torch.load(last, map_location="cpu", weights_only=False)["state_dict"]
    for key, value in model.state_dict().items():  # the checkpoint is the shipped codec
        assert torch.equal(value, state["codec." + key].to(value.dtype)), key
    assert (model.w1 != 0).any() and (model.recon != 0).any()  # trained network and offsets
    # its files decode to exactly what the encoder reconstructed, at the validated rate
    from PIL import Image

    rgb = np.asarray(Image.open(trained / "photos/025.png"))
    x = torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)[None]
    out = model.compress(x, 4.0)
    dec = model.decompress(out["strings"], out["payload"], 4.0)
    assert torch.equal(dec["x_hat"], out["x_hat"])
    bpp = 8 * sum(len(s) for s in out["strings"]) / rgb.shape[0] / rgb.shape[1]
    assert bpp == pytest.approx(t["validation_rd"][0]["bpp"], rel=1e-9)


def test_lwc_warm_start_continues_the_shipped_network():
    """``init_from: lwc``: the float network starts as the shipped fixed-point one, exactly."""
    from ncodec.codecs.checkpoint import create_model
    from ncodec.train.lwc import LwcModule

    shipped = create_model("lwc", pretrained=True)
    module = LwcModule(codec_config=shipped.config, init_from="lwc")
    for key, value in module.net.exported().items():
        assert np.array_equal(value, getattr(shipped, key).numpy()), key
    assert module.warm_start["checkpoint"] == "lwc"


def test_lwc_training_refuses_a_missing_folder(tmp_path):
    r = run_process("train", "fit", "--config", ROOT / "configs/image/lwc.yaml", "--data.root", tmp_path / "none",
                    "--trainer.logger", "false", cwd=tmp_path)
    last = r.stderr.strip().splitlines()[-1]  # Lightning's start-up lines come first
    assert r.returncode == 2 and last.startswith("ncodec: error:") and "data folder does not exist" in last and "Traceback" not in r.stderr


def test_untrained_post_filter_is_the_identity():
    from ncodec.codecs.image.postfilter import PostFilter

    x = torch.rand(2, 3, 16, 20)
    assert torch.equal(PostFilter(8)(x, torch.tensor([0.0, 5.0])), x)
    odd = torch.rand(1, 3, 15, 21)  # the coarse branch pads odd sides and crops them back
    two = PostFilter(8, 6.0, coarse=8, coarse_layers=3)
    assert torch.equal(two(odd, 1.0), odd)
    assert PostFilter.from_config(two.config()).config() == two.config() == {
        "postfilter": 8, "postfilter_max_quality": 6.0, "postfilter_coarse": 8, "postfilter_coarse_layers": 3}
    assert PostFilter(24, 6.0).config() == {"postfilter": 24, "postfilter_max_quality": 6.0}  # lwc-pf's, unchanged


def test_post_filter_trains_exports_and_decodes_exactly(trained, tmp_path):
    """``configs/image/lwc-postfilter.yaml``: the shipped lwc plus a trained filter; the exported
    model keeps lwc's entropy coding (same bytes) and decodes to exactly its encoder's output."""
    work, _, _ = trained
    last, card = train_and_export(ROOT / "configs/image/lwc-postfilter.yaml", tmp_path, "tiny-pf",
                                  "--data.root", work / "photos", "--data.images", "3", "--data.crops_per_image", "2",
                                  "--data.batch_size", "4", "--model.channels", "4", "--model.val_qualities", "[0.0]",
                                  "--trainer.max_steps", "6", "--trainer.val_check_interval", "6")
    assert card["config"]["postfilter"] == 4 and card["training"]["base"]["checkpoint"] == "lwc"
    assert card["training"]["validation_rd"][0]["quality"] == 0.0

    from PIL import Image

    from ncodec.codecs.checkpoint import create_model, load_codec

    model, shipped = load_codec("tiny-pf", "image", folder=tmp_path / "ckpts"), create_model("lwc")
    assert model.model_id != shipped.model_id
    rgb = np.asarray(Image.open(work / "photos/025.png"))
    x = torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)[None]
    out, base = model.compress(x, 1.0), shipped.compress(x, 1.0)
    assert out["strings"] == base["strings"] and not torch.equal(out["x_hat"], base["x_hat"])
    assert torch.equal(model.decompress(out["strings"], out["payload"], 1.0)["x_hat"], out["x_hat"])


def test_default_filter_continues_from_the_shipped_one(trained, tmp_path):
    """``configs/image/lwc-dpft2.yaml``: lwc-dpft's coding (same bytes, same table shapes) with its
    filter warm-started from lwc-dpft's (same shapes, so it loads) and moved by training; the
    export decodes to exactly its encoder's output."""
    work, _, _ = trained
    args = ("--data.root", work / "photos", "--data.images", "3", "--data.crops_per_image", "2", "--data.batch_size", "4",
            "--model.val_qualities", "[0.0]", "--trainer.val_check_interval", "2")
    last, card = train_and_export(ROOT / "configs/image/lwc-dpft2.yaml", tmp_path, "tiny-dpft2", *args,
                                  "--trainer.max_steps", "2")
    assert card["training"]["base"]["checkpoint"] == "lwc-dpft" and card["config"]["postfilter"] == 24

    from PIL import Image

    from ncodec.codecs.checkpoint import create_model, load_codec

    model, shipped = load_codec("tiny-dpft2", "image", folder=tmp_path / "ckpts"), create_model("lwc-dpft")
    assert torch.equal(model.table_shapes, shipped.table_shapes) and torch.equal(model.w1, shipped.w1)
    moved = [not torch.equal(a, b) for a, b in zip(model.postfilter.parameters(), shipped.postfilter.parameters())]
    assert any(moved)  # trained on from the shipped filter (same shapes: it loaded)
    rgb = np.asarray(Image.open(work / "photos/025.png"))
    x = torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)[None]
    out, base = model.compress(x, 1.0), shipped.compress(x, 1.0)
    assert out["strings"] == base["strings"]
    assert torch.equal(model.decompress(out["strings"], out["payload"], 1.0)["x_hat"], out["x_hat"])


@pytest.mark.parametrize("yaml, key, value", [("lwc-predictor.yaml", "predictor_layers", 6),
                                             ("lwc-predictor-res.yaml", "predictor_blocks", 4)])
def test_detail_predictor_trains_exports_and_decodes_exactly(trained, tmp_path, yaml, key, value):
    """``configs/image/lwc-predictor.yaml`` (and its residual twin): lwc-pfs's entropy model plus
    a trained detail predictor (its post-filter dropped); the export codes residuals, so other
    bytes, and decodes to exactly its encoder's output; validation coded the held-out photo with
    and without it."""
    work, _, _ = trained
    last, card = train_and_export(ROOT / "configs/image" / yaml, tmp_path, "tiny-dp",
                                  "--data.root", work / "photos", "--data.images", "3", "--data.batch_size", "4",
                                  "--data.crop", "8", "--data.level_weights", "[2, 1, 1]", "--model.channels", "4",
                                  "--model.val_qualities", "[0.0]", "--trainer.max_steps", "6",
                                  "--trainer.val_check_interval", "6")
    config, training = card["config"], card["training"]
    assert config["predictor"] == 4 and config[key] == value and config["sign_context"] == 1
    assert "postfilter" not in config and training["base"]["checkpoint"] == "lwc-pfs"
    assert training["samples"] == 6 and {"bpp_base", "bpp", "psnr_base", "psnr"} <= set(training["validation_rd"][0])

    from PIL import Image

    from ncodec.codecs.checkpoint import create_model, load_codec

    model, shipped = load_codec("tiny-dp", "image", folder=tmp_path / "ckpts"), create_model("lwc-pfs")
    assert torch.equal(model.w1, shipped.w1) and torch.equal(model.sign_skew, shipped.sign_skew)
    rgb = np.asarray(Image.open(work / "photos/025.png"))
    x = torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)[None]
    out, base = model.compress(x, 1.0), shipped.compress(x, 1.0)
    assert out["strings"] != base["strings"]
    assert torch.equal(model.decompress(out["strings"], out["payload"], 1.0)["x_hat"], out["x_hat"])


def test_two_branch_post_filter_replaces_the_base_filter(trained, tmp_path):
    """``configs/image/lwc-pf2.yaml``: lwc-pfs's coding (same bytes) with lwc-pf's filter warm-started
    and a coarse branch added; the export decodes to exactly its encoder's output."""
    work, _, _ = trained
    last, card = train_and_export(ROOT / "configs/image/lwc-pf2.yaml", tmp_path, "tiny-pf2",
                                  "--data.root", work / "photos", "--data.images", "3", "--data.crops_per_image", "2",
                                  "--data.batch_size", "4", "--model.coarse", "4", "--model.coarse_layers", "2",
                                  "--model.val_qualities", "[0.0]", "--trainer.max_steps", "4",
                                  "--trainer.val_check_interval", "4")
    config = card["config"]
    assert config["postfilter"] == 24 and config["postfilter_coarse"] == 4 and config["sign_context"] == 1

    from PIL import Image

    from ncodec.codecs.checkpoint import create_model, load_codec

    model, shipped = load_codec("tiny-pf2", "image", folder=tmp_path / "ckpts"), create_model("lwc-pfs")
    rgb = np.asarray(Image.open(work / "photos/025.png"))
    x = torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)[None]
    out, base = model.compress(x, 1.0), shipped.compress(x, 1.0)
    assert out["strings"] == base["strings"] and not torch.equal(out["x_hat"], base["x_hat"])
    assert torch.equal(model.decompress(out["strings"], out["payload"], 1.0)["x_hat"], out["x_hat"])


def test_sign_contexts_fit_export_and_decode_exactly(trained, tmp_path):
    """``configs/image/lwc-signs.yaml``: the shipped lwc-pf plus fitted sign skews; the exported
    model is lwc-pf's network and filter, codes fewer bits on its training photos (each in its own
    colour basis, as the fit counted them) and decodes to exactly its encoder's output."""
    work, _, _ = trained
    last, card = train_and_export(ROOT / "configs/image/lwc-signs.yaml", tmp_path, "tiny-signs",
                                  "--data.root", work / "photos", "--data.images", "12", "--trainer.max_epochs", "1")
    rounds = card["training"]["rounds"]
    assert card["config"]["sign_context"] == 1 and card["config"]["postfilter"] == 24
    assert card["training"]["base"]["checkpoint"] == "lwc-pf" and len(rounds) == 1
    assert rounds[0]["signs"] > 1000 and rounds[0]["skewed_contexts"] > 0 and rounds[0]["bits_per_sign"] < 1.0

    from PIL import Image

    from ncodec.codecs.checkpoint import create_model, load_codec

    model, shipped = load_codec("tiny-signs", "image", folder=tmp_path / "ckpts"), create_model("lwc-pf")
    assert (model.sign_skew != 0).any()
    assert card["config"]["rdo_lambda"] == 0.09  # the config's encoder setting, exported into the card
    model.config["rdo_lambda"] = shipped.config["rdo_lambda"]  # the same encoder, so only the signs differ
    for key, value in shipped.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    sizes = {"signs": 0, "shipped": 0}
    for path in sorted((work / "photos").glob("*.png")):
        rgb = np.asarray(Image.open(path))
        x = torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)[None]
        for q in (2.0, 6.0, 9.0):  # (fitted at random qualities of the range)
            out, base = model.compress(x, q), shipped.compress(x, q)
            sizes["signs"] += sum(map(len, out["strings"]))
            sizes["shipped"] += sum(map(len, base["strings"]))
    assert sizes["signs"] < sizes["shipped"]  # the signs it was fitted on cost less
    out = model.compress(x, 6.0)
    dec = model.decompress(out["strings"], out["payload"], 6.0)
    assert torch.equal(dec["x_hat"], out["x_hat"]) and torch.equal(dec["y_hat"], out["y_hat"])


def test_table_shapes_fit_export_and_decode_exactly(trained, tmp_path):
    """``configs/image/lwc-tables.yaml``: the shipped lwc-dpf plus learned table shapes; the export
    is lwc-dpf's weights and encoder otherwise, codes fewer bits on its training photos and decodes
    to exactly its encoder's output."""
    work, _, _ = trained
    last, card = train_and_export(ROOT / "configs/image/lwc-tables.yaml", tmp_path, "tiny-tables",
                                  "--data.root", work / "photos", "--data.images", "8", "--model.qualities_per_image", "3",
                                  "--trainer.max_epochs", "1")
    rounds = card["training"]["rounds"]
    assert card["config"]["table_shape"] == 16 and card["config"]["table_bands"] == 4 and len(rounds) == 1
    assert card["training"]["base"]["checkpoint"] == "lwc-dpf" and rounds[0]["saved_percent"] > 0

    from PIL import Image

    from ncodec.codecs.checkpoint import create_model, load_codec

    model, shipped = load_codec("tiny-tables", "image", folder=tmp_path / "ckpts"), create_model("lwc-dpf")
    assert {k: v for k, v in model.config.items() if not k.startswith("table_")} == shipped.config
    for key, value in shipped.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    sizes = {"shapes": 0, "shipped": 0}
    for path in sorted((work / "photos").glob("*.png"))[:8]:
        rgb = np.asarray(Image.open(path))
        x = torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)[None]
        for q in (0.0, 3.0, 6.0, 9.0):  # (fitted at random qualities of the range)
            sizes["shapes"] += sum(map(len, model.compress(x, q)["strings"]))
            sizes["shipped"] += sum(map(len, shipped.compress(x, q)["strings"]))
    assert sizes["shapes"] < sizes["shipped"]
    out = model.compress(x, 2.0)
    dec = model.decompress(out["strings"], out["payload"], 2.0)
    assert torch.equal(dec["x_hat"], out["x_hat"]) and torch.equal(dec["y_hat"], out["y_hat"])


@pytest.mark.parametrize("fresh", [False, True])
def test_context_refit_on_the_predictors_residuals_keeps_the_rest(trained, tmp_path, fresh):
    """``configs/image/lwc-dpc.yaml``: lwc-dpf with its context network and offsets refitted to the
    values its encoder codes (residuals, with ratios from ``coded_targets``), continued from its
    network or (``fresh_network``) trained from scratch; predictor, post-filter and sign tables are
    lwc-dpf's either way; the export decodes to exactly its encoder's output."""
    work, _, _ = trained
    last, card = train_and_export(ROOT / "configs/image/lwc-dpc.yaml", tmp_path, "tiny-dpc", "--data.root", work / "photos",
                                  "--data.images", "2", "--data.batch_size", "512", "--data.cache", "null",
                                  "--model.val_qualities", "[1.0]", "--trainer.max_steps", "10",
                                  "--trainer.val_check_interval", "10", "--model.fresh_network", str(fresh).lower())
    assert card["training"]["quantiser"]["checkpoint"] == "lwc-dpf" and card["config"]["predictor"] == 32

    from PIL import Image

    from ncodec.codecs.checkpoint import create_model, load_codec

    model, shipped = load_codec("tiny-dpc", "image", folder=tmp_path / "ckpts"), create_model("lwc-dpf")
    own, base = model.state_dict(), shipped.state_dict()
    assert own.keys() == base.keys()
    for key in own:  # only the context network and the offsets moved
        assert torch.equal(own[key], base[key]) is not (key in ("w1", "b1", "w2", "b2", "w3", "b3", "recon")), key
    rgb = np.asarray(Image.open(work / "photos/025.png"))
    x = torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)[None]
    out = model.compress(x, 1.0)
    assert torch.equal(model.decompress(out["strings"], out["payload"], 1.0)["x_hat"], out["x_hat"])
