"""``ncodec train``: one LightningCLI for every trainable codec, in subclass mode: a config names
its LightningModule and DataModule (``model.class_path``, ``data.class_path``).

    ncodec train fit --config configs/image/hyperprior.yaml [--trainer.devices 4 --trainer.strategy ddp]
    ncodec train fit --config configs/image/hyperprior.yaml --ckpt_path last      # resume
    ncodec train fit --config configs/pointcloud/lidar.yaml                          # the LiDAR codec
"""
from __future__ import annotations

import warnings
from argparse import ArgumentError

from ncodec.errors import InputError


def main(args: list[str] | None = None) -> None:
    import lightning.pytorch as L
    from lightning.pytorch.cli import LightningCLI

    with warnings.catch_warnings():  # scoped: Lightning's advice for small CPU runs is not for users
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        try:
            LightningCLI(L.LightningModule, L.LightningDataModule, subclass_mode_model=True,
                         subclass_mode_data=True, args=args, save_config_kwargs={"overwrite": True},
                         seed_everything_default=0, auto_configure_optimizers=False,
                         parser_kwargs={"exit_on_error": False})
        except ArgumentError as e:  # a bad config or flag: one line, exit 2 (not a usage dump)
            raise InputError("train: " + _reason(str(e))) from None
        except ValueError as e:  # subclass mode: a module/data class refused its arguments
            if "Does not validate" not in str(e):
                raise
            raise InputError("train: " + _reason(str(e))) from None


def _reason(message: str) -> str:
    """One line from jsonargparse's message: in subclass mode, the first subtype's own error (the
    class the config names), not the list of union members it tried."""
    if "Does not validate" in message:
        reasons: list[list[str]] = []
        for line in message.splitlines():
            if line.strip().startswith("- "):
                reasons.append([line.strip()[2:]])
            elif reasons and len(reasons) == 1 and not line.strip().startswith(("Given value", "Subtypes")):
                reasons[0].append(line.strip())  # the first reason's continuation lines
        message = " ".join(reasons[0]) if reasons else message
    return " ".join(message.split())[:400]


if __name__ == "__main__":
    main()
