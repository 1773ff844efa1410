"""`ncodec eval` on point clouds: the same runner, cache, results files, plots and report as images,
with bits per point, D1/D2 PSNR and max errors, real files from ``lidar`` and the baselines."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import run_inline


def synthetic_sweep(rings: int, azimuths: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A small scan-ordered sweep: ground and a wall at ranges with noise, 1 mm grid, 0.01 reflectance."""
    rng = np.random.default_rng(seed)
    elev = np.radians(np.linspace(-24, 2, rings))[:, None]
    az = np.linspace(-np.pi, np.pi, azimuths, endpoint=False)[None, :]
    ground = np.where(elev < 0, 1.7 / np.maximum(np.sin(-elev), 1e-3), np.inf)
    wall = 25.0 / np.maximum(np.abs(np.cos(az)), 1e-3) / np.cos(elev)
    r = np.minimum(np.minimum(ground, wall) + rng.normal(0, 0.01, (rings, azimuths)), 80.0)
    xyz = np.stack([r * np.cos(elev) * np.cos(az), r * np.cos(elev) * np.sin(az),
                    np.broadcast_to(r * np.sin(elev), r.shape)], axis=-1).reshape(-1, 3)
    intensity = np.round(np.clip(0.3 + 0.2 * np.sin(xyz[:, 0] / 3), 0, 0.99) * 100) / 100
    return np.round(xyz * 1000) / 1000, intensity


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory) -> Path:
    """Two small scan-ordered KITTI-like sweeps (1 mm grid, 0.01 reflectance) in sub-folders, and a note."""
    d = tmp_path_factory.mktemp("lidar")
    for i, sub in enumerate(("a", "b")):
        xyz, intensity = synthetic_sweep(rings=12, azimuths=300, seed=i)
        (d / sub).mkdir()
        np.column_stack([xyz, intensity]).astype("<f4").tofile(d / sub / f"{i:010d}.bin")
    (d / "README.txt").write_text("not a cloud")
    return d


@pytest.fixture(scope="module")
def evaluated(sweeps, tmp_path_factory):
    out = tmp_path_factory.mktemp("pc-eval") / "results"
    r = run_inline("eval", "--dataset", sweeps, "--codecs", "lidar,lidar-xyz,laszip,draco,gzip", "--anchor", "laszip",
                   "--precision", 0.001, "--out", out, "--jobs", 1, "--keep-files", "--no-progress")
    assert r.returncode == 0, r.stderr
    return out, r


def test_results_layout_rate_and_errors(evaluated, sweeps):
    out, r = evaluated
    for name in ("lidar", "lidar-xyz", "laszip", "draco", "gzip"):
        data = json.loads((out / f"{name}.json").read_text())
        meta, res = data["meta"], data["results"]
        assert meta["modality"] == "pointcloud" and meta["rate_key"] == "bits_per_point" and meta["frames"] == 2
        assert meta["skipped_files"] == 1 and res["setting"] == [0.001]
        assert set(data["per_frame"]) == {"a/0000000000.bin", "b/0000000001.bin"}
        assert {"d1-psnr", "d2-psnr", "max-error", "mean-error", "max-coordinate-error", "peak"} <= set(res)
    checked = 0
    for name in ("lidar", "laszip", "gzip", "draco"):
        for entry in (out / "cache" / name).glob("*.json"):
            record = json.loads(entry.read_text())["record"]
            size = (entry.parent / record["file"]).stat().st_size
            assert record["bytes"] == size and record["bits_per_point"] == size * 8 / record["points"]
            if name == "draco":  # reorders: no matched per-coordinate error; within its quantisation step
                assert record["max-coordinate-error"] is None and 0 < record["max-error"] < 0.002
            else:  # the sweeps lie on the 1 mm grid: lossless in float32 (float32's own rounding only)
                assert record["max-coordinate-error"] < 1e-5 and record["max-error"] < 1e-5
            checked += 1
    assert checked == 8
    lidar = json.loads((out / "lidar.json").read_text())["results"]
    xyz = json.loads((out / "lidar-xyz.json").read_text())["results"]
    assert xyz["bits_per_point"][0] < lidar["bits_per_point"][0]
    assert lidar["bits_per_point"][0] < json.loads((out / "gzip.json").read_text())["results"]["bits_per_point"][0]


def test_table_report_and_cached_rerun(evaluated, sweeps):
    out, r = evaluated
    assert "2 frames (1 other file(s) skipped)" in r.stdout
    line = next(row for row in r.stdout.splitlines() if row.startswith("a/0000000000.bin"))
    assert line.count("(0.00)") == 4 and len(line.split()) == 2 + 2 * 5
    md = (out / "report.md").read_text()
    assert "## Per frame" in md and "BD-rate vs laszip" in md and "bits_per_point" in md
    again = run_inline("eval", "--dataset", sweeps, "--codecs", "lidar,lidar-xyz,laszip,draco,gzip", "--anchor",
                       "laszip", "--precision", 0.001, "--out", out, "--jobs", 1, "--keep-files", "--no-progress")
    assert again.returncode == 0 and "0 points computed, 10 from the cache" in again.stdout


def test_precision_sweep_draws_curves(sweeps, tmp_path):
    r = run_inline("eval", "--dataset", sweeps, "--codecs", "lidar,gzip", "--points", 3, "--out", tmp_path / "o",
                   "--jobs", 1, "--no-progress")
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "o" / "lidar.json").read_text())["results"]
    assert res["setting"] == [0.01, 0.002, 0.0005]  # ordered by rate
    assert res["d1-psnr"][0] < res["d1-psnr"][1] < res["d1-psnr"][2]
    assert (tmp_path / "o" / "rd-d1-psnr.png").read_bytes()[:4] == b"\x89PNG"
    assert "BD-rate vs gzip (D1-PSNR): lidar -" in r.stdout  # fewer bits than gzip at equal D1 PSNR


def test_modality_mixups_are_refused(sweeps, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(photos / "a.png")
    base = ("eval", "--out", tmp_path / "out", "--no-progress", "--jobs", 1)
    r = run_inline(*base, "--dataset", photos, "--codecs", "jpeg", "--precision", 0.001)
    assert r.returncode == 2 and "--precision does not apply to image eval" in r.stderr
    r = run_inline(*base, "--dataset", sweeps, "--codecs", "lidar,jpeg")
    assert r.returncode == 2 and "different modalities" in r.stderr
    r = run_inline(*base, "--dataset", photos, "--codecs", "lidar")
    assert r.returncode == 2 and "no usable frames" in r.stderr
    assert not (tmp_path / "out").exists()


def test_pointcloud_bench_is_an_alias_of_eval():
    from ncodec.eval.pointcloud_bench import eval_argv

    assert eval_argv(["--data", "d", "--precision", "0.001"]) == [
        "eval", "--dataset", "d", "--codecs", "lidar,lidar-xyz,laszip,laszip-xyz,draco,gzip,zstd,lzma", "--anchor",
        "laszip", "--precision", "0.001", "--out", "runs/pointcloud_bench", "--jobs", "1"]
