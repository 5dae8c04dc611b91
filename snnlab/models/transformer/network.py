"""``transformer``: the spiking-transformer family (Spikformer, Spike-driven Transformer, QKFormer) from parts.

The stem (``stem``), the token mixer (``token_mixer``; ``early_token_mixer`` for all stages but the last), the
residual style and the projections are separate choices, so one override swaps one of them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from snnlab import layers, registry
from snnlab.models.blocks import NeuronFactory, component, default_neuron, head, image_input, initialised
from snnlab.models.dropouts import DropoutFactory
from snnlab.models.inits import Init, TruncNormal
from snnlab.models.norms import NormFactory
from snnlab.models.transformer.mixers import SSA, TokenMixer
from snnlab.models.transformer.parts import Parts, Residual, membrane_mlp, spike_mlp
from snnlab.models.transformer.stems import SPS, Stem
from snnlab.validate import InvalidArgument, boolean, one_of, positive, positive_int, positive_ints

RESIDUALS = ("spike", "membrane")


class SpikingTransformer(nn.Module):
    """Stages of ``patch embedding → blocks``, then the mean over tokens, an optional neuron and the linear head."""

    def __init__(self, stages: Sequence[nn.Module], head_neuron: nn.Module | None, head: nn.Module) -> None:
        super().__init__()
        self.stages = nn.Sequential(*stages)
        self.head_neuron = head_neuron or layers.Identity()
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(x)
        return self.head(self.head_neuron(x.flatten(-2).mean(-1)))


def block(dim: int, heads: int, mixer: TokenMixer, parts: Parts, residual: str, hidden: int,
          biases: tuple[bool, bool, bool]) -> nn.Sequential:  # fmt: skip
    """One transformer block: a residual token-mixing branch, then the MLP.  ``spike``: the branches end in neurons
    and their spikes are added (Spikformer, QKFormer); ``membrane``: they start with a neuron and end in a norm,
    added to a real-valued stream (the Spike-driven Transformer's membrane shortcut)."""
    qkv_bias, proj_bias, mlp_bias = biases
    core = mixer.build(dim, heads, parts, qkv_bias)
    if residual == "spike":
        attend = nn.Sequential(core, *parts.project(dim, dim, proj_bias))
        return nn.Sequential(Residual(attend), Residual(spike_mlp(dim, hidden, parts, mlp_bias)))
    attend = nn.Sequential(parts.make_neuron(), core, *parts.project(dim, dim, proj_bias, spike=False))
    return nn.Sequential(Residual(attend), *membrane_mlp(dim, hidden, parts, mlp_bias))


@registry.register("model")
def transformer(
    input_shape: Sequence[int],
    num_classes: int,
    make_neuron: NeuronFactory = default_neuron,
    norm: NormFactory | None = None,
    dropout: DropoutFactory | None = None,
    spiking_head: bool = False,
    stem: Stem | None = None,
    token_mixer: TokenMixer | None = None,
    early_token_mixer: TokenMixer | None = None,
    dim: int = 384,
    depths: Sequence[int] = (4,),
    heads: int | Sequence[int] = 12,
    mlp_ratio: float = 4.0,
    residual: str = "spike",
    projection: str = "conv",
    qkv_bias: bool = False,
    proj_bias: bool = True,
    mlp_bias: bool = True,
    head_neuron: bool = False,
    event_input: bool | None = None,
    init: Init | None = None,
) -> SpikingTransformer:
    """A spiking transformer of width ``dim`` in its last stage (stage ``i`` of ``n`` has ``dim / 2^(n-1-i)``).

    ``depths``: blocks per stage, one entry per stage of the stem (``sps``, ``sdt_sps``: one; ``qkformer``: its
    ``stages``); ``heads``: one count for all stages or one per stage; ``token_mixer`` mixes the last stage's
    tokens and ``early_token_mixer`` (default: the same) the earlier stages'.  ``residual``: ``spike`` or
    ``membrane``; ``projection``: ``linear`` (token-wise ``nn.Linear``) or ``conv`` (1×1 conv), with biases
    ``qkv_bias`` (Q/K/V), ``proj_bias`` (attention output), ``mlp_bias``.  ``head_neuron``: a neuron before the
    head (Spike-driven Transformer).  ``event_input`` (set by the run from the data) is checked against the stem's
    ``input``.  ``init``: default ``trunc_normal`` (std 0.02) on the linear layers.  No dropout positions.
    """
    owner = "transformer"
    stem = component(stem or SPS(), Stem, "stem", owner)
    token_mixer = component(token_mixer or SSA(), TokenMixer, "token_mixer", owner)
    early = component(early_token_mixer or token_mixer, TokenMixer, "early_token_mixer", owner)
    init = component(TruncNormal() if init is None else init, Init, "init", owner)
    residual = one_of(residual, RESIDUALS, "residual", owner)
    for name, flag in (("qkv_bias", qkv_bias), ("proj_bias", proj_bias), ("mlp_bias", mlp_bias),
                       ("head_neuron", head_neuron), ("spiking_head", spiking_head)):  # fmt: skip
        boolean(flag, name, owner)
    positive(mlp_ratio, "mlp_ratio", owner)
    (dropout or DropoutFactory()).require_positions(owner, after_neurons=False, hidden_fc=False)
    depths = positive_ints(depths, "depths", owner) if not isinstance(depths, int) else [depths]
    levels = stem.levels
    if len(depths) != levels:
        raise InvalidArgument("depths", depths, f"must give the blocks of each of the stem's {levels} stage(s)", owner)
    heads = [heads] * levels if isinstance(heads, int) else list(heads)
    if len(heads) != levels:
        raise InvalidArgument("heads", heads, f"must be one count or one per stage ({levels})", owner)
    dim = positive_int(dim, "dim", owner)
    if dim % 2 ** (levels - 1):
        raise InvalidArgument("dim", dim, f"must be divisible by {2 ** (levels - 1)} (the stages halve it)", owner)
    dims = [dim // 2 ** (levels - 1 - i) for i in range(levels)]
    in_channels, _ = image_input(owner, input_shape)
    try:
        stem.check_input(input_shape, event_input)
    except InvalidArgument as e:  # a key of the stem's node: stem.<key>
        raise InvalidArgument(f"stem.{e.argument}", e.value, e.expected, owner) from e
    parts = Parts(make_neuron, norm or NormFactory(), projection)
    stages = []
    biases = (qkv_bias, proj_bias, mlp_bias)
    for i, embed in enumerate(stem.embeds(in_channels, dims, parts)):
        mixer = token_mixer if i == levels - 1 else early
        hidden = max(1, round(dims[i] * mlp_ratio))
        blocks = [block(dims[i], heads[i], mixer, parts, residual, hidden, biases) for _ in range(depths[i])]
        stages.append(nn.Sequential(embed, *blocks))
    net = SpikingTransformer(stages, make_neuron() if head_neuron else None,
                             head(dim, num_classes, make_neuron, spiking_head))  # fmt: skip
    return initialised(net, init)
