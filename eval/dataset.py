"""The images of an evaluation: a folder of photos, read as RGB 8-bit, each with a content hash.

Files that are not images (or unreadable, or 16-bit) are skipped and counted, never fatal; a folder
with no usable image is the user's error.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ncodec.errors import InputError
from ncodec.media import image as image_io


@dataclass(frozen=True)
class EvalImage:
    name: str
    path: Path
    hash: str       # SHA-256 of the RGB pixels and their shape (not of the file's bytes)
    height: int
    width: int

    @property
    def pixels(self) -> int:
        return self.height * self.width


def load_rgb8(path: Path) -> np.ndarray:
    """(H, W, 3) uint8: gray is replicated, alpha dropped; 16-bit is refused (InputError)."""
    picture = image_io.read_image(path)
    if picture.bit_depth != 8:
        raise InputError("16-bit image (the evaluation is on 8-bit RGB)")
    p = picture.pixels
    return np.ascontiguousarray(np.repeat(p, 3, axis=2) if p.shape[2] == 1 else p[..., :3])


def content_hash(img: np.ndarray) -> str:
    h = hashlib.sha256(f"{img.shape}|{img.dtype}|".encode())
    h.update(np.ascontiguousarray(img).tobytes())
    return h.hexdigest()[:16]


def discover(folder: Path, limit: int = 0) -> tuple[list[EvalImage], list[tuple[str, str]]]:
    """Images of ``folder`` (not recursive, sorted by name) and the skipped files with reasons."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"dataset folder not found: {folder}")
    images, skipped = [], []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        if path.suffix.lower() not in image_io.SUFFIXES:
            skipped.append((path.name, "not an image file"))
            continue
        try:
            img = load_rgb8(path)
        except InputError as e:
            skipped.append((path.name, str(e).replace(str(path), "").strip(": ") or "unreadable"))
            continue
        images.append(EvalImage(path.name, path, content_hash(img), img.shape[0], img.shape[1]))
        if limit and len(images) == limit:
            break
    if not images:
        extra = f" ({len(skipped)} other files skipped)" if skipped else ""
        raise InputError(f"no usable images in {folder}{extra}")
    return images, skipped
