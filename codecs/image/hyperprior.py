"""``hyperprior``: GDN analysis/synthesis transforms with a mean-scale hyperprior (Minnen et al.
2018 without the autoregressive context), variable rate through gain units; ``gdn-context``: the
same transforms with channel-wise + checkerboard context (ELIC-style groups)."""
from __future__ import annotations

from compressai.layers import GDN
from compressai.models.utils import conv, deconv
from torch import nn

from ncodec.codecs.image.base import DEFAULT_LAMBDAS, LatentImageCodec
from ncodec.codecs.registry import register_codec


def gdn_transforms(N: int, M: int) -> tuple[nn.Module, nn.Module]:
    """Ballé et al.'s analysis / synthesis: four 5x5 stride-2 convolutions with (inverse) GDN."""
    g_a = nn.Sequential(conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M))
    g_s = nn.Sequential(
        deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
        deconv(N, N), GDN(N, inverse=True), deconv(N, 3),
    )
    return g_a, g_s


@register_codec("hyperprior", "image")
class HyperpriorCodec(LatentImageCodec):
    """GDN transforms + mean-scale hyperprior, continuous quality 1..6."""

    def __init__(self, N: int = 128, M: int = 192, lambdas: list[float] = DEFAULT_LAMBDAS,
                 entropy: dict | None = None):
        """``entropy``: the latent codec, ``{"kind": ..., **options}`` (see ``ncodec.entropy``);
        default: the mean-scale hyperprior."""
        super().__init__(*gdn_transforms(N, M), 16, M, N, lambdas, entropy)
        self.config = {"N": N, "M": M, "lambdas": list(lambdas), **({"entropy": dict(entropy)} if entropy else {})}


@register_codec("gdn-context", "image")
class GDNContextCodec(HyperpriorCodec):
    """GDN transforms + channel-wise/checkerboard context with LRP (ELIC-style groups), quality 1..6."""

    def __init__(self, N: int = 128, M: int = 192, lambdas: list[float] = DEFAULT_LAMBDAS,
                 entropy: dict | None = None):
        super().__init__(N, M, lambdas, entropy or {"kind": "channel-context"})
