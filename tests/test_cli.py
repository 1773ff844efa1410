"""The command line: real subprocesses, every bad input gives one line on stderr and exit 2."""
import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ncodec.cli import main
from ncodec.entropy.container import VERSION, Container, unpack

ROOT = Path(__file__).resolve().parents[1]


def run(*args, timeout=120):
    """A real ``ncodec`` process (exit code, stderr, no traceback)."""
    return subprocess.run([sys.executable, "-m", "ncodec.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


def run_inline(*args, timeout=None):
    """The same entry point in this process (fast: the model stays loaded)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def encoded(tmp_path_factory):
    from PIL import Image
    import skimage.data

    d = tmp_path_factory.mktemp("enc")
    Image.fromarray(skimage.data.astronaut()[:40, :56]).save(d / "in.png")
    r = run("encode", d / "in.png", d / "in.ncd", "--quality", "2.5")
    assert r.returncode == 0, r.stderr
    return d / "in.ncd"


def test_encode_decode_info_list(tmp_path, encoded):
    r = run("decode", encoded, tmp_path / "out.png")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out.png").is_file()
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "out.png").stat().st_mode & 0o777 == 0o666 & ~mask  # like any file, not mkstemp's 0600
    info = json.loads(run_inline("info", encoded, "--json").stdout)
    assert info["codec"] == "lwc" and info["width"] == 56 and info["height"] == 40
    assert info["bytes"] == encoded.stat().st_size
    rows = json.loads(run_inline("list", "--json").stdout)
    hp = next(r for r in rows if r["name"] == "lwc-dpft2")  # the default image checkpoint (codec lwc)
    assert hp["default"] and hp["modality"] == "image" and hp["card"]["model_id"] and hp["card"]["codec"] == "lwc"
    assert not next(r for r in rows if r["name"] == "lwc")["default"]
    assert set(hp) == {"name", "modality", "default", "checkpoint", "card"}


def test_tools_scripts_take_the_same_arguments(tmp_path, encoded):
    r = subprocess.run([sys.executable, ROOT / "tools" / "decode.py", encoded, tmp_path / "o.png"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, ROOT / "tools" / "encode.py", tmp_path / "o.png", tmp_path / "o.ncd"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def _variant(encoded: Path, tmp_path: Path, **changes) -> Path:
    c = unpack(encoded.read_bytes())
    for k, v in changes.items():
        setattr(c, k, v)
    path = tmp_path / "variant.ncd"
    path.write_bytes(c.pack())
    return path


def _bad_files(encoded: Path, tmp_path: Path) -> dict[str, Path]:
    data = encoded.read_bytes()
    files = {
        "empty": b"",
        "wrong-magic": b"GIF89a" + data[6:],
        "truncated": data[: len(data) // 2],
        "flipped": data[:30] + bytes([data[30] ^ 0x10]) + data[31:],
        "newer-version": data[:4] + bytes([VERSION + 1]) + data[5:],
    }
    out = {}
    for name, content in files.items():
        out[name] = tmp_path / f"{name}.ncd"
        out[name].write_bytes(content)
    c = unpack(data)
    for name, change in {"unknown-codec": {"codec": "nosuchcodec"}, "wrong-model": {"model_id": b"\x00" * 8}}.items():
        variant = Container(**{**c.__dict__, **change})
        out[name] = tmp_path / f"{name}.ncd"
        out[name].write_bytes(variant.pack())
    return out


def _assert_clean_failure(r, folder: Path, before: set):
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ncodec: error:"), r.stderr
    assert "Traceback" not in r.stderr
    assert set(os.listdir(folder)) == before, "a partial or temporary output was left behind"


@pytest.mark.parametrize("kind", ["empty", "wrong-magic", "truncated", "flipped", "newer-version",
                                  "unknown-codec", "wrong-model"])
def test_bad_files_are_refused(tmp_path, encoded, kind):
    bad = _bad_files(encoded, tmp_path)[kind]
    before = set(os.listdir(tmp_path))
    r = run_inline("decode", bad, tmp_path / "out.png")
    _assert_clean_failure(r, tmp_path, before)
    r = run_inline("info", bad)
    if kind in ("unknown-codec", "wrong-model"):
        assert r.returncode == 0  # the header itself is valid
    else:
        _assert_clean_failure(r, tmp_path, before)


def test_bad_encode_inputs(tmp_path, encoded):
    (tmp_path / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    (tmp_path / "exists.ncd").write_bytes(b"keep me")
    good = tmp_path / "good.png"
    assert run_inline("decode", encoded, good).returncode == 0
    cases = [
        ("encode", tmp_path / "garbage.png", tmp_path / "o.ncd"),
        ("encode", tmp_path / "missing.png", tmp_path / "o.ncd"),
        ("encode", good, tmp_path / "no-such-folder" / "o.ncd"),
        ("encode", good, tmp_path / "exists.ncd"),
        ("encode", good, tmp_path / "o.ncd", "--quality", "99"),
        ("encode", good, tmp_path / "o.ncd", "--codec", "nosuchcodec"),
        ("encode", tmp_path / "exists.ncd", tmp_path / "o.ncd"),
        ("decode", encoded, tmp_path / "o.xyz"),
        ("decode", encoded, tmp_path / "no-such-folder" / "o.png"),
    ]
    for args in cases:
        before = set(os.listdir(tmp_path))
        _assert_clean_failure(run_inline(*args), tmp_path, before)
    assert (tmp_path / "exists.ncd").read_bytes() == b"keep me"
    r = run_inline("encode", good, tmp_path / "exists.ncd", "--force")
    assert r.returncode == 0 and (tmp_path / "exists.ncd").read_bytes()[:4] == b"NCDC"


def test_every_flipped_byte_is_refused(tmp_path, encoded):
    """Any single corrupted byte anywhere in a real file is detected before decoding."""
    import ncodec
    from ncodec.errors import InputError

    data = encoded.read_bytes()
    bad = tmp_path / "bad.ncd"
    for i in range(len(data)):
        bad.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :])
        with pytest.raises(InputError):
            ncodec.decode_file(bad, tmp_path / "o.png", force=True)
    assert not (tmp_path / "o.png").exists()


def test_real_process_refuses_bad_input_in_seconds(tmp_path, encoded):
    import time

    bad = _bad_files(encoded, tmp_path)["flipped"]
    before = set(os.listdir(tmp_path))
    start = time.time()
    _assert_clean_failure(run("decode", bad, tmp_path / "out.png"), tmp_path, before)
    _assert_clean_failure(run("encode", tmp_path / "missing.png", tmp_path / "o.ncd"), tmp_path, before)
    assert time.time() - start < 60


def test_demo_is_the_readme_main_job():
    r = run_inline("demo")
    assert r.returncode == 0, r.stderr
    assert "bit-exact): yes" in r.stdout and "bpp" in r.stdout and "PSNR" in r.stdout
    readme = (ROOT / "README.md").read_text()
    assert "bash install.sh && ncodec demo" in readme and "bash install.sh && python3 -m pytest" in readme
    assert "bash install.sh && python3 -m pytest" in (ROOT / ".ci" / "run").read_text()


def test_atomic_output_of_a_folder_gets_mkdir_permissions_and_is_removed_on_failure(tmp_path):
    """Writers that produce a folder (video decoded to PNG frames) go through the same atomic path."""
    import os

    from ncodec.media.atomic import atomic_output

    with atomic_output(tmp_path / "frames") as tmp:
        tmp.unlink()
        tmp.mkdir()
        (tmp / "f001.png").write_bytes(b"x")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "frames").stat().st_mode & 0o777 == 0o777 & ~mask
    with pytest.raises(RuntimeError):
        with atomic_output(tmp_path / "broken") as tmp:
            tmp.unlink()
            tmp.mkdir()
            (tmp / "f001.png").write_bytes(b"x")
            raise RuntimeError("writer failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]


def test_a_reader_that_closed_the_pipe_is_not_an_error():
    """``ncodec list | head -1``: when the reader has gone before the output is written the
    command stops quietly (exit 141, as Unix tools do), no 'internal error' and no traceback."""
    read, write = os.pipe()
    os.close(read)
    try:
        r = subprocess.run([sys.executable, "-m", "ncodec.cli", "list"], stdout=write, stderr=subprocess.PIPE,
                           text=True, timeout=120)
    finally:
        os.close(write)
    assert r.returncode == 141 and r.stderr == ""
