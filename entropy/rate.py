"""Rate estimates from likelihoods: what a model's entropy coder would spend, in bits.

Shared by training (the rate term of the loss) and evaluation (the model's estimate beside the real
file size), so neither imports the other."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor


def bits(likelihoods: dict[str, Tensor]) -> Tensor:
    """Per-sample estimated bits: ``-sum log2 p`` over every latent (batch dimension first)."""
    import torch

    return -sum(torch.log2(l).flatten(1).sum(1) for l in likelihoods.values())


def bits_per_pixel(likelihoods: dict[str, Tensor], pixels: int) -> Tensor:
    """Per-sample estimated bpp from the likelihoods of every latent."""
    return bits(likelihoods) / pixels
