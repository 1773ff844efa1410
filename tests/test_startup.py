"""Light commands stay light: `--help`, `info` and `list` never import torch or a codec family
(torch alone costs about 2 s per process here), and the lazy codec registry agrees with what the
codec modules really register."""
from __future__ import annotations

import importlib
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ncodec.codecs import registry

HEAVY = ("torch", "compressai", "lightning", "kornia", "open3d", "scipy", "matplotlib")


def _heavy_imports(argv: list[str]) -> tuple[list[str], str]:
    code = ("import sys, io, contextlib\nfrom ncodec.cli import main\nout = io.StringIO()\n"
            f"with contextlib.redirect_stdout(out):\n    rc = main({argv!r})\n"
            f"print(rc, sorted(m for m in {HEAVY!r} if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    rc, loaded = r.stdout.strip().split(" ", 1)
    assert rc == "0", r.stderr
    return eval(loaded), r.stdout  # noqa: S307 - our own printed list


@pytest.fixture(scope="module")
def image_file(tmp_path_factory):
    """A small real ncodec image file (encoded once with the default image model)."""
    import ncodec

    folder = tmp_path_factory.mktemp("startup")
    Image.fromarray((np.arange(32 * 48 * 3) % 251).astype(np.uint8).reshape(32, 48, 3)).save(folder / "a.png")
    ncodec.encode_file(folder / "a.png", folder / "a.ncd")
    return folder / "a.ncd"


@pytest.mark.parametrize("argv", [["list"], ["list", "--json"]])
def test_list_imports_nothing_heavy(argv):
    loaded, _ = _heavy_imports(argv)
    assert loaded == []


def test_info_imports_nothing_heavy(image_file):
    loaded, _ = _heavy_imports(["info", str(image_file), "--json"])
    assert loaded == []


def test_import_ncodec_is_light():
    r = subprocess.run([sys.executable, "-c", "import sys, ncodec; ncodec.__version__; "
                        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"],
                       capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "[]", r.stdout + r.stderr


def test_public_api_resolves_lazily():
    import ncodec

    for name in ncodec.__all__:
        assert callable(getattr(ncodec, name))
    with pytest.raises(AttributeError):
        ncodec.no_such_function  # noqa: B018


def test_declared_codecs_match_what_modules_register():
    """Every module registers exactly the names its modality declares for it (Modality.codecs)."""
    for modality in registry.all_modalities():
        for module, names in modality.codecs.items():
            importlib.import_module(module)
            registered = {n for n, e in registry._REGISTRY.items()
                          if e.factory.__module__ == module}
            assert registered == set(names), module
            assert all(registry._REGISTRY[n].modality == modality.name for n in names)


def test_list_json_names_every_declared_codec():
    from ncodec.cli import main
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["list", "--json"]) == 0
    rows = json.loads(out.getvalue())
    names = {r["name"] for r in rows} | {r["card"]["codec"] for r in rows if r["card"]}
    assert set(registry.list_codecs()) <= names
    assert {r["modality"] for r in rows} <= set(registry.modality_names())
