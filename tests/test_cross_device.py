"""Files encoded on CPU decode on GPU and the reverse. Runs wherever a GPU is present.

What is exact across devices: every entropy-decoded symbol, the fixed-point means and table
indices, hence the dequantised latent ``y_hat`` (asserted bit for bit). The synthesis transform
then runs in float on each device, so the image may differ by float rounding (asserted small).
"""
import pytest
import torch

import ncodec

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")


@pytest.mark.parametrize("enc_device, dec_device", [("cpu", "cuda"), ("cuda", "cpu")])
def test_cross_device_decode(photo, enc_device, dec_device):
    x = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255
    enc_codec, dec_codec = ncodec.load(device=enc_device), ncodec.load(device=dec_device)
    assert enc_codec.model_id == dec_codec.model_id
    for quality in (1.0, 3.5, 6.0):
        enc = enc_codec.compress(x.to(enc_device), quality)
        dec = dec_codec.decompress(enc["strings"], enc["payload"], quality)
        assert torch.equal(enc["y_hat"].cpu(), dec["y_hat"].cpu())
        diff = (enc["x_hat"].cpu() * 255).round() - (dec["x_hat"].cpu() * 255).round()
        assert diff.abs().max() <= 1 and (diff != 0).float().mean() < 1e-3
