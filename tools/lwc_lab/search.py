"""The quality search of ``--target-bpp`` / ``--target-psnr`` against plain bisection, side by side
on real encodings with the default codec: encodings, seconds and the result of each.

    python3 tools/lwc_lab/search.py IMAGE [IMAGE ...] [--bpp 0.25,0.8] [--psnr 33,40]
"""
from __future__ import annotations

import argparse
import time

import ncodec
from ncodec.codecs.image import modality
from ncodec.media.image import read_image


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("images", nargs="+")
    ap.add_argument("--bpp", default="0.25,0.8")
    ap.add_argument("--psnr", default="33,40")
    a = ap.parse_args()
    codec = ncodec.load()
    calls = [0]
    encode_once = modality._encode_once

    def counted(*args, **kwargs):
        calls[0] += 1
        return encode_once(*args, **kwargs)

    modality._encode_once = counted
    targets = [("bpp", float(v)) for v in a.bpp.split(",")] + [("psnr", float(v)) for v in a.psnr.split(",")]
    for path in a.images:
        picture = read_image(path)
        for kind, target in targets:
            row = []
            for name, interpolate in (("bisection", False), ("search", True)):
                calls[0], start = 0, time.perf_counter()
                r = modality._search_quality(codec, picture, "cpu", target if kind == "bpp" else None,
                                             target if kind == "psnr" else None, interpolate=interpolate)
                row.append(f"{name}: q {r['quality']:.4f} {r['bpp']:.4f} bpp {r['psnr']:.3f} dB "
                           f"{'met' if r['target_met'] else 'missed'}, {calls[0]} encodings {time.perf_counter() - start:.1f} s")
            print(f"{path.split('/')[-1]} {kind} {target:g}: " + " | ".join(row), flush=True)


if __name__ == "__main__":
    main()
