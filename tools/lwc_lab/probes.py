"""Quick probes of ideas for lwc-dpf (issue 12), each measured on training photos only (never Kodak
or CBSD68) before any format or training work. Each prints the figure the README quotes.

    python3 tools/lwc_lab/probes.py colour      # layout 3's per-image colour basis vs the fixed one: coded BD-rate on the bench photos
    python3 tools/lwc_lab/probes.py lowpass     # lowpass band: MED prediction / activity tables vs today's differences
    python3 tools/lwc_lab/probes.py wiener      # a per-image least-squares filter after the post-filter: dB gained
    python3 tools/lwc_lab/probes.py chroma      # chroma residual explained linearly by the decoded luma residual (R^2)
    python3 tools/lwc_lab/probes.py signs       # the shipped sign skews against none, in each colour basis
    python3 tools/lwc_lab/probes.py prediction  # the prediction's magnitude as one more context feature (and a wider network): bits
    python3 tools/lwc_lab/probes.py shapes      # lwc-dpf's Laplace tables against counted magnitude shapes per table: bits
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from ncodec.codecs.checkpoint import create_model
from ncodec.codecs.image import cdf97
from ncodec.codecs.image.wavelet_ctx import quality_code
from ncodec.entropy import subband_context as ctx
from ncodec.eval.bdrate import Curve, bd_rate
from ncodec.tools.lwc_lab.bench import ROOT, load, psnr, tuning_paths
from ncodec.train.lwc import photo_paths, rate_bits

MODEL = "lwc-dpf"


def _photos(count: int, seed: int) -> list[Path]:
    train, _ = photo_paths(ROOT)
    return [train[i] for i in np.random.default_rng(seed).choice(len(train), count, replace=False)]


def _tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)[None]


def colour() -> None:
    """Layout 3's per-image colour basis (:func:`cdf97.own_colour`, its three angle bytes counted)
    against the fixed basis, everything learned unchanged: BD-rate on the bench photos."""
    model, own = create_model(MODEL), cdf97.own_colour
    qualities = [-1.0, 0.0, 2.0, 4.0, 6.0, 8.0]
    rd = {"fixed": {q: [] for q in qualities}, "own": {q: [] for q in qualities}}
    try:
        for path in tuning_paths(12):
            rgb = load(path)
            for kind in rd:
                cdf97.own_colour = own if kind == "own" else (lambda _: cdf97.NO_TURN)
                model._last = None
                for q in qualities:
                    out = model.compress(_tensor(rgb), q)
                    size = sum(len(s) for s in out["strings"]) - (3 if kind == "fixed" else 0)  # fixed: layout 2's size
                    rd[kind][q].append((8 * size / rgb.shape[0] / rgb.shape[1],
                                        psnr(rgb, np.round(out["x_hat"][0].permute(1, 2, 0).numpy() * 255))))
    finally:
        cdf97.own_colour = own
    curves = {k: Curve(k, [np.mean([r[0] for r in v[q]]) for q in qualities], [np.mean([r[1] for r in v[q]]) for q in qualities])
              for k, v in rd.items()}
    print(f"own colour basis vs fixed: BD-rate {bd_rate(curves['fixed'], curves['own']).value:+.2f}% (12 bench photos)")


def _med(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LOCO-I's median predictor residuals of one integer band, and each value's activity
    |W - NW| + |N - NW| (-1 for the first value, which has no neighbour)."""
    h, w = a.shape
    res, act = np.zeros_like(a), np.zeros_like(a)
    for i in range(h):
        for j in range(w):
            west, north = (a[i, j - 1] if j else None), (a[i - 1, j] if i else None)
            if west is None and north is None:
                p, act[i, j] = 0, -1
            elif north is None:
                p, act[i, j] = west, 2 * abs(west - (a[i, j - 2] if j > 1 else west))
            elif west is None:
                p, act[i, j] = north, 2 * abs(north - (a[i - 2, j] if i > 1 else north))
            else:
                nw = a[i - 1, j - 1]
                lo, hi = min(west, north), max(west, north)
                p = lo if nw >= hi else hi if nw <= lo else west + north - nw
                act[i, j] = abs(west - nw) + abs(north - nw)
            res[i, j] = a[i, j] - p
    return res, act


def lowpass() -> None:
    model = create_model(MODEL)
    _, tset, _ = model._load()

    def single(v):
        return min(tset.code_length(v, np.full(v.shape, t)) for t in range(ctx.N_TABLES))

    def by_activity(v, a, per_doubling):
        base = np.where(a < 0, 0, np.floor(per_doubling * np.log2(1 + np.maximum(a, 0)) + 0.5)).astype(np.int64)
        return min(tset.code_length(v, np.where(a < 0, 40, np.clip(base + s, 0, ctx.N_TABLES - 1)))
                   for s in range(ctx.N_TABLES))

    totals = {}
    for path in _photos(40, 5):
        rgb = load(path).astype(np.float64)
        ll = cdf97.forward(rgb, cdf97.levels_for(*rgb.shape[:2], model.config["max_levels"]))[0]
        for q in (-2.0, 0.0, 2.0, 4.0):
            q_ll = np.round(ll / model.step(q)).astype(np.int64)
            today = model._ll_residual(q_ll)
            row = [sum(single(today[c].reshape(-1)) for c in range(3)), 0.0, 0.0, 0.0]
            for c in range(3):
                r, a = (x.reshape(-1) for x in _med(q_ll[c]))
                row[1] += single(r)
                row[2] += by_activity(r, a, 2)
                row[3] += by_activity(r, a, 3)
            totals[q] = totals.get(q, 0) + np.array(row)
    for q, t in totals.items():
        print(f"quality {q:g}: lowpass bits, today {t[0]:.0f}; MED {t[1] / t[0]:.3f}x; MED + activity tables "
              f"(2 or 3 steps per doubling) {t[2] / t[0]:.3f}x / {t[3] / t[0]:.3f}x (40 training photos)")


def wiener() -> None:
    """Per photo and colour channel the least-squares symmetric filter (differences to 6 or 14
    neighbour pairs) from the decoded pixels to the original, coefficients in 1/256: the PSNR it
    adds to lwc-dpf's decode, and the side bits it would cost (9 per coefficient)."""
    model = create_model(MODEL)
    pairs = [(0, 1), (1, 0), (1, 1), (1, -1), (0, 2), (2, 0), (2, 1), (1, 2), (2, -1), (1, -2), (2, 2), (2, -2), (0, 3), (3, 0)]

    def features(y, offs):
        h, w = y.shape
        p = np.pad(y, 3, mode="reflect")
        return np.stack([p[3 + dy: 3 + dy + h, 3 + dx: 3 + dx + w] + p[3 - dy: 3 - dy + h, 3 - dx: 3 - dx + w] - 2 * y
                         for dy, dx in offs], -1).reshape(-1, len(offs))

    gains = {}
    for path in _photos(24, 7):
        rgb = load(path).astype(np.float64)
        for q in (-2.0, 0.0, 2.0, 4.0, 6.0):
            out = model.compress(_tensor(rgb), q)
            bpp = 8 * sum(len(s) for s in out["strings"]) / rgb.shape[0] / rgb.shape[1]
            dec = np.round(out["x_hat"][0].permute(1, 2, 0).numpy().astype(np.float64) * 255)
            for taps in (6, 14):
                err = 0.0
                for c in range(3):
                    f, t = features(dec[..., c], pairs[:taps]), (rgb[..., c] - dec[..., c]).reshape(-1)
                    w = np.round(np.linalg.lstsq(f, t, rcond=None)[0] * 256) / 256
                    err += float(np.sum(np.round(t - f @ w) ** 2))
                gain = 10 * np.log10(np.mean((dec - rgb) ** 2) / (err / rgb.size))
                gains.setdefault((q, taps), []).append((gain, bpp))
    for (q, taps), v in sorted(gains.items()):
        g, bpp = np.mean(v, axis=0)
        print(f"quality {q:g} ({bpp:.3f} bpp), {taps} pairs: +{g:.3f} dB for {27 * taps} side bits (24 training photos)")


def chroma() -> None:
    model = create_model(MODEL)
    acc = {}
    for path in _photos(30, 2):
        rgb = load(path).astype(np.float64)
        for quality in (0.0, 3.0, 6.0):
            q, targets = model.coded_targets(rgb, quality)
            for level in range(len(q)):
                for orient in range(3):
                    y = q[level][orient][0].astype(np.float64)
                    for c in (1, 2):
                        t = targets[level][orient][c]
                        acc[(quality, level, c)] = acc.get((quality, level, c), 0) + np.array([np.sum(y * t), np.sum(y * y), np.sum(t * t)])
    for (quality, level, c), (xy, xx, yy) in sorted(acc.items()):
        print(f"quality {quality:g} level {level} chroma {c}: R^2 {xy * xy / (xx * yy + 1e-12):.3f}")


def prediction() -> None:
    """Context samples of lwc-dpf's coded values (as LwcSamples draws them) with and without the
    log-mapped |prediction| / step at each position; the shipped network's shape (24 hidden) fitted
    to each, and a twice wider one without it; bits per coefficient on a fifth held out."""
    torch.set_num_threads(2)
    model = create_model(MODEL)
    rng = np.random.default_rng(1)
    cols = {k: [] for k in ("x", "p", "band", "value", "weight")}
    for path in _photos(80, 1):
        rgb = load(path).astype(np.float64)
        for _ in range(2):
            quality = float(np.float32(rng.uniform(-2, 7)))
            # (measured before layout 3: the fixed colour basis)
            levels, q_ll, q, records, shifts = model.analyse(rgb, quality, colour=cdf97.NO_TURN)
            predictions = model._replay(q_ll, records, shifts, [[b.shape for b in bands] for bands in q], quality,
                                         keep=True)[0]
            mags, step = [[np.abs(b) for b in bands] for bands in q], model.step(quality)
            for level, channel, orient in ctx.band_order(levels):
                band = mags[level][orient][channel]
                static = ctx.static_maps(mags, level, channel, orient)
                pmap = ctx.LOG_MAP[np.minimum((np.abs(predictions[level][orient][channel]) / step * 4).astype(np.int64), ctx.LOG_CLIP)]
                for pass_, mask in enumerate(ctx.pass_masks(band.shape, 4)):
                    x, p, values = ctx.features(static[mask], ctx.pass_maps(band, pass_, 4)[mask]), pmap[mask], q[level][orient][channel][mask]
                    keep = np.where(x.any(axis=1) | (values != 0) | (p > 0), 0.08, 0.01)
                    take = rng.random(len(values)) < keep
                    cols["x"].append(x[take])
                    cols["p"].append(p[take, None])
                    cols["band"].append(np.tile(ctx.band_features(quality_code(quality), level, channel, orient, pass_), (take.sum(), 1)))
                    cols["value"].append(values[take])
                    cols["weight"].append(1 / keep[take])
    data = {k: np.concatenate(v).astype(np.float32) for k, v in cols.items()}
    value, weight = torch.from_numpy(data["value"]), torch.from_numpy(data["weight"])
    order = np.random.default_rng(0).permutation(len(value))
    test, train = order[: len(order) // 5], order[len(order) // 5:]
    for name, parts, hidden in (("without the prediction feature", ("x", "band"), 24),
                                ("with the prediction feature", ("x", "p", "band"), 24),
                                ("without it, 48 hidden", ("x", "band"), 48)):
        f = torch.from_numpy(np.concatenate([data[k] for k in parts], 1)) / ctx.FEATURE_SCALE
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(f.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, hidden),
                                  torch.nn.ReLU(), torch.nn.Linear(hidden, 1))
        with torch.no_grad():
            net[-1].bias.fill_(-2.0)
        opt = torch.optim.Adam(net.parameters(), 3e-3)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=6000, pct_start=0.05)
        g = torch.Generator().manual_seed(0)
        for _ in range(6000):
            i = torch.from_numpy(train[torch.randint(len(train), (4096,), generator=g).numpy()])
            loss = (rate_bits(value[i], net(f[i])[:, 0]) * weight[i]).sum() / weight[i].sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        with torch.no_grad():
            i = torch.from_numpy(test)
            bits = float((rate_bits(value[i], net(f[i])[:, 0]) * weight[i]).sum() / weight[i].sum())
        print(f"{name}: {bits:.4f} bits per coefficient ({len(value)} samples, 80 training photos)")


def signs() -> None:
    """What the shipped sign skews save (against the same model with them zeroed), with each photo
    in its own colour basis and in the fixed one: BD-rate on the bench photos."""
    own, qualities = cdf97.own_colour, [-1.0, 0.0, 2.0, 4.0, 6.0, 8.0]
    curves = {}
    try:
        for basis in ("own", "fixed"):
            cdf97.own_colour = own if basis == "own" else (lambda _: cdf97.NO_TURN)
            for skewed in (True, False):
                model = create_model(MODEL)
                if not skewed:
                    with torch.no_grad():
                        model.sign_skew.zero_()
                    model._mlp = None
                rd = {q: [] for q in qualities}
                for path in tuning_paths(12):
                    rgb = load(path)
                    for q in qualities:
                        out = model.compress(_tensor(rgb), q)
                        rd[q].append((8 * sum(len(s) for s in out["strings"]) / rgb.shape[0] / rgb.shape[1],
                                      psnr(rgb, np.round(out["x_hat"][0].permute(1, 2, 0).numpy() * 255))))
                curves[(basis, skewed)] = Curve(basis, [np.mean([r[0] for r in rd[q]]) for q in qualities],
                                                [np.mean([r[1] for r in rd[q]]) for q in qualities])
    finally:
        cdf97.own_colour = own
    for basis in ("own", "fixed"):
        print(f"sign skews, {basis} colour basis: BD-rate {bd_rate(curves[(basis, False)], curves[(basis, True)]).value:+.2f}% "
              "against none (12 bench photos)")


def shapes() -> None:
    """The share of lwc-dpf's file bits that counted magnitude shapes would save over its Laplace
    tables: 48 training photos coded at six qualities, shapes (the first K magnitudes of each final
    table, the rest as one) counted on the first half and charged on the second, by quality; one
    set for every quality, then one per quality. Signs, calibration and RDO as coded."""
    model, k = create_model(MODEL), 16
    model._load(0.0)
    span, n_tables = 255, ctx.N_TABLES
    magnitude = np.arange(k)
    laplace = np.zeros((n_tables, k + 1))  # probability of |v| = 0..K-1 and >= K under each table
    laplace[:, :k] = 2.0 ** -(model._bits[:n_tables, span + magnitude] - (magnitude > 0))
    laplace[:, k] = np.maximum(1 - laplace[:, :k].sum(1), 1e-12)
    qualities = [-1.0, 0.0, 2.0, 4.0, 6.0, 8.0]
    counts = np.zeros((48, len(qualities), n_tables, k + 1))
    charged = np.zeros_like(counts)  # Laplace magnitude bits of those values
    file_bits = np.zeros((48, len(qualities)))
    for i, path in enumerate(_photos(48, 7)):
        x = _tensor(load(path))
        rgb = x[0].permute(1, 2, 0).double().numpy() * 255.0  # (what compress analyses)
        for j, q in enumerate(qualities):
            _, _, _, records, shifts = model.analyse(rgb, q)
            file_bits[i, j] = 8 * sum(len(s) for s in model.compress(x, q, reconstruct=False)["strings"])
            for (level, channel, _), _, values, base, _ in records:
                tables = model._shifted(base, shifts[(level, channel)])
                bins = np.minimum(np.abs(values), k)
                bits = model._cost(np.abs(values), tables) - (values != 0)
                np.add.at(counts[i, j], (tables, bins), 1)
                np.add.at(charged[i, j], (tables, bins), bits)
    fit, test = slice(0, 24), slice(24, 48)

    def saved(p, j):  # share of the test half's file bits at quality j
        h, c = counts[test, j].sum(0), charged[test, j].sum(0)
        new = -(h[:, :k] * np.log2(p[:, :k])).sum() + (c[:, k] + h[:, k] * np.log2(laplace[:, k] / p[:, k])).sum()
        return 100 * (new - c.sum()) / file_bits[test, j].sum()

    def shape(h):
        return (h + 30 * laplace) / (h.sum(1, keepdims=True) + 30)

    pooled = shape(counts[fit].sum((0, 1)))
    print("one set of shapes: " + ", ".join(f"q {q:g} {saved(pooled, j):+.2f}%" for j, q in enumerate(qualities)))
    print("a set per quality: " + ", ".join(f"q {q:g} {saved(shape(counts[fit, j].sum(0)), j):+.2f}%"
                                             for j, q in enumerate(qualities)))


PROBES = {"colour": colour, "signs": signs, "lowpass": lowpass, "wiener": wiener, "chroma": chroma, "prediction": prediction, "shapes": shapes}

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("probe", choices=sorted(PROBES))
    PROBES[ap.parse_args().probe]()
