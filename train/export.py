"""Turn a training state into a shipped checkpoint: freeze the CDF tables, store fp16, write the card.

    python -m ncodec.train.export runs/hyperprior/last.pt hyperprior
"""
from __future__ import annotations

import argparse
import platform
from pathlib import Path

import torch

from ncodec.codecs import get_codec
from ncodec.codecs.checkpoint import CHECKPOINT_DIR, save_checkpoint


def export(state_path: Path, name: str, folder: Path = CHECKPOINT_DIR, notes: str = "") -> bytes:
    state = torch.load(state_path, map_location="cpu", weights_only=False)
    model = get_codec(state["codec"]).factory(**state["config"])
    model.load_state_dict(state["model"])
    model.eval().update()
    lo, hi = model.quality_range
    card = {
        "config": state["config"],
        "quality_range": [lo, hi],
        "default_quality": round((lo + hi) / 2, 3),
        "summary": notes,
        "training": {
            "data": state["data"], "images": state["images"], "steps": state["step"],
            "batch": state.get("batch"), "crop": state.get("crop"),
            "device": state["device"], "wall_minutes": round(state["elapsed"] / 60, 1),
            "loop": "ncodec.train.quick", "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        },
    }
    return save_checkpoint(model, card, name, folder)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("state", type=Path)
    ap.add_argument("name")
    ap.add_argument("--folder", type=Path, default=CHECKPOINT_DIR)
    ap.add_argument("--notes", default="")
    a = ap.parse_args(argv)
    print(export(a.state, a.name, a.folder, a.notes).hex())


if __name__ == "__main__":
    main()
