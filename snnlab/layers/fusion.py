"""Fold an inference-mode batch norm (plain, step-mode or tdBN) into the convolution before it."""

from __future__ import annotations

import copy

import torch
from torch import nn

from snnlab.layers.batch_norm import _BatchNormNd
from snnlab.layers.tdbn import _ThresholdDependentBatchNormNd

_ConvNd = nn.modules.conv._ConvNd


def _unwrap(bn: nn.Module) -> tuple[nn.modules.batchnorm._NormBase, float]:
    """The torch BN that holds the statistics and the extra factor applied to its normalised output."""
    if isinstance(bn, _ThresholdDependentBatchNormNd):
        return bn.bn, bn.scale
    if isinstance(bn, _BatchNormNd):
        return bn.bn, 1.0
    if isinstance(bn, nn.modules.batchnorm._NormBase):
        return bn, 1.0
    raise TypeError(
        f"fuse_conv_bn cannot fold a {type(bn).__name__}: only BatchNorm and tdBN apply one affine map per "
        "channel at inference (TEBN and BNTT vary over time)"
    )


@torch.no_grad()
def fuse_conv_bn(conv: _ConvNd, bn: nn.Module) -> _ConvNd:
    """A copy of ``conv`` whose output equals ``bn(conv(x))`` with ``bn`` in eval mode (running statistics).

    With ``s = f·γ / sqrt(σ² + ε)`` per output channel (``f = αV_th`` for tdBN, else 1):
    ``W' = s·W`` and ``b' = s·(b - μ) + β``.  The copy keeps ``conv``'s class, so a step-mode conv stays one.
    """
    if not isinstance(conv, _ConvNd) or conv.transposed:
        raise TypeError(f"fuse_conv_bn expects a (non-transposed) convolution, got {type(conv).__name__}")
    inner, factor = _unwrap(bn)
    if inner.running_mean is None or inner.running_var is None:
        raise ValueError("fuse_conv_bn needs running statistics; the BN was built with track_running_stats=False")
    if inner.num_features != conv.out_channels:
        raise ValueError(
            f"fuse_conv_bn: conv has {conv.out_channels} output channels but the BN normalises {inner.num_features}"
        )
    scale = factor / torch.sqrt(inner.running_var + inner.eps)
    shift = torch.zeros_like(scale) if inner.bias is None else inner.bias
    if inner.weight is not None:
        scale = scale * inner.weight
    fused = copy.deepcopy(conv)
    bias = torch.zeros_like(scale) if conv.bias is None else conv.bias
    fused.weight = nn.Parameter(conv.weight * scale.view(-1, *([1] * (conv.weight.dim() - 1))))
    fused.bias = nn.Parameter((bias - inner.running_mean) * scale + shift)
    return fused
