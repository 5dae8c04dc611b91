"""Stems of the spiking transformers (the ``stem`` components): image or event frames in, token maps out.

A stem makes one patch embedding per stage of the network: ``embeds(in_channels, dims, parts)`` gives the module of
each stage ``i`` of width ``dims[i]``.  Pools are max pools 3×3 / stride 2 / padding 1 (``h → ⌊(h − 1) / 2⌋ + 1``), as
in all three papers' code.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from snnlab import layers, registry
from snnlab.models.transformer.parts import Parts, Residual
from snnlab.validate import InvalidArgument, boolean, one_of, positive_int

INPUTS = ("any", "image", "events")


def pool() -> nn.Module:
    """The papers' max pool (3×3, stride 2, padding 1): ``h → ⌊(h − 1) / 2⌋ + 1``."""
    return layers.MaxPool2d(3, 2, 1)


def flags(values: Sequence[object], length: int | None, argument: str, owner: str) -> tuple[bool, ...]:
    """A list of booleans (``length`` of them when given); 0/1 are read as false/true."""
    ok = isinstance(values, Sequence) and not isinstance(values, str) and (length is None or len(values) == length)
    if not ok or not all(v in (0, 1) for v in values):
        size = f"{length} " if length else ""
        raise InvalidArgument(argument, values, f"must be a list of {size}booleans, one per conv stage", owner)
    return tuple(bool(v) for v in values)


@dataclass(frozen=True, kw_only=True)
class Stem:
    """The base of the stems: ``input`` is the data the stem is made for (``image``, ``events`` or ``any``)."""

    input: str = "any"
    bias: bool = False
    name: ClassVar[str] = "stem"

    def __post_init__(self) -> None:
        one_of(self.input, INPUTS, "input", self.name)
        boolean(self.bias, "bias", self.name)

    @property
    def levels(self) -> int:
        """Stages of the network (one patch embedding each)."""
        return 1

    def pools(self) -> int:
        """Halvings of the input's height and width before the last stage."""
        raise NotImplementedError

    def pools_key(self) -> tuple[str, object, str]:
        """The key that sets the pools, its value, and how they are counted (for the error of too small inputs)."""
        raise NotImplementedError

    def check_input(self, input_shape: Sequence[int], event_input: bool | None) -> None:
        """Refuse data the stem is not made for, and inputs too small for its pools."""
        if event_input is not None and self.input != "any" and event_input != (self.input == "events"):
            given, valid = ("event frames", "events") if event_input else ("static images", "image")
            raise InvalidArgument(
                "input", self.input, f"the stem is made for {self.input} but the data gives {given} "
                f"(input_shape {tuple(input_shape)}); valid for this data: {valid}, any", self.name
            )  # fmt: skip
        need = 2 ** self.pools()
        if min(input_shape[1:]) < need:
            key, value, counted = self.pools_key()
            raise InvalidArgument(
                key, value, f"the stem's {self.pools()} pools{counted} leave no tokens of an input "
                f"{input_shape[1]}×{input_shape[2]}: it needs at least {need}×{need} (use fewer pools or larger "
                "inputs)", self.name
            )  # fmt: skip

    def embeds(self, in_channels: int, dims: Sequence[int], parts: Parts) -> list[nn.Module]:
        raise NotImplementedError


def conv_stages(
    widths: Sequence[int], pools: Sequence[bool], in_channels: int, parts: Parts, bias: bool, pool_first: bool
) -> list[nn.Module]:
    """``conv3×3 → norm → neuron`` per width, with a max pool after the neuron (or, ``pool_first``, before it)."""
    out: list[nn.Module] = []
    for width, has_pool in zip(widths, pools, strict=True):
        out += parts.conv_norm(in_channels, width, bias)
        tail = [parts.make_neuron()] + ([pool()] if has_pool else [])
        out += tail[::-1] if pool_first else tail
        in_channels = width
    return out


@registry.register("stem", "sps")
@dataclass(frozen=True, kw_only=True)
class SPS(Stem):
    """Spikformer's spiking patch splitting: four ``conv3×3 → norm → neuron`` stages of widths D/8, D/4, D/2, D, a
    max pool after the neuron of each stage marked in ``pools``, then a relative position embedding
    ``conv3×3 → norm → neuron`` whose spikes are added to the stage output.  ``pool_before_neuron``: the pools sit
    between the norm and the neuron instead (SpikingJelly 2.0's Spikformer; the official code pools the spikes)."""

    pools_at: tuple[bool, ...] = (False, False, True, True)
    pool_before_neuron: bool = False
    name: ClassVar[str] = "sps"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "pools_at", flags(self.pools_at, 4, "pools_at", self.name))
        boolean(self.pool_before_neuron, "pool_before_neuron", self.name)

    def pools(self) -> int:
        return sum(self.pools_at)

    def pools_key(self) -> tuple[str, object, str]:
        return "pools_at", list(self.pools_at), ""

    def widths(self, dim: int) -> list[int]:
        if dim % 8:
            raise InvalidArgument("dim", dim, "must be a multiple of 8 (the stem's widths are D/8, D/4, D/2, D)",
                                  "transformer")  # fmt: skip
        return [dim // 8, dim // 4, dim // 2, dim]

    def embeds(self, in_channels: int, dims: Sequence[int], parts: Parts) -> list[nn.Module]:
        (dim,) = dims
        body = conv_stages(self.widths(dim), self.pools_at, in_channels, parts, self.bias, self.pool_before_neuron)
        rpe = nn.Sequential(*parts.conv_norm(dim, dim, self.bias), parts.make_neuron())
        return [nn.Sequential(*body, Residual(rpe))]


@registry.register("stem", "sdt_sps")
@dataclass(frozen=True, kw_only=True)
class MembraneSPS(SPS):
    """The Spike-driven Transformer's SPS: as ``sps`` but the last stage stops at its norm (and max pool) and the
    position embedding ``neuron → conv3×3 → norm`` is added to that membrane-like map (the blocks' shortcut)."""

    name: ClassVar[str] = "sdt_sps"

    def embeds(self, in_channels: int, dims: Sequence[int], parts: Parts) -> list[nn.Module]:
        (dim,) = dims
        widths = self.widths(dim)
        body = conv_stages(widths[:3], self.pools_at[:3], in_channels, parts, self.bias, self.pool_before_neuron)
        body += parts.conv_norm(widths[2], dim, self.bias) + ([pool()] if self.pools_at[3] else [])
        rpe = nn.Sequential(parts.make_neuron(), *parts.conv_norm(dim, dim, False))
        return [nn.Sequential(*body, Residual(rpe))]


@registry.register("stem", "qkformer")
@dataclass(frozen=True, kw_only=True)
class HierarchicalEmbed(Stem):
    """QKFormer's hierarchical patch embedding, one per stage, each a spiking conv path plus a spiking 1×1 shortcut.

    Stage 0: ``conv3×3 → norm → [pool] → neuron`` per entry of ``init_widths`` (fractions of the stage's width) and
    ``init_pools``; a shortcut ``conv1×1 (stride 2^pools after it) → norm → neuron`` from the output of conv stage
    ``shortcut_from`` is added.  Stages 1, 2, …: two ``conv3×3 → norm → neuron``, the pool before the neuron of the
    ``stage_pool`` one (``second``: CIFAR code; ``first``: ImageNet code), plus ``conv1×1 / stride 2 → norm →
    neuron`` from the stage input.  ``stages``: stages of the network.
    """

    stages: int = 3
    init_widths: tuple[float, ...] = (0.5, 1.0)
    init_pools: tuple[bool, ...] = (False, False)
    shortcut_from: int = 0
    stage_pool: str = "second"
    name: ClassVar[str] = "qkformer"

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int(self.stages, "stages", self.name)
        one_of(self.stage_pool, ("first", "second"), "stage_pool", self.name)
        n = len(self.init_widths) if isinstance(self.init_widths, Sequence) else 0
        fractions = n and all(isinstance(f, (int, float)) and 0 < f <= 1 for f in self.init_widths)
        if not fractions or self.init_widths[-1] != 1:
            raise InvalidArgument("init_widths", self.init_widths, "must be a list of fractions in (0, 1] of the "
                                  "stage's width ending in 1", self.name)  # fmt: skip
        object.__setattr__(self, "init_pools", flags(self.init_pools, n, "init_pools", self.name))
        if self.shortcut_from not in range(n - 1):
            raise InvalidArgument("shortcut_from", self.shortcut_from, f"must be a conv stage in 0..{n - 2}",
                                  self.name)  # fmt: skip

    @property
    def levels(self) -> int:
        return self.stages

    def pools(self) -> int:
        return sum(self.init_pools) + self.stages - 1

    def pools_key(self) -> tuple[str, object, str]:
        counted = f" ({sum(self.init_pools)} of init_pools, {self.stages - 1} between stages={self.stages})"
        return "init_pools", list(self.init_pools), counted

    def embeds(self, in_channels: int, dims: Sequence[int], parts: Parts) -> list[nn.Module]:
        widths = [max(1, round(dims[0] * f)) for f in self.init_widths]
        cut = self.shortcut_from + 1
        head = conv_stages(widths[:cut], self.init_pools[:cut], in_channels, parts, self.bias, pool_first=True)
        tail = conv_stages(widths[cut:], self.init_pools[cut:], widths[cut - 1], parts, self.bias, pool_first=True)
        stride = 2 ** sum(self.init_pools[cut:])
        side = nn.Sequential(*parts.conv_norm(widths[cut - 1], dims[0], self.bias, 1, stride), parts.make_neuron())
        out: list[nn.Module] = [nn.Sequential(*head, Residual(side, nn.Sequential(*tail)))]
        for prev, dim in itertools.pairwise(dims):
            pools = (self.stage_pool == "first", self.stage_pool == "second")
            main = nn.Sequential(*conv_stages([dim, dim], pools, prev, parts, self.bias, pool_first=True))
            side = nn.Sequential(*parts.conv_norm(prev, dim, self.bias, 1, 2), parts.make_neuron())
            out.append(Residual(side, main))
        return out
