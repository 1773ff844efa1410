"""Learned prediction of a wavelet level's detail bands from the decoded lowpass (``lwc`` with
``predictor > 0``).

Coding goes coarse to fine, so when a level's detail bands are decoded the decoder already holds
the lowpass image one level up (everything coarser, decoded). A few 3x3 convolutions predict the
level's HL / LH / HH of the three colour channels from it, the encoder codes the residual and the
decoder adds the prediction back: a closed loop (the prediction is made from decoded values on both
sides, so nothing drifts), in effect a learned 2x super-resolution step inside the transform. The
bands of every level share one network: its input is normalised by the level's gain (natural
images look alike at every scale) and it sees the quantiser's step at that level.

What is exact: the prediction only moves reconstructed values; what the range decoder sees (the
coded integers and their contexts) never depends on it. Like the post-filter it is float32
convolution: identical pixels on one platform, within a level across platforms or devices.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ncodec.codecs.image.postfilter import _convs
from ncodec.codecs.image.tiling import in_strips, receptive_radius

INPUT_SCALE, OUTPUT_SCALE = 128.0, 16.0


class _Residual(nn.Module):
    """x + conv(relu(conv(x))): two 3x3 convolutions with a skip, so depth trains (a plain stack
    of 8 convolutions trained worse than 6)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _residual_stack(inputs: int, channels: int, outputs: int, blocks: int) -> nn.Sequential:
    """A 3x3 convolution in, ``blocks`` residual blocks, a ReLU and a zero 3x3 convolution out
    (:func:`_convs`' last layer)."""
    return nn.Sequential(nn.Conv2d(inputs, channels, 3, padding=1), *(_Residual(channels) for _ in range(blocks)),
                         nn.ReLU(inplace=True), *_convs(channels, channels, outputs, 1))


class DetailPredictor(nn.Module):
    """``layers`` 3x3 convolutions, ``channels`` wide, from the lowpass (3 channels) and the step
    plane to 9 detail bands; or, with ``blocks`` > 0, one convolution in, that many residual
    blocks of two and one out (``layers`` unused). ``max_quality``: above it the codec codes
    without prediction (at the highest rates the residual costs as much as the bands and the
    deadzone loses more)."""

    def __init__(self, channels: int = 32, layers: int = 4, max_quality: float | None = None, blocks: int = 0):
        super().__init__()
        if blocks < 0:
            raise ValueError(f"predictor blocks must be >= 0, got {blocks}")
        self.blocks = int(blocks)
        self.layers = _residual_stack(4, channels, 9, blocks) if blocks else _convs(4, channels, 9, layers)
        self.max_quality = float("inf") if max_quality is None else float(max_quality)

    def config(self) -> dict:
        """The codec-config keys (``predictor_blocks`` only when set: older model ids unchanged)."""
        out = {"predictor": self.layers[0].out_channels}
        if self.blocks:
            out["predictor_blocks"] = self.blocks
        else:
            out["predictor_layers"] = (len(self.layers) + 1) // 2
        if self.max_quality != float("inf"):
            out["predictor_max_quality"] = self.max_quality
        return out

    @staticmethod
    def noise(step, level: int):
        """The quantiser's step as the network sees it at ``level`` (0: finest)."""
        return (torch.log2(torch.as_tensor(step, dtype=torch.float32)) - level - 4.0) / 4.0

    def forward(self, low: torch.Tensor, level: int, step) -> torch.Tensor:
        """``low``: (N, 3, h, w) unscaled lowpass above ``level``; ``step``: a number or (N,)
        tensor. Returns (N, 9, h, w) unscaled detail predictions (HL, LH, HH, 3 channels each)."""
        s = float(2 ** level)
        n, _, h, w = low.shape
        plane = self.noise(step, level).to(low.dtype).reshape(-1, 1, 1, 1).expand(n, 1, h, w)
        x = torch.cat([low / (s * INPUT_SCALE), plane], dim=1).contiguous(memory_format=torch.channels_last)
        return self.layers(x) * (s * OUTPUT_SCALE)

    @torch.no_grad()
    def predict(self, low: np.ndarray, level: int, step: float, shapes) -> list[np.ndarray]:
        """Unscaled (HL, LH, HH) predictions, cropped to the bands' ``shapes`` ((3, h, w) each)."""
        low = torch.from_numpy(np.ascontiguousarray(low, dtype=np.float32))[None]
        out = in_strips(lambda rows: self(rows, level, step), low, receptive_radius(self.layers), align=1)[0]
        out = out.contiguous().numpy().astype(np.float64)
        return [out[3 * k: 3 * k + 3, : s[1], : s[2]] for k, s in enumerate(shapes)]
