"""Any ncodec image codec where CompressAI code expects a model.

:class:`AsCompressAI` fixes a quality and exposes CompressAI's contract: ``forward(x) ->
{"x_hat", "likelihoods"}``, ``compress(x) -> {"strings": [[bytes per image] per stream], "shape"}``,
``decompress(strings, shape) -> {"x_hat"}``, ``update()``, ``aux_loss()``. So CompressAI's
``utils.eval_model`` inference functions (and code written like them) run ncodec codecs as they are.
Strings are the codec's own range-coded sections (what an ncodec file holds, without its header);
inputs of any size are padded as ncodec pads them and the outputs cropped back.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ncodec.codecs.image.base import pad_to
from ncodec.codecs.image.modality import shape_payload


class AsCompressAI(nn.Module):
    def __init__(self, codec: nn.Module | str, quality: float | None = None):
        """``codec``: a loaded ncodec image codec or the name of an installed checkpoint;
        ``quality``: in the codec's range (default: its card's default, else the middle)."""
        super().__init__()
        if isinstance(codec, str):
            from ncodec.codecs.checkpoint import load_codec

            codec = load_codec(codec, "image")
        self.codec = codec
        lo, hi = codec.quality_range
        card = getattr(codec, "card", None) or {}
        self.quality = float(quality if quality is not None else card.get("default_quality", (lo + hi) / 2))
        if not lo <= self.quality <= hi:
            raise ValueError(f"quality {self.quality} outside the codec's range {lo}..{hi}")

    def forward(self, x: Tensor) -> dict:
        h, w = x.shape[-2:]
        out = self.codec(pad_to(x, self.codec.stride), self.quality)
        return {"x_hat": out["x_hat"][..., :h, :w], "likelihoods": out["likelihoods"]}

    def aux_loss(self) -> Tensor:
        return self.codec.aux_loss()

    def update(self, scale_table=None, force: bool = False, **_) -> bool:
        """The tables of a loaded ncodec model are frozen (they are part of its model id)."""
        return False

    @torch.no_grad()
    def compress(self, x: Tensor) -> dict:
        per_image = [self.codec.compress(x[i:i + 1], self.quality, reconstruct=False)["strings"]
                     for i in range(x.shape[0])]
        return {"strings": [list(stream) for stream in zip(*per_image)], "shape": tuple(x.shape[-2:])}

    @torch.no_grad()
    def decompress(self, strings: list[list[bytes]], shape) -> dict:
        images = [self.codec.decompress([stream[i] for stream in strings], shape_payload(*shape), self.quality)["x_hat"]
                  for i in range(len(strings[0]))]
        return {"x_hat": torch.cat(images, 0)}
