"""Video rate-distortion benchmark: the ncodec video codec (low-delay P and all-intra) against x264 and
x265 (low-delay, no B-frames, same intra period, veryslow, tune psnr, CRF sweep), and HM / VTM
(``hm-ld`` / ``vtm-ld``: their low-delay P configurations, QP sweep) when ``HM_DIR`` / ``VTM_DIR``
give their binaries, on one sequence.

    python3 -m ncodec.tools.video_bench --sequence ../shared/data/video/BasketballPass --out results/video \
        [--frames 64] [--intra-period 32] [--qualities 0,1,2,3] [--codecs lvc,lvc-intra,x264-ld,x265-ld,hm-ld] \
        [--checkpoint video-lvc-qt] [--encoder rdo_importance=0]   # an encoder setting, side by side

Every figure comes from real files: bpp = file bytes x 8 / (frames x H x W). Per codec and rate point:
per-frame bits and PSNR-RGB, mean bpp, PSNR-Y, PSNR-YUV (6:1:1, BT.601 4:2:0 planes of the RGB
frames), PSNR-RGB (mean over frames of each frame's PSNR), MS-SSIM (RGB, when the frames are large
enough), encode and decode frames per second. Writes ``OUT/<codec>.json`` (CompressAI's results
layout + ``meta`` + ``per_frame``) and ``OUT/report.md`` with BD-rates (PSNR-RGB, PCHIP, overlap
only) of each codec against each anchor.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def load_sequence(path: Path, frames: int | None, size: str | None = None, fps: float | None = None,
                  pix_fmt: str | None = None):
    from ncodec.codecs.video import io

    clip = io.read(Path(path), size, fps, pix_fmt)
    if frames:
        clip.frames = clip.frames[:frames]
    return clip


def metrics(src: np.ndarray, dec: np.ndarray) -> dict:
    from ncodec.codecs.video.metrics import per_frame

    return per_frame(src, dec)


def run_lvc(name: str, clip, qualities, intra_period: int, checkpoint: str, log, encoder: dict | None = None) -> dict:
    import torch

    from ncodec.api import load

    torch.set_num_threads(1)
    codec = load(checkpoint, "video")
    codec.config.update(encoder or {})  # encoder choices only: the decoder below checks the files
    points = []
    for q in qualities:
        t0 = time.perf_counter()
        out = codec.compress(clip.frames, quality=float(np.float32(q)), intra_period=intra_period)
        enc = time.perf_counter() - t0
        t0 = time.perf_counter()
        dec = codec.decompress(out["strings"], out["payload"], quality=float(np.float32(q)))["x_hat"]
        dec_s = time.perf_counter() - t0
        if not np.array_equal(dec, out["x_hat"]):
            raise RuntimeError(f"{name} q={q}: decoder output differs from the encoder's reconstruction")
        # the file: header + payload + sections as the container writes them
        from ncodec.entropy.container import Container

        size = len(Container("video", codec.codec_name, codec.model_id, float(np.float32(q)),
                             out["payload"] + b"\0" * 9, list(out["strings"])).pack())
        points.append(_point(clip.frames, dec, size, [8 * b for b in out["frame_bytes"]], enc, dec_s,
                             f"q{q:g}", {"quality": q, "frame_types": "".join(out["frame_types"])}))
        log(f"  {name} q={q:g}: {points[-1]['bpp']:.4f} bpp, PSNR-RGB {points[-1]['psnr-rgb']:.2f} dB, "
            f"enc {points[-1]['encode_fps']:.2f} fps, dec {points[-1]['decode_fps']:.2f} fps")
    return {"name": name, "description": f"ncodec {checkpoint}, intra period {intra_period}", "points": points,
            "meta": {"checkpoint": checkpoint, "model_id": codec.model_id.hex(), "intra_period": intra_period,
                     "threads": 1, **({"encoder": encoder} if encoder else {})}}


def run_baseline(name: str, clip, settings, intra_period: int, log) -> dict:
    from ncodec.eval.baselines import get_baseline

    base = get_baseline(name)
    base.intra_period, base.fps = intra_period, clip.fps
    hint = base.available()
    if hint:
        raise SystemExit(f"video_bench: {name} cannot run here: {hint}")
    key = base.setting_name.lower()
    points = []
    for setting in settings or base.settings():
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            path = base.encode_clip(clip.frames, setting, Path(tmp))
            enc = time.perf_counter() - t0
            t0 = time.perf_counter()
            dec = base.decode_clip(path)
            dec_s = time.perf_counter() - t0
            bits, size = base.frame_bits(path), path.stat().st_size
        points.append(_point(clip.frames, dec, size, bits, enc, dec_s, base.label(setting), {key: setting}))
        log(f"  {name} {key}={setting:g}: {points[-1]['bpp']:.4f} bpp, PSNR-RGB {points[-1]['psnr-rgb']:.2f} dB, "
            f"enc {points[-1]['encode_fps']:.2f} fps, dec {points[-1]['decode_fps']:.2f} fps")
    return {"name": name, "description": base.description, "points": points,
            "meta": {"version": base.version(), "command": base.command(settings[0] if settings else base.settings()[0]),
                     "intra_period": intra_period}}


def _point(src, dec, size, frame_bits, enc_s, dec_s, label, extra) -> dict:
    t, h, w = src.shape[:3]
    if dec.shape != src.shape:
        raise RuntimeError(f"{label}: decoded {dec.shape}, expected {src.shape}")
    m = metrics(src, dec)
    point = {"label": label, "bytes": size, "bpp": size * 8 / (t * h * w), "encode_fps": t / enc_s,
             "decode_fps": t / dec_s, "frame_bpp": [b / (h * w) for b in frame_bits]}
    for key, v in m.items():
        point[key] = float(np.mean(v))
        point["frame_" + key] = [float(x) for x in v]
    return point | extra


def to_results(run: dict, sequence: str, frames: int) -> dict:
    keys = [k for k in ("bpp", "psnr-rgb", "psnr-y", "psnr-yuv", "ms-ssim-rgb", "encode_fps", "decode_fps")
            if all(k in p for p in run["points"])]
    return {"name": run["name"], "description": run["description"],
            "results": {k: [p[k] for p in run["points"]] for k in keys},
            "meta": run["meta"] | {"sequence": sequence, "frames": frames},
            "per_frame": [{k: v for k, v in p.items() if k.startswith("frame_") or k in ("label",)}
                          for p in run["points"]]}


ANCHORS = ["lvc-intra", "x264-ld", "x265-ld", "hm-ld", "vtm-ld"]  # those measured, in this order


def bd_table(results: dict, anchors: list[str]) -> list[str]:
    from ncodec.eval.bdrate import Curve, bd_rate

    lines = ["| test | anchor | BD-rate PSNR-RGB | overlap (anchor, test) |", "|---|---|---:|---|"]
    for anchor in anchors:
        if anchor not in results:
            continue
        a = results[anchor]["results"]
        for name, r in results.items():
            if name == anchor:
                continue
            try:
                res = bd_rate(Curve(anchor, a["bpp"], a["psnr-rgb"]), Curve(name, r["results"]["bpp"],
                                                                              r["results"]["psnr-rgb"]))
                lines.append(f"| {name} | {anchor} | {res.value:+.1f}% | {res.overlap_anchor:.0%}, {res.overlap_test:.0%} |")
            except Exception as e:  # noqa: BLE001 - no overlap: say so
                lines.append(f"| {name} | {anchor} | n/a ({e}) | |")
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="video RD benchmark: ncodec video vs x264/x265 (low-delay)")
    parser.add_argument("--sequence", required=True, help="y4m / yuv / mp4 / folder of PNG frames")
    parser.add_argument("--size"), parser.add_argument("--fps", type=float), parser.add_argument("--pix-fmt")
    parser.add_argument("--frames", type=int, default=None)
    parser.add_argument("--intra-period", type=int, default=32)
    parser.add_argument("--qualities", default="0,1,2,3", help="lvc qualities")
    parser.add_argument("--crfs", default="", help="baseline settings: x264/x265 CRFs, HM/VTM QPs (default: each one's sweep)")
    parser.add_argument("--codecs", default="lvc,lvc-intra,x264-ld,x265-ld")
    parser.add_argument("--checkpoint", default="video-lvc")
    parser.add_argument("--encoder", action="append", default=[], metavar="KEY=VALUE",
                        help="an encoder setting of the checkpoint's config (e.g. rdo_importance=0) for a side-by-side "
                             "measurement; the decoder checks every file as usual")
    parser.add_argument("--out", required=True)
    parser.add_argument("--update-card", default=None, metavar="CHECKPOINT",
                        help="store the measured points and BD-rates in that checkpoint's model card")
    parser.add_argument("--merge", nargs="*", default=None,
                        help="no coding: merge the <codec>.json files of these folders into OUT's report")
    args = parser.parse_args(argv)
    if args.merge is not None:
        results = {}
        for folder in args.merge:
            for path in sorted(Path(folder).glob("*.json")):
                results[path.stem] = json.loads(path.read_text())
        write_report(Path(args.out), results, Path(args.sequence).name, args.intra_period)
        if args.update_card:
            update_card(args.update_card, results, Path(args.sequence).name, args.intra_period)
        return
    clip = load_sequence(Path(args.sequence), args.frames, args.size, args.fps, args.pix_fmt)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    seq = Path(args.sequence).name
    t, h, w = clip.frames.shape[:3]
    print(f"{seq}: {t} frames {w}x{h} @ {clip.fps:g} fps, intra period {args.intra_period}")
    qualities = [float(q) for q in args.qualities.split(",") if q]
    crfs = [float(c) for c in args.crfs.split(",") if c]
    results = {}
    for name in args.codecs.split(","):
        if name in ("lvc", "lvc-intra"):
            period = args.intra_period if name == "lvc" else 1
            encoder = {k: json.loads(v) for k, v in (e.split("=", 1) for e in args.encoder)}
            run = run_lvc(name, clip, qualities, period, args.checkpoint, print, encoder)
        else:
            run = run_baseline(name, clip, crfs, args.intra_period, print)
        results[name] = to_results(run, seq, t)
        (out / f"{name}.json").write_text(json.dumps(results[name], indent=1) + "\n")
    write_report(out, results, seq, args.intra_period)
    if args.update_card:
        update_card(args.update_card, results, seq, args.intra_period)


def update_card(checkpoint: str, results: dict, seq: str, intra_period: int) -> None:
    from ncodec.codecs.checkpoint import set_card_field
    from ncodec.eval.bdrate import Curve, bd_rate

    entry = {"intra_period": intra_period, "frames": next(iter(results.values()))["meta"]["frames"],
             "points": {name: {k: [round(v, 4) for v in r["results"][k]] for k in ("bpp", "psnr-rgb", "psnr-y", "psnr-yuv",
                                                                                  "encode_fps", "decode_fps")
                               if k in r["results"]} for name, r in results.items()},
             "bd_rate_psnr_rgb": {}}
    if "lvc" in results:
        t = results["lvc"]["results"]
        for anchor in ANCHORS:
            if anchor in results:
                a = results[anchor]["results"]
                try:
                    r = bd_rate(Curve(anchor, a["bpp"], a["psnr-rgb"]), Curve("lvc", t["bpp"], t["psnr-rgb"]))
                    entry["bd_rate_psnr_rgb"][f"vs {anchor}"] = round(r.value, 1)
                except Exception:  # noqa: BLE001 - no overlap
                    entry["bd_rate_psnr_rgb"][f"vs {anchor}"] = None
    entry["command"] = "python3 -m ncodec.tools.video_bench (see the module docstring)"
    set_card_field(checkpoint, f"rd_{seq}", entry)


def write_report(out: Path, results: dict, seq: str, intra_period: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, r in results.items():
        (out / f"{name}.json").write_text(json.dumps(r, indent=1) + "\n")
    t = next(iter(results.values()))["meta"]["frames"]
    lines = [f"# {seq}: {t} frames, intra period {intra_period} (lvc-intra: 1), no B-frames", "",
             "| codec | point | bpp | PSNR-RGB | PSNR-Y | PSNR-YUV | MS-SSIM | enc fps | dec fps |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        res = r["results"]
        for i in range(len(res["bpp"])):
            ms = f"{res['ms-ssim-rgb'][i]:.4f}" if "ms-ssim-rgb" in res else "-"
            lines.append(f"| {name} | {r['per_frame'][i]['label']} | {res['bpp'][i]:.4f} | {res['psnr-rgb'][i]:.2f} | "
                         f"{res['psnr-y'][i]:.2f} | {res['psnr-yuv'][i]:.2f} | {ms} | {res['encode_fps'][i]:.2f} | "
                         f"{res['decode_fps'][i]:.2f} |")
    lines += ["", *bd_table(results, ANCHORS)]
    lines += ["", "Bits per frame (lvc, each point; I frames first of their GOP):", ""]
    for name, r in results.items():
        if name == "lvc":
            for pf in r["per_frame"]:
                lines.append(f"* {pf['label']}: bpp per frame " + ", ".join(f"{b:.3f}" for b in pf["frame_bpp"][:40])
                             + (" ..." if len(pf["frame_bpp"]) > 40 else ""))
    (out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
