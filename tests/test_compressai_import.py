"""CompressAI interoperability (``ncodec import compressai``, ``from_compressai``).

Pretrained weights cannot be downloaded here, so each architecture is created with tiny N/M and
briefly trained in the test itself on scikit-image photos, then saved the two ways CompressAI users
save checkpoints. Equivalence is measured against CompressAI's own ``compress()`` /
``decompress()`` on the same weights: sizes at most 1% above CompressAI's (escapes may cost
less), PSNR within 0.01 dB."""
from __future__ import annotations

import json
from functools import partial

import numpy as np
import pytest
import skimage.data
import torch

from ncodec import cli
from ncodec.codecs import checkpoint
from ncodec.codecs.image.from_compressai.architectures import ARCHITECTURES
from ncodec.codecs.image.from_compressai.importer import import_compressai

ARCHS = list(ARCHITECTURES)
SIZES = {"cheng2020-anchor": (16, 16)}  # (N, M); cheng2020 has M = N
LAMBDA = {1: 0.01, 2: 0.05}


def _tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float() / 255


@pytest.fixture(scope="module")
def train_crops() -> torch.Tensor:
    photos = [skimage.data.coffee(), skimage.data.chelsea(), skimage.data.rocket()]
    rng = np.random.default_rng(0)
    crops = []
    for _ in range(64):
        p = photos[rng.integers(len(photos))]
        r, c = rng.integers(p.shape[0] - 64), rng.integers(p.shape[1] - 64)
        crops.append(_tensor(p[r:r + 64, c:c + 64]))
    return torch.cat(crops)


@pytest.fixture(scope="module")
def test_photo() -> torch.Tensor:
    """A real photo none of the models saw: astronaut, 192x256 (a multiple of 64: no padding)."""
    return _tensor(skimage.data.astronaut()[64:256, 128:384])


def _train(arch: str, crops: torch.Tensor, lmbda: float, steps: int = 20, batch: int = 4) -> torch.nn.Module:
    """A brief rate-distortion training of CompressAI's own model (CompressAI's example loop)."""
    torch.manual_seed(0)
    N, M = SIZES.get(arch, (16, 24))
    model = ARCHITECTURES[arch].build(N, M)
    main = [p for n, p in model.named_parameters() if not n.endswith(".quantiles")]
    aux = [p for n, p in model.named_parameters() if n.endswith(".quantiles")]
    opt, aux_opt = torch.optim.Adam(main, lr=1e-2), torch.optim.Adam(aux, lr=1e-1)
    for step in range(steps):
        x = crops[(step * batch) % len(crops):][:batch]
        out = model(x)
        bpp = sum(-torch.log2(l).sum() for l in out["likelihoods"].values()) / (x.numel() / 3)
        loss = lmbda * 255**2 * torch.mean((out["x_hat"] - x) ** 2) + bpp
        opt.zero_grad()
        aux_opt.zero_grad()
        (loss + model.aux_loss()).backward()
        opt.step()
        aux_opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, train_crops):
    """arch -> {quality: (checkpoint path, trained CompressAI model)}; quality 1 saved as a plain
    state dict, quality 2 as the ``{"state_dict": ...}`` dict of CompressAI's training script."""
    folder = tmp_path_factory.mktemp("compressai")
    cache = {}

    def get(arch: str, quality: int = 1):
        if (arch, quality) not in cache:
            model = _train(arch, train_crops, LAMBDA[quality])
            path = folder / f"{arch}-q{quality}.pth.tar"
            torch.save(model.state_dict() if quality == 1 else {"epoch": 1, "state_dict": model.state_dict()}, path)
            cache[arch, quality] = (path, model)
        return cache[arch, quality]

    return get


def _reference(arch: str, path) -> torch.nn.Module:
    """CompressAI's model from the checkpoint, coded the CompressAI way (update(force=True))."""
    ref = ARCHITECTURES[arch].build(*SIZES.get(arch, (16, 24)))
    state = torch.load(path, weights_only=True)
    ref.load_state_dict(state.get("state_dict", state))
    ref.update(force=True)
    return ref.eval()


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    a8, b8 = (torch.round(t.clamp(0, 1) * 255).double() for t in (a, b))
    return float(10 * torch.log10(255**2 / ((a8 - b8) ** 2).mean()))


@pytest.mark.parametrize("arch", ARCHS)
def test_equivalent_to_compressai(tmp_path, trained, test_photo, arch):
    """Same weights: coded bytes at most 1% above CompressAI's strings, PSNR within 0.01 dB; decoding
    gives the encoder's reconstruction bit for bit, and the same latents with 1 and 2 threads."""
    from ncodec.codecs.image.modality import encode_picture
    from ncodec.media.image import Picture

    path, _ = trained(arch)
    import_compressai([path], arch, "imp", tmp_path)
    codec = checkpoint.load_codec("imp", "image", folder=tmp_path)
    picture = Picture((test_photo[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    container, x_enc = encode_picture(codec, picture, 1.0, "cpu")
    file_bytes = len(container.pack())
    before, decoded = torch.get_num_threads(), []
    try:  # the encoder's own thread count first (its reconstruction), then another one
        for threads in (before, 1 if before != 1 else 2):
            torch.set_num_threads(threads)
            decoded.append(codec.decompress(container.sections[:2], container.payload[:8], 1.0))
    finally:
        torch.set_num_threads(before)
    x_dec = decoded[0]["x_hat"]
    assert torch.equal(x_enc, x_dec) and torch.equal(decoded[0]["y_hat"], decoded[1]["y_hat"])
    # g_s is ordinary float (as in every ncodec codec): another thread count may round a pixel
    # differently, never decode other latents.
    assert (torch.round(x_dec * 255) - torch.round(decoded[1]["x_hat"] * 255)).abs().max() <= 1

    ref = _reference(arch, path)
    for name, buffer in ref.named_buffers():  # CompressAI's tables, as its update() builds them, frozen
        if "_quantized_cdf" in name or "_offset" in name or "_cdf_length" in name:
            assert torch.equal(codec.levels[0].get_buffer(name), buffer), name
    with torch.no_grad():
        enc = ref.compress(test_photo)
        x_ref = ref.decompress(enc["strings"], enc["shape"])["x_hat"]
    ref_bytes = sum(len(s[0]) for s in enc["strings"])
    coded = sum(map(len, container.sections))
    assert ref_bytes > 300, "the briefly trained model should code a real amount of information"
    # Never more than 1% above CompressAI's bytes. Fewer is allowed: latents outside the tables'
    # range (escapes) cost less in ncodec's coder than in CompressAI's rANS bypass mode; this
    # 20-step model has many (with torch 2.14: 155 of 4608 latents, 4288 bytes vs 4332).
    assert 0.95 * ref_bytes <= coded <= 1.01 * ref_bytes, (coded, ref_bytes)
    # The rest of the file is the container's fixed header (magic, codec name, model id, quality,
    # image size, section lengths, CRC): 57 bytes here, 0.6% of a 9 KB Kodak file.
    assert file_bytes - coded <= 64
    assert abs(_psnr(x_dec, test_photo) - _psnr(x_ref, test_photo)) <= 0.01


def test_several_qualities_one_model(tmp_path, trained, test_photo):
    (p1, _), (p2, _) = trained("mbt2018-mean", 1), trained("mbt2018-mean", 2)
    card = import_compressai([p2, p1], "mbt2018-mean", "two", tmp_path, qualities=[5, 2])
    assert card["qualities"] == [2.0, 5.0] and card["quality_range"] == [2.0, 5.0]
    levels = card["source"]["levels"]
    assert [lv["file"] for lv in levels] == [p1.name, p2.name]
    assert levels[0]["lambda"] == 0.0035 and levels[0]["lambda_source"].startswith("CompressAI zoo")
    assert card["source"]["arch"] == "mbt2018-mean" and len(levels[1]["sha256"]) == 64
    codec = checkpoint.load_codec("two", "image", folder=tmp_path)
    assert codec.model_id.hex() == card["model_id"]
    sizes = {q: sum(map(len, codec.compress(test_photo, q)["strings"])) for q in (2.0, 3.4, 3.6, 5.0)}
    assert sizes[2.0] == sizes[3.4] and sizes[3.6] == sizes[5.0] and sizes[5.0] > sizes[2.0]


def _folder(monkeypatch, folder):
    """Make the file API find checkpoints in ``folder`` (what checkpoints/ is for installed ones)."""
    from ncodec import api

    monkeypatch.setattr(api, "load_codec", partial(checkpoint.load_codec, folder=folder))
    monkeypatch.setattr(api, "find_checkpoint", partial(checkpoint.find_checkpoint, folder=folder))
    api._LOADED.clear()


def test_cli_import_encode_decode(tmp_path, monkeypatch, capsys, trained, photo_png):
    path, _ = trained("bmshj2018-hyperprior")
    assert cli.main(["import", "compressai", str(path), "--arch", "bmshj2018-hyperprior", "hp",
                     "--folder", str(tmp_path)]) == 0
    card = json.loads((tmp_path / "hp.json").read_text())
    assert card["codec"] == "compressai" and card["source"]["levels"][0]["quality"] == 1.0
    _folder(monkeypatch, tmp_path)
    ncd, png = tmp_path / "a.ncd", tmp_path / "a.png"
    assert cli.main(["encode", str(photo_png), str(ncd), "--codec", "hp"]) == 0
    assert cli.main(["decode", str(ncd), str(png)]) == 0
    assert cli.main(["info", str(ncd)]) == 0
    assert "compressai" in capsys.readouterr().out


@pytest.mark.parametrize("make_bad, message", [
    (lambda p: p.write_text("not a checkpoint"), "cannot read"),
    (lambda p: torch.save({"epoch": 3}, p), "no state dict"),
    (lambda p: torch.save({"g_a.0.weight": torch.zeros(4, 3, 5, 5)}, p), "does not match mbt2018"),
    (lambda p: torch.save({"g_a.0.weight": torch.zeros(4, 3, 5, 5), "g_a.6.weight": torch.zeros(6, 4, 5, 5)}, p),
     "does not match mbt2018 (N=4, M=6): missing"),
])
def test_bad_checkpoints_one_line_exit_2(tmp_path, capsys, make_bad, message):
    bad = tmp_path / "bad.pth"
    make_bad(bad)
    assert cli.main(["import", "compressai", str(bad), "--arch", "mbt2018", "x", "--folder", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pth"]


def test_tool_script_takes_the_cli_arguments(tmp_path, capsys):
    from ncodec.tools.import_compressai import main

    assert main(["compressai", str(tmp_path / "none.pth"), "--arch", "mbt2018", "x"]) == 2
    assert capsys.readouterr().err.strip() == f"ncodec: error: checkpoint not found: {tmp_path / 'none.pth'}"


def test_mismatched_architecture_and_unknown_arch(tmp_path, trained, capsys):
    path, _ = trained("bmshj2018-factorized")
    assert cli.main(["import", "compressai", str(path), "--arch", "mbt2018", "x", "--folder", str(tmp_path)]) == 2
    assert cli.main(["import", "compressai", str(path), "--arch", "nope", "x", "--folder", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "does not match mbt2018" in err[0] and "unknown CompressAI architecture" in err[1]
    assert not list(tmp_path.glob("x.*"))


@pytest.mark.parametrize("name", ["hyperprior", "wavelet"])
def test_ncodec_codecs_run_in_compressai_eval_code(photo, name):
    """CompressAI's own evaluation functions run an ncodec codec through the adapter."""
    from compressai.utils.eval_model.__main__ import inference, inference_entropy_estimation

    from ncodec.codecs.image.from_compressai.adapter import AsCompressAI

    import ncodec

    model = AsCompressAI(ncodec.load(name), quality=3.0)
    x = _tensor(photo[:192, :256])[0]
    coded = inference(model, x)
    estimated = inference_entropy_estimation(model, x)
    assert 20 < coded["psnr-rgb"] < 60 and coded["bpp"] > 0
    assert abs(coded["bpp"] - estimated["bpp"]) < 0.05 * estimated["bpp"]
    out = model.compress(torch.stack([x, x.flip(-1)]))
    assert len(out["strings"]) == 2 and all(len(s) == 2 for s in out["strings"])
    assert model.decompress(out["strings"], out["shape"])["x_hat"].shape == (2, 3, 192, 256)
    assert model.update(force=True) is False


def test_results_json_read_by_compressai_plot(tmp_path, photo):
    """``ncodec eval`` results are read as they are by CompressAI's plotting utility."""
    from compressai.utils.plot.__main__ import parse_json_file
    from PIL import Image

    data = tmp_path / "data"
    data.mkdir()
    for i in range(2):
        Image.fromarray(np.ascontiguousarray(photo[176 * i:176 * i + 176, :176])).save(data / f"{i}.png")
    assert cli.main(["eval", "--dataset", str(data), "--codecs", "jpeg", "--out", str(tmp_path / "out"),
                     "--jobs", "1", "--points", "3"]) == 0
    for metric in ("psnr", "ms-ssim"):
        curve = parse_json_file(tmp_path / "out" / "jpeg.json", metric)
        assert len(curve["xs"]) == len(curve["ys"]) >= 3 and curve["name"] == "jpeg"
