"""Bridges CompressAI's entropy modules (their CDF buffers) to the range coder."""
from __future__ import annotations

import torch
from torch import nn

from ncodec.entropy.rangecoder import TableSet


def table_set(module: nn.Module) -> TableSet:
    """The :class:`TableSet` of an updated CompressAI ``EntropyModel`` (cached per buffer version)."""
    cdf = module._quantized_cdf
    if cdf.numel() == 0:
        raise RuntimeError(f"{type(module).__name__} has no CDF tables: call update() before coding")
    key = (cdf.data_ptr(), cdf._version, module._offset.data_ptr(), module._cdf_length.data_ptr())
    cached = getattr(module, "_ncodec_tables", None)
    if cached is None or cached[0] != key:
        tables = TableSet(cdf.cpu().numpy(), module._cdf_length.cpu().numpy(), module._offset.cpu().numpy())
        module._ncodec_tables = cached = (key, tables)
    return cached[1]


def resize_buffers_like(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> None:
    """Give ``model``'s buffers the shapes found in ``state_dict`` (CDF tables vary in size)."""
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        for key, buf in list(module._buffers.items()):
            saved = state_dict.get(prefix + key)
            if buf is not None and saved is not None and saved.shape != buf.shape:
                module._buffers[key] = torch.empty_like(saved, device=buf.device)
