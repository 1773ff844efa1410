"""Rate-distortion plots (matplotlib, Agg backend): measured curves solid, published dashed; one
figure per curve metric of the evaluated modality (``rd-<metric>.png``: images ``rd-psnr.png`` and
``rd-ms-ssim.png``, point clouds ``rd-d1-psnr.png`` and ``rd-d2-psnr.png``)."""
from __future__ import annotations

from pathlib import Path

from ncodec.eval.metrics import ms_ssim_db


def rd_plot(everything: dict[str, dict], metric, path: Path, title: str, rate_key: str = "bpp",
            rate_label: str = "bits per pixel (whole files)") -> Path | None:
    """One figure of every curve that has ``metric`` (a Metric); None when none has it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    drawn, measured_max, curves = 0, 0.0, []
    for name, data in everything.items():
        r = data["results"]
        rates = r.get(rate_key) or r.get("bpp") or []
        points = sorted((b, q) for b, q in zip(rates, r.get(metric.key) or []) if b is not None and q is not None)
        if len(points) < 2:
            continue
        xs = [b for b, _ in points]
        ys = [ms_ssim_db(q) if metric.db else q for _, q in points]
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
    ax.set_xlabel(rate_label)
    ax.set_ylabel(metric.label)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def write_plots(everything: dict[str, dict], out: Path, dataset_label: str, modality) -> dict[str, Path]:
    written = {}
    for metric in (m for m in modality.eval_metrics if m.curve):
        path = rd_plot(everything, metric, Path(out) / f"rd-{metric.name}.png",
                       f"{dataset_label}: rate-distortion ({metric.name.upper()})", modality.rate_key,
                       modality.eval_rate_label or modality.rate_key)
        if path is not None:
            written[metric.name] = path
    return written
