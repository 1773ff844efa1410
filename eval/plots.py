"""Rate-distortion plots (matplotlib, Agg backend): measured curves solid, published dashed."""
from __future__ import annotations

from pathlib import Path

from ncodec.eval.metrics import ms_ssim_db

PLOTS = {"psnr": ("rd-psnr.png", "psnr-rgb", "PSNR-RGB (dB)"),
         "ms-ssim": ("rd-ms-ssim.png", "ms-ssim-rgb", "MS-SSIM-RGB (dB, -10 log10(1 - MS-SSIM))")}


def rd_plot(everything: dict[str, dict], metric: str, path: Path, title: str) -> Path | None:
    """One figure of every curve that has ``metric``; None when none has it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _, key, ylabel = PLOTS[metric]
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    drawn, measured_max, curves = 0, 0.0, []
    for name, data in everything.items():
        r = data["results"]
        points = sorted((b, q) for b, q in zip(r.get("bpp", []), r.get(key) or []) if b is not None and q is not None)
        if len(points) < 2:
            continue
        xs = [b for b, _ in points]
        ys = [ms_ssim_db(q) if metric == "ms-ssim" else q for _, q in points]
        published = data.get("meta", {}).get("published", False)
        label = f"{name} (published)" if published else name
        ax.plot(xs, ys, linestyle="--" if published else "-", marker="" if published else "o", markersize=3.5,
                linewidth=1.2 if published else 1.6, label=label, alpha=0.8 if published else 1.0)
        if not published:
            measured_max = max(measured_max, max(xs))
        curves.append((xs, ys))
        drawn += 1
    if not drawn:
        plt.close(fig)
        return None
    if measured_max:  # frame the measured range; published curves may run further
        ax.set_xlim(0, measured_max * 1.05)
        visible = [y for xs, ys in curves for x, y in zip(xs, ys) if x <= measured_max * 1.05]
        if visible:
            pad = 0.04 * (max(visible) - min(visible) or 1)
            ax.set_ylim(min(visible) - pad, max(visible) + pad)
    ax.set_xlabel("bits per pixel (whole files)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def write_plots(everything: dict[str, dict], out: Path, dataset_label: str) -> dict[str, Path]:
    written = {}
    for metric, (filename, _, _) in PLOTS.items():
        path = rd_plot(everything, metric, Path(out) / filename, f"{dataset_label}: rate-distortion ({metric.upper()})")
        if path is not None:
            written[metric] = path
    return written
