"""Training system smoke: LightningCLI fit on images the test makes, resume, export, code a file."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import skimage.data
import torch
from PIL import Image

from ncodec.codecs.checkpoint import load_codec

ROOT = Path(__file__).resolve().parents[1]


def ncodec(*args, cwd):
    return subprocess.run([sys.executable, "-m", "ncodec.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    work = tmp_path_factory.mktemp("train")
    data = work / "photos" / "nested"
    data.mkdir(parents=True)
    for i, f in enumerate([skimage.data.astronaut, skimage.data.chelsea, skimage.data.coffee, skimage.data.rocket]):
        Image.fromarray(f()).save(data / f"{i}.png")
    (data / "broken.jpg").write_bytes(b"not an image")
    Image.fromarray(skimage.data.astronaut()[:20, :20]).save(data / "tiny.png")
    r = ncodec("train", "fit", "--config", ROOT / "configs/smoke/image.yaml", "--data.root", work / "photos", cwd=work)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "skipped 1 image(s)" in r.stderr and "corrupt" in r.stderr and "smaller than the crop" in r.stderr
    return work


def test_fit_logs_real_and_estimated_rate(trained):
    metrics = (next((trained / "runs/smoke/image").glob("version_*")) / "metrics.csv").read_text()
    assert "val/q1/bpp_real" in metrics and "val/q1/bpp_estimated" in metrics


def test_resume_and_export_then_code(trained, photo):
    last = trained / "runs/smoke/checkpoints/last.ckpt"
    r = ncodec("train", "fit", "--config", ROOT / "configs/smoke/image.yaml", "--data.root", trained / "photos",
               "--ckpt_path", last, "--trainer.max_steps", "8", cwd=trained)
    assert r.returncode == 0, r.stderr[-2000:]
    assert torch.load(last, weights_only=False)["global_step"] == 8
    r = ncodec("export", last, "tiny", "--folder", trained / "ckpts", cwd=trained)
    assert r.returncode == 0, r.stderr
    card = json.loads((trained / "ckpts/tiny.json").read_text())
    assert card["training"]["steps"] == 8 and card["training"]["device"] == "cpu" and card["config"]["N"] == 8
    assert card["codec"] == "hyperprior"
    assert card["training"]["aux_loss"] < 0.01  # quantiles solved at export, whatever the short run left
    model = load_codec("tiny", folder=trained / "ckpts")
    assert model.model_id.hex() == card["model_id"]
    x = torch.from_numpy(photo[:70, :90]).permute(2, 0, 1)[None].float() / 255
    enc = model.compress(x, 2.0)
    assert torch.equal(model.decompress(enc["strings"], enc["payload"], 2.0)["x_hat"], enc["x_hat"])


@pytest.mark.parametrize("args, message", [
    (["--data.root", "/no/such/folder"], "data folder does not exist"),
    (["--data.root", "EMPTY"], "no images"),
    (["--data.root", "PHOTOS", "--model.codec", "nosuchcodec"], "unknown codec"),
    (["--data.root", "PHOTOS", "--model.nosuch", "3"], "'nosuch' is not accepted"),
])
def test_bad_training_inputs(trained, args, message):
    (trained / "empty").mkdir(exist_ok=True)
    args = [str(trained / "empty") if a == "EMPTY" else str(trained / "photos") if a == "PHOTOS" else a for a in args]
    before = sorted(os.listdir(trained))
    r = ncodec("train", "fit", "--config", ROOT / "configs/smoke/image.yaml", *args, cwd=trained)
    assert r.returncode == 2 and message in r.stderr, r.stderr[-1000:]
    assert "Traceback" not in r.stderr and r.stderr.strip().splitlines()[-1].startswith("ncodec: error:")
    assert sorted(os.listdir(trained)) == before  # nothing written by a refused run


def test_ddp_two_cpu_processes_agree(trained):
    """Lightning's DDP (gloo) across two CPU processes; the module checks the ranks' weights."""
    r = ncodec("train", "fit", "--config", ROOT / "configs/smoke/image.yaml", "--data.root", trained / "photos",
               "--trainer.devices", "2", "--trainer.strategy", "ddp", "--trainer.max_steps", "4",
               "--trainer.callbacks", "[]", "--trainer.logger", "false", cwd=trained)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "2 ranks agree on the weights" in r.stdout + r.stderr


def test_warm_start_from_a_training_checkpoint(trained):
    """init_from loads the weights (how short GPU runs continue a shipped model); a misfit is one clear error."""
    from ncodec.errors import InputError
    from ncodec.train.module import CodecModule

    last = trained / "runs/smoke/checkpoints/last.ckpt"
    saved = torch.load(last, weights_only=False)
    config = {"N": 8, "M": 12, "lambdas": [0.0035, 0.013, 0.0483]}
    module = CodecModule(codec_config=config, init_from=str(last))
    own = module.state_dict()
    weights = [k for k in saved["state_dict"] if not k.endswith(("_cdf", "_offset", "_cdf_length"))]
    assert weights and all(torch.equal(own[k], saved["state_dict"][k]) for k in weights)
    assert module.warm_start["steps"] == saved["global_step"]
    with pytest.raises(InputError, match="does not fit"):
        CodecModule(codec_config=dict(config, N=16), init_from=str(last))
    with pytest.raises(InputError, match="not found"):
        CodecModule(codec_config=config, init_from=str(trained / "missing.ckpt"))


def test_bf16_mixed_keeps_the_rate_in_fp32(photo):
    """Under bf16 autocast the transforms run in bf16 but the likelihoods (the rate) stay fp32."""
    from ncodec.codecs import get_codec
    from ncodec.train.losses import rd_loss

    torch.manual_seed(0)
    model = get_codec("hyperprior").factory(N=8, M=12, lambdas=[0.0035, 0.013, 0.0483])
    x = torch.from_numpy(photo[:64, :64]).permute(2, 0, 1)[None].float() / 255
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, 2.0)
        loss, _ = rd_loss(model, x, torch.tensor([2.0]))
    assert all(l.dtype == torch.float32 for l in out["likelihoods"].values())
    assert torch.isfinite(loss)
    loss.backward()


def test_fit_in_bf16_mixed(trained):
    r = ncodec("train", "fit", "--config", ROOT / "configs/smoke/image.yaml", "--data.root", trained / "photos",
               "--trainer.precision", "bf16-mixed", "--trainer.max_steps", "2", "--trainer.val_check_interval", "2",
               "--trainer.logger", "false", "--trainer.callbacks", "[]", "--trainer.enable_checkpointing", "false",
               cwd=trained)
    assert r.returncode == 0, r.stderr[-2000:]


def test_throughput_script_measures_real_steps():
    from ncodec.train.throughput import measure

    r = measure("hyperprior", batch=1, crop=64, device="cpu", precision="fp32", steps=1, warmup=0)
    assert r["images_per_s"] > 0 and r["megapixels_per_s"] == pytest.approx(r["images_per_s"] * 64 * 64 / 1e6, abs=1e-3)


def _rd_configs() -> list[Path]:
    """configs/image/*.yaml of codecs trained by the RD loss (lwc's has its own test file)."""
    import yaml

    return [p for p in sorted((ROOT / "configs/image").glob("*.yaml"))
            if yaml.safe_load(p.read_text())["model"]["class_path"].endswith(".CodecModule")]


@pytest.mark.parametrize("config", _rd_configs(), ids=lambda p: p.stem)
def test_every_shipped_config_builds_its_model(config):
    """Each RD-trained configs/image/*.yaml names its module class and a registered codec whose
    model builds and runs a step."""
    import importlib

    import yaml

    spec = yaml.safe_load(config.read_text())["model"]
    module_path, _, class_name = spec["class_path"].rpartition(".")
    module = getattr(importlib.import_module(module_path), class_name)(**spec["init_args"])
    x = torch.rand(1, 3, 64, 64)
    from ncodec.train.losses import rd_loss

    loss, _ = rd_loss(module.codec, x, torch.tensor([3.0]))
    assert torch.isfinite(loss)


def test_a_run_stopping_between_periodic_saves_keeps_its_last_steps(trained, tmp_path):
    """ModelCheckpoint saves every 3 steps here; a 7-step run must still leave step 7 in last.ckpt."""
    r = ncodec("train", "fit", "--config", ROOT / "configs/smoke/image.yaml", "--data.root", trained / "photos",
               "--trainer.max_steps", "7", "--trainer.limit_val_batches", "0", "--trainer.logger", "false", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert torch.load(tmp_path / "runs/smoke/checkpoints/last.ckpt", weights_only=False)["global_step"] == 7


def test_a_config_written_before_subclass_mode_still_trains(tmp_path):
    """Old configs (no class_path) are upgraded on the fly: the same command keeps working."""
    import yaml

    config = yaml.safe_load((ROOT / "configs/smoke/image.yaml").read_text())
    config["model"], config["data"] = config["model"]["init_args"], config["data"]["init_args"]
    (tmp_path / "old.yaml").write_text(yaml.safe_dump(config))
    r = ncodec("train", "fit", "--config", tmp_path / "old.yaml", "--data.root", tmp_path, "--print_config", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    printed = yaml.safe_load(r.stdout)
    assert printed["model"]["class_path"] == "ncodec.train.module.CodecModule"
    assert printed["model"]["init_args"]["codec"] == "hyperprior"
    assert printed["data"]["class_path"] == "ncodec.train.data.ImageFolderData"
