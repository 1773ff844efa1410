"""``ncodec export CKPT NAME``: a training checkpoint becomes a shipped one.

Freezes the CDF tables from the weights, stores large float tensors in fp16, writes the model card
(config, data, steps, device, wall time). Accepts Lightning checkpoints (``ncodec train``) and the
stop-gap loop's ``last.pt`` (``ncodec.train.quick``). Nothing is written unless all of it succeeds.
"""
from __future__ import annotations

import argparse
import platform
from pathlib import Path

from ncodec.codecs import get_codec
from ncodec.codecs.checkpoint import CHECKPOINT_DIR, save_checkpoint
from ncodec.errors import InputError


def read_training_state(path: Path) -> dict:
    """Normalise both checkpoint kinds to: codec, config, weights, provenance."""
    import torch  # not at import time: `ncodec --help` builds this command's parser

    if not Path(path).is_file():
        raise InputError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unreadable file is bad input here
        raise InputError(f"cannot read checkpoint {path}: {type(e).__name__}") from None
    if "hyper_parameters" in state:  # Lightning
        hp, info = state["hyper_parameters"], state.get("ncodec", {})
        weights = {k[len("codec."):]: v for k, v in state["state_dict"].items() if k.startswith("codec.")}
        return {"codec": hp["codec"], "config": hp.get("codec_config") or {}, "weights": weights,
                "steps": state.get("global_step"), "loop": "ncodec train (Lightning)", **info}
    if "model" in state and "codec" in state:  # stop-gap loop
        return {"codec": state["codec"], "config": state["config"], "weights": state["model"],
                "steps": state["step"], "loop": "ncodec.train.quick", "device": state["device"],
                "wall_seconds": state["elapsed"], "data": state["data"], "images": state["images"],
                "batch": state.get("batch"), "crop": state.get("crop")}
    raise InputError(f"{path} is not an ncodec training checkpoint")


def export(state_path: Path, name: str, folder: Path = CHECKPOINT_DIR, notes: str = "") -> bytes:
    s = read_training_state(state_path)
    model = get_codec(s["codec"]).factory(**s["config"])
    model.load_state_dict(s["weights"], strict=False)
    from ncodec.entropy.quantiles import solve_all_quantiles  # compressai: only when exporting

    aux_loss = solve_all_quantiles(model)  # the CDF tables' range, exact (see entropy/quantiles.py)
    model.eval().update()
    lo, hi = model.quality_range
    card = {
        "config": model.config,
        "quality_range": [lo, hi],
        "default_quality": round((lo + hi) / 2, 3),
        "summary": notes,
        "training": {
            "data": s.get("data"), "images": s.get("images"), "steps": s["steps"], "batch": s.get("batch"),
            "crop": s.get("crop"), "device": s.get("device"), "devices": s.get("devices", 1),
            "wall_minutes": round((s.get("wall_seconds") or 0) / 60, 1), "loop": s["loop"],
            "exported_on": platform.machine(),
            "aux_loss": None if aux_loss is None else round(aux_loss, 3),
            **({"init_from": s["init_from"]} if s.get("init_from") else {}),
        },
    }
    return save_checkpoint(model, card, name, folder)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("name")
    ap.add_argument("--folder", type=Path, default=CHECKPOINT_DIR)
    ap.add_argument("--notes", default="", help="one-line summary for the model card")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_arguments(ap)
    a = ap.parse_args(argv)
    print(export(a.checkpoint, a.name, a.folder, a.notes).hex())


if __name__ == "__main__":
    main()
