"""``hyperprior``: GDN analysis/synthesis transforms with a mean-scale hyperprior (Minnen et al.
2018 without the autoregressive context), variable rate through gain units."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from compressai.layers import GDN
from compressai.models.utils import conv, deconv
from torch import Tensor, nn

from ncodec.codecs.image.variable_rate import GainUnits
from ncodec.codecs.registry import register_codec
from ncodec.entropy import latent_codec

# CompressAI's MSE lambdas for its qualities 1..6.
DEFAULT_LAMBDAS = [0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483]


def pad_to(x: Tensor, stride: int) -> Tensor:
    """Replicate-pad the bottom/right so H and W are multiples of ``stride``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % stride, (-w) % stride
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, (0, pw, 0, ph), mode="replicate")


@register_codec("hyperprior", "image")
class HyperpriorCodec(nn.Module):
    """GDN transforms + mean-scale hyperprior, continuous quality 1..6."""

    def __init__(self, N: int = 128, M: int = 192, lambdas: list[float] = DEFAULT_LAMBDAS,
                 entropy: dict | None = None):
        """``entropy``: the latent codec, ``{"kind": ..., **options}`` (see ``ncodec.entropy``);
        default: the mean-scale hyperprior."""
        super().__init__()
        self.config = {"N": N, "M": M, "lambdas": list(lambdas), **({"entropy": dict(entropy)} if entropy else {})}
        self.g_a = nn.Sequential(
            conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M),
        )
        self.g_s = nn.Sequential(
            deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
            deconv(N, N), GDN(N, inverse=True), deconv(N, 3),
        )
        self.rate = GainUnits(M, lambdas)
        self.entropy = latent_codec(M, N, **(entropy or {}))
        self.stride = 16 * self.entropy.stride

    @property
    def quality_range(self) -> tuple[float, float]:
        return self.rate.quality_range

    def _quality(self, quality: float | Tensor, batch: int) -> Tensor:
        device = self.rate.gain.device
        return torch.as_tensor(quality, dtype=torch.float32, device=device).reshape(-1).expand(batch)

    def forward(self, x: Tensor, quality: float | Tensor) -> dict:
        """Training/estimation pass on an input whose size is a multiple of ``stride``."""
        gain, inverse_gain = self.rate.gains(self._quality(quality, x.shape[0]))
        out = self.entropy(self.g_a(x) * gain)
        x_hat = self.g_s(out["y_hat"] * inverse_gain)
        return {"x_hat": x_hat, "likelihoods": out["likelihoods"]}

    def aux_loss(self) -> Tensor:
        return self.entropy.aux_loss()

    def update(self) -> None:
        self.entropy.update()

    def _synthesize(self, y_hat: Tensor, inverse_gain: Tensor) -> Tensor:
        # One canonical (contiguous) layout for encoder and decoder: a channels-last latent would
        # take another kernel path and round differently, and x_hat must match bit for bit.
        return self.g_s((y_hat * inverse_gain).contiguous()).clamp_(0, 1)

    @torch.no_grad()
    def compress(self, x: Tensor, quality: float) -> dict:
        """``x``: (B, 3, H, W) in [0, 1], any size. Returns strings, shape and the encoder's
        reconstruction ``x_hat`` and dequantised latent ``y_hat`` (what the decoder will get)."""
        h, w = x.shape[-2:]
        gain, inverse_gain = self.rate.gains(self._quality(quality, x.shape[0]))
        out = self.entropy.compress(self.g_a(pad_to(x, self.stride)) * gain)
        x_hat = self._synthesize(out["y_hat"], inverse_gain)[..., :h, :w]
        return {"strings": out["strings"], "shape": (h, w), "x_hat": x_hat, "y_hat": out["y_hat"]}

    @torch.no_grad()
    def decompress(self, strings: list[bytes], shape: tuple[int, int], quality: float, batch: int = 1) -> dict:
        h, w = shape
        z_shape = (-(-h // self.stride), -(-w // self.stride))
        out = self.entropy.decompress(strings, z_shape, batch)
        _, inverse_gain = self.rate.gains(self._quality(quality, batch))
        x_hat = self._synthesize(out["y_hat"], inverse_gain)[..., :h, :w]
        return {"x_hat": x_hat, "y_hat": out["y_hat"]}


@register_codec("gdn-context", "image")
class GDNContextCodec(HyperpriorCodec):
    """GDN transforms + channel-wise/checkerboard context with LRP (ELIC-style groups), quality 1..6."""

    def __init__(self, N: int = 128, M: int = 192, lambdas: list[float] = DEFAULT_LAMBDAS,
                 entropy: dict | None = None):
        super().__init__(N, M, lambdas, entropy or {"kind": "channel-context"})
