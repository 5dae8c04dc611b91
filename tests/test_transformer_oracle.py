"""SpikingJelly 2.0 as an independent oracle for the ``transformer`` family.

Each test builds one of SpikingJelly's models (``Spikformer``, ``SpikeDrivenTransformer``, ``QKFormer``) at a small
width, builds ``transformer`` with the options of that variant, copies every SpikingJelly parameter and batch-norm
buffer into it through an explicit key map (the fused Q/K/V convs are split, ``Conv1d`` kernels ``[out, in, 1]``
become ``[out, in, 1, 1]``), runs both on the same input in train mode (batch statistics) and in eval mode (running
statistics), and requires identical spikes at the stem, attention neurons and block outputs, equal logits (atol
1e-5) and equal input and parameter gradients (atol 1e-5).  Neurons: LIF τ=2 with the input decayed, V_th 1, hard
reset to 0, sigmoid surrogate α=4, reset detached; attention neurons V_th 0.5.  SpikingJelly 2.0's ``LIFNode`` has no
backend option: it dispatches on the tensors' device, and on CPU (all tensors here) runs its torch implementation
(``SJ_LIF_CUDA_IMPLEMENTATION`` only chooses among the CUDA ones); ours use ``backend="torch"``.

How SpikingJelly 2.0's variants differ from the papers' official code (the options below follow SpikingJelly):

``spikingjelly.activation_based.model.spikformer.Spikformer`` (vs ZK-Zhou/spikformer cifar10 and imagenet code):
  - stem: the max pools sit between the norm and the neuron (``conv → BN → pool → LIF``); the official SPS pools
    the spikes (``conv → BN → LIF → pool``) → ``stem.pool_before_neuron: true``.  ``patch_size`` 4 pools the last two
    stages, 16 all four (as the official code); stem convs have no bias (as the official code).
  - Q/K/V: one fused ``Conv1d(D, 3D)`` without bias + one ``BatchNorm1d(3D)`` + one LIF, heads split inside; the
    CIFAR code has three ``nn.Linear`` (with bias) + ``BatchNorm1d``, the ImageNet code three ``Conv1d`` without bias.
    Split per channel, the fused layer is the same map as three ``D → D`` projections (``qkv_bias: false``).
  - attention output projection and both MLP layers: ``Conv1d`` without bias (official: with bias) →
    ``proj_bias: false``, ``mlp_bias: false``.
  - SSA is computed as ``(V Kᵀ) Q`` per head (``token_mixer.order: kv``; on spikes both orders give the same result).
  - the head is applied per time step (output ``[T, B, classes]``); the official code averages the features over T
    first (equal by linearity).
  - init: trunc_normal(std 0.02) on every Linear, Conv1d and Conv2d, biases 0 (official: on Linear layers only).
  - the block's neuron kwargs are not passed on: only ``spiking_neuron`` reaches the blocks (defaults τ=2,
    detach_reset, attention V_th 0.5, as the official code).

``spikingjelly.activation_based.model.spike_driven_transformer.SpikeDrivenTransformer`` (vs BICLab code):
  - stem: the three spiking stage convs and the last stage conv have a bias (official: no bias) →
    ``stem.bias: true``; the RPE conv has none (as the official code, and as ``sdt_sps`` always builds it).
  - no ``talking_heads`` Conv1d (declared but unused in the official forward) and no unused ``attn_lif``; SJ's
    ``attn_lif`` (V_th 0.5) is the official ``talking_heads_lif``.  No DVS pooling mode in the attention.
  - neurons of the stem, MLP and head take ``LIFNode`` defaults unless given kwargs: ``detach_reset`` is False
    unless passed (official: True) → the tests pass ``detach_reset=True``.
  - init: torch defaults (official: trunc_normal(std 0.02) on Conv2d, BN weight 1 / bias 0).
  - output: ``head(mean_T(head_lif(features)))``, i.e. ``[B, classes]`` (official: the same unless TET).

``spikingjelly.activation_based.model.qkformer.QKFormer`` (vs zhouchenlin2096/QKFormer imagenet code):
  - the ImageNet-style 3-stage net: init embed ``conv-BN-pool-LIF, conv-BN-pool-LIF, conv-BN-LIF`` plus a
    ``conv1×1/2-BN-LIF`` shortcut from after the first LIF → ``stem.init_widths: [0.5, 1, 1]``,
    ``init_pools: [true, true, false]``, ``shortcut_from: 0``; stage embeds pool after the FIRST conv →
    ``stem.stage_pool: first`` (the CIFAR code pools after the second).
  - every stem conv (3×3 and 1×1 shortcuts) has a bias (official: none) → ``stem.bias: true``.
  - Q and K fused into one ``Conv1d(D, 2D)`` without bias + ``BatchNorm1d(2D)`` + one LIF (official: separate, no
    bias; same map split per channel); the attention output projection has no bias (official ``proj_conv``: with
    bias) → ``proj_bias: false``; the MLP ``Conv1d`` layers have a bias (official ``Conv2d`` 1×1: with bias).
  - heads per stage (default ``(3, 6, 6)``; ``qkformer_10_384``: ``(6, 6, 6)``), the official code one count for all.
  - neurons outside the attention take ``LIFNode`` defaults unless given kwargs (``detach_reset`` False) → the tests
    pass ``detach_reset=True``.
  - init: torch defaults (official: trunc_normal(std 0.02) on Linear layers); no unused ``qkv_mp`` pool.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from torch import nn

pytest.importorskip("spikingjelly")

from spikingjelly.activation_based import functional as sj_functional
from spikingjelly.activation_based.model.qkformer import QKFormer
from spikingjelly.activation_based.model.spike_driven_transformer import SpikeDrivenTransformer
from spikingjelly.activation_based.model.spikformer import Spikformer

from snnlab import layers
from snnlab.functional import reset_net
from snnlab.math.surrogate import Sigmoid
from snnlab.models import BN, create_model
from snnlab.models.transformer import SDSA, SPS, SSA, HierarchicalEmbed, MembraneSPS, QKToken
from snnlab.neurons import LIF

T, B, CLASSES = 4, 2, 10
ATOL = 1e-5


def lif(**overrides: float) -> nn.Module:
    """The papers' neuron (the attention neurons override ``v_threshold``)."""
    settings = {"tau": 2.0, "decay_input": True, "v_threshold": 1.0, "v_reset": 0.0, "detach_reset": True}
    return LIF(**{**settings, **overrides}, surrogate=Sigmoid(alpha=4.0))


def ours(size: int, **options: object) -> nn.Module:
    return create_model("transformer", step_mode="m", backend="torch", input_shape=(3, size, size),
                        num_classes=CLASSES, make_neuron=lif, norm=BN(), **options)  # fmt: skip


# ---------------------------------------------------------------------------------------------------------- key map


def fit(tensor: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """``tensor`` in ``shape``: only trailing unit kernel dims may be added (``[o, i, 1]`` → ``[o, i, 1, 1]``)."""
    if tensor.shape != shape:
        assert tensor.shape[:2] == shape[:2] and tensor.numel() == shape.numel(), (tensor.shape, shape)
    return tensor.reshape(shape).clone()


class KeyMap:
    """SpikingJelly state → our state, entry by entry; every SpikingJelly tensor must be used."""

    def __init__(self, src: dict[str, torch.Tensor]) -> None:
        self.src = src
        self.dst: dict[str, torch.Tensor] = {}
        self.used: set[str] = set()

    def take(self, key: str, rows: slice | None) -> torch.Tensor:
        self.used.add(key)
        tensor = self.src[key]
        return tensor if rows is None else tensor[rows]

    def conv(self, sj: str, mine: str, rows: slice | None = None) -> None:
        """A conv / linear layer (its bias if SpikingJelly's has one); ``rows``: the output channels to take."""
        self.dst[f"{mine}.weight"] = self.take(f"{sj}.weight", rows)
        if f"{sj}.bias" in self.src:
            self.dst[f"{mine}.bias"] = self.take(f"{sj}.bias", rows)

    def norm(self, sj: str, mine: str, rows: slice | None = None) -> None:
        """A batch norm: affine parameters and running statistics (ours wrap ``nn.BatchNormNd`` as ``.bn``)."""
        for name in ("weight", "bias", "running_mean", "running_var"):
            self.dst[f"{mine}.bn.{name}"] = self.take(f"{sj}.{name}", rows)
        self.dst[f"{mine}.bn.num_batches_tracked"] = self.take(f"{sj}.num_batches_tracked", None)

    def state(self, net: nn.Module) -> dict[str, torch.Tensor]:
        unused = set(self.src) - self.used
        assert not unused, f"SpikingJelly tensors without a place in ours: {sorted(unused)}"
        target = net.state_dict()
        assert set(self.dst) == set(target), (sorted(set(target) - set(self.dst)), sorted(set(self.dst) - set(target)))
        return {key: fit(value, target[key].shape) for key, value in self.dst.items()}


def conv_norm_pairs(net: nn.Module, prefix: str) -> list[tuple[str, str]]:
    """Our ``(conv, norm)`` module names under ``prefix``, in the order the stem applies them."""
    convs, norms = [], []
    for name, module in net.get_submodule(prefix).named_modules(prefix=prefix):
        if isinstance(module, layers.Conv2d):
            convs.append(name)
        elif isinstance(module, layers.BatchNorm2d):
            norms.append(name)
    assert len(convs) == len(norms)
    return list(zip(convs, norms, strict=True))


def map_stem(km: KeyMap, net: nn.Module, prefix: str, sj_layers: list[tuple[str, str]]) -> None:
    for (sj_conv, sj_norm), (conv, norm) in zip(sj_layers, conv_norm_pairs(net, prefix), strict=True):
        km.conv(sj_conv, conv)
        km.norm(sj_norm, norm)


def map_split(km: KeyMap, sj_conv: str, sj_norm: str, branches: list[str], dim: int) -> None:
    """A fused projection (``Conv1d(D, n·D)`` + ``BatchNorm1d(n·D)``) into our ``n`` branches ``pointwise → norm``."""
    for i, branch in enumerate(branches):
        rows = slice(i * dim, (i + 1) * dim)
        km.conv(sj_conv, f"{branch}.0", rows)
        km.norm(sj_norm, f"{branch}.1", rows)


def map_spikformer(sj: dict[str, torch.Tensor], net: nn.Module, dim: int, depth: int) -> KeyMap:
    km = KeyMap(sj)
    stem = [
        *(f"patch_embed.stages.{i}.conv_bn.block" for i in range(4)),
        "patch_embed.positional_encoding.conv_bn.block",
    ]
    map_stem(km, net, "stages.0.0", [(f"{s}.0", f"{s}.1") for s in stem])
    for b in range(depth):
        s, o = f"blocks.{b}", f"stages.0.{b + 1}"
        map_split(km, f"{s}.attn.qkv_conv_bn.0", f"{s}.attn.qkv_conv_bn.1", [f"{o}.0.branch.0.{x}" for x in "qkv"], dim)
        km.conv(f"{s}.attn.proj_conv_bn.0", f"{o}.0.branch.1")
        km.norm(f"{s}.attn.proj_conv_bn.1", f"{o}.0.branch.2")
        km.conv(f"{s}.mlp.fc1.0", f"{o}.1.branch.0")
        km.norm(f"{s}.mlp.fc1.1", f"{o}.1.branch.1")
        km.conv(f"{s}.mlp.fc2.0", f"{o}.1.branch.3")
        km.norm(f"{s}.mlp.fc2.1", f"{o}.1.branch.4")
    km.conv("head", "head")
    return km


def map_sdt(sj: dict[str, torch.Tensor], net: nn.Module, dim: int, depth: int, hidden: int) -> KeyMap:
    km = KeyMap(sj)
    stem = [(f"patch_embed.stages.{i}.0", f"patch_embed.stages.{i}.1") for i in range(3)]
    stem += [("patch_embed.final_stage.0", "patch_embed.final_stage.1"), ("patch_embed.rpe_conv", "patch_embed.rpe_bn")]
    map_stem(km, net, "stages.0.0", stem)
    for b in range(depth):
        s, o = f"blocks.{b}", f"stages.0.{b + 1}"
        for x in "qkv":
            km.conv(f"{s}.attn.{x}_conv", f"{o}.0.branch.1.{x}.0")
            km.norm(f"{s}.attn.{x}_bn", f"{o}.0.branch.1.{x}.1")
        km.conv(f"{s}.attn.proj_conv", f"{o}.0.branch.2")
        km.norm(f"{s}.attn.proj_bn", f"{o}.0.branch.3")
        if hidden == dim:  # two residual halves o.1 and o.2, each neuron → conv → norm
            mlp = [(f"{o}.1.branch.1", f"{o}.1.branch.2"), (f"{o}.2.branch.1", f"{o}.2.branch.2")]
        else:  # one residual o.1: neuron → conv → norm → neuron → conv → norm
            mlp = [(f"{o}.1.branch.1", f"{o}.1.branch.2"), (f"{o}.1.branch.4", f"{o}.1.branch.5")]
        for i, (conv, norm) in enumerate(mlp, start=1):
            km.conv(f"{s}.mlp.fc{i}", conv)
            km.norm(f"{s}.mlp.bn{i}", norm)
    km.conv("head", "head")
    return km


def map_qkformer(sj: dict[str, torch.Tensor], net: nn.Module, dims: list[int], depths: list[int]) -> KeyMap:
    km = KeyMap(sj)
    init = [("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3"), ("shortcut.0", "shortcut.1")]
    later = [("conv1", "bn1"), ("conv2", "bn2"), ("shortcut.0", "shortcut.1")]
    for k, dim in enumerate(dims):
        e = f"patch_embed{k + 1}"
        map_stem(km, net, f"stages.{k}.0", [(f"{e}.{c}", f"{e}.{n}") for c, n in (init if k == 0 else later)])
        for j in range(depths[k]):
            s, o = f"stage{k + 1}.{j}", f"stages.{k}.{j + 1}"
            fused = "qkv_conv_bn" if k == len(dims) - 1 else "qk_conv_bn"
            branches = [f"{o}.0.branch.0.{x}" for x in ("qkv" if fused == "qkv_conv_bn" else "qk")]
            map_split(km, f"{s}.attn.{fused}.0", f"{s}.attn.{fused}.1", branches, dim)
            km.conv(f"{s}.attn.proj_conv_bn.0", f"{o}.0.branch.1")
            km.norm(f"{s}.attn.proj_conv_bn.1", f"{o}.0.branch.2")
            km.conv(f"{s}.mlp.fc1", f"{o}.1.branch.0")
            km.norm(f"{s}.mlp.bn1", f"{o}.1.branch.1")
            km.conv(f"{s}.mlp.fc2", f"{o}.1.branch.3")
            km.norm(f"{s}.mlp.bn2", f"{o}.1.branch.4")
    km.conv("head", "head")
    return km


# ------------------------------------------------------------------------------------------------------- the cases


@dataclass
class Case:
    """A SpikingJelly model, ours with the matching options, the key map, the probed pairs and the readout."""

    sj: nn.Module
    net: nn.Module
    keymap: Callable[[dict[str, torch.Tensor], nn.Module], KeyMap]  # SpikingJelly state, ours → the map
    probes: Callable[[nn.Module, nn.Module], list[tuple[str, nn.Module, nn.Module]]]
    sj_averages_time: bool  # SpikingJelly returns [B, classes] (mean over T); else [T, B, classes] like ours
    size: int
    norm_bias: tuple[float, float] = (0.0, 1.0)  # range of the random BN biases (rates neither 0 nor 1)


def spikformer(patch: int) -> Case:
    dim, depth, heads, size = 64, 2, 2, 32 if patch == 4 else 64
    sj = Spikformer(T=T, in_channels=3, img_size_h=size, img_size_w=size, patch_size=patch, num_classes=CLASSES,
                    embed_dims=dim, num_heads=heads, mlp_ratio=4.0, depths=depth)  # fmt: skip
    pools = (False, False, True, True) if patch == 4 else (True, True, True, True)
    net = ours(size, stem=SPS(pools_at=pools, pool_before_neuron=True, bias=False), token_mixer=SSA(order="kv"),
               dim=dim, depths=[depth], heads=heads, mlp_ratio=4.0, residual="spike", projection="conv",
               qkv_bias=False, proj_bias=False, mlp_bias=False, head_neuron=False)  # fmt: skip

    def probes(sj: nn.Module, net: nn.Module) -> list[tuple[str, nn.Module, nn.Module]]:
        out = [("stem", sj.patch_embed, net.stages[0][0])]
        for b in range(depth):
            block = net.stages[0][b + 1]
            out += [(f"block{b}.attention", sj.blocks[b].attn.attn_lif, block[0].branch[0].attn_neuron),
                    (f"block{b}.attn_out", sj.blocks[b].attn.proj_lif, block[0].branch[3]),
                    (f"block{b}", sj.blocks[b], block)]  # fmt: skip
        return out

    return Case(sj, net, lambda sj, net: map_spikformer(sj, net, dim, depth), probes, False, size)


def sdt(mlp_ratio: float) -> Case:
    dim, depth, heads, size = 32, 2, 2, 32
    sj = SpikeDrivenTransformer(T=T, in_channels=3, num_classes=CLASSES, embed_dims=dim, num_heads=heads,
                                depths=depth, mlp_ratio=mlp_ratio, pooling_stat="0011", detach_reset=True)  # fmt: skip
    net = ours(size, stem=MembraneSPS(pools_at=(False, False, True, True), bias=True), token_mixer=SDSA(),
               dim=dim, depths=[depth], heads=heads, mlp_ratio=mlp_ratio, residual="membrane", projection="conv",
               qkv_bias=False, proj_bias=True, mlp_bias=True, head_neuron=True)  # fmt: skip
    hidden = int(dim * mlp_ratio)

    def probes(sj: nn.Module, net: nn.Module) -> list[tuple[str, nn.Module, nn.Module]]:
        out = [("stem.rpe_neuron", sj.patch_embed.final_lif, net.stages[0][0][-1].branch[0])]
        for b in range(depth):
            block = net.stages[0][b + 1]
            mlp_neuron = block[2].branch[0] if hidden == dim else block[1].branch[3]
            out += [(f"block{b}.shortcut_neuron", sj.blocks[b].attn.shortcut_lif, block[0].branch[0]),
                    (f"block{b}.attention", sj.blocks[b].attn.attn_lif, block[0].branch[1].attn_neuron),
                    (f"block{b}.mlp_neuron2", sj.blocks[b].mlp.lif2, mlp_neuron)]  # fmt: skip
        return [*out, ("head_neuron", sj.head_lif, net.head_neuron)]

    return Case(sj, net, lambda sj, net: map_sdt(sj, net, dim, depth, hidden), probes, True, size, (-0.5, 0.5))


def qkformer() -> Case:
    dim, depths, heads, size = 64, [1, 1, 1], [1, 2, 2], 64
    sj = QKFormer(T=T, in_channels=3, num_classes=CLASSES, embed_dims=dim, num_heads=tuple(heads),
                  depths=tuple(depths), mlp_ratio=4.0, qka_type="token", detach_reset=True)  # fmt: skip
    stem = HierarchicalEmbed(stages=3, init_widths=(0.5, 1.0, 1.0), init_pools=(True, True, False), shortcut_from=0,
                             stage_pool="first", bias=True)  # fmt: skip
    net = ours(size, stem=stem, token_mixer=SSA(order="kv"), early_token_mixer=QKToken(), dim=dim, depths=depths,
               heads=heads, mlp_ratio=4.0, residual="spike", projection="conv", qkv_bias=False, proj_bias=False,
               mlp_bias=True, head_neuron=False)  # fmt: skip
    dims = [dim // 4, dim // 2, dim]

    def probes(sj: nn.Module, net: nn.Module) -> list[tuple[str, nn.Module, nn.Module]]:
        out = []
        for k in range(3):
            out.append((f"embed{k}", getattr(sj, f"patch_embed{k + 1}"), net.stages[k][0]))
            for j in range(depths[k]):
                block, sj_block = net.stages[k][j + 1], getattr(sj, f"stage{k + 1}")[j]
                out += [(f"stage{k}.block{j}.attention", sj_block.attn.attn_lif, block[0].branch[0].attn_neuron),
                        (f"stage{k}.block{j}", sj_block, block)]  # fmt: skip
        return out

    return Case(sj, net, lambda sj, net: map_qkformer(sj, net, dims, depths), probes, True, size)


CASES = {
    "spikformer-patch4": lambda: spikformer(4),
    "spikformer-patch16": lambda: spikformer(16),
    "sdt": lambda: sdt(4.0),
    "sdt-mlp_ratio1": lambda: sdt(1.0),  # hidden == dim: the MLP's extra residual
    "qkformer": qkformer,
}


def randomise_norms(sj: nn.Module, size: int, bias: tuple[float, float]) -> None:
    """Give SpikingJelly's batch norms non-trivial affine parameters and running statistics (those of one
    calibration batch), so a wrong transfer or a statistics mix-up cannot pass unseen."""
    norms = [m for m in sj.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for m in norms:
            m.weight.uniform_(0.8, 1.6)
            m.bias.uniform_(*bias)
            m.momentum = None  # cumulative average: after one batch, the running stats are that batch's
        sj.train()
        sj(torch.rand(T, B, 3, size, size) * 3)
    for m in norms:
        m.momentum = 0.1
    sj_functional.reset_net(sj)


def run(model: nn.Module, x: torch.Tensor, probes: list[nn.Module], reset: Callable[[nn.Module], None]):
    """Output and the probed modules' outputs of one fresh forward."""
    seen: list[torch.Tensor] = []
    handles = [m.register_forward_hook(lambda _m, _i, out: seen.append(out.detach().clone())) for m in probes]
    reset(model)
    try:
        out = model(x)
    finally:
        for h in handles:
            h.remove()
    assert len(seen) == len(probes)
    return out, seen


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("name", list(CASES))
def test_matches_spikingjelly(name: str, mode: str) -> None:
    torch.manual_seed(0)
    case = CASES[name]()
    sj, net = case.sj, case.net
    assert all(t.device.type == "cpu" for t in sj.state_dict().values())  # SpikingJelly's torch LIF (see above)
    randomise_norms(sj, case.size, case.norm_bias)
    net.load_state_dict(case.keymap(sj.state_dict(), net).state(net), strict=True)
    sj.train(mode == "train")
    net.train(mode == "train")

    x = torch.rand(T, B, 3, case.size, case.size) * 3
    x_sj, x_ours = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    probes = case.probes(sj, net)
    out_sj, seen_sj = run(sj, x_sj, [p[1] for p in probes], sj_functional.reset_net)
    out, seen = run(net, x_ours, [p[2] for p in probes], reset_net)

    for (label, *_), a, b in zip(probes, seen_sj, seen, strict=True):
        a, b = a.flatten(2), b.flatten(2)  # [T, B, ...]: attention maps differ only in the order of unit axes
        assert torch.equal(a, b), f"{name} {mode}: spikes differ at {label} ({(a != b).sum().item()} of {a.numel()})"
        rate = (b > 0).float().mean().item()
        assert 0 < rate < 1, f"{name} {mode}: {label} is silent or saturated (rate {rate})"

    assert out.shape == (T, B, CLASSES)
    logits = out.mean(0) if case.sj_averages_time else out
    torch.testing.assert_close(logits, out_sj, atol=ATOL, rtol=0)

    out_sj.sum().backward()
    logits.sum().backward()
    assert x_sj.grad.abs().max() > 0
    torch.testing.assert_close(x_ours.grad, x_sj.grad, atol=ATOL, rtol=0)
    # every parameter gradient, mapped through the same key map (SpikingJelly's state with gradients for parameters)
    params = dict(sj.named_parameters())
    grads = {k: params[k].grad if k in params else v for k, v in sj.state_dict().items()}
    assert all(g is not None for g in grads.values())
    expected = case.keymap(grads, net).state(net)
    for key, param in net.named_parameters():
        torch.testing.assert_close(param.grad, expected[key], atol=ATOL, rtol=ATOL, msg=lambda m, k=key: f"{k}: {m}")

    if mode == "train":  # both updated their running statistics alike
        after = case.keymap(sj.state_dict(), net).state(net)
        for key, value in net.state_dict().items():
            torch.testing.assert_close(value, after[key], atol=1e-6, rtol=1e-5, msg=lambda m, k=key: f"{k}: {m}")
