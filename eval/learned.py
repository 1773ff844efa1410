"""A shipped learned checkpoint as an evaluation codec, through the real file path: the model's
``compress`` + the ncodec container written to a file, whose size is the rate, then the file read
back, unpacked and decoded (``codecs.image.modality``), exactly as ``ncodec encode/decode`` do."""
from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version as package_version
from pathlib import Path

import numpy as np

from ncodec.codecs.checkpoint import CHECKPOINT_DIR, card_path, list_cards
from ncodec.eval.baselines.base import Baseline

DEFAULT_POINTS = 6


def learned_names(folder: Path = CHECKPOINT_DIR) -> list[str]:
    """Shipped image checkpoints (what ``ncodec list`` shows)."""
    from ncodec.codecs import get_codec

    names = []
    for card in list_cards(folder):
        try:
            if get_codec(card["codec"]).modality == "image":
                names.append(card["name"])
        except Exception:  # noqa: BLE001 - a card of a codec this build lacks is not evaluable
            continue
    return names


def ncodec_version() -> str:
    try:
        return package_version("ncodec")
    except PackageNotFoundError:
        return "unknown"


class LearnedCodec(Baseline):
    kind = "learned"
    setting_name, label_prefix = "quality", "q"

    def __init__(self, name: str, device: str = "cpu"):
        self.name, self.device = name, device
        self.card = json.loads(card_path(name).read_text())
        self.description = f"ncodec {name} ({self.card.get('summary', self.card['codec'])})"
        self.model = None

    def version(self) -> str:
        """Package version, the card's model id and a hash of the weights file (a replaced file shows)."""
        import hashlib

        weights = hashlib.sha256(card_path(self.name).with_suffix(".pt").read_bytes()).hexdigest()[:12]
        return (f"ncodec {ncodec_version()}, {self.name} model {self.card.get('model_id', 'unknown')}, "
                f"weights sha256 {weights}")

    def settings(self) -> list[float]:
        if self.card.get("qualities"):  # discrete levels (imported CompressAI models): each once
            return [float(np.float32(q)) for q in self.card["qualities"]]
        lo, hi = self.card["quality_range"]
        return [float(np.float32(q)) for q in np.round(np.linspace(lo, hi, DEFAULT_POINTS), 3)]

    def command(self, setting: float) -> str:
        return f"ncodec encode IN OUT.ncd --codec {self.name} --quality {setting:g} --device {self.device}"

    def prepare(self) -> None:
        if self.model is None:
            from ncodec.codecs.checkpoint import load_codec

            self.model = load_codec(self.name, "image", self.device)

    def encode(self, img: np.ndarray, setting: float, tmpdir: Path) -> Path:
        from ncodec.codecs.image.modality import encode_picture
        from ncodec.media.image import Picture

        self.prepare()
        container, _ = encode_picture(self.model, Picture(np.ascontiguousarray(img)), float(np.float32(setting)),
                                      self.device)
        path = Path(tmpdir) / f"{self.name}-{self.label(setting)}.ncd"
        path.write_bytes(container.pack())
        self._last = (img, float(np.float32(setting)))
        return path

    def measures(self) -> dict:
        """The model's own rate estimate (sum of -log2 likelihoods) for the last encoded image, to
        compare with the file: real / estimated bits shows what the range coder and header cost."""
        import torch

        from ncodec.codecs.image.base import pad_to
        from ncodec.entropy.rate import bits

        img, quality = self._last
        x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float().div(255).to(self.device)
        with torch.no_grad():
            out = self.model(pad_to(x, self.model.stride), quality)
        return {"bits_estimated": float(bits(out["likelihoods"]).sum())}

    def decode(self, path: Path) -> np.ndarray:
        from ncodec.codecs.image.modality import decode_container
        from ncodec.entropy.container import unpack

        self.prepare()
        container = unpack(Path(path).read_bytes())
        if container.model_id != self.model.model_id:
            raise RuntimeError(f"{path} was written by model {container.model_id.hex()}, not {self.name}")
        picture, _ = decode_container(self.model, container)
        return picture.pixels
