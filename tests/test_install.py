"""The installed project is complete: every module imports, every package folder ships, every
third-party import is a declared dependency, and every command's --help runs (in a fresh process).

CI runs this suite in a fresh virtual environment (``.ci/run``), so a dependency that is only
present because someone installed it by hand fails here instead of on a user's machine.
"""
from __future__ import annotations

import ast
import configparser
import importlib
import re
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {"tests", ".git", ".ci", "checkpoints", "configs", "runs", "build", "dist", "__pycache__"}
OPTIONAL = {"mamba_ssm"}  # CUDA-only fused kernel, imported inside a guard


def _setup_cfg() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return cfg


def _source_files() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py")
                  if not SKIP_DIRS.intersection(p.relative_to(ROOT).parts[:-1]) and p.parent.name != "__pycache__"
                  and not any(part.startswith(".") for part in p.relative_to(ROOT).parts))


def _module_name(path: Path) -> str:
    parts = ["ncodec", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_every_package_folder_ships():
    """setup.py discovers the packages: exactly the source folders (a new folder ships unedited)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("ncodec_setup", ROOT / "setup.py")
    setup_py = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(setup_py)  # defines discover_packages; setup() runs only as __main__
    listed = set(setup_py.discover_packages(str(ROOT)))
    folders = {_module_name(p) for p in _source_files() if p.name == "__init__.py"}
    assert listed == folders
    assert "packages" not in _setup_cfg()["options"]


@pytest.mark.parametrize("module", [_module_name(p) for p in _source_files()])
def test_every_module_imports(module):
    importlib.import_module(module)


def _declared_distributions() -> set[str]:
    import tomllib

    cfg = _setup_cfg()
    lines = cfg["options"]["install_requires"].splitlines()
    lines += cfg["options.extras_require"]["test"].splitlines()
    lines += tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]  # setup.py's
    names = {re.split(r"[\[<>=!~ ;]", line.strip(), maxsplit=1)[0] for line in lines}
    return {n.lower().replace("_", "-") for n in names if n and not n.startswith("#")}


def test_every_third_party_import_is_declared():
    """Compare every top-level import in the project's sources with setup.cfg's dependencies."""
    stdlib, own = set(sys.stdlib_module_names), {"ncodec", "conftest"}
    dists = packages_distributions()
    declared = _declared_distributions()
    missing = {}
    for path in _source_files() + sorted((ROOT / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                     else [])
            for name in names:
                top = name.split(".")[0]
                if top in stdlib or top in own or top in OPTIONAL:
                    continue
                provided = {d.lower().replace("_", "-") for d in dists.get(top, [top])}
                if not provided & declared:
                    missing.setdefault(top, set()).add(path.relative_to(ROOT).as_posix())
    assert not missing, f"imported but not declared in setup.cfg: {missing}"


def _subcommands() -> list[str]:
    from ncodec.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sorted(sub.choices)


@pytest.mark.parametrize("argv", [[]] + [[c] for c in _subcommands()], ids=lambda a: " ".join(a) or "ncodec")
def test_every_subcommand_help_runs(argv):
    """`ncodec [CMD] --help` in a fresh process, through the installed console script."""
    exe = Path(sys.executable).with_name("ncodec")
    cmd = [str(exe)] if exe.is_file() else [sys.executable, "-m", "ncodec.cli"]
    r = subprocess.run(cmd + argv + ["--help"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "usage" in r.stdout.lower()
    assert "Traceback" not in r.stderr
