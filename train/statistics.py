"""Training for codecs whose learned part is fitted from the statistics of coding, not by gradient
descent (``lvc``'s context lookup, ``octree``'s occupancy prior), under the same ``ncodec train``
LightningCLI, checkpoints and ``ncodec export`` as every other codec.

An epoch is a *round*: every training step codes one item (a clip, a cloud) exactly as the encoder
does and returns its statistics (a tensor of counts); at the end of the round the counts of all
steps (and of all DDP ranks) are summed and the module fits its tables from them. Later rounds code
with the tables of earlier ones, so ``--trainer.max_epochs`` is the number of refinement rounds.
There is no optimizer, so Lightning's ``global_step`` stays 0: checkpoints are written at the end
of each round (``ModelCheckpoint(save_last=True)``) and the model card counts rounds.
"""
from __future__ import annotations

import lightning as L
import torch

from ncodec.train.module import RecordsRun


class StatisticsModule(RecordsRun, L.LightningModule):
    """Subclasses set ``self.codec`` and implement :meth:`begin_round`, :meth:`accumulate` and
    :meth:`fit_round`; :meth:`provenance` adds what the model card should record."""

    codec_name: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self._counts: torch.Tensor | None = None
        self.rounds: list[dict] = []  # what each round's fit reported (model card)

    # -- what a subclass provides ----------------------------------------------------------------
    def begin_round(self, index: int) -> None:
        """Before round ``index`` (0-based) codes its first item."""

    def accumulate(self, item) -> torch.Tensor:
        """Code one item as the encoder does; its counts (any fixed shape, summed over the round)."""
        raise NotImplementedError

    def fit_round(self, counts: torch.Tensor) -> dict:
        """Fit the codec's tables from a round's summed counts; returns what to report of it."""
        raise NotImplementedError

    def provenance(self) -> dict:
        """Extra fields of the model card's ``training`` block."""
        return {}

    # -- Lightning -------------------------------------------------------------------------------
    def configure_optimizers(self):
        return None

    def on_train_epoch_start(self) -> None:
        self._counts = None
        self.begin_round(self.current_epoch)

    def training_step(self, item, batch_idx: int) -> None:
        counts = self.accumulate(item).to(torch.float64)
        self._counts = counts if self._counts is None else self._counts + counts

    def on_train_epoch_end(self) -> None:
        if self._counts is None:
            raise RuntimeError("a statistics round saw no data")
        counts = self._counts.to(self.device)
        if self.trainer.world_size > 1:  # every rank coded its share of the items
            counts = self.all_gather(counts).sum(dim=0)
        report = self.fit_round(counts.cpu())
        self.rounds.append({"round": self.current_epoch + 1, **report})
        self.print(f"round {self.current_epoch + 1}: " + ", ".join(f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}"
                                                                   for k, v in report.items()))

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["ncodec"] = {
            **self.run_record(), "rounds": list(self.rounds), "codec_config": dict(self.codec.config), **self.provenance(),
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.rounds = list(checkpoint.get("ncodec", {}).get("rounds", []))

    @classmethod
    def training_state(cls, state: dict) -> dict:
        """A checkpoint of this module, as ``ncodec export`` and warm starts read it."""
        info = state.get("ncodec", {})
        weights = {k[len("codec."):]: v for k, v in state["state_dict"].items() if k.startswith("codec.")}
        rounds = info.get("rounds", [])
        card = {k: info[k] for k in ("summary", "card") if k in info}
        return {**card, "codec": cls.codec_name, "config": dict(info.get("codec_config") or {}), "weights": weights,
                "steps": len(rounds), "loop": "ncodec train (Lightning)", "device": info.get("device", "cpu"),
                "devices": info.get("devices", 1), "wall_seconds": info.get("wall_seconds"),
                "init_from": info.get("init_from"),
                "training": {"steps_are": "rounds of coding statistics + table fit (no gradient steps)",
                             "rounds": rounds, "cpu_minutes": round((info.get("cpu_seconds") or 0) / 60, 1),
                             **{k: v for k, v in info.items() if k not in
                                ("module", "device", "devices", "wall_seconds", "cpu_seconds", "rounds", "init_from",
                                 "codec_config", "summary", "card")}}}
