"""Token mixers of the spiking transformers (the ``token_mixer`` components).

A mixer builds the part of a block between its input spikes and its output projection: the Q/K/V branches
(``pointwise → norm → neuron``) and the spike products, which are modules (:mod:`snnlab.layers.spike_products`) so
monitors and energy meters see them.  The attention neuron is the run's neuron with ``v_threshold`` set to
``attention_threshold`` (0.5 in all three papers).  Heads split the channels into contiguous groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from snnlab import registry
from snnlab.layers import SpikeMask, SpikeMatMul, SpikeSum
from snnlab.models.transformer.parts import Parts
from snnlab.validate import InvalidArgument, one_of, positive, positive_int


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``[..., C, H, W]`` → ``[..., heads, C / heads, H·W]``."""
    *lead, c, h, w = x.shape
    return x.reshape(*lead, heads, c // heads, h * w)


@dataclass(frozen=True, kw_only=True)
class TokenMixer:
    """The base of the mixers."""

    attention_threshold: float = 0.5
    name: ClassVar[str] = "token_mixer"

    def __post_init__(self) -> None:
        positive(self.attention_threshold, "attention_threshold", self.name)

    def check_heads(self, dim: int, heads: int) -> None:
        positive_int(heads, "heads", "transformer")
        if dim % heads:
            valid = ", ".join(str(n) for n in range(1, dim + 1) if dim % n == 0)
            raise InvalidArgument("heads", heads, f"must divide the stage's width {dim} (the {self.name} mixer "
                                  f"splits the channels into equal heads): valid: {valid}", "transformer")  # fmt: skip

    def build(self, dim: int, heads: int, parts: Parts, qkv_bias: bool) -> nn.Module:
        self.check_heads(dim, heads)
        return self.make(dim, heads, parts, qkv_bias)

    def make(self, dim: int, heads: int, parts: Parts, qkv_bias: bool) -> nn.Module:
        raise NotImplementedError

    def attention_neuron(self, parts: Parts) -> nn.Module:
        return parts.neuron(v_threshold=self.attention_threshold)


class SpikingSelfAttention(nn.Module):
    """Spikformer's SSA: ``neuron(Q Kᵀ V · scale)`` per head, no softmax.  ``order`` picks the product computed
    first (``qk``: ``(Q Kᵀ) V``; ``kv``: ``Q (Kᵀ V)``); the results are equal, the operations counted differ."""

    def __init__(self, q: nn.Module, k: nn.Module, v: nn.Module, neuron: nn.Module, heads: int, scale: float,
                 order: str) -> None:  # fmt: skip
        super().__init__()
        self.q, self.k, self.v, self.attn_neuron = q, k, v, neuron
        self.heads, self.order = heads, order
        self.first, self.second = SpikeMatMul(), SpikeMatMul(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (split_heads(f(x), self.heads) for f in (self.q, self.k, self.v))  # [..., heads, d, N]
        if self.order == "qk":
            out = self.second(self.first(q.transpose(-1, -2), k), v.transpose(-1, -2))  # [..., N, d]
        else:
            out = self.second(q.transpose(-1, -2), self.first(k, v.transpose(-1, -2)))
        return self.attn_neuron(out.transpose(-1, -2).reshape(x.shape))

    def extra_repr(self) -> str:
        return f"heads={self.heads}, order={self.order}"


@registry.register("token_mixer", "ssa")
@dataclass(frozen=True, kw_only=True)
class SSA(TokenMixer):
    """Spiking self-attention (Spikformer; QKFormer's last stage): ``scale`` 0.125 in the CIFAR/ImageNet code,
    0.25 in Spikformer's CIFAR10-DVS code."""

    scale: float = 0.125
    order: str = "qk"
    name: ClassVar[str] = "ssa"

    def __post_init__(self) -> None:
        super().__post_init__()
        positive(self.scale, "scale", self.name)
        one_of(self.order, ("qk", "kv"), "order", self.name)

    def make(self, dim: int, heads: int, parts: Parts, qkv_bias: bool) -> nn.Module:
        q, k, v = (parts.project(dim, dim, qkv_bias) for _ in range(3))
        return SpikingSelfAttention(q, k, v, self.attention_neuron(parts), heads, self.scale, self.order)


@registry.register("token_mixer", "random_qk")
@dataclass(frozen=True, kw_only=True)
class RandomQK(SSA):
    """SSA whose Q and K projections (and their norms' affine parameters) keep their random initial values: an
    ablation of what the attention learns."""

    name: ClassVar[str] = "random_qk"

    def make(self, dim: int, heads: int, parts: Parts, qkv_bias: bool) -> nn.Module:
        mixer = super().make(dim, heads, parts, qkv_bias)
        for branch in (mixer.q, mixer.k):
            branch.requires_grad_(False)
        return mixer


class TokenQKAttention(nn.Module):
    """QKFormer's Q-K token attention: per head, the neuron of ``Σ_channels Q`` masks the tokens of ``K``."""

    def __init__(self, q: nn.Module, k: nn.Module, neuron: nn.Module, heads: int) -> None:
        super().__init__()
        self.q, self.k, self.attn_neuron, self.heads = q, k, neuron, heads
        self.sum, self.mask = SpikeSum(-2), SpikeMask()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        token_mask = self.attn_neuron(self.sum(split_heads(self.q(x), self.heads)))  # [..., heads, 1, N]
        return self.mask(token_mask, split_heads(self.k(x), self.heads)).reshape(x.shape)

    def extra_repr(self) -> str:
        return f"heads={self.heads}"


@registry.register("token_mixer", "qk_token")
@dataclass(frozen=True, kw_only=True)
class QKToken(TokenMixer):
    """Q-K token attention (QKFormer): linear in the number of tokens, no V."""

    name: ClassVar[str] = "qk_token"

    def make(self, dim: int, heads: int, parts: Parts, qkv_bias: bool) -> nn.Module:
        q, k = (parts.project(dim, dim, qkv_bias) for _ in range(2))
        return TokenQKAttention(q, k, self.attention_neuron(parts), heads)


class SpikeDrivenSelfAttention(nn.Module):
    """The Spike-driven Transformer's SDSA: ``Q ⊙ neuron(Σ_tokens K ⊙ V)``, all masks and sums."""

    def __init__(self, q: nn.Module, k: nn.Module, v: nn.Module, neuron: nn.Module, heads: int) -> None:
        super().__init__()
        self.q, self.k, self.v, self.attn_neuron, self.heads = q, k, v, neuron, heads
        self.kv_mask, self.sum, self.q_mask = SpikeMask(), SpikeSum(-1), SpikeMask()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (split_heads(f(x), self.heads) for f in (self.q, self.k, self.v))
        kv = self.attn_neuron(self.sum(self.kv_mask(k, v)))  # [..., heads, d, 1]
        return self.q_mask(q, kv).reshape(x.shape)

    def extra_repr(self) -> str:
        return f"heads={self.heads}"


@registry.register("token_mixer", "sdsa")
@dataclass(frozen=True, kw_only=True)
class SDSA(TokenMixer):
    """Spike-driven self-attention (Spike-driven Transformer): linear in tokens and channels."""

    name: ClassVar[str] = "sdsa"

    def make(self, dim: int, heads: int, parts: Parts, qkv_bias: bool) -> nn.Module:
        q, k, v = (parts.project(dim, dim, qkv_bias) for _ in range(3))
        return SpikeDrivenSelfAttention(q, k, v, self.attention_neuron(parts), heads)
