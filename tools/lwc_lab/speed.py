"""In-process encode/decode seconds of lwc (median of N) on one image; optional profile, and the
split by the codec's timing stages (context modelling, transform, predictor, post-filter, entropy).

    python3 tools/lwc_lab/speed.py IMAGE QUALITY [--runs 3] [--profile] [--stages] [--ckpt PATH]

Run it with another checkout's package first on PYTHONPATH to compare revisions on one machine.
"""
import argparse
import cProfile
import pstats
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ncodec import timing
from ncodec.codecs.checkpoint import load_codec


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("image")
    ap.add_argument("quality", type=float)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--stages", action="store_true", help="median seconds per timing stage")
    ap.add_argument("--ckpt", default=None)
    a = ap.parse_args()
    if a.ckpt:
        m = load_codec(Path(a.ckpt).stem, "image", folder=Path(a.ckpt).parent)
    else:
        m = load_codec("lwc", "image")
    rgb = np.asarray(Image.open(a.image).convert("RGB"))
    x = torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)[None]
    out = m.compress(x, a.quality)
    payload = out.get("payload", out["shape"])
    te, td, ce, cd, se, sd = [], [], [], [], [], []
    for _ in range(a.runs):
        m._last = None
        with timing.record() as stages:
            t, c = time.perf_counter(), time.process_time()
            out = m.compress(x, a.quality)
            te.append(time.perf_counter() - t); ce.append(time.process_time() - c)
        se.append(dict(stages))
        with timing.record() as stages:
            t, c = time.perf_counter(), time.process_time()
            d = m.decompress(out["strings"], payload, a.quality)
            td.append(time.perf_counter() - t); cd.append(time.process_time() - c)
        sd.append(dict(stages))
    assert torch.equal(d["x_hat"], out["x_hat"])
    bits = 8 * sum(len(s) for s in out["strings"])
    print(f"bpp {bits / rgb.shape[0] / rgb.shape[1]:.4f} encode {np.median(te):.3f} s decode {np.median(td):.3f} s "
          f"(CPU: encode {np.median(ce):.3f} s decode {np.median(cd):.3f} s)")
    if a.stages:
        for name, runs in (("encode", se), ("decode", sd)):
            keys = sorted({k for r in runs for k in r})
            print(f"{name} stages (median s): " + ", ".join(f"{k} {np.median([r.get(k, 0.0) for r in runs]):.3f}" for k in keys))
    if a.profile:
        m._last = None
        cProfile.runctx("m.compress(x, a.quality)", globals(), locals(), "/tmp/enc.prof")
        cProfile.runctx("m.decompress(out['strings'], payload, a.quality)", globals(), locals(), "/tmp/dec.prof")
        for f in ("/tmp/enc.prof", "/tmp/dec.prof"):
            pstats.Stats(f).sort_stats("tottime").print_stats(18)


if __name__ == "__main__":
    main()
