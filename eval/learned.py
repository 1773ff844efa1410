"""A shipped learned checkpoint as an evaluation codec, through the real file path: its modality
encodes the original into an ncodec container (as ``ncodec encode`` does), written to a file whose
size is the rate, then the file is read back, unpacked and decoded (as ``ncodec decode`` does)."""
from __future__ import annotations

import json
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version as package_version
from pathlib import Path

from ncodec.codecs.checkpoint import CHECKPOINT_DIR, card_path, list_cards
from ncodec.eval.baselines.base import Baseline, thin


def learned_modalities(folder: Path = CHECKPOINT_DIR) -> dict[str, str]:
    """Shipped checkpoints (what ``ncodec list`` shows), and registered codecs without weights that
    have no card (plug-ins): name -> modality."""
    import sys

    from ncodec.codecs.registry import declared, get_codec, modality_of_codec

    names = {}
    for card in list_cards(folder):
        try:
            names[card["name"]] = modality_of_codec(card["codec"])
        except Exception:  # noqa: BLE001 - a card of a codec this build lacks is not evaluable
            continue
    coded = {card.get("codec") for card in list_cards(folder)}
    for name, (modality, module) in declared().items():
        if name not in names and name not in coded and module in sys.modules:  # never imports a codec
            if getattr(get_codec(name).factory, "weightless", False):
                names[name] = modality
    return names


def learned_names(folder: Path = CHECKPOINT_DIR, modality: str | None = None) -> list[str]:
    return [n for n, m in learned_modalities(folder).items() if modality in (None, m)]


@lru_cache(maxsize=1)
def code_digest() -> str:
    """sha256 of the sources a learned codec's files and pixels come from (``codecs/``,
    ``entropy/``): the result cache keys on it, so a changed encoder or decoder is measured again
    rather than read back from results of the old code."""
    import hashlib

    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for folder in ("codecs", "entropy"):
        for path in sorted((root / folder).rglob("*.py")):
            h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


def ncodec_version() -> str:
    try:
        return package_version("ncodec")
    except PackageNotFoundError:
        return "unknown"


class LearnedCodec(Baseline):
    kind = "learned"

    def __init__(self, name: str, device: str = "cpu"):
        from ncodec.codecs.registry import get_modality

        self.name = self.checkpoint = name
        self.device = device
        path = card_path(name)
        if path.is_file():
            self.card = json.loads(path.read_text())
        else:  # a codec without weights: its class states what a card would (rate_values: the sweep)
            from ncodec.codecs.registry import get_codec

            entry = get_codec(name)
            self.card = {"codec": name, "summary": entry.description or name, "model_id": "weightless",
                         "qualities": list(getattr(entry.factory, "rate_values", ()))}
        self.modality = learned_modalities()[name]
        self._modality = get_modality(self.modality)
        self.setting_name = self._modality.rate_parameter
        self.label_prefix = self.setting_name[0]  # q1.5 (quality), p0.001 (precision)
        self.description = f"ncodec {name} ({self.card.get('summary', self.card['codec'])})"
        self.model = None
        self._last = None

    def version(self) -> str:
        """Package version, the card's model id, a hash of the weights file (a replaced file shows),
        one of the card's config (encoder-only settings such as an RDO lambda change the files
        but not the model id) and one of the codec sources (:func:`code_digest`); the result
        cache keys on this string."""
        import hashlib

        pt = card_path(self.checkpoint).with_suffix(".pt")
        weights = hashlib.sha256(pt.read_bytes()).hexdigest()[:12] if pt.is_file() else "none"
        config = hashlib.sha256(json.dumps(self.card.get("config", {}), sort_keys=True).encode()).hexdigest()[:12]
        return (f"ncodec {ncodec_version()}, {self.checkpoint} model {self.card.get('model_id', 'unknown')}, "
                f"weights sha256 {weights}, config sha256 {config}, code sha256 {code_digest()}")

    def settings(self) -> list[float]:
        return self._modality.eval_settings(self.card)

    def sweep(self, points: int = 0) -> list[float]:
        """A continuous quality range is sampled at ``points`` qualities (more or fewer than the
        default sweep: a finer sweep for BD-rates of continuous-rate codecs); discrete rate values
        are thinned as a baseline's settings are."""
        return thin(self._modality.eval_settings(self.card, points), points)

    def command(self, setting: float) -> str:
        command = (f"ncodec encode IN OUT.ncd --codec {self.checkpoint} --{self.setting_name.replace('_', '-')} "
                   f"{setting:g} --device {self.device}")
        return command + (f" (input: its {self.variant} variant)" if self.variant else "")

    def prepare(self) -> None:
        if self.model is None:
            from ncodec.codecs.checkpoint import load_codec

            self.model = load_codec(self.checkpoint, self.modality, self.device)

    def encode(self, original, setting: float, tmpdir: Path) -> Path:
        self.prepare()
        encoded = self._modality.eval_encode(self.model, original, setting, self.device)
        path = Path(tmpdir) / f"{self.name}-{self.label(setting)}.ncd"
        path.write_bytes(encoded.container.pack())
        self._last = (original, setting, encoded.x_hat)
        return path

    def measures(self) -> dict:
        original, setting, _ = self._last
        return self._modality.eval_estimate(self.model, original, setting, self.device)

    def encoder_output(self):
        return self._last[2] if self._last else None

    def decode(self, path: Path):
        from ncodec.entropy.container import unpack

        self.prepare()
        container = unpack(Path(path).read_bytes())
        if container.model_id != self.model.model_id:
            raise RuntimeError(f"{path} was written by model {container.model_id.hex()}, not {self.checkpoint}")
        return self._modality.eval_decode(self.model, container, self.device)
