"""``ncodec train``: one LightningCLI for every trainable codec, in subclass mode: a config names
its LightningModule and DataModule (``model.class_path``, ``data.class_path``).

    ncodec train fit --config configs/image/hyperprior.yaml [--trainer.devices 4 --trainer.strategy ddp]
    ncodec train fit --config configs/image/hyperprior.yaml --ckpt_path last      # resume
    ncodec train fit --config configs/pointcloud/lidar.yaml                          # the LiDAR codec
"""
from __future__ import annotations

import os
import warnings
from argparse import ArgumentError

from ncodec.errors import InputError


# Configs written before subclass mode name no classes: their model/data sections are recognised by
# their keys (image codecs' CodecModule takes ``codec``, the LiDAR module ``block_len``).
_LEGACY_CLASSES = (
    ("codec", "ncodec.train.module.CodecModule", "ncodec.train.data.ImageFolderData"),
    ("block_len", "ncodec.train.pointcloud.LidarModule", "ncodec.train.pointcloud.LidarData"),
)


def _upgrade_config(path: str, folder: str) -> str:
    """``path`` itself, or (a config without class paths) a copy in ``folder`` that names them."""
    import yaml

    try:
        config = yaml.safe_load(open(path))
    except (OSError, yaml.YAMLError):
        return path  # LightningCLI reports it
    model = config.get("model") if isinstance(config, dict) else None
    if not isinstance(model, dict) or "class_path" in model:
        return path
    for key, module_class, data_class in _LEGACY_CLASSES:
        if key in model:
            config["model"] = {"class_path": module_class, "init_args": model}
            if isinstance(config.get("data"), dict) and "class_path" not in config["data"]:
                config["data"] = {"class_path": data_class, "init_args": config["data"]}
            out = os.path.join(folder, f"{len(os.listdir(folder))}-{os.path.basename(path)}")
            with open(out, "w") as f:
                yaml.safe_dump(config, f, sort_keys=False)
            return out
    return path


def _upgrade_args(args: list[str], folder: str) -> list[str]:
    out = list(args)
    for i, arg in enumerate(out):
        if arg == "--config" and i + 1 < len(out):
            out[i + 1] = _upgrade_config(out[i + 1], folder)
        elif arg.startswith("--config="):
            out[i] = "--config=" + _upgrade_config(arg.split("=", 1)[1], folder)
    return out


def main(args: list[str] | None = None) -> None:
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="ncodec-train-") as folder:
        _main(_upgrade_args(sys.argv[1:] if args is None else list(args), folder))


def _main(args: list[str]) -> None:
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
