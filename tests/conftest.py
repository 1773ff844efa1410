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
