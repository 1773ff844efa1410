"""Selective scan (chunked parallel, plain PyTorch) against the recurrence; the ssm codec's round trip."""
import pytest
import torch

from ncodec.codecs import get_codec
from ncodec.codecs.image import ssm
from ncodec.codecs.image.ssm import SS2D, linear_scan, selective_scan, selective_scan_reference


@pytest.mark.parametrize("length, chunk", [(1, 4), (7, 4), (64, 8), (300, 16), (1000, 8)])
def test_chunked_linear_scan_equals_the_recurrence(length, chunk):
    torch.manual_seed(length)
    a, b = torch.rand(2, length, 3, dtype=torch.float64), torch.randn(2, length, 3, dtype=torch.float64)
    h, expected = torch.zeros(2, 3, dtype=torch.float64), []
    for t in range(length):
        h = a[:, t] * h + b[:, t]
        expected.append(h)
    assert torch.allclose(linear_scan(a, b, chunk), torch.stack(expected, 1), atol=1e-10)


def test_selective_scan_equals_reference_and_survives_long_strong_decay():
    torch.manual_seed(0)
    b, L, d, n = 2, 777, 5, 4
    u, delta = torch.randn(b, L, d, dtype=torch.float64), torch.rand(b, L, d, dtype=torch.float64) * 3
    A = -torch.rand(d, n, dtype=torch.float64) * 20
    B, C, D = torch.randn(b, L, n, dtype=torch.float64), torch.randn(b, L, n, dtype=torch.float64), torch.randn(d, dtype=torch.float64)
    y = selective_scan(u, delta, A, B, C, D, chunk=32)
    assert torch.allclose(y, selective_scan_reference(u, delta, A, B, C, D), atol=1e-9)
    assert torch.isfinite(selective_scan(u.float() * 1e3, delta.float() * 50, A.float(), B.float(), C.float(), D.float())).all()


def test_ss2d_output_mixes_the_whole_map():
    """A global branch: every output position depends on a far-away input pixel."""
    torch.manual_seed(0)
    layer = SS2D(4, state=4, chunk=8).double()
    with torch.no_grad():
        layer.A_log.fill_(-5.0)  # slow decay so information travels across the map
    x = torch.randn(1, 4, 9, 11, dtype=torch.float64, requires_grad=True)
    layer(x)[0, :, 8, 10].sum().backward()
    assert x.grad[0, :, 0, 0].abs().sum() > 0


@pytest.mark.skipif(not torch.cuda.is_available() or ssm._fused_scan is None,
                    reason="needs CUDA and mamba_ssm's fused selective scan")
def test_fused_cuda_kernel_agrees_with_the_pytorch_scan():
    torch.manual_seed(0)
    b, L, d, n = 2, 500, 16, 8
    args = [torch.randn(b, L, d), torch.rand(b, L, d), -torch.rand(d, n) * 5, torch.randn(b, L, n),
            torch.randn(b, L, n), torch.randn(d)]
    fused = selective_scan(*[t.cuda() for t in args]).cpu()
    assert torch.allclose(fused, selective_scan(*args), atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("h, w", [(1, 1), (17, 33), (70, 90)])
def test_ssm_codec_round_trip_is_bit_exact(photo, h, w):
    torch.manual_seed(0)
    model = get_codec("ssm").factory(N=8, M=12, state=4, chunk=16, lambdas=[0.0035, 0.0483]).eval()
    model.update()
    x = torch.from_numpy(photo[:h, :w]).permute(2, 0, 1)[None].float() / 255
    enc = model.compress(x, 1.5)
    dec = model.decompress(enc["strings"], enc["payload"], 1.5)
    assert torch.equal(enc["x_hat"], dec["x_hat"]) and enc["x_hat"].shape == x.shape
