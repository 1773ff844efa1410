"""Write outputs through a temporary file and a rename, so a failure never leaves a partial file."""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from ncodec.errors import InputError


def check_output(path: Path, force: bool) -> Path:
    """Refuse an output in a missing folder, a folder as output, or an existing file without force."""
    path = Path(path)
    if not path.parent.is_dir():
        raise InputError(f"output folder does not exist: {path.parent}")
    if path.is_dir():
        raise InputError(f"output is a folder: {path}")
    if path.exists() and not force:
        raise InputError(f"output exists: {path} (use --force to overwrite)")
    return path


@contextmanager
def atomic_output(path: Path, force: bool = False):
    """Yields a temporary path (same folder, same suffix) that becomes ``path`` on success.

    The writer may replace the temporary file by a folder (a folder of frames). The result gets the
    permissions a plain ``open()`` or ``mkdir()`` would give it (0666 / 0777 minus the umask), not
    mkstemp's private 0600."""
    path = check_output(path, force)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, (0o777 if os.path.isdir(tmp) else 0o666) & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: Path, data: bytes, force: bool = False) -> None:
    with atomic_output(path, force) as tmp:
        tmp.write_bytes(data)
