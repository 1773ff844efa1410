"""The ``ncodec`` command. Exit codes: 0 success, 2 bad input, 1 internal failure."""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from pathlib import Path


_COMMON = {"func", "command", "input", "output", "codec", "device", "force", "json"}


def _public(r: dict) -> dict:
    return {k: v for k, v in r.items() if k not in ("x_hat", "sample", "summary")}


def _modality_options(a) -> dict:
    """The modality options of a parsed encode/decode command (the API checks which apply)."""
    return {k: v for k, v in vars(a).items() if k not in _COMMON and v is not None}


def cmd_encode(a) -> None:
    from ncodec.api import encode_file

    r = encode_file(a.input, a.output, a.codec, device=a.device, force=a.force, **_modality_options(a))
    print(json.dumps(_public(r)) if a.json else r["summary"])


def cmd_decode(a) -> None:
    from ncodec.api import decode_file

    r = decode_file(a.input, a.output, a.device, a.force, **_modality_options(a))
    net = r["seconds"] - r["entropy_seconds"]
    print(json.dumps(_public(r)) if a.json else
          f"{r['output']}: decoded with {r['codec']} in {r['seconds']:.2f} s "
          f"(network {net:.2f} s, entropy coding {r['entropy_seconds']:.3f} s)")


def cmd_info(a) -> None:
    from ncodec.api import read_info

    info = read_info(a.file)
    if a.json:
        print(json.dumps(info))
        return
    for key, value in info.items():
        print(f"{key:>14}: {value:.4f}" if isinstance(value, float) else f"{key:>14}: {value}")


def cmd_list(a) -> None:
    """Cards and declared codecs only: listing imports no codec (and so no torch)."""
    from ncodec.codecs.checkpoint import default_codec, list_cards
    from ncodec.codecs.registry import list_codecs, modality_of_codec

    cards = [c for c in list_cards() if c.get("codec") in list_codecs()]
    rows = [{"name": c["name"], "modality": modality_of_codec(c["codec"]),
             "default": default_codec(modality_of_codec(c["codec"])) == c["name"],
             "checkpoint": c["checkpoint"], "card": c} for c in cards]
    shipped = {c["codec"] for c in cards}
    rows += [{"name": n, "modality": modality_of_codec(n), "default": False, "checkpoint": None, "card": None}
             for n in list_codecs() if n not in shipped]
    if a.json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        c = r["card"] or {}
        trained = f"trained {c.get('training', {}).get('steps', '?')} steps on {c.get('training', {}).get('device', '?')}" if c else "no checkpoint"
        print(f"{r['name']:<12} {r['modality']:<10} {'default' if r['default'] else '':<8} {trained}  "
              f"{c.get('summary', '')}")


def cmd_demo(a) -> None:
    """Encode + decode a sample photo shipped with scikit-image using the default checkpoint."""
    import numpy as np
    import skimage.data
    import torch
    from PIL import Image

    from ncodec.api import decode_file, encode_file

    with tempfile.TemporaryDirectory() as tmp:
        src, ncd, out = Path(tmp) / "astronaut.png", Path(tmp) / "astronaut.ncd", Path(tmp) / "decoded.png"
        Image.fromarray(skimage.data.astronaut()).save(src)
        enc = encode_file(src, ncd, a.codec, a.quality, a.device)
        dec = decode_file(ncd, out, a.device)
        same = torch.equal(enc["x_hat"].cpu(), dec["x_hat"].cpu())
        decoded = np.asarray(Image.open(out))
        from ncodec.codecs.registry import get_modality

        name = a.codec or get_modality("image").default_codec
        print(f"sample: scikit-image astronaut (512x512), checkpoint {name} (codec {enc['codec']}) quality {enc['quality']:g}")
        print(f"file: {enc['bytes']} bytes = {enc['bpp']:.4f} bpp (whole file incl. header)")
        from ncodec.eval.metrics import psnr

        print(f"PSNR: {psnr(skimage.data.astronaut(), decoded, 255):.2f} dB (decoded PNG vs original)")
        print(f"encode {enc['seconds']:.2f} s, decode {dec['seconds']:.2f} s on {a.device}")
        print(f"decoder output == encoder reconstruction (bit-exact): {'yes' if same else 'NO'}")
        if not same:
            raise RuntimeError("decoded output differs from the encoder's reconstruction")


def cmd_bdrate(a) -> None:
    from ncodec.eval.bdrate import bd_psnr, bd_rate, load_curve

    anchor, test = load_curve(a.anchor, a.metric), load_curve(a.test, a.metric)
    r, d = bd_rate(anchor, test, a.method), bd_psnr(anchor, test, a.method)
    if a.json:
        print(json.dumps({"anchor": anchor.name, "test": test.name, "metric": a.metric, "method": a.method,
                          "bd_rate_percent": r.value, "bd_quality": d.value, "interval": r.interval,
                          "overlap_anchor": r.overlap_anchor, "overlap_test": r.overlap_test}))
        return
    unit = "dB" if a.metric == "psnr" else ""
    print(f"BD-rate of {test.name} vs {anchor.name} ({a.metric}, {a.method}): {r.value:+.2f}%  "
          f"BD-{a.metric.upper()}: {d.value:+.3f} {unit}".rstrip())
    print(f"overlap: {a.metric} {r.interval[0]:.3f}..{r.interval[1]:.3f} = {r.overlap_anchor:.0%} of the anchor's "
          f"range, {r.overlap_test:.0%} of the test's (no extrapolation)")


def cmd_eval(a) -> None:
    from ncodec.eval.runner import run

    run(a)


def cmd_export(a) -> None:
    from ncodec.train.export import export

    model_id = export(a.checkpoint, a.name, a.folder, a.notes)
    print(f"{a.folder / (a.name + '.pt')}: model id {model_id.hex()} (card: {a.name}.json)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ncodec", description="Learned neural codecs with real bitstreams.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("train", help="train a codec (LightningCLI: ncodec train fit --config configs/...yaml)")

    from ncodec.codecs.modality import add_options
    from ncodec.codecs.registry import all_modalities

    modalities = all_modalities()  # light modules: their options, no codec imported
    kinds = ", ".join(m.name for m in modalities)
    e = sub.add_parser("encode", help=f"encode a file ({kinds}) to an ncodec file")
    e.add_argument("input", type=Path)
    e.add_argument("output", type=Path)
    e.add_argument("--codec", default=None, help="shipped model name, see `ncodec list` (default: the modality's)")
    add_options(e, modalities, "encode")
    e.add_argument("--device", default="cpu")
    e.add_argument("--force", action="store_true", help="overwrite an existing output")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_encode)

    d = sub.add_parser("decode", help="decode an ncodec file (output format from its extension)")
    d.add_argument("input", type=Path)
    d.add_argument("output", type=Path)
    add_options(d, modalities, "decode")
    d.add_argument("--device", default="cpu")
    d.add_argument("--force", action="store_true")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_decode)

    i = sub.add_parser("info", help="print a file's header, sections and rate")
    i.add_argument("file", type=Path)
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_info)

    ls = sub.add_parser("list", help="list codecs and shipped checkpoints")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_list)

    bd = sub.add_parser("bdrate", help="Bjontegaard delta between two results files (CompressAI layout)")
    bd.add_argument("anchor", type=Path)
    bd.add_argument("test", type=Path)
    bd.add_argument("--metric", choices=["psnr", "ms-ssim"], default="psnr")
    bd.add_argument("--method", choices=["pchip", "cubic"], default="pchip")
    bd.add_argument("--json", action="store_true")
    bd.set_defaults(func=cmd_bdrate)

    from ncodec.eval.runner import add_arguments as eval_arguments

    ev = sub.add_parser("eval", help="RD points of codecs and baselines on a folder of images: results, plots, report")
    eval_arguments(ev)
    ev.set_defaults(func=cmd_eval)

    from ncodec.train.export import add_arguments as export_arguments

    ex = sub.add_parser("export", help="turn a training checkpoint into a shipped checkpoint + model card")
    export_arguments(ex)
    ex.set_defaults(func=cmd_export)

    from ncodec.codecs.image.from_compressai import importer  # light: heavy imports inside its functions

    im = sub.add_parser("import", help="import trained CompressAI checkpoints as an ncodec model")
    importer.add_arguments(im)
    im.set_defaults(func=importer.run)

    dm = sub.add_parser("demo", help="encode + decode a shipped sample photo with the default checkpoint")
    dm.add_argument("--codec", default=None)
    dm.add_argument("--quality", type=float, default=None)
    dm.add_argument("--device", default="cpu")
    dm.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    with warnings.catch_warnings():  # third-party deprecation chatter is not for users; scoped to the command
        warnings.simplefilter("ignore")
        return _run(sys.argv[1:] if argv is None else list(argv))


def _run(argv: list[str]) -> int:
    if argv[:1] == ["train"]:  # LightningCLI parses its own arguments
        args = argparse.Namespace(func=lambda _: __import__("ncodec.train.cli").train.cli.main(argv[1:]))
    else:
        args = build_parser().parse_args(argv)
    from ncodec.errors import run_reporting_errors

    return run_reporting_errors(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
