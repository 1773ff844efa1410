"""The simplest correct training loop for an image codec (a stop-gap until the Lightning system).

Trains any registered image codec on random crops of a photo folder with the rate-distortion
loss ``lambda(q) * 255**2 * MSE + bpp`` at a random continuous quality per sample, plus the
entropy bottleneck's auxiliary (quantile) loss with its own optimizer. Saves a resumable state
to ``--out`` every ``--save-every`` steps and at the end.

    python -m ncodec.train.quick --data ../shared/data/train --out runs/hyperprior --minutes 60
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ncodec.codecs import get_codec
from ncodec.train.losses import rd_loss
from ncodec.media.image import SUFFIXES

IMAGE_SUFFIXES = set(SUFFIXES)  # every format ncodec reads (media.image)


def load_photos(root: Path, min_size: int) -> list[np.ndarray]:
    photos = []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"))
        if min(arr.shape[:2]) >= min_size:
            photos.append(arr)
    if not photos:
        raise SystemExit(f"no usable photos (>= {min_size} px) under {root}")
    return photos


def batch_of_crops(photos: list[np.ndarray], batch: int, size: int, rng: random.Random) -> torch.Tensor:
    crops = []
    for _ in range(batch):
        arr = photos[rng.randrange(len(photos))]
        top, left = rng.randrange(arr.shape[0] - size + 1), rng.randrange(arr.shape[1] - size + 1)
        crop = arr[top : top + size, left : left + size]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        crops.append(torch.from_numpy(np.ascontiguousarray(crop)))
    return torch.stack(crops).permute(0, 3, 1, 2).float().div_(255)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--codec", default="hyperprior")
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--max-steps", type=int, default=10**9)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--save-every", type=int, default=200)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    model = get_codec(args.codec).factory().to(args.device).train()
    aux_params = {n for n, _ in model.named_parameters() if n.endswith(".quantiles")}
    main_opt = torch.optim.Adam([p for n, p in model.named_parameters() if n not in aux_params], lr=args.lr)
    aux_opt = torch.optim.Adam([p for n, p in model.named_parameters() if n in aux_params], lr=1e-3)
    state_path = args.out / "last.pt"
    step, elapsed = 0, 0.0
    if state_path.exists():
        state = torch.load(state_path, map_location=args.device, weights_only=False)
        model.load_state_dict(state["model"])
        main_opt.load_state_dict(state["main_opt"])
        aux_opt.load_state_dict(state["aux_opt"])
        step, elapsed, rng = state["step"], state["elapsed"], state["rng"]
        for group in main_opt.param_groups:  # --lr applies on resume too (e.g. a final LR drop)
            group["lr"] = args.lr
        print(f"resumed from step {step} ({elapsed / 60:.1f} min), lr {args.lr}")
    photos = load_photos(args.data, args.crop)
    args.out.mkdir(parents=True, exist_ok=True)
    lo, hi = model.quality_range

    def save() -> None:
        tmp = state_path.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "main_opt": main_opt.state_dict(), "aux_opt": aux_opt.state_dict(),
                    "step": step, "elapsed": elapsed, "rng": rng, "codec": args.codec, "config": model.config,
                    "data": str(args.data), "images": len(photos), "device": args.device,
                    "batch": args.batch, "crop": args.crop}, tmp)
        os.replace(tmp, state_path)

    start, log = time.time() - elapsed, []
    while (time.time() - start) < args.minutes * 60 and step < args.max_steps:
        x = batch_of_crops(photos, args.batch, args.crop, rng).to(args.device)
        quality = torch.empty(args.batch, device=args.device).uniform_(lo, hi)
        loss, stats = rd_loss(model, x, quality)
        main_opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        main_opt.step()
        aux = model.aux_loss()
        aux_opt.zero_grad(set_to_none=True)
        aux.backward()
        aux_opt.step()
        step += 1
        elapsed = time.time() - start
        log.append({k: float(v) for k, v in stats.items()} | {"loss": loss.item()})
        if step % 50 == 0:
            mean = {k: sum(d[k] for d in log) / len(log) for k in log[0]}
            print(json.dumps({"step": step, "min": round(elapsed / 60, 2), **{k: round(v, 4) for k, v in mean.items()}}), flush=True)
            log = []
        if step % args.save_every == 0:
            save()
    save()
    print(f"saved {state_path} at step {step}")


if __name__ == "__main__":
    main()
