"""The entropy parameters are computed exactly: a pure-integer reference agrees bit for bit."""
import numpy as np
import pytest
import torch
from torch import nn

from ncodec.entropy.fixedpoint import FixedPointNet, to_fixed
from ncodec.errors import InputError


def _net():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.ConvTranspose2d(4, 6, 5, stride=2, padding=2, output_padding=1), nn.ReLU(),
        nn.Conv2d(6, 8, 3, padding=1),
    )


def _integer_reference(net, x_fixed: np.ndarray, act_bits: int, weight_bits: int) -> np.ndarray:
    """Python-int arithmetic (arbitrary precision, no floating point at all)."""
    x = x_fixed.astype(object)
    for layer in net:
        if isinstance(layer, nn.ReLU):
            x = np.maximum(x, 0)
            continue
        w = np.round(layer.weight.detach().double().numpy() * 2.0**weight_bits).astype(np.int64).astype(object)
        b = np.round(layer.bias.detach().double().numpy() * 2.0 ** (weight_bits + act_bits)).astype(np.int64).astype(object)
        c_in, h, wd = x.shape
        if isinstance(layer, nn.ConvTranspose2d):
            s, p, op, k = layer.stride[0], layer.padding[0], layer.output_padding[0], layer.kernel_size[0]
            ho, wo = (h - 1) * s - 2 * p + k + op, (wd - 1) * s - 2 * p + k + op
            acc = np.empty((w.shape[1], ho, wo), dtype=object)
            acc[...] = 0
            for ci in range(c_in):
                for i in range(h):
                    for j in range(wd):
                        for ki in range(k):
                            for kj in range(k):
                                oi, oj = i * s - p + ki, j * s - p + kj
                                if 0 <= oi < ho and 0 <= oj < wo:
                                    acc[:, oi, oj] += x[ci, i, j] * w[ci, :, ki, kj]
        else:
            k, p = layer.kernel_size[0], layer.padding[0]
            xp = np.zeros((c_in, h + 2 * p, wd + 2 * p), dtype=object)
            xp[:, p : p + h, p : p + wd] = x
            acc = np.empty((w.shape[0], h, wd), dtype=object)
            acc[...] = 0
            for ki in range(k):
                for kj in range(k):
                    patch = xp[:, ki : ki + h, kj : kj + wd]
                    acc += np.einsum("ihw,oi->ohw", patch, w[:, :, ki, kj])
        acc += b[:, None, None]
        x = np.vectorize(lambda v: v >> weight_bits, otypes=[object])(acc)  # floor division
    return x.astype(np.int64)


def test_matches_integer_reference_bit_for_bit():
    net = _net()
    torch.manual_seed(1)
    z = torch.randn(1, 4, 3, 4) * 3
    fp = FixedPointNet(net, act_bits=12, weight_bits=14)
    got = fp(to_fixed(z, 12))[0].numpy().astype(np.int64)
    want = _integer_reference(net, to_fixed(z, 12)[0].numpy().astype(np.int64), 12, 14)
    assert np.array_equal(got, want)


def test_close_to_float_network():
    net = _net()
    z = torch.randn(2, 4, 6, 5)
    got = FixedPointNet(net)(to_fixed(z, 12)) / 2.0**12
    assert torch.allclose(got.float(), net(z), atol=5e-3)


def test_independent_of_threads_and_batching():
    net = _net()
    z = torch.randn(4, 4, 9, 7) * 5
    fp = FixedPointNet(net)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = fp(to_fixed(z, 12))
    finally:
        torch.set_num_threads(threads)
    batched = fp(to_fixed(z, 12))
    single = torch.cat([fp(to_fixed(z[i : i + 1], 12)) for i in range(4)])
    assert torch.equal(one, batched) and torch.equal(batched, single)


def test_overflow_is_refused():
    with pytest.raises(InputError):
        FixedPointNet(_net())(to_fixed(torch.full((1, 4, 2, 2), 1e9), 12))


def test_unsupported_layer():
    with pytest.raises(TypeError):
        FixedPointNet(nn.Sequential(nn.Conv2d(1, 1, 1), nn.LeakyReLU()))
