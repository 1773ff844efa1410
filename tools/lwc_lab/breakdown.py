"""Bits per part (lowpass, each level's details) of lwc on given images at a quality (diagnosis)."""
import sys
from collections import defaultdict

import numpy as np

from ncodec.codecs.checkpoint import load_codec
from ncodec.codecs.image import cdf97

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from bench import load  # noqa: E402

model = load_codec("lwc", "image")
q = float(sys.argv[1])
for path in sys.argv[2:]:
    rgb = load(path).astype(np.float64)
    levels, q_ll, qd, records, shifts = model.analyse(rgb, q)
    _, tset, _ = model._load()
    ll_res = model._ll_residual(q_ll)
    parts = defaultdict(float)
    for c in range(3):
        v = ll_res[c].reshape(-1)
        parts["LL"] += model._cost(v, np.full(v.size, model._best_table(v, tset))).sum()
    nz = defaultdict(int)
    for (l, c, o), _, v, t in records:
        parts[f"L{l + 1}{'YUV'[c]}"] += model._cost(v, model._shifted(t, shifts[(l, c)])).sum()
        nz[f"L{l + 1}"] += int((v != 0).sum())
    px = rgb.shape[0] * rgb.shape[1]
    tot = sum(parts.values())
    print(path.rsplit("/", 1)[-1], rgb.shape, f"bpp {tot / px:.4f}", "LL %.1f%%" % (100 * parts["LL"] / tot),
          " ".join(f"L{l + 1}:{100 * sum(v for k, v in parts.items() if k.startswith(f'L{l + 1}')) / tot:.1f}%" for l in range(levels)),
          "shifts", [shifts[k] for k in sorted(shifts)])
