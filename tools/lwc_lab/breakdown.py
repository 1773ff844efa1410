"""Bits per part (lowpass, each level's details) of lwc on given images at a quality (diagnosis).

    python3 tools/lwc_lab/breakdown.py QUALITY IMAGE [IMAGE...]
"""
import sys
from collections import defaultdict

import numpy as np


def main(argv=None) -> None:
    from ncodec.codecs.checkpoint import load_codec
    from ncodec.tools.lwc_lab.bench import load

    argv = sys.argv[1:] if argv is None else argv
    model = load_codec("lwc", "image")
    q = float(argv[0])
    for path in argv[1:]:
        rgb = load(path).astype(np.float64)
        levels, q_ll, qd, records, shifts = model.analyse(rgb, q)
        _, tset, _ = model._load()
        ll_res = model._ll_residual(q_ll)
        parts = defaultdict(float)
        for c in range(3):
            v = ll_res[c].reshape(-1)
            parts["LL"] += model._cost(v, np.full(v.size, model._best_table(v, tset))).sum()
        for (l, c, o), _, v, t, *_ in records:
            parts[f"L{l + 1}{'YUV'[c]}"] += model._cost(v, model._shifted(t, shifts[(l, c)])).sum()
        px = rgb.shape[0] * rgb.shape[1]
        tot = sum(parts.values())
        share = " ".join(f"L{l + 1}:{100 * sum(v for k, v in parts.items() if k.startswith(f'L{l + 1}')) / tot:.1f}%"
                         for l in range(levels))
        print(str(path).rsplit("/", 1)[-1], rgb.shape, f"bpp {tot / px:.4f}", "LL %.1f%%" % (100 * parts["LL"] / tot),
              share, "shifts", [shifts[k] for k in sorted(shifts)])


if __name__ == "__main__":
    main()
