"""Block motion: encoder-side estimation (integer full search, then half- and quarter-pel
refinement) and the exact integer motion-compensated prediction both sides compute.

Motion vectors are in quarter pels. The reference is edge-extended; sub-pel samples are either
the integer bilinear interpolation ``(sum of w_i * p_i + 8) >> 4`` with weights in sixteenths
(the original models), or a separable integer filter with taps in 64ths per quarter-pel phase
(``taps``; ``(sum_y c_y sum_x c_x p + 2048) >> 12`` clipped to 0..255, e.g. HEVC's 8-tap luma
filter, which keeps the detail bilinear interpolation blurs). Either way the prediction is
integer and identical on every machine. With ``obmc`` the prediction of each
pixel blends the predictions of its own block's vector and the neighbouring blocks' vectors with
integer raised-cosine windows (overlapped block motion compensation; smoother residuals for the
wavelet)."""
from __future__ import annotations

import numpy as np

PAD = 64  # edge extension of the reference (pixels); vectors reach at most this far outside
MAX_VECTOR = 4 * (PAD - 8)  # quarter pels: vectors never leave the padded reference


def luma(rgb: np.ndarray) -> np.ndarray:
    """Integer luma (BT.601 weights) of (H, W, 3) uint8, for motion search only."""
    r = rgb.astype(np.int32)
    return (77 * r[..., 0] + 150 * r[..., 1] + 29 * r[..., 2] + 128) >> 8


def grid(height: int, width: int, block: int) -> tuple[int, int]:
    return -(-height // block), -(-width // block)


def _padded(ref: np.ndarray) -> np.ndarray:
    pad = [(PAD, PAD), (PAD, PAD)] + [(0, 0)] * (ref.ndim - 2)
    return np.pad(ref.astype(np.int32), pad, mode="edge")


def _phase(p: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """Bilinear sample of the padded reference at (+fy/4, +fx/4), integer, same size (last row/col
    replicate)."""
    if fy == 0 and fx == 0:
        return p
    a = p
    b = np.concatenate([p[:, 1:], p[:, -1:]], axis=1)
    c = np.concatenate([p[1:], p[-1:]], axis=0)
    d = np.concatenate([c[:, 1:], c[:, -1:]], axis=1)
    w = ((4 - fy) * (4 - fx), (4 - fy) * fx, fy * (4 - fx), fy * fx)
    return (w[0] * a + w[1] * b + w[2] * c + w[3] * d + 8) >> 4


# HEVC's luma interpolation filter (taps in 64ths for phases 0, 1/4, 1/2, 3/4)
HEVC_TAPS = np.array([[0, 0, 0, 64, 0, 0, 0, 0], [-1, 4, -10, 58, 17, -5, 1, 0],
                      [-1, 4, -11, 40, 40, -11, 4, -1], [0, 1, -5, 17, 58, -10, 4, -1]], dtype=np.int64)


NAMED_TAPS = {"hevc": HEVC_TAPS}


def check_taps(taps) -> np.ndarray:
    """(4, 8) integer taps in 64ths (or a name of :data:`NAMED_TAPS`); phase 0 must be the
    identity (integer vectors copy pixels)."""
    if isinstance(taps, str):
        if taps not in NAMED_TAPS:
            raise ValueError(f"unknown interpolation filter {taps!r} (known: {', '.join(NAMED_TAPS)})")
        taps = NAMED_TAPS[taps]
    taps = np.asarray(taps, dtype=np.int64)
    if taps.shape != (4, 8) or np.any(taps.sum(axis=1) != 64) or np.any(taps[0] != HEVC_TAPS[0]):
        raise ValueError("interpolation taps must be (4, 8) integers in 64ths, each phase summing to 64, phase 0 the identity")
    return taps


def _filtered(p: np.ndarray, taps: np.ndarray) -> dict:
    """All 16 phases of the padded reference ``p`` under the separable filter ``taps``: rows first,
    then columns, one rounding at the end; edges replicate. int32 is exact: every partial sum is
    at most (sum |tap|)**2 * 255 = 3.2e6 in magnitude for 8-bit samples."""
    h, w = p.shape[:2]
    e = np.pad(p.astype(np.int32), [(3, 4), (3, 4)] + [(0, 0)] * (p.ndim - 2), mode="edge")
    rows = {0: e[:, 3 : 3 + w] * 64}
    for fx in (1, 2, 3):
        rows[fx] = sum(int(c) * e[:, k : k + w] for k, c in enumerate(taps[fx]) if c)
    out = {}
    for fx, r in rows.items():
        for fy in range(4):
            if fy == 0 and fx == 0:
                out[(0, 0)] = p
                continue
            acc = r[3 : 3 + h] * 64 if fy == 0 else sum(int(c) * r[k : k + h] for k, c in enumerate(taps[fy]) if c)
            out[(fy, fx)] = np.clip((acc + 2048) >> 12, 0, 255).astype(np.int32)
    return out


class Reference:
    """A decoded frame prepared for motion compensation (16 sub-pel phases, built lazily; all at
    once under an interpolation filter ``taps``)."""

    def __init__(self, frame: np.ndarray, taps: np.ndarray | None = None):
        self.frame = frame
        self.height, self.width = frame.shape[:2]
        self.padded = _padded(frame)
        self.taps = None if taps is None else check_taps(taps)
        self._phases: dict = {}

    def luma(self) -> "Reference":
        """The reference's integer luma as a reference (for motion search; built once)."""
        if not hasattr(self, "_luma"):
            self._luma = Reference(luma(self.frame), self.taps)
        return self._luma

    def phase(self, fy: int, fx: int) -> np.ndarray:
        if (fy, fx) not in self._phases:
            if self.taps is not None:
                self._phases = _filtered(self.padded, self.taps)
            else:
                self._phases[(fy, fx)] = _phase(self.padded, fy, fx)
        return self._phases[(fy, fx)]

    def block_prediction(self, mv: np.ndarray, block: int) -> np.ndarray:
        """(H, W, C) int32 prediction: every pixel from its block's vector (no overlap)."""
        h, w = self.height, self.width
        by, bx = np.arange(h) // block, np.arange(w) // block
        return self._gather(mv[by][:, bx], np.arange(h)[:, None], np.arange(w)[None, :])

    def patch(self, mv, rows: slice, cols: slice) -> np.ndarray:
        """Prediction of the pixel rectangle ``rows`` x ``cols`` with the one vector ``mv``."""
        ys = np.arange(rows.start, rows.stop)[:, None]
        xs = np.arange(cols.start, cols.stop)[None, :]
        return self._gather(np.asarray(mv, dtype=np.int64), ys, xs)

    def _stack(self) -> np.ndarray:
        if not hasattr(self, "_all"):
            self._all = np.stack([self.phase(p // 4, p % 4) for p in range(16)])
        return self._all

    def _gather(self, mvs: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """Prediction at pixels (ys, xs) (broadcast) with per-pixel vectors mvs (..., 2)."""
        my, mx = mvs[..., 0], mvs[..., 1]
        py = np.clip(ys + (my >> 2) + PAD, 0, self.padded.shape[0] - 1)
        px = np.clip(xs + (mx >> 2) + PAD, 0, self.padded.shape[1] - 1)
        return self._stack()[(my & 3) * 4 + (mx & 3), py, px]

    def obmc_prediction(self, mv: np.ndarray, block: int) -> np.ndarray:
        """Overlapped prediction: each pixel a weighted blend (integer weights summing to 64) of
        the predictions with its block's vector and its 3 nearest neighbour blocks' vectors."""
        h, w = self.height, self.width
        gh, gw = mv.shape[:2]
        ys, xs = np.arange(h)[:, None], np.arange(w)[None, :]
        by, bx = ys // block, xs // block
        # position inside the block, in half-pixels from its centre
        oy, ox = (ys % block) * 2 + 1 - block, (xs % block) * 2 + 1 - block
        ny = np.clip(by + np.where(oy < 0, -1, 1), 0, gh - 1)
        nx = np.clip(bx + np.where(ox < 0, -1, 1), 0, gw - 1)
        wy, wx = _window(np.abs(oy), block), _window(np.abs(ox), block)  # own-block weight out of 8
        out = np.zeros((h, w) + self.padded.shape[2:], dtype=np.int64)
        bys, bxs = np.broadcast_to(by, (h, w)), np.broadcast_to(bx, (h, w))
        nys, nxs = np.broadcast_to(ny, (h, w)), np.broadcast_to(nx, (h, w))
        wys, wxs = np.broadcast_to(wy, (h, w)), np.broadcast_to(wx, (h, w))
        for cy, cx, weight in ((bys, bxs, wys * wxs), (bys, nxs, wys * (8 - wxs)),
                               (nys, bxs, (8 - wys) * wxs), (nys, nxs, (8 - wys) * (8 - wxs))):
            pred = self._gather(mv[cy, cx], ys, xs)
            wt = weight[..., None] if pred.ndim == 3 else weight
            out += wt * pred
        return ((out + 32) >> 6).astype(np.int32)


def _window(dist: np.ndarray, block: int) -> np.ndarray:
    """Own-block weight (out of 8) at ``dist`` half-pixels from the block centre: 8 in the middle
    half of the block, falling linearly to 4 at the block edge."""
    edge = block  # half-pixels from centre to edge
    inner = block // 2
    t = np.clip(dist - inner, 0, edge - inner)
    return 8 - (4 * t + (edge - inner) // 2) // (edge - inner)


def block_sums(a: np.ndarray, block: int, gh: int, gw: int) -> np.ndarray:
    h, w = a.shape
    p = np.pad(a, ((0, gh * block - h), (0, gw * block - w)))
    return p.reshape(gh, block, gw, block).sum(axis=(1, 3))


def median_predictor(mv: np.ndarray) -> np.ndarray:
    """H.264-style predictor of each block's vector: median of left, top, top-right (causal)."""
    gh, gw = mv.shape[:2]
    z = np.zeros((1, gw, 2), dtype=mv.dtype)
    p = np.concatenate([z, mv], axis=0)
    p = np.concatenate([np.zeros((gh + 1, 1, 2), dtype=mv.dtype), p, np.zeros((gh + 1, 1, 2), dtype=mv.dtype)], axis=1)
    left = p[1:, :-2]
    top = p[:-1, 1:-1]
    topright = p[:-1, 2:]
    out = np.median(np.stack([left, top, topright]), axis=0).astype(np.int64)
    # first row: left only
    out[0] = left[0]
    return out


def mv_residual(mv: np.ndarray) -> np.ndarray:
    """Vector residuals in raster order: block vector minus the median of decoded neighbours."""
    return mv - median_predictor(mv)


def mv_from_residual(res: np.ndarray, anchor: np.ndarray | None = None) -> np.ndarray:
    """Inverse of :func:`mv_residual`, as the decoder runs it: cells in raster order, each vector
    = its residual + the median of the final field's left, top and top-right cells (first row:
    left only). With ``anchor`` (flat index of each cell's leaf anchor, a quadtree) only anchors
    are decoded, and each fills its leaf; every cell before an anchor in raster order is final."""
    gh, gw = res.shape[:2]
    flat_anchor = np.arange(gh * gw) if anchor is None else anchor.reshape(-1)
    order = np.argsort(flat_anchor, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(flat_anchor[order])) + 1)  # leaves, anchors ascending
    mv = np.zeros((gh, gw, 2), dtype=np.int64)
    flat, zero = mv.reshape(-1, 2), np.zeros(2, dtype=np.int64)
    for cells in groups:
        i, j = divmod(int(flat_anchor[cells[0]]), gw)
        if i == 0:
            pred = mv[0, j - 1] if j > 0 else zero
        else:
            left = mv[i, j - 1] if j > 0 else zero
            tr = mv[i - 1, j + 1] if j + 1 < gw else zero
            pred = np.median(np.stack([left, mv[i - 1, j], tr]), axis=0).astype(np.int64)
        flat[cells] = res[i, j] + pred
    return mv


def _searches(yc: np.ndarray, yref: np.ndarray, blocks: list[int], search: int, lam: float) -> dict:
    """Exhaustive integer search within ``search`` for several block sizes at once (one
    absolute-difference map per offset, block sums per size): {block: (gh, gw, 2) vectors
    minimising SAD + lam * |v|}. Sizes must be powers of two times the smallest."""
    h, w = yc.shape
    sizes = sorted(blocks)
    small, big = sizes[0], sizes[-1]
    gh, gw = grid(h, w, big)
    ph, pw = gh * big, gw * big
    c = np.pad(yc, ((0, ph - h), (0, pw - w)), mode="edge").astype(np.int32)
    pad = search + 2
    yp = np.pad(yref.astype(np.int32), ((pad, pad + ph - h), (pad, pad + pw - w)), mode="edge")
    shapes = {s: grid(h, w, s) for s in sizes}
    best = {s: np.full(shapes[s], np.inf) for s in sizes}
    mv = {s: np.zeros(shapes[s] + (2,), dtype=np.int64) for s in sizes}
    for dy in range(-search, search + 1):
        for dx in range(-search, search + 1):
            d = np.abs(c - yp[pad + dy : pad + dy + ph, pad + dx : pad + dx + pw])
            sums, size = d.reshape(ph // small, small, pw // small, small).sum(axis=(1, 3)), small
            while True:
                if size in best:
                    gh_s, gw_s = shapes[size]
                    sad = sums[:gh_s, :gw_s] + lam * (abs(dy) + abs(dx))
                    better = sad < best[size]
                    best[size] = np.where(better, sad, best[size])
                    mv[size][better] = (dy, dx)
                if size == big:
                    break
                sums, size = sums.reshape(sums.shape[0] // 2, 2, sums.shape[1] // 2, 2).sum(axis=(1, 3)), size * 2
    return mv


def _full_search(yc: np.ndarray, yref: np.ndarray, block: int, search: int, lam: float,
                 centre: np.ndarray | None = None, radius: int = 0) -> np.ndarray:
    """Integer vectors (gh, gw, 2) in pixels minimising SAD + lam * |v| (a rate proxy): every offset
    within ``search`` (vectorised over blocks), or within ``radius`` of each block's ``centre``."""
    if centre is None:
        return _searches(yc, yref, [block], search, lam)[block]
    h, w = yc.shape
    gh, gw = grid(h, w, block)
    ph, pw = gh * block, gw * block
    cur = np.pad(yc, ((0, ph - h), (0, pw - w)), mode="edge").astype(np.int32)
    pad = search + radius + 2
    yp = np.pad(yref.astype(np.int32), ((pad, pad + ph - h), (pad, pad + pw - w)), mode="edge")
    best = np.full((gh, gw), np.inf)
    mv = np.zeros((gh, gw, 2), dtype=np.int64)
    by = np.arange(ph)[:, None] // block
    bx = np.arange(pw)[None, :] // block
    ys, xs = np.arange(ph)[:, None], np.arange(pw)[None, :]
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            cand = np.clip(centre + np.array([dy, dx]), -search, search)
            py = ys + cand[..., 0][by, bx] + pad
            px = xs + cand[..., 1][by, bx] + pad
            sad = np.abs(cur - yp[py, px]).reshape(gh, block, gw, block).sum(axis=(1, 3))
            sad = sad + lam * np.abs(cand).sum(-1)
            better = sad < best
            best = np.where(better, sad, best)
            mv[better] = cand[better]
    return mv


def coarse_searches(cur: np.ndarray, ref: Reference, blocks: list[int], search: int, lam: float) -> dict:
    """The half-resolution full searches of :func:`estimate` for several block sizes at once:
    {block: integer field}, identical to separate searches (same padding values, same offset
    order and ties)."""
    half = _searches(_down2(luma(cur)), _down2(ref.luma().frame), [b // 2 for b in blocks], (search + 1) // 2, lam)
    return {2 * s: v for s, v in half.items()}


def estimate(cur: np.ndarray, ref: Reference, block: int, search: int, lam: float,
             subpel: bool = True, coarse: np.ndarray | None = None) -> np.ndarray:
    """(gh, gw, 2) quarter-pel vectors minimising SAD(luma) + lam * (vector bits proxy).
    Integer search on a half-resolution pyramid level (full search within ``search``, or the
    given ``coarse`` field of :func:`coarse_searches`), refined +-2 pixels at full resolution,
    then half- and quarter-pel refinement against the median predictor (what the vector costs
    to code)."""
    h, w = cur.shape[:2]
    gh, gw = grid(h, w, block)
    yc = luma(cur)
    yref = ref.luma().frame
    if block >= 8 and min(h, w) >= 32:
        if coarse is None:
            coarse = _full_search(_down2(yc), _down2(yref), block // 2, (search + 1) // 2, lam)
        coarse = coarse[:gh, :gw]
        if coarse.shape[:2] != (gh, gw):
            coarse = np.pad(coarse, ((0, gh - coarse.shape[0]), (0, gw - coarse.shape[1]), (0, 0)), mode="edge")
        mv = _full_search(yc, yref, block, search, 2 * lam, centre=2 * coarse, radius=2) * 4
    else:
        mv = _full_search(yc, yref, block, search, 2 * lam) * 4
    luma_ref = ref.luma()
    for step in ((2, 1) if subpel else ()):
        pred_mv = median_predictor(mv)
        base = mv.copy()
        best = np.full((gh, gw), np.inf)
        for dy in (-step, 0, step):
            for dx in (-step, 0, step):
                cand = base + np.array([dy, dx])
                pred = luma_ref.block_prediction(cand, block)
                sad = block_sums(np.abs(yc - pred), block, gh, gw)
                sad = sad + lam * mv_bits(cand - pred_mv)
                better = sad < best
                best = np.where(better, sad, best)
                mv[better] = cand[better]
    return mv


def _down2(a: np.ndarray) -> np.ndarray:
    h, w = a.shape
    p = np.pad(a, ((0, h % 2), (0, w % 2)), mode="edge").astype(np.int32)
    return (p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2] + 2) >> 2


FLAG_BITS, ZERO_BITS = 3.0, 0.5  # rate proxy: a differing vector's flag and overhead; a zero residual


def _component_bits(a):
    return 2 * np.log2(1 + a) + 1


def mv_bits(d: np.ndarray) -> np.ndarray:
    """Rate proxy of vector residuals: a zero residual is nearly free (flag), others cost a flag
    plus about 2 log2(1 + |d|) + 1 per component."""
    a = np.abs(d)
    nonzero = np.any(a > 0, axis=-1)
    return np.where(nonzero, FLAG_BITS + _component_bits(a).sum(axis=-1), ZERO_BITS)


def vector_bits(dy: int, dx: int) -> float:
    """:func:`mv_bits` of one residual (plain Python: the encoder's refinement calls it often)."""
    if dy == 0 and dx == 0:
        return ZERO_BITS
    return FLAG_BITS + float(_component_bits(abs(dy))) + float(_component_bits(abs(dx)))
