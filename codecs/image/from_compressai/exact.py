"""Exact fixed-point evaluation of CompressAI's parameter networks (``h_s``, context, entropy
parameters), built on :class:`ncodec.entropy.fixedpoint.FixedPointNet`.

CompressAI's networks use layers the shipped codecs do not: ``LeakyReLU`` (``mbt2018*``,
``cheng2020-anchor``) and ``PixelShuffle`` (``cheng2020-anchor``'s sub-pixel convolutions). Runs of
Conv2d / ConvTranspose2d / ReLU go to ``FixedPointNet`` unchanged; between them:

* ``LeakyReLU``: ``x`` if ``x >= 0`` else ``floor(x * slope)``. ``x`` is an integer in float64, the
  product is one correctly rounded IEEE multiplication and ``floor`` is exact, so the result is the
  same on every machine (no reduction, no FMA contraction possible for a lone product).
* ``PixelShuffle``: a permutation of integers, exact by construction.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ncodec.entropy.fixedpoint import FixedPointNet


def _flatten(net: nn.Module) -> list[nn.Module]:
    if isinstance(net, nn.Sequential):
        return [leaf for child in net for leaf in _flatten(child)]
    return [net]


class ExactNet:
    """A ``nn.Sequential`` (nested allowed) of Conv2d / ConvTranspose2d / ReLU / LeakyReLU /
    PixelShuffle evaluated on fixed-point integers (float64) with ``act_bits`` fractional bits."""

    def __init__(self, net: nn.Module, act_bits: int = 12, weight_bits: int = 14):
        self.steps: list = []
        run: list[nn.Module] = []
        for layer in _flatten(net) + [None]:
            if isinstance(layer, FixedPointNet.SUPPORTED):
                run.append(layer)
                continue
            if run:
                self.steps.append(FixedPointNet(nn.Sequential(*run), act_bits, weight_bits))
                run = []
            if layer is None:
                break
            if isinstance(layer, nn.LeakyReLU):
                self.steps.append(_leaky(float(layer.negative_slope)))
            elif isinstance(layer, nn.PixelShuffle):
                self.steps.append(_shuffle(int(layer.upscale_factor)))
            else:
                raise TypeError(f"exact evaluation does not support {type(layer).__name__}")

    def __call__(self, x_fixed: Tensor) -> Tensor:
        for step in self.steps:
            x_fixed = step(x_fixed)
        return x_fixed


def _leaky(slope: float):
    def apply(x: Tensor) -> Tensor:
        return torch.where(x >= 0, x, torch.floor(x * slope))

    return apply


def _shuffle(factor: int):
    return lambda x: F.pixel_shuffle(x, factor)
