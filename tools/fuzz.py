"""Fuzz the decoders with damaged and hostile files: ``python3 -m ncodec.tools.fuzz --cases N --seed S``.

Seed files are encoded by every shipped model (a card in ``checkpoints/``; today image
``hyperprior``, ``lwc`` and ``wavelet``: RGB and RGBA; point-cloud ``lidar`` and ``octree``), then mutated as a crafted file would be: bit flips, byte
changes, truncations, header field edits (width, height, depth, channels, payload integers, section
lengths, counts, order) and stream edits, always with the container CRC **recomputed**. Each case
runs ``ncodec info`` and ``ncodec decode`` and is classified:

* ``ok``: decoded (a harmless mutation) and the output exists;
* ``bad-input``: refused with exit 2 and one line, no output file;
* ``internal``: exit 1 (an unexpected exception), or a failure that left an output file;
* ``hang``: over the per-case time limit;
* ``over-memory``: the case's peak memory grew past ``--memory-mb`` (or allocation failed).

By default every case runs in a forked child (isolation: time limit by kill, peak RSS from the
child's rusage, address space capped by RLIMIT_AS so a hostile file cannot take the machine).
``tests/test_fuzz.py`` uses the same seeds and mutations in-process (:func:`run_inline`).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import resource
import signal
import struct
import sys
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

from ncodec.codecs.registry import modality_codes
from ncodec.entropy.container import Container, unpack

OUTCOMES = ("ok", "bad-input", "internal", "hang", "over-memory")


def _codec_of(checkpoint: str) -> str:
    """The registered codec a shipped checkpoint instantiates (its card says)."""
    from ncodec.codecs.checkpoint import list_cards

    return next(c.get("codec") or c["name"] for c in list_cards() if c["name"] == checkpoint)


def _suits(example, checkpoint: str) -> bool:
    return example.codecs is None or _codec_of(checkpoint) in example.codecs


def shipped_targets() -> dict[tuple[str, str], str]:
    """Every shipped model (a card in checkpoints/) whose modality makes examples, as
    (modality, checkpoint name) -> the decoded file's suffix (from the modality's examples)."""
    import tempfile

    from ncodec.codecs.checkpoint import list_cards
    from ncodec.codecs.registry import get_codec, get_modality

    targets = {}
    with tempfile.TemporaryDirectory() as tmp:
        examples = {}
        for card in list_cards():
            modality = get_codec(card.get("codec") or card["name"]).modality
            if modality not in examples:
                examples[modality] = get_modality(modality).examples(Path(tmp))
            suits = [e for e in examples[modality] if _suits(e, card["name"])]
            if suits:
                targets[(modality, card["name"])] = suits[0].output_suffix
    return targets


TARGETS = shipped_targets()  # e.g. hyperprior, lwc, wavelet (image); lidar, octree (point cloud)
_INTERESTING = (0, 1, 2, 3, 7, 8, 15, 16, 255, 256, 512, 4095, 65535, 65536, 1 << 24, 1 << 28,
                (1 << 31) - 1, 1 << 31, (1 << 32) - 1)


# -- seed files -------------------------------------------------------------------------------------

def make_seeds(folder: Path, targets=None) -> dict[tuple[str, str], list[Path]]:
    """Encode each modality's examples with every shipped model they suit; returns the ``.ncd``
    files per target."""
    from ncodec import api
    from ncodec.codecs.registry import get_modality

    folder = Path(folder)
    seeds: dict[tuple[str, str], list[Path]] = {}
    examples: dict[str, list] = {}
    for modality, codec in targets or TARGETS:
        if modality not in examples:
            examples[modality] = get_modality(modality).examples(folder)
        for example in examples[modality]:
            if not _suits(example, codec):
                continue
            out = folder / f"{codec}-{example.path.stem}.ncd"
            api.encode_file(example.path, out, codec=codec, **example.options)
            seeds.setdefault((modality, codec), []).append(out)
    return seeds


def existing_seeds(folder: Path, targets) -> dict[tuple[str, str], list[Path]]:
    """Seed files made earlier by :func:`make_seeds` (named ``<codec>-<input>.ncd``)."""
    seeds = {t: sorted(folder.glob(f"{t[1]}-*.ncd")) for t in targets}
    return {t: files for t, files in seeds.items() if files}


def warm(seeds: dict, folder: Path) -> None:
    """Decode every seed once, with no time limit: loads the models and imports everything a
    decode needs before any case runs (an import cut short by a case's alarm would stay broken,
    and a forked child should not pay for imports)."""
    for target, files in seeds.items():
        for f in files:
            out = Path(folder) / f"warm{TARGETS[target]}"
            code, message = _cli(["decode", str(f), str(out), "--force"])
            if code != 0:
                raise RuntimeError(f"seed {f.name} does not decode: {message.strip()}")
            out.unlink()


# -- mutations (the CRC is always recomputed) ---------------------------------------------------------

def _with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def _interesting(rng: np.random.Generator, original: int) -> int:
    pool = list(_INTERESTING) + [original * 2, original // 2, original + 1, max(original - 1, 0), original * 256]
    return int(pool[rng.integers(len(pool))])


def _edit_int(blob: bytearray, rng: np.random.Generator) -> None:
    """Overwrite one aligned little-endian integer / float field of ``blob`` with an edge value."""
    fmt = ["<B", "<H", "<I", "<Q", "<f", "<d"][rng.integers(6)]
    size = struct.calcsize(fmt)
    if len(blob) < size:
        return
    pos = int(rng.integers(0, len(blob) - size + 1))
    if fmt in ("<f", "<d"):
        (old,) = struct.unpack_from(fmt, blob, pos)
        pool = [0.0, -1.0, 1e-30, 1e30, 1e300, float("inf"), float("nan"), old * 1e6 if np.isfinite(old) else 1.0]
        value = pool[rng.integers(len(pool))]
        try:
            struct.pack_into(fmt, blob, pos, value)
        except OverflowError:  # beyond f32: what a crafted file would hold is infinity
            struct.pack_into(fmt, blob, pos, float("inf") if value > 0 else float("-inf"))
    else:
        (old,) = struct.unpack_from(fmt, blob, pos)
        struct.pack_into(fmt, blob, pos, _interesting(rng, old) % (1 << (8 * size)))


def _mutate_container(c: Container, rng: np.random.Generator) -> tuple[str, Container]:
    kind = ["payload-field", "image-size", "section-bits", "section-truncate", "section-extend",
            "section-drop", "section-add", "section-swap", "section-prefix", "quality", "modality"][rng.integers(11)]
    payload, sections = bytearray(c.payload), [bytearray(s) for s in c.sections]
    modality, quality = c.modality, c.quality
    pick = int(rng.integers(len(sections))) if sections else 0
    if kind == "image-size" and c.modality == "image" and len(payload) >= 8:
        field = int(rng.integers(4))  # height, width, bit depth, channels
        fmt, pos = [("<I", 0), ("<I", 4), ("<B", 8), ("<B", 9)][field]
        (old,) = struct.unpack_from(fmt, payload, pos)
        struct.pack_into(fmt, payload, pos, _interesting(rng, old) % (1 << (8 * struct.calcsize(fmt))))
    elif kind in ("payload-field", "image-size"):
        _edit_int(payload, rng)
    elif kind == "section-bits" and sections:
        s = sections[pick]
        for _ in range(int(rng.integers(1, 4))):
            if s:
                s[int(rng.integers(len(s)))] ^= 1 << int(rng.integers(8))
    elif kind == "section-truncate" and sections:
        sections[pick] = sections[pick][: int(rng.integers(len(sections[pick]) + 1))]
    elif kind == "section-extend" and sections:
        sections[pick] += bytearray(rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes())
    elif kind == "section-drop" and sections:
        del sections[pick]
    elif kind == "section-add":
        sections.insert(int(rng.integers(len(sections) + 1)), bytearray(rng.integers(0, 256, 16, dtype=np.uint8).tobytes()))
    elif kind == "section-swap" and len(sections) > 1:
        a, b = rng.choice(len(sections), 2, replace=False)
        sections[a], sections[b] = sections[b], sections[a]
    elif kind == "section-prefix" and sections:
        _edit_int(sections[pick], rng) if rng.random() < 0.5 else (
            struct.pack_into("<I", sections[pick], 0, _interesting(rng, struct.unpack_from("<I", sections[pick])[0]) % (1 << 32))
            if len(sections[pick]) >= 4 else None)
    elif kind == "quality":
        quality = float([0.0, -1.0, 1e9, float("nan"), float("inf"), quality + 0.5][rng.integers(6)])
    elif kind == "modality":
        others = [m for m in modality_codes() if m != c.modality]
        modality = others[int(rng.integers(len(others)))]
    else:
        _edit_int(payload, rng)
    return kind, Container(modality, c.codec, c.model_id, quality, bytes(payload), [bytes(s) for s in sections])


def mutate(data: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    """One mutation of a valid file; returns (kind, bytes with the CRC recomputed)."""
    body = bytearray(data[:-4])
    choice = rng.random()
    if choice < 0.25:
        for _ in range(int(rng.integers(1, 4))):
            body[int(rng.integers(len(body)))] ^= 1 << int(rng.integers(8))
        return "bit-flip", _with_crc(bytes(body))
    if choice < 0.4:
        for _ in range(int(rng.integers(1, 5))):
            body[int(rng.integers(len(body)))] = int(rng.integers(256))
        return "byte-set", _with_crc(bytes(body))
    if choice < 0.5:
        return "truncate", _with_crc(bytes(body[: int(rng.integers(len(body)))]))
    kind, c = _mutate_container(unpack(data), rng)
    try:
        return kind, c.pack()
    except (ValueError, struct.error):
        return "bit-flip", _with_crc(bytes(body[:-1]) + bytes([body[-1] ^ 1]))


def crafted(data: bytes) -> list[tuple[str, bytes]]:
    """Hand-built hostile headers for one valid file (the issue's cases), CRC valid."""
    c = unpack(data)
    out = []
    free = min(set(range(1, 256)) - set(modality_codes().values()))  # a code no modality has
    body = bytearray(data[:-4])
    body[5] = free
    out.append(("modality-no-handler", bytes(body) + struct.pack("<I", zlib.crc32(body))))
    if c.modality == "image":
        h, w, bits, channels = struct.unpack_from("<IIBB", c.payload)
        for hh, ww in ((1, 1 << 28), (1 << 28, 1), (1 << 16, 1 << 12), (1 << 14, 1 << 14), (w, h), (2 * h, w)):
            payload = struct.pack("<IIBB", hh, ww, bits, channels)
            out.append((f"image-size {hh}x{ww}", Container("image", c.codec, c.model_id, c.quality, payload, c.sections).pack()))
        if channels == 4:  # alpha section that inflates far beyond H * W
            bomb = zlib.compress(bytes(64 << 20), 9)
            out.append(("alpha-bomb", Container("image", c.codec, c.model_id, c.quality, c.payload,
                                                c.sections[:2] + [bomb]).pack()))
    return out


def cases(seeds: dict, n: int, seed: int):
    """The crafted cases, then ``n`` mutated files per target, reproducible from ``seed``:
    yields (target, kind, bytes)."""
    for t, (target, files) in enumerate(sorted(seeds.items())):
        rng = np.random.default_rng([seed, t])
        originals = [f.read_bytes() for f in files]
        for original in originals:
            for kind, data in crafted(original):
                yield target, kind, data
        for i in range(n):
            kind, data = mutate(originals[i % len(originals)], rng)
            yield target, kind, data


# -- running a case ---------------------------------------------------------------------------------

class _Timeout(BaseException):
    """Raised by the alarm in :func:`run_inline` (a BaseException: the CLI does not catch it)."""


def _cli(argv: list[str]) -> tuple[int, str]:
    from ncodec.cli import main

    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue()


def _outputs(out: Path) -> list[Path]:
    """The output and any temporary file of it (media/atomic.py writes ``.<name>.*`` first)."""
    return [f for f in out.parent.iterdir() if f.name == out.name or f.name.startswith(f".{out.name}.")]


def _classify(codes: list[int], messages: list[str], wrong_files: bool) -> str:
    """``codes``: exit codes of info and decode; ``wrong_files``: a failed decode left a file (or
    a temporary one), or a successful one wrote none."""
    text = " ".join(messages)
    if any(c == 1 for c in codes) and ("MemoryError" in text or "allocate" in text):
        return "over-memory"
    if any(c not in (0, 2) for c in codes) or wrong_files:
        return "internal"
    if any(len(m.strip().splitlines()) != 1 for m, c in zip(messages, codes) if c == 2):
        return "internal"  # a refusal is one line
    return "bad-input" if codes[-1] == 2 else "ok"


def run_inline(path: Path, out: Path, timeout: float = 20.0) -> tuple[str, list[str]]:
    """``ncodec info`` then ``ncodec decode`` in this process, with a time limit (SIGALRM)."""
    def alarm(*_):
        raise _Timeout

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        info = _cli(["info", str(path)])
        dec = _cli(["decode", str(path), str(out)])
    except _Timeout:
        for f in _outputs(out):
            f.unlink()
        return "hang", []
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    left = _outputs(out)
    outcome = _classify([info[0], dec[0]], [info[1], dec[1]], bool(left) != (dec[0] == 0))
    for f in _outputs(out):
        f.unlink()
    return outcome, [info[1].strip(), dec[1].strip()]


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def run_forked(path: Path, out: Path, timeout: float, memory_mb: int) -> tuple[str, list[str], float]:
    """The same in a forked child: killed after ``timeout``; its peak RSS above the parent's is
    checked against ``memory_mb`` and its address space is capped (parent VM + 2x the budget)."""
    err_path = out.with_suffix(".err")
    base_rss_kb = _status_kb("VmRSS")  # the child starts with the parent's resident pages
    cap = _status_kb("VmSize") * 1024 + 2 * memory_mb * (1 << 20)
    pid = os.fork()
    if pid == 0:  # child
        code = 99
        try:
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
            info = _cli(["info", str(path)])
            dec = _cli(["decode", str(path), str(out)])
            err_path.write_text(f"{info[0]} {dec[0]}\n{info[1].strip()}\n--\n{dec[1].strip()}\n")
            code = 0
        except MemoryError:
            code = 98
        finally:
            os._exit(code)
    start = time.monotonic()
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() - start > timeout:
            os.kill(pid, signal.SIGKILL)
            os.wait4(pid, 0)
            out.unlink(missing_ok=True)
            err_path.unlink(missing_ok=True)
            return "hang", [], timeout
        time.sleep(0.002)
    grown_mb = max(usage.ru_maxrss - base_rss_kb, 0) / 1024
    left = _outputs(out)
    for f in left:
        f.unlink()
    if os.WIFSIGNALED(status) or os.WEXITSTATUS(status) in (98, 99) or not err_path.exists():
        err_path.unlink(missing_ok=True)
        signalled = os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGABRT, signal.SIGKILL)
        kind = "over-memory" if signalled or os.WEXITSTATUS(status) == 98 else "internal"
        return kind, [f"child status {status}"], grown_mb
    head, info_msg, dec_msg = (err_path.read_text().split("\n", 1)[0],
                               *err_path.read_text().split("\n", 1)[1].split("\n--\n"))
    err_path.unlink(missing_ok=True)
    codes = [int(v) for v in head.split()]
    outcome = _classify(codes, [info_msg, dec_msg], bool(left) != (codes[-1] == 0))
    if grown_mb > memory_mb:
        outcome = "over-memory"
    return outcome, [info_msg.strip(), dec_msg.strip()], grown_mb


# -- the command ------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m ncodec.tools.fuzz", description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=200, help="mutated files per codec (default 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--modality", choices=sorted({m for m, _ in TARGETS}), default=None)
    p.add_argument("--codec", choices=sorted({c for _, c in TARGETS}), default=None)
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per case")
    p.add_argument("--memory-mb", type=int, default=2048, help="peak RSS growth allowed per case")
    p.add_argument("--seed-dir", default=None, help="use the <codec>-*.ncd files there instead of encoding seeds")
    p.add_argument("--inline", action="store_true", help="no fork per case (faster; no memory check)")
    p.add_argument("--show", type=int, default=3, help="example messages shown per unexpected outcome")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)  # forking after a multi-threaded OpenMP region is unsafe
    targets = [t for t in TARGETS if args.modality in (None, t[0]) and args.codec in (None, t[1])]
    with tempfile.TemporaryDirectory(prefix="ncodec-fuzz-") as tmp:
        tmp = Path(tmp)
        seeds = existing_seeds(Path(args.seed_dir), targets) if args.seed_dir else make_seeds(tmp, targets)
        warm(seeds, tmp)
        counts: dict[tuple, Counter] = {t: Counter() for t in seeds}
        examples: dict[tuple, list] = {}
        peak = Counter()
        start = time.monotonic()
        for i, (target, kind, data) in enumerate(cases(seeds, args.cases, args.seed)):
            path, out = tmp / "case.ncd", tmp / f"case{TARGETS[target]}"
            path.write_bytes(data)
            if args.inline:
                outcome, messages = run_inline(path, out, args.timeout)
                grown = 0.0
            else:
                outcome, messages, grown = run_forked(path, out, args.timeout, args.memory_mb)
            counts[target][outcome] += 1
            peak[target] = max(peak[target], grown)
            if outcome not in ("ok", "bad-input"):
                examples.setdefault((target, outcome), []).append((kind, messages))
            if (i + 1) % 200 == 0:
                print(f"fuzz: {i + 1} cases, {time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)
        elapsed = time.monotonic() - start
    print(f"fuzz: seed {args.seed}, {args.cases} cases per codec, {elapsed:.0f} s")
    print(f"{'modality':<11}{'codec':<11}{'cases':>7}" + "".join(f"{o:>13}" for o in OUTCOMES) + f"{'peak MB':>10}")
    total = Counter()
    for (modality, codec), c in sorted(counts.items()):
        total.update(c)
        print(f"{modality:<11}{codec:<11}{sum(c.values()):>7}" + "".join(f"{c[o]:>13}" for o in OUTCOMES)
              + f"{peak[(modality, codec)]:>10.0f}")
    print(f"{'total':<22}{sum(total.values()):>7}" + "".join(f"{total[o]:>13}" for o in OUTCOMES))
    for (target, outcome), items in sorted(examples.items()):
        for kind, messages in items[: args.show]:
            print(f"  {target[1]} {outcome} ({kind}): {' | '.join(m for m in messages if m)[:300]}")
    return 0 if sum(total[o] for o in OUTCOMES[2:]) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
