"""A small learned post-filter for decoded images (``lwc`` with ``postfilter > 0``).

The wavelet coder's reconstruction has the coarse-quantisation artefacts of a fixed transform
(ringing along edges, blur, colour bleeding at low rates). Three 3x3 convolutions with ReLUs
predict a correction from the decoded RGB and the quality (a constant input plane), added to the
decoded image: a few thousand weights, trained on CPU in minutes (``PostFilterModule`` in
:mod:`ncodec.train.lwc`). It runs after entropy decoding, so it never touches what the range
decoder sees: files stay exact; the filtered pixels are float32 convolutions (the same caveat as
the learned-transform codecs' synthesis: identical on one platform, within a level across them).
"""
from __future__ import annotations

import torch
from torch import nn

QUALITY_CENTRE, QUALITY_SCALE = 4.0, 6.0  # the quality plane: (quality - 4) / 6


class PostFilter(nn.Module):
    """``max_quality``: above it the filter is not run (it gains nothing there)."""

    def __init__(self, channels: int = 16, max_quality: float | None = None):
        super().__init__()
        self.max_quality = float("inf") if max_quality is None else float(max_quality)
        self.layers = nn.Sequential(nn.Conv2d(4, channels, 3, padding=1), nn.ReLU(),
                                    nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
                                    nn.Conv2d(channels, 3, 3, padding=1))
        nn.init.zeros_(self.layers[-1].weight)  # untrained: the identity
        nn.init.zeros_(self.layers[-1].bias)

    def forward(self, x: torch.Tensor, quality) -> torch.Tensor:
        """``x``: (N, 3, H, W) decoded RGB in [0, 1]; ``quality``: a number or (N,) tensor."""
        q = torch.as_tensor(quality, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1)
        plane = ((q - QUALITY_CENTRE) / QUALITY_SCALE).expand(x.shape[0], 1, x.shape[2], x.shape[3])
        return x + self.layers(torch.cat([x, plane], dim=1))

    @torch.no_grad()
    def correct(self, x: torch.Tensor, quality: float) -> torch.Tensor:
        """Decoded pixels as shown: filtered on the filter's device and clamped to [0, 1], returned
        on ``x``'s device; ``x`` itself above ``max_quality``."""
        if float(quality) > self.max_quality:
            return x
        device = self.layers[0].weight.device
        return self(x.to(device), float(quality)).clamp_(0.0, 1.0).to(x.device)
