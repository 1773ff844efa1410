"""``wavelet``: a wavelet packet transform + a shallow asymmetric autoencoder (WaLLoC / LiVeAction
style), the fast, low-power member of the image family.

The packet transform is the reversible LeGall 5/3 lifting scheme (JPEG 2000's lossless wavelet)
applied to every subband at every level, so ``levels`` levels turn an image into ``3 * 4**levels``
coefficient planes at ``1 / 2**levels`` resolution. In integer mode (``floor`` in each lifting step)
it maps integers to integers and inverts *exactly*; in float mode (training, coding) it is linear
and inverts to float precision. The encoder is one strided linear projection of the coefficients
(cheap: the work is in the wavelet, which is a few adds per pixel); the decoder is heavier
(residual blocks before the inverse projection). The latent goes through the shared latent codecs.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ncodec.codecs.image.base import DEFAULT_LAMBDAS, LatentImageCodec
from ncodec.codecs.registry import register_codec


def _lift(s: Tensor, d: Tensor, integer: bool, inverse: bool) -> tuple[Tensor, Tensor]:
    """One 5/3 predict + update pair on even (``s``) and odd (``d``) samples along the last dim,
    with symmetric extension at the ends (lengths are equal: inputs have even length)."""
    def predict(s: Tensor) -> Tensor:  # mean of the two even neighbours of each odd sample
        right = torch.cat([s[..., 1:], s[..., -1:]], -1)
        total = s + right
        return torch.floor(total / 2) if integer else total / 2

    def update(d: Tensor) -> Tensor:  # quarter of the two odd neighbours of each even sample
        left = torch.cat([d[..., :1], d[..., :-1]], -1)
        total = left + d
        return torch.floor((total + 2) / 4) if integer else total / 4

    if not inverse:
        d = d - predict(s)
        s = s + update(d)
    else:
        s = s - update(d)
        d = d + predict(s)
    return s, d


def dwt_1d(x: Tensor, dim: int, integer: bool = False) -> tuple[Tensor, Tensor]:
    """Lowpass and highpass halves of ``x`` along ``dim`` (even length)."""
    x = x.transpose(dim, -1)
    s, d = _lift(x[..., 0::2], x[..., 1::2], integer, inverse=False)
    return s.transpose(dim, -1), d.transpose(dim, -1)


def idwt_1d(s: Tensor, d: Tensor, dim: int, integer: bool = False) -> Tensor:
    s, d = s.transpose(dim, -1), d.transpose(dim, -1)
    s, d = _lift(s, d, integer, inverse=True)
    x = torch.stack([s, d], -1).flatten(-2)
    return x.transpose(dim, -1)


def packet_analysis(x: Tensor, levels: int, integer: bool = False) -> Tensor:
    """(B, C, H, W) -> (B, C * 4**levels, H / 2**levels, W / 2**levels); H, W multiples of 2**levels."""
    for _ in range(levels):
        lo, hi = dwt_1d(x, -1, integer)
        ll, lh = dwt_1d(lo, -2, integer)
        hl, hh = dwt_1d(hi, -2, integer)
        x = torch.stack([ll, lh, hl, hh], 2).flatten(1, 2)  # each channel -> its 4 subbands
    return x


def packet_synthesis(x: Tensor, levels: int, integer: bool = False) -> Tensor:
    """Inverse of :func:`packet_analysis`."""
    for _ in range(levels):
        b, c, h, w = x.shape
        ll, lh, hl, hh = x.view(b, c // 4, 4, h, w).unbind(2)
        lo, hi = idwt_1d(ll, lh, -2, integer), idwt_1d(hl, hh, -2, integer)
        x = idwt_1d(lo, hi, -1, integer)
    return x


class PacketTransform(nn.Module):
    def __init__(self, levels: int, inverse: bool = False):
        super().__init__()
        self.levels, self.inverse = levels, inverse

    def forward(self, x: Tensor) -> Tensor:
        # Scale 0..1 pixels to a centred range so the lowpass band does not dominate the projection.
        if self.inverse:
            return packet_synthesis(x, self.levels) / 2 + 0.5
        return packet_analysis((x - 0.5) * 2, self.levels)


class ResBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


@register_codec("wavelet", "image")
class WaveletCodec(LatentImageCodec):
    """Wavelet packet (LeGall 5/3) + linear encoder + residual decoder + hyperprior, quality 1..6."""

    def __init__(self, levels: int = 3, M: int = 96, N: int = 96, hidden: int = 192, blocks: int = 3,
                 lambdas: list[float] = DEFAULT_LAMBDAS, entropy: dict | None = None):
        if not 1 <= levels <= 4:
            raise ValueError(f"levels must be 1..4, got {levels}")
        planes, scale = 3 * 4**levels, 16 // 2**levels  # scale: the rest of the /16 stride
        g_a = nn.Sequential(PacketTransform(levels), nn.Conv2d(planes, M, scale, stride=scale))
        g_s = nn.Sequential(
            nn.ConvTranspose2d(M, hidden, scale, stride=scale), nn.LeakyReLU(inplace=True),
            *[ResBlock(hidden) for _ in range(blocks)],
            nn.Conv2d(hidden, planes, 1), PacketTransform(levels, inverse=True),
        )
        super().__init__(g_a, g_s, 16, M, N, lambdas, entropy)
        self.config = {"levels": levels, "M": M, "N": N, "hidden": hidden, "blocks": blocks,
                       "lambdas": list(lambdas), **({"entropy": dict(entropy)} if entropy else {})}
