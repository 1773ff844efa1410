"""Rate-distortion objectives: ``lambda(q) * 255**2 * MSE + bpp`` and an MS-SSIM variant."""
from __future__ import annotations

import torch
from pytorch_msssim import ms_ssim
from torch import Tensor

from ncodec.entropy.rate import bits_per_pixel  # noqa: F401  (the one rate estimate; re-exported)


def rd_loss(model, x: Tensor, quality: Tensor, metric: str = "mse") -> tuple[Tensor, dict]:
    """Mean over the batch of each sample's own ``lambda(q_i)`` trade-off."""
    out = model(x, quality)
    bpp = bits_per_pixel(out["likelihoods"], x.shape[-2] * x.shape[-1])
    mse = (out["x_hat"].float() - x.float()).pow(2).flatten(1).mean(1)
    lmbda = model.rate.lmbda(quality)
    if metric == "mse":
        distortion = 255**2 * mse
    elif metric == "ms-ssim":
        # lambda * 255**2 / 50 maps the MSE lambdas onto CompressAI's MS-SSIM ones (2.40 ... 60.5),
        # so one lambda list serves both metrics. MS-SSIM needs crops of at least 161 px.
        distortion = 1 - ms_ssim(out["x_hat"].float().clamp(0, 1), x.float(), data_range=1.0, size_average=False)
        distortion = distortion * 255**2 / 50
    else:
        raise ValueError(f"unknown metric {metric!r} (mse or ms-ssim)")
    loss = (lmbda * distortion + bpp).mean()
    return loss, {"bpp": bpp.mean().detach(), "mse": mse.mean().detach(),
                  "psnr": (10 * torch.log10(1 / mse.mean())).detach()}
