"""`ncodec eval` end to end on real files: small crops of scikit-image photos, real encoders."""
import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from conftest import SHARED_DATA

ROOT = Path(__file__).resolve().parents[1]
CODECS = "hyperprior,jpeg,webp,avif,jxl,x265,vtm"
MEASURED = ["hyperprior", "jpeg", "webp", "avif", "jxl", "x265"]


def run(*args, env=None, script=None, timeout=600):
    cmd = [sys.executable, str(script)] if script else [sys.executable, "-m", "ncodec.cli", "eval"]
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, timeout=timeout, env=env)


def run_inline(*args):
    from ncodec.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def env_without_vtm():
    return {k: v for k, v in os.environ.items() if k != "VTM_DIR"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """Three 176x224 crops of real photos, one text file and one broken PNG (both skipped)."""
    d = tmp_path_factory.mktemp("photos")
    Image.fromarray(skimage.data.astronaut()[40:216, 140:364]).save(d / "astronaut.png")
    Image.fromarray(skimage.data.chelsea()[60:236, 100:324]).save(d / "chelsea.png")
    Image.fromarray(skimage.data.coffee()[100:276, 200:424]).save(d / "coffee.png")
    (d / "notes.txt").write_text("not an image")
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    return d


@pytest.fixture(scope="module")
def evaluated(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "results"
    r = run("--dataset", dataset, "--codecs", CODECS, "--out", out, "--points", 3, "--jobs", 2, "--keep-files",
            env=env_without_vtm())
    assert r.returncode == 0, r.stderr
    return out, r


def originals(dataset: Path) -> dict[str, np.ndarray]:
    return {p.name: np.asarray(Image.open(p).convert("RGB")) for p in dataset.glob("*.png") if p.name != "broken.png"}


def my_psnr(a, b):
    mse = ((a.astype(float) - b.astype(float)) ** 2).mean()
    return 10 * np.log10(255**2 / mse)


def test_layout_report_plots_and_skips(evaluated):
    out, r = evaluated
    for name in MEASURED:
        data = json.loads((out / f"{name}.json").read_text())
        assert data["name"] == name and data["description"]
        res = data["results"]
        assert len(res["bpp"]) == len(res["psnr-rgb"]) == len(res["ms-ssim"]) == len(res["ms-ssim-rgb"]) == 3
        assert res["bpp"] == sorted(res["bpp"]) and all(0 < m <= 1 for m in res["ms-ssim"])
        assert set(data["per_image"]) == {"astronaut.png", "chelsea.png", "coffee.png"}
        meta = data["meta"]
        assert meta["version"] and meta["libraries"]["ncodec"] and meta["machine"]["cpus"]
        assert len(meta["commands"]) == 3 and meta["images"] == 3 and meta["skipped_files"] == 2
        for key in ("bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time"):
            per = [data["per_image"][im][key] for im in data["per_image"]]
            assert res[key] == pytest.approx(np.mean(per, axis=0).tolist())
    learned = json.loads((out / "hyperprior.json").read_text())["results"]
    assert all(0.98 < r < 1.1 for r in learned["real_over_estimated_bits"])  # file vs model estimate
    assert all(0 < e < t for e, t in zip(learned["encoding_entropy_time"], learned["encoding_time"]))
    assert all(0 < e < t for e, t in zip(learned["decoding_entropy_time"], learned["decoding_time"]))
    assert "bits_estimated" not in json.loads((out / "jpeg.json").read_text())["results"]
    assert not (out / "vtm.json").exists()
    assert re.search(r"skipped vtm: .*VTM_DIR", r.stdout)
    for png in ("rd-psnr.png", "rd-ms-ssim.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    assert "BD-rate vs jpeg" in md and "| hyperprior |" in md and "Per image" in md
    assert "VTM_DIR" in md and "2 other file(s) skipped" in md
    assert "encode s" in md
    assert page.count("data:image/png;base64,") == 2 and "<table>" in page and "src=\"rd-" not in page


def test_bpp_is_the_file_size(evaluated, dataset):
    out, _ = evaluated
    checked = 0
    for name in MEASURED:
        for entry in (out / "cache" / name).glob("*.json"):
            record = json.loads(entry.read_text())["record"]
            size = (entry.parent / record["file"]).stat().st_size
            assert record["bytes"] == size
            assert record["bpp"] == size * 8 / (176 * 224) == size * 8 / record["pixels"]
            checked += 1
    assert checked == len(MEASURED) * 3 * 3


def test_psnr_recomputed_on_the_decoded_files(evaluated, dataset, tmp_path):
    """Decode the kept files with other code than the evaluation's (Pillow; ncodec decode) and compare."""
    import ncodec
    import torch

    out, _ = evaluated
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the evaluation's workers: the float synthesis may round differently per thread count
    try:
        _check_decoded(out, dataset, tmp_path, ncodec)
    finally:
        torch.set_num_threads(threads)


def _check_decoded(out, dataset, tmp_path, ncodec):
    images = originals(dataset)
    for name in ("jpeg", "webp", "hyperprior"):
        for entry in (out / "cache" / name).glob("*.json"):
            record = json.loads(entry.read_text())["record"]
            path = entry.parent / record["file"]
            if name == "hyperprior":
                ncodec.decode_file(path, tmp_path / "decoded.png", force=True)
                path = tmp_path / "decoded.png"
            decoded = np.asarray(Image.open(path).convert("RGB"))
            assert record["psnr-rgb"] == pytest.approx(my_psnr(images[record["image"]], decoded), abs=1e-9)
    data = json.loads((out / "jpeg.json").read_text())
    assert data["per_image"]["coffee.png"]["psnr-rgb"][0] < data["per_image"]["coffee.png"]["psnr-rgb"][-1]


def test_rerun_computes_nothing_and_tools_script(evaluated, dataset):
    out, _ = evaluated
    before = json.loads((out / "webp.json").read_text())["results"]
    r = run("--dataset", dataset, "--codecs", CODECS, "--out", out, "--points", 3, "--jobs", 2, "--keep-files",
            env=env_without_vtm(), script=ROOT / "tools" / "eval.py")
    assert r.returncode == 0, r.stderr
    assert "0 points computed" in r.stdout
    after = json.loads((out / "webp.json").read_text())
    assert after["results"] == before and after["meta"]["computed"] == 0 and after["meta"]["cached"] == 9


def test_bdrate_command_reads_eval_results(evaluated):
    out, _ = evaluated
    for metric in ("psnr", "ms-ssim"):
        r = run_inline("bdrate", out / "jpeg.json", out / "webp.json", "--metric", metric, "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["test"] == "webp"


def test_anchor_vtm_ref_on_kodak(tmp_path):
    kodak, ref = SHARED_DATA / "kodak", SHARED_DATA / "reference/compressai-results/image/kodak/vtm.json"
    if not (kodak.is_dir() and ref.is_file()):
        pytest.skip("../shared/data/kodak or the reference curves are not present")
    subset = tmp_path / "kodak"
    subset.mkdir()
    for name in ("kodim03.png", "kodim23.png"):
        shutil.copy(kodak / name, subset / name)
    out = tmp_path / "out"
    r = run_inline("eval", "--dataset", subset, "--codecs", "jpeg,jpeg2000,bpg-ref", "--anchor", "jpeg,vtm-ref",
                   "--points", 4, "--jobs", 1, "--out", out, "--no-progress")
    assert r.returncode == 0, r.stderr
    vtm = json.loads((out / "vtm-ref.json").read_text())
    assert vtm["meta"]["published"] and vtm["results"]["bpp"] == json.loads(ref.read_text())["results"]["bpp"]
    md = (out / "report.md").read_text()
    assert "BD-rate vs vtm-ref (published curve)" in md and "published (not re-measured)" in md
    row = next(line for line in md.splitlines() if line.startswith("| jpeg |") and "%" in line)
    assert re.search(r"\+\d+\.\d%", row)  # JPEG needs more bits than VTM
    assert re.search(r"BD-rate vs vtm-ref \(PSNR\): .*jpeg \+", r.stdout)


def test_update_card_writes_rd_points(tmp_path):
    from ncodec.codecs.checkpoint import CHECKPOINT_DIR
    from ncodec.eval.results import update_card

    shutil.copy(CHECKPOINT_DIR / "hyperprior.json", tmp_path / "hyperprior.json")
    data = {"results": {"setting": [1.0, 6.0], "bpp": [0.2, 1.0], "psnr-rgb": [27.0, 33.0], "ms-ssim-rgb": [0.9, 0.98]},
            "meta": {"dataset": "/x/kodak", "images": 24, "date": "2026-11-23 10:00:00 UTC", "command": "ncodec eval ..."}}
    card = json.loads(update_card("hyperprior", data, tmp_path).read_text())
    assert card["rd_points"]["bpp"] == [0.2, 1.0] and card["rd_points"]["dataset"] == "kodak (24 images)"
    assert card["codec"] == "hyperprior"


def _one_line_exit_2(r):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ncodec: error:"), r.stderr
    return lines[0]


def test_bad_inputs(tmp_path, dataset):
    empty = tmp_path / "empty"
    empty.mkdir()
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.txt").write_text("x")
    (junk / "b.png").write_bytes(b"not a png")
    no_bins = tmp_path / "vtm"
    no_bins.mkdir()
    out = tmp_path / "out"
    base = ("eval", "--out", out, "--no-progress", "--jobs", 1)
    assert "no usable images" in _one_line_exit_2(run_inline(*base, "--dataset", empty, "--codecs", "jpeg"))
    assert "2 other files skipped" in _one_line_exit_2(run_inline(*base, "--dataset", junk, "--codecs", "jpeg"))
    assert "not found" in _one_line_exit_2(run_inline(*base, "--dataset", tmp_path / "nope", "--codecs", "jpeg"))
    line = _one_line_exit_2(run_inline(*base, "--dataset", dataset, "--codecs", "jpeg,nosuchcodec"))
    assert "nosuchcodec" in line and all(n in line for n in ("hyperprior", "jpeg", "webp", "avif", "jxl", "x265", "vtm"))
    line = _one_line_exit_2(run_inline(*base, "--dataset", dataset, "--codecs", "jpeg,vtm", "--vtm-dir", no_bins))
    assert "EncoderApp" in line
    line = _one_line_exit_2(run_inline(*base, "--dataset", dataset, "--codecs", "vtm", "--vtm-dir", tmp_path / "none"))
    assert "VTM" in line
    if (SHARED_DATA / "reference").is_dir():
        assert "not Kodak" in _one_line_exit_2(run_inline(*base, "--dataset", dataset, "--codecs", "jpeg",
                                                          "--anchor", "vtm-ref"))
    _one_line_exit_2(run_inline(*base, "--dataset", dataset, "--codecs", "jpeg", "--jobs", 0))
    _one_line_exit_2(run_inline(*base, "--dataset", dataset, "--codecs", "jpeg", "--points", 1))
    assert not out.exists()  # nothing was written for a refused evaluation


def test_learned_version_changes_with_encoder_settings():
    """The result cache keys on the codec's version string: an encoder-only setting in the card
    (an RDO lambda, which keeps the model id) must change it, or stale results would be reused."""
    from ncodec.eval.learned import LearnedCodec

    codec = LearnedCodec("lwc")
    before = codec.version()
    codec.card = {**codec.card, "config": {**codec.card["config"], "rdo_lambda": 0.5}}
    assert codec.version() != before and codec.version().startswith(before.split(", config")[0])


def test_points_sample_a_continuous_quality_range_and_thin_fixed_sweeps():
    """``--points N``: N qualities over a learned codec's continuous range (more or fewer than
    its default 6); N of a fixed sweep (a baseline's, a discrete-rate or a video card's), evenly."""
    from ncodec.eval import catalog
    from ncodec.eval.learned import LearnedCodec

    lwc = LearnedCodec("lwc-dpf")
    assert lwc.sweep(0) == lwc.settings() and len(lwc.settings()) == 6
    assert lwc.sweep(13) == [float(q) for q in range(-2, 11)] and lwc.sweep(3) == [-2.0, 4.0, 10.0]
    jpeg = catalog.make_codec("jpeg", None, "cpu", None)
    assert jpeg.sweep(100) == jpeg.settings() and jpeg.sweep(3) == [2, 40, 90]
    video = LearnedCodec("video-lvc-vpf")
    assert video.sweep(20) == video.settings() and video.sweep(3) == [0.0, 2.0, 5.0]


def test_learned_results_are_keyed_on_the_codec_sources():
    """The cache key of a learned codec names a hash of ``codecs/`` and ``entropy/``: results of
    an older encoder or decoder are measured again, not read back."""
    from ncodec.eval.learned import LearnedCodec, code_digest

    version = LearnedCodec("lwc-dpf").version()
    assert re.fullmatch(r"[0-9a-f]{12}", code_digest()) and version.endswith(f"code sha256 {code_digest()}")
