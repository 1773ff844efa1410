"""The LiDAR benchmark, now an alias of ``ncodec eval`` (the point-cloud modality):

    python -m ncodec.eval.pointcloud_bench --data ../shared/data/lidar --precision 0.001

runs

    ncodec eval --dataset ../shared/data/lidar --codecs lidar,lidar-xyz,laszip,laszip-xyz,draco,gzip,zstd,lzma
                --anchor laszip --precision 0.001 --out runs/pointcloud_bench

(``gpcc`` added when ``--tmc13`` or ``$TMC13`` names a ``tmc3`` binary): the same results files,
report and per-frame table as every other evaluation. The baselines live in
:mod:`ncodec.eval.baselines.pointcloud`, the metrics in :mod:`ncodec.codecs.pointcloud.metrics`.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

CODECS = "lidar,lidar-xyz,laszip,laszip-xyz,draco,gzip,zstd,lzma"


def eval_argv(argv: list[str] | None = None) -> list[str]:
    """The ``ncodec eval`` arguments this benchmark's arguments stand for."""
    ap = argparse.ArgumentParser(prog="python -m ncodec.eval.pointcloud_bench",
                                 description="LiDAR benchmark (an alias of ncodec eval)")
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--precision", type=float, default=0.001)
    ap.add_argument("--codec", default="lidar", help="shipped point-cloud model")
    ap.add_argument("--out", type=Path, default=Path("runs/pointcloud_bench"))
    ap.add_argument("--tmc13", default=os.environ.get("TMC13"), help="path to a tmc3 binary (G-PCC)")
    ap.add_argument("--jobs", type=int, default=1, help="parallel worker processes (default 1: stable times)")
    ap.add_argument("--update-card", action="store_true", help="store the measured points in the model card")
    a = ap.parse_args(argv)
    codecs = CODECS.replace("lidar", a.codec) + (",gpcc" if a.tmc13 else "")
    out = ["eval", "--dataset", str(a.data), "--codecs", codecs, "--anchor", "laszip",
           "--precision", repr(a.precision), "--out", str(a.out), "--jobs", str(a.jobs)]
    if a.tmc13:
        out += ["--tmc3", a.tmc13]
    return out + (["--update-card"] if a.update_card else [])


def main(argv: list[str] | None = None) -> int:
    from ncodec.cli import main as cli_main

    return cli_main(eval_argv(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    raise SystemExit(main())
