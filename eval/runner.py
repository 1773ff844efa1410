"""``ncodec eval``: measure codecs on a folder of samples from real files, then write results,
plots and a report, the same way for every modality.

The evaluated modality (:mod:`ncodec.codecs.modality`, its "evaluation" section) comes from the
codecs named, else from what the folder holds; it finds and reads the samples, states the rate's
unit and its metrics, and its codecs and baselines are the ones that apply. One measurement =
(codec, setting, sample): encode to a real file, take its size, decode it, compare with the
original (images: PSNR, MS-SSIM on RGB 8-bit; point clouds: bits per point, D1/D2 PSNR, max
errors). Measurements run in a process pool (``--jobs``), show a progress bar on stderr and are
cached (``eval.cache``), so a rerun only computes what changed.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ncodec import timing

from ncodec.errors import InputError
from ncodec.eval import catalog, reference
from ncodec.eval.cache import EVAL_VERSION, ResultCache
from ncodec.eval.dataset import EvalSample, discover


@dataclass(frozen=True)
class Job:
    codec: str
    setting: float
    label: str
    sample: EvalSample
    entry: Path
    key: dict


@dataclass
class Options:
    vtm_dir: str | None
    device: str
    keep_files: bool
    threads: int
    modality: str = ""  # the evaluated modality's name
    tmc3: str | None = None


# --- in the worker processes -------------------------------------------------------------------
_WORKER: dict = {}


def _init_worker(options: Options) -> None:
    import torch

    torch.set_num_threads(max(1, options.threads))
    _WORKER.clear()
    _WORKER["options"] = options


def _codec(name: str):
    options = _WORKER["options"]
    if name not in _WORKER:
        _WORKER[name] = catalog.make_codec(name, options.vtm_dir, options.device, options.tmc3)
        _WORKER[name].prepare()
    return _WORKER[name]


def measure(job: Job) -> dict:
    """Encode, size, decode and compare one sample at one setting; store the result in the cache."""
    from ncodec.codecs.registry import get_modality

    options = _WORKER["options"]
    modality = get_modality(options.modality)
    codec = _codec(job.codec)
    original = modality.eval_read(job.sample.path)
    if codec.variant:
        original = modality.eval_variant(original, codec.variant)
    with tempfile.TemporaryDirectory(prefix="ncodec-eval-") as tmp:
        with timing.record() as encoding_stages:
            start = time.perf_counter()
            path = codec.encode(original, job.setting, Path(tmp))
            encoding_time = time.perf_counter() - start
        size = path.stat().st_size
        with timing.record() as decoding_stages:
            start = time.perf_counter()
            decoded = codec.decode(path)
            decoding_time = time.perf_counter() - start
        try:
            metrics = modality.eval_measure(original, decoded, codec.encoder_output())
        except RuntimeError as e:
            raise RuntimeError(f"{job.codec} on {job.sample.name}: {e}") from None
        count = job.sample.count
        record = {modality.eval_unit: job.sample.name, "setting": job.setting, "label": job.label, "bytes": size,
                  modality.count_key: count, modality.rate_key: size * 8 / count, **metrics,
                  "encoding_time": encoding_time, "decoding_time": decoding_time,
                  # learned codecs: how much of each time was entropy coding (the rest: networks)
                  "encoding_entropy_time": encoding_stages.get("entropy"),
                  "decoding_entropy_time": decoding_stages.get("entropy"), **codec.measures()}
        ResultCache(job.entry.parents[1], options.keep_files).put(job.entry, job.key, record, path)
    return record


# --- in the main process ------------------------------------------------------------------------
def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc="ncodec eval", unit="pt", file=sys.stderr, disable=not enabled or total == 0,
                dynamic_ncols=True, leave=False)


def _run_jobs(todo: list[Job], options: Options, jobs: int, progress: bool) -> list[tuple[Job, dict]]:
    """Every job measured, in the pool when there is more than one worker; (job, record) pairs."""
    results = []
    bar = _progress(len(todo), progress)
    try:
        if jobs <= 1 or len(todo) <= 1:
            _init_worker(options)
            for job in todo:
                results.append((job, measure(job)))
                bar.update()
        else:
            import multiprocessing
            from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

            # fork where there is one: workers start at once with the modules already imported (the
            # parent has run no torch operation yet, as with a DataLoader's workers); spawn elsewhere.
            # CUDA cannot be used in a forked child, so GPU evaluations spawn.
            fork = "fork" in multiprocessing.get_all_start_methods() and not options.device.startswith("cuda")
            context = multiprocessing.get_context("fork" if fork else "spawn")
            with ProcessPoolExecutor(min(jobs, len(todo)), mp_context=context, initializer=_init_worker,
                                     initargs=(options,)) as pool:
                futures = {pool.submit(measure, job): job for job in todo}
                pending = set(futures)
                try:
                    while pending:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for future in done:
                            results.append((futures[future], future.result()))  # re-raises a failure
                            bar.update()
                except BaseException:
                    for future in pending:
                        future.cancel()
                    raise
    finally:
        bar.close()
    return results


@dataclass
class Evaluation:
    """What the writers need: the modality, the samples, per codec its object, settings and
    per-sample records."""

    dataset: Path
    modality: object      # the evaluated Modality
    samples: list[EvalSample]
    skipped_files: list[tuple[str, str]]
    codecs: dict          # name -> {"codec", "kind", "version", "settings", "records", "computed"}
    references: dict      # name -> published results dict
    unavailable: dict     # name -> install hint
    anchors: list[str]
    computed: int
    cached: int
    seconds: float
    jobs: int
    command: str


def _anchors(spec: str | None, names: list[str]) -> list[str]:
    """The given anchors, else jpeg (images), a published curve, or the first baseline named."""
    if spec:
        return [a.strip() for a in spec.split(",") if a.strip()]
    if "jpeg" in names:
        return ["jpeg"]
    return ([n for n in names if reference.is_reference(n)] or
            [n for n in names if catalog.kind_of(n) == "baseline"])[:1]


def modality_options(a: argparse.Namespace, modality) -> dict:
    """The evaluated modality's ``eval`` options that were given (another modality's: an InputError)."""
    from ncodec.codecs.registry import all_modalities

    dests = {o.dest for m in all_modalities() for o in m.options if "eval" in o.stages}
    return modality.check_options("eval", {d: getattr(a, d, None) for d in dests})


def evaluate(a: argparse.Namespace) -> Evaluation:
    from ncodec.codecs.registry import get_modality

    started = time.perf_counter()
    modality = get_modality(catalog.choose_modality(a.codecs, a.anchor, a.dataset))
    names = catalog.parse_codecs(a.codecs, modality.name)
    anchors = _anchors(a.anchor, names)
    for anchor in anchors:
        catalog.kind_of(anchor)
        if anchor not in names:
            names.append(anchor)
    if a.jobs < 1:
        raise InputError(f"--jobs must be at least 1, got {a.jobs}")
    given = modality_options(a, modality)
    fixed = given.get(modality.rate_parameter)  # e.g. --precision: one setting for every codec
    samples, skipped_files = discover(a.dataset, modality, a.limit)
    references = {}
    for name in (n for n in names if catalog.kind_of(n) == "reference"):
        if not reference.is_kodak([s.name for s in samples]):
            raise InputError(f"{name} is a published Kodak curve; {a.dataset} is not Kodak (kodim01..kodim24.png)")
        references[name] = reference.load_reference(name)

    out = Path(a.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out is a file, not a folder: {out}")
    cache = ResultCache(out / "cache", a.keep_files)
    codecs, unavailable, todo, cached = {}, {}, [], {}
    tmc3 = getattr(a, "tmc3", None)
    for name in names:
        if name in references:
            continue
        codec = catalog.make_codec(name, a.vtm_dir, a.device, tmc3)
        hint = codec.available()
        if hint is not None:
            unavailable[name] = hint
            continue
        version = codec.version()
        settings = [float(fixed)] if fixed is not None else codec.sweep(a.points)
        codecs[name] = {"codec": codec, "kind": codec.kind, "version": version, "settings": settings,
                        "records": [], "computed": 0}
        for setting in settings:
            label = codec.label(setting)
            for sample in samples:
                key = {modality.eval_unit: sample.hash, "codec": name, "setting": setting, "version": version,
                       "command": codec.command(setting), "eval": EVAL_VERSION}
                entry = cache.entry(name, sample.hash, label)
                hit = cache.get(entry, key)
                if hit is None:
                    todo.append(Job(name, setting, label, sample, entry, key))
                else:
                    codecs[name]["records"].append(dict(hit, **{modality.eval_unit: sample.name}))
                    cached[name] = cached.get(name, 0) + 1
    for anchor in anchors:
        if anchor in unavailable:
            raise InputError(f"anchor {anchor} cannot run here: {unavailable[anchor]}")
    out.mkdir(parents=True, exist_ok=True)
    # One torch thread per worker: parallelism comes from --jobs; several threads per process
    # oversubscribe the cores (and collapse when anything else runs on the machine).
    options = Options(str(a.vtm_dir) if a.vtm_dir else None, a.device, a.keep_files, 1, modality.name,
                      str(tmc3) if tmc3 else None)
    for job, record in _run_jobs(todo, options, a.jobs, not a.no_progress):
        codecs[job.codec]["records"].append(record)
        codecs[job.codec]["computed"] += 1
    return Evaluation(Path(a.dataset), modality, samples, skipped_files, codecs, references, unavailable, anchors,
                      len(todo), sum(cached.values()), time.perf_counter() - started, a.jobs,
                      command_line(a, given))


def command_line(a: argparse.Namespace, given: dict | None = None) -> str:
    """The evaluation as one reproducible command (paths as given)."""
    parts = ["ncodec eval", f"--dataset {a.dataset}", f"--codecs {a.codecs}", f"--out {a.out}"]
    if a.anchor:
        parts.append(f"--anchor {a.anchor}")
    for dest, value in (given or {}).items():
        parts.append(f"--{dest.replace('_', '-')} {value:g}" if isinstance(value, float) else f"--{dest} {value}")
    for flag, value in (("--points", a.points), ("--limit", a.limit)):
        if value:
            parts.append(f"{flag} {value}")
    if a.vtm_dir:
        parts.append(f"--vtm-dir {a.vtm_dir}")
    if getattr(a, "tmc3", None):
        parts.append(f"--tmc3 {a.tmc3}")
    if a.device != "cpu":
        parts.append(f"--device {a.device}")
    return " ".join(parts)


# --- the command ------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    from ncodec.codecs.modality import add_options
    from ncodec.codecs.registry import all_modalities

    p.add_argument("--dataset", type=Path, required=True,
                   help="folder of samples: images (not recursive), point clouds (with sub-folders)")
    p.add_argument("--codecs", required=True,
                   help="comma-separated: shipped checkpoints (ncodec list), baselines (images: jpeg, jpeg444, "
                        "webp, jpeg2000, avif, jxl, x265, vtm; point clouds: laszip, draco, gzip, zstd, lzma, "
                        "gpcc), <codec>-xyz for point clouds without intensity, published Kodak curves "
                        "(vtm-ref, hm-ref, bpg-ref, av1-ref, ...), or all (of the data set's modality)")
    p.add_argument("--out", type=Path, required=True, help="results folder (created; its cache/ is reused)")
    p.add_argument("--anchor", default=None,
                   help="BD-rate anchor(s), comma-separated (default: jpeg when present); vtm-ref works on Kodak")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel worker processes (default: all CPUs)")
    p.add_argument("--points", type=int, default=0, help="N settings of each codec's sweep: N of a fixed sweep, spread evenly; N qualities "
                        "over a learned codec's continuous quality range (default 6)")
    p.add_argument("--limit", type=int, default=0, help="use only the first N samples")
    p.add_argument("--vtm-dir", default=None, help="folder with VTM's EncoderApp/DecoderApp (default: $VTM_DIR)")
    p.add_argument("--tmc3", default=None, help="G-PCC's tmc3 binary for the gpcc baseline (default: $TMC13)")
    p.add_argument("--device", default="cpu", help="device for learned codecs (cpu or cuda)")
    p.add_argument("--keep-files", action="store_true", help="keep every bitstream beside its cache entry")
    p.add_argument("--update-card", action="store_true",
                   help="store the measured RD points of each learned codec in its model card (checkpoints/<name>.json)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_options(p, all_modalities(), "eval")  # the modalities' own (point clouds: --precision)


def run(a: argparse.Namespace) -> dict:
    """The whole evaluation; prints a summary and returns what it wrote."""
    from ncodec.api import resolve_device
    from ncodec.eval import plots, report, results
    from ncodec.eval.comparison import bd_table

    resolve_device(a.device)
    for flag, value in (("--points", a.points), ("--limit", a.limit)):
        if value < 0:
            raise InputError(f"{flag} must not be negative, got {value}")
    if a.points == 1:
        raise InputError("--points must be at least 2 (a curve needs two points)")
    started = time.perf_counter()
    ev = evaluate(a)
    out = Path(a.out)
    everything = results.write_all(ev, out)
    unit = ev.modality.eval_unit
    label = f"{ev.dataset.name} ({len(ev.samples)} {unit}s)"
    written_plots = plots.write_plots(everything, out, label, ev.modality)
    md, page = report.write_report(ev, everything, written_plots, out, time.perf_counter() - started)
    cards = [results.update_card(n, everything[n]) for n, i in ev.codecs.items() if i["kind"] == "learned"] \
        if a.update_card else []

    skipped = f" ({len(ev.skipped_files)} other file(s) skipped)" if ev.skipped_files else ""
    print(f"ncodec eval: {len(ev.samples)} {unit}s{skipped}, {len(ev.codecs)} codecs measured, "
          f"{len(ev.references)} published curves; {ev.computed} points computed, {ev.cached} from the cache, "
          f"{time.perf_counter() - started:.1f} s")
    for name, hint in ev.unavailable.items():
        print(f"skipped {name}: {hint}")
    table = report.sample_table(ev, everything)
    if table is not None:  # one setting per codec: the side-by-side table
        print(table.text())
    metric = next(m for m in ev.modality.eval_metrics if m.curve)
    for anchor in ev.anchors:
        rows = [r for r in bd_table(everything, [anchor], [metric], ev.modality.rate_key)]
        cells = [f"{r.codec} {r.bd_rate:+.1f}%" if r.error is None else f"{r.codec} n/a" for r in rows]
        print(f"BD-rate vs {anchor} ({metric.name.upper()}): " + (", ".join(cells) or "nothing to compare"))
    for card in cards:
        print(f"updated model card: {card}")
    print(f"wrote {', '.join(str(p) for p in [md, page, *written_plots.values()])} "
          f"and {len(everything)} results files in {out}")
    return {"report": md, "html": page, "plots": written_plots, "results": everything, "evaluation": ev}
