"""Every codec name ``ncodec eval --codecs`` understands, and the object behind each.

Three kinds: shipped learned checkpoints (``ncodec list``), baselines (``eval.baselines``'s
registry) and published reference curves (``eval.reference``: ``vtm-ref`` ...). ``all`` means every
shipped checkpoint and every baseline.
"""
from __future__ import annotations

from ncodec.errors import InputError
from ncodec.eval import reference
from ncodec.eval.baselines import baseline_names, get_baseline
from ncodec.eval.learned import LearnedCodec, learned_names


def valid_names() -> list[str]:
    return learned_names() + baseline_names() + reference.reference_names()


def kind_of(name: str) -> str:
    if name in learned_names():
        return "learned"
    if name in baseline_names():
        return "baseline"
    if reference.is_reference(name) and name in reference.reference_names():
        return "reference"
    raise InputError(f"unknown codec {name!r} (valid: {', '.join(valid_names())}, or all)")


def parse_codecs(spec: str) -> list[str]:
    """Comma-separated names, ``all`` expanded, duplicates dropped, each checked."""
    names: list[str] = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        expanded = learned_names() + baseline_names() if item == "all" else [item]
        for name in expanded:
            kind_of(name)
            if name not in names:
                names.append(name)
    if not names:
        raise InputError("no codecs given (--codecs A,B,...)")
    return names


def make_codec(name: str, vtm_dir=None, device: str = "cpu"):
    """The evaluable object (learned or baseline) for ``name``."""
    if kind_of(name) == "learned":
        return LearnedCodec(name, device)
    return get_baseline(name, vtm_dir=vtm_dir)
