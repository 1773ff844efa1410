"""Per-measurement result cache: ``OUT/cache/<codec>/<image hash>-<setting>.json``.

An entry is reused only when its key matches exactly: image content hash, codec, setting, the
tool's or model's version, the encoder command and the evaluation's own version. With
``keep_files`` the bitstream is stored beside it (same stem) and must be present for a hit.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from ncodec.media.atomic import write_bytes_atomic

EVAL_VERSION = 1  # bump when metrics or the record's fields change


class ResultCache:
    def __init__(self, folder: Path, keep_files: bool = False):
        self.folder, self.keep_files = Path(folder), keep_files

    def entry(self, codec: str, image_hash: str, label: str) -> Path:
        return self.folder / codec / f"{image_hash}-{label}.json"

    def get(self, entry: Path, key: dict) -> dict | None:
        try:
            stored = json.loads(entry.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        if stored.get("key") != key:
            return None
        record = stored.get("record")
        if self.keep_files and not (record and (entry.parent / record.get("file", "")).is_file()):
            return None
        return record

    def put(self, entry: Path, key: dict, record: dict, bitstream: Path | None = None) -> None:
        entry.parent.mkdir(parents=True, exist_ok=True)
        if self.keep_files and bitstream is not None:
            kept = entry.with_suffix(bitstream.suffix)
            shutil.copyfile(bitstream, kept)
            record = dict(record, file=kept.name)
        write_bytes_atomic(entry, (json.dumps({"key": key, "record": record}, indent=1) + "\n").encode(), force=True)
