"""One LightningModule trains any registered image codec by its rate-distortion loss.

The module holds the science (loss, optimizers, what validation measures); the Trainer the
engineering (devices, DDP, precision, checkpointing, logging). Validation reports the estimated
rate *and* the real rate: actual ``compress()`` byte counts after freezing the CDF tables.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import lightning as L
import torch

from ncodec.codecs import get_codec
from ncodec.codecs.checkpoint import create_model
from ncodec.errors import InputError
from ncodec.train.losses import bits_per_pixel, rd_loss


def warm_start(model: torch.nn.Module, codec: str, source: str, skip: tuple[str, ...] = ()) -> dict:
    """Load weights from ``source`` into ``model`` (all but those named in ``skip``, which keep
    their initial values); returns what the model card records of it."""
    from ncodec.codecs.checkpoint import CHECKPOINT_DIR, card_path
    from ncodec.train.export import read_training_state

    if card_path(source).is_file() and not Path(source).is_file():  # a shipped checkpoint's name
        card = json.loads(card_path(source).read_text())
        weights = torch.load(Path(CHECKPOINT_DIR) / f"{source}.pt", map_location="cpu", weights_only=True)
        state = {"codec": card["codec"], "config": card["config"], "weights": weights}
        info = {"checkpoint": source, "model_id": card.get("model_id"), "training": card.get("training")}
    else:
        state = read_training_state(Path(source))
        info = {"checkpoint": str(source), "steps": state.get("steps"), "device": state.get("device"),
                "wall_minutes": round((state.get("wall_seconds") or 0) / 60, 1)}
    if state["codec"] != codec:
        raise InputError(f"init_from {source!r} holds a {state['codec']} model, not {codec}")
    own = model.state_dict()
    weights = {k: v.to(own[k].dtype) for k, v in state["weights"].items() if k in own and k not in skip}
    try:
        model.load_state_dict(weights, strict=False)  # CDF buffers are resized by the entropy models
    except RuntimeError as e:
        raise InputError(f"init_from {source!r} does not fit this codec_config: {str(e).splitlines()[0]}") from None
    missing = [k for k in own if k not in weights and k not in skip and not k.endswith(("_cdf", "_offset", "_cdf_length"))]
    if missing:
        raise InputError(f"init_from {source!r} lacks {len(missing)} weights of this model (e.g. {missing[0]})")
    return info


class RecordsRun:
    """Times a fit (wall and this process's CPU seconds) and names the module that wrote a
    checkpoint: the common part of the ``ncodec`` block a module puts in its checkpoints."""

    def on_fit_start(self) -> None:
        self._fit_started = time.time()
        self._cpu_started = time.process_time()

    def run_record(self) -> dict:
        return {"module": f"{type(self).__module__}.{type(self).__qualname__}", "device": str(self.device),
                "devices": self.trainer.world_size,
                "wall_seconds": time.time() - getattr(self, "_fit_started", time.time()),
                "cpu_seconds": time.process_time() - getattr(self, "_cpu_started", time.process_time())}


def one_cycle(module: L.LightningModule, params, pct_start: float):
    """Adam under a one-cycle learning rate over the run's ``max_steps`` (1000 when unset; at
    least two warm-up steps), stepped every batch: the sample-fitted context networks' schedule."""
    opt = torch.optim.Adam(params, lr=module.hparams.lr)
    total = module.trainer.max_steps if module.trainer.max_steps > 0 else 1000
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=module.hparams.lr, total_steps=total,
                                                pct_start=max(pct_start, 2.0 / total))
    return [opt], [{"scheduler": sched, "interval": "step"}]


def sampled_training_state(state: dict, codec: str, keys: tuple[str, ...] = ()) -> dict:
    """A checkpoint of a module that fits a network to sampled coefficients (its ``ncodec`` block
    holds the codec's config, the run record and a ``training`` block with ``samples_cpu_minutes``),
    as ``ncodec export`` and warm starts read it; ``keys``: more top-level fields of that block."""
    info = state.get("ncodec", {})
    weights = {k[len("codec."):]: v for k, v in state["state_dict"].items() if k.startswith("codec.")}
    training = dict(info.get("training", {}))
    fit = (info.get("cpu_seconds") or 0) / 60
    training.update(fit_cpu_minutes=round(fit, 1), cpu_minutes=round(fit + training.get("samples_cpu_minutes", 0), 1))
    return {"codec": codec, "config": dict(info.get("codec_config") or {}), "weights": weights,
            "steps": state.get("global_step"), "loop": "ncodec train (Lightning)",
            **{k: info.get(k) for k in ("device", "devices", "wall_seconds", "init_from", "summary", "card", *keys)},
            "training": training}


class SavesLastStep:
    """ModelCheckpoint saves every N steps, so a run that stops in between (max_time, or max_steps
    not a multiple of N) would lose its last steps, and a validation after the last save would
    lose what it measured: a LightningModule with this mixin saves them as ``last.ckpt`` when
    training ends (a module sets ``_validated_since_save`` when a validation result belongs in
    the checkpoint)."""

    def on_train_end(self) -> None:
        callback = self.trainer.checkpoint_callback
        if callback is None or not callback.dirpath or not getattr(callback, "save_last", False):
            return
        if (getattr(callback, "_last_global_step_saved", None) != self.trainer.global_step
                or getattr(self, "_validated_since_save", False)):
            self.trainer.save_checkpoint(Path(callback.dirpath) / "last.ckpt")


class CodecModule(SavesLastStep, L.LightningModule):
    def __init__(self, codec: str = "hyperprior", codec_config: dict | None = None, metric: str = "mse",
                 lr: float = 1e-4, aux_lr: float = 1e-3, grad_clip: float = 1.0,
                 lr_drops: tuple[float, ...] = (0.8, 0.95), val_qualities: tuple[float, ...] | None = None,
                 channels_last: bool = False, init_from: str | None = None):
        """``init_from``: warm start (weights only) from a shipped checkpoint's name or a training
        checkpoint file; how the shipped models continue training across short GPU runs."""
        super().__init__()
        self.save_hyperparameters()
        entry = get_codec(codec)
        if entry.modality != "image":
            raise ValueError(f"codec {codec!r} is a {entry.modality} codec; this module trains image codecs")
        self.codec = create_model(codec, pretrained=False, **(codec_config or {})).train()
        self.warm_start = warm_start(self.codec, codec, init_from) if init_from else None
        # One optimizer with two parameter groups: the transforms (lr) and the entropy bottleneck's
        # quantiles (aux_lr). The quantiles only receive gradient from the auxiliary loss and the
        # rest only from the RD loss, so one backward of their sum trains both, and global_step
        # counts training steps (two optimizers would count each step twice).
        self.automatic_optimization = False

    # -- provenance for the model card (device, wall time, data) -------------------------------
    def on_fit_start(self) -> None:
        if self.device.type == "cuda":  # TF32 convolutions/matmuls and tuned kernels: fixed shapes
            torch.backends.cudnn.benchmark = True
            torch.set_float32_matmul_precision("high")
        if self._channels_last:
            self.codec.to(memory_format=torch.channels_last)
        self._fit_started = time.time()
        self._wall_before = getattr(self, "_wall_before", 0.0)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        data = getattr(self.trainer, "datamodule", None)
        checkpoint["ncodec"] = {
            "device": torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else str(self.device),
            "devices": self.trainer.world_size,
            "wall_seconds": self._wall_before + time.time() - getattr(self, "_fit_started", time.time()),
            "data": str(data.hparams.root) if data is not None else None,
            "images": len(getattr(data, "train_paths", [])) if data is not None else None,
            "batch": data.hparams.batch_size if data is not None else None,
            "crop": data.hparams.crop if data is not None else None,
            "init_from": self.warm_start,
            "module": f"{type(self).__module__}.{type(self).__qualname__}",
        }

    @staticmethod
    def training_state(state: dict) -> dict:
        """A checkpoint of this module, as ``ncodec export`` and warm starts read it."""
        hp, info = state["hyper_parameters"], state.get("ncodec", {})
        weights = {k[len("codec."):]: v for k, v in state["state_dict"].items() if k.startswith("codec.")}
        return {"codec": hp["codec"], "config": hp.get("codec_config") or {}, "weights": weights,
                "steps": state.get("global_step"), "loop": "ncodec train (Lightning)",
                **{k: v for k, v in info.items() if k != "module"}}

    @staticmethod
    def finalise(model) -> dict:
        """Freeze a trained model for shipping (``ncodec export``): the CDF tables' range, exact
        (see entropy/quantiles.py), and the tables themselves; what the model card adds."""
        from ncodec.entropy.quantiles import solve_all_quantiles  # compressai: only when exporting

        aux_loss = solve_all_quantiles(model)
        model.eval().update()
        lo, hi = model.quality_range
        return {"quality_range": [lo, hi], "default_quality": round((lo + hi) / 2, 3),
                "training": {"aux_loss": None if aux_loss is None else round(aux_loss, 3)}}

    def on_fit_end(self) -> None:
        """Under DDP every rank must hold the same weights; check it rather than assume it."""
        if self.trainer.world_size < 2:
            return
        checksum = torch.stack([p.detach().double().sum() for p in self.codec.parameters()]).sum()
        gathered = self.all_gather(checksum)
        if not torch.all(gathered == gathered[0]):
            raise RuntimeError(f"DDP ranks disagree on the weights: {gathered.tolist()}")
        self.print(f"ncodec: {self.trainer.world_size} ranks agree on the weights (checksum {checksum.item():.17g})")

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self._wall_before = checkpoint.get("ncodec", {}).get("wall_seconds", 0.0)

    @property
    def _channels_last(self) -> bool:
        """channels_last is a GPU layout: on CPU it gains little, and oneDNN's backward of strided
        1x1 convolutions in that layout crashes with some torch builds."""
        return bool(self.hparams.channels_last) and self.device.type == "cuda"

    # -- optimisation -------------------------------------------------------------------------
    def _param_groups(self):
        aux = [p for n, p in self.codec.named_parameters() if n.endswith(".quantiles")]
        main = [p for n, p in self.codec.named_parameters() if not n.endswith(".quantiles")]
        return main, aux

    def configure_optimizers(self):
        main, aux = self._param_groups()
        opt = torch.optim.Adam([{"params": main, "lr": self.hparams.lr}, {"params": aux, "lr": self.hparams.aux_lr}])
        total = self.trainer.max_steps if self.trainer and self.trainer.max_steps > 0 else 0
        drops = [int(f * total) for f in self.hparams.lr_drops]

        def main_lr(step: int) -> float:  # x0.1 at each drop; the quantiles keep their rate
            return 0.1 ** sum(step >= d for d in drops)

        sched = torch.optim.lr_scheduler.LambdaLR(opt, [main_lr, lambda step: 1.0])
        return [opt], [{"scheduler": sched, "interval": "step"}]

    def training_step(self, x: torch.Tensor, batch_idx: int) -> torch.Tensor:
        opt, sched = self.optimizers(), self.lr_schedulers()
        lo, hi = self.codec.quality_range
        quality = torch.empty(x.shape[0], device=x.device).uniform_(lo, hi)
        if self._channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        loss, stats = rd_loss(self.codec, x, quality, self.hparams.metric)
        aux_loss = self.codec.aux_loss()
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss + aux_loss)
        torch.nn.utils.clip_grad_norm_(self._param_groups()[0], self.hparams.grad_clip)
        opt.step()
        sched.step()
        self.log_dict({"train/loss": loss.detach(), "train/bpp": stats["bpp"], "train/psnr": stats["psnr"],
                       "train/aux": aux_loss.detach()}, prog_bar=True, sync_dist=False)
        return loss

    # -- validation: estimated and real rate ----------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self.codec.update()  # freeze CDF tables from the current weights so compress() can run

    def _val_qualities(self) -> tuple[float, ...]:
        lo, hi = self.codec.quality_range
        return self.hparams.val_qualities or (lo, (lo + hi) / 2, hi)

    def validation_step(self, x: torch.Tensor, batch_idx: int) -> None:
        stride = self.codec.stride
        x = x[..., : x.shape[-2] // stride * stride, : x.shape[-1] // stride * stride]
        if x.shape[-1] == 0 or x.shape[-2] == 0:
            return
        pixels = x.shape[-2] * x.shape[-1]
        for q in self._val_qualities():
            out = self.codec(x, q)
            est = bits_per_pixel(out["likelihoods"], pixels).mean()
            mse = (out["x_hat"].clamp(0, 1) - x).pow(2).mean()
            coded = self.codec.compress(x, q)
            real = sum(len(s) for s in coded["strings"]) * 8 / pixels
            real_mse = (coded["x_hat"] - x).pow(2).mean()
            tag = f"q{q:g}"
            self.log_dict({f"val/{tag}/bpp_estimated": est, f"val/{tag}/bpp_real": real,
                           f"val/{tag}/psnr": 10 * torch.log10(1 / mse),
                           f"val/{tag}/psnr_real": 10 * torch.log10(1 / real_mse)}, sync_dist=True, batch_size=1)
