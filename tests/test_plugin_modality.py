"""Proof of the modality shape: a toy modality (1-D signals) and a trivial codec are defined here,
registered at run time, and go through ``ncodec encode / decode / info / list / eval`` end to end,
without any project file knowing them. The modality defines nothing of the evaluation section:
the defaults evaluate it with its own codecs (every file it recognises is a sample, the rate in its
unit, the generic PSNR over the samples' arrays)."""
from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from ncodec.cli import main
from ncodec.codecs import registry
from ncodec.codecs.modality import Encoded, Modality, Option
from ncodec.entropy.container import Container, unpack
from ncodec.errors import FormatError, InputError


class PCMCodec:
    """Uniform quantisation + deflate: a codec without weights (found by its default id);
    ``rate_values``: the steps an evaluation sweeps (it has no card to state them)."""

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
        (n,) = struct.unpack("<I", payload)
        q = np.frombuffer(zlib.decompress(strings[0]), dtype="<i4")
        if len(q) != n:
            raise FormatError("signal stream has the wrong length")
        return {"x_hat": q.astype(np.float64) * step}


class SignalModality(Modality):
    """1-D signals: ``.sig`` files of little-endian float64 samples."""

    name, code, noun = "signal", 200, "a signal"
    suffixes = (".sig",)
    default_codec = "toy-pcm"
    rate_key, count_key, rate_parameter = "bits_per_sample", "samples", "step"
    options = (Option(("--step",), {"type": float, "help": "signals: quantisation step"}),)

    def read(self, path: Path, **options) -> np.ndarray:
        data = Path(path).read_bytes()
        if len(data) == 0 or len(data) % 8:
            raise InputError(f"{path} is not a signal file (size {len(data)} is not a positive multiple of 8)")
        return np.frombuffer(data, dtype="<f8").astype(np.float64)

    def encode(self, codec, sample: np.ndarray, device: str, step: float = 0.5) -> Encoded:
        if not step > 0:
            raise InputError(f"step must be positive, got {step}")
        out = codec.compress(sample, step=step)
        container = Container(self.name, codec.codec_name, codec.model_id, step, out["payload"], out["strings"])
        return Encoded(container, out["x_hat"], {"step": step, "max_error": float(np.abs(out["x_hat"] - sample).max())})

    def describe(self, container: Container) -> dict:
        if len(container.payload) != 4:
            raise FormatError("signal description has the wrong size")
        return {"samples": struct.unpack("<I", container.payload)[0]}

    def decode(self, codec, container: Container, device: str, **options):
        x_hat = codec.decompress(container.sections, container.payload, step=container.quality)["x_hat"]
        return x_hat, x_hat

    def write(self, tmp: Path, sample: np.ndarray, target: Path, **options) -> None:
        Path(tmp).write_bytes(sample.astype("<f8").tobytes())


@pytest.fixture
def signal_modality():
    registry.register_modality(SignalModality)
    registry.register_codec("toy-pcm", "signal")(PCMCodec)
    yield
    registry.unregister_modality("signal")


def _cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_toy_modality_goes_through_every_command(signal_modality, tmp_path, capsys):
    x = np.sin(np.linspace(0, 20, 1000)) * 10
    src = tmp_path / "wave.sig"
    src.write_bytes(x.astype("<f8").tobytes())

    code, out, _ = _cli(capsys, "encode", src, tmp_path / "wave.ncd", "--step", "0.25", "--json")
    assert code == 0
    enc = json.loads(out)
    size = (tmp_path / "wave.ncd").stat().st_size
    assert enc["modality"] == "signal" and enc["codec"] == "toy-pcm" and enc["bytes"] == size
    assert enc["bits_per_sample"] == pytest.approx(size * 8 / 1000) and enc["max_error"] <= 0.125

    code, out, _ = _cli(capsys, "decode", tmp_path / "wave.ncd", tmp_path / "back.sig")
    assert code == 0 and "toy-pcm" in out
    decoded = np.frombuffer((tmp_path / "back.sig").read_bytes(), dtype="<f8")
    assert np.array_equal(decoded, np.round(x / 0.25) * 0.25)  # the encoder's reconstruction, bit for bit

    code, out, _ = _cli(capsys, "info", tmp_path / "wave.ncd", "--json")
    info = json.loads(out)
    assert code == 0 and info["modality"] == "signal" and info["step"] == 0.25 and info["samples"] == 1000
    assert unpack((tmp_path / "wave.ncd").read_bytes()).modality == "signal"

    code, out, _ = _cli(capsys, "list", "--json")
    assert code == 0 and {"name": "toy-pcm", "modality": "signal"}.items() <= next(
        r for r in json.loads(out) if r["name"] == "toy-pcm").items()


def test_toy_modality_errors_are_one_line_exit_2(signal_modality, tmp_path, capsys):
    (tmp_path / "odd.sig").write_bytes(b"123")
    code, _, err = _cli(capsys, "encode", tmp_path / "odd.sig", tmp_path / "o.ncd")
    assert code == 2 and "not a signal file" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.ncd").exists()
    (tmp_path / "ok.sig").write_bytes(np.zeros(4).tobytes())
    code, _, err = _cli(capsys, "encode", tmp_path / "ok.sig", tmp_path / "o.ncd", "--quality", "3")
    assert code == 2 and "--quality does not apply to signal" in err
    code, _, _ = _cli(capsys, "encode", tmp_path / "ok.sig", tmp_path / "o.ncd")
    assert code == 0
    code, _, err = _cli(capsys, "decode", tmp_path / "o.ncd", tmp_path / "o.png")
    assert code == 2 and "holds a signal" in err and not (tmp_path / "o.png").exists()


def test_a_file_of_an_unregistered_modality_is_a_format_error(tmp_path, capsys):
    registry.register_modality(SignalModality)
    registry.register_codec("toy-pcm", "signal")(PCMCodec)
    try:
        (tmp_path / "ok.sig").write_bytes(np.zeros(4).tobytes())
        assert main(["encode", str(tmp_path / "ok.sig"), str(tmp_path / "o.ncd")]) == 0
    finally:
        registry.unregister_modality("signal")
    capsys.readouterr()
    assert main(["info", str(tmp_path / "o.ncd")]) == 2
    assert "unknown modality code 200" in capsys.readouterr().err


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
