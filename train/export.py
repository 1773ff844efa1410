"""``ncodec export CKPT NAME``: a training checkpoint of any trainable codec becomes a shipped one.

The LightningModule that wrote a checkpoint reads it (``training_state``) and freezes the model
for shipping (``finalise``: CompressAI-style image codecs solve their CDF tables from the
weights); large float tensors are stored in fp16 and the model card records config, data, steps,
device, wall time. Accepts the Lightning checkpoints of every codec ``ncodec train`` trains.
Nothing is written unless all of it succeeds.
"""
from __future__ import annotations

import argparse
import platform
from pathlib import Path

from ncodec.codecs.checkpoint import CHECKPOINT_DIR, create_model, save_checkpoint
from ncodec.errors import InputError


# Training checkpoints written before the module recorded its class (``ncodec.module``): the
# class is recognised by its hyper-parameters.
_LEGACY_MODULES = (("codec", "ncodec.train.module.CodecModule"),
                   ("block_len", "ncodec.train.pointcloud.LidarModule"))


def _module_class(state: dict) -> type:
    """The LightningModule class that wrote a Lightning checkpoint: it knows how to read it."""
    import importlib

    hp = state["hyper_parameters"]
    path = state.get("ncodec", {}).get("module") or hp.get("_class_path")
    if path is None:
        path = next((cls for key, cls in _LEGACY_MODULES if key in hp), None)
    if path is None:
        raise InputError("the checkpoint does not say which training module wrote it")
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise InputError(f"the checkpoint was written by {path}, which this ncodec does not have") from None


def read_training_state(path: Path) -> dict:
    """Any trainable codec's training checkpoint, normalised to: codec, config, weights and the
    card's ``training`` provenance (``steps``, ``device``, ``wall_seconds``, ...)."""
    import torch  # not at import time: `ncodec --help` builds this command's parser

    if not Path(path).is_file():
        raise InputError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unreadable file is bad input here
        raise InputError(f"cannot read checkpoint {path}: {type(e).__name__}") from None
    if isinstance(state, dict) and "hyper_parameters" in state:  # Lightning (ncodec train)
        module = _module_class(state)
        return {"finalise": getattr(module, "finalise", _no_finalising), **module.training_state(state)}
    raise InputError(f"{path} is not an ncodec training checkpoint")


def _no_finalising(model) -> dict:
    model.eval()
    return {}


def export(state_path: Path, name: str, folder: Path = CHECKPOINT_DIR, notes: str = "",
           measured: dict | None = None) -> bytes:
    """A training checkpoint of any trainable codec -> ``<folder>/<name>.pt`` + model card."""
    s = read_training_state(state_path)
    model = create_model(s["codec"], pretrained=False, **s["config"])
    model.load_state_dict(s["weights"], strict=False)
    extra = s["finalise"](model)  # the training module knows how its models freeze for shipping
    training = {k: s[k] for k in ("data", "images", "steps", "batch", "crop", "device") if s.get(k) is not None}
    training.update(devices=s.get("devices", 1), wall_minutes=round((s.get("wall_seconds") or 0) / 60, 1),
                    loop=s["loop"], exported_on=platform.machine())
    training.update(s.get("training", {}))
    training.update(extra.pop("training", {}))
    if s.get("init_from"):
        training["init_from"] = s["init_from"]
    card = {"config": model.config, **extra, **(s.get("card") or {}), "summary": notes or s.get("summary") or "", "training": training}
    if measured:
        card["measured"] = measured
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
