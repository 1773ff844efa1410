"""The samples of an evaluation: the files of a folder that the evaluated modality recognises and
can read (:meth:`~ncodec.codecs.modality.Modality.eval_read`: images as RGB 8-bit, point clouds as
clouds), each with a content hash and the count its rate is per (pixels, points).

Files it does not recognise or cannot read are skipped and counted, never fatal; a folder with no
usable sample is the user's error.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ncodec.errors import InputError


@dataclass(frozen=True)
class EvalSample:
    name: str       # path relative to the data set's folder
    path: Path
    hash: str       # the modality's content hash (images: SHA-256 of the RGB pixels and their shape)
    count: int      # what the rate is per: pixels, points


def discover(folder: Path, modality, limit: int = 0) -> tuple[list[EvalSample], list[tuple[str, str]]]:
    """Samples of ``folder`` (sorted by name; sub-folders when the modality looks there) and the
    skipped files with reasons."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"dataset folder not found: {folder}")
    samples, skipped = [], []
    unit = modality.eval_unit
    for path in modality.eval_inputs(folder):
        name = path.relative_to(folder).as_posix()
        if not modality.recognises(path):
            skipped.append((name, f"not {modality.describe_noun()} file"))
            continue
        try:
            original = modality.eval_read(path)
        except InputError as e:
            skipped.append((name, str(e).replace(str(path), "").strip(": ") or "unreadable"))
            continue
        samples.append(EvalSample(name, path, modality.eval_hash(original), modality.eval_count(original)))
        if limit and len(samples) == limit:
            break
    if not samples:
        extra = f" ({len(skipped)} other files skipped)" if skipped else ""
        raise InputError(f"no usable {unit}s in {folder}{extra}")
    return samples, skipped
