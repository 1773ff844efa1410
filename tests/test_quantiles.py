"""Exact quantiles of a factorized prior (entropy/quantiles.py) against CompressAI's own loss."""
import torch
from compressai.entropy_models import EntropyBottleneck

from ncodec.entropy.quantiles import solve_quantiles


def test_solved_quantiles_hit_the_targets_and_beat_aux_training():
    torch.manual_seed(0)
    eb = EntropyBottleneck(16)
    with torch.no_grad():  # a density unlike the initial one: wide, skewed tails
        for p in [*eb.matrices, *eb.biases, *eb.factors]:
            p.add_(torch.randn_like(p))
    trained = EntropyBottleneck(16)
    trained.load_state_dict(eb.state_dict())
    opt = torch.optim.Adam([trained.quantiles], lr=1e-3)  # what 500 training steps would do
    for _ in range(500):
        loss = trained.loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
    aux = solve_quantiles(eb)
    logits = eb._logits_cumulative(eb.quantiles.detach(), stop_gradient=True)
    assert torch.allclose(logits, eb.target.view(1, 1, 3).expand_as(logits), atol=1e-3)
    assert aux < 1e-2 < trained.loss().item()
    q = eb.quantiles.detach()[:, 0]
    assert torch.all(q[:, 0] < q[:, 1]) and torch.all(q[:, 1] < q[:, 2])
