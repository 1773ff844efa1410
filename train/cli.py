"""``ncodec train``: a LightningCLI over :class:`CodecModule` and the data modules.

    ncodec train fit --config configs/image/hyperprior.yaml [--trainer.devices 4 --trainer.strategy ddp]
    ncodec train fit --config configs/image/hyperprior.yaml --ckpt_path last      # resume
"""
from __future__ import annotations

import warnings

from lightning.pytorch.cli import LightningCLI

from ncodec.train.data import ImageFolderData
from ncodec.train.module import CodecModule


def main(args: list[str] | None = None) -> None:
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    LightningCLI(CodecModule, ImageFolderData, args=args, save_config_kwargs={"overwrite": True},
                 seed_everything_default=0, auto_configure_optimizers=False)


if __name__ == "__main__":
    main()
