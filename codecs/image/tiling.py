"""Inference of small convolutional networks in row strips, so a large image never holds a whole
image's worth of hidden channels (a 24-channel float32 activation of a 12 MP photo is 1.1 GB).

Each strip is run with ``radius`` extra rows above and below (the network's receptive radius) and
only its own rows are kept: every kept output sees exactly the inputs it sees on the whole image,
so the strips compute the whole-image function. The float32 sums may be ordered differently for a
strip's height (bit for bit at the sizes measured with 24 and 32 channels; within 2e-6 at a
33-pixel width), so what is exact is what always was: the split depends on the image's size only,
so encoder and decoder split alike and the decoder rebuilds the encoder's reconstruction bit for bit
on one platform (``tests/test_lwc.py``). Images of at most :data:`STRIP_PIXELS` run in one piece,
as before: their pixels are unchanged.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

#: Pixels of one strip (its own rows; the halo adds ``2 * radius`` rows).
STRIP_PIXELS = 1 << 20


def receptive_radius(net: nn.Module, scale: int = 1) -> int:
    """Pixels of context each side a stack of 3x3 convolutions needs (``scale``: the stack runs
    on a ``scale`` times smaller grid)."""
    return scale * sum(1 for m in net.modules() if isinstance(m, nn.Conv2d))


def in_strips(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, radius: int,
              max_pixels: int | None = None, align: int = 2) -> torch.Tensor:
    """``fn(x)`` for an (N, C, H, W) ``x`` and an ``fn`` that maps rows to rows (same H, W out),
    computed in strips of about ``max_pixels`` pixels (default :data:`STRIP_PIXELS`). ``radius``:
    rows of context ``fn`` needs on each side; ``align``: strip starts and halos are multiples of
    it (a network that works on 2x2 pixel-unshuffled rows needs 2)."""
    h, w = x.shape[-2:]
    max_pixels = STRIP_PIXELS if max_pixels is None else max_pixels
    rows = max(align, (max_pixels // max(w, 1)) // align * align)
    if h <= rows:
        return fn(x)
    halo = -(-radius // align) * align
    parts = []
    for top in range(0, h, rows):
        bottom = min(h, top + rows)
        a, b = max(0, top - halo), min(h, bottom + halo)
        parts.append(fn(x[..., a:b, :])[..., top - a: bottom - a, :])
    return torch.cat(parts, dim=-2)
