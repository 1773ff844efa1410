"""Wavelet packet transform (exact perfect reconstruction) and the wavelet codec's round trip."""
import pytest
import torch

from ncodec.codecs import get_codec
from ncodec.codecs.image.wavelet import packet_analysis, packet_synthesis


@pytest.mark.parametrize("levels", [1, 2, 3, 4])
@pytest.mark.parametrize("h, w", [(16, 16), (48, 80), (32, 144)])
def test_integer_packet_transform_is_exactly_invertible(levels, h, w):
    x = torch.randint(0, 65536, (2, 3, h, w)).double()
    c = packet_analysis(x, levels, integer=True)
    assert c.shape == (2, 3 * 4**levels, h >> levels, w >> levels)
    assert torch.equal(c, torch.round(c))  # integers to integers
    assert torch.equal(packet_synthesis(c, levels, integer=True), x)


def test_float_packet_transform_is_linear_and_inverts_to_float_precision():
    torch.manual_seed(0)
    x, y = torch.rand(1, 3, 64, 96, dtype=torch.float64), torch.rand(1, 3, 64, 96, dtype=torch.float64)
    a = lambda v: packet_analysis(v, 3)  # noqa: E731
    assert torch.allclose(a(2 * x - y), 2 * a(x) - a(y), atol=1e-12)
    assert torch.allclose(packet_synthesis(a(x), 3), x, atol=1e-12)
    # a constant image has all its energy in the lowest band
    c = a(torch.ones(1, 1, 64, 64, dtype=torch.float64))
    assert torch.allclose(c[:, 1:], torch.zeros_like(c[:, 1:]), atol=1e-12)


@pytest.mark.parametrize("h, w", [(1, 1), (17, 33), (64, 100)])
def test_wavelet_codec_round_trip_is_bit_exact(photo, h, w):
    torch.manual_seed(0)
    model = get_codec("wavelet").factory(levels=2, M=16, N=16, hidden=16, blocks=1, lambdas=[0.0035, 0.0483]).eval()
    model.update()
    x = torch.from_numpy(photo[:h, :w]).permute(2, 0, 1)[None].float() / 255
    enc = model.compress(x, 1.5)
    dec = model.decompress(enc["strings"], enc["payload"], 1.5)
    assert torch.equal(enc["x_hat"], dec["x_hat"]) and enc["x_hat"].shape == x.shape
    assert model.compress(x, 1.5, reconstruct=False)["x_hat"] is None


def test_bad_levels():
    with pytest.raises(ValueError, match="levels must be 1..4"):
        get_codec("wavelet").factory(levels=5)
