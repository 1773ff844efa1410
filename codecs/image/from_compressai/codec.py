"""``compressai``: one or more imported CompressAI models of one architecture as an ncodec image
codec. ``--quality`` picks the imported level whose CompressAI quality is nearest (ties: the
higher); the transforms are CompressAI's own modules, the latent coding is exact (:mod:`.coders`).

The CDF tables were rebuilt by CompressAI's ``update()`` at import and are loaded from the
checkpoint as stored, never recomputed: they are part of the model id.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ncodec.codecs.image.base import pad_to
from ncodec.codecs.image.from_compressai.architectures import architecture
from ncodec.codecs.registry import register_codec
from ncodec.codecs.image.modality import image_shape, shape_payload

STRIDE = 64  # g_a's 16 x the hyperprior's 4: CompressAI's models want multiples of 64


@register_codec("compressai", "image")
class ImportedCompressAI(nn.Module):
    """CompressAI model(s) imported with exact entropy coding; --quality picks the nearest level."""

    def __init__(self, arch: str, N: int, M: int, qualities: list[float], act_bits: int = 14,
                 weight_bits: int = 18):
        """``act_bits`` / ``weight_bits``: fixed-point fractions of the parameter networks. Finer
        than the shipped codecs' 12 / 14 because these networks were trained in float: on Kodak
        (mbt2018-mean) 12 / 14 left up to 0.007 dB between ncodec and CompressAI, 14 / 18 0.0001 dB,
        with 10 bits of headroom below the 2**53 exactness bound (checked per layer at run time)."""
        super().__init__()
        self.arch = architecture(arch)
        if not qualities or sorted(qualities) != list(qualities) or len(set(qualities)) != len(qualities):
            raise ValueError("qualities must be distinct and increasing")
        self.qualities = [float(q) for q in qualities]
        self.levels = nn.ModuleList(self.arch.build(N, M) for _ in qualities)
        self.coders = [self.arch.make_coder(level, act_bits, weight_bits) for level in self.levels]
        self.stride = STRIDE
        self.config = {"arch": arch, "N": N, "M": M, "qualities": self.qualities, "act_bits": act_bits,
                       "weight_bits": weight_bits}

    @property
    def quality_range(self) -> tuple[float, float]:
        return self.qualities[0], self.qualities[-1]

    def level(self, quality: float) -> int:
        """Index of the imported level nearest to ``quality`` (ties: the higher quality)."""
        q = float(quality)
        return min(range(len(self.qualities)), key=lambda i: (abs(self.qualities[i] - q), -i))

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Through CompressAI's own loader per level: it resizes the frozen CDF buffers."""
        keys = set(state_dict)
        for i, level in enumerate(self.levels):
            prefix = f"levels.{i}."
            level.load_state_dict({k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)},
                                  strict=strict)
            keys -= {k for k in keys if k.startswith(prefix)}
        if strict and keys:
            raise RuntimeError(f"unexpected keys: {sorted(keys)[:5]}")

    # -- CompressAI-style passes -------------------------------------------------------------
    def forward(self, x: Tensor, quality: float) -> dict:
        """CompressAI's forward of the chosen level (``x`` a multiple of ``stride``)."""
        return self.levels[self.level(quality)](x)

    def aux_loss(self) -> Tensor:
        return sum(level.aux_loss() for level in self.levels)

    def update(self) -> None:
        """Nothing to do: the tables were rebuilt at import and are frozen (part of the model id)."""

    def _synthesize(self, level: int, y_hat: Tensor) -> Tensor:
        return self.levels[level].g_s(y_hat.contiguous()).clamp_(0, 1)

    @torch.no_grad()
    def compress(self, x: Tensor, quality: float, reconstruct: bool = True) -> dict:
        h, w = x.shape[-2:]
        i = self.level(quality)
        y = self.levels[i].g_a(pad_to(x, self.stride))
        strings, y_hat = self.coders[i].compress(y)
        x_hat = self._synthesize(i, y_hat)[..., :h, :w] if reconstruct else None
        return {"strings": strings, "shape": (h, w), "payload": shape_payload(h, w), "x_hat": x_hat, "y_hat": y_hat}

    @torch.no_grad()
    def decompress(self, strings: list[bytes], payload: bytes, quality: float, batch: int = 1) -> dict:
        h, w = image_shape(payload)
        i = self.level(quality)
        y_shape = (-(-h // self.stride) * 4, -(-w // self.stride) * 4)
        y_hat = self.coders[i].decompress(strings, y_shape, batch)
        return {"x_hat": self._synthesize(i, y_hat)[..., :h, :w], "y_hat": y_hat}
