"""``swin``: Swin-transformer transforms (TCM / S2LIC style). At every scale a convolutional stage
(CompressAI's residual blocks with stride or sub-pixel upsampling) is followed by a block that mixes
convolution with residual SwinV2 blocks: half the channels go through a residual convolution (local
detail), half through window attention (longer range, content adaptive), and a 1x1 convolution
fuses them (TCM's conv-transformer block).

The SwinV2 block (Liu et al. 2022), written here in plain PyTorch:

* scaled cosine attention: ``cos(q, k) * exp(s)`` with a learnable per-head ``s`` clamped at
  ``log(100)``, so logits stay bounded whatever the activations;
* a continuous relative position bias: a small MLP over log-spaced relative offsets
  (``sign(d) * log2(1 + |d|) / log2(8)`` after scaling offsets to +-8), ``16 * sigmoid`` of it;
* res-post-norm: ``x + LN(attention(x))``, ``x + LN(MLP(x))``;
* windows shifted by half a window in every other block, with the mask that keeps tokens that the
  cyclic shift brought round from the far side of the image apart.

Any feature size works: a map whose sides are not multiples of the window is zero-padded inside the
block, the padded keys are masked out (so the padding is invisible to real tokens), and the output is
cropped back. When the map is smaller than the window, the window shrinks to the map along that side
(and is not shifted there). Offsets are normalised by the configured window, so a shrunk window
evaluates the same bias function at the same offsets. These transforms are float networks off the
entropy-decoding path, so they need no fixed point: the latent codec keeps files exact.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F
from compressai.layers import ResidualBlock, ResidualBlockUpsample, ResidualBlockWithStride, conv3x3, subpel_conv3x3
from torch import Tensor, nn

from ncodec.codecs.image.base import DEFAULT_LAMBDAS, LatentImageCodec
from ncodec.codecs.registry import register_codec

MAX_LOGIT_SCALE = math.log(100.0)  # SwinV2: the attention temperature is never below 0.01
BLOCKED = -1e4  # the logit of a masked key: next to cosine logits (|.| <= 100 + 16) its weight is exactly 0


def log_spaced_offsets(wh: int, ww: int, window: int) -> Tensor:
    """The ``(2wh-1)(2ww-1)`` relative offsets (dh, dw) of a ``wh x ww`` window, normalised by the
    configured ``window`` to +-8 and log-spaced: (rows, 2) float32."""
    dh = torch.arange(-(wh - 1), wh, dtype=torch.float32)
    dw = torch.arange(-(ww - 1), ww, dtype=torch.float32)
    table = torch.stack(torch.meshgrid(dh, dw, indexing="ij"), -1).reshape(-1, 2)
    table = table / max(window - 1, 1) * 8
    return torch.sign(table) * torch.log2(1 + table.abs()) / math.log2(8)


@lru_cache(maxsize=32)
def relative_index(wh: int, ww: int) -> Tensor:
    """(T, T) row of :func:`log_spaced_offsets` for every (query, key) pair of a window, T = wh * ww."""
    with torch.inference_mode(False):  # cached: usable by later training passes too
        coords = torch.stack(torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij")).flatten(1)
        rel = coords[:, :, None] - coords[:, None, :]
        return (rel[0] + wh - 1) * (2 * ww - 1) + rel[1] + ww - 1


def partition(t: Tensor, wh: int, ww: int) -> Tensor:
    """(B, Hp, Wp, ...) -> (B * windows, wh * ww, ...), windows in row-major order."""
    b, hp, wp, *rest = t.shape
    t = t.reshape(b, hp // wh, wh, wp // ww, ww, *rest).transpose(2, 3)
    return t.reshape(b * (hp // wh) * (wp // ww), wh * ww, *rest)


def unpartition(t: Tensor, b: int, hp: int, wp: int, wh: int, ww: int) -> Tensor:
    """Inverse of :func:`partition`."""
    t = t.reshape(b, hp // wh, wp // ww, wh, ww, *t.shape[2:]).transpose(2, 3)
    return t.reshape(b, hp, wp, *t.shape[5:])


@lru_cache(maxsize=32)
def window_mask(h: int, w: int, wh: int, ww: int, sh: int, sw: int, device: torch.device) -> Tensor | None:
    """(windows, T, T) bool, True where a query must not see a key: keys in the padding, and, with a
    cyclic shift by (``sh``, ``sw``), keys from another region of a window that wraps round (Swin's
    shifted-window mask). None when nothing is blocked."""
    hp, wp = h + (-h) % wh, w + (-w) % ww
    if (hp, wp) == (h, w) and not (sh or sw):
        return None
    with torch.inference_mode(False):  # cached: usable by later training passes too
        return _window_mask(h, w, hp, wp, wh, ww, sh, sw, device)


def _window_mask(h: int, w: int, hp: int, wp: int, wh: int, ww: int, sh: int, sw: int,
                 device: torch.device) -> Tensor:
    def regions(size: int, window: int, shift: int) -> Tensor:  # along one axis, in the shifted frame
        r = torch.zeros(size, dtype=torch.long, device=device)
        if shift:
            r[size - window:] = 1  # the last window: the far end of the map ...
            r[size - shift:] = 2  # ... and what the shift brought round from its start
        return r

    ids = regions(hp, wh, sh)[:, None] * 3 + regions(wp, ww, sw)[None, :]
    valid = torch.zeros(hp, wp, dtype=torch.bool, device=device)
    valid[:h, :w] = True
    valid = torch.roll(valid, (-sh, -sw), (0, 1))
    ids, valid = partition(ids[None], wh, ww), partition(valid[None], wh, ww)  # (windows, T)
    return (ids[:, :, None] != ids[:, None, :]) | ~valid[:, None, :]


class WindowAttention(nn.Module):
    """SwinV2 multi-head attention inside windows: scaled cosine attention + continuous position bias."""

    def __init__(self, dim: int, heads: int, window: int, cpb_hidden: int = 512):
        super().__init__()
        if dim % heads:
            raise ValueError(f"{dim} channels do not split into {heads} heads")
        self.heads, self.window = heads, window
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.logit_scale = nn.Parameter(torch.full((heads, 1, 1), math.log(10.0)))
        self.cpb = nn.Sequential(nn.Linear(2, cpb_hidden), nn.ReLU(inplace=True),
                                 nn.Linear(cpb_hidden, heads, bias=False))

    def position_bias(self, wh: int, ww: int) -> Tensor:
        """(heads, T, T): ``16 * sigmoid(MLP(log-spaced offset))`` for every pair of a window."""
        table = 16 * torch.sigmoid(self.cpb(log_spaced_offsets(wh, ww, self.window).to(self.logit_scale)))
        t = wh * ww
        return table[relative_index(wh, ww).to(table.device).flatten()].reshape(t, t, self.heads).permute(2, 0, 1)

    def scores(self, x: Tensor, wh: int, ww: int) -> tuple[Tensor, Tensor]:
        """Pre-softmax logits (n, heads, T, T) and values (n, heads, T, d) of windows ``x`` (n, T, C)."""
        n, t, c = x.shape
        q, k, v = self.qkv(x).reshape(n, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        scale = self.logit_scale.clamp(max=MAX_LOGIT_SCALE).exp()
        cosine = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)
        return cosine * scale + self.position_bias(wh, ww), v

    def forward(self, x: Tensor, wh: int, ww: int, mask: Tensor | None = None) -> Tensor:
        """``x``: (B * windows, T, C); ``mask``: (windows, T, T) bool, True = blocked."""
        n, t, c = x.shape
        attn, v = self.scores(x, wh, ww)
        if mask is not None:
            windows = mask.shape[0]
            attn = attn.view(n // windows, windows, self.heads, t, t).masked_fill(mask[None, :, None], BLOCKED)
            attn = attn.view(n, self.heads, t, t)
        out = attn.softmax(-1) @ v
        return self.proj(out.transpose(1, 2).reshape(n, t, c))


class SwinV2Block(nn.Module):
    """Residual SwinV2 block on (B, C, H, W) maps of any size: ``x + LN(W-MSA(x))``, ``x + LN(MLP(x))``,
    windows shifted by half a window when ``shift``."""

    def __init__(self, dim: int, heads: int, window: int = 8, shift: bool = False, mlp_ratio: float = 4.0):
        super().__init__()
        self.window, self.shift = window, shift
        self.attn = WindowAttention(dim, heads, window)
        self.norm1 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.norm2 = nn.LayerNorm(dim)

    def geometry(self, h: int, w: int) -> tuple[int, int, int, int]:
        """Window (wh, ww) and shift (sh, sw) for an h x w map: the window shrinks to a smaller map,
        and a side covered by one window is not shifted."""
        wh, ww = min(self.window, h), min(self.window, w)
        sh = wh // 2 if self.shift and h > wh else 0
        sw = ww // 2 if self.shift and w > ww else 0
        return wh, ww, sh, sw

    def attend(self, t: Tensor) -> Tensor:
        """Window attention on (B, H, W, C): pad, shift, attend in windows, unshift, crop."""
        b, h, w, c = t.shape
        wh, ww, sh, sw = self.geometry(h, w)
        ph, pw = (-h) % wh, (-w) % ww
        if ph or pw:
            t = F.pad(t, (0, 0, 0, pw, 0, ph))
        if sh or sw:
            t = torch.roll(t, (-sh, -sw), (1, 2))
        mask = window_mask(h, w, wh, ww, sh, sw, t.device)
        out = unpartition(self.attn(partition(t, wh, ww), wh, ww, mask), b, h + ph, w + pw, wh, ww)
        if sh or sw:
            out = torch.roll(out, (sh, sw), (1, 2))
        return out[:, :h, :w]

    def forward(self, x: Tensor) -> Tensor:
        t = x.permute(0, 2, 3, 1)
        t = t + self.norm1(self.attend(t))
        t = t + self.norm2(self.mlp(t))
        return t.permute(0, 3, 1, 2)


class ConvSwinBlock(nn.Module):
    """TCM's conv-transformer block: 1x1 convolution, half the channels through a residual
    convolution block, half through ``depth`` SwinV2 blocks (plain and shifted windows in turn),
    concatenation, 1x1 convolution, plus the input."""

    def __init__(self, dim: int, window: int, depth: int, head_dim: int):
        super().__init__()
        self.conv_dim = dim // 2
        swin_dim = dim - self.conv_dim
        heads = max(1, swin_dim // head_dim)
        self.inp = nn.Conv2d(dim, dim, 1)
        self.conv = ResidualBlock(self.conv_dim, self.conv_dim)
        self.swin = nn.Sequential(*[SwinV2Block(swin_dim, heads, window, shift=i % 2 == 1) for i in range(depth)])
        self.out = nn.Conv2d(dim, dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        local, wide = self.inp(x).split([self.conv_dim, x.shape[1] - self.conv_dim], 1)
        return x + self.out(torch.cat([self.conv(local), self.swin(wide)], 1))


def swin_transforms(N: int, M: int, window: int, depth: int, head_dim: int) -> tuple[nn.Module, nn.Module]:
    """Analysis: three (stride-2 residual block, conv-Swin block) scales and a stride-2 3x3
    convolution to ``M`` channels at 1/16; synthesis: the mirror with sub-pixel upsampling."""
    if N < 2 or window < 1 or depth < 1 or head_dim < 1:
        raise ValueError(f"need N >= 2, window >= 1, depth >= 1, head_dim >= 1; got N={N}, window={window}, "
                         f"depth={depth}, head_dim={head_dim}")

    def stage() -> nn.Module:
        return ConvSwinBlock(N, window, depth, head_dim)

    g_a = nn.Sequential(
        ResidualBlockWithStride(3, N, 2), stage(),
        ResidualBlockWithStride(N, N, 2), stage(),
        ResidualBlockWithStride(N, N, 2), stage(),
        conv3x3(N, M, stride=2),
    )
    g_s = nn.Sequential(
        ResidualBlockUpsample(M, N, 2), stage(),
        ResidualBlockUpsample(N, N, 2), stage(),
        ResidualBlockUpsample(N, N, 2), stage(),
        subpel_conv3x3(N, 3, 2),
    )
    return g_a, g_s


@register_codec("swin", "image")
class SwinCodec(LatentImageCodec):
    """Convolution + residual SwinV2 transforms (TCM / S2LIC style) + a latent codec, quality 1..6."""

    def __init__(self, N: int = 128, M: int = 192, window: int = 8, depth: int = 2, head_dim: int = 32,
                 lambdas: list[float] = DEFAULT_LAMBDAS, entropy: dict | None = None):
        """``N``: transform width (half of it convolutional, half attention, ``head_dim`` channels
        per head); ``depth``: SwinV2 blocks per scale; ``entropy``: the latent codec,
        ``{"kind": ..., **options}`` (see ``ncodec.entropy``), default the mean-scale hyperprior."""
        super().__init__(*swin_transforms(N, M, window, depth, head_dim), 16, M, N, lambdas, entropy)
        self.config = {"N": N, "M": M, "window": window, "depth": depth, "head_dim": head_dim,
                       "lambdas": list(lambdas), **({"entropy": dict(entropy)} if entropy else {})}
