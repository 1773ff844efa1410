"""Mean-scale hyperprior latent codec (Minnen et al. 2018, without the autoregressive context).

``y`` is summarised by a side latent ``z`` (factorized prior); the hyper-synthesis ``h_s`` maps
the decoded ``z`` to a Gaussian mean and scale per element of ``y``. Coded symbols are
``round(y - mean)`` under zero-mean tables picked by the quantised scale. ``h_s`` is evaluated
in exact fixed point at coding time (see :mod:`ncodec.entropy.fixedpoint`), so the means and
table indices are identical on every machine; training uses the same weights in float.

Contract (CompressAI's latent codecs): ``forward(y) -> {"y_hat", "likelihoods"}``,
``compress(y) -> {"strings", "shape", "y_hat"}``, ``decompress(strings, shape) -> {"y_hat"}``.
"""
from __future__ import annotations

import numpy as np
import torch
from compressai.entropy_models import EntropyBottleneck, GaussianConditional
from compressai.layers import conv3x3
from compressai.models.utils import conv, deconv
from compressai.ops import quantize_ste
from torch import Tensor, nn

from ncodec import timing
from ncodec.entropy import rangecoder
from ncodec.entropy.fixedpoint import FixedPointNet, to_fixed
from ncodec.entropy.tables import table_set


def scale_table(low: float = 0.11, high: float = 256.0, levels: int = 128) -> Tensor:
    """Log-spaced scales; 128 levels keep the cost of rounding a scale up below ~0.1%."""
    return torch.exp(torch.linspace(np.log(low), np.log(high), levels))


class MeanScaleHyperprior(nn.Module):
    """Hyperprior latent codec; ``M`` channels in ``y``, ``N`` in ``z``; ``z`` is ``y`` / 4."""

    stride = 4

    def __init__(self, M: int, N: int, act_bits: int = 12, weight_bits: int = 14, hyper_channels: int | None = None):
        """``hyper_channels``: what ``h_s`` outputs (default ``2M``: a scale and a mean per channel
        of ``y``; context models take other widths as features for their parameter networks)."""
        super().__init__()
        self.h_a = nn.Sequential(
            conv3x3(M, N), nn.LeakyReLU(inplace=True), conv(N, N), nn.LeakyReLU(inplace=True), conv(N, N)
        )
        self.h_s = nn.Sequential(
            deconv(N, M), nn.ReLU(inplace=True), deconv(M, M * 3 // 2), nn.ReLU(inplace=True),
            conv(M * 3 // 2, hyper_channels or 2 * M, kernel_size=3, stride=1),
        )
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.gaussian_conditional = GaussianConditional(None)
        self.register_buffer("_fixed_bits", torch.tensor([act_bits, weight_bits]), persistent=True)
        self._h_s_fixed = FixedPointNet(self.h_s, act_bits, weight_bits)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """CDF tables change size when frozen: take the saved shapes (every loading path needs it)."""
        for name in ("entropy_bottleneck", "gaussian_conditional"):
            buffers = getattr(self, name)._buffers
            for key, buf in list(buffers.items()):
                saved = state_dict.get(f"{prefix}{name}.{key}")
                if buf is not None and saved is not None and saved.shape != buf.shape:
                    buffers[key] = torch.empty(saved.shape, dtype=buf.dtype, device=buf.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # -- training ----------------------------------------------------------------------------
    def forward(self, y: Tensor) -> dict:
        """Under bf16/16-mixed autocast the transforms run in low precision, but the likelihoods
        (the rate term) are computed in fp32: in bf16 they would misstate the bits by percents."""
        z = self.h_a(y)
        with torch.autocast(y.device.type, enabled=False):
            z_hat, z_likelihoods = self.entropy_bottleneck(z.float())
        scales, means = self.h_s(z_hat).chunk(2, 1)
        with torch.autocast(y.device.type, enabled=False):
            y, scales, means = y.float(), scales.float(), means.float()
            _, y_likelihoods = self.gaussian_conditional(y, scales, means=means)
            y_hat = quantize_ste(y - means) + means
        return {"y_hat": y_hat, "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    def aux_loss(self) -> Tensor:
        return self.entropy_bottleneck.loss()

    def update(self) -> None:
        """Freeze the CDF tables from the current weights (export time, never at decode)."""
        self.entropy_bottleneck.update(force=True)
        self.gaussian_conditional.update_scale_table(scale_table().to(self._fixed_bits.device), force=True)

    # -- coding ------------------------------------------------------------------------------
    def _medians(self) -> Tensor:
        return self.entropy_bottleneck.quantiles[:, 0, 1].detach().view(1, -1, 1, 1)

    def _z_tables(self, shape) -> np.ndarray:
        b, c, h, w = shape
        return np.broadcast_to(np.arange(c).reshape(1, c, 1, 1), (b, c, h, w))

    @property
    def act_bits(self) -> int:
        return int(self._fixed_bits[0])

    def _hyper_fixed(self, z_symbols: Tensor) -> Tensor:
        """``h_s`` of the decoded ``z``, exact: integers (float64) with ``act_bits`` fractional bits."""
        return self._h_s_fixed(to_fixed(z_symbols.double() + self._medians().double(), self.act_bits))

    def _table_index(self, scales_fixed: Tensor) -> Tensor:
        """The table of each element, from its fixed-point scale (integer comparisons only)."""
        thresholds = self._scale_thresholds(self.act_bits).to(scales_fixed.device)
        return torch.searchsorted(thresholds, scales_fixed.reshape(-1).contiguous()).reshape(scales_fixed.shape)

    def _entropy_parameters(self, z_symbols: Tensor) -> tuple[Tensor, Tensor]:
        """Means (float64, exact) and table indices of ``y`` from the decoded ``z`` symbols."""
        scales_fixed, means_fixed = self._hyper_fixed(z_symbols).chunk(2, 1)
        return means_fixed / 2.0**self.act_bits, self._table_index(scales_fixed)

    def _encode_z(self, y: Tensor) -> tuple[Tensor, bytes]:
        z = self.h_a(y)
        z_symbols = torch.round(z - self._medians())
        with timing.stage("entropy"):
            z_string = rangecoder.encode(
                z_symbols.cpu().numpy(), self._z_tables(z.shape), table_set(self.entropy_bottleneck)
            )
        return z_symbols, z_string

    def _decode_z(self, string: bytes, shape: tuple[int, int], batch: int) -> Tensor:
        z_shape = (batch, self.entropy_bottleneck.channels, *shape)
        with timing.stage("entropy"):
            z = rangecoder.decode(string, self._z_tables(z_shape), table_set(self.entropy_bottleneck))
        return torch.from_numpy(z).to(self._fixed_bits.device)

    def _scale_thresholds(self, act_bits: int) -> Tensor:
        """Fixed-point boundaries between tables: geometric midpoints, so a scale goes to the
        *nearest* table in log scale (half the mismatch of rounding up). Computed on the CPU in
        float64 from the stored table (sqrt and products are correctly rounded IEEE operations)."""
        table = self.gaussian_conditional.scale_table.detach().cpu().double()
        return torch.floor(torch.sqrt(table[:-1] * table[1:]) * 2.0**act_bits)

    @torch.no_grad()
    def compress(self, y: Tensor) -> dict:
        z_symbols, z_string = self._encode_z(y)
        means, index = self._entropy_parameters(z_symbols)
        y_symbols = torch.round(y.double() - means)
        with timing.stage("entropy"):
            y_string = rangecoder.encode(
                y_symbols.cpu().numpy(), index.cpu().numpy(), table_set(self.gaussian_conditional)
            )
        return {"strings": [z_string, y_string], "shape": tuple(z_symbols.shape[-2:]), "y_hat": (y_symbols + means).float()}

    @torch.no_grad()
    def decompress(self, strings: list[bytes], shape: tuple[int, int], batch: int = 1) -> dict:
        device = self._fixed_bits.device
        means, index = self._entropy_parameters(self._decode_z(strings[0], shape, batch))
        with timing.stage("entropy"):
            y = rangecoder.decode(strings[1], index.cpu().numpy(), table_set(self.gaussian_conditional))
        return {"y_hat": (torch.from_numpy(y).to(device).double() + means).float()}
