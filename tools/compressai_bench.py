"""Measure imported CompressAI models against CompressAI itself, side by side on real photos.

    python tools/compressai_bench.py make DIR [--qualities 2,5] [--minutes 6]
    python tools/compressai_bench.py measure DIR --images ../shared/data/kodak --limit 3 [--out FILE.json]

``make`` writes realistic CompressAI checkpoints of every supported architecture without
downloads: the GDN transforms of ncodec's shipped ``hyperprior`` (N=128, M=192; its per-quality
gains folded into the first/last layers) and, for the entropy models each architecture adds,
a rate-only training on latents of ../shared/data/train crops (the transforms frozen).
``cheng2020-anchor`` (other transforms) is trained end to end for ``--minutes``. Files are saved
as CompressAI's example training script saves them (``{"state_dict": ...}``).

``measure`` imports each architecture's checkpoints (``ncodec import``), codes the images with
ncodec (real files) and with CompressAI's ``compress()`` / ``decompress()`` on the same weights,
and reports per architecture: size ratio, PSNR difference, encode / decode seconds of both,
and whether ncodec's decoded latents and images are identical with 1 and 2 torch threads.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "train"
ARCHS = ("bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean", "mbt2018", "cheng2020-anchor")
LAMBDAS = {1: 0.0018, 2: 0.0035, 3: 0.0067, 4: 0.0130, 5: 0.0250, 6: 0.0483}


def _crops(n: int, size: int, seed: int = 0) -> torch.Tensor:
    from PIL import Image

    files = sorted(p for p in TRAIN.rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        img = np.asarray(Image.open(files[rng.integers(len(files))]).convert("RGB"))
        if min(img.shape[:2]) < size:
            continue
        r, c = rng.integers(img.shape[0] - size + 1), rng.integers(img.shape[1] - size + 1)
        out.append(torch.from_numpy(img[r:r + size, c:c + size].copy()).permute(2, 0, 1).float() / 255)
    return torch.stack(out)


def _rate_loss(model, y: torch.Tensor) -> torch.Tensor:
    """Bits of ``y`` (and ``z``) under the model's entropy model, transforms frozen."""
    if not hasattr(model, "h_a"):
        _, lik = model.entropy_bottleneck(y)
        return -torch.log2(lik).sum()
    z = model.h_a(y if hasattr(model, "context_prediction") or type(model).__name__ != "ScaleHyperprior"
                  else torch.abs(y))
    z_hat, z_lik = model.entropy_bottleneck(z)
    params = model.h_s(z_hat)
    if hasattr(model, "context_prediction"):
        y_hat = model.gaussian_conditional.quantize(y, "noise")
        params = model.entropy_parameters(torch.cat([params, model.context_prediction(y_hat)], 1))
    if type(model).__name__ == "ScaleHyperprior":
        _, y_lik = model.gaussian_conditional(y, params)
    else:
        scales, means = params.chunk(2, 1)
        _, y_lik = model.gaussian_conditional(y, scales, means=means)
    return -torch.log2(y_lik).sum() - torch.log2(z_lik).sum()


def _from_ncodec(arch: str, quality: int, shipped) -> torch.nn.Module:
    from ncodec.codecs.image.from_compressai.architectures import ARCHITECTURES

    model = ARCHITECTURES[arch].build(128, 192)
    src = shipped.state_dict()
    gain = shipped.rate.gain.detach().abs()[quality - 1]
    inverse = shipped.rate.inverse_gain.detach().abs()[quality - 1]
    state = model.state_dict()
    for k in state:
        if k.startswith(("g_a.", "g_s.")):
            state[k] = src[k].float().clone()
    state["g_a.6.weight"] *= gain.view(-1, 1, 1, 1)
    state["g_a.6.bias"] *= gain
    state["g_s.0.weight"] *= inverse.view(-1, 1, 1, 1)
    if arch in ("mbt2018-mean", "mbt2018"):  # same hyper networks (h_s: LeakyReLU instead of ReLU)
        for k in state:
            if k.startswith(("h_a.", "h_s.", "entropy_bottleneck.")) and f"entropy.{k}" in src and "_quantized" not in k \
                    and "_offset" not in k and "_cdf_length" not in k:
                state[k] = src[f"entropy.{k}"].float().clone()
    model.load_state_dict(state, strict=False)
    return model


def make(folder: Path, qualities: list[int], minutes: float, steps: int, archs: tuple[str, ...] = ARCHS) -> None:
    import ncodec

    folder.mkdir(parents=True, exist_ok=True)
    shipped = ncodec.load("hyperprior")
    crops = _crops(24, 256)
    for arch in [a for a in ARCHS[:4] if a in archs]:
        for q in qualities:
            torch.manual_seed(q)
            model = _from_ncodec(arch, q, shipped)
            with torch.no_grad():
                ys = torch.cat([model.g_a(crops[i:i + 8]) for i in range(0, len(crops), 8)])
            trainable = [p for n, p in model.named_parameters() if not n.startswith(("g_a.", "g_s."))]
            main = [p for p in trainable if p.ndim and p is not model.entropy_bottleneck.quantiles]
            opt = torch.optim.Adam(main, lr=1e-3)
            aux = torch.optim.Adam([model.entropy_bottleneck.quantiles], lr=1e-2)
            start = time.perf_counter()
            for step in range(steps):
                y = ys[(step * 4) % len(ys):][:4]
                loss = _rate_loss(model, y) / (y.shape[0] * 256 * 256)
                opt.zero_grad(), aux.zero_grad()
                (loss + model.aux_loss()).backward()
                opt.step(), aux.step()
            torch.save({"epoch": steps, "state_dict": model.state_dict()}, folder / f"{arch}-q{q}.pth.tar")
            print(f"{arch} q{q}: {steps} rate-only steps, {float(loss):.3f} bpp, {time.perf_counter() - start:.0f} s",
                  flush=True)
    from ncodec.codecs.image.from_compressai.architectures import ARCHITECTURES

    crops = _crops(64, 128, seed=1)
    for q in qualities if "cheng2020-anchor" in archs else ():  # end to end, for the given minutes
        torch.manual_seed(q)
        model = ARCHITECTURES["cheng2020-anchor"].build(128, 128)
        params = [p for n, p in model.named_parameters() if not n.endswith("quantiles")]
        opt = torch.optim.Adam(params, lr=1e-4 * 3)
        aux = torch.optim.Adam([model.entropy_bottleneck.quantiles], lr=1e-2)
        start, step = time.perf_counter(), 0
        while time.perf_counter() - start < minutes * 60:
            x = crops[(step * 4) % len(crops):][:4]
            out = model(x)
            bpp = sum(-torch.log2(v).sum() for v in out["likelihoods"].values()) / (x.shape[0] * 128 * 128)
            loss = LAMBDAS[q] * 255**2 * torch.mean((out["x_hat"] - x) ** 2) + bpp
            opt.zero_grad(), aux.zero_grad()
            (loss + model.aux_loss()).backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step(), aux.step()
            step += 1
        torch.save({"epoch": step, "state_dict": model.state_dict()}, folder / f"cheng2020-anchor-q{q}.pth.tar")
        print(f"cheng2020-anchor q{q}: {step} steps end to end, {float(bpp):.3f} bpp", flush=True)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


def measure(folder: Path, images: Path, limit: int, archs: list[str]) -> dict:
    import tempfile

    from PIL import Image

    from ncodec.codecs.checkpoint import load_codec
    from ncodec.codecs.image.modality import decode_container, encode_picture
    from ncodec.codecs.image.from_compressai.importer import import_compressai, load_compressai, read_state_dict
    from ncodec.entropy.container import unpack
    from ncodec.media.image import Picture

    paths = sorted(p for p in images.iterdir() if p.suffix.lower() == ".png")[:limit]
    report = {}
    with tempfile.TemporaryDirectory() as tmp:
        for arch in archs:
            ckpts = sorted(folder.glob(f"{arch}-q*.pth.tar"))
            qualities = [float(p.name.split("-q")[1].split(".")[0]) for p in ckpts]
            import_compressai(ckpts, arch, arch, Path(tmp), qualities=qualities)
            codec = load_codec(arch, "image", folder=Path(tmp))
            rows = []
            for ckpt, q in zip(ckpts, qualities):
                ref, _, _ = load_compressai(read_state_dict(ckpt), arch)
                for path in paths:
                    img = np.asarray(Image.open(path).convert("RGB"))
                    x = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255
                    t0 = time.perf_counter()
                    data = encode_picture(codec, Picture(img), q, "cpu")[0].pack()
                    t1 = time.perf_counter()
                    ours = decode_container(codec, unpack(data))[0].pixels
                    t2 = time.perf_counter()
                    with torch.no_grad():
                        enc = ref.compress(x)
                        t3 = time.perf_counter()
                        theirs = ref.decompress(enc["strings"], enc["shape"])["x_hat"]
                        t4 = time.perf_counter()
                    theirs = np.clip(np.round(theirs[0].permute(1, 2, 0).numpy() * 255), 0, 255).astype(np.uint8)
                    threads = []
                    c = unpack(data)
                    for n in (1, 2):
                        torch.set_num_threads(n)
                        threads.append(codec.decompress(c.sections[:2], c.payload[:8], q))
                    torch.set_num_threads(1)
                    same = torch.equal(threads[0]["y_hat"], threads[1]["y_hat"])
                    pixels = [torch.round(t["x_hat"] * 255) for t in threads]
                    image_diff = int((pixels[0] - pixels[1]).abs().max())
                    ref_bytes = sum(len(s[0]) for s in enc["strings"])
                    rows.append({"image": path.name, "quality": q, "bytes": len(data), "sections": sum(map(len, c.sections)),
                                 "compressai_bytes": ref_bytes, "ratio": len(data) / ref_bytes,
                                 "bpp": len(data) * 8 / img.shape[0] / img.shape[1],
                                 "psnr": _psnr(img, ours), "compressai_psnr": _psnr(img, theirs),
                                 "encode_s": t1 - t0, "decode_s": t2 - t1,
                                 "compressai_encode_s": t3 - t2, "compressai_decode_s": t4 - t3,
                                 "threads_1_vs_2_latents_identical": same,
                                 "threads_1_vs_2_max_pixel_diff": image_diff})
                    print(json.dumps({"arch": arch, **rows[-1]}), flush=True)
            report[arch] = rows
    return report


def summary(report: dict) -> str:
    lines = ["| architecture | points | size ncodec/CompressAI | PSNR diff (dB) | encode s ncodec / CompressAI | "
             "decode s ncodec / CompressAI | 1 vs 2 threads: latents identical |", "|---|---:|---:|---:|---:|---:|---|"]
    for arch, rows in report.items():
        mean = lambda k: float(np.mean([r[k] for r in rows]))  # noqa: E731
        ratios = [r["ratio"] for r in rows]
        dpsnr = [r["psnr"] - r["compressai_psnr"] for r in rows]
        lines.append(f"| {arch} | {len(rows)} | {mean('ratio'):.4f} ({min(ratios):.4f}–{max(ratios):.4f}) | "
                     f"{np.mean(dpsnr):+.4f} (max abs {max(map(abs, dpsnr)):.4f}) | "
                     f"{mean('encode_s'):.2f} / {mean('compressai_encode_s'):.2f} | "
                     f"{mean('decode_s'):.2f} / {mean('compressai_decode_s'):.2f} | "
                     f"{'yes' if all(r['threads_1_vs_2_latents_identical'] for r in rows) else 'NO'} "
                     f"(pixels: max diff {max(r['threads_1_vs_2_max_pixel_diff'] for r in rows)}) |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    mk = sub.add_parser("make")
    mk.add_argument("folder", type=Path)
    mk.add_argument("--qualities", default="2,5")
    mk.add_argument("--minutes", type=float, default=6.0, help="cheng2020-anchor end-to-end training per quality")
    mk.add_argument("--steps", type=int, default=300, help="rate-only steps of the other architectures")
    mk.add_argument("--archs", default=",".join(ARCHS))
    me = sub.add_parser("measure")
    me.add_argument("folder", type=Path)
    me.add_argument("--images", type=Path, required=True)
    me.add_argument("--limit", type=int, default=3)
    me.add_argument("--archs", default=",".join(ARCHS))
    me.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    if a.command == "make":
        make(a.folder, [int(q) for q in a.qualities.split(",")], a.minutes, a.steps, tuple(a.archs.split(",")))
        return
    report = measure(a.folder, a.images, a.limit, a.archs.split(","))
    if a.out:
        a.out.write_text(json.dumps(report, indent=1) + "\n")
    print(summary(report))


if __name__ == "__main__":
    main()
