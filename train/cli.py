"""``ncodec train``: a LightningCLI over :class:`CodecModule` and the data modules.

    ncodec train fit --config configs/image/hyperprior.yaml [--trainer.devices 4 --trainer.strategy ddp]
    ncodec train fit --config configs/image/hyperprior.yaml --ckpt_path last      # resume
"""
from __future__ import annotations

import warnings
from argparse import ArgumentError

from lightning.pytorch.cli import LightningCLI

from ncodec.errors import InputError
from ncodec.train.data import ImageFolderData
from ncodec.train.module import CodecModule


def main(args: list[str] | None = None) -> None:
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    try:
        LightningCLI(CodecModule, ImageFolderData, args=args, save_config_kwargs={"overwrite": True},
                     seed_everything_default=0, auto_configure_optimizers=False,
                     parser_kwargs={"exit_on_error": False})
    except ArgumentError as e:  # a bad config or flag: one line, exit 2 (not a usage dump)
        raise InputError("train: " + " ".join(str(e).split())[:400]) from None


if __name__ == "__main__":
    main()
