"""The lent-GPU training command on CPU: pack, two calls (the second resumes), collect, export, code a file.

Same path as on the device (Lightning fit, bf16-mixed, the state saved under --out, export at the
end), with the tiny smoke config and a few steps instead of the shipped model for eight minutes.
"""
import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from ncodec.codecs.checkpoint import load_codec
from ncodec.train.gpu_session import main as session_main
from ncodec.train.gpu_session import pack_data

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "configs/smoke/image.yaml"


def session(*args, cwd, by_path=False):
    entry = [str(ROOT / "train/gpu_session.py")] if by_path else ["-m", "ncodec.train.gpu_session"]
    return subprocess.run([sys.executable, *entry, *map(str, args)], capture_output=True, text=True, timeout=300,
                          cwd=cwd)


def luma(path: Path) -> np.ndarray:
    """The decoded Y plane, before any colour conversion (what a lossless crop keeps exactly)."""
    im = Image.open(path)
    im.draft("YCbCr", im.size)
    return np.asarray(im)[..., 0]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos") / "nested"
    folder.mkdir()
    for i, f in enumerate([skimage.data.astronaut, skimage.data.chelsea, skimage.data.coffee, skimage.data.rocket,
                           skimage.data.immunohistochemistry]):
        Image.fromarray(f()).save(folder / f"{i}.jpg", quality=95)
    Image.fromarray(skimage.data.astronaut()[:40, :40]).save(folder / "small.png")
    return folder.parent


def test_pack_crops_losslessly_within_budget(photos, tmp_path):
    info = pack_data(photos, tmp_path / "data", 64, budget=10**6)
    crops = sorted((tmp_path / "data").glob("*.jpg"))
    assert info["crops"] == len(crops) == 5 and info["skipped"] == 1  # the 40x40 PNG is smaller than the crop
    assert info["bytes"] == sum(p.stat().st_size for p in crops) <= 10**6
    assert all(Image.open(p).size == (64, 64) for p in crops)
    if info["method"] == "jpegtran lossless crop":  # the crop's luma is the photo's own, not re-encoded
        src = [luma(p) for p in sorted(photos.rglob("*.jpg"))]
        crop = luma(crops[0])
        assert any((s[t:t + 64, l:l + 64] == crop).all() for s in src
                   for t in range(0, s.shape[0] - 63, 16) for l in range(0, s.shape[1] - 63, 16))
    small = pack_data(photos, tmp_path / "small", 64, budget=info["bytes"] // 2)
    assert 0 < small["crops"] < 5 and small["bytes"] <= info["bytes"] // 2


def test_pack_refuses_what_it_must_not_use(photos, tmp_path):
    from ncodec.errors import InputError

    with pytest.raises(InputError, match="evaluation data"):
        pack_data(tmp_path / "kodak", tmp_path / "d", 64, budget=10**6)
    with pytest.raises(InputError, match="fits in"):
        pack_data(photos, tmp_path / "d", 64, budget=100)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("someone else's")
    with pytest.raises(InputError, match="did not write"):
        pack_data(photos, tmp_path / "mine", 64, budget=10**6)
    assert (tmp_path / "mine" / "notes.txt").is_file()


@pytest.fixture(scope="module")
def two_calls(photos, tmp_path_factory):
    """Call 1 starts from scratch (run by path, as on the device); collect; call 2 resumes (-m)."""
    work = tmp_path_factory.mktemp("gpu")
    assert pack_data(photos, work / ".gpu/data", 64, budget=10**6)["crops"] == 5
    common = ["--config", SMOKE, "--data", work / ".gpu/data", "--resume", work / ".gpu/resume/state.pt",
              "--accelerator", "cpu", "--max-steps", 3, "--save-seconds", 0, "--work", work / "tmp", "--name", "tiny"]
    first = session("run", "--out", work / "out1", "--init-from", "none", *common, cwd=work, by_path=True)
    assert first.returncode == 0, first.stderr[-3000:]
    assert session_main(["collect", str(work / "out1"), "--repo", str(work)]) == 0
    capture = io.StringIO()
    with contextlib.redirect_stdout(capture):  # in-process: one interpreter start less on a busy CPU
        assert session_main(["run", "--out", str(work / "out2"), *map(str, common)]) == 0
    return work, first.stdout, capture.getvalue()


def test_first_call_saves_state_and_exports(two_calls):
    work, first, _ = two_calls
    out = work / "out1"
    assert {"state.pt", "tiny.pt", "tiny.json", "metrics.csv", "session.json"} <= {p.name for p in out.iterdir()}
    state = torch.load(out / "state.pt", weights_only=False)
    assert state["global_step"] == 3 and state["ncodec"]["sessions"][0]["precision"] == "bf16-mixed"
    assert len([ln for ln in first.splitlines() if '"saved"' in ln]) >= 3  # saved every step here
    card = json.loads((out / "tiny.json").read_text())
    assert card["training"]["steps"] == 3 and card["training"]["device"] == "cpu"
    assert "5 of 6 photos as 64x64 crops" in card["training"]["data"] and card["training"]["images"] == 3
    assert (work / ".gpu/resume/state.pt").is_file() and (work / "runs/gpu/steps-3/tiny.pt").is_file()


def test_second_call_resumes_from_the_state_given_back(two_calls):
    work, _, second = two_calls
    before = torch.load(work / ".gpu/resume/state.pt", weights_only=False)
    after = torch.load(work / "out2/state.pt", weights_only=False)
    assert after["global_step"] == 6 and len(after["ncodec"]["sessions"]) == 2
    assert after["ncodec"]["wall_seconds"] > before["ncodec"]["wall_seconds"]
    assert '"steps_before": 3' in second
    card = json.loads((work / "out2/tiny.json").read_text())
    assert card["training"]["steps"] == 6 and len(card["training"]["sessions"]) == 2
    # it trained on from the resumed weights: they moved, but started where call 1 ended
    w1, w2 = before["state_dict"], after["state_dict"]
    assert any(not torch.equal(w1[k], w2[k]) for k in w1 if w1[k].is_floating_point())


def test_exported_checkpoint_codes_bit_exactly(two_calls, photo):
    work, _, _ = two_calls
    model = load_codec("tiny", folder=work / "out2")
    x = torch.from_numpy(photo[:70, :90]).permute(2, 0, 1)[None].float() / 255
    enc = model.compress(x, 2.0)
    assert torch.equal(model.decompress(enc["strings"], enc["payload"], 2.0)["x_hat"], enc["x_hat"])


def test_collect_refuses_an_older_state(two_calls, capsys):
    work, _, _ = two_calls
    assert session_main(["collect", str(work / "out1"), "--repo", str(work)]) == 2  # .gpu/resume already has 3
    err = capsys.readouterr().err
    assert "not fewer" in err and len(err.strip().splitlines()) == 1


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    assert session_main(["run", "--out", str(tmp_path / "o"), "--data", str(tmp_path / "missing")]) == 2
    assert session_main(["collect", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "packed data not found" in err[0] and "no state.pt" in err[1]
    assert not (tmp_path / "o").exists()
