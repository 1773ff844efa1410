"""Side-by-side encode/decode seconds of one image: an ncodec image codec (in-process through the
file API, and the CLI's wall time) vs avifenc/avifdec (speed 6, 4:4:4, --jobs 1, as the eval
baseline) at a chosen AVIF quantizer, median of 3 runs each, in one process; wall seconds and CPU
seconds (this process, or the waited-for avifenc/avifdec child).

    python3 tools/speed_vs_avif.py IMAGE QUALITY AVIF_QUANTIZER [--codec lwc] [--runs 3]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


CPU = {}  # id(run) -> median CPU seconds of the last median_seconds call (this process + children)


def _cpu() -> float:
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def median_seconds(run, n: int, key: str | None = None) -> float:
    """Median wall seconds of ``run``; with ``key``, its median CPU seconds (this process plus
    waited-for child processes) go to ``CPU[key]``: on a busy shared machine wall time swings,
    CPU time much less."""
    times, cpu = [], []
    for _ in range(n):
        start, c = time.perf_counter(), _cpu()
        run()
        times.append(time.perf_counter() - start)
        cpu.append(_cpu() - c)
    if key:
        CPU[key] = float(np.median(cpu))
    return float(np.median(times))


def psnr_rgb(reference: np.ndarray, decoded: Path) -> float:
    from PIL import Image

    d = np.asarray(Image.open(decoded).convert("RGB")).astype(float)
    return float(10 * np.log10(255**2 / np.mean((d - reference) ** 2)))


def measure(src: Path, quality: float, avif_q: int, codec: str, runs: int) -> list[str]:
    import ncodec
    from PIL import Image

    model = ncodec.load(codec)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)

        def encode():
            if hasattr(model, "_last"):
                model._last = None  # lwc caches the analysis of the last image: measure a cold encode
            ncodec.encode_file(src, d / "a.ncd", codec=codec, quality=quality, force=True)

        enc = median_seconds(encode, runs, "enc")
        dec = median_seconds(lambda: ncodec.decode_file(d / "a.ncd", d / "a.png", force=True), runs, "dec")
        report = ncodec.encode_file(src, d / "a.ncd", codec=codec, quality=quality, force=True)
        ncodec.decode_file(d / "a.ncd", d / "a.png", force=True)
        cli = ["ncodec", "encode", str(src), str(d / "b.ncd"), "--codec", codec, "--quality", str(quality), "--force"]
        cli_enc = median_seconds(lambda: subprocess.run(cli, check=True, capture_output=True), runs)
        cli_dec = median_seconds(lambda: subprocess.run(["ncodec", "decode", str(d / "b.ncd"), str(d / "b.png"),
                                                         "--force"], check=True, capture_output=True), runs)
        avifenc = ["avifenc", "--jobs", "1", "--speed", "6", "--yuv", "444", "--depth", "8", "--min", str(avif_q),
                   "--max", str(avif_q), str(src), str(d / "c.avif")]
        aenc = median_seconds(lambda: subprocess.run(avifenc, check=True, capture_output=True), runs, "aenc")
        adec = median_seconds(lambda: subprocess.run(["avifdec", "--jobs", "1", "--depth", "8", str(d / "c.avif"),
                                                      str(d / "c.png")], check=True, capture_output=True), runs, "adec")
        reference = np.asarray(Image.open(src).convert("RGB")).astype(float)
        pixels = reference.shape[0] * reference.shape[1]
        return [f"{codec} q={quality}: {report['bpp']:.3f} bpp {psnr_rgb(reference, d / 'a.png'):.2f} dB | encode "
                f"{enc:.3f} s decode {dec:.3f} s (in-process; CPU {CPU['enc']:.3f} s / {CPU['dec']:.3f} s) | CLI encode "
                f"{cli_enc:.3f} s decode {cli_dec:.3f} s",
                f"avif q={avif_q}: {os.path.getsize(d / 'c.avif') * 8 / pixels:.3f} bpp "
                f"{psnr_rgb(reference, d / 'c.png'):.2f} dB | avifenc {aenc:.3f} s avifdec {adec:.3f} s (CPU {CPU['aenc']:.3f} s / "
                f"{CPU['adec']:.3f} s)"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", type=Path)
    ap.add_argument("quality", type=float, help="the ncodec codec's --quality")
    ap.add_argument("avif_quantizer", type=int, help="avifenc --min/--max quantizer (0..63)")
    ap.add_argument("--codec", default="lwc")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args(argv)
    for line in measure(a.image, a.quality, a.avif_quantizer, a.codec, a.runs):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
