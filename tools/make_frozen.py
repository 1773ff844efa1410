"""Write the frozen bitstreams of one shipped model into ``tests/frozen/`` (issue 11, item 4).

    python tools/make_frozen.py MODEL [--folder tests/frozen]      # e.g. hyperprior, wavelet, lidar, octree

Why: every other test encodes and decodes with the same code, so a change that alters encoder and
decoder together (range coder, fixed point, tables, container) passes while every ``.ncd`` already
written stops decoding. These small committed files were made by the encoder of the day; the
manifest holds each file's SHA-256 and the SHA-256 of what it must decode to, and
``tests/test_frozen.py`` decodes them all with today's decoder.

What is hashed (:func:`digests`), so the comparison holds on any machine where the format promises it:

* point clouds: the decoded points (float64 ``xyz`` and intensity, little-endian bytes). The
  decoders are exact integer/IEEE code, so these hashes must match everywhere.
* video: the decoded frames (uint8 RGB). Table selection is integer, but the reconstruction is
  float64 rounded to 8 bits, so like image pixels the hash is compared only on the recorded
  ``pixels_platform``; the file's own hash and its frame count are checked everywhere.
* images: the decoded latent ``y_hat`` (float32 bytes; symbols plus fixed-point means, exact on
  every device) must match everywhere. The pixels go through the float synthesis ``g_s``, which
  may differ by one level in rare pixels across devices (README), so their hash (decoded pixel
  array bytes, not the PNG container) is compared only where the manifest's ``pixels_platform``
  equals the machine running the test.

The inputs are synthetic or scikit-image crops (never /work/shared data). The tool is generic: the
model's modality (from its card and the codec registry) picks the samples, so a new image or
point-cloud model gets its frozen files with the same command. Entries marked ``"keep": true``
(files written by an older format version, kept to prove they still decode) are never replaced.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

FOLDER = Path(__file__).resolve().parents[1] / "tests" / "frozen"
MANIFEST = "manifest.json"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _array_bytes(a) -> bytes:
    a = np.ascontiguousarray(np.asarray(a))
    return a.astype(a.dtype.newbyteorder("<")).tobytes()


def pixels_platform() -> str:
    """Where a pixel hash is comparable: same CPU architecture, SIMD kernels and torch version, decoding
    on CPU with one thread (the float synthesis rounds differently with 2 threads: seen here, 1 pixel)."""
    import torch

    return (f"cpu/{platform.machine()}/{torch.backends.cpu.get_cpu_capability()}/"
            f"torch-{torch.__version__.split('+')[0]}/1-thread")


@contextmanager
def _one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def digests(modality: str, decoded: dict) -> dict:
    """The hashes a frozen file's decode is checked by (see the module docstring)."""
    if modality == "image":
        return {"latent_sha256": sha256(_array_bytes(decoded["y_hat"].cpu().numpy().astype(np.float32))),
                "pixels_sha256": sha256(_array_bytes(decoded["pixels"]))}
    if modality == "video":
        return {"frames_sha256": sha256(_array_bytes(decoded["frames"])), "frames": int(len(decoded["frames"]))}
    x = decoded["x_hat"]
    parts = [_array_bytes(np.asarray(x["xyz"], dtype=np.float64))]
    if x.get("intensity") is not None:
        parts.append(_array_bytes(np.asarray(x["intensity"], dtype=np.float64)))
    return {"points_sha256": sha256(b"".join(parts)), "points": int(len(x["xyz"]))}


def decode(path: Path, workdir: Path) -> tuple[str, dict]:
    """Decode a frozen file through the public API (and, for images, the latent): (modality, decoded)."""
    import ncodec
    from ncodec.api import read_container

    container = read_container(path)
    if container.modality == "image":
        from ncodec.api import _checkpoint_for, load

        with _one_thread():  # the pixel hash is a same-platform, one-thread check (pixels_platform)
            out = ncodec.decode_file(path, workdir / (path.stem + ".png"), force=True)
        model = load(_checkpoint_for(container), "image", "cpu")
        y_hat = model.decompress(container.sections[:2], container.payload[:8], container.quality)["y_hat"]
        return "image", {"y_hat": y_hat, "pixels": out["sample"].pixels}
    if container.modality == "video":
        with _one_thread():
            out = ncodec.decode_file(path, workdir / (path.stem + ".y4m"), force=True)
        return "video", {"frames": out["sample"].frames}
    out = ncodec.decode_file(path, workdir / (path.stem + ".bin"), force=True)
    return container.modality, {"x_hat": out["x_hat"]}


# -- samples: small deterministic inputs per modality ------------------------------------------------

def _crop(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[200:248, 180:244])  # 48 rows x 64 columns


def image_samples(model, folder: Path) -> list[tuple[str, Path, dict]]:
    """RGB at the model's lowest and highest quality, gray and RGBA at its middle quality."""
    import skimage.data
    from PIL import Image

    lo, hi = (float(np.float32(v)) for v in model.quality_range)
    mid = float(np.float32((lo + hi) / 2))
    rgb = _crop(skimage.data.astronaut())
    gray = _crop(skimage.data.camera())
    yy, xx = np.mgrid[0:48, 0:64]
    alpha = np.clip(255 - 4 * np.hypot(yy - 24, xx - 32), 0, 255).astype(np.uint8)
    rgba = np.concatenate([rgb, alpha[..., None]], axis=2)
    out = []
    for tag, pixels, quality in (("rgb-qlow", rgb, lo), ("rgb-qhigh", rgb, hi), ("gray", gray, mid),
                                 ("rgba", rgba, mid)):
        src = folder / f"{tag}.png"
        Image.fromarray(pixels).save(src)
        out.append((tag, src, {"quality": quality}))
    return out


def synthetic_sweep(rings: int, azimuths: int, seed: int, noise_intensity: bool) -> np.ndarray:
    """A small LiDAR-like sweep in scan order (KITTI ``.bin`` rows x, y, z, intensity): ground,
    a wall and a box, 1 mm grid; intensity on a 0.01 grid, or uniform 16-bit noise."""
    rng = np.random.default_rng(seed)
    elev = np.radians(np.linspace(-24, 2, rings))[:, None]
    az = np.linspace(-np.pi, np.pi, azimuths, endpoint=False)[None, :] + rng.normal(0, 1e-4, (rings, azimuths))
    ground = np.where(elev < 0, 1.7 / np.maximum(np.sin(-elev), 1e-3), np.inf)
    wall = 25.0 / np.maximum(np.abs(np.cos(az)), 1e-3) / np.cos(elev)
    box = np.where(np.abs(az - 0.7) < 0.15, 8.0 / np.cos(elev), np.inf)
    r = np.minimum(np.minimum(np.minimum(ground, wall), box) + rng.normal(0, 0.01, (rings, azimuths)), 80.0)
    xyz = np.stack([r * np.cos(elev) * np.cos(az), r * np.cos(elev) * np.sin(az),
                    np.broadcast_to(r * np.sin(elev), r.shape)], axis=-1).reshape(-1, 3)
    xyz = np.round(xyz * 1000) / 1000
    if noise_intensity:
        intensity = rng.integers(0, 65536, len(xyz)).astype(np.float64)
    else:
        intensity = np.round(np.clip(0.3 + 0.2 * np.sin(3 * xyz[:, 0]), 0, 0.99) * 100) / 100
    return np.column_stack([xyz, intensity]).astype("<f4")


def synthetic_object(n: int = 1500, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(n, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    xyz = u * 0.05 * (1 + 0.2 * np.sin(6 * u[:, :1]))
    return np.column_stack([xyz, np.zeros(n)]).astype("<f4")


def cloud_samples(model, folder: Path) -> list[tuple[str, Path, dict]]:
    """A scan-ordered sweep, one with noise intensity (the raw-intensity path), a small object."""
    out = []
    samples = [("sweep", synthetic_sweep(8, 256, 0, False), 0.001),
               ("sweep-noise-intensity", synthetic_sweep(4, 256, 1, True), 0.001),
               ("object", synthetic_object(), 0.002)]
    if not getattr(model, "codes_intensity", True):  # geometry-only codecs: the noise sample adds nothing
        samples = [s for s in samples if "intensity" not in s[0]]
    for tag, rows, precision in samples:
        src = folder / f"{tag}.bin"
        rows.tofile(src)
        out.append((tag, src, {"precision": precision}))
    return out


def video_samples(model, folder: Path) -> list[tuple[str, Path, dict]]:
    """The video modality's own example: a 4-frame 64x48 clip, intra period 2 (I P I P)."""
    from ncodec.codecs.registry import get_modality

    return [(e.path.stem, e.path, dict(e.options)) for e in get_modality("video").examples(folder)]


SAMPLES = {"image": image_samples, "pointcloud": cloud_samples, "video": video_samples}


def model_modality(name: str) -> str:
    from ncodec.codecs.checkpoint import card_path
    from ncodec.codecs.registry import get_codec
    from ncodec.errors import InputError

    card = card_path(name)
    if not card.is_file():
        raise InputError(f"no shipped model named {name!r} (no {card})")
    return get_codec(json.loads(card.read_text())["codec"]).modality


def load_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else {"files": {}}


def make(name: str, folder: Path = FOLDER) -> list[str]:
    """Encode the samples of model ``name``, write ``folder/<name>-<sample>.ncd`` and their manifest
    entries (replacing that model's previous entries except those marked keep). Returns the files."""
    import ncodec

    modality = model_modality(name)
    model = ncodec.load(name, modality)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = load_manifest(folder)
    for file, entry in list(manifest["files"].items()):
        if entry["model"] == name and not entry.get("keep"):
            (folder / file).unlink(missing_ok=True)
            del manifest["files"][file]
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for tag, src, options in SAMPLES[modality](model, tmp):
            file = f"{name}-{tag}.ncd"
            ncodec.encode_file(src, folder / file, codec=name, force=True, **options)
            got_modality, decoded = decode(folder / file, tmp)
            entry = {"model": name, "modality": got_modality, "sample": tag, "options": options,
                     "model_id": model.model_id.hex(), "bytes": (folder / file).stat().st_size,
                     "sha256": sha256((folder / file).read_bytes()), **digests(got_modality, decoded)}
            if got_modality in ("image", "video"):
                entry["pixels_platform"] = pixels_platform()
            manifest["files"][file] = entry
            written.append(file)
    manifest["files"] = dict(sorted(manifest["files"].items()))
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return written


def main(argv: list[str] | None = None) -> int:
    from ncodec.errors import InputError

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", help="shipped model names (ncodec list)")
    ap.add_argument("--folder", type=Path, default=FOLDER)
    a = ap.parse_args(argv)
    try:
        for name in a.models:
            for file in make(name, a.folder):
                print(f"{a.folder / file}: {(a.folder / file).stat().st_size} bytes")
    except InputError as e:
        print(f"make_frozen: error: {e}", file=sys.stderr)
        return 2
    total = sum(p.stat().st_size for p in a.folder.iterdir() if p.is_file())
    print(f"{a.folder}: {total} bytes in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
