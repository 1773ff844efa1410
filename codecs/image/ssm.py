"""``ssm``: state-space transforms (CMamba / MambaIC style). Each stage fuses a global 2-D selective
scan (Mamba's S6 over four scan directions, as in VMamba's SS2D) with a local convolutional branch.

The selective scan ``h_t = exp(Δ_t A) ⊙ h_{t-1} + Δ_t B_t x_t``, ``y_t = C_t · h_t + D x_t`` runs on
CPU in plain PyTorch as a *chunked parallel scan*: a Hillis–Steele scan inside chunks (log2 of the
chunk length steps, every position at once), the chunk carries scanned the same way (recursively),
then one multiply-add to apply them. Decays stay in (0, 1] (products, never ``exp`` of a positive
number), so long sequences cannot overflow. On CUDA, ``mamba_ssm``'s fused kernel is used when it
is installed; a test checks both give the same result. These transforms are float networks off
the entropy-decoding path, so they need no fixed point: the latent codec keeps files exact.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from compressai.layers import GDN
from compressai.models.utils import conv, deconv
from torch import Tensor, nn

from ncodec.codecs.image.base import DEFAULT_LAMBDAS, LatentImageCodec
from ncodec.codecs.registry import register_codec

try:  # the fused CUDA kernel, when the user has it
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn as _fused_scan
except Exception:  # noqa: BLE001 - any import failure means: use the PyTorch scan
    _fused_scan = None


def linear_scan(a: Tensor, b: Tensor, chunk: int = 64) -> Tensor:
    """``h_t = a_t * h_{t-1} + b_t`` along dim 1 with ``h_{-1} = 0``, for all t at once."""
    batch, length = a.shape[:2]
    pad = (-length) % chunk
    if pad:  # identity steps at the end
        a = torch.cat([a, a.new_ones(batch, pad, *a.shape[2:])], 1)
        b = torch.cat([b, b.new_zeros(batch, pad, *b.shape[2:])], 1)
    n_chunks, rest = a.shape[1] // chunk, a.shape[2:]
    a, b = a.reshape(batch, n_chunks, chunk, *rest), b.reshape(batch, n_chunks, chunk, *rest)
    step = 1
    while step < chunk:  # inclusive scan inside each chunk: (a, b) pairs compose associatively
        b = torch.cat([b[:, :, :step], a[:, :, step:] * b[:, :, :-step] + b[:, :, step:]], 2)
        a = torch.cat([a[:, :, :step], a[:, :, step:] * a[:, :, :-step]], 2)
        step *= 2
    if n_chunks > 1:  # state entering each chunk: scan of the chunk totals, shifted by one
        carry = linear_scan(a[:, :, -1], b[:, :, -1], chunk)
        entering = torch.cat([torch.zeros_like(carry[:, :1]), carry[:, :-1]], 1)
        b = b + a * entering[:, :, None]
    return b.reshape(batch, n_chunks * chunk, *rest)[:, :length]


def selective_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor,
                   chunk: int = 64) -> Tensor:
    """S6 scan. ``u, delta``: (b, L, d); ``A``: (d, n) (negative); ``B, C``: (b, L, n); ``D``: (d,)."""
    if _fused_scan is not None and u.is_cuda:
        y = _fused_scan(u.transpose(1, 2).contiguous(), delta.transpose(1, 2).contiguous(), A,
                        B.transpose(1, 2).contiguous(), C.transpose(1, 2).contiguous(), D.float())
        return y.transpose(1, 2)
    decay = torch.exp(delta.unsqueeze(-1) * A)  # (b, L, d, n), in (0, 1]
    drive = (delta * u).unsqueeze(-1) * B.unsqueeze(2)
    h = linear_scan(decay, drive, chunk)
    return (h * C.unsqueeze(2)).sum(-1) + u * D


def selective_scan_reference(u, delta, A, B, C, D) -> Tensor:
    """The recurrence as written, one position at a time (tests only)."""
    h = u.new_zeros(u.shape[0], u.shape[2], A.shape[1])
    ys = []
    for t in range(u.shape[1]):
        h = torch.exp(delta[:, t, :, None] * A) * h + (delta[:, t] * u[:, t])[..., None] * B[:, t, None, :]
        ys.append((h * C[:, t, None, :]).sum(-1) + u[:, t] * D)
    return torch.stack(ys, 1)


class SS2D(nn.Module):
    """Selective scan over a 2-D map in four directions (rows, columns, and both reversed), each
    with its own input-dependent Δ, B, C; the four outputs are summed back on the map."""

    DIRECTIONS = 4

    def __init__(self, d: int, state: int = 8, dt_rank: int | None = None, chunk: int = 64):
        super().__init__()
        self.d, self.state, self.chunk = d, state, chunk
        self.dt_rank = dt_rank or math.ceil(d / 16)
        k = self.DIRECTIONS
        self.x_proj = nn.Parameter(torch.randn(k, self.dt_rank + 2 * state, d) / math.sqrt(d))
        self.dt_proj = nn.Parameter(torch.randn(k, d, self.dt_rank) / math.sqrt(self.dt_rank))
        # Δ starts in [1e-3, 1e-1] (log-uniform), Mamba's initialisation, via the softplus inverse.
        dt = torch.exp(torch.rand(k, d) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(torch.log(torch.arange(1, state + 1).float()).repeat(k, d, 1))
        self.D = nn.Parameter(torch.ones(k, d))

    def _sequences(self, x: Tensor) -> Tensor:
        """(b, d, H, W) -> (b, 4, L, d): row-major, column-major, and both reversed."""
        rows = x.flatten(2)
        cols = x.transpose(2, 3).flatten(2)
        return torch.stack([rows, cols, rows.flip(-1), cols.flip(-1)], 1).transpose(2, 3)

    def forward(self, x: Tensor) -> Tensor:
        b, d, h, w = x.shape
        seqs = self._sequences(x)  # (b, k, L, d)
        proj = torch.einsum("bkld,kcd->bklc", seqs, self.x_proj)
        dt, B, C = proj.split([self.dt_rank, self.state, self.state], -1)
        delta = F.softplus(torch.einsum("bklr,kdr->bkld", dt, self.dt_proj) + self.dt_bias[:, None])
        A = -torch.exp(self.A_log.float())
        outs = [selective_scan(seqs[:, i], delta[:, i], A[i], B[:, i], C[:, i], self.D[i], self.chunk)
                for i in range(self.DIRECTIONS)]
        rows = outs[0] + outs[2].flip(1)
        cols = outs[1] + outs[3].flip(1)
        rows = rows.transpose(1, 2).reshape(b, d, h, w)
        cols = cols.transpose(1, 2).reshape(b, d, w, h).transpose(2, 3)
        return rows + cols


class ChannelNorm(nn.Module):
    """LayerNorm over the channels of a (b, c, H, W) map."""

    def __init__(self, c: int):
        super().__init__()
        self.norm = nn.LayerNorm(c)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ContentAdaptiveBlock(nn.Module):
    """``x + fuse([global SS2D branch, local conv branch])``: the scan sees the whole image, the
    convolutions the neighbourhood; a 1x1 convolution learns how to mix them."""

    def __init__(self, c: int, state: int = 8, chunk: int = 64):
        super().__init__()
        self.norm = ChannelNorm(c)
        self.in_proj = nn.Conv2d(c, 2 * c, 1)
        self.dwconv = nn.Conv2d(c, c, 3, padding=1, groups=c)
        self.scan = SS2D(c, state, chunk=chunk)
        self.out_norm = ChannelNorm(c)
        self.local = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.LeakyReLU(inplace=True),
                                   nn.Conv2d(c, c, 3, padding=1))
        self.fuse = nn.Conv2d(2 * c, c, 1)

    def forward(self, x: Tensor) -> Tensor:
        u, gate = self.in_proj(self.norm(x)).chunk(2, 1)
        glob = self.out_norm(self.scan(F.silu(self.dwconv(u)))) * F.silu(gate)
        return x + self.fuse(torch.cat([glob, self.local(x)], 1))


def ssm_transforms(N: int, M: int, state: int, chunk: int) -> tuple[nn.Module, nn.Module]:
    """GDN convolutions down to 1/4, then content-adaptive blocks at 1/8 and 1/16 (and mirrored)."""
    block = lambda c: ContentAdaptiveBlock(c, state, chunk)  # noqa: E731
    g_a = nn.Sequential(
        conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), block(N), conv(N, M), block(M),
    )
    g_s = nn.Sequential(
        block(M), deconv(M, N), block(N), deconv(N, N), GDN(N, inverse=True),
        deconv(N, N), GDN(N, inverse=True), deconv(N, 3),
    )
    return g_a, g_s


@register_codec("ssm", "image")
class SSMCodec(LatentImageCodec):
    """Selective-scan (SS2D) + CNN transforms, channel-context entropy model by default, quality 1..6."""

    def __init__(self, N: int = 128, M: int = 192, state: int = 8, chunk: int = 64,
                 lambdas: list[float] = DEFAULT_LAMBDAS, entropy: dict | None = None):
        super().__init__(*ssm_transforms(N, M, state, chunk), 16, M, N, lambdas, entropy)
        self.config = {"N": N, "M": M, "state": state, "chunk": chunk, "lambdas": list(lambdas),
                       **({"entropy": dict(entropy)} if entropy else {})}
