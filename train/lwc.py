"""Training the ``lwc`` context model (and its post-filter and sign contexts) under ``ncodec train``
(CPU minutes):

    ncodec train fit --config configs/image/lwc.yaml
    ncodec export runs/lwc/checkpoints/last.ckpt lwc

1. Samples (:class:`LwcSamples`): for training photos at random qualities, the codec's own
   transform and quantiser (or a previous model's RDO quantiser: the values the shipped encoder
   codes), and for every (subsampled) detail coefficient the integer context features the coder
   sees, its quantised value and its unquantised magnitude in steps.
2. Fit the small MLP (:class:`LwcModule`) to minimise the code length of the values under the
   discretised Laplace mixture the tables implement (the real rate, up to the 1/3-octave table grid).
3. Every checkpoint is a complete codec: the network frozen to fixed point and the reconstruction
   offsets per table (conditional mean of the magnitude inside the bin) learned from the samples.
   Validation codes the held-out photos for real (bits from the coder, PSNR of the decoded pixels).
"""
from __future__ import annotations

import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader

from ncodec.codecs.checkpoint import create_model
from ncodec.codecs.image import cdf97
from ncodec.codecs.image.wavelet_ctx import RECON_ONE, WaveletContextCodec, quality_code
from ncodec.entropy import sign_context as sc
from ncodec.entropy import subband_context as ctx
from ncodec.errors import InputError
from ncodec.train.data import BatchIndexed, RandomBatches
from ncodec.train.module import RecordsRun, SavesLastStep, one_cycle, sampled_training_state, warm_start
from ncodec.train.statistics import StatisticsModule

SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".tif", ".tiff"}


def photo_paths(root: Path) -> tuple[list[Path], list[Path]]:
    """All photos under ``root`` (sorted); every 50th is held out for validation."""
    paths = sorted(p for p in Path(root).rglob("*") if p.suffix.lower() in SUFFIXES)
    return [p for i, p in enumerate(paths) if i % 50 != 25], [p for i, p in enumerate(paths) if i % 50 == 25]


def choose_photos(root: str, images: int, val_images: int | None, seed: int):
    """(``images`` training photos drawn with ``seed``, the held-out photos (the first
    ``val_images``), the generator to go on drawing with) for a photo folder ``root``."""
    if not Path(root).is_dir():
        raise InputError(f"data folder does not exist: {root}")
    train_paths, val_paths = photo_paths(Path(root))
    if not train_paths:
        raise InputError(f"no photos under {root}")
    rng = np.random.default_rng(seed)
    chosen = [train_paths[i] for i in sorted(rng.choice(len(train_paths), min(images, len(train_paths)), replace=False))]
    return chosen, val_paths[:val_images] if val_images is not None else val_paths, rng


def load_rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def samples(model: WaveletContextCodec, rgb: np.ndarray, quality: float, rng, keep_zero: float,
            keep: float, quantiser: WaveletContextCodec | None = None) -> dict[str, np.ndarray]:
    """Context features (encoder view: every value known) of a random subset of coefficients.
    Rows whose context and value are all zero are kept with ``keep_zero``, others with ``keep``;
    ``weight`` undoes the subsampling."""
    h, w = rgb.shape[:2]
    levels = cdf97.levels_for(h, w, model.config["max_levels"])
    # The values the shipped encoder would code: the RDO quantiser of ``quantiser`` (a previous
    # model; with a detail predictor, the residuals it codes), else plain dead-zone rounding.
    if quantiser is not None:
        q, details = quantiser.coded_targets(rgb, quality)
    else:
        ll, details = cdf97.forward(rgb, levels, cdf97.colour_basis(cdf97.own_colour(rgb)))  # as the encoder turns it
        q = model.quantise((ll, details), quality)[1]
    step = model.steps(quality)[:, 0, 0]  # per colour channel
    mags = [[np.abs(b) for b in bands] for bands in q]
    code = quality_code(quality)
    out = {k: [] for k in ("x", "band", "value", "ratio", "weight")}
    for level, channel, orient in ctx.band_order(levels):
        band = mags[level][orient][channel]
        if band.size == 0:
            continue
        static = ctx.static_maps(mags, level, channel, orient)
        for pass_, mask in enumerate(ctx.pass_masks(band.shape, model.config["passes"])):
            x = ctx.features(static[mask], ctx.pass_maps(band, pass_, model.config["passes"])[mask])
            values = q[level][orient][channel][mask]
            busy = x.any(axis=1) | (values != 0)
            p = np.where(busy, keep, keep_zero)
            take = rng.random(len(values)) < p
            out["x"].append(x[take].astype(np.uint8))
            out["band"].append(np.tile(ctx.band_features(code, level, channel, orient, pass_).astype(np.int16), (take.sum(), 1)))
            out["value"].append(values[take].astype(np.int32))
            out["ratio"].append((np.abs(details[level][orient][channel][mask][take]) / step[channel]).astype(np.float32))
            out["weight"].append((1.0 / p[take]).astype(np.float32))
    return {k: np.concatenate(v) for k, v in out.items()}



def _validation_count(data) -> dict:
    """The card's count of held-out inputs, named for what they are (photos or clips)."""
    clips = getattr(data, "val_clips", None)
    if clips and not getattr(data, "val_paths", None):
        return {"validation_clips": len(clips)}
    return {"validation_images": len(getattr(data, "val_paths", None) or [])}


class ContextNet(nn.Module):
    """The float twin of :class:`ncodec.entropy.subband_context.ExactMLP`."""

    def __init__(self, hidden: int):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(ctx.N_FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                    nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x / ctx.FEATURE_SCALE)[:, 0]

    def exported(self) -> dict[str, np.ndarray]:
        linear = [m for m in self.layers if isinstance(m, nn.Linear)]
        return ctx.export_mlp([(m.weight.detach().double().numpy().T, m.bias.detach().double().numpy())
                               for m in linear])


def rate_bits(values: torch.Tensor, log2_scale: torch.Tensor) -> torch.Tensor:
    """Bits of integer ``values`` under the tables' mixture at the continuous scale 2**log2_scale."""
    s = torch.exp2(log2_scale.clamp(ctx.LOG2_MIN, ctx.LOG2_MIN + (ctx.N_TABLES - 1) / ctx.PER_OCTAVE))

    def cdf(x, scale):
        return 0.5 + 0.5 * torch.sign(x) * (1 - torch.exp(-x.abs() / scale))

    def mix(x):
        return (1 - ctx.EPS) * cdf(x, s) + ctx.EPS * cdf(x, ctx.WIDE * s)

    p = mix(values + 0.5) - mix(values - 0.5)
    return -torch.log2(p.clamp_min(2.0**-40))


def recon_offsets(model: WaveletContextCodec, data: dict) -> np.ndarray:
    """Per table and |q| = 1 / >= 2: mean of |q| - |x| / step (the conditional-mean offset)."""
    mlp, _, _ = model._load()
    tables = np.empty(len(data["value"]), dtype=np.int64)
    band = data["band"]
    keys, inverse = np.unique(band, axis=0, return_inverse=True)
    order = np.argsort(inverse.reshape(-1), kind="stable")
    bounds = np.searchsorted(inverse.reshape(-1)[order], np.arange(len(keys) + 1))
    for k, key in enumerate(keys):
        rows = order[bounds[k] : bounds[k + 1]]
        out = mlp(data["x"][rows].astype(np.int64), mlp.band_bias(key))
        tables[rows] = np.clip(ctx.scale_index(out), 0, ctx.N_TABLES - 1)
    mag = np.abs(data["value"]).astype(np.int64)
    offsets = np.zeros((ctx.N_TABLES, 2), dtype=np.int64)
    for kind in (0, 1):
        sel = (mag == 1) if kind == 0 else (mag >= 2)
        d = (mag[sel] - data["ratio"][sel]) * data["weight"][sel]
        t = tables[sel]
        num = np.bincount(t, weights=d, minlength=ctx.N_TABLES)
        den = np.bincount(t, weights=data["weight"][sel], minlength=ctx.N_TABLES)
        mean = np.where(den > 50, num / np.maximum(den, 1e-9), 0.0)
        offsets[:, kind] = np.round(np.clip(mean, -0.5, 0.5) * RECON_ONE)
    return offsets


def code_photo(model: WaveletContextCodec, rgb: np.ndarray, quality: float) -> tuple[float, float]:
    """(bits per pixel from the coder's bytes, PSNR of the decoded pixels) of one photo."""
    x = torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)[None]
    out = model.compress(x, quality)
    bits = 8 * sum(len(s) for s in out["strings"])
    dec = np.round(out["x_hat"][0].permute(1, 2, 0).numpy() * 255)
    mse = float(np.mean((dec - rgb) ** 2))
    return bits / rgb.shape[0] / rgb.shape[1], 10 * np.log10(255**2 / max(mse, 1e-12))


class _PhotoData(L.LightningDataModule):
    """A photo folder's data module: validation is the held-out photos, one path per step (the
    module codes them whole)."""

    val_paths: list[Path] = []

    def val_dataloader(self) -> DataLoader:
        return DataLoader([str(p) for p in self.val_paths], batch_size=None, collate_fn=lambda item: item)

    def description(self) -> str:
        return f"{self.hparams.root} (every 50th photo held out for validation)"

    def coding_range(self, base: WaveletContextCodec) -> tuple[float, float]:
        """The qualities training photos are coded at: the base's range, up to the module's
        ``max_quality`` (the part it trains is run only up to there)."""
        lo, hi = base.quality_range
        top = self.trainer.lightning_module.hparams.get("max_quality")
        return lo, (min(hi, top) if top is not None else hi)


class LwcSamples(_PhotoData):
    """Context samples of ``images`` training photos (every 50th photo under ``root`` is held out
    for validation), each at ``qualities_per_image`` random qualities of the model's range (half a
    step beyond each end). ``quantiser``: a shipped lwc checkpoint whose RDO encoder
    (``quantiser_rdo_lambda``, ``quantiser_rdo_passes``) makes the values, as the shipped encoder
    codes them; none: plain dead-zone rounding. ``cache``: an .npz reused while the settings match."""

    def __init__(self, root: str = "../shared/data/train", images: int = 120, qualities_per_image: int = 2,
                 keep: float = 0.08, keep_zero: float = 0.01, quantiser: str | None = None,
                 quantiser_rdo_lambda: float = 0.12, quantiser_rdo_passes: int = 1, batch_size: int = 4096,
                 val_images: int | None = None, seed: int = 0, cache: str | None = None):
        super().__init__()
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        if getattr(self, "data", None) is not None:
            return
        started = time.process_time()
        h = self.hparams
        model: WaveletContextCodec = self.trainer.lightning_module.codec
        chosen, self.val_paths, rng = choose_photos(h.root, h.images, h.val_images, h.seed)
        self.images = len(chosen)
        key = repr((sorted(dict(h).items()), model.config))
        if h.cache and Path(h.cache).is_file() and str(np.load(h.cache)["key"]) == key:
            self.data = {k: v for k, v in np.load(h.cache).items() if k != "key"}
        else:
            quantiser = None
            if h.quantiser:
                quantiser = create_model(h.quantiser, pretrained=True)
                quantiser.config.update(rdo_lambda=h.quantiser_rdo_lambda, rdo_passes=h.quantiser_rdo_passes)
            lo, hi = model.quality_range
            parts = []
            for path in chosen:
                rgb = load_rgb(path)
                for _ in range(h.qualities_per_image):
                    q = float(np.float32(rng.uniform(lo - 0.5, hi + 0.5)))
                    parts.append(samples(model, rgb, q, rng, h.keep_zero, h.keep, quantiser))
            self.data = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
            if h.cache:
                np.savez(h.cache, key=key, **self.data)
        self.cpu_seconds = time.process_time() - started
        x = np.concatenate([self.data["x"].astype(np.float32), self.data["band"].astype(np.float32)], 1)
        self.train_set = BatchIndexed(torch.from_numpy(x), torch.from_numpy(self.data["value"].astype(np.float32)),
                                      torch.from_numpy(self.data["weight"]))

    def train_dataloader(self) -> DataLoader:
        batches = self.trainer.max_steps if self.trainer.max_steps > 0 else 1000
        sampler = RandomBatches(len(self.train_set), self.hparams.batch_size, batches, self.hparams.seed)
        return DataLoader(self.train_set, sampler=sampler, batch_size=None)


class LwcModule(SavesLastStep, RecordsRun, L.LightningModule):
    """Fits ``lwc``'s context network (float twin :class:`ContextNet`) by the code length in bits
    per coefficient; one-cycle learning rate over ``max_steps``. ``init_from``: continue from a
    shipped lwc checkpoint (its fixed-point network, back in float) or a training checkpoint;
    ``fresh_network``: everything else from it (predictor, post-filter, sign skews), the network
    trained from scratch (e.g. of another width)."""

    def __init__(self, codec_config: dict | None = None, lr: float = 3e-3, pct_start: float = 0.05,
                 init_bias: float = -2.0, val_qualities: list[float] | None = None, seed: int = 0,
                 summary: str = "", default_quality: float = 6.0, init_from: str | None = None,
                 fresh_network: bool = False):
        super().__init__()
        self.save_hyperparameters()
        self.codec = create_model("lwc", pretrained=False, **(codec_config or {}))
        with torch.random.fork_rng():  # the same initial network whatever ran before
            torch.manual_seed(seed)
            self.net = ContextNet(self.codec.config["hidden"])
        with torch.no_grad():
            self.net.layers[-1].bias.fill_(init_bias)
        self.warm_start = None
        network = ("w1", "b1", "w2", "b2", "w3", "b3")
        if init_from and fresh_network:
            self.warm_start = warm_start(self.codec, "lwc", init_from, skip=network)
        elif init_from:
            self.warm_start = warm_start(self.codec, "lwc", init_from)
            layers = ctx.import_mlp({k: getattr(self.codec, k).numpy() for k in network})
            linear = [m for m in self.net.layers if isinstance(m, nn.Linear)]
            with torch.no_grad():
                for m, (w, b) in zip(linear, layers):
                    m.weight.copy_(torch.from_numpy(w.T))
                    m.bias.copy_(torch.from_numpy(b))
        self._finalised_at = None
        self.validation_rd: list[dict] = []

    def configure_optimizers(self):
        return one_cycle(self, self.net.parameters(), self.hparams.pct_start)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, value, weight = batch
        bits = (rate_bits(value, self.net(x)) * weight).sum() / weight.sum()
        self.log("train/bits_per_coefficient", bits.detach(), prog_bar=True)
        return bits

    # -- the codec: fixed point + reconstruction offsets, refreshed whenever it is used -----------
    def finalise_codec(self) -> None:
        if self._finalised_at == self.global_step:
            return
        for k, v in self.net.exported().items():
            getattr(self.codec, k).copy_(torch.from_numpy(v))
        self.codec._mlp = None
        data = getattr(getattr(self.trainer, "datamodule", None), "data", None) if self._trainer else None
        if data is not None:
            self.codec.recon.copy_(torch.from_numpy(recon_offsets(self.codec, data)))
            self.codec._mlp = None
        self._finalised_at = self.global_step

    def on_validation_epoch_start(self) -> None:
        self.finalise_codec()
        self._val: dict[float, list[tuple[float, float]]] = {}

    def _val_qualities(self) -> list[float]:
        lo, hi = self.codec.quality_range
        return list(self.hparams.val_qualities or np.linspace(lo, hi, 6))

    def validation_step(self, path: str, batch_idx: int) -> None:
        rgb = load_rgb(Path(path))
        for q in self._val_qualities():
            self._val.setdefault(float(q), []).append(code_photo(self.codec, rgb, float(q)))

    def on_validation_epoch_end(self) -> None:
        self.validation_rd = []
        for q, rows in sorted(self._val.items()):
            bpp, psnr = (float(np.mean(v)) for v in zip(*rows))
            self.validation_rd.append({"quality": q, "bpp": bpp, "psnr": psnr})
            self.log_dict({f"val/q{q:g}/bpp": bpp, f"val/q{q:g}/psnr": psnr}, batch_size=1)
            self.print(f"validation q={q:.2f} bpp={bpp:.4f} psnr={psnr:.3f}")
        self._validated_since_save = True

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        self._validated_since_save = False
        self.finalise_codec()
        checkpoint["state_dict"].update({f"codec.{k}": v.detach().clone() for k, v in self.codec.state_dict().items()})
        data = getattr(self.trainer, "datamodule", None)
        h = data.hparams if data is not None else {}
        lo, hi = self.codec.quality_range
        checkpoint["ncodec"] = {
            **self.run_record(), "codec_config": dict(self.codec.config), "init_from": self.warm_start, "summary": self.hparams.summary,
            "card": {"quality_range": [lo, hi], "default_quality": self.hparams.default_quality},
            "data": f"{h.get('root')} (every 50th photo held out for validation)" if h else None,
            "images": getattr(data, "images", None), "batch": h.get("batch_size"),
            "training": {"qualities_per_image": h.get("qualities_per_image"),
                         "samples": int(len(data.data["value"])) if getattr(data, "data", None) is not None else None,
                         "lr": self.hparams.lr, "cpu_threads": torch.get_num_threads(),
                         "samples_cpu_minutes": round(getattr(data, "cpu_seconds", 0.0) / 60, 1),
                         "quantiser": {"checkpoint": h.get("quantiser"), "rdo_lambda": h.get("quantiser_rdo_lambda"),
                                       "rdo_passes": h.get("quantiser_rdo_passes")} if h.get("quantiser") else None,
                         "validation_images": len(getattr(data, "val_paths", [])),
                         "validation_rd": self.validation_rd},
        }

    @staticmethod
    def training_state(state: dict) -> dict:
        """A checkpoint of this module, as ``ncodec export`` and warm starts read it."""
        return sampled_training_state(state, "lwc", ("data", "images", "batch"))


# ---------------------------------------------------------------------------------- post-filter
def _to_tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb.astype(np.float32) / 255).permute(2, 0, 1)[None]


class DecodedCrops(_PhotoData):
    """Pairs for the post-filter: ``images`` training photos (the held-out 50th excluded), each
    coded by the base model at ``qualities_per_image`` random qualities of its range, and
    ``crops_per_image`` random ``crop`` x ``crop`` windows of (decoded, original, quality).
    Validation: the held-out photos, whole."""

    def __init__(self, root: str = "../shared/data/train", images: int = 150, qualities_per_image: int = 3,
                 crop: int = 64, crops_per_image: int = 8, batch_size: int = 16, val_images: int | None = None,
                 seed: int = 0):
        super().__init__()
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        if getattr(self, "train_set", None) is not None:
            return
        started = time.process_time()
        h = self.hparams
        base: WaveletContextCodec = self.trainer.lightning_module.base
        chosen, self.val_paths, rng = choose_photos(h.root, h.images, h.val_images, h.seed)
        lo, hi = self.coding_range(base)
        dec, org, qs = [], [], []
        for path in chosen:
            rgb = load_rgb(path)
            if min(rgb.shape[:2]) < h.crop:
                continue
            for _ in range(h.qualities_per_image):
                q = float(np.float32(rng.uniform(lo, hi)))
                x_hat = base.compress(_to_tensor(rgb), q)["x_hat"][0]
                for _ in range(h.crops_per_image):
                    y, x = rng.integers(0, rgb.shape[0] - h.crop + 1), rng.integers(0, rgb.shape[1] - h.crop + 1)
                    dec.append(x_hat[:, y : y + h.crop, x : x + h.crop].clone())
                    org.append(torch.from_numpy(np.ascontiguousarray(rgb[y : y + h.crop, x : x + h.crop])).permute(2, 0, 1))
                    qs.append(q)
        if not dec:
            raise InputError(f"no photos under {h.root} are {h.crop} pixels on each side")
        self.images = len(chosen)
        self.train_set = torch.utils.data.TensorDataset(torch.stack(dec), torch.stack(org), torch.tensor(qs))
        self.cpu_seconds = time.process_time() - started

    def train_dataloader(self) -> DataLoader:
        gen = torch.Generator().manual_seed(self.hparams.seed)
        return DataLoader(self.train_set, batch_size=self.hparams.batch_size, shuffle=True, drop_last=True,
                          generator=gen)

    @staticmethod
    def decoded(base: WaveletContextCodec, path: str, quality: float):
        """A held-out photo coded by ``base``: (bpp, decoded (1, 3, H, W) in [0, 1], original
        (1, H, W, 3) uint8, the filter's quality)."""
        rgb = load_rgb(Path(path))
        out = base.compress(_to_tensor(rgb), quality)
        bpp = 8 * sum(len(s) for s in out["strings"]) / rgb.shape[0] / rgb.shape[1]
        return bpp, out["x_hat"], rgb[None], quality


def check_encoder_only(codec: str, config: dict, settings: dict) -> None:
    """Refuse encoder ``settings`` that would change what a file of ``codec`` decodes to: the
    model built with them (same seed) must have the same id, i.e. the same weights and buffers."""
    ids = []
    for extra in ({}, settings):
        with torch.random.fork_rng():
            torch.manual_seed(0)
            try:
                ids.append(create_model(codec, pretrained=False, **{**config, **extra}).model_id)
            except TypeError as e:
                raise InputError(f"encoder: {e}") from None
    if ids[0] != ids[1]:
        raise InputError(f"encoder: {sorted(settings)} would change what files decode to (the model id); "
                         "train a model with them instead")


class _AddOnModule(SavesLastStep, RecordsRun, L.LightningModule):
    """A learned part trained on top of a shipped model (``self.base``, frozen) and exported with
    it: the model card (``on_save_checkpoint``) and the export (``training_state``: the base's
    weights plus the part's, ``part`` in the module, ``prefix`` in the codec)."""

    part, prefix = "filter", "postfilter."
    lr_drop_factor = 0.1  # the learning rate is multiplied by it at each of ``lr_drops`` (fractions of the run)

    def codec_config(self) -> dict:
        raise NotImplementedError

    def configure_optimizers(self):
        opt = torch.optim.Adam(getattr(self, self.part).parameters(), lr=self.hparams.lr)
        total = self.trainer.max_steps if self.trainer.max_steps > 0 else 10**9
        drops = [int(f * total) for f in self.hparams.lr_drops]
        factor = self.lr_drop_factor
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: factor ** sum(s >= d for d in drops))
        return [opt], [{"scheduler": sched, "interval": "step"}]

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        self._validated_since_save = False
        data = getattr(self.trainer, "datamodule", None)
        h = data.hparams if data is not None else {}
        lo, hi = self.base.quality_range
        run = self.run_record()
        fit = run.pop("cpu_seconds")
        checkpoint["ncodec"] = {
            **run, "codec": self.base.codec_name, "codec_config": self.codec_config(), "summary": self.hparams.summary,
            "card": {"quality_range": [lo, hi], "default_quality": self.hparams.default_quality},
            "data": data.description() if data is not None else None,
            "images": getattr(data, "images", None), "batch": h.get("batch_size"), "crop": h.get("patch", h.get("crop")),
            "training": {"base": {"checkpoint": self.hparams.base, "model_id": self.base.model_id.hex()},
                         "samples": len(getattr(data, "train_set", [])) if data is not None else None,
                         "lr": self.hparams.lr, "cpu_threads": torch.get_num_threads(),
                         "samples_cpu_minutes": round(getattr(data, "cpu_seconds", 0.0) / 60, 1),
                         "fit_cpu_minutes": round(fit / 60, 1),
                         "cpu_minutes": round((getattr(data, "cpu_seconds", 0.0) + fit) / 60, 1),
                         **_validation_count(data), "validation_rd": self.validation_rd},
        }

    @classmethod
    def training_state(cls, state: dict) -> dict:
        """The base codec's weights plus the part's, as ``ncodec export`` reads them."""
        info = state.get("ncodec", {})
        weights = {k[len("base."):]: v for k, v in state["state_dict"].items() if k.startswith("base.")}
        part = cls.part + "."
        weights.update({cls.prefix + k[len(part):]: v for k, v in state["state_dict"].items() if k.startswith(part)})
        return {"codec": info.get("codec", "lwc"), "config": dict(info.get("codec_config") or {}), "weights": weights,
                "steps": state.get("global_step"), "loop": "ncodec train (Lightning)",
                **{k: info.get(k) for k in ("device", "devices", "wall_seconds", "summary", "card", "data",
                                            "images", "batch", "crop")},
                "training": dict(info.get("training", {}))}


class PostFilterModule(_AddOnModule):
    """Trains a post-filter on top of a shipped model (``base``, unchanged: ``lwc``, or ``lvc``
    whose output frames it filters, with :class:`ncodec.train.video.DecodedClips`) by the MSE of
    the filtered decoded pixels; the exported model is the base codec plus the filter
    (``postfilter: channels`` in its config). The data module codes the training crops and, for
    validation, its held-out items for real (``decoded``); validation reports the mean PSNR of
    the 8-bit output with and without the filter."""

    def __init__(self, base: str = "lwc", channels: int = 16, lr: float = 1e-3, lr_drops: tuple[float, ...] = (0.8,),
                 loss: str = "relative", max_quality: float | None = None, val_qualities: list[float] | None = None,
                 seed: int = 0, summary: str = "", default_quality: float = 6.0, coarse: int = 0, coarse_layers: int = 5,
                 init_from: str | None = None, encoder: dict | None = None):
        """``loss``: ``mse``, or ``relative`` (each crop's MSE over its unfiltered MSE: every
        quality weighs the same in dB, as BD-rate does, instead of the low rates dominating).
        ``max_quality``: the filter is trained and run only up to this quality. ``encoder``:
        settings of the exported codec's encoder (``rdo_passes: 2``); the training data is coded
        with the base's. Refused when a setting would change what a file decodes to."""
        super().__init__()
        self.save_hyperparameters()
        from ncodec.codecs.image.postfilter import PostFilter

        self.base = create_model(base, pretrained=True)
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.base.postfilter = None  # a base with a filter (lwc-pfs): this one replaces it
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.filter = PostFilter(channels, max_quality, coarse, coarse_layers)
        if init_from:  # warm start: a shipped filter's weights (the branches it has)
            donor = create_model(init_from, pretrained=True)
            if getattr(donor, "postfilter", None) is None:
                raise InputError(f"init_from: checkpoint {init_from!r} has no post-filter")
            self.filter.load_state_dict(donor.postfilter.state_dict(), strict=False)
        self.validation_rd: list[dict] = []
        if encoder:
            check_encoder_only(self.base.codec_name, self.base.config, encoder)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        decoded, original, quality = batch
        target = original.float() / 255
        mse = (self.filter(decoded, quality) - target).pow(2).mean(dim=(1, 2, 3))
        if self.hparams.loss == "relative":
            mse = mse / (decoded - target).pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-8)
        loss = mse.mean()
        self.log("train/mse", loss.detach(), prog_bar=True)
        return loss

    def _val_qualities(self) -> list[float]:
        return list(self.hparams.val_qualities or [-2.0, 0.0, 2.0, 4.0, 6.0, 8.0, 10.0])

    def on_validation_epoch_start(self) -> None:
        self._val: dict[float, list[tuple[float, float, float]]] = {}

    @torch.no_grad()
    def validation_step(self, item, batch_idx: int) -> None:
        """One held-out item (a photo, a clip: the data module codes it with the base, filter
        off): bits per pixel and the mean PSNR of its 8-bit frames before and after the filter."""
        for q in self._val_qualities():
            bpp, decoded, original, filter_q = self.trainer.datamodule.decoded(self.base, item, q)
            psnrs = []
            for x_hat in (decoded, self.filter(decoded, filter_q).clamp(0, 1)):
                dec = np.round(x_hat.permute(0, 2, 3, 1).numpy() * 255)
                mse = np.mean((dec - original) ** 2, axis=(1, 2, 3))
                psnrs.append(float(np.mean(10 * np.log10(255**2 / np.maximum(mse, 1e-12)))))
            self._val.setdefault(float(q), []).append((bpp, *psnrs))

    def on_validation_epoch_end(self) -> None:
        self.validation_rd = []
        for q, rows in sorted(self._val.items()):
            bpp, before, after = (float(np.mean(v)) for v in zip(*rows))
            self.validation_rd.append({"quality": q, "bpp": bpp, "psnr_base": before, "psnr": after})
            self.log_dict({f"val/q{q:g}/psnr_gain": after - before}, batch_size=1)
            self.print(f"validation q={q:.2f} bpp={bpp:.4f} psnr {before:.3f} -> {after:.3f} ({after - before:+.3f} dB)")
        self._validated_since_save = True

    def codec_config(self) -> dict:
        base = {k: v for k, v in self.base.config.items() if not k.startswith("postfilter")}  # replaced
        return {**base, **self.filter.config(), **(self.hparams.encoder or {})}


# ---------------------------------------------------------------------------------- detail predictor
def _levels(x: np.ndarray, levels: int, basis: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Unscaled lowpass after each level (1..levels) and (HL, LH, HH) of each level, stacked to
    9 channels and cropped to HH's size, of (H, W, 3) pixels in the colour ``basis`` (as the
    codec's synthesis holds them)."""
    ll = cdf97.to_colour(x, basis)
    lows, details = [], []
    for _ in range(levels):
        ll, ((hl, lh, hh),) = cdf97.analysis(ll, 1)
        h, w = hh.shape[1:]
        lows.append(ll.astype(np.float32))
        details.append(np.concatenate([hl[:, :h, :w], lh[:, :h, :w], hh]).astype(np.float32))
    return lows, details


class _LevelBatches(torch.utils.data.IterableDataset):
    """Endless batches of one level each (drawn with ``weights``): (level, decoded lowpass crops,
    original detail crops, quantiser steps)."""

    def __init__(self, items: list, weights: list[float], crops: list[int], batch: int, seed: int):
        self.items, self.crops, self.batch, self.seed = items, crops, batch, seed
        self.weights = np.asarray(weights, np.float64) / np.sum(weights)

    def __iter__(self):
        rng = np.random.default_rng(self.seed)
        while True:
            level = int(rng.choice(len(self.weights), p=self.weights))
            crop = self.crops[level]
            lows, targets, steps = [], [], []
            for _ in range(self.batch):
                step, low, detail = self.items[rng.integers(len(self.items))]
                h, w = detail[level].shape[1:]
                y, x = rng.integers(0, h - crop + 1), rng.integers(0, w - crop + 1)
                lows.append(low[level][:, y : y + crop, x : x + crop])
                targets.append(detail[level][:, y : y + crop, x : x + crop])
                steps.append(step)
            yield level, torch.from_numpy(np.stack(lows)), torch.from_numpy(np.stack(targets)), torch.tensor(steps)


class DecodedLevels(_PhotoData):
    """Pairs for the detail predictor: ``images`` training photos (the held-out 50th excluded),
    each coded by the base model (no predictor, no post-filter) at ``qualities_per_image`` random
    qualities of its range; per wavelet level the decoded lowpass above it (the predictor's input)
    and the original's detail bands (its target), served as random ``crop``-sized windows (smaller
    where a level is smaller), one level per batch, levels drawn with ``level_weights``."""

    def __init__(self, root: str = "../shared/data/train", images: int = 400, qualities_per_image: int = 2,
                 crop: int = 40, batch_size: int = 16, level_weights: tuple[float, ...] = (5, 3, 2),
                 val_images: int | None = None, seed: int = 0):
        super().__init__()
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        if getattr(self, "train_set", None) is not None:
            return
        started = time.process_time()
        h = self.hparams
        base: WaveletContextCodec = self.trainer.lightning_module.base
        chosen, self.val_paths, rng = choose_photos(h.root, h.images, h.val_images, h.seed)
        levels = len(h.level_weights)
        lo, hi = self.coding_range(base)
        items = []
        for path in chosen:
            rgb = load_rgb(path)
            if cdf97.levels_for(*rgb.shape[:2], levels) < levels:
                continue
            basis = cdf97.colour_basis(cdf97.own_colour(rgb))  # the photo's own, as the encoder codes it
            _, detail = _levels(rgb, levels, basis)
            for _ in range(h.qualities_per_image):
                q = float(np.float32(rng.uniform(lo, hi)))
                x_hat = base.compress(_to_tensor(rgb), q)["x_hat"][0].permute(1, 2, 0).double().numpy() * 255
                items.append((base.step(q), _levels(x_hat, levels, basis)[0], detail))
        if not items:
            raise InputError(f"no photos under {h.root} are large enough for {levels} wavelet levels")
        crops = [min(h.crop, *(min(d[level].shape[1:]) for _, _, d in items)) for level in range(levels)]
        self.images, self.train_set = len(chosen), items
        self._batches = _LevelBatches(items, list(h.level_weights), crops, h.batch_size, h.seed)
        self.cpu_seconds = time.process_time() - started

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self._batches, batch_size=None)


class DetailPredictorModule(_AddOnModule):
    """Trains the detail predictor (:mod:`ncodec.codecs.image.detail_predictor`) of an ``lwc``
    model on top of a shipped one (``base``: its entropy model and sign contexts unchanged; its
    post-filter dropped, as the decoded pixels change): the MSE of each level's predicted detail
    bands against the original's, in units of the level's gain. The exported model is the base
    plus the predictor (``predictor: channels``). Validation codes the held-out photos for real
    with and without the predictor (bits per pixel and PSNR, no post-filter)."""

    part, prefix = "predictor", "predictor."
    lr_drop_factor = 0.25

    def __init__(self, base: str = "lwc-pfs", channels: int = 32, layers: int = 6, max_quality: float | None = None,
                 lr: float = 2e-3, lr_drops: tuple[float, ...] = (0.75,), val_qualities: list[float] | None = None,
                 seed: int = 0, summary: str = "", default_quality: float = 6.0, blocks: int = 0):
        """``max_quality``: trained on and run up to this quality (above it the codec codes the
        bands themselves). ``blocks`` > 0: a residual predictor of that many blocks in place of
        ``layers`` plain convolutions."""
        super().__init__()
        self.save_hyperparameters()
        from ncodec.codecs.image.detail_predictor import DetailPredictor

        source = create_model(base, pretrained=True)
        if not isinstance(source, WaveletContextCodec) or source.predictor is not None:
            raise InputError(f"base {base!r} is not an lwc checkpoint without a detail predictor")
        config = {k: v for k, v in source.config.items() if not k.startswith("postfilter")}
        self.base = create_model("lwc", pretrained=False, **config)
        self.base.load_state_dict({k: v for k, v in source.state_dict().items() if not k.startswith("postfilter.")})
        self.base.model_id = source.model_id
        for p in self.base.parameters():
            p.requires_grad_(False)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.predictor = DetailPredictor(channels, layers, max_quality, blocks)
        self.validation_rd: list[dict] = []

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        from ncodec.codecs.image.detail_predictor import OUTPUT_SCALE

        level, low, target, step = batch
        unit = (2.0 ** int(level) * OUTPUT_SCALE) ** 2
        loss = (self.predictor(low, int(level), step) - target).pow(2).mean() / unit
        self.log("train/mse", loss.detach(), prog_bar=True)
        return loss

    def codec(self) -> WaveletContextCodec:
        """The exported codec, sharing this module's predictor (for validation)."""
        model = create_model("lwc", pretrained=False, **self.codec_config())
        model.load_state_dict({**self.base.state_dict(), **{"predictor." + k: v for k, v in self.predictor.state_dict().items()}})
        return model.eval()

    def on_validation_epoch_start(self) -> None:
        self._val: dict[float, list[tuple[float, ...]]] = {}
        self._codec = [self.codec()]  # (a list: not a submodule, not saved)

    @torch.no_grad()
    def validation_step(self, path, batch_idx: int) -> None:
        rgb = load_rgb(Path(path))
        for q in self.hparams.val_qualities or [-2.0, 0.0, 2.0, 4.0, 6.0, 8.0]:
            self.base._last = None
            self._val.setdefault(float(q), []).append((*code_photo(self.base, rgb, q), *code_photo(self._codec[0], rgb, q)))

    def on_validation_epoch_end(self) -> None:
        self.validation_rd = []
        for q, rows in sorted(self._val.items()):
            bpp0, psnr0, bpp, psnr = (float(np.mean(v)) for v in zip(*rows))
            self.validation_rd.append({"quality": q, "bpp_base": bpp0, "psnr_base": psnr0, "bpp": bpp, "psnr": psnr})
            self.print(f"validation q={q:.2f} bpp {bpp0:.4f} -> {bpp:.4f} ({100 * (bpp / bpp0 - 1):+.2f}%) "
                       f"psnr {psnr0:.3f} -> {psnr:.3f} ({psnr - psnr0:+.3f} dB)")
        self._validated_since_save = True

    def codec_config(self) -> dict:
        return {**self.base.config, **self.predictor.config()}


# ---------------------------------------------------------------------------------- sign contexts
class Photos(_PhotoData):
    """``images`` training photos (every 50th photo under ``root`` held out), one path per step:
    a statistics round codes each of them."""

    def __init__(self, root: str = "../shared/data/train", images: int = 150, seed: int = 0):
        super().__init__()
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        chosen, self.val_paths, _ = choose_photos(self.hparams.root, self.hparams.images, None, self.hparams.seed)
        self.paths = [str(p) for p in chosen]
        self.images = len(chosen)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.paths, batch_size=None, shuffle=False, collate_fn=lambda item: item)


class _LwcAddOnStatistics(StatisticsModule):
    """A statistics module that adds one fitted table to a shipped lwc model (``base``: every
    weight kept) and codes training photos at random qualities as its encoder does."""

    codec_name = "lwc"

    def _extend(self, base: str, config: dict, added: str, what: str, seed: int) -> None:
        """``self.codec``: ``base`` with ``config`` added, whose only new weight is ``added``."""
        source = create_model(base, pretrained=True)
        if not isinstance(source, WaveletContextCodec):
            raise InputError(f"base {base!r} is not an lwc checkpoint")
        self.codec = create_model("lwc", pretrained=False, **{**source.config, **config})
        missing = self.codec.load_state_dict(source.state_dict(), strict=False).missing_keys
        if missing != [added]:
            raise InputError(f"base {base!r} already has {what} or lacks weights: {missing}")
        self.base_info = {"checkpoint": base, "model_id": source.model_id.hex()}
        self._rng = np.random.default_rng(seed)

    def _quality(self) -> float:
        """A random quality of the range, as the header stores it (f32); each photo is analysed
        afresh (in its own colour basis, as the encoder codes it)."""
        lo, hi = self.codec.quality_range
        self.codec._last = None
        return float(np.float32(self._rng.uniform(lo, hi)))

    def provenance(self) -> dict:
        data = getattr(self.trainer, "datamodule", None)
        lo, hi = self.codec.quality_range
        return {"summary": self.hparams.summary,
                "card": {"quality_range": [lo, hi], "default_quality": self.hparams.default_quality},
                "data": f"{data.hparams.root} (every 50th photo held out)" if data is not None else None,
                "images": getattr(data, "images", None), "base": self.base_info,
                "qualities_per_image": self.hparams.qualities_per_image}


class SignContextModule(_LwcAddOnStatistics):
    """Fits the sign contexts of ``lwc`` (:mod:`ncodec.entropy.sign_context`) on top of a shipped
    lwc model (``base``: network, offsets and post-filter unchanged): each round codes every
    training photo at ``qualities_per_image`` random qualities as the encoder does (its RDO
    included), counts the signs of the nonzero values per context and fits the skew table. The
    first round codes with symmetric tables; later ones with the previous round's skews.
    ``rdo_lambda``: the exported encoder's RDO lambda (the fit codes with the base's, so the skews,
    and with them the model id, do not depend on it; an encoder-only choice)."""

    def __init__(self, base: str = "lwc-pf", qualities_per_image: int = 2, prior: float = 4.0, seed: int = 0,
                 summary: str = "", default_quality: float = 6.0, rdo_lambda: float | None = None):
        super().__init__()
        self.save_hyperparameters()
        self._extend(base, {"sign_context": 1}, "sign_skew", "sign contexts", seed)

    def accumulate(self, path: str) -> torch.Tensor:
        rgb = load_rgb(Path(path)).astype(np.float64)
        counts = np.zeros((sc.N_CLASSES, 2), dtype=np.int64)
        for _ in range(self.hparams.qualities_per_image):
            records = self.codec.analyse(rgb, self._quality())[3]
            for _, _, values, _, classes in records:
                counts += sc.count(classes, values)
        return torch.from_numpy(counts)

    def fit_round(self, counts: torch.Tensor) -> dict:
        counts = counts.numpy()
        skew = sc.fit_skew(counts, self.hparams.prior)
        self.codec.sign_skew.copy_(torch.from_numpy(skew))
        self.codec._mlp = None  # the coder rebuilds its tables
        p = 0.5 + skew * sc.SKEW_STEP / 64
        bits = -(counts[:, 1] * np.log2(p) + counts[:, 0] * np.log2(1 - p)).sum()
        return {"signs": int(counts.sum()), "skewed_contexts": int((skew != 0).sum()),
                "bits_per_sign": float(bits / max(counts.sum(), 1))}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        if self.hparams.rdo_lambda is not None:
            checkpoint["ncodec"]["codec_config"]["rdo_lambda"] = float(self.hparams.rdo_lambda)


# ---------------------------------------------------------------------------------- table shapes
class TableShapeModule(_LwcAddOnStatistics):
    """Fits learned table shapes of ``lwc`` (:func:`ncodec.entropy.subband_context.fit_shapes`) on
    top of a shipped lwc model (``base``: everything else unchanged): each round codes every
    training photo at ``qualities_per_image`` random qualities as the encoder does (RDO and
    calibration included), counts the magnitudes 0..``table_shape``-1 (and the rest as one) of
    the values under each final table, per band of the quality range, and fits each table's
    first magnitudes to those counts (the Laplace tail beyond keeps its shape). The first round
    codes under the Laplace tables; later ones under the previous round's shapes, so the encoder's
    choices (calibration shifts, RDO) follow the tables."""

    def __init__(self, base: str = "lwc-dpf", table_shape: int = 16, table_bands: int = 4, qualities_per_image: int = 2,
                 strength: float = 30.0, seed: int = 0, summary: str = "", default_quality: float = 6.0):
        super().__init__()
        self.save_hyperparameters()
        self._extend(base, {"table_shape": table_shape, "table_bands": table_bands}, "table_shapes", "table shapes", seed)

    def accumulate(self, path: str) -> torch.Tensor:
        rgb = load_rgb(Path(path)).astype(np.float64)
        k = self.hparams.table_shape
        counts = np.zeros((self.hparams.table_bands, ctx.N_TABLES, k + 1), dtype=np.int64)
        for _ in range(self.hparams.qualities_per_image):
            quality = self._quality()
            _, _, _, records, shifts = self.codec.analyse(rgb, quality)
            band = self.codec.table_band(quality)
            for (level, channel, _), _, values, base, _ in records:
                tables = self.codec._shifted(base, shifts[(level, channel)])
                counts[band] += np.bincount(tables * (k + 1) + np.minimum(np.abs(values), k),
                                            minlength=ctx.N_TABLES * (k + 1)).reshape(ctx.N_TABLES, k + 1)
        return torch.from_numpy(counts)

    def fit_round(self, counts: torch.Tensor) -> dict:
        counts = counts.numpy()
        old = self.codec.table_shapes.numpy().astype(np.float64)
        prior = ctx.laplace_shapes(self.codec.theta.numpy(), self.hparams.table_shape)
        new = np.stack([ctx.fit_shapes(c, prior, self.hparams.strength) for c in counts])

        def bits(shapes):  # magnitude bits of the counted values under shape rows
            return float(-(counts * np.log2(ctx.shape_probabilities(np.maximum(shapes, 1)))).sum())

        before, after = bits(old), bits(new.astype(np.float64))
        self.codec.table_shapes.copy_(torch.from_numpy(new))
        self.codec._mlp = None  # the coder rebuilds its tables
        return {"values": int(counts.sum()), "magnitude_bits_before": before, "magnitude_bits_after": after,
                "saved_percent": 100.0 * (before - after) / max(before, 1.0)}
