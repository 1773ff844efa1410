"""Every codec name ``ncodec eval --codecs`` understands, and the object behind each.

Three kinds: shipped learned checkpoints (``ncodec list``), baselines (``eval.baselines``'s
registry) and published reference curves (``eval.reference``: ``vtm-ref`` ...). Each belongs to one
modality (a checkpoint's codec, a baseline's ``modality``; the published curves are Kodak images);
``<codec>-<variant>`` is a codec on a variant of the data its modality offers
(``Modality.eval_variants``: point clouds ``lidar-xyz``, ``laszip-xyz``). ``all`` means every shipped
checkpoint (but those kept only for older files) and every baseline of the evaluated modality.
"""
from __future__ import annotations

from pathlib import Path

from ncodec.errors import InputError
from ncodec.eval import reference
from ncodec.eval.baselines import baseline_modality, baseline_names, get_baseline
from ncodec.eval.learned import LearnedCodec, learned_modalities


def _split(name: str) -> tuple[str, str | None]:
    """(base codec, variant) of ``name`` when it is ``<codec>-<variant>`` of a variant its modality offers."""
    from ncodec.codecs.registry import get_modality

    if name in learned_modalities() or name in baseline_names():
        return name, None
    base, _, variant = name.rpartition("-")
    modality = learned_modalities().get(base) or (baseline_modality(base) if base in baseline_names() else None)
    if modality and variant in get_modality(modality).eval_variants:
        return base, variant
    return name, None


def valid_names() -> list[str]:
    return list(learned_modalities()) + baseline_names() + reference.reference_names()


def kind_of(name: str) -> str:
    base, _ = _split(name)
    if base in learned_modalities():
        return "learned"
    if base in baseline_names():
        return "baseline"
    if reference.is_reference(name) and name in reference.reference_names():
        return "reference"
    raise InputError(f"unknown codec {name!r} (valid: {', '.join(valid_names())}, or all)")


def modality_of(name: str) -> str:
    kind, (base, _) = kind_of(name), _split(name)
    if kind == "learned":
        return learned_modalities()[base]
    if kind == "baseline":
        return baseline_modality(base)
    return reference.MODALITY


def _items(spec: str) -> list[str]:
    return [s.strip() for s in spec.split(",") if s.strip()]


def choose_modality(spec: str, anchors: str | None, folder: Path) -> str:
    """The modality of an evaluation: the one the named codecs belong to (they must agree), else
    (``all`` only) the one that recognises most files in ``folder``."""
    from ncodec.codecs.registry import all_modalities

    named = [n for n in _items(spec) + _items(anchors or "") if n != "all"]
    kinds = {n: modality_of(n) for n in named}
    found = sorted(set(kinds.values()))
    if len(found) > 1:
        listing = "; ".join(f"{m}: {', '.join(n for n, k in kinds.items() if k == m)}" for m in found)
        raise InputError(f"codecs of different modalities cannot be evaluated together ({listing})")
    if found:
        return found[0]
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"dataset folder not found: {folder}")
    counts = {m.name: sum(m.recognises(p) for p in m.eval_inputs(folder)) for m in all_modalities()}
    best = max(counts, key=counts.get) if counts else None
    if not best or not counts[best]:
        raise InputError(f"no usable samples in {folder} (nothing any modality recognises)")
    return best


def _superseded() -> set[str]:
    """Checkpoints kept installed only so that older files decode (their card's ``superseded_by``):
    named explicitly they are evaluated, ``all`` leaves them out."""
    from ncodec.codecs.checkpoint import list_cards

    return {c["name"] for c in list_cards() if c.get("superseded_by")}


def parse_codecs(spec: str, modality: str) -> list[str]:
    """Comma-separated names, ``all`` expanded (the modality's checkpoints and baselines),
    duplicates dropped, each checked."""
    names: list[str] = []
    for item in _items(spec):
        expanded = ([n for n, m in learned_modalities().items() if m == modality and n not in _superseded()]
                    + baseline_names(modality)) if item == "all" else [item]
        for name in expanded:
            kind_of(name)
            if name not in names:
                names.append(name)
    if not names:
        raise InputError("no codecs given (--codecs A,B,...)")
    return names


def make_codec(name: str, vtm_dir=None, device: str = "cpu", tmc3: str | None = None):
    """The evaluable object (learned or baseline) for ``name``."""
    base, variant = _split(name)
    if kind_of(name) == "learned":
        codec = LearnedCodec(base, device)
    else:
        codec = get_baseline(base, vtm_dir=vtm_dir, tmc3=tmc3)
    if variant:
        from ncodec.codecs.registry import get_modality

        codec.name, codec.variant = name, variant  # a learned codec keeps its checkpoint name
        codec.description += f"; {get_modality(codec.modality).eval_variants[variant]}"
    return codec
