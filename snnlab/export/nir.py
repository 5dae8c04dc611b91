"""Export a network to NIR, the Neuromorphic Intermediate Representation (https://neuroir.org).

``pip install "snnlab[export]"`` installs ``nir`` and ``nirtorch`` (imported on first use).

**Neurons.** A neuron exports when its declaration maps its charge to ``H = V + a·(V_reset - V) + b·X``
(:meth:`~snnlab.math.dynamics.NeuronDynamics.nir_charge`; IF: ``a = 0, b = 1``; LIF: ``a = 1/τ``, ``b = 1/τ``
with ``decay_input`` else ``b = 1``; PLIF: its current ``τ``, fixed, one per channel with ``channels``; RIF:
``a = -w, b = 1``); a declaration without a mapping (e.g. the adaptive and the current-based LIF) is an error
naming the layer.  NIR's neurons are continuous-time: LIF ``τ_nir·dv/dt = (v_leak - v) + r·I`` and IF
``dv/dt = r·I``.  One forward-Euler step of length ``dt`` gives ``v + (dt/τ_nir)·(v_leak - v + r·I)``, equal
to snnlab's step with

- LIF / PLIF / RIF: ``τ_nir = dt / a`` (``τ·dt`` for LIF), ``r = b / a`` (``1`` with ``decay_input``, ``τ``
  without; ``1/|w|`` for RIF), ``v_leak = v_reset``;
- IF: ``r = 1 / dt``;

and ``v_threshold``, ``v_reset`` as they are.  With the default ``dt = 1`` one NIR step is one snnlab step.
Differences that remain: NIR fires on ``v > v_threshold``, snnlab on ``v >= v_threshold`` (a spike differs
only where the potential equals the threshold exactly), and NIR simulators start from ``v = 0`` while snnlab
starts from ``v_reset`` (the same for the default ``v_reset = 0``).  Surrogates and ``detach_reset`` only
matter for training and are not exported.

**Layers.** Conv1d/Conv2d/Linear become ``Conv1d``/``Conv2d``/``Affine`` (``Linear`` without a bias), with a
BatchNorm or tdBN right after them folded in (:func:`snnlab.layers.fuse_conv_bn`, tdBN's ``αV_th``
included); AvgPool2d and AdaptiveAvgPool2d (when the input size is a multiple of the output size) become
``AvgPool2d``; Flatten becomes ``Flatten`` (NIR counts dimensions without the batch); Identity and dropout
(identity at inference) are dropped.  ResNet-19's ``BasicBlock`` becomes two edges into its neuron: NIR sums
the inputs of a node, which is the residual sum.

**Not expressible**, so an error naming the layer (module path and class): soft reset, max pooling, TEBN,
BNTT, NeuNorm, DropConnect, a norm not right after a conv/linear layer, RIF with ``w > 0``, a neuron without a
NIR mapping and any other module.  ``approximate=True`` exports two of them approximately: soft reset as a hard
reset to 0, and max pooling as ``SumPool2d`` (equal to the maximum while at most one spike falls in a window).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch import nn

from snnlab.layers import Dropout, NormWrapper, fuse_conv_bn
from snnlab.models.resnet import BasicBlock
from snnlab.neurons.base import BaseNode

_DROPPED = (nn.Identity, nn.modules.dropout._DropoutNd, Dropout)
_NORMS = (NormWrapper, nn.modules.batchnorm._NormBase)
_WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Linear)
_AVG_POOLS = (nn.AvgPool2d, nn.AdaptiveAvgPool2d)
_MAX_POOLS = (nn.MaxPool2d, nn.AdaptiveMaxPool2d)
APPROXIMATE = "approximate=True (`snnlab export --approximate`)"
"""How to ask for the approximate export, in the Python call and on the command line."""


class NIRExportError(ValueError):
    """A layer that NIR cannot express (the message names its module path and class)."""


def _numpy(value: Any) -> Any:
    """A parameter value as NIR takes it: a float, or an array for a per-channel tensor."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return value.item() if value.dim() == 0 else value.numpy()
    return float(value)


def import_nir() -> ModuleType:
    """The ``nir`` package, or an ImportError that says how to install it."""
    try:
        return importlib.import_module("nir")
    except ImportError as e:
        raise ImportError('NIR export needs the nir package: pip install "snnlab[export]"') from e


@dataclass(frozen=True)
class _Signal:
    """What flows between nodes: the sum of the outputs of ``sources``, one step of one sample of ``shape``."""

    sources: tuple[str, ...]
    shape: tuple[int, ...]


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _step_shape(module: nn.Module, shape: tuple[int, ...]) -> tuple[int, ...]:
    """Output shape of one step of a stateless layer for one sample of ``shape``."""
    step = getattr(module, "single_step_forward", module)
    with torch.no_grad():
        return tuple(step(torch.zeros(1, *shape)).shape[1:])


class _Exporter:
    def __init__(self, ir: ModuleType, dt: float, approximate: bool) -> None:
        self.ir, self.dt, self.approximate = ir, dt, approximate
        self.nodes: dict[str, Any] = {}
        self.edges: list[tuple[str, str]] = []

    def add(self, name: str, node: Any, x: _Signal | None, shape: tuple[int, ...]) -> _Signal:
        self.nodes[name] = node
        self.edges += [(source, name) for source in (x.sources if x else ())]
        return _Signal((name,), shape)

    @staticmethod
    def error(path: str, module: nn.Module, why: str) -> NIRExportError:
        return NIRExportError(f"cannot export layer {path or '<net>'} ({type(module).__name__}) to NIR: {why}")

    def convert(self, module: nn.Module, path: str, x: _Signal) -> _Signal:
        if isinstance(module, nn.Sequential):
            return self.sequence(module, path, x)
        if isinstance(module, BasicBlock):
            return self.basic_block(module, path, x)
        if isinstance(module, _DROPPED):
            return x
        if isinstance(module, BaseNode):
            return self.neuron(module, path, x)
        if isinstance(module, _WEIGHTED):
            return self.weighted(module, None, path, x)
        if isinstance(module, _NORMS):
            raise self.error(path, module, "a norm is exported folded into the conv/linear layer right before it")
        if isinstance(module, nn.Flatten):
            return self.flatten(module, path, x)
        if isinstance(module, (*_AVG_POOLS, *_MAX_POOLS)):
            return self.pool(module, path, x)
        raise self.error(path, module, "NIR has no equivalent node")

    def sequence(self, module: nn.Sequential, path: str, x: _Signal) -> _Signal:
        children = [(f"{path}.{name}" if path else name, child) for name, child in module.named_children()]
        i = 0
        while i < len(children):
            child_path, child = children[i]
            following = children[i + 1][1] if i + 1 < len(children) else None
            if isinstance(child, _WEIGHTED) and isinstance(following, _NORMS):
                x = self.weighted(child, (children[i + 1][0], following), child_path, x)
                i += 2
            else:
                x = self.convert(child, child_path, x)
                i += 1
        return x

    def basic_block(self, block: BasicBlock, path: str, x: _Signal) -> _Signal:
        residual = self.convert(block.conv2, f"{path}.conv2", self.convert(block.conv1, f"{path}.conv1", x))
        shortcut = self.convert(block.shortcut, f"{path}.shortcut", x)
        summed = _Signal(residual.sources + shortcut.sources, residual.shape)
        return self.convert(block.post, f"{path}.post", self.convert(block.neuron, f"{path}.neuron", summed))

    def weighted(self, layer: nn.Module, norm: tuple[str, nn.Module] | None, path: str, x: _Signal) -> _Signal:
        weight, bias = layer.weight.detach(), layer.bias
        if norm is not None:
            weight, bias = self.fold(layer, *norm)
        weight = weight.cpu().numpy()
        bias = None if bias is None else bias.detach().cpu().numpy()
        shape = _step_shape(layer, x.shape)
        if isinstance(layer, nn.Linear):
            node = self.ir.Linear(weight) if bias is None else self.ir.Affine(weight, bias)
            return self.add(path, node, x, shape)
        if layer.padding_mode != "zeros":
            raise self.error(path, layer, f"padding_mode={layer.padding_mode!r} (NIR pads with zeros)")
        bias = np.zeros(weight.shape[0], weight.dtype) if bias is None else bias
        if isinstance(layer, nn.Conv1d):
            padding = layer.padding if isinstance(layer.padding, str) else layer.padding[0]
            node = self.ir.Conv1d(x.shape[1], weight, layer.stride[0], padding, layer.dilation[0], layer.groups, bias)
        else:
            node = self.ir.Conv2d(x.shape[1:], weight, layer.stride, layer.padding, layer.dilation, layer.groups, bias)
        return self.add(path, node, x, shape)

    def fold(self, layer: nn.Module, norm_path: str, norm: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        """Weight and bias of ``norm(layer(x))`` at inference (a linear layer is folded as a 1×1 conv)."""
        conv = layer
        if isinstance(layer, nn.Linear):
            conv = nn.Conv1d(layer.in_features, layer.out_features, 1, bias=layer.bias is not None)
            conv.weight.data = layer.weight.detach()[..., None]
            if layer.bias is not None:
                conv.bias.data = layer.bias.detach()
        try:
            fused = fuse_conv_bn(conv, norm)
        except (TypeError, ValueError) as e:
            raise self.error(norm_path, norm, str(e)) from None
        weight = fused.weight.detach()
        return (weight[..., 0] if isinstance(layer, nn.Linear) else weight), fused.bias.detach()

    def neuron(self, m: BaseNode, path: str, x: _Signal) -> _Signal:
        a, b = (self.per_neuron(value, x.shape) for value in self.charge(m, path))
        v_reset = m.v_reset
        if v_reset is None:
            if not self.approximate:
                raise self.error(
                    path,
                    m,
                    "soft reset (v_reset=None): NIR neurons reset to a value; " + APPROXIMATE + " exports a "
                    "hard reset to 0",
                )
            v_reset = 0.0
        threshold, reset = (self.per_neuron(v, x.shape) for v in (m.v_threshold, v_reset))
        if not a.any():
            node = self.ir.IF(r=b / self.dt, v_threshold=threshold, v_reset=reset)
        else:
            node = self.ir.LIF(tau=self.dt / a, r=b / a, v_leak=reset, v_threshold=threshold, v_reset=reset)
        return self.add(path, node, x, x.shape)

    def charge(self, m: BaseNode, path: str) -> tuple[Any, Any]:
        """``(a, b)`` of the charge ``H = V + a·(V_reset - V) + b·X``, from the neuron's declaration."""
        dyn = m.dynamics
        values = m.param_values()
        p = SimpleNamespace(**{q.name: _numpy(values[q.name]) for q in dyn.params})
        try:
            coefficients = dyn.nir_charge(p)
        except ValueError as e:
            raise self.error(path, m, str(e)) from None
        if coefficients is None:
            raise self.error(path, m, f"NIR has no equivalent of the {type(m).__name__} neuron")
        return coefficients

    @staticmethod
    def per_neuron(value: Any, shape: tuple[int, ...]) -> np.ndarray:
        """``value`` (a scalar, or one per channel: dim 0 of ``shape``) for every neuron of one step."""
        value = np.asarray(value, dtype=np.float32)
        if value.ndim == 1:
            value = value.reshape(-1, *[1] * (len(shape) - 1))
        return np.broadcast_to(value, shape).copy()

    def flatten(self, m: nn.Flatten, path: str, x: _Signal) -> _Signal:
        if m.start_dim == 0:
            raise self.error(path, m, "start_dim=0 flattens the batch")
        start, end = (d - 1 if d > 0 else d for d in (m.start_dim, m.end_dim))
        node = self.ir.Flatten({"input": np.array(x.shape)}, start, end)
        return self.add(path, node, x, _step_shape(m, x.shape))

    def pool(self, m: nn.Module, path: str, x: _Signal) -> _Signal:
        if isinstance(m, _MAX_POOLS) and not self.approximate:
            raise self.error(path, m, f"NIR has no max pooling; {APPROXIMATE} exports it as SumPool2d")
        kernel, stride, padding = self.pool_geometry(m, path, x.shape)
        cls = self.ir.AvgPool2d if isinstance(m, _AVG_POOLS) else self.ir.SumPool2d
        node = cls(kernel_size=np.array(kernel), stride=np.array(stride), padding=np.array(padding))
        return self.add(path, node, x, _step_shape(m, x.shape))

    def pool_geometry(self, m: nn.Module, path: str, shape: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
        """``(kernel, stride, padding)`` of a pooling layer, or an error where NIR's pooling differs."""
        size = shape[-2:]
        if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            out = [s if o is None else o for s, o in zip(size, _pair(m.output_size))]
            if any(s % o for s, o in zip(size, out)):
                raise self.error(path, m, f"input size {tuple(size)} is not a multiple of the output size")
            kernel = tuple(s // o for s, o in zip(size, out))
            return kernel, kernel, (0, 0)
        kernel, padding = _pair(m.kernel_size), _pair(m.padding)
        stride = _pair(m.stride or m.kernel_size)
        if isinstance(m, nn.AvgPool2d) and (m.divisor_override or (any(padding) and not m.count_include_pad)):
            raise self.error(path, m, "NIR averages over the whole (zero-padded) window")
        if isinstance(m, nn.MaxPool2d) and _pair(m.dilation) != (1, 1):
            raise self.error(path, m, "dilated pooling")
        floor = tuple((s + 2 * p - k) // st + 1 for s, p, k, st in zip(size, padding, kernel, stride))
        if _step_shape(m, shape)[-2:] != floor:
            raise self.error(path, m, "ceil_mode adds windows past the border that NIR does not have")
        return kernel, stride, padding


def to_nir(net: nn.Module, input_shape: tuple[int, ...], dt: float = 1.0, approximate: bool = False) -> Any:
    """The ``nir.NIRGraph`` of ``net`` at inference (BN running statistics, dropout off).

    Args:
        net: a network of the layers listed in the module docstring (e.g. from ``snnlab.models.create_model``).
        input_shape: one time step of one sample, without T and batch, e.g. ``(1, 28, 28)``.
        dt: the NIR time step that one snnlab step stands for (see the module docstring for the mapping).
        approximate: export soft reset and max pooling approximately instead of raising.

    Node names are module paths (``"0.0"``, ``"3.neuron"``); a folded norm disappears into its conv.
    """
    if not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt}")
    ir = import_nir()
    exporter = _Exporter(ir, float(dt), approximate)
    shape = tuple(int(s) for s in input_shape)
    x = exporter.add("input", ir.Input(np.array(shape)), None, shape)
    y = exporter.convert(net, "", x)
    exporter.add("output", ir.Output(np.array(y.shape)), y, y.shape)
    return ir.NIRGraph(exporter.nodes, exporter.edges, metadata={"source": "snnlab", "dt": float(dt)})
