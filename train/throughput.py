"""Training throughput of an image codec: images/s and megapixels/s of full training steps.

    python -m ncodec.train.throughput --codec hyperprior --batch 8 --crop 256 [--device cuda] [--precision bf16]

One step = forward, RD loss, backward, optimizer step, as in :class:`CodecModule` (data loading is
excluded: crops of a photo are prepared on the device first). Prints the figures as one JSON line.
"""
from __future__ import annotations

import argparse
import json
import time

import skimage.data
import torch

from ncodec.codecs import get_codec
from ncodec.train.losses import rd_loss


def measure(codec: str, batch: int, crop: int, device: str, precision: str, steps: int, warmup: int) -> dict:
    torch.manual_seed(0)
    model = get_codec(codec).factory().to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-5)
    photo = torch.from_numpy(skimage.data.astronaut()).permute(2, 0, 1).float().div(255).to(device)
    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")

    def step() -> None:
        top, left = torch.randint(0, photo.shape[1] - crop + 1, (2, batch)).tolist()
        x = torch.stack([photo[:, t : t + crop, l : l + crop] for t, l in zip(top, left)])
        quality = torch.empty(batch, device=device).uniform_(*model.quality_range)
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss, _ = rd_loss(model, x, quality)
        opt.zero_grad(set_to_none=True)
        (loss + model.aux_loss()).backward()
        opt.step()

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    for _ in range(warmup):
        step()
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    seconds = time.perf_counter() - start
    return {"codec": codec, "device": torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu",
            "threads": torch.get_num_threads(), "precision": precision, "batch": batch, "crop": crop,
            "steps": steps, "seconds": round(seconds, 3), "images_per_s": round(steps * batch / seconds, 2),
            "megapixels_per_s": round(steps * batch * crop * crop / seconds / 1e6, 3)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--codec", default="hyperprior")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    a = ap.parse_args(argv)
    print(json.dumps(measure(a.codec, a.batch, a.crop, a.device, a.precision, a.steps, a.warmup)))


if __name__ == "__main__":
    main()
