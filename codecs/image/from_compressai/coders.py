"""Exact latent coding for imported CompressAI models, one coder per entropy-model family.

Each coder wraps a CompressAI model instance (its trained modules, its frozen CDF tables) and codes
its latent ``y`` the way CompressAI does (same symbols, same tables), except that every number
that decides a probability table is computed in exact fixed point (:mod:`.exact`):

* ``factorized`` (``bmshj2018-factorized``): ``y`` under the per-channel factorized tables, symbols
  ``round(y - median)``; no network decides a table, so nothing to make exact.
* ``scale`` (``bmshj2018-hyperprior``): ``z`` factorized; the scales ``h_s(z_hat)`` in fixed point,
  the table index by integer comparison with CompressAI's scale table; symbols ``round(y)``.
* ``mean-scale`` (``mbt2018-mean``): the same with means: symbols ``round(y - mean)``.
* ``autoregressive`` (``mbt2018``, ``cheng2020-anchor``): ``h_s`` plus the masked 5x5 context and
  the entropy-parameter network, serial over positions like CompressAI's coder, but scheduled as
  a wavefront: position ``(r, c)`` depends on ``(r, c-1), (r, c-2)`` and on rows ``r-1, r-2`` up to
  column ``c+2``, so every position with the same ``c + 3r`` is coded in one vectorised step
  (``W + 3H`` steps instead of ``W * H``). The bitstream's order is this schedule.

Table choice follows CompressAI's ``build_indexes``: the smallest table scale ``>=`` the predicted
scale (index = number of table scales below it), with the scales compared as integers.
Every coder returns two sections (``[z, y]``; the factorized model's ``z`` is empty).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from ncodec import timing
from ncodec.codecs.image.from_compressai.exact import ExactNet
from ncodec.entropy import rangecoder
from ncodec.entropy.fixedpoint import to_fixed
from ncodec.entropy.tables import table_set


def _channel_tables(shape) -> np.ndarray:
    b, c, h, w = shape
    return np.broadcast_to(np.arange(c).reshape(1, c, 1, 1), (b, c, h, w))


class _Coder:
    """Shared: the factorized side latent and the table thresholds."""

    def __init__(self, model: nn.Module, act_bits: int, weight_bits: int):
        self.model, self.act_bits, self.weight_bits = model, act_bits, weight_bits

    @property
    def device(self):
        return self.model.entropy_bottleneck.quantiles.device

    def _medians(self, eb) -> Tensor:
        return eb.quantiles[:, 0, 1].detach().view(1, -1, 1, 1)

    def _encode_factorized(self, eb, x: Tensor) -> tuple[bytes, Tensor]:
        """CompressAI's ``EntropyBottleneck.compress``: symbols ``round(x - median)``; returns the
        string and the dequantised values ``symbols + median`` (float32, as CompressAI)."""
        medians = self._medians(eb)
        symbols = torch.round(x - medians)
        with timing.stage("entropy"):
            string = rangecoder.encode(symbols.cpu().numpy().astype(np.int64), _channel_tables(x.shape), table_set(eb))
        return string, symbols + medians

    def _decode_factorized(self, eb, string: bytes, shape: tuple[int, ...]) -> Tensor:
        with timing.stage("entropy"):
            symbols = rangecoder.decode(string, _channel_tables(shape), table_set(eb))
        return torch.from_numpy(symbols).to(self.device).float() + self._medians(eb)

    def _table_index(self, scales_fixed: Tensor) -> Tensor:
        """Index of the smallest table scale >= the scale: the number of integer thresholds
        ``floor(table * 2**act_bits)`` strictly below the fixed-point scale (exact comparisons)."""
        table = self.model.gaussian_conditional.scale_table.detach().cpu().double()
        thresholds = torch.floor(table[:-1] * 2.0**self.act_bits).to(scales_fixed.device)
        flat = scales_fixed.reshape(-1).contiguous()
        return torch.searchsorted(thresholds, flat, right=False).reshape(scales_fixed.shape)


class FactorizedCoder(_Coder):
    def compress(self, y: Tensor) -> tuple[list[bytes], Tensor]:
        string, y_hat = self._encode_factorized(self.model.entropy_bottleneck, y)
        return [b"", string], y_hat

    def decompress(self, strings: list[bytes], y_shape: tuple[int, int], batch: int) -> Tensor:
        eb = self.model.entropy_bottleneck
        return self._decode_factorized(eb, strings[1], (batch, eb.channels, *y_shape))


class HyperpriorCoder(_Coder):
    """Scale (``means=False``) or mean-scale hyperprior with ``h_s`` in exact fixed point."""

    def __init__(self, model: nn.Module, act_bits: int, weight_bits: int, means: bool):
        super().__init__(model, act_bits, weight_bits)
        self.means = means
        self.h_s = ExactNet(model.h_s, act_bits, weight_bits)

    def _side(self, y: Tensor) -> tuple[bytes, Tensor]:
        z = self.model.h_a(y if self.means else torch.abs(y))
        return self._encode_factorized(self.model.entropy_bottleneck, z)

    def _hyper(self, z_hat: Tensor) -> Tensor:
        """``h_s(z_hat)`` as integers (float64) with ``act_bits`` fractional bits."""
        return self.h_s(to_fixed(z_hat, self.act_bits))

    def _parameters(self, params: Tensor) -> tuple[Tensor, Tensor]:
        """Fixed-point (scales, means); zero means for the scale-only hyperprior."""
        if self.means:
            scales, means = params.chunk(2, 1)
            return scales, means
        return params, torch.zeros_like(params)

    def compress(self, y: Tensor) -> tuple[list[bytes], Tensor]:
        z_string, z_hat = self._side(y)
        scales, means = self._parameters(self._hyper(z_hat))
        means = means / 2.0**self.act_bits
        symbols = torch.round(y.double() - means)
        index = self._table_index(scales)
        with timing.stage("entropy"):
            y_string = rangecoder.encode(symbols.cpu().numpy().astype(np.int64), index.cpu().numpy(),
                                         table_set(self.model.gaussian_conditional))
        return [z_string, y_string], (symbols + means).float()

    def _decode_side(self, string: bytes, y_shape: tuple[int, int], batch: int) -> Tensor:
        eb = self.model.entropy_bottleneck
        return self._decode_factorized(eb, string, (batch, eb.channels, y_shape[0] // 4, y_shape[1] // 4))

    def decompress(self, strings: list[bytes], y_shape: tuple[int, int], batch: int) -> Tensor:
        scales, means = self._parameters(self._hyper(self._decode_side(strings[0], y_shape, batch)))
        index = self._table_index(scales)
        with timing.stage("entropy"):
            symbols = rangecoder.decode(strings[1], index.cpu().numpy(), table_set(self.model.gaussian_conditional))
        return (torch.from_numpy(symbols).to(self.device).double() + means / 2.0**self.act_bits).float()


class AutoregressiveCoder(HyperpriorCoder):
    """Hyperprior + masked 5x5 spatial context (Minnen et al. 2018), wavefront-scheduled."""

    def __init__(self, model: nn.Module, act_bits: int, weight_bits: int):
        super().__init__(model, act_bits, weight_bits, means=True)
        self.entropy_parameters = ExactNet(model.entropy_parameters, act_bits, weight_bits)

    def _context_net(self) -> tuple[ExactNet, list[tuple[int, int]], int]:
        """The masked convolution as a 1x1 convolution over the gathered causal taps."""
        cp = self.model.context_prediction
        mask = cp.mask[0, 0].detach().cpu()
        taps = [(int(r), int(c)) for r, c in mask.nonzero().tolist()]
        weight = torch.stack([cp.weight.detach()[:, :, r, c] for r, c in taps], dim=2)  # (2M, M, taps)
        conv = nn.Conv2d(weight.shape[1] * len(taps), weight.shape[0], 1).to(weight.device, weight.dtype)
        with torch.no_grad():
            conv.weight.copy_(weight.reshape(weight.shape[0], -1, 1, 1))
            conv.bias.copy_(cp.bias.detach())
        return ExactNet(nn.Sequential(conv), self.act_bits, self.weight_bits), taps, cp.kernel_size[0] // 2

    def _code(self, params: Tensor, y: Tensor | None, stream) -> Tensor:
        """Codes (``y`` given) or decodes (``y`` None) every position in wavefront order; returns
        the dequantised latent in fixed point."""
        one = 2.0**self.act_bits
        context, taps, pad = self._context_net()
        b, c2, h, w = params.shape
        m = c2 // 2
        y_pad = torch.zeros(b, m, h + 2 * pad, w + 2 * pad, dtype=torch.float64, device=params.device)
        rows, cols = torch.meshgrid(torch.arange(h, device=params.device), torch.arange(w, device=params.device),
                                    indexing="ij")
        front = (cols + (pad + 1) * rows).reshape(-1)
        order = torch.argsort(front, stable=True)
        counts = torch.bincount(front).tolist()
        rows, cols = rows.reshape(-1)[order], cols.reshape(-1)[order]
        start = 0
        for count in counts:
            r, c = rows[start:start + count], cols[start:start + count]
            start += count
            patches = torch.stack([y_pad[:, :, r + dr, c + dc] for dr, dc in taps], dim=2)  # (B, M, taps, P)
            ctx = context(patches.reshape(b, -1, count, 1))
            gaussian = self.entropy_parameters(torch.cat([params[:, :, r, c].unsqueeze(-1), ctx], 1))
            scales, means = gaussian.chunk(2, 1)
            index = self._table_index(scales).cpu().numpy()
            with timing.stage("entropy"):
                if y is not None:
                    symbols = torch.round(y[:, :, r, c].unsqueeze(-1).double() - means / one)
                    stream.push(symbols.cpu().numpy().astype(np.int64), index)
                else:
                    symbols = torch.from_numpy(stream.pull(index)).to(params.device).double()
            y_pad[:, :, r + pad, c + pad] = (symbols * one + means).squeeze(-1)
        return y_pad[:, :, pad:pad + h, pad:pad + w]

    def compress(self, y: Tensor) -> tuple[list[bytes], Tensor]:
        z_string, z_hat = self._side(y)
        stream = rangecoder.StreamEncoder(table_set(self.model.gaussian_conditional))
        y_fixed = self._code(self._hyper(z_hat), y, stream)
        with timing.stage("entropy"):
            y_string = stream.finish()
        return [z_string, y_string], (y_fixed / 2.0**self.act_bits).float()

    def decompress(self, strings: list[bytes], y_shape: tuple[int, int], batch: int) -> Tensor:
        params = self._hyper(self._decode_side(strings[0], y_shape, batch))
        with timing.stage("entropy"):
            stream = rangecoder.StreamDecoder(strings[1], table_set(self.model.gaussian_conditional))
        y_fixed = self._code(params, None, stream)
        stream.finish()
        return (y_fixed / 2.0**self.act_bits).float()
