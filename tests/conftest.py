"""Shared fixtures. Real data from ../shared/data is optional: tests using it skip without it."""
from __future__ import annotations

import contextlib
import io
import subprocess
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A real photo shipped by scikit-image (512x512 RGB)."""
    return skimage.data.astronaut()


@pytest.fixture
def photo_png(tmp_path, photo) -> Path:
    path = tmp_path / "astronaut.png"
    Image.fromarray(photo).save(path)
    return path


@pytest.fixture(scope="session")
def codec():
    import ncodec

    return ncodec.load("hyperprior")


@pytest.fixture(scope="session")
def kodak() -> Path:
    folder = SHARED_DATA / "kodak"
    if not folder.is_dir():
        pytest.skip("../shared/data/kodak is not present")
    return folder


def run_inline(*args) -> subprocess.CompletedProcess:
    """``ncodec ARGS`` in this process (fast: models stay loaded), as a CompletedProcess."""
    from ncodec.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def run_process(*args, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """A real ``ncodec ARGS`` process (its own imports, exit code and stderr), run in ``cwd``."""
    import sys

    return subprocess.run([sys.executable, "-m", "ncodec.cli", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def train_and_export(config: Path, work: Path, name: str, *overrides: str) -> tuple[Path, dict]:
    """``ncodec train fit --config CONFIG OVERRIDES`` in ``work`` (no logger), then ``ncodec export``
    of its ``last.ckpt`` as ``work/ckpts/NAME``: (last.ckpt, the model card)."""
    import json

    import yaml

    r = run_process("train", "fit", "--config", config, *overrides, "--trainer.logger", "false", cwd=work)
    assert r.returncode == 0, r.stderr[-3000:]
    callback = yaml.safe_load(Path(config).read_text())["trainer"]["callbacks"][0]["init_args"]
    last = work / callback["dirpath"] / "last.ckpt"
    r = run_process("export", last, name, "--folder", work / "ckpts", cwd=work)
    assert r.returncode == 0, r.stderr[-2000:]
    return last, json.loads((work / "ckpts" / f"{name}.json").read_text())
