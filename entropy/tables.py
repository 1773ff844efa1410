"""Bridges CompressAI's entropy modules (their CDF buffers) to the range coder."""
from __future__ import annotations

import weakref

from torch import nn

from ncodec.entropy.rangecoder import TableSet

# Tables per CompressAI module, kept here (not stored on the third-party object); an entry goes
# with its module.
_CACHE: "weakref.WeakKeyDictionary[nn.Module, tuple]" = weakref.WeakKeyDictionary()


def table_set(module: nn.Module) -> TableSet:
    """The :class:`TableSet` of an updated CompressAI ``EntropyModel`` (cached per buffer version)."""
    cdf = module._quantized_cdf
    if cdf.numel() == 0:
        raise RuntimeError(f"{type(module).__name__} has no CDF tables: call update() before coding")
    key = (cdf.data_ptr(), cdf._version, module._offset.data_ptr(), module._cdf_length.data_ptr())
    cached = _CACHE.get(module)
    if cached is None or cached[0] != key:
        tables = TableSet(cdf.cpu().numpy(), module._cdf_length.cpu().numpy(), module._offset.cpu().numpy())
        _CACHE[module] = cached = (key, tables)
    return cached[1]

