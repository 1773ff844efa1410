"""Side-by-side complexity of the image codecs: parameters, kMAC per pixel, encode/decode time.

    python -m ncodec.eval.complexity [--codecs hyperprior,wavelet,ssm,...] [--image kodim01.png] [--json F]

Each codec is built from its shipped checkpoint when there is one, else from its training config
(``configs/image/<codec>.yaml``, untrained weights: complexity does not depend on training, but the
entropy-coding time does a little, so the table says which). MACs are counted by PyTorch's
FlopCounterMode (convolutions and matrix products; the selective scan's elementwise work is not
counted). Times are the median of ``--repeats`` runs in this process, on this machine, measured
side by side, and every codec's time is also given as a ratio to the first codec's.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

from ncodec.codecs import get_codec, list_codecs
from ncodec.codecs.checkpoint import list_cards, load_codec
from ncodec.errors import InputError

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "image"


def build(codec: str) -> tuple[torch.nn.Module, str]:
    """The shipped model of ``codec`` if any, else its training config's model (untrained)."""
    shipped = [c["name"] for c in list_cards() if c.get("codec") == codec]
    if shipped:
        return load_codec(shipped[0]), f"checkpoint {shipped[0]}"
    config = CONFIGS / f"{codec}.yaml"
    spec = yaml.safe_load(config.read_text())["model"] if config.is_file() else {}
    model = get_codec(codec).factory(**spec.get("codec_config", {})).eval()
    model.update()
    return model, f"untrained, {config.name if config.is_file() else 'defaults'}"


def kmacs_per_pixel(net: torch.nn.Module, x: torch.Tensor, pixels: int) -> float:
    """Thousands of multiply-accumulates of ``net(x)`` per pixel of the *image* (``pixels``)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(x)
    return counter.get_total_flops() / 2 / pixels / 1e3


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up (allocations, lazily built tables)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(codec: str, x: torch.Tensor, quality: float, repeats: int) -> dict:
    model, source = build(codec)
    lo, hi = model.quality_range
    q = min(max(quality, lo), hi)
    with torch.no_grad():  # a latent without autograd history (FlopCounterMode's hooks need that)
        y = model.g_a(x)
    enc = model.compress(x, q)
    dec = model.decompress(enc["strings"], enc["payload"], q)
    if not torch.equal(enc["x_hat"], dec["x_hat"]):
        raise RuntimeError(f"{codec}: decoded image differs from the encoder's reconstruction")
    pixels = x.shape[-2] * x.shape[-1]
    return {
        "codec": codec, "model": source,
        "params_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 3),
        "kmac_per_px_analysis": round(kmacs_per_pixel(model.g_a, x, pixels), 2),
        "kmac_per_px_synthesis": round(kmacs_per_pixel(model.g_s, y, pixels), 2),
        "bpp": round(sum(len(s) for s in enc["strings"]) * 8 / pixels, 4),
        "encode_s": round(median_seconds(lambda: model.compress(x, q, reconstruct=False), repeats), 4),
        "decode_s": round(median_seconds(lambda: model.decompress(enc["strings"], enc["payload"], q), repeats), 4),
    }


def load_image(path: Path | None) -> torch.Tensor:
    if path is None:
        import skimage.data

        arr = np.asarray(Image.fromarray(skimage.data.astronaut()).resize((768, 512), Image.BICUBIC))
    else:
        if not Path(path).is_file():
            raise InputError(f"image not found: {path}")
        arr = np.asarray(Image.open(path).convert("RGB"))
    return torch.from_numpy(arr).permute(2, 0, 1)[None].float() / 255


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--codecs", default=",".join(["hyperprior"] + [c for c in list_codecs("image") if c != "hyperprior"]))
    ap.add_argument("--image", type=Path, default=None, help="default: scikit-image's astronaut at 768x512")
    ap.add_argument("--quality", type=float, default=3.5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    codecs = [c.strip() for c in a.codecs.split(",") if c.strip()]
    for c in codecs:
        get_codec(c)  # unknown names fail before any work, listing the valid ones
    x = load_image(a.image)
    rows = []
    for c in codecs:
        rows.append(measure(c, x, a.quality, a.repeats))
        first = rows[0]
        r = rows[-1]
        r["encode_vs_first"] = round(first["encode_s"] / r["encode_s"], 2)
        r["decode_vs_first"] = round(first["decode_s"] / r["decode_s"], 2)
        print(f"{r['codec']:<12} {r['params_M']:>7.2f} M params  {r['kmac_per_px_analysis']:>8.1f} / "
              f"{r['kmac_per_px_synthesis']:>8.1f} kMAC/px (enc/dec transforms)  encode {r['encode_s']:.3f} s "
              f"({r['encode_vs_first']:.2f}x faster than {codecs[0]})  decode {r['decode_s']:.3f} s "
              f"({r['decode_vs_first']:.2f}x)  [{r['model']}]", flush=True)
    meta = {"image": str(a.image or "skimage astronaut 768x512"), "size": list(x.shape[-2:]), "quality": a.quality,
            "threads": torch.get_num_threads(), "torch": torch.__version__, "repeats": a.repeats}
    if a.json:
        a.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    import sys

    try:
        main()
    except InputError as e:
        print(f"ncodec: error: {e}", file=sys.stderr)
        sys.exit(2)
