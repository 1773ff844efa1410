"""Swin codec (codecs/image/swin.py): SwinV2 window attention (padding, shrinking, shifted-window
mask, logit-scale clamp), the codec's exact round trip and the shipped config."""
import math
from pathlib import Path

import pytest
import torch
import yaml

from ncodec.codecs import get_codec
from ncodec.codecs.image import swin
from ncodec.codecs.image.swin import SwinV2Block, WindowAttention, log_spaced_offsets
from ncodec.train.losses import rd_loss

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "image" / "swin.yaml"


def block(shift: bool, window: int = 4, dim: int = 8, heads: int = 2) -> SwinV2Block:
    torch.manual_seed(0)
    return SwinV2Block(dim, heads, window, shift=shift).double().eval()


@pytest.mark.parametrize("shift", [False, True])
@pytest.mark.parametrize("h, w", [(1, 1), (3, 5), (4, 4), (7, 10), (9, 13), (16, 6)])
def test_block_runs_on_any_size_and_keeps_the_shape(shift, h, w):
    x = torch.randn(2, 8, h, w, dtype=torch.float64)
    with torch.no_grad():
        y = block(shift)(x)
        y_cl = block(shift)(x.contiguous(memory_format=torch.channels_last))
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert torch.allclose(y, y_cl, atol=1e-12)


def test_padding_is_invisible():
    """A 6x6 map with window 4: each (padded) window gives what the block gives on its tokens alone
    (where the window shrinks to the smaller map)."""
    b, x = block(False), torch.randn(1, 8, 6, 6, dtype=torch.float64)
    with torch.no_grad():
        y = b(x)
        for rows, cols in [(slice(0, 4), slice(0, 4)), (slice(0, 4), slice(4, 6)), (slice(4, 6), slice(4, 6))]:
            assert torch.allclose(y[..., rows, cols], b(x[..., rows, cols]), atol=1e-12)


def test_a_window_that_covers_the_map_is_not_shifted():
    plain, shifted = block(False), block(True)
    assert shifted.geometry(3, 5) == (3, 4, 0, 2) and shifted.geometry(3, 3) == (3, 3, 0, 0)
    x = torch.randn(1, 8, 3, 3, dtype=torch.float64)
    with torch.no_grad():
        assert torch.equal(plain(x), shifted(x))


@pytest.mark.parametrize("h, w, far, near", [(8, 8, (7, 7), (1, 1)), (7, 10, (6, 1), (1, 1)), (8, 8, (0, 7), (1, 0))])
def test_shifted_window_mask_blocks_what_the_shift_wrapped_round(monkeypatch, h, w, far, near):
    """With a shift of 2 (window 4), pixel (0, 0) shares a window with the far side of the image;
    perturbing the far side must not change its output, while its own neighbours still do. Without
    the mask the same perturbation leaks (so the check can fail)."""
    b, x = block(True), torch.randn(1, 8, h, w, dtype=torch.float64)

    def moved(pixel):
        x2 = x.clone()
        x2[..., pixel[0], pixel[1]] += 5
        with torch.no_grad():
            return b(x)[..., 0, 0], b(x2)[..., 0, 0]

    before, after = moved(far)
    assert torch.equal(before, after)
    before, after = moved(near)
    assert not torch.allclose(before, after)
    monkeypatch.setattr(swin, "window_mask", lambda *args: None)
    before, after = moved(far)
    assert not torch.allclose(before, after)


def test_logit_scale_is_clamped_at_log_100():
    torch.manual_seed(0)
    attn = WindowAttention(8, 2, 4).double()
    x = torch.randn(3, 16, 8, dtype=torch.float64)
    with torch.no_grad():
        bias = attn.position_bias(4, 4)
        assert bias.shape == (2, 16, 16) and (bias > 0).all() and (bias < 16).all()

        def scores(s):
            attn.logit_scale.fill_(s)
            return attn.scores(x, 4, 4)[0]

        at_limit = scores(math.log(100))
        assert torch.equal(scores(10.0), at_limit)  # e^10 would be 22026
        assert not torch.equal(scores(math.log(50)), at_limit)
        assert (at_limit - bias).abs().max() <= 100 + 1e-9
        assert torch.allclose(scores(0.0) - bias, (at_limit - bias) / 100, atol=1e-12)


def test_position_offsets_are_log_spaced_and_shared_by_shrunk_windows():
    table = log_spaced_offsets(8, 8, 8)
    assert table.shape == (15 * 15, 2)
    assert torch.allclose(table.abs().max(), torch.tensor(math.log2(9) / 3))
    assert torch.equal(table[7 * 15 + 7], torch.zeros(2))  # offset (0, 0)
    # a 3x2 window (a small map) evaluates the bias at the same normalised offsets as the full one
    small = log_spaced_offsets(3, 2, 8).reshape(5, 3, 2)
    assert torch.equal(small, table.reshape(15, 15, 2)[5:10, 6:9])


def tiny(entropy=None):
    torch.manual_seed(0)
    return get_codec("swin").factory(N=16, M=24, window=4, depth=2, head_dim=8, lambdas=[0.0035, 0.0483],
                                     entropy=entropy).eval()


CONTEXT = {"kind": "channel-context", "groups": [4, 4, 16], "width": 16}


@pytest.mark.parametrize("entropy, h, w", [(CONTEXT, 1, 1), (CONTEXT, 17, 33), (CONTEXT, 70, 90), (None, 17, 33)])
def test_swin_codec_round_trip_is_bit_exact(photo, entropy, h, w):
    model = tiny(entropy)
    model.update()
    x = torch.from_numpy(photo[:h, :w]).permute(2, 0, 1)[None].float() / 255
    enc = model.compress(x, 1.5)
    dec = model.decompress(enc["strings"], enc["payload"], 1.5)
    assert torch.equal(enc["y_hat"], dec["y_hat"]) and torch.equal(enc["x_hat"], dec["x_hat"])
    assert enc["x_hat"].shape == x.shape
    assert model.compress(x, 1.5, reconstruct=False)["x_hat"] is None


def test_shipped_config_builds_runs_and_rebuilds():
    spec = yaml.safe_load(CONFIG.read_text())["model"]["init_args"]
    assert spec["codec"] == "swin" and spec["codec_config"]["entropy"]["kind"] == "channel-context"
    torch.manual_seed(0)
    model = get_codec("swin").factory(**spec["codec_config"])
    loss, stats = rd_loss(model, torch.rand(1, 3, 64, 64), torch.tensor([3.0]))
    assert torch.isfinite(loss) and torch.isfinite(stats["bpp"])
    again = get_codec("swin").factory(**model.config)
    again.load_state_dict(model.state_dict())
    assert again.config == model.config


def test_training_step_gives_finite_gradients_everywhere():
    model = tiny().train()
    loss, _ = rd_loss(model, torch.rand(1, 3, 64, 64), torch.tensor([1.5]))
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if n.startswith(("g_a.", "g_s."))}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert any(n.endswith("logit_scale") for n in grads) and any(".cpb." in n for n in grads)


def test_bad_configs():
    with pytest.raises(ValueError, match="window >= 1"):
        get_codec("swin").factory(N=16, M=24, window=0)
    with pytest.raises(ValueError, match="do not split"):
        WindowAttention(10, 3, 4)
