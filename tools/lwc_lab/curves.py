"""Aggregate eval-cache records into curves and compute BD-rates (lab helper for issue 12).

    python3 tools/lwc_lab/curves.py CACHE_DIR ANCHOR TEST [TEST...] [--metric psnr] [--model-tag ID]
"""
import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from ncodec.eval.bdrate import Curve, bd_rate

KEYS = {"psnr": "psnr-rgb", "ms-ssim": "ms-ssim-rgb"}


def curve(cache: Path, codec: str, metric: str, tag: str | None = None, images=None) -> Curve:
    per = defaultdict(list)
    for f in (cache / codec).glob("*.json"):
        d = json.loads(f.read_text())
        if tag and tag not in d["key"].get("version", ""):
            continue
        if images is not None and d["record"]["image"] not in images:
            continue
        r = d["record"]
        per[r["setting"]].append((r["bpp"], r[KEYS[metric]], r["image"]))
    n = max(len(v) for v in per.values())
    settings = sorted(s for s, v in per.items() if len(v) == n)
    bpp = [np.mean([a for a, _, _ in per[s]]) for s in settings]
    q = [np.mean([b for _, b, _ in per[s]]) for s in settings]
    return Curve(codec, bpp, q), settings


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cache", type=Path)
    ap.add_argument("anchor")
    ap.add_argument("tests", nargs="+")
    ap.add_argument("--metric", default="psnr")
    a = ap.parse_args()
    anc, s = curve(a.cache, a.anchor, a.metric)
    print(a.anchor, [f"{s_}:{r:.3f}/{q:.2f}" for s_, r, q in zip(s, anc.rate, anc.quality)])
    for t in a.tests:
        c, s = curve(a.cache, t, a.metric)
        r = bd_rate(anc, c)
        print(t, [f"{s_}:{x:.3f}/{q:.2f}" for s_, x, q in zip(s, c.rate, c.quality)])
        print(f"  BD-rate {r.value:+.2f}% over {r.interval[0]:.2f}-{r.interval[1]:.2f}")


if __name__ == "__main__":
    main()
