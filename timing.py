"""Opt-in wall-clock accounting of named stages (e.g. network vs entropy coding).

``with timing.record() as t: ...`` collects the time spent inside every ``timing.stage(name)``
entered meanwhile, so reports can split a codec's time without the codec knowing who asks.
"""
from __future__ import annotations

import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from contextvars import ContextVar

_active: ContextVar[dict | None] = ContextVar("ncodec_timing", default=None)


def _sync() -> None:
    torch = sys.modules.get("torch")  # only a process that already uses torch can have CUDA work queued
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


@contextmanager
def stage(name: str):
    totals = _active.get()
    if totals is None:
        yield
        return
    _sync()
    start = time.perf_counter()
    try:
        yield
    finally:
        _sync()
        totals[name] += time.perf_counter() - start


@contextmanager
def record():
    totals: dict[str, float] = defaultdict(float)
    token = _active.set(totals)
    try:
        yield totals
    finally:
        _active.reset(token)
