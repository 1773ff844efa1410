"""``ncodec import compressai CKPT [CKPT...] --arch ARCH NAME``: CompressAI checkpoints become one
shipped-style ncodec model (``NAME.pt`` + model card ``NAME.json``).

Accepted files: a plain state dict (what ``torch.save(model.state_dict())`` and CompressAI's zoo
files hold) or the ``{"state_dict": ...}`` dict its example training script saves (a
``module.`` prefix from DataParallel is removed). Each file is loaded into CompressAI's own class
with CompressAI's own loader (strict), its CDF tables are rebuilt with CompressAI's ``update()``
and frozen into the checkpoint; several files (one per quality) become one model whose
``--quality`` picks among them. Weights are stored in fp32 (no fp16 rounding): decoded images stay
within float rounding of CompressAI's own ``decompress()``.

This module is imported by the command line parser: heavy imports stay inside functions.
"""
from __future__ import annotations

import argparse
import hashlib
import re
from pathlib import Path

from ncodec.errors import InputError

FRAMEWORKS = ("compressai",)
_ZOO_NAME = re.compile(r"-(\d)-[0-9a-f]{8}\.pth(\.tar)?$")  # e.g. mbt2018-mean-3-e7c5c6a7.pth.tar


def read_state_dict(path: Path) -> dict:
    """The tensors of a CompressAI checkpoint file (plain or ``{"state_dict": ...}``)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint not found: {path}")
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is bad input
        raise InputError(f"cannot read {path} as a PyTorch checkpoint ({type(e).__name__})") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise InputError(f"{path} holds no state dict (expected tensors, or {{'state_dict': ...}})")
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def load_compressai(state: dict, arch_name: str, source: str = "state dict"):
    """CompressAI's model for ``state`` (strict), tables rebuilt by CompressAI's ``update()``."""
    import torch

    from ncodec.codecs.image.from_compressai.architectures import architecture

    arch = architecture(arch_name)
    N, M = arch.sizes(state, source)
    model = arch.build(N, M)
    try:
        model.load_state_dict(dict(state), strict=True)
    except (RuntimeError, KeyError, ValueError) as e:
        missing = sorted(set(model.state_dict()) - set(state))
        unexpected = sorted(set(state) - set(model.state_dict()))
        detail = (f"missing {', '.join(missing[:3])}" if missing else
                  f"unexpected {', '.join(unexpected[:3])}" if unexpected else str(e).split("\n")[-1].strip()[:160])
        raise InputError(f"{source} does not match {arch_name} (N={N}, M={M}): {detail}") from None
    with torch.no_grad():
        cp = getattr(model, "context_prediction", None)
        if cp is not None:  # store the masked weights: what CompressAI's compress() convolves with
            cp.weight.mul_(cp.mask)
    model.update(force=True)
    return model.eval(), N, M


def _qualities(paths: list[Path], given: list[float] | None) -> list[float]:
    if given is not None:
        if len(given) != len(paths):
            raise InputError(f"--qualities has {len(given)} values for {len(paths)} checkpoints")
        return [float(q) for q in given]
    parsed = [_ZOO_NAME.search(p.name) for p in paths]
    if all(parsed):
        return [float(m.group(1)) for m in parsed]
    return [float(i + 1) for i in range(len(paths))]


def import_compressai(paths: list[Path], arch: str, name: str, folder: Path | None = None,
                      qualities: list[float] | None = None, lambdas: list[float] | None = None,
                      force: bool = False, notes: str = "") -> dict:
    """Import CompressAI checkpoints as the ncodec model ``name`` in ``folder``; returns the card.

    Qualities: ``qualities``, else the digit of zoo file names (``...-3-abcdef12.pth.tar``), else
    1..K in the order given. λ: ``lambdas``, else CompressAI's zoo MSE λ of that quality (marked
    as assumed in the card)."""
    import json
    import os
    import platform

    import compressai
    import torch

    from ncodec.codecs.checkpoint import CHECKPOINT_DIR, card_path, model_id
    from ncodec.codecs.image.from_compressai.architectures import ZOO_MSE_LAMBDAS, architecture
    from ncodec.codecs.image.from_compressai.codec import ImportedCompressAI

    architecture(arch)
    folder = Path(folder or CHECKPOINT_DIR)
    paths = [Path(p) for p in paths]
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise InputError(f"model name {name!r} must be letters, digits, '.', '_' or '-'")
    if not folder.is_dir():
        raise InputError(f"output folder does not exist: {folder}")
    pt, js = folder / f"{name}.pt", card_path(name, folder)
    if (pt.exists() or js.exists()) and not force:
        raise InputError(f"model {name!r} exists in {folder} (use --force to overwrite)")
    qs = _qualities(paths, qualities)
    if len(set(qs)) != len(qs):
        raise InputError(f"two checkpoints have the same quality ({qs}); give --qualities")
    if lambdas is not None and len(lambdas) != len(paths):
        raise InputError(f"--lambdas has {len(lambdas)} values for {len(paths)} checkpoints")

    levels, sizes = [], set()
    for i, path in enumerate(paths):
        model, N, M = load_compressai(read_state_dict(path), arch, str(path))
        sizes.add((N, M))
        lam = lambdas[i] if lambdas is not None else ZOO_MSE_LAMBDAS.get(int(qs[i])) if qs[i].is_integer() else None
        levels.append({"quality": qs[i], "lambda": lam,
                       "lambda_source": "given" if lambdas is not None else ("CompressAI zoo MSE table (assumed)"
                                                                             if lam is not None else None),
                       "file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                       "N": N, "M": M, "_model": model})
    if len(sizes) > 1:
        raise InputError(f"the checkpoints have different sizes {sorted(sizes)}: import them as separate models")
    levels.sort(key=lambda lv: lv["quality"])
    N, M = sizes.pop()
    codec = ImportedCompressAI(arch, N, M, [lv["quality"] for lv in levels])
    with torch.no_grad():
        for i, lv in enumerate(levels):
            codec.levels[i].load_state_dict(lv.pop("_model").state_dict())
    codec.eval()
    state = {k: v.detach().cpu().clone() for k, v in codec.state_dict().items()}
    lo, hi = codec.quality_range
    card = {
        "codec": codec.codec_name,
        "config": codec.config,
        "quality_range": [lo, hi],
        "qualities": codec.qualities,
        "default_quality": codec.qualities[(len(codec.qualities) - 1) // 2],
        "summary": notes or f"imported CompressAI {arch} (N={N}, M={M}), qualities "
                            f"{', '.join(f'{q:g}' for q in codec.qualities)}",
        "source": {"framework": "compressai", "compressai_version": compressai.__version__, "arch": arch,
                   "levels": levels},
        "training": {"device": "CompressAI (imported; steps unknown)", "loop": "CompressAI (imported)",
                     "exported_on": platform.machine()},
        "model_id": model_id(state).hex(),
    }
    tmp_pt, tmp_js = pt.with_suffix(".pt.tmp"), js.with_suffix(".json.tmp")
    try:
        torch.save(state, tmp_pt)
        tmp_js.write_text(json.dumps(card, indent=2) + "\n")
        os.replace(tmp_pt, pt)
        os.replace(tmp_js, js)
    finally:
        tmp_pt.unlink(missing_ok=True)
        tmp_js.unlink(missing_ok=True)
    return card


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """``ncodec import FRAMEWORK ...``: the rest is parsed by :func:`parser` with intermixed
    options, so ``CKPT... --arch ARCH NAME`` and ``CKPT... NAME --arch ARCH`` both work."""
    ap.add_argument("framework", choices=FRAMEWORKS, help="where the checkpoints come from")
    ap.add_argument("args", nargs=argparse.REMAINDER, metavar="CKPT [CKPT...] NAME --arch ARCH ...",
                    help="see `ncodec import compressai --help`")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="ncodec import compressai", description=__doc__.split("\n")[0])
    ap.add_argument("checkpoints", type=Path, nargs="+", help="one checkpoint per quality (plain or {'state_dict': ...})")
    ap.add_argument("name", help="the ncodec model name (what --codec takes)")
    ap.add_argument("--arch", required=True, help="bmshj2018-factorized, bmshj2018-hyperprior, mbt2018-mean, "
                                                  "mbt2018, cheng2020-anchor")
    ap.add_argument("--folder", type=Path, default=None, help="output folder (default: checkpoints/)")
    ap.add_argument("--qualities", type=_floats, default=None,
                    help="comma-separated quality of each checkpoint (default: from zoo file names, else 1..K)")
    ap.add_argument("--lambdas", type=_floats, default=None, help="comma-separated λ of each checkpoint, for the card")
    ap.add_argument("--notes", default="", help="one-line summary for the model card")
    ap.add_argument("--force", action="store_true", help="overwrite an existing model of that name")
    return ap


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def run(args: argparse.Namespace) -> None:
    a = parser().parse_intermixed_args(args.args)
    card = import_compressai(a.checkpoints, a.arch, a.name, a.folder, a.qualities, a.lambdas, a.force, a.notes)
    folder = a.folder or "checkpoints"
    qs = ", ".join(f"{lv['quality']:g}" for lv in card["source"]["levels"])
    print(f"{Path(folder) / (a.name + '.pt')}: {card['source']['arch']} qualities {qs}, model id {card['model_id']} "
          f"(use: ncodec encode IN OUT --codec {a.name} --quality Q)")


def main(argv: list[str] | None = None) -> int:
    from ncodec.cli import main as cli_main

    return cli_main(["import", *(argv or [])])
