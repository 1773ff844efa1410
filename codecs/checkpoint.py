"""Shipped checkpoints: one ``checkpoints/<name>.pt`` (weights) + ``<name>.json`` (model card).

A checkpoint's *name* is what ``--codec`` takes (the shipped model of a codec carries the codec's
registry name); its card records the registered codec it instantiates. Decoding finds the
checkpoint by the file's model id, so several checkpoints of one codec can coexist.

Float tensors with more than 4096 elements are stored in fp16; small ones (entropy-bottleneck
quantiles, scale tables) and integer CDF tables keep their type. Encoder and decoder both run
the loaded (fp16-rounded) weights, so storage precision never breaks a round trip.
The *model id* in every file is a hash of exactly those loaded tensors.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ncodec.codecs.registry import get_codec, get_modality
from ncodec.errors import InputError

if TYPE_CHECKING:  # torch is imported where weights are read: listing cards must stay cheap
    import torch
    from torch import nn

CHECKPOINT_DIR = Path(__file__).resolve().parents[1] / "checkpoints"
_FP16_MIN_ELEMENTS = 4096


def default_codec(modality: str) -> str | None:
    """The shipped model a modality uses when no ``--codec`` is given (the modality says)."""
    return get_modality(modality).default_codec


def model_id(state_dict: dict[str, torch.Tensor]) -> bytes:
    """8-byte id: SHA-256 over names, dtypes, shapes and bytes of every tensor (CDF tables too)."""
    h = hashlib.sha256()
    for key in sorted(state_dict):
        t = state_dict[key].detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes())
    return h.digest()[:8]


def card_path(name: str, folder: Path = CHECKPOINT_DIR) -> Path:
    return Path(folder) / f"{name}.json"


def set_card_field(name: str, key: str, value, folder: Path = CHECKPOINT_DIR) -> Path:
    """Store measured figures under ``key`` in a shipped model's card (atomic rewrite)."""
    from ncodec.media.atomic import write_bytes_atomic

    path = card_path(name, folder)
    card = json.loads(path.read_text())
    card[key] = value
    write_bytes_atomic(path, (json.dumps(card, indent=2) + "\n").encode(), force=True)
    return path


def list_cards(folder: Path = CHECKPOINT_DIR) -> list[dict]:
    cards = []
    for path in sorted(Path(folder).glob("*.json")):
        card = json.loads(path.read_text())
        card["name"], card["checkpoint"] = path.stem, str(path.with_suffix(".pt"))
        cards.append(card)
    return cards


def find_checkpoint(codec: str, wanted_id: bytes, folder: Path = CHECKPOINT_DIR) -> str:
    """Name of the installed checkpoint of ``codec`` whose model id is ``wanted_id``; a codec
    without weights (its default construction has that id) is found by its own name."""
    cards = [c for c in list_cards(folder) if c.get("codec") == codec]
    for card in cards:
        if card.get("model_id") == wanted_id.hex():
            return card["name"]
    if not cards and getattr(get_codec(codec).factory, "weightless", False):
        if create_model(codec, pretrained=False).model_id == wanted_id:
            return codec
    installed = ", ".join(f"{c['name']} ({c.get('model_id')})" for c in cards) or "none"
    raise InputError(f"file was encoded with {codec} model {wanted_id.hex()}, which is not installed "
                     f"(installed {codec} checkpoints: {installed})")


def create_model(name: str, pretrained: bool = True, folder: Path = CHECKPOINT_DIR, **config) -> nn.Module:
    """The one way to make a model (timm's shape): ``pretrained=True`` loads the shipped checkpoint
    ``name`` (a checkpoint name, see ``ncodec list``); ``pretrained=False`` builds the registered
    codec ``name`` from ``config`` (its defaults otherwise), untrained, for training or a warm start.
    Either way ``.model_id`` and ``.card`` are set."""
    if pretrained:
        return load_codec(name, get_codec(_card_codec(name, folder)).modality, folder=folder)
    entry = get_codec(name)
    model = entry.factory(**config)
    if hasattr(model, "eval"):
        model.eval()
    model.model_id = model_id(model.state_dict()) if hasattr(model, "state_dict") else model_id({})
    model.card = {"codec": name, "config": config}
    return model


def _card_codec(name: str, folder: Path) -> str:
    card_file = card_path(name, folder)
    if not card_file.is_file():
        valid = ", ".join(c["name"] for c in list_cards(folder)) or "none"
        raise InputError(f"no checkpoint named {name!r} (installed: {valid})")
    return json.loads(card_file.read_text())["codec"]


def load_codec(name: str | None = None, modality: str = "image", device: str = "cpu",
               folder: Path = CHECKPOINT_DIR) -> nn.Module:
    """Load the checkpoint ``name`` (default: the modality's); sets ``.model_id`` and ``.card``.
    A registered codec without weights (``weightless``) that has no card is built as is."""
    name = name or default_codec(modality)
    card_file = card_path(name, folder)
    if not card_file.is_file() and _weightless(name, modality):
        return create_model(name, pretrained=False)
    if not card_file.is_file():
        valid = ", ".join(c["name"] for c in list_cards(folder)) or "none"
        raise InputError(f"no checkpoint named {name!r} (installed: {valid})")
    card = json.loads(card_file.read_text())
    entry = get_codec(card["codec"])
    if entry.modality != modality:
        raise InputError(f"checkpoint {name!r} codes {entry.modality} data, not {modality}")
    import torch

    state = torch.load(card_file.with_suffix(".pt"), map_location="cpu", weights_only=True)
    model = entry.factory(**card["config"])
    state = {k: v.to(model.state_dict()[k].dtype) if k in model.state_dict() else v for k, v in state.items()}
    model.load_state_dict(state)
    model.model_id = model_id(model.state_dict())
    model.card = card
    return model.to(device).eval()


def _weightless(name: str, modality: str) -> bool:
    from ncodec.codecs.registry import declared

    if name not in declared():
        return False
    entry = get_codec(name)
    return entry.modality == modality and getattr(entry.factory, "weightless", False)


def save_checkpoint(model: nn.Module, card: dict, name: str, folder: Path = CHECKPOINT_DIR) -> bytes:
    """Write ``<name>.pt`` and ``<name>.json`` (each atomically); returns the model id it loads with."""
    import torch

    state = {}
    for key, t in model.state_dict().items():
        t = t.detach().cpu()
        state[key] = t.half() if t.is_floating_point() and t.numel() > _FP16_MIN_ELEMENTS else t.clone()
    loaded = {k: v.to(model.state_dict()[k].dtype) for k, v in state.items()}
    card = dict(card, codec=model.codec_name, model_id=model_id(loaded).hex())
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pt, js = folder / f"{name}.pt", card_path(name, folder)
    torch.save(state, pt.with_suffix(".pt.tmp"))
    js.with_suffix(".json.tmp").write_text(json.dumps(card, indent=2) + "\n")
    os.replace(pt.with_suffix(".pt.tmp"), pt)
    os.replace(js.with_suffix(".json.tmp"), js)
    return bytes.fromhex(card["model_id"])
