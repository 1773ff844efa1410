"""RD points of a shipped image codec on a folder of photos, side by side with JPEG, from real files.

    python -m ncodec.eval.image_bench --dataset ../shared/data/kodak --qualities 1,2,3.5,6

Per quality: mean bpp (whole files), PSNR-RGB of the decoded files, encode/decode seconds per image
split into network and entropy coding, real/estimated bits; then JPEG (Pillow, 4:2:0) bpp at the
same mean PSNR, and the ratio. ``--json`` writes CompressAI's results layout plus a ``meta`` block.
"""
from __future__ import annotations

import argparse
import io
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import ncodec
from ncodec.eval.metrics import psnr
from ncodec.codecs.image.hyperprior import pad_to

JPEG_QUALITIES = (5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95)


def jpeg_curve(images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    bpp, quality_psnr = [], []
    for q in JPEG_QUALITIES:
        b, p = [], []
        for img in images:
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="JPEG", quality=q)
            b.append(buf.tell() * 8 / (img.shape[0] * img.shape[1]))
            p.append(psnr(img, np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")), 255))
        bpp.append(np.mean(b))
        quality_psnr.append(np.mean(p))
    return np.array(bpp), np.array(quality_psnr)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--codec", default="hyperprior")
    ap.add_argument("--qualities", default="1,2,3.5,6")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N images")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--update-card", action="store_true",
                    help="store the measured points in the checkpoint's model card (checkpoints/<codec>.json)")
    a = ap.parse_args(argv)

    paths = sorted(p for p in a.dataset.iterdir() if p.suffix.lower() == ".png")[: a.limit or None]
    if not paths:
        raise SystemExit(f"no .png images in {a.dataset}")
    codec = ncodec.load(a.codec, device=a.device)
    qualities = [float(q) for q in a.qualities.split(",")]
    originals = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ncodec.encode_file(paths[0], Path(tmp) / "warmup.ncd", a.codec, qualities[0], a.device)  # one-time costs
        for q in qualities:
            per = {k: [] for k in ("bpp", "psnr", "enc", "enc_entropy", "dec", "dec_entropy", "real_bits", "est_bits")}
            for path, original in zip(paths, originals):
                ncd, png = Path(tmp) / f"{path.stem}-{q}.ncd", Path(tmp) / f"{path.stem}-{q}.png"
                enc = ncodec.encode_file(path, ncd, a.codec, q, a.device)
                dec = ncodec.decode_file(ncd, png, a.device)
                assert torch.equal(enc["x_hat"], dec["x_hat"])
                container = ncodec.api.read_container(ncd)
                x = torch.from_numpy(original).permute(2, 0, 1)[None].float().div(255).to(a.device)
                with torch.no_grad():
                    lik = codec(pad_to(x, codec.stride), q)["likelihoods"]
                per["est_bits"].append(sum(float(-torch.log2(v).sum()) for v in lik.values()))
                per["real_bits"].append(sum(len(s) for s in container.sections) * 8)
                per["bpp"].append(enc["bpp"])
                per["psnr"].append(psnr(original, np.asarray(Image.open(png).convert("RGB")), 255))
                per["enc"].append(enc["seconds"])
                per["enc_entropy"].append(enc["entropy_seconds"])
                per["dec"].append(dec["seconds"])
                per["dec_entropy"].append(dec["entropy_seconds"])
            rows.append({"quality": q, **{k: v for k, v in per.items()}})
    jpeg_bpp, jpeg_psnr = jpeg_curve(originals)

    print(f"{a.codec} on {a.dataset} ({len(paths)} images), device {a.device}, torch threads {torch.get_num_threads()}")
    print("quality   bpp     PSNR   enc s (net/entropy)   dec s (net/entropy)   real/est bits   JPEG bpp @PSNR  ours/JPEG")
    for r in rows:
        m = {k: float(np.mean(v)) for k, v in r.items() if k != "quality"}
        ratio_bits = sum(r["real_bits"]) / sum(r["est_bits"])
        order = np.argsort(jpeg_psnr)
        jb = float(np.exp(np.interp(m["psnr"], jpeg_psnr[order], np.log(jpeg_bpp[order]), left=np.nan, right=np.nan)))
        print(f"{r['quality']:>6.2f}  {m['bpp']:.4f}  {m['psnr']:6.2f}  "
              f"{m['enc']:.3f} ({m['enc'] - m['enc_entropy']:.3f}/{m['enc_entropy']:.3f})     "
              f"{m['dec']:.3f} ({m['dec'] - m['dec_entropy']:.3f}/{m['dec_entropy']:.3f})     "
              f"{ratio_bits:.4f}          {jb:.4f}          {m['bpp'] / jb:.3f}")
    print("JPEG (Pillow 4:2:0) mean curve: " + ", ".join(f"q{q}: {b:.3f} bpp {p:.2f} dB" for q, b, p in zip(JPEG_QUALITIES, jpeg_bpp, jpeg_psnr)))
    if a.update_card:
        from ncodec.codecs.checkpoint import card_path

        path = card_path(a.codec)
        card = json.loads(path.read_text())
        card["rd_points"] = {
            "dataset": f"{a.dataset.name} ({len(paths)} images)", "measured": time.strftime("%Y-%m-%d"),
            "command": "python3 -m ncodec.eval.image_bench --dataset DIR --qualities " + a.qualities,
            "quality": qualities, "bpp": [round(float(np.mean(r["bpp"])), 4) for r in rows],
            "psnr-rgb": [round(float(np.mean(r["psnr"])), 3) for r in rows],
        }
        path.write_text(json.dumps(card, indent=2) + "\n")
    if a.json:
        results = {
            "name": a.codec, "description": f"ncodec {a.codec}, real files",
            "results": {"quality": qualities, "bpp": [float(np.mean(r["bpp"])) for r in rows],
                        "psnr-rgb": [float(np.mean(r["psnr"])) for r in rows],
                        "encoding_time": [float(np.mean(r["enc"])) for r in rows],
                        "decoding_time": [float(np.mean(r["dec"])) for r in rows]},
            "per_image": {p.name: {"bpp": [r["bpp"][i] for r in rows], "psnr-rgb": [r["psnr"][i] for r in rows]}
                          for i, p in enumerate(paths)},
            "meta": {"dataset": str(a.dataset), "images": len(paths), "device": a.device,
                     "model_id": codec.model_id.hex(), "torch": torch.__version__,
                     "machine": platform.platform(), "date": time.strftime("%Y-%m-%d")},
        }
        a.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
