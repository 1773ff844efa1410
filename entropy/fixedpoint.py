"""Machine-independent evaluation of the entropy-parameter network.

The decoder must select exactly the probability table the encoder selected. A float network
evaluated on another device (or with another kernel) can differ by one ULP, enough to move a
scale across a table boundary and derail the range decoder. So the parameter network
(``h_s``: Conv2d / ConvTranspose2d / ReLU) is evaluated in fixed point:

* inputs, weights and biases are rounded to integers with ``act_bits`` / ``weight_bits``
  fractional bits; after each layer the accumulator is rescaled with ``floor(acc / 2**w)``;
* the integers are carried in float64. Every product and every partial sum is an integer of
  magnitude below 2**53 (checked before each layer from the L1 norm of the weights), so every
  IEEE-754 operation is *exact*, whatever the summation order, blocking, FMA use or device;
* cuDNN is disabled for these calls so no FFT/Winograd algorithm (which is not a plain sum of
  products) can be chosen on GPU.

Exactness, not bit-identical kernels, is what makes the result identical on every machine.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ncodec.errors import InputError

_EXACT = 2.0**53


def to_fixed(x: Tensor, bits: int) -> Tensor:
    """Round a float tensor to fixed point (integers in float64) with ``bits`` fractional bits."""
    return torch.round(x.double() * 2.0**bits)


class FixedPointNet:
    """Evaluates a ``nn.Sequential`` of Conv2d / ConvTranspose2d / ReLU exactly in fixed point."""

    SUPPORTED = (nn.Conv2d, nn.ConvTranspose2d, nn.ReLU)

    def __init__(self, net: nn.Sequential, act_bits: int = 12, weight_bits: int = 14):
        for layer in net:
            if not isinstance(layer, self.SUPPORTED):
                raise TypeError(f"fixed-point evaluation does not support {type(layer).__name__}")
        self.net, self.act_bits, self.weight_bits = net, act_bits, weight_bits
        self._cache: dict[int, tuple] = {}

    def _fixed_layer(self, i: int, layer: nn.Module) -> tuple[Tensor, Tensor, float]:
        """Integer weights, bias and the largest L1 norm of a fan-in; cached until the weights change."""
        key = (layer.weight._version, layer.bias._version, layer.weight.data_ptr(), layer.weight.device)
        cached = self._cache.get(i)
        if cached is None or cached[0] != key:
            w = torch.round(layer.weight.detach().double() * 2.0**self.weight_bits)
            b = torch.round(layer.bias.detach().double() * 2.0 ** (self.weight_bits + self.act_bits))
            fan_dims = (1, 2, 3) if isinstance(layer, nn.Conv2d) else (0, 2, 3)
            cached = self._cache[i] = (key, w, b, float(w.abs().sum(dim=fan_dims).max()), float(b.abs().max()))
        return cached[1:]

    def __call__(self, x_fixed: Tensor) -> Tensor:
        """``x_fixed``: integers (float64) with ``act_bits`` fractional bits; returns the same."""
        x = x_fixed
        with torch.no_grad(), torch.backends.cudnn.flags(enabled=False):
            for i, layer in enumerate(self.net):
                if isinstance(layer, nn.ReLU):
                    x = x.clamp_min(0.0)
                    continue
                w, b, w_l1, b_max = self._fixed_layer(i, layer)
                bound = float(x.abs().max()) * w_l1 + b_max if x.numel() else 0.0
                if not bound < _EXACT:
                    raise InputError("latent values too large for exact entropy-parameter evaluation")
                if isinstance(layer, nn.Conv2d):
                    acc = F.conv2d(x, w, b, layer.stride, layer.padding, layer.dilation, layer.groups)
                else:
                    acc = F.conv_transpose2d(
                        x, w, b, layer.stride, layer.padding, layer.output_padding, layer.groups, layer.dilation
                    )
                x = torch.floor(acc / 2.0**self.weight_bits)
        return x
