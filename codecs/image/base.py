"""What every learned image codec shares: padding, variable rate, the latent codec, the
forward / compress / decompress contract. A transform family supplies only ``g_a`` and ``g_s``."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ncodec.codecs.image.variable_rate import GainUnits
from ncodec.entropy import latent_codec, limits
from ncodec.errors import FormatError
from ncodec.codecs.image.modality import image_shape, shape_payload

# CompressAI's MSE lambdas for its qualities 1..6.
DEFAULT_LAMBDAS = [0.0018, 0.0035, 0.0067, 0.0130, 0.0250, 0.0483]


def pad_to(x: Tensor, stride: int) -> Tensor:
    """Replicate-pad the bottom/right so H and W are multiples of ``stride``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % stride, (-w) % stride
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, (0, pw, 0, ph), mode="replicate")


class LatentImageCodec(nn.Module):
    """``g_a`` (image -> ``M``-channel latent at 1/``transform_stride``), gain units, a latent codec
    (``entropy``: ``{"kind": ..., **options}``, default mean-scale hyperprior with ``N`` side
    channels) and ``g_s``. Subclasses set ``self.config`` (what rebuilds them) and the transforms."""

    def __init__(self, g_a: nn.Module, g_s: nn.Module, transform_stride: int, M: int, N: int,
                 lambdas: list[float], entropy: dict | None):
        super().__init__()
        self.g_a, self.g_s = g_a, g_s
        self.rate = GainUnits(M, lambdas)
        self.entropy = latent_codec(M, N, **(entropy or {}))
        self.stride = transform_stride * self.entropy.stride
        self.transform_stride, self.M, self.N = transform_stride, M, N

    def check_size(self, height: int, width: int, error: type[Exception] = FormatError) -> int:
        """Refuse (``error``) a size whose coding would pass the decoder limits
        (:mod:`ncodec.entropy.limits`): checked from the header, before anything is allocated."""
        per_pixel = max(self.M / self.transform_stride**2, self.N / self.stride**2)
        return limits.check_image_size(height, width, self.stride, per_pixel, error)

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
    def compress(self, x: Tensor, quality: float, reconstruct: bool = True) -> dict:
        """``x``: (B, 3, H, W) in [0, 1], any size. Returns strings, shape, the dequantised latent
        ``y_hat`` (what the decoder will get) and, unless ``reconstruct`` is False (an encoder that
        needs no PSNR skips the synthesis), the reconstruction ``x_hat``."""
        h, w = x.shape[-2:]
        gain, inverse_gain = self.rate.gains(self._quality(quality, x.shape[0]))
        out = self.entropy.compress(self.g_a(pad_to(x, self.stride)) * gain)
        x_hat = self._synthesize(out["y_hat"], inverse_gain)[..., :h, :w] if reconstruct else None
        return {"strings": out["strings"], "shape": (h, w), "payload": shape_payload(h, w), "x_hat": x_hat, "y_hat": out["y_hat"]}

    @torch.no_grad()
    def decompress(self, strings: list[bytes], payload: bytes, quality: float, batch: int = 1) -> dict:
        h, w = image_shape(payload)
        z_shape = (-(-h // self.stride), -(-w // self.stride))
        out = self.entropy.decompress(strings, z_shape, batch)
        _, inverse_gain = self.rate.gains(self._quality(quality, batch))
        x_hat = self._synthesize(out["y_hat"], inverse_gain)[..., :h, :w]
        return {"x_hat": x_hat, "y_hat": out["y_hat"]}
