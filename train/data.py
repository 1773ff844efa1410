"""DataModules. Images: a folder searched recursively, random crops, flips (kornia, on device),
a held-out validation split, worker processes. Unusable files are skipped with a warning and a count."""
from __future__ import annotations

import random
import sys
from pathlib import Path

import kornia.augmentation as K
import lightning as L
import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset, Sampler, TensorDataset

from ncodec.errors import InputError
from ncodec.media.image import SUFFIXES

IMAGE_SUFFIXES = set(SUFFIXES)  # every format ncodec reads (media.image)


def scan_images(root: Path, min_size: int) -> tuple[list[Path], dict[str, int]]:
    """Usable images under ``root`` and counts of what was skipped (corrupt, too small)."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"data folder does not exist: {root}")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise InputError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {root}")
    usable, skipped = [], {"corrupt": 0, "smaller than the crop": 0}
    for path in files:
        try:
            with Image.open(path) as im:
                im.verify()
            with Image.open(path) as im:
                size = im.size
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            skipped["corrupt"] += 1
            continue
        if min(size) < min_size:
            skipped["smaller than the crop"] += 1
            continue
        usable.append(path)
    for reason, count in skipped.items():
        if count:
            print(f"ncodec: warning: skipped {count} image(s) under {root}: {reason}", file=sys.stderr)
    if not usable:
        raise InputError(f"no usable images under {root} (skipped: {skipped})")
    return usable, skipped


def _load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


class RandomCrops(Dataset):
    """``samples_per_epoch`` random crops from the images (loaded once per worker, kept in memory)."""

    def __init__(self, paths: list[Path], crop: int, samples_per_epoch: int):
        self.paths, self.crop, self.samples = paths, crop, samples_per_epoch
        self._images: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.samples

    def __getitem__(self, i: int) -> torch.Tensor:
        # torch's RNG: seeded per worker and per epoch by the DataLoader (and by seed_everything)
        k = int(torch.randint(len(self.paths), ()))
        if k not in self._images:
            self._images[k] = _load_rgb(self.paths[k])
        img = self._images[k]
        top = int(torch.randint(img.shape[0] - self.crop + 1, ()))
        left = int(torch.randint(img.shape[1] - self.crop + 1, ()))
        crop = np.ascontiguousarray(img[top : top + self.crop, left : left + self.crop])
        return torch.from_numpy(crop).permute(2, 0, 1)  # uint8: 4x less to move than float


class CenterCrops(Dataset):
    def __init__(self, paths: list[Path], size: int):
        self.paths, self.size = paths, size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        img = _load_rgb(self.paths[i])
        h, w = img.shape[:2]
        s = min(self.size, h, w)
        top, left = (h - s) // 2, (w - s) // 2
        return torch.from_numpy(np.ascontiguousarray(img[top : top + s, left : left + s])).permute(2, 0, 1)


class ImageFolderData(L.LightningDataModule):
    """Photos under ``root`` (recursive). ``val_images`` of them are held out for validation."""

    def __init__(self, root: str, crop: int = 256, batch_size: int = 8, num_workers: int = 2,
                 samples_per_epoch: int = 8000, val_images: int = 8, val_size: int = 256, seed: int = 0):
        super().__init__()
        self.save_hyperparameters()
        self.flip = K.RandomHorizontalFlip()

    def setup(self, stage: str | None = None) -> None:
        h = self.hparams
        paths, self.skipped = scan_images(Path(h.root), h.crop)
        order = list(range(len(paths)))
        random.Random(h.seed).shuffle(order)
        n_val = min(h.val_images, max(len(paths) - 1, 0))
        self.val_paths = [paths[i] for i in sorted(order[:n_val])]
        self.train_paths = [paths[i] for i in sorted(order[n_val:])]

    def train_dataloader(self) -> DataLoader:
        h = self.hparams
        data = RandomCrops(self.train_paths, h.crop, h.samples_per_epoch)
        return DataLoader(data, batch_size=h.batch_size, shuffle=False, num_workers=h.num_workers,
                          drop_last=True, persistent_workers=h.num_workers > 0, pin_memory=torch.cuda.is_available())

    def val_dataloader(self) -> DataLoader:
        if not self.val_paths:
            return []
        return DataLoader(CenterCrops(self.val_paths, self.hparams.val_size), batch_size=1, num_workers=0)

    def on_after_batch_transfer(self, batch: torch.Tensor, dataloader_idx: int) -> torch.Tensor:
        x = batch.float().div_(255)
        if self.trainer is not None and self.trainer.training:
            x = self.flip(x)
        return x


class BatchIndexed(TensorDataset):
    """Samples held as tensors, indexed by a whole batch of positions at once (one gather per
    tensor, not one per sample): for models trained on millions of small samples."""

    def __getitem__(self, index):
        index = torch.as_tensor(index)
        return tuple(t[index] for t in self.tensors)


class RandomBatches(Sampler):
    """``batches`` batches of ``size`` positions drawn with replacement from ``n`` by a generator
    seeded with ``seed``: the same sequence on every run and machine."""

    def __init__(self, n: int, size: int, batches: int, seed: int = 0):
        self.n, self.size, self.batches, self.seed = n, size, batches, seed

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.seed)
        for _ in range(self.batches):
            yield torch.randint(0, self.n, (self.size,), generator=gen)

    def __len__(self) -> int:
        return self.batches
