"""One command per lent GPU: continue training the shipped ``hyperprior`` for a few minutes.

The shipped learned-transform models were trained on 2 CPU cores; a lent GPU (one `run` call of
at most 10 minutes, 64 MiB of carried tree) is where they gain most. Each call trains through
the usual Lightning path (``ncodec train fit --config configs/image/hyperprior.yaml
--model.init_from hyperprior``) in bf16-mixed, writes a compact resumable state under ``$OUT``
every minute, and exports a shipped fp16 checkpoint + model card at the end. The next call
resumes from the state the previous one gave back.

Here, once (and ``pack`` again whenever the checkout grows)::

    python3 -m ncodec.train.gpu_session pack     # .gpu/data: lossless JPEG crops of ../shared/data/train
                                                 # .whl: compressai, constriction, kornia, jsonargparse ... (cp312)

The device call (the ``run`` tool)::

    command:   python3 train/gpu_session.py run --minutes 8 --out $OUT
    carry:     [".gpu", ".whl"]
    timeout_s: 600

(Run by its path, this file installs the carried wheels into /tmp/site and makes the checkout
importable as ``ncodec`` before re-running itself as ``python3 -m ncodec.train.gpu_session``: the
package itself cannot be imported there until the wheels are in.) After the call, here::

    python3 -m ncodec.train.gpu_session collect FILES_AT   # resume state -> .gpu/resume; the rest -> runs/gpu/

What travels: the checkout (~25 MB), the wheels (~9 MB), the packed crops (sized by ``pack`` to
fit) and, from the second call on, the resume state (~16 MB: weights only, float tensors of more
than 4096 elements in fp16 as in a shipped checkpoint; Adam's moments are not kept, each call
starts a fresh optimizer). What comes back: state.pt, <name>.pt + .json, metrics.csv, session.json.
"""
from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

# Only the standard library above this line: run by its path on the device, this file must work
# before the wheels that ncodec needs are installed.

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = Path("configs/image/hyperprior.yaml")
DEFAULT_DATA = Path(".gpu/data")
DEFAULT_RESUME = Path(".gpu/resume/state.pt")
DEFAULT_WHEELS = Path(".whl")
CARRY_MIB = 64  # the run tool's limit on checkout + carried paths
RETURN_FILE_MIB = 16  # the run tool's limit on one file given back from $OUT
RESUME_RESERVE_MIB = 16  # the resume state of a hyperprior (weights, fp16 where large)
# Packages the device image lacks (device README: KINDS.md), at the versions installed here.
DEVICE_WHEELS = ("compressai", "constriction", "kornia", "kornia_rs", "pytorch-msssim", "pypng",
                 "jsonargparse", "docstring-parser", "typeshed-client")
DEVICE_MODULES = ("compressai", "constriction", "kornia", "pytorch_msssim", "png", "jsonargparse")
PLATFORMS = ("manylinux_2_34_x86_64", "manylinux_2_28_x86_64", "manylinux_2_27_x86_64",
             "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64")
EVALUATION_ONLY = ("kodak", "cbsd68")
MIB = 1 << 20


def _error(message: str):
    from ncodec.errors import InputError

    return InputError(message)


# -- here: pack the data and the wheels -------------------------------------------------------------
def carried_bytes(repo: Path, carry: list[Path]) -> int:
    """Bytes the run tool sends: tracked and untracked-not-ignored files, plus the carried paths."""
    out = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         capture_output=True, check=True).stdout
    total = sum((repo / p).stat().st_size for p in {p.decode() for p in out.split(b"\0") if p}
                if (repo / p).is_file())
    for path in carry:
        path = repo / path
        if path.is_file():
            total += path.stat().st_size
        elif path.is_dir():
            total += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return total


def _lossless_jpeg_crop(src: Path, dst: Path, size: int, rng: random.Random) -> bool:
    """Crop a baseline JPEG without decoding it (jpegtran): the training pixels stay the photo's own.
    Offsets are multiples of 16 (the largest iMCU), so the crop starts exactly where asked."""
    from PIL import Image

    with Image.open(src) as im:
        w, h = im.size
    if min(w, h) < size:
        return False
    left, top = rng.randrange(0, w - size + 1, 16), rng.randrange(0, h - size + 1, 16)
    r = subprocess.run(["jpegtran", "-crop", f"{size}x{size}+{left}+{top}", "-copy", "none", "-optimize",
                        "-outfile", str(dst), str(src)], capture_output=True)
    if r.returncode != 0:
        dst.unlink(missing_ok=True)
        return False
    with Image.open(dst) as im:
        return im.size == (size, size)


def _png_crop(src: Path, dst: Path, size: int, rng: random.Random) -> bool:
    from PIL import Image

    with Image.open(src) as im:
        im = im.convert("RGB")
        w, h = im.size
        if min(w, h) < size:
            return False
        left, top = rng.randrange(w - size + 1), rng.randrange(h - size + 1)
        im.crop((left, top, left + size, top + size)).save(dst, optimize=True)
    return True


def pack_data(source: Path, dest: Path, size: int, budget: int, seed: int = 0) -> dict:
    """One random ``size`` crop per photo (shuffled order) until ``budget`` bytes are used."""
    source, dest = Path(source), Path(dest)
    if any(word in str(source.resolve()).lower() for word in EVALUATION_ONLY):
        raise _error(f"{source} looks like evaluation data (Kodak / CBSD68): never train on it")
    if not source.is_dir():
        raise _error(f"data folder does not exist: {source}")
    from ncodec.media.image import SUFFIXES  # here: the module must import before the wheels are in

    photos = sorted(p for p in source.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
    if not photos:
        raise _error(f"no images under {source}")
    if dest.exists() and any(dest.iterdir()) and not (dest / "PACK.json").is_file():
        raise _error(f"{dest} holds files that pack did not write; give an empty or packed folder")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    rng = random.Random(seed)
    rng.shuffle(photos)
    lossless = shutil.which("jpegtran") is not None
    used, kept, skipped = 0, [], 0
    for i, src in enumerate(photos):
        jpeg = lossless and src.suffix.lower() in (".jpg", ".jpeg")
        dst = dest / f"{i:05d}{'.jpg' if jpeg else '.png'}"
        try:
            ok = (_lossless_jpeg_crop if jpeg else _png_crop)(src, dst, size, rng)
        except OSError:
            ok = False
        if not ok:
            dst.unlink(missing_ok=True)
            skipped += 1
            continue
        if used + dst.stat().st_size > budget:
            dst.unlink()
            break
        used += dst.stat().st_size
        kept.append(src.name)
    if not kept:
        shutil.rmtree(dest)
        raise _error(f"no crop of {size}x{size} fits in {budget / MIB:.1f} MiB (photos under {source})")
    info = {"source": str(source), "photos": len(photos), "crops": len(kept), "size": size, "bytes": used,
            "budget_bytes": budget, "skipped": skipped, "seed": seed,
            "method": "jpegtran lossless crop" if lossless else "PNG crop"}
    (dest / "PACK.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def download_wheels(folder: Path) -> list[str]:
    """cp312 manylinux wheels of the packages the device lacks, at this machine's versions."""
    from importlib.metadata import PackageNotFoundError, version

    specs = []
    for name in DEVICE_WHEELS:
        try:
            specs.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            specs.append(name)
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version",
           "3.12", "--implementation", "cp", "-d", str(folder)]
    for plat in PLATFORMS:
        cmd += ["--platform", plat]
    r = subprocess.run(cmd + specs, capture_output=True, text=True)
    if r.returncode != 0:
        raise _error("pip download failed: " + " ".join(r.stderr.split())[-300:])
    return specs


def cmd_pack(a: argparse.Namespace) -> None:
    repo = Path(a.repo)
    if not a.no_wheels:
        download_wheels(repo / a.wheels)
    data = repo / a.dest
    if data.exists():  # re-packing: the old crops don't count against the new budget
        if not (data / "PACK.json").is_file() and any(data.iterdir()):
            raise _error(f"{data} holds files that pack did not write")
        shutil.rmtree(data)
    others = carried_bytes(repo, [a.wheels, Path(a.dest).parent])
    budget = int(a.budget_mib * MIB) - others - (0 if (repo / a.resume).is_file() else RESUME_RESERVE_MIB * MIB)
    if budget <= 0:
        raise _error(f"no room for data: checkout + wheels + resume state take {others / MIB:.1f} MiB "
                     f"of {a.budget_mib} MiB")
    info = pack_data(a.source, data, a.size, budget, a.seed)
    total = carried_bytes(repo, [a.wheels, Path(a.dest).parent])
    info["carried_mib_now"] = round(total / MIB, 1)
    info["carried_mib_with_resume_state"] = round((total + (0 if (repo / a.resume).is_file()
                                                            else RESUME_RESERVE_MIB * MIB)) / MIB, 1)
    print(json.dumps(info))


# -- the device: bootstrap, train, save, export ----------------------------------------------------
def bootstrap(argv: list[str]) -> None:
    """Run by path: install the carried wheels if ncodec's dependencies are missing, make the
    checkout importable as ``ncodec``, and re-run as ``python3 -m ncodec.train.gpu_session``."""
    wheels_dir = REPO / DEFAULT_WHEELS
    for i, arg in enumerate(argv[:-1]):
        if arg == "--wheels":
            wheels_dir = Path(argv[i + 1])
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    paths = []
    missing = [m for m in DEVICE_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        wheels = sorted(Path(wheels_dir).glob("*.whl"))
        if not wheels:
            sys.exit(f"ncodec: error: {', '.join(missing)} missing and no wheels in {wheels_dir} "
                     "(run `python3 -m ncodec.train.gpu_session pack` here and carry .whl)")
        site = Path("/tmp/ncodec-site")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                        "--no-cache-dir", "--upgrade", "--target", str(site), *map(str, wheels)], check=True)
        paths.append(str(site))
        print(f"ncodec: installed {len(wheels)} carried wheels into {site}", flush=True)
    if importlib.util.find_spec("ncodec") is None or missing:
        link_dir = Path("/tmp/ncodec-path")
        link_dir.mkdir(exist_ok=True)
        link = link_dir / "ncodec"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(REPO, target_is_directory=True)
        paths.insert(0, str(link_dir))
    env["PYTHONPATH"] = os.pathsep.join(paths + [p for p in [os.environ.get("PYTHONPATH")] if p])
    os.chdir(REPO)
    os.execve(sys.executable, [sys.executable, "-m", "ncodec.train.gpu_session", *argv], env)


def _compact(state_dict: dict) -> dict:
    """As a shipped checkpoint stores them: float tensors of more than 4096 elements in fp16."""
    from ncodec.codecs.checkpoint import _FP16_MIN_ELEMENTS

    out = {}
    for key, t in state_dict.items():
        t = t.detach().cpu()
        out[key] = t.half() if t.is_floating_point() and t.numel() > _FP16_MIN_ELEMENTS else t.clone()
    return out


def read_resume(path: Path | None) -> dict:
    """Steps, seconds, sessions and origin recorded by the previous calls (nothing: a first call)."""
    if path is None:
        return {"steps": 0, "wall_seconds": 0.0, "sessions": [], "init_from": None}
    import torch

    state = torch.load(path, map_location="cpu", weights_only=False)
    info = state.get("ncodec", {})
    return {"steps": int(state.get("global_step") or 0), "wall_seconds": float(info.get("wall_seconds") or 0),
            "sessions": list(info.get("sessions") or []), "init_from": info.get("init_from")}


@functools.cache  # one class, however often jsonargparse resolves the name
def _session_state_callback():
    from lightning.pytorch.callbacks import Callback

    class SessionState(Callback):
        """Writes the resumable state (a Lightning-layout checkpoint holding the codec's weights,
        large ones in fp16, and cumulative steps / wall time / sessions) every ``every_seconds``
        and at the end. ``ncodec export`` and ``--model.init_from`` both read it."""

        def __init__(self, path: str, every_seconds: float = 60.0, resume: str | None = None):
            self.path, self.every_seconds, self.resume = Path(path), every_seconds, resume

        def setup(self, trainer, pl_module, stage: str) -> None:
            self.base = read_resume(Path(self.resume) if self.resume else None)
            if self.base["init_from"] is None:  # first call: where the weights came from
                self.base["init_from"] = pl_module.warm_start
            self.last_save = time.time()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            if time.time() - self.last_save >= self.every_seconds:
                self.save(trainer, pl_module)

        def on_train_end(self, trainer, pl_module) -> None:
            self.save(trainer, pl_module)

        def save(self, trainer, pl_module) -> None:
            import torch

            holder: dict = {}
            pl_module.on_save_checkpoint(holder)  # device, data, batch, crop, this call's wall time
            info = holder["ncodec"]
            steps = trainer.global_step
            session = {"device": info["device"], "steps": steps, "wall_minutes": round(info["wall_seconds"] / 60, 2),
                       "precision": str(trainer.precision)}
            info.update(wall_seconds=self.base["wall_seconds"] + info["wall_seconds"], init_from=self.base["init_from"],
                        sessions=self.base["sessions"] + [session])
            hparams = dict(pl_module.hparams)
            state = {"hyper_parameters": hparams, "global_step": self.base["steps"] + steps, "ncodec": info,
                     "state_dict": {f"codec.{k}": v for k, v in _compact(pl_module.codec.state_dict()).items()}}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp")
            torch.save(state, tmp)
            os.replace(tmp, self.path)
            self.last_save = time.time()
            metrics = {k: round(float(v), 4) for k, v in trainer.callback_metrics.items() if k.startswith("train/")}
            print(json.dumps({"saved": str(self.path), "steps": state["global_step"], "call_steps": steps,
                              "call_minutes": session["wall_minutes"], **metrics}), flush=True)

    return SessionState


def __getattr__(name: str):  # jsonargparse resolves the callback's class_path lazily
    if name == "SessionState":
        return _session_state_callback()
    raise AttributeError(name)


def _hhmmss(minutes: float) -> str:
    s = max(1, int(round(minutes * 60)))
    return f"00:{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def cmd_run(a: argparse.Namespace) -> None:
    from ncodec.codecs.checkpoint import set_card_field
    from ncodec.train.cli import main as train_main
    from ncodec.train.export import export

    out, work = Path(a.out), Path(a.work)
    if not Path(a.data).is_dir():
        raise _error(f"packed data not found: {a.data} (run `python3 -m ncodec.train.gpu_session pack` and carry .gpu)")
    if not Path(a.config).is_file():
        raise _error(f"config not found: {a.config}")
    out.mkdir(parents=True, exist_ok=True)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    resume = Path(a.resume) if a.resume and Path(a.resume).is_file() else None
    init = str(resume) if resume else (None if a.init_from in ("", "none") else a.init_from)
    base = read_resume(resume)
    state_path = out / "state.pt"
    callbacks = [{"class_path": "ncodec.train.gpu_session.SessionState",
                  "init_args": {"path": str(state_path), "every_seconds": a.save_seconds,
                                "resume": str(resume) if resume else None}}]
    logger = [{"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": str(work), "name": "log"}}]
    args = ["fit", "--config", str(a.config), "--data.root", str(a.data), "--seed_everything", str(base["steps"]),
            "--trainer.precision", a.precision, "--trainer.max_time", _hhmmss(a.minutes),
            "--trainer.enable_checkpointing", "false", "--trainer.enable_progress_bar", "false",
            "--trainer.default_root_dir", str(work),
            "--trainer.logger", json.dumps(logger), "--trainer.callbacks", json.dumps(callbacks)]
    for flag, value in (("--model.init_from", init), ("--trainer.max_steps", a.max_steps),
                        ("--trainer.accelerator", a.accelerator), ("--data.batch_size", a.batch),
                        ("--data.num_workers", a.workers), ("--model.lr", a.lr)):
        if value is not None:
            args += [flag, str(value)]
    started = time.time()
    print(json.dumps({"session": len(base["sessions"]) + 1, "resume": str(resume) if resume else None,
                      "init_from": init, "steps_before": base["steps"], "args": args}), flush=True)
    train_main(args)
    if not state_path.is_file():
        raise _error("training ended before any state was saved")
    for metrics in work.rglob("metrics.csv"):
        shutil.copyfile(metrics, out / "metrics.csv")
    state = read_resume(state_path)
    notes = (f"shipped {a.name} continued on {state['sessions'][-1]['device']}: {state['steps']} steps in "
             f"{len(state['sessions'])} call(s) of ncodec.train.gpu_session ({a.precision})")
    model_id = export(state_path, a.name, out, notes)
    card = json.loads((out / f"{a.name}.json").read_text())
    training = dict(card["training"], sessions=state["sessions"])
    packed = Path(a.data) / "PACK.json"
    if packed.is_file():  # the card names the photos, not the carried folder
        p = json.loads(packed.read_text())
        training["data"] = (f"{p['source']}: {p['crops']} of {p['photos']} photos as {p['size']}x{p['size']} crops "
                            f"({p['method']}), {training.get('images')} for training")
    set_card_field(a.name, "training", training, folder=out)
    summary = {"steps": state["steps"], "call_steps": state["sessions"][-1]["steps"],
               "device_minutes_total": round(state["wall_seconds"] / 60, 2), "model_id": model_id.hex(),
               "call_seconds": round(time.time() - started, 1),
               "state_mib": round(state_path.stat().st_size / MIB, 2),
               "files": sorted(p.name for p in out.iterdir() if p.is_file())}
    if state_path.stat().st_size > RETURN_FILE_MIB * MIB:
        summary["warning"] = f"state.pt is over {RETURN_FILE_MIB} MiB and will not come back from the device"
    (out / "session.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary), flush=True)


# -- here, after a call: keep the resume state, file the rest -------------------------------------
def cmd_collect(a: argparse.Namespace) -> None:
    from ncodec.train.export import read_training_state

    came_back = Path(a.files)
    state_path = came_back / "state.pt"
    if not state_path.is_file():
        raise _error(f"no state.pt in {came_back} (the folder the run tool gave back: files_at)")
    new = read_training_state(state_path)
    resume = Path(a.repo) / a.resume
    if resume.is_file() and read_resume(resume)["steps"] >= (new["steps"] or 0) and not a.force:
        raise _error(f"{resume} already holds {read_resume(resume)['steps']} steps, not fewer than the "
                     f"{new['steps']} given back (use --force)")
    keep = Path(a.repo) / a.keep / f"steps-{new['steps']}"
    keep.mkdir(parents=True, exist_ok=True)
    for f in came_back.iterdir():
        if f.is_file() and not f.name.endswith(".tmp"):
            shutil.copyfile(f, keep / f.name)
    resume.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(state_path, resume.with_name(resume.name + ".tmp"))
    os.replace(resume.with_name(resume.name + ".tmp"), resume)
    print(json.dumps({"resume": str(resume), "steps": new["steps"], "kept": str(keep),
                      "device_minutes_total": round((new.get("wall_seconds") or 0) / 60, 2)}))


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python3 -m ncodec.train.gpu_session", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="here: crops of the training photos into .gpu/data, device wheels into .whl")
    p.add_argument("--source", type=Path, default=REPO.parent / "shared" / "data" / "train")
    p.add_argument("--repo", type=Path, default=REPO)
    p.add_argument("--dest", type=Path, default=DEFAULT_DATA, help="relative to --repo")
    p.add_argument("--wheels", type=Path, default=DEFAULT_WHEELS, help="relative to --repo")
    p.add_argument("--resume", type=Path, default=DEFAULT_RESUME, help="relative to --repo")
    p.add_argument("--no-wheels", action="store_true")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--budget-mib", type=float, default=CARRY_MIB - 3, help="checkout + carried paths, at most")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_pack)
    r = sub.add_parser("run", help="device: train, save the state every minute, export at the end")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--minutes", type=float, default=8.0, help="training time (Lightning max_time)")
    r.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    r.add_argument("--data", type=Path, default=DEFAULT_DATA)
    r.add_argument("--resume", type=Path, default=DEFAULT_RESUME, help="resumed from when present")
    r.add_argument("--init-from", default="hyperprior", help="first call: shipped name, checkpoint, or none")
    r.add_argument("--name", default="hyperprior", help="name of the exported checkpoint under --out")
    r.add_argument("--precision", default="bf16-mixed")
    r.add_argument("--accelerator", default=None)
    r.add_argument("--batch", type=int, default=None)
    r.add_argument("--workers", type=int, default=None)
    r.add_argument("--lr", type=float, default=None)
    r.add_argument("--max-steps", type=int, default=None, help="tests: stop after this many steps")
    r.add_argument("--save-seconds", type=float, default=60.0)
    r.add_argument("--wheels", type=Path, default=DEFAULT_WHEELS, help="installed by the path-run bootstrap")
    r.add_argument("--work", type=Path, default=Path("/tmp/ncodec-gpu-session"))
    r.set_defaults(func=cmd_run)
    c = sub.add_parser("collect", help="here: keep a call's state for the next one, file the rest under runs/gpu")
    c.add_argument("files", type=Path)
    c.add_argument("--repo", type=Path, default=REPO)
    c.add_argument("--resume", type=Path, default=DEFAULT_RESUME, help="relative to --repo")
    c.add_argument("--keep", type=Path, default=Path("runs/gpu"), help="relative to --repo")
    c.add_argument("--force", action="store_true")
    c.set_defaults(func=cmd_collect)
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    a = build_parser().parse_args(argv)
    from ncodec.errors import run_reporting_errors

    return run_reporting_errors(a.func, a)


if __name__ == "__main__":
    if not __package__:  # run by path (the device): wheels first, then this module under its name
        bootstrap(sys.argv[1:])
    sys.exit(main())
