"""Fold an inference-mode batch norm (plain, step-mode or tdBN) into the convolution before it."""

from __future__ import annotations

import copy

import torch
from torch import nn

from snnlab.layers.batch_norm import _BatchNormNd
from snnlab.layers.tdbn import _ThresholdDependentBatchNormNd
from snnlab.layers.ws_conv import ScaledWSConv2d

_ConvNd = nn.modules.conv._ConvNd


def _factor(bn: nn.Module) -> float:
    """The extra factor ``bn`` applies to its normalised output; an error unless it is one affine map per channel."""
    if isinstance(bn, _ThresholdDependentBatchNormNd):
        return bn.scale
    if isinstance(bn, (_BatchNormNd, nn.modules.batchnorm._NormBase)):
        return 1.0
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
    if isinstance(conv, ScaledWSConv2d):
        raise TypeError(
            "fuse_conv_bn cannot fold into a ScaledWSConv2d: it standardises its weight in every forward, "
            "which would undo the folded BN scale"
        )
    factor = _factor(bn)  # the wrappers expose their inner BN's attributes
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("fuse_conv_bn needs running statistics; the BN was built with track_running_stats=False")
    if bn.num_features != conv.out_channels:
        raise ValueError(
            f"fuse_conv_bn: conv has {conv.out_channels} output channels but the BN normalises {bn.num_features}"
        )
    scale = factor / torch.sqrt(bn.running_var + bn.eps)
    shift = torch.zeros_like(scale) if bn.bias is None else bn.bias
    if bn.weight is not None:
        scale = scale * bn.weight
    fused = copy.deepcopy(conv)
    bias = torch.zeros_like(scale) if conv.bias is None else conv.bias
    fused.weight = nn.Parameter(conv.weight * scale.view(-1, *([1] * (conv.weight.dim() - 1))))
    fused.bias = nn.Parameter((bias - bn.running_mean) * scale + shift)
    return fused
