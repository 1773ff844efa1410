"""Entropy models and coding. Latent codecs are found by kind: ``latent_codec(M, N, kind=...)``."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importing the package must stay cheap: the container is read without torch
    from torch import nn


def latent_codec(M: int, N: int, kind: str = "mean-scale", **options) -> nn.Module:
    """The latent codec ``kind`` for an ``M``-channel latent with an ``N``-channel side latent."""
    from ncodec.entropy.channel_context import ChannelContextHyperprior
    from ncodec.entropy.hyperprior import MeanScaleHyperprior

    kinds = {"mean-scale": MeanScaleHyperprior, "channel-context": ChannelContextHyperprior}
    if kind not in kinds:
        raise ValueError(f"unknown latent codec {kind!r} (valid: {', '.join(kinds)})")
    return kinds[kind](M, N, **options)
