"""Channel-wise / checkerboard context (entropy/channel_context.py): exact decoding, bounded passes."""
import pytest
import torch

from ncodec.codecs import get_codec
from ncodec.codecs.checkpoint import load_codec, save_checkpoint
from ncodec.entropy.channel_context import ChannelContextHyperprior, default_groups
from ncodec.entropy.fixedpoint import FixedPointNet

VARIANTS = {"elic": {"checkerboard": True, "lrp": True}, "channel-wise": {"checkerboard": False, "lrp": True},
            "checkerboard-only": {"checkerboard": True, "lrp": False, "groups": [24]}}


def tiny(**entropy):
    torch.manual_seed(0)
    model = get_codec("gdn-context").factory(
        N=8, M=24, lambdas=[0.0035, 0.0483], entropy={"kind": "channel-context", "groups": [4, 4, 16], "width": 16, **entropy})
    return model.eval()


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("h, w", [(1, 1), (17, 33), (70, 90)])
def test_decoder_reproduces_the_encoder_bit_for_bit(photo, variant, h, w):
    model = tiny(**VARIANTS[variant])
    model.update()
    x = torch.from_numpy(photo[:h, :w]).permute(2, 0, 1)[None].float() / 255
    for q in (1.0, 1.7, 2.0):
        enc = model.compress(x, q)
        dec = model.decompress(enc["strings"], enc["payload"], q)
        assert torch.equal(enc["y_hat"], dec["y_hat"]) and torch.equal(enc["x_hat"], dec["x_hat"])


def test_decoding_takes_a_bounded_number_of_network_passes(photo, monkeypatch):
    """At most 2 parameter passes + 1 spatial + 1 LRP per group, whatever the image size."""
    model = tiny()
    model.update()
    x = torch.from_numpy(photo[:128, :192]).permute(2, 0, 1)[None].float() / 255
    enc = model.compress(x, 1.5)
    calls = []
    original = FixedPointNet.__call__
    monkeypatch.setattr(FixedPointNet, "__call__", lambda self, v: calls.append(1) or original(self, v))
    model.decompress(enc["strings"], enc["payload"], 1.5)
    assert len(calls) == 1 + 4 * len(model.entropy.groups)  # h_s + per group (2 params, spatial, LRP)


def test_shipped_form_round_trips(tmp_path, photo):
    """fp16 storage + frozen tables: the loaded model (what decoders get) codes exactly."""
    model = tiny()
    model.update()
    model_id = save_checkpoint(model, {"config": model.config}, "ctx", tmp_path)
    loaded = load_codec("ctx", folder=tmp_path)
    assert loaded.model_id == model_id
    x = torch.from_numpy(photo[:64, :80]).permute(2, 0, 1)[None].float() / 255
    enc = loaded.compress(x, 2.0)
    assert torch.equal(load_codec("ctx", folder=tmp_path).decompress(enc["strings"], enc["payload"], 2.0)["x_hat"],
                       enc["x_hat"])


def test_groups_and_bad_configs():
    assert default_groups(192) == [16, 16, 32, 64, 64] and default_groups(24) == [16, 8]
    with pytest.raises(ValueError, match="sum to M"):
        ChannelContextHyperprior(24, 8, groups=[4, 4])
    with pytest.raises(ValueError, match="unknown latent codec"):
        get_codec("hyperprior").factory(N=8, M=12, entropy={"kind": "nonsense"})
