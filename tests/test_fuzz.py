"""Damaged and hostile files (issue 11): every shipped model's files, mutated as a crafted file
would be (bit flips, byte changes, truncations, header and section edits, the CRC recomputed),
decode to a harmless result or are refused with exit 2 and one line: never an internal error,
never a file left behind, never a hang, never more memory than the stated bound.

The same seeds and mutations as ``python3 -m ncodec.tools.fuzz`` (the longer run), fixed seed,
in-process for speed; one subprocess checks the memory bound with the tool's forked mode."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from ncodec.tools import fuzz

CASES = 40  # per codec: about 40 s for the four codecs on an idle 2-core machine


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz-seeds")
    seeds = fuzz.make_seeds(folder)
    fuzz.warm(seeds, folder)  # imports and models loaded before any case's time limit runs
    return seeds


def _explain(failures):
    return "\n".join(f"{kind}: {outcome}: {' | '.join(messages)}" for kind, outcome, messages in failures[:10])


def test_every_shipped_model_has_seeds(seeds):
    assert set(seeds) == set(fuzz.TARGETS)


@pytest.mark.parametrize("target", sorted(fuzz.TARGETS), ids=lambda t: t[1])
def test_crafted_headers_are_refused_at_once(seeds, tmp_path, target):
    """The issue's hand-built files: an image claiming 1 x 2**28 pixels (537 M side-latent
    symbols before), 16384 x 16384, an alpha deflate bomb (64 MB of zeros), a modality byte
    naming video. Each is refused in well under a second (no allocation of its claimed size)."""
    failures, refused = [], 0
    for seed_file in seeds[target]:
        for kind, data in fuzz.crafted(seed_file.read_bytes()):
            path = tmp_path / "crafted.ncd"
            path.write_bytes(data)
            start = time.perf_counter()
            outcome, messages = fuzz.run_inline(path, tmp_path / f"out{fuzz.TARGETS[target]}", timeout=30)
            seconds = time.perf_counter() - start
            harmless = kind.startswith("image-size") and outcome == "ok"  # (w, h) swapped, 2h: decodable
            if not harmless and (outcome != "bad-input" or seconds > 5):
                failures.append((kind, f"{outcome} in {seconds:.1f} s", messages))
            refused += outcome == "bad-input"
    assert not failures, _explain(failures)
    assert refused >= 1


@pytest.mark.parametrize("target", sorted(fuzz.TARGETS), ids=lambda t: t[1])
def test_mutated_files_decode_or_are_bad_input(seeds, tmp_path, target):
    failures, outcomes = [], {}
    for case_target, kind, data in fuzz.cases({target: seeds[target]}, CASES, seed=11):
        if kind == "modality-no-handler" or kind.startswith(("image-size", "alpha-bomb")):
            continue  # the crafted cases: tested above
        path = tmp_path / "case.ncd"
        path.write_bytes(data)
        outcome, messages = fuzz.run_inline(path, tmp_path / f"out{fuzz.TARGETS[target]}", timeout=30)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if outcome not in ("ok", "bad-input"):
            failures.append((kind, outcome, messages))
    assert not failures, _explain(failures)
    assert outcomes.get("bad-input", 0) >= CASES // 2  # the mutations do reach the checks
    assert not [f for f in tmp_path.iterdir() if f.name != "case.ncd"]  # no output, no temporary file


def test_memory_bound_in_a_subprocess(seeds):
    """The longer command, forked per case, on the hyperprior seeds: the crafted files (1 x 2**28
    pixels, 16384 x 16384, the alpha bomb) and mutations, each case's peak RSS growth under 512 MB
    and its address space capped; exit 0 means every case decoded or was a bad-input error in time."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    folder = seeds[("image", "hyperprior")][0].parent
    run = subprocess.run([sys.executable, "-m", "ncodec.tools.fuzz", "--cases", "3", "--seed", "3",
                          "--codec", "hyperprior", "--seed-dir", str(folder), "--memory-mb", "512",
                          "--timeout", "60"], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    rows = [line.split() for line in run.stdout.splitlines() if line.startswith("image")]
    assert len(rows) == 1
    for row in rows:
        cases, ok, bad, internal, hang, memory, peak_mb = (float(v) for v in row[2:])
        assert cases == ok + bad and internal == hang == memory == 0
        assert peak_mb < 512


def _png_header_only(width: int, height: int, bit_depth: int = 8, colour: int = 0) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` and whose pixel data is a few bytes."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(64))) + chunk(b"IEND", b"")


@pytest.mark.parametrize("width, height, bit_depth, colour", [
    (20000, 20000, 8, 0),   # Pillow's DecompressionBombError (over 2 x its 89 M pixel limit)
    (9000, 9000, 8, 2),     # under Pillow's limit, over ncodec's: refused from the header
    (20000, 20000, 16, 2),  # 16-bit colour: read by pypng, same check
])
def test_huge_png_headers_are_bad_input(tmp_path, width, height, bit_depth, colour):
    src = tmp_path / "huge.png"
    src.write_bytes(_png_header_only(width, height, bit_depth, colour))
    start = time.perf_counter()
    code, message = fuzz._cli(["encode", str(src), str(tmp_path / "huge.ncd")])
    assert code == 2 and "too large" in message and len(message.strip().splitlines()) == 1, message
    assert time.perf_counter() - start < 5
    assert sorted(f.name for f in tmp_path.iterdir()) == ["huge.png"]
