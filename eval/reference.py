"""Published Kodak RD curves (CompressAI's results files) as labelled reference curves.

They are not re-measured here: the report marks them as published. ``vtm-ref`` is VTM's
published Kodak curve, usable as a BD-rate anchor without a VTM binary. Names: the aliases
below, or ``<file stem>-ref`` for any results file in the folder.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ncodec.errors import InputError

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "reference" / "compressai-results" / "image" / "kodak"
ALIASES = {"vtm-ref": "vtm", "hm-ref": "hm", "bpg-ref": "bpg_444_x265_ycbcr", "av1-ref": "av1",
           "jpeg-ref": "jpeg", "jpeg2000-ref": "jpeg2000", "webp-ref": "webp"}
SUFFIX = "-ref"
MODALITY = "image"  # what the published curves measured (Kodak images)
_KODAK = re.compile(r"^kodim\d\d\.png$", re.IGNORECASE)


def reference_dir() -> Path:
    return Path(os.environ.get("NCODEC_REFERENCE_DIR", DEFAULT_DIR))


def reference_names() -> list[str]:
    folder = reference_dir()
    if not folder.is_dir():
        return list(ALIASES)
    stems = {p.stem for p in folder.glob("*.json")}
    named = [a for a, stem in ALIASES.items() if stem in stems]
    return named + sorted(s + SUFFIX for s in stems if s not in ALIASES.values())


def is_reference(name: str) -> bool:
    return name.endswith(SUFFIX)


def load_reference(name: str) -> dict:
    """The published results (CompressAI layout) with a ``meta`` block saying where they come from."""
    folder = reference_dir()
    stem = ALIASES.get(name, name[: -len(SUFFIX)])
    path = folder / f"{stem}.json"
    if not path.is_file():
        raise InputError(f"published reference {name!r} not found ({path}; set NCODEC_REFERENCE_DIR)")
    data = json.loads(path.read_text())
    results = data["results"]
    if "ms-ssim-rgb" in results and "ms-ssim" not in results:
        results["ms-ssim"] = results["ms-ssim-rgb"]
    title, detail = data.get("name", stem), data.get("description", "")
    what = title if detail in ("", title) else f"{title}: {detail}"
    return {"name": name, "description": f"{what} (published Kodak points, not re-measured)",
            "results": results,
            "meta": {"published": True, "source": str(path), "dataset": "Kodak (24 images)",
                     "original_name": data.get("name", stem)}}


def is_kodak(names: list[str]) -> bool:
    """Whether the evaluated images are Kodak's kodim01..kodim24."""
    return bool(names) and all(_KODAK.match(n) for n in names)
