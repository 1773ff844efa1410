"""A modality that defines nothing of the evaluation section is still evaluated by ``ncodec eval``
with its own codecs: every file it recognises is a sample, the rate is in its unit, and the
generic metric (PSNR over the samples' arrays) compares the decoded files."""
from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from ncodec.cli import main
from ncodec.codecs import registry
from ncodec.codecs.modality import Encoded, Modality
from ncodec.entropy.container import Container


class SweptPCM:
    """Uniform quantisation + deflate, without weights; ``rate_values``: the steps an evaluation
    sweeps (a codec without weights has no card to state them)."""

    weightless = True
    rate_parameter = "step"
    rate_values = (0.5, 0.1, 0.02)

    def __init__(self):
        self.config = {}

    def state_dict(self) -> dict:
        return {}

    def compress(self, x: np.ndarray, step: float) -> dict:
        q = np.round(x / step).astype("<i4")
        return {"strings": [zlib.compress(q.tobytes(), 9)], "payload": struct.pack("<I", len(x)),
                "x_hat": q.astype(np.float64) * step}

    def decompress(self, strings: list[bytes], payload: bytes, step: float) -> dict:
        return {"x_hat": np.frombuffer(zlib.decompress(strings[0]), dtype="<i4").astype(np.float64) * step}


class SignalModality(Modality):
    """1-D signals (``.sig``: float64 samples); nothing of the evaluation section is defined."""

    name, code, noun = "signal", 200, "a signal"
    suffixes = (".sig",)
    rate_key, count_key, rate_parameter = "bits_per_sample", "samples", "step"

    def read(self, path: Path, **options) -> np.ndarray:
        return np.frombuffer(Path(path).read_bytes(), dtype="<f8").astype(np.float64)

    def encode(self, codec, sample: np.ndarray, device: str, step: float = 0.5) -> Encoded:
        out = codec.compress(sample, step=step)
        return Encoded(Container(self.name, codec.codec_name, codec.model_id, step, out["payload"], out["strings"]),
                       out["x_hat"])

    def describe(self, container: Container) -> dict:
        return {"samples": struct.unpack("<I", container.payload)[0]}

    def decode(self, codec, container: Container, device: str, **options):
        x_hat = codec.decompress(container.sections, container.payload, step=container.quality)["x_hat"]
        return x_hat, x_hat


@pytest.fixture
def signal_modality():
    registry.register_modality(SignalModality)
    registry.register_codec("toy-pcm", "signal")(SweptPCM)
    yield
    registry.unregister_modality("signal")


def test_toy_modality_is_evaluated_with_the_defaults(signal_modality, tmp_path, capsys):
    data = tmp_path / "signals"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        (data / f"s{i}.sig").write_bytes((np.cumsum(rng.normal(0, 1, 500))).astype("<f8").tobytes())
    (data / "notes.txt").write_text("skipped")
    out = tmp_path / "out"
    assert main(["eval", "--dataset", str(data), "--codecs", "all", "--out", str(out), "--jobs", "1",
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "2 samples (1 other file(s) skipped)" in printed
    res = json.loads((out / "toy-pcm.json").read_text())
    assert res["meta"]["modality"] == "signal" and res["meta"]["rate_key"] == "bits_per_sample"
    r = res["results"]
    assert r["setting"] == pytest.approx([0.5, 0.1, 0.02]) and r["bits_per_sample"] == sorted(r["bits_per_sample"])
    assert r["psnr"] == sorted(r["psnr"])  # finer steps: higher PSNR
    assert set(res["per_sample"]) == {"s0.sig", "s1.sig"} and (out / "rd-psnr.png").is_file()
    assert "| toy-pcm |" in (out / "report.md").read_text()
