"""The CompressAI architectures ncodec imports: how to build each from a state dict and which
exact coder codes its latent. Keyed by CompressAI's own zoo names."""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from ncodec.errors import InputError

# CompressAI's zoo: the MSE lambda of each quality 1..8 (what its pretrained models were trained for).
ZOO_MSE_LAMBDAS = {1: 0.0018, 2: 0.0035, 3: 0.0067, 4: 0.0130, 5: 0.0250, 6: 0.0483, 7: 0.0932, 8: 0.1800}


@dataclass(frozen=True)
class Architecture:
    name: str
    model_class: str  # attribute of compressai.models
    coder: str  # factorized | scale | mean-scale | autoregressive
    size_keys: tuple[str, str]  # state-dict keys whose first dimension is N and M
    takes_m: bool = True  # cheng2020-anchor takes N only (M = N)

    def sizes(self, state: dict, source: str = "state dict") -> tuple[int, int]:
        try:
            return tuple(int(state[k].shape[0]) for k in self.size_keys)
        except (KeyError, AttributeError, IndexError):
            raise InputError(f"{source} does not match {self.name}: it has no {' / '.join(self.size_keys)}") from None

    def build(self, N: int, M: int) -> nn.Module:
        import compressai.models

        cls = getattr(compressai.models, self.model_class)
        return cls(N, M) if self.takes_m else cls(N)

    def make_coder(self, model: nn.Module, act_bits: int, weight_bits: int):
        from ncodec.codecs.image.from_compressai import coders

        if self.coder == "factorized":
            return coders.FactorizedCoder(model, act_bits, weight_bits)
        if self.coder == "autoregressive":
            return coders.AutoregressiveCoder(model, act_bits, weight_bits)
        return coders.HyperpriorCoder(model, act_bits, weight_bits, means=self.coder == "mean-scale")


ARCHITECTURES = {a.name: a for a in (
    Architecture("bmshj2018-factorized", "FactorizedPrior", "factorized", ("g_a.0.weight", "g_a.6.weight")),
    Architecture("bmshj2018-hyperprior", "ScaleHyperprior", "scale", ("g_a.0.weight", "g_a.6.weight")),
    Architecture("mbt2018-mean", "MeanScaleHyperprior", "mean-scale", ("g_a.0.weight", "g_a.6.weight")),
    Architecture("mbt2018", "JointAutoregressiveHierarchicalPriors", "autoregressive", ("g_a.0.weight", "g_a.6.weight")),
    Architecture("cheng2020-anchor", "Cheng2020Anchor", "autoregressive",
                 ("g_a.0.conv1.weight", "g_a.0.conv1.weight"), takes_m=False),
)}


def architecture(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise InputError(f"unknown CompressAI architecture {name!r} (valid: {', '.join(ARCHITECTURES)})") from None
