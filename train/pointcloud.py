"""Training the point-cloud codecs under ``ncodec train`` (LightningModules and DataModules):
the LiDAR point predictor (``lidar``, by gradient) and the octree occupancy prior (``octree``, from
counts, :class:`~ncodec.train.statistics.StatisticsModule`).

    ncodec train fit --config configs/pointcloud/lidar.yaml
    ncodec export runs/lidar/checkpoints/last.ckpt lidar
    ncodec train fit --config configs/pointcloud/octree.yaml
    ncodec export runs/octree/checkpoints/last.ckpt octree

LiDAR:
The data are whole sweeps (KITTI ``.bin``, nuScenes ``.pcd.bin``, any readable cloud), quantised
and ordered exactly as the encoder does; every non-start point becomes one sample (its features
from the K previous points, and what is needed to score the prediction). Because the
reconstruction is the quantised input itself, teacher forcing is exact: training sees the same
contexts the decoder will. The loss is the code length in bits per point under the discretised
Laplace mixture the range coder uses (:func:`ncodec.entropy.laplace.bits`).
"""
from __future__ import annotations

import glob
import math
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler, TensorDataset


from ncodec.codecs.pointcloud import order as ordering
from ncodec.codecs.pointcloud.lidar import LidarCodec, condition, features
from ncodec.entropy.laplace import bits
from ncodec.codecs.checkpoint import create_model
from ncodec.errors import InputError
from ncodec.train.data import BatchIndexed
from ncodec.train.module import SavesLastStep, warm_start
from ncodec.train.statistics import StatisticsModule
from ncodec.media.pointcloud import read_cloud

_AUX = ("dq", "di", "sign", "ux", "uy", "main", "k_other", "k_z", "o_geo", "o_int", "inorm", "step")


def sweep_samples(codec: LidarCodec, path: str, step: float, rotate: float = 0.0,
                  stride: int = 1) -> dict[str, torch.Tensor]:
    """Features and scoring data of every predicted point of one sweep (as the encoder sees it).

    ``stride`` keeps every stride-th point in file (scan) order: a sensor with a stride-times
    coarser azimuth resolution (KITTI's 0.08 degrees at stride 4 is nuScenes' 0.33), so the
    predictor learns to extrapolate the scan step instead of assuming one sensor's spacing."""
    cloud = read_cloud(Path(path))
    if stride > 1:
        cloud.xyz = cloud.xyz[::stride]
        cloud.intensity = None if cloud.intensity is None else cloud.intensity[::stride]
        cloud.ring = None if cloud.ring is None else cloud.ring[::stride]
    xyz = cloud.xyz
    if rotate:
        c, s = math.cos(rotate), math.sin(rotate)
        xyz = np.column_stack([c * xyz[:, 0] - s * xyz[:, 1], s * xyz[:, 0] + c * xyz[:, 1], xyz[:, 2]])
    prep = codec.prepare(xyz, cloud.intensity, cloud.ring, step)
    q, iv = prep["q"], prep["i"]
    starts, lengths = ordering.blocks(prep["ring_lengths"], codec.config["block_len"])
    coded, ctx, _ = codec.contexts(q, iv, starts, lengths)
    inorm = float(max(int(np.abs(iv).max()), 1))
    P, I = q[ctx].astype(np.float64), iv[ctx].astype(np.float64)
    feats, frame = features(P, I, step, inorm)
    n = len(coded)
    aux = {"dq": q[coded] - P[:, 0], "di": iv[coded] - I[:, 0], "sign": frame[6],
           "ux": frame[1], "uy": frame[2], "main": frame[3], "k_other": frame[4], "k_z": frame[5],
           "o_geo": np.full(n, math.log2(1.0 / step)), "o_int": np.full(n, math.log2(inorm)),
           "inorm": np.full(n, inorm), "step": np.full(n, step)}
    out = {"x": torch.from_numpy(feats[:-1].T.copy()).float()}
    out.update({k: torch.from_numpy(np.asarray(v).reshape(n, -1)).float() for k, v in aux.items()})
    return out


def relaxed_coupling(e_main: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Training's stand-in for :func:`~ncodec.codecs.pointcloud.lidar.round_coupling`: the coder
    conditions on the integer residual (straight-through rounding), the product is not rounded."""
    return (e_main + (torch.round(e_main) - e_main).detach()) * k


def rate(net_out: torch.Tensor, b: dict[str, torch.Tensor], per_component: bool = False) -> torch.Tensor:
    """Bits per point (mean) of a batch: the training loss, mirroring the encoder's arithmetic
    (continuous predictions instead of rounded ones; residuals relative to the previous point)."""
    o = net_out
    ux, uy, step = b["ux"][:, 0], b["uy"][:, 0], b["step"][:, 0]
    dr, dt, dz = o[:, 0] / 16, o[:, 1] / 16 * b["sign"][:, 0], o[:, 2] / 16
    e = b["dq"] - torch.stack([(dr * ux - dt * uy) / step, (dr * uy + dt * ux) / step, dz / step], dim=1)
    # the coder's own conditioning (lidar.condition); the coupling is relaxed: the integer main
    # residual (straight-through) times k, unrounded, so the loss stays differentiable
    c = condition(e, b["main"][:, 0].long(), b["k_other"][:, 0], b["k_z"][:, 0], coupling=relaxed_coupling)
    ei = b["di"][:, 0] - o[:, 3] * b["inorm"][:, 0]
    parts = torch.stack([bits(c[:, 0], o[:, 4] + b["o_geo"][:, 0]), bits(c[:, 1], o[:, 5] + b["o_geo"][:, 0]),
                         bits(c[:, 2], o[:, 6] + b["o_geo"][:, 0]), bits(ei, o[:, 7] + b["o_int"][:, 0])], dim=1)
    return parts.mean(dim=0) if per_component else parts.sum(dim=1).mean()


class LidarData(L.LightningDataModule):
    """Sweeps matched by ``train`` / ``val`` glob patterns; ``precisions`` (metres), random
    rotations about the vertical axis and azimuth ``strides`` (see :func:`sweep_samples`) augment
    the training sweeps."""

    def __init__(self, train: list[str], val: list[str], precisions: list[float] = (0.001,),
                 rotations: int = 2, strides: list[int] = (1,), batch_size: int = 4096, block_len: int = 512,
                 seed: int = 0):
        super().__init__()
        self.save_hyperparameters()

    @staticmethod
    def _files(patterns: list[str]) -> list[str]:
        files = sorted({f for p in patterns for f in glob.glob(p)})
        if not files:
            raise InputError(f"no point-cloud files match {patterns}")
        return files

    def setup(self, stage: str | None = None) -> None:
        h = self.hparams
        codec = LidarCodec(block_len=h.block_len)
        rng = np.random.default_rng(h.seed)
        self.train_files, self.val_files = self._files(h.train), self._files(h.val)
        parts = []
        for f in self.train_files:
            for step in h.precisions:
                for stride in h.strides:
                    for r in range(h.rotations):
                        angle = 0.0 if r == 0 else float(rng.uniform(0, 2 * np.pi))
                        parts.append(sweep_samples(codec, f, step, rotate=angle, stride=stride))
        self.train_set = self._stack(parts)
        self.val_set = self._stack([sweep_samples(codec, f, h.precisions[0]) for f in self.val_files])
        self.points = len(self.train_set.tensors[0])

    @staticmethod
    def _stack(parts: list[dict]) -> TensorDataset:
        keys = ("x",) + _AUX
        return BatchIndexed(*[torch.cat([p[k] for p in parts]) for k in keys])

    def train_dataloader(self) -> DataLoader:
        sampler = BatchSampler(RandomSampler(self.train_set), self.hparams.batch_size, drop_last=True)
        return DataLoader(self.train_set, sampler=sampler, batch_size=None)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, sampler=BatchSampler(SequentialSampler(self.val_set), 65536, False),
                          batch_size=None)


def _batch(tensors) -> tuple[torch.Tensor, dict]:
    x, *rest = tensors
    return x, dict(zip(_AUX, rest))


class LidarModule(SavesLastStep, L.LightningModule):
    """Trains :class:`LidarCodec`'s predictor by the code length (bits per point)."""

    def __init__(self, hidden: int = 32, block_len: int = 512, lr: float = 3e-3, lr_drops: tuple = (0.6, 0.85),
                 init_from: str | None = None):
        """``init_from``: warm start (weights only) from a shipped checkpoint's name or a training
        checkpoint, the same path as image codecs (:func:`ncodec.train.module.warm_start`)."""
        super().__init__()
        self.save_hyperparameters()
        self.codec = create_model("lidar", pretrained=False, hidden=hidden, block_len=block_len).train()
        self.warm_start = warm_start(self.codec, "lidar", init_from) if init_from else None

    def on_fit_start(self) -> None:
        self._fit_started = time.time()
        self._cpu_started = time.process_time()

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.codec.net.parameters(), lr=self.hparams.lr)
        total = self.trainer.max_steps if self.trainer and self.trainer.max_steps > 0 else 10**9
        drops = [int(f * total) for f in self.hparams.lr_drops]
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.1 ** sum(s >= d for d in drops))
        return [opt], [{"scheduler": sched, "interval": "step"}]

    def training_step(self, batch, batch_idx):
        x, b = _batch(batch)
        loss = rate(self.codec.net(x), b)
        self.log("train/bits_per_point", loss.detach(), prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, b = _batch(batch)
        self.log("val/bits_per_point", rate(self.codec.net(x), b), prog_bar=True)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        data = getattr(self.trainer, "datamodule", None)
        checkpoint["ncodec"] = {
            "device": str(self.device), "wall_seconds": time.time() - getattr(self, "_fit_started", time.time()),
            "cpu_seconds": time.process_time() - getattr(self, "_cpu_started", time.process_time()),
            "train_files": getattr(data, "train_files", None), "val_files": getattr(data, "val_files", None),
            "points": getattr(data, "points", None),
            "precisions": list(data.hparams.precisions) if data is not None else None,
            "cpu_threads": torch.get_num_threads(),
            "module": f"{type(self).__module__}.{type(self).__qualname__}",
            "init_from": self.warm_start,
        }

    @staticmethod
    def training_state(state: dict) -> dict:
        """A checkpoint of this module, as ``ncodec export`` reads it."""
        hp, info = state["hyper_parameters"], state.get("ncodec", {})
        data_hp = state.get("datamodule_hyper_parameters") or {}
        weights = {k[len("codec."):]: v for k, v in state["state_dict"].items() if k.startswith("codec.")}
        return {"codec": "lidar", "config": {"hidden": hp["hidden"], "block_len": hp["block_len"]},
                "weights": weights, "steps": state.get("global_step"), "loop": "ncodec train (Lightning)",
                "device": info.get("device", "cpu"), "wall_seconds": info.get("wall_seconds"),
                "data": info.get("train_files"), "init_from": info.get("init_from"),
                "summary": "LiDAR predictive codec: fixed-point MLP predictor + learned Laplace scales",
                "card": {"precision": "any step > 0 (metres); max error <= step/2 per coordinate"},
                "training": {"cpu_threads": info.get("cpu_threads"),
                             "cpu_minutes": round((info.get("cpu_seconds") or 0) / 60, 1),
                             "validation": info.get("val_files"), "points": info.get("points"),
                             "precisions": info.get("precisions"),
                             "augmentation": {k: data_hp[k] for k in ("rotations", "strides") if k in data_hp}}}


def synthetic_object(n: int = 60000, seed: int = 0) -> np.ndarray:
    """A dense scanned-object-like surface (metres, ~0.2 m across): a bumpy sphere fused with a torus."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(n, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    r = 0.08 * (1 + 0.1 * np.sin(5 * u[:, 0]) * np.cos(4 * u[:, 1]))
    sphere = u * r[:, None]
    a, b = rng.uniform(0, 2 * np.pi, (2, n // 2))
    torus = np.column_stack([(0.1 + 0.025 * np.cos(b)) * np.cos(a), (0.1 + 0.025 * np.cos(b)) * np.sin(a),
                             0.025 * np.sin(b) - 0.05])
    return np.concatenate([sphere, torus])


class OctreeCloudsData(L.LightningDataModule):
    """Clouds for the ``octree`` prior: ``synthetic`` dense objects (their seeds, see
    :func:`synthetic_object`) and files matched by ``files`` globs, each voxelised at every size in
    ``voxels`` (metres). The evaluation clouds are never used."""

    def __init__(self, synthetic: list[int] = (0, 1, 2), files: list[str] = (), voxels: list[float] = (0.002, 0.001, 0.0005),
                 points: int = 60000):
        super().__init__()
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        h = self.hparams
        clouds = [(f"synthetic:{seed}", synthetic_object(h.points, seed=seed)) for seed in h.synthetic]
        if h.files:
            clouds += [(f, read_cloud(Path(f)).xyz) for f in LidarData._files(list(h.files))]
        if not clouds or not h.voxels:
            raise InputError("octree training needs clouds (synthetic or files) and voxel sizes")
        self.items = [(name, xyz, float(v)) for name, xyz in clouds for v in h.voxels]

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.items, batch_size=None, shuffle=False, collate_fn=lambda item: item)


class OctreeModule(StatisticsModule):
    """Fits the ``octree`` codec's occupancy prior: per-context symbol counts of the training
    clouds, scaled so each context weighs ``weight`` observations (one round suffices: coding
    does not depend on the prior it fits)."""

    codec_name = "octree"

    def __init__(self, weight: int = 32, init_from: str | None = None):
        super().__init__()
        self.save_hyperparameters()
        self.codec = create_model("octree", pretrained=False)
        self.warm_start = warm_start(self.codec, "octree", init_from) if init_from else None

    def accumulate(self, item) -> torch.Tensor:
        from ncodec.codecs.pointcloud.octree import prior_counts

        name, xyz, voxel = item
        return torch.from_numpy(prior_counts(np.asarray(xyz), voxel))

    def fit_round(self, counts: torch.Tensor) -> dict:
        from ncodec.codecs.pointcloud.octree import prior_from_counts

        self.codec.prior.copy_(prior_from_counts(counts.numpy().astype(np.int64), self.hparams.weight))
        return {"symbols": int(counts.sum())}

    def provenance(self) -> dict:
        data = getattr(self.trainer, "datamodule", None)
        h = data.hparams if data is not None else {}
        return {"summary": "Octree occupancy coding, adaptive context model with a learned prior",
                "card": {"precision": "voxel size = --precision (metres); max error <= voxel/2 per coordinate"},
                "data": sorted({name for name, _, _ in getattr(data, "items", [])}),
                "voxels": list(h.get("voxels", [])), "init_from": self.warm_start}
