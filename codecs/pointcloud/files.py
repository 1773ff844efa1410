"""Point-cloud files <-> ncodec containers (the ``pointcloud`` modality's handler for api.py).

The container's payload is the codec's own description (``lidar``: payload version 1, or 2 with
the raw-components byte; ``octree``); the quality field holds the precision (f32, informative:
the exact step is in the payload as f64).

What is lossless and what is lossy:
* ``lidar``: coordinates quantised to ``--precision`` (max error precision/2 per coordinate; none
  when the input already lies on that grid, e.g. KITTI at 1 mm). Without ``--precision`` the
  input's own grid is used (LAS scale, or the coarsest decimal grid 10^-k, k <= 6, on which every
  float32 coordinate lies exactly), else 1 mm. Intensity lossless on a decimal grid, else
  quantised to a step of max|intensity| / 65535. Points come back in coding order (rings,
  azimuth), not in the input's order.
* ``octree``: voxels of ``--precision`` (default 1 mm), one point per occupied voxel (the count
  can shrink), geometry only.
"""
from __future__ import annotations

import struct
import time

import numpy as np

from ncodec import timing
from ncodec.codecs.pointcloud import lidar, octree
from ncodec.codecs.pointcloud import order as ordering
from ncodec.entropy.container import Container
from ncodec.errors import FormatError, InputError
from ncodec.media.pointcloud import Cloud

_DESCRIBE = {"lidar": lidar.describe_payload, "octree": octree.describe_payload}
DEFAULT_PRECISION = 0.001


def default_precision(cloud: Cloud) -> float:
    """The input's own precision when it can be recovered, else 1 mm."""
    if cloud.grid:
        return float(cloud.grid)
    k = lidar.choose_grid(cloud.xyz, float32=True)
    return 10.0**-k if k is not None else DEFAULT_PRECISION


def check_precision(precision: float | None) -> None:
    if precision is not None and not (np.isfinite(precision) and 0 < precision <= lidar.MAX_STEP):
        raise InputError(f"precision must be a positive number of metres up to {lidar.MAX_STEP:g}, got {precision}")


def encode_cloud(codec, cloud: Cloud, precision: float | None) -> tuple[Container, dict]:
    """Returns the container and the encoder's reconstruction {"xyz", "intensity", "ring"}."""
    check_precision(precision)
    step = default_precision(cloud) if precision is None else float(precision)
    if codec.codec_name == "octree":
        sections, payload, xyz = codec.compress(cloud.xyz, step)
        snapped = np.floor(cloud.xyz / step + 0.5) * step  # each input point's voxel centre
        recon = {"xyz": xyz, "intensity": None, "ring": None, "max_error": max_error(cloud.xyz, snapped)}
    else:
        prep = codec.prepare(cloud.xyz, cloud.intensity, cloud.ring, step)
        sections, payload = codec.compress(prep)
        q, div = prep["q"], prep["divisor"]
        xyz = q / float(div) if div else q * step
        intensity = None
        if prep["has_i"]:
            intensity = prep["i"] / float(prep["idiv"]) if prep["idiv"] else prep["i"] * prep["istep"]
        ring = ordering.ring_ids(prep["mode"], prep["ring_lengths"])
        recon = {"xyz": xyz, "intensity": intensity, "ring": ring, "perm": prep["perm"],
                 "max_error": max_error(cloud.xyz[prep["perm"]], xyz)}
    container = Container("pointcloud", codec.codec_name, codec.model_id, float(np.float32(step)), payload,
                          list(sections))
    return container, recon


def describe(container: Container) -> dict:
    describe_codec = _DESCRIBE.get(container.codec)
    if describe_codec is None:
        raise FormatError(f"file uses codec {container.codec!r}, which this ncodec does not have")
    return describe_codec(container.payload)


def decode_container(codec, container: Container) -> dict:
    try:
        return codec.decompress(container.sections, container.payload)
    except FormatError:
        raise
    except (ValueError, RuntimeError, OverflowError, IndexError, AssertionError, struct.error) as e:
        # constriction asserts on data that is invalid for the model; struct on short fields
        raise FormatError(f"point-cloud stream cannot be decoded ({type(e).__name__})") from None


def max_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max()) if len(a) else 0.0


def timed(fn, *args):
    with timing.record() as t:
        start = time.perf_counter()
        out = fn(*args)
        seconds = time.perf_counter() - start
    return out, seconds, t.get("entropy", 0.0)
