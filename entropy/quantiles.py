"""Solve a factorized prior's quantiles exactly instead of waiting for the auxiliary loss.

CompressAI's ``EntropyBottleneck`` learns, per channel, the points where its cumulative has mass
``tail_mass/2``, 1/2 and ``1 - tail_mass/2`` (``quantiles``); they set the range of the CDF tables
and the medians. The auxiliary loss moves them at most the optimizer's step size per step, so a
short training run leaves them far off. The cumulative's logit is strictly increasing in its input
(softplus matrices are positive and ``x + tanh(a)·tanh(x)`` has slope ``1 + tanh(a)·sech²(x) > 0``),
so each quantile is the unique root of ``logit(q) = target``: bisection finds it to float precision.
"""
from __future__ import annotations

import torch
from compressai.entropy_models import EntropyBottleneck


@torch.no_grad()
def solve_quantiles(bottleneck: EntropyBottleneck, bound: float = 1e5, iterations: int = 80) -> float:
    """Set ``bottleneck.quantiles`` to the roots; returns the auxiliary loss afterwards."""
    target = bottleneck.target.view(1, 1, 3).expand_as(bottleneck.quantiles)
    lo = torch.full_like(bottleneck.quantiles, -bound)
    hi = torch.full_like(bottleneck.quantiles, bound)
    for _ in range(iterations):
        mid = (lo + hi) / 2
        above = bottleneck._logits_cumulative(mid, stop_gradient=True) > target
        hi, lo = torch.where(above, mid, hi), torch.where(above, lo, mid)
    bottleneck.quantiles.copy_((lo + hi) / 2)
    return float(bottleneck.loss())


def solve_all_quantiles(model: torch.nn.Module) -> float | None:
    """Solve every entropy bottleneck in ``model``; the summed auxiliary loss, or None if it has none."""
    losses = [solve_quantiles(m) for m in model.modules() if isinstance(m, EntropyBottleneck)]
    return sum(losses) if losses else None
