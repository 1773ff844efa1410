"""Continuous rate control with per-channel gain vectors (Cui et al., "Asymmetric Gained Deep
Image Compression With Continuous Rate Adaptation", CVPR 2021).

Each trained quality level ``l`` has a gain ``g_l`` (applied to ``y`` before quantisation) and an
inverse gain ``ig_l`` (applied to the dequantised latent). A continuous quality ``q`` between
levels ``l`` and ``l+1`` uses ``g_l**(1-t) * g_{l+1}**t``; the Lagrange multiplier used in
training is interpolated log-linearly the same way, so every ``q`` in the range is trained.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class GainUnits(nn.Module):
    def __init__(self, channels: int, lambdas: list[float]):
        super().__init__()
        if len(lambdas) < 2 or sorted(lambdas) != list(lambdas):
            raise ValueError("lambdas must be at least two increasing values")
        self.lambdas = list(lambdas)
        levels = len(lambdas)
        # Initialised so that higher qualities quantise more finely.
        init = torch.linspace(-0.5, 0.5, levels).exp()[:, None].repeat(1, channels)
        self.gain = nn.Parameter(init.clone())
        self.inverse_gain = nn.Parameter(1.0 / init)

    @property
    def quality_range(self) -> tuple[float, float]:
        return 1.0, float(len(self.lambdas))

    def _split(self, quality: Tensor) -> tuple[Tensor, Tensor]:
        q = quality.clamp(*self.quality_range) - 1.0
        low = q.floor().clamp(max=len(self.lambdas) - 2).long()
        return low, (q - low)

    def _interpolate(self, table: Tensor, quality: Tensor) -> Tensor:
        low, t = self._split(quality)
        a, b = table.abs()[low], table.abs()[low + 1]
        return (a ** (1 - t[:, None]) * b ** t[:, None])[:, :, None, None]

    def gains(self, quality: Tensor) -> tuple[Tensor, Tensor]:
        """Per-sample (gain, inverse gain), each shaped (B, C, 1, 1)."""
        return self._interpolate(self.gain, quality), self._interpolate(self.inverse_gain, quality)

    def lmbda(self, quality: Tensor) -> Tensor:
        low, t = self._split(quality)
        logs = torch.tensor([math.log(v) for v in self.lambdas], device=quality.device)
        return torch.exp(logs[low] * (1 - t) + logs[low + 1] * t)
