"""Video baselines: HM / VTM low-delay P (driven through stand-in binaries that follow their
command line; the real programs are measured in the README) and the video benchmark's baseline path."""
from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from ncodec.codecs.video import io as vio
from ncodec.errors import InputError
from ncodec.eval.baselines import get_baseline
from ncodec.eval.baselines.video_jvet import frame_bits_from_log

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")

# What HM and VTM print per coded frame (abridged from their real output).
HM_LOG = """HM software: Encoder Version [16.25] (including RExt)[Linux][GCC 12.2.0][64 bit]
POC    0 TId: 0 ( I-SLICE, nQP 37 QP 37 )      21768 bits [Y 31.4 dB    U 38.4 dB    V 38.9 dB]
POC    2 TId: 0 ( P-SLICE, nQP 42 QP 42 )        312 bits [Y 30.9 dB    U 38.2 dB    V 38.8 dB] [L0 1 0 ]
POC    1 TId: 0 ( P-SLICE, nQP 43 QP 43 )        208 bits [Y 30.8 dB    U 38.2 dB    V 38.7 dB] [L0 0 ]
"""
VTM_LOG = """POC    0 LId:  0 TId: 0 ( IDR_N_LP, I-SLICE, QP 37 )      20480 bits [Y 32.1 dB    U 39.0 dB    V 39.5 dB]
POC    1 LId:  0 TId: 0 ( TRAIL, P-SLICE, QP 43 )        176 bits [Y 31.9 dB    U 38.9 dB    V 39.4 dB]
"""


def test_frame_bits_from_the_encoders_log_in_display_order():
    assert frame_bits_from_log(HM_LOG, 3) == [21768, 208, 312]
    assert frame_bits_from_log(VTM_LOG, 2) == [20480, 176]
    with pytest.raises(RuntimeError, match="expected 0..3"):
        frame_bits_from_log(HM_LOG, 4)


def test_unavailable_without_binaries(monkeypatch, tmp_path):
    monkeypatch.delenv("HM_DIR", raising=False)
    monkeypatch.delenv("VTM_DIR", raising=False)
    assert "HM_DIR" in get_baseline("hm-ld").available()
    assert "VTM_DIR" in get_baseline("vtm-ld").available()
    with pytest.raises(InputError, match="folder not found"):
        get_baseline("vtm-ld", vtm_dir=tmp_path / "missing").available()
    monkeypatch.setenv("HM_DIR", str(tmp_path))
    with pytest.raises(InputError, match="no HM TAppEncoder/TAppDecoder"):
        get_baseline("hm-ld").available()


def _script(path: Path, body: str) -> None:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def fake_hm(root: Path) -> Path:
    """TAppEncoder / TAppDecoder stand-ins: the 'bitstream' is the input planes; the encoder prints
    HM's per-frame lines; cfg/ holds the low-delay P configuration they are given."""
    (root / "bin").mkdir(parents=True)
    (root / "cfg").mkdir()
    (root / "cfg" / "encoder_lowdelay_P_main.cfg").write_text("IntraPeriod : -1\n")
    _script(root / "bin" / "TAppEncoder", """
[ "$1" = "--help" ] && { echo "HM software: Encoder Version [stand-in]"; exit 0; }
all="$*"
while [ $# -gt 0 ]; do case "$1" in -i) src=$2; shift;; -b) dst=$2; shift;; -f) n=$2; shift;; esac; shift; done
echo "$all" > "$dst.args"; cp "$src" "$dst"
bits=$(( $(wc -c < "$dst") * 8 / n )); i=0
while [ $i -lt $n ]; do echo "POC    $i TId: 0 ( P-SLICE, nQP 37 QP 37 )    $bits bits [Y 40 dB]"; i=$((i+1)); done
""")
    _script(root / "bin" / "TAppDecoder", """
while [ $# -gt 0 ]; do case "$1" in -b) src=$2; shift;; -o) dst=$2; shift;; esac; shift; done
cp "$src" "$dst"
""")
    return root / "bin"


def clip(t=3, h=32, w=48) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    frames = [np.stack([(xx * 5 + 7 * i) % 256, (yy * 7) % 256, ((xx + yy) * 3) % 256], -1) for i in range(t)]
    return np.asarray(frames, dtype=np.uint8)


@needs_ffmpeg
def test_hm_low_delay_through_stand_in_binaries(tmp_path, monkeypatch):
    monkeypatch.setenv("HM_DIR", str(fake_hm(tmp_path / "hm")))
    base = get_baseline("hm-ld")
    base.intra_period, base.fps = 8, 50.0
    assert base.available() is None
    frames = clip()
    work = tmp_path / "work"
    work.mkdir()
    path = base.encode_clip(frames, 37, work)
    args = Path(str(path) + ".args").read_text()
    assert "--IntraPeriod=8" in args and "-q 37" in args and "-f 3" in args and "-fr 50" in args
    assert "encoder_lowdelay_P_main.cfg" in args and "--InputChromaFormat=420" in args
    assert path.stat().st_size == 3 * 32 * 48 * 3 // 2  # the stand-in's stream: the 4:2:0 planes
    assert sum(base.frame_bits(path)) == 8 * path.stat().st_size
    decoded = base.decode_clip(path)
    assert decoded.shape == frames.shape
    mse = np.mean((decoded.astype(float) - frames) ** 2)
    assert 0 < mse < 60  # only the 4:2:0 conversion's loss (as for x264/x265)
    assert not (work / "in.yuv").exists() and not (work / "in.rgb").exists()


@needs_ffmpeg
def test_video_bench_runs_a_baseline(tmp_path, monkeypatch):
    """tools/video_bench codes a clip with a baseline: per-frame bits, bpp from the file, report."""
    from ncodec.tools import video_bench

    monkeypatch.setenv("HM_DIR", str(fake_hm(tmp_path / "hm")))
    seq = tmp_path / "frames"
    vio.write_png_folder(seq, clip(t=4))
    out = tmp_path / "out"
    video_bench.main(["--sequence", str(seq), "--codecs", "hm-ld,lvc", "--crfs", "42,37", "--intra-period", "4",
                      "--qualities", "2", "--checkpoint", "video-lvc-qt", "--encoder", "rdo_importance=0.5",
                      "--out", str(out)])
    lvc = json.loads((out / "lvc.json").read_text())
    assert lvc["meta"]["encoder"] == {"rdo_importance": 0.5} and len(lvc["results"]["bpp"]) == 1
    res = json.loads((out / "hm-ld.json").read_text())
    assert [p["label"] for p in res["per_frame"]] == ["qp42", "qp37"]
    size = 4 * 32 * 48 * 3 // 2
    assert res["results"]["bpp"] == pytest.approx([size * 8 / (4 * 32 * 48)] * 2)
    assert all(len(p["frame_bpp"]) == 4 for p in res["per_frame"])
    assert "| lvc | hm-ld |" in (out / "report.md").read_text() or "| hm-ld | lvc |" in (out / "report.md").read_text()
