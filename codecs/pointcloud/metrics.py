"""Point-cloud distortion metrics (DESIGN.md, "Evaluation conventions"), for ``ncodec eval``.

* ``max_error`` / ``mean_error``: symmetric nearest-neighbour Euclidean distances (metres) between
  the original and the decoded cloud, so codecs that reorder or merge points compare fairly. When
  the order is known, :func:`coordinate_error` gives the per-coordinate maximum instead.
* D1 (point-to-point) PSNR: ``10 log10(peak^2 / MSE)`` with MSE the larger of the two directions'
  mean squared nearest-neighbour distance (summed over x, y, z) and **peak = the original's
  bounding-box diagonal**.
* D2 (point-to-plane) PSNR: the same with the squared distance projected on the normal of the
  reference point (normals by PCA over its 12 nearest neighbours).
A lossless result has MSE 0: its PSNR is reported as ``None`` (infinite).
"""
from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree


def peak(points: np.ndarray) -> float:
    return float(np.linalg.norm(points.max(axis=0) - points.min(axis=0)))


def normals(points: np.ndarray, k: int = 12) -> np.ndarray:
    tree = cKDTree(points)
    _, idx = tree.query(points, k=min(k, len(points)))
    nb = points[idx] - points[idx].mean(axis=1, keepdims=True)
    cov = np.einsum("nki,nkj->nij", nb, nb)
    _, vecs = np.linalg.eigh(cov)
    return vecs[:, :, 0]


def _psnr(mse: float, pk: float) -> float | None:
    return None if mse <= 0 else 10 * math.log10(pk * pk / mse)


def coordinate_error(a: np.ndarray, b: np.ndarray) -> float:
    """Max per-coordinate absolute error between matched point lists."""
    return float(np.abs(np.asarray(a) - np.asarray(b)).max()) if len(a) else 0.0


def distortion(original: np.ndarray, decoded: np.ndarray, with_d2: bool = True,
               original_normals: np.ndarray | None = None) -> dict:
    """Errors and PSNRs of ``decoded`` against ``original`` (pass ``original_normals`` to reuse them)."""
    original, decoded = np.asarray(original, np.float64), np.asarray(decoded, np.float64)
    d_ab, i_ab = cKDTree(decoded).query(original)
    d_ba, i_ba = cKDTree(original).query(decoded)
    pk = peak(original)
    out = {"max_error": float(max(d_ab.max(), d_ba.max())),
           "mean_error": float((d_ab.mean() + d_ba.mean()) / 2),
           "d1_psnr": _psnr(max(float((d_ab**2).mean()), float((d_ba**2).mean())), pk), "peak": pk}
    if with_d2:
        n_orig = normals(original) if original_normals is None else original_normals
        e_ab = np.einsum("ni,ni->n", decoded[i_ab] - original, n_orig) ** 2
        e_ba = np.einsum("ni,ni->n", decoded - original[i_ba], n_orig[i_ba]) ** 2
        out["d2_psnr"] = _psnr(max(float(e_ab.mean()), float(e_ba.mean())), pk)
    return out
