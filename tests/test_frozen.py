"""Frozen bitstreams (issue 11, item 4): small files written by an earlier encoder, committed with the
SHA-256 of what they must decode to, decoded by today's decoder.

Every other test encodes and decodes with the same code, so a change that alters encoder and decoder
together (range coder, fixed point, tables, container) would pass while every ``.ncd`` already
written stopped decoding. These files catch it. Made by ``python tools/make_frozen.py MODEL``
(hashes: see that tool's docstring). If a change is *meant* to alter a format, it must bump the
container or payload version and keep the old files decoding (or refuse them clearly); the files
of the old version stay here (``keep``) and new ones are added.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ncodec.codecs.checkpoint import card_path
from ncodec.errors import FormatError
from ncodec.tools import make_frozen

FOLDER = Path(__file__).resolve().parent / "frozen"
MANIFEST = json.loads((FOLDER / "manifest.json").read_text())["files"]
SHIPPED = ("hyperprior", "wavelet", "lwc", "lwc-pf", "lwc-pfs", "lwc-dp", "lwc-dpf", "lwc-dpft", "lwc-dpft2", "lidar", "octree", "video-lvc", "video-lvc-pf", "video-lvc-pfc", "video-lvc-qt", "video-lvc-mlp", "video-lvc-vpf")


def test_every_shipped_model_has_frozen_files_and_they_are_small():
    models = {e["model"] for e in MANIFEST.values()}
    assert set(SHIPPED) <= models
    on_disk = {p.name for p in FOLDER.glob("*.ncd")}
    assert on_disk == set(MANIFEST), "every frozen file is in the manifest and the reverse"
    assert sum(p.stat().st_size for p in FOLDER.iterdir()) < 100_000
    # old payload versions are kept to prove they still decode
    assert any(e.get("keep") for e in MANIFEST.values() if e["model"] == "lidar")
    # files of a replaced default model still decode: its checkpoint stays installed under another name
    assert {e["model_id"] for e in MANIFEST.values() if e["model"] == "lwc-v1"} == {"1d6be259cd901e69"}


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_frozen_file_decodes_to_its_recorded_output(tmp_path, name):
    entry = MANIFEST[name]
    path = FOLDER / name
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"], "the committed file itself changed"
    card = json.loads(card_path(entry["model"]).read_text())
    if card["model_id"] != entry["model_id"]:
        # replaced weights: old files are refused with a clear message, and this model's frozen
        # files must be remade in the same commit
        with pytest.raises(FormatError, match="not installed"):
            make_frozen.decode(path, tmp_path)
        pytest.fail(f"{entry['model']}'s weights were replaced (model id {entry['model_id']} -> {card['model_id']}): "
                    f"run python tools/make_frozen.py {entry['model']}")
    modality, decoded = make_frozen.decode(path, tmp_path)
    assert modality == entry["modality"]
    got = make_frozen.digests(modality, decoded)
    if modality == "image":
        # the latent is exact on every device; pixels pass through the float synthesis g_s, whose
        # rounding may differ across machines (README), so their hash is a same-platform check
        assert got["latent_sha256"] == entry["latent_sha256"]
        if entry["pixels_platform"] == make_frozen.pixels_platform():
            assert got["pixels_sha256"] == entry["pixels_sha256"]
        assert decoded["pixels"].shape[:2] == (48, 64)
    elif modality == "video":
        assert got["frames"] == entry["frames"]
        if entry["pixels_platform"] == make_frozen.pixels_platform():
            assert got["frames_sha256"] == entry["frames_sha256"]
    else:
        assert got["points"] == entry["points"]
        assert got["points_sha256"] == entry["points_sha256"]


def test_make_frozen_is_generic_and_reproducible(tmp_path):
    """The tool picks samples by the model's modality; re-running today's encoder reproduces the
    committed (current-format) files byte for byte."""
    written = make_frozen.make("octree", tmp_path)
    assert written and all((tmp_path / f).is_file() for f in written)
    for f in written:
        assert (tmp_path / f).read_bytes() == (FOLDER / f).read_bytes()
    manifest = make_frozen.load_manifest(tmp_path)["files"]
    assert {e["modality"] for e in manifest.values()} == {"pointcloud"}
    assert make_frozen.main(["no-such-model", "--folder", str(tmp_path)]) == 2
