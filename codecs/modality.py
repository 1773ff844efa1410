"""A modality (image, video, point cloud, ...) is one registered object living beside its codecs.

It says which inputs it takes and how they are read and written, what its part of a container's
payload means, what its rate is per (pixels, points), which command-line options it adds, and how
one encoding is summed up in a line. ``api.py``, ``cli.py``, the container and ``ncodec eval`` use
only this interface and name no modality; a new modality adds a folder under ``codecs/`` with a
``modality.py`` and registers itself (:func:`ncodec.codecs.registry.register_modality`).

The codec contract every modality's codecs follow (the modality calls it, nothing else does):

* ``codec.compress(x, **rate) -> {"strings": [bytes, ...], "payload": bytes, "x_hat": ...}``
* ``codec.decompress(strings, payload, **rate) -> {"x_hat": ...}``

``rate`` is the codec's own rate parameter by name (``codec.rate_parameter``: ``quality`` for
images, ``precision`` for point clouds), which the container header records (f32) and decoding
passes back. ``payload`` is the codec's own description; the modality may append its own part.

Modality modules must stay light at import (no torch): ``ncodec --help``, ``info`` and ``list``
load them all.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ncodec.errors import InputError


@dataclass(frozen=True)
class Option:
    """One command-line option of a modality: ``flags`` and ``argparse`` keyword arguments.
    ``stages``: the commands it belongs to (``encode``, ``decode``, ``eval``). Options of different
    modalities may share a flag (``--quality``); the first declaration's help is shown."""

    flags: tuple[str, ...]
    kwargs: dict = field(default_factory=dict)
    stages: tuple[str, ...] = ("encode",)

    @property
    def dest(self) -> str:
        return self.kwargs.get("dest") or self.flags[0].lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class Example:
    """A small input a modality makes by itself (tests, the fuzz tool): the file, the encode
    options to use, the codecs it suits (None: all of the modality's) and a decoded-output name."""

    path: Path
    options: dict = field(default_factory=dict)
    codecs: tuple[str, ...] | None = None
    output_suffix: str = ""


@dataclass
class Encoded:
    """What a modality's ``encode`` returns: the container, the encoder's reconstruction (what
    decoding will give back, bit for bit) and report fields of its own (PSNR, sizes, ...)."""

    container: Any
    x_hat: Any
    fields: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Metric:
    """One measure of ``ncodec eval``: ``name`` (``--metric`` of BD-rate, plot file
    ``rd-<name>.png``), ``key`` in records and results files, ``label`` for plots and reports.
    ``curve``: a quality axis (RD plots, BD-rate; higher is better); else only reported.
    ``db``: plotted as ``-10 log10(1 - value)`` (MS-SSIM)."""

    name: str
    key: str
    label: str
    curve: bool = True
    db: bool = False


class Modality:
    name: ClassVar[str]
    code: ClassVar[int]  # the container's modality byte; a new modality takes a free one
    suffixes: ClassVar[tuple[str, ...]] = ()
    default_codec: ClassVar[str | None] = None
    rate_key: ClassVar[str] = "bpp"  # report/info field of the rate
    count_key: ClassVar[str] = "pixels"  # what the rate is per (a field of describe())
    rate_parameter: ClassVar[str] = "quality"  # what the header's f32 holds for this modality's codecs
    options: ClassVar[tuple[Option, ...]] = ()
    # Its codecs: defining module -> the names it registers (``ncodec list`` reads these without
    # importing the codecs; ``get_codec`` imports only the module it needs).
    codecs: ClassVar[dict[str, tuple[str, ...]]] = {}
    noun: ClassVar[str] = ""  # "an image", for messages; default: "a <name>"

    # -- inputs and outputs -----------------------------------------------------------------------
    def recognises(self, path: Path) -> bool:
        """Whether ``path`` (an input, or an output name) is of this modality; by suffix unless
        the modality knows better (folders of frames, raw files that need options)."""
        return Path(path).suffix.lower() in self.suffixes

    def read(self, path: Path, **options) -> Any:
        raise NotImplementedError

    def check_writable(self, path: Path, description: dict, **options) -> None:
        """Refuse (InputError) an output name that cannot hold what ``description`` decodes to."""

    def write(self, tmp: Path, sample: Any, target: Path, **options) -> None:
        """Write ``sample`` to ``tmp`` in the format ``target``'s name asks for (``tmp`` is then
        moved onto ``target`` atomically)."""
        raise NotImplementedError

    # -- containers -------------------------------------------------------------------------------
    def encode(self, codec, sample: Any, device: str, **options) -> Encoded:
        raise NotImplementedError

    def describe(self, container) -> dict:
        """Validated header fields (must include ``count_key``); never loads a model."""
        raise NotImplementedError

    def decode(self, codec, container, device: str, **options) -> tuple[Any, Any]:
        """``(sample, x_hat)``: what ``write`` takes, and the codec's reconstruction."""
        raise NotImplementedError

    def summary(self, report: dict) -> str:
        """One line for ``ncodec encode`` (report: bytes, rate, seconds, the modality's fields)."""
        return (f"{report['output']}: {report['bytes']} bytes, {report[self.rate_key]:.4f} {self.rate_key} "
                f"({report['codec']}, {report['seconds']:.2f} s)")

    # -- evaluation (``ncodec eval``) -------------------------------------------------------------
    # The runner (:mod:`ncodec.eval.runner`) asks the modality for everything that depends on the
    # data. With these defaults a modality that defines nothing here is evaluated with its own
    # learned codecs: every file it recognises in the folder is a sample, read with ``read``, coded
    # through ``encode`` / ``decode`` at its checkpoints' rate-parameter range, and compared by the
    # generic metric it declares (PSNR over the samples' arrays).
    eval_unit: ClassVar[str] = "sample"  # one item of a data set ("image", "frame"): record/report key
    eval_recursive: ClassVar[bool] = False  # look for samples in sub-folders too
    eval_metrics: ClassVar[tuple[Metric, ...]] = (Metric("psnr", "psnr", "PSNR (dB)"),)
    eval_rate_label: ClassVar[str] = ""  # the RD plots' x axis (default: the rate key)
    eval_variants: ClassVar[dict[str, str]] = {}  # "<codec>-<variant>": what the variant leaves out

    def eval_inputs(self, folder: Path) -> list[Path]:
        """Every file of ``folder`` (sorted; sub-folders too when ``eval_recursive``)."""
        folder = Path(folder)
        files = folder.rglob("*") if self.eval_recursive else folder.iterdir()
        return sorted(p for p in files if p.is_file())

    def eval_read(self, path: Path) -> Any:
        """The original as the evaluation compares it (InputError: the file is skipped)."""
        return self.read(path)

    def eval_variant(self, original: Any, variant: str) -> Any:
        """The original with what ``variant`` (a key of ``eval_variants``) leaves out removed."""
        raise InputError(f"{self.name} has no evaluation variant {variant!r}")

    def eval_count(self, original: Any) -> int:
        """What the rate is per (pixels, points) for one original."""
        import numpy as np

        return int(np.asarray(original).size)

    def eval_hash(self, original: Any) -> str:
        """Content hash of an original (the result cache's key)."""
        import hashlib

        import numpy as np

        a = np.asarray(original)
        h = hashlib.sha256(f"{a.shape}|{a.dtype}|".encode())
        h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:16]

    def eval_settings(self, card: dict, points: int = 0) -> list[float]:
        """The rate-parameter sweep of a learned checkpoint (its model card): its discrete
        ``qualities`` (a codec without weights: its ``rate_values``), else ``points`` (default 6)
        evenly spaced over its ``quality_range``."""
        import numpy as np

        if card.get("qualities"):
            return [float(np.float32(q)) for q in card["qualities"]]
        if "quality_range" not in card:
            raise InputError(f"{card.get('codec', 'this codec')} states no rate values to evaluate "
                             "(a card's quality_range or qualities, or the codec's rate_values)")
        lo, hi = card["quality_range"]
        return [float(np.float32(q)) for q in np.round(np.linspace(lo, hi, points or 6), 3)]

    def eval_encode(self, codec, original: Any, setting: float, device: str) -> Encoded:
        """Encode one original at one setting of the rate parameter (what ``ncodec encode`` does)."""
        return self.encode(codec, original, device, **{self.rate_parameter: setting})

    def eval_decode(self, codec, container, device: str) -> Any:
        """The decoded sample, as ``eval_measure`` compares it with the original."""
        return self.decode(codec, container, device)[0]

    def eval_estimate(self, codec, original: Any, setting: float, device: str) -> dict:
        """Extra figures of a learned codec for one encode (e.g. its own rate estimate)."""
        return {}

    def eval_measure(self, original: Any, decoded: Any, x_hat: Any = None) -> dict:
        """Every metric of ``eval_metrics`` (by key) for one decoded sample; ``x_hat``: the
        encoder's reconstruction when a learned codec made the file, else None."""
        import numpy as np

        from ncodec.distortion import psnr

        a, b = np.asarray(original), np.asarray(decoded)
        if a.shape != b.shape:
            raise RuntimeError(f"decoded shape {b.shape} differs from the original's {a.shape}")
        peak = float(np.iinfo(a.dtype).max) if a.dtype.kind in "ui" else float(np.abs(a).max() or 1.0)
        return {"psnr": psnr(a, b, peak)}

    def eval_cell(self, record: dict) -> str:
        """One record in the report's per-sample table."""
        return f"{record[self.rate_key]:.3f}"

    def examples(self, folder: Path) -> list[Example]:
        """Write a few small inputs of this modality into ``folder`` (no data files needed): the
        fuzz tool's seeds. A modality without examples is not fuzzed."""
        return []

    # -- helpers ----------------------------------------------------------------------------------
    def describe_noun(self) -> str:
        return self.noun or f"a {self.name}"

    def option_names(self, stage: str) -> set[str]:
        return {o.dest for o in self.options if stage in o.stages}

    def check_options(self, stage: str, options: dict) -> dict:
        """The options given (not None) that belong to this modality at ``stage``; any other given
        option is an InputError that names it."""
        given = {k: v for k, v in options.items() if v is not None}
        own = self.option_names(stage)
        for key in given:
            if key not in own:
                flag = "--" + key.replace("_", "-")
                raise InputError(f"{flag} does not apply to {self.name} {stage} (input is {self.describe_noun()})")
        return given


def add_options(parser: argparse.ArgumentParser, modalities: list[Modality], stage: str) -> None:
    """Add every modality's options for ``stage`` to ``parser`` (each flag once)."""
    seen: set[str] = set()
    for modality in modalities:
        for option in modality.options:
            if stage in option.stages and not (set(option.flags) & seen):
                kwargs = dict(option.kwargs)
                kwargs.setdefault("default", None)
                parser.add_argument(*option.flags, **kwargs)
                seen.update(option.flags)
