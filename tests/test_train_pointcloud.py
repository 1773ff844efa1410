"""The LiDAR codec trains, warm-starts and exports through the same commands as image codecs:
``ncodec train fit --config configs/pointcloud/lidar.yaml`` and ``ncodec export``."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_process as ncodec, train_and_export

ROOT = Path(__file__).resolve().parents[1]


def _sweep(path: Path, seed: int) -> Path:
    """A small LiDAR-like sweep (16 rings x 400 azimuths, 1 mm grid) as a KITTI .bin file."""
    rng = np.random.default_rng(seed)
    elev = np.radians(np.linspace(-24, 2, 16))[:, None]
    az = np.linspace(-np.pi, np.pi, 400, endpoint=False)[None, :]
    r = np.where(elev < 0, 1.7 / np.maximum(np.sin(-elev), 1e-3), 30.0) + rng.normal(0, 0.01, (16, 400))
    r = np.minimum(r, 60.0)
    xyz = np.stack([r * np.cos(elev) * np.cos(az), r * np.cos(elev) * np.sin(az),
                    np.broadcast_to(r * np.sin(elev), r.shape)], axis=-1).reshape(-1, 3)
    xyz = np.round(xyz * 1000) / 1000
    np.column_stack([xyz, rng.uniform(0, 0.99, len(xyz)).round(2)]).astype("<f4").tofile(path)
    return path




@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("lidar-train")
    train, val = _sweep(work / "a.bin", 0), _sweep(work / "b.bin", 1)
    r = ncodec("train", "fit", "--config", ROOT / "configs/pointcloud/lidar.yaml",
               "--data.train", f"[{train}]", "--data.val", f"[{val}]", "--data.precisions", "[0.001]",
               "--data.rotations", "1", "--data.strides", "[1]", "--data.batch_size", "256",
               "--model.init_from", "lidar", "--trainer.max_steps", "3", "--trainer.val_check_interval", "3",
               "--trainer.logger", "false", cwd=work)
    assert r.returncode == 0, r.stderr[-2000:]
    return work


def test_lidar_trains_and_exports_through_the_common_commands(trained):
    last = trained / "runs/lidar/checkpoints/last.ckpt"
    assert last.is_file()
    r = ncodec("export", last, "tiny-lidar", "--folder", trained / "ckpts", "--notes", "test run", cwd=trained)
    assert r.returncode == 0, r.stderr[-2000:]
    card = json.loads((trained / "ckpts/tiny-lidar.json").read_text())
    assert card["codec"] == "lidar" and card["training"]["steps"] == 3 and card["summary"] == "test run"
    assert card["training"]["init_from"]["checkpoint"] == "lidar" and "precision" in card

    from ncodec.codecs.checkpoint import load_codec

    exported = load_codec("tiny-lidar", "pointcloud", folder=trained / "ckpts")
    state = torch.load(last, map_location="cpu", weights_only=False)["state_dict"]
    for key, value in exported.state_dict().items():
        assert torch.equal(value, state["codec." + key].to(value.dtype)), key
    assert exported.model_id.hex() == card["model_id"]


def test_export_refuses_what_is_not_a_training_checkpoint(tmp_path):
    (tmp_path / "x.ckpt").write_bytes(b"not a checkpoint")
    r = ncodec("export", tmp_path / "x.ckpt", "x", "--folder", tmp_path / "out", cwd=tmp_path)
    assert r.returncode == 2 and "cannot read checkpoint" in r.stderr and not (tmp_path / "out").exists()


def test_octree_prior_trains_to_the_shipped_model(tmp_path):
    """``configs/pointcloud/octree.yaml`` under ``ncodec train`` + ``ncodec export`` rebuilds the
    shipped ``octree`` checkpoint exactly (the same model id)."""
    _, card = train_and_export(ROOT / "configs/pointcloud/octree.yaml", tmp_path, "octree")
    shipped = json.loads((ROOT / "checkpoints/octree.json").read_text())
    assert card["model_id"] == shipped["model_id"] and card["training"]["rounds"][0]["symbols"] > 0
