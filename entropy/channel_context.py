"""Channel-wise and checkerboard context on top of the mean-scale hyperprior.

``y``'s channels are split into groups (slices) coded one after another; each slice's Gaussian
parameters come from the hyperprior's features and every earlier decoded slice (channel context,
Minnen & Singh 2020), optionally refined by a two-pass checkerboard (He et al. 2021): the anchor
half of a slice is coded first, and a spatial context convolution over the decoded anchors informs
the other half. Uneven group sizes (small first) with both contexts is ELIC's arrangement (He et
al. 2022). Latent residual prediction (LRP) adds a bounded correction to each decoded slice.

Machine independence is the hyperprior's mechanism extended to every network on the decoding
path: the parameter, spatial-context and LRP networks are Conv/ReLU stacks evaluated in exact fixed
point (:mod:`ncodec.entropy.fixedpoint`). Decoded latents are ``symbol + mean`` with the mean in fixed
point, so they are themselves exact fixed-point numbers and feed the next slice without rounding;
LRP's ``0.5 * hardtanh`` is a clamp and an exact halving. Only table indices and integers reach the
range coder. Decoding takes ``2 * groups`` parameter-network passes at most, never a per-pixel loop.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from compressai.ops import quantize_ste
from torch import Tensor, nn

from ncodec import timing
from ncodec.entropy import rangecoder
from ncodec.entropy.fixedpoint import FixedPointNet
from ncodec.entropy.hyperprior import MeanScaleHyperprior
from ncodec.entropy.tables import table_set


def default_groups(M: int) -> list[int]:
    """ELIC-style uneven groups: small first slices (cheap, informative), the rest in big ones."""
    groups, left = [], M
    for size in (16, 16, 32, 64):
        if left <= size:
            break
        groups.append(size)
        left -= size
    return groups + [left]


def anchor_mask(h: int, w: int, device=None) -> Tensor:
    """1 where ``(row + col)`` is even: the anchors coded in the first checkerboard pass."""
    rows, cols = torch.arange(h, device=device)[:, None], torch.arange(w, device=device)[None, :]
    return ((rows + cols) % 2 == 0).to(torch.float32)


def _stack(c_in: int, c_out: int, width: int) -> nn.Sequential:
    """The parameter / LRP network: 1x1 aggregation of the wide input (hyper features + earlier
    slices + context), one 3x3 for neighbourhood, 1x1 out; Conv/ReLU only (fixed-point friendly).
    The wide first layer is 1x1 because it dominates the cost, and it runs in float64 at decode."""
    return nn.Sequential(
        nn.Conv2d(c_in, width, 1), nn.ReLU(inplace=True),
        nn.Conv2d(width, width * 2 // 3, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(width * 2 // 3, c_out, 1),
    )


class ChannelContextHyperprior(MeanScaleHyperprior):
    """Hyperprior + channel groups (+ checkerboard, + LRP). ``groups`` must sum to ``M``."""

    def __init__(self, M: int, N: int, groups: list[int] | None = None, checkerboard: bool = True,
                 lrp: bool = True, width: int = 128, act_bits: int = 12, weight_bits: int = 14):
        super().__init__(M, N, act_bits, weight_bits, hyper_channels=2 * M)
        self.groups = list(groups or default_groups(M))
        if sum(self.groups) != M or min(self.groups) < 1:
            raise ValueError(f"groups {self.groups} must be positive and sum to M={M}")
        self.checkerboard, self.lrp = checkerboard, lrp
        starts = np.cumsum([0] + self.groups[:-1]).tolist()
        self._slices = [(s, s + g) for s, g in zip(starts, self.groups)]
        support = [2 * M + s for s, _ in self._slices]  # hyper features + every earlier slice
        ctx = [2 * g if checkerboard else 0 for g in self.groups]
        self.params = nn.ModuleList(_stack(c + x, 2 * g, width) for c, x, g in zip(support, ctx, self.groups))
        self.spatial = nn.ModuleList(
            nn.Sequential(nn.Conv2d(g, 2 * g, 5, padding=2)) for g in (self.groups if checkerboard else [])
        )
        self.lrps = nn.ModuleList(_stack(c + g, g, width) for c, g in zip(support, self.groups)) if lrp else None
        fixed = lambda net: FixedPointNet(net, act_bits, weight_bits)  # noqa: E731
        self._params_fixed = [fixed(n) for n in self.params]
        self._spatial_fixed = [fixed(n) for n in self.spatial]
        self._lrps_fixed = [fixed(n) for n in self.lrps] if lrp else []

    # -- training ----------------------------------------------------------------------------
    def _slice_parameters(self, k: int, support: Tensor, anchors: Tensor | None) -> tuple[Tensor, Tensor]:
        """Scales and means of slice ``k`` from its support; with the checkerboard, also from the
        spatial context of the decoded ``anchors`` (zeros in the anchor pass)."""
        if self.checkerboard:
            g, (b, _, h, w) = self.groups[k], support.shape
            ctx = self.spatial[k](anchors) if anchors is not None else support.new_zeros(b, 2 * g, h, w)
            support = torch.cat([support, ctx], 1)
        scales, means = self.params[k](support).chunk(2, 1)
        return scales, means

    def forward(self, y: Tensor) -> dict:
        z = self.h_a(y)
        with torch.autocast(y.device.type, enabled=False):
            z_hat, z_likelihoods = self.entropy_bottleneck(z.float())
        hyper = self.h_s(z_hat)
        decoded, likelihoods = [], []
        mask = anchor_mask(*y.shape[-2:], device=y.device)
        for k, (a, b) in enumerate(self._slices):
            y_k, support = y[:, a:b], torch.cat([hyper, *decoded], 1)
            scales, means = self._slice_parameters(k, support, None)
            if self.checkerboard:  # anchors from pass 1, the rest with the anchors' spatial context
                anchors = (quantize_ste(y_k - means) + means) * mask
                scales_2, means_2 = self._slice_parameters(k, support, anchors)
                scales = scales * mask + scales_2 * (1 - mask)
                means = means * mask + means_2 * (1 - mask)
            with torch.autocast(y.device.type, enabled=False):
                y_k, scales, means = y_k.float(), scales.float(), means.float()
                _, lik = self.gaussian_conditional(y_k, scales, means=means)
                y_hat_k = quantize_ste(y_k - means) + means
            if self.lrp:
                y_hat_k = y_hat_k + 0.5 * F.hardtanh(self.lrps[k](torch.cat([support, y_hat_k], 1)))
            decoded.append(y_hat_k)
            likelihoods.append(lik)
        return {"y_hat": torch.cat(decoded, 1), "likelihoods": {"y": torch.cat(likelihoods, 1), "z": z_likelihoods}}

    # -- coding (exact fixed point) ----------------------------------------------------------
    def _passes(self, k: int, shape: tuple[int, ...], device) -> list[Tensor]:
        """Masks of the positions coded in each pass of slice ``k`` (1 pass, or anchors + rest)."""
        if not self.checkerboard:
            return [torch.ones(shape[-2:], device=device, dtype=torch.bool)]
        mask = anchor_mask(*shape[-2:], device=device).bool()
        return [mask, ~mask]

    def _code(self, hyper: Tensor, y: Tensor | None, stream) -> Tensor:
        """Runs the slices in order; ``y`` given: encode into ``stream``; else decode from it.
        Returns the decoded latent in fixed point (integers, float64, ``act_bits`` fractions)."""
        one = 2.0**self.act_bits
        decoded = []
        b, _, h, w = hyper.shape
        for k, (lo, hi) in enumerate(self._slices):
            g, support = hi - lo, torch.cat([hyper, *decoded], 1)
            y_hat = torch.zeros(b, g, h, w, dtype=torch.float64, device=hyper.device)
            for p, where in enumerate(self._passes(k, hyper.shape, hyper.device)):
                net_in = support
                if self.checkerboard:
                    ctx = (self._spatial_fixed[k](y_hat) if p else
                           support.new_zeros(b, 2 * g, h, w))
                    net_in = torch.cat([support, ctx], 1)
                scales, means = self._params_fixed[k](net_in).chunk(2, 1)
                sel = where.expand(b, g, h, w)
                index = self._table_index(scales)[sel].cpu().numpy()
                with timing.stage("entropy"):
                    if y is not None:
                        symbols = torch.round(y[:, lo:hi].double() - means / one)[sel]
                        stream.push(symbols.cpu().numpy(), index)
                    else:
                        symbols = torch.from_numpy(stream.pull(index)).to(hyper.device).double()
                y_hat[sel] = symbols * one + means[sel]
            if self.lrp:
                r = self._lrps_fixed[k](torch.cat([support, y_hat], 1))
                y_hat = y_hat + torch.floor(r.clamp(-one, one) / 2)  # 0.5 * hardtanh, exactly
            decoded.append(y_hat)
        return torch.cat(decoded, 1)

    @torch.no_grad()
    def compress(self, y: Tensor) -> dict:
        z_symbols, z_string = self._encode_z(y)
        stream = rangecoder.StreamEncoder(table_set(self.gaussian_conditional))
        y_fixed = self._code(self._hyper_fixed(z_symbols), y, stream)
        with timing.stage("entropy"):
            y_string = stream.finish()
        return {"strings": [z_string, y_string], "shape": tuple(z_symbols.shape[-2:]),
                "y_hat": (y_fixed / 2.0**self.act_bits).float()}

    @torch.no_grad()
    def decompress(self, strings: list[bytes], shape: tuple[int, int], batch: int = 1) -> dict:
        hyper = self._hyper_fixed(self._decode_z(strings[0], shape, batch))
        with timing.stage("entropy"):
            stream = rangecoder.StreamDecoder(strings[1], table_set(self.gaussian_conditional))
        y_fixed = self._code(hyper, None, stream)
        stream.finish()
        return {"y_hat": (y_fixed / 2.0**self.act_bits).float()}
