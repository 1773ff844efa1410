"""A small learned post-filter for decoded images (``lwc`` with ``postfilter > 0``).

The wavelet coder's reconstruction has the coarse-quantisation artefacts of a fixed transform
(ringing along edges, blur, colour bleeding at low rates). Three 3x3 convolutions with ReLUs
predict a correction from the decoded RGB and the quality (a constant input plane), added to the
decoded image: a few thousand weights, trained on CPU in minutes (``PostFilterModule`` in
:mod:`ncodec.train.lwc`). It runs after entropy decoding, so it never touches what the range
decoder sees: files stay exact; the filtered pixels are float32 convolutions (the same caveat as
the learned-transform codecs' synthesis: identical on one platform, within a level across them).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ncodec.codecs.image.tiling import in_strips, receptive_radius

QUALITY_CENTRE, QUALITY_SCALE = 4.0, 6.0  # the quality plane: (quality - 4) / 6


def _convs(inputs: int, channels: int, outputs: int, layers: int) -> nn.Sequential:
    """``layers`` 3x3 convolutions with ReLUs between them; the last one zero (the identity)."""
    sizes = [inputs] + [channels] * (layers - 1) + [outputs]
    seq: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        seq += [nn.Conv2d(a, b, 3, padding=1), nn.ReLU(inplace=True)]  # in place: a third less filter time
    out = nn.Sequential(*seq[:-1])
    nn.init.zeros_(out[-1].weight)
    nn.init.zeros_(out[-1].bias)
    return out


class PostFilter(nn.Module):
    """``max_quality``: above it the filter is not run (it gains nothing there).

    ``layers``: three 3x3 convolutions at full resolution (``channels`` wide, a 7x7 view: the
    shipped ``lwc-pf``'s). ``coarse`` > 0 adds a second branch on the 2x2 pixel-unshuffled image
    (``coarse_layers`` convolutions, ``coarse`` channels, 12 in and out, shuffled back): for about
    the operations per pixel of the first it sees three times as far, where the wavelet's
    low-rate ringing spreads. The two corrections add."""

    def __init__(self, channels: int = 16, max_quality: float | None = None, coarse: int = 0, coarse_layers: int = 5):
        super().__init__()
        if coarse and coarse_layers < 2:
            raise ValueError(f"the coarse branch needs at least 2 layers, got {coarse_layers}")
        self.max_quality = float("inf") if max_quality is None else float(max_quality)
        self.layers = _convs(4, channels, 3, 3)
        self.coarse = _convs(13, coarse, 12, coarse_layers) if coarse else None

    @classmethod
    def from_config(cls, config: dict) -> "PostFilter | None":
        """The filter a codec config describes (``postfilter`` channels, 0 or absent: none)."""
        if not config.get("postfilter"):
            return None
        return cls(int(config["postfilter"]), config.get("postfilter_max_quality"),
                   int(config.get("postfilter_coarse") or 0), int(config.get("postfilter_coarse_layers") or 5))

    def config(self) -> dict:
        """The codec-config keys of this filter (the coarse branch's only when it has one, so
        older configs and their model ids are unchanged)."""
        out = {"postfilter": self.layers[0].out_channels}
        if self.max_quality != float("inf"):
            out["postfilter_max_quality"] = self.max_quality
        if self.coarse is not None:
            out["postfilter_coarse"] = self.coarse[0].out_channels
            out["postfilter_coarse_layers"] = (len(self.coarse) + 1) // 2
        return out

    def forward(self, x: torch.Tensor, quality) -> torch.Tensor:
        """``x``: (N, 3, H, W) decoded RGB in [0, 1]; ``quality``: a number or (N,) tensor."""
        q = torch.as_tensor(quality, dtype=x.dtype, device=x.device).reshape(-1, 1, 1, 1)
        q = (q - QUALITY_CENTRE) / QUALITY_SCALE
        n, _, h, w = x.shape
        # channels-last: oneDNN's convolutions are about twice as fast on CPU in that layout
        # (the same sums in another order: outputs within float32 rounding of the contiguous layout)
        out = x + self.layers(torch.cat([x, q.expand(n, 1, h, w)], dim=1).contiguous(memory_format=torch.channels_last))
        if self.coarse is not None:
            xp = F.pad(x, (0, w % 2, 0, h % 2), mode="replicate") if h % 2 or w % 2 else x
            z = F.pixel_unshuffle(xp, 2)
            z = torch.cat([z, q.expand(n, 1, z.shape[2], z.shape[3])], dim=1).contiguous(memory_format=torch.channels_last)
            out = out + F.pixel_shuffle(self.coarse(z), 2)[..., :h, :w]
        return out

    @torch.no_grad()
    def correct(self, x: torch.Tensor, quality: float) -> torch.Tensor:
        """Decoded pixels as shown: filtered on the filter's device and clamped to [0, 1], returned
        on ``x``'s device; ``x`` itself above ``max_quality``."""
        if float(quality) > self.max_quality:
            return x
        device = self.layers[0].weight.device
        return in_strips(lambda rows: self(rows, float(quality)), x.to(device), self.radius()
                         ).clamp_(0.0, 1.0).contiguous().to(x.device)

    def radius(self) -> int:
        """Rows of context the filter needs each side (the coarse branch's, on the 2x2 grid, plus
        the row its unshuffling pairs with)."""
        return max(receptive_radius(self.layers), receptive_radius(self.coarse, 2) + 1 if self.coarse is not None else 0)
