"""The spiking-transformer recipes have the official implementations' parameters, less the modules those build but
never call in forward.

Each official total is written here as a layer list from the official model file (named in each function), with
torch's own counts per layer: a k×k conv ``in·out·k² (+ out bias)``, a norm ``2·C``, a linear ``in·out (+ out)``.
Where a repository's log prints its parameter count, the total is pinned to that number too.  The recipe's network
is built from the composed recipe as a run builds it; it must equal ``official − unused``.

Optional: with ``SNNLAB_REFERENCE_CODE`` pointing at a folder holding clones of the three repositories
(``spikformer`` = github.com/ZK-Zhou/spikformer, ``QKFormer`` = github.com/zhouchenlin2096/QKFormer,
``Spike-Driven-Transformer`` = github.com/BICLab/Spike-Driven-Transformer), the official model files are built (their
spikingjelly 0.0.0.0.12, old timm and einops imports replaced by parameter-free stand-ins for the duration of the
test): their ``parameters()`` and unused modules are counted, and the used tensors must have the shapes of the
recipe's, one for one; skipped otherwise.
"""

from __future__ import annotations

import itertools
import os
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from torch import nn

from snnlab import registry
from snnlab.conf import CONFIG_DIR
from snnlab.training.run.build import build_model
from snnlab.training.tools.inspection import data_spec


def conv(c_in: int, c_out: int, k: int = 1, bias: bool = False) -> int:
    """A k×k conv (Conv1d with k=1 counts as k=1)."""
    return c_in * c_out * k * k + (c_out if bias else 0)


def norm(c: int) -> int:
    """BatchNorm1d/2d or LayerNorm with affine parameters."""
    return 2 * c


def linear(n_in: int, n_out: int, bias: bool = True) -> int:
    return n_in * n_out + (n_out if bias else 0)


def params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def sps(c_in: int, dim: int) -> int:
    """Spikformer's SPS and SDT's MS_SPS: conv3×3 (no bias) + BN to D/8, D/4, D/2, D, then the RPE conv3×3 + BN."""
    widths = [c_in, dim // 8, dim // 4, dim // 2, dim, dim]
    return sum(conv(a, b, 3) + norm(b) for a, b in itertools.pairwise(widths))


def mlp(dim: int, hidden: int) -> int:
    """Two token-wise projections with bias, each + BN (Linear, Conv1d or 1×1 Conv2d: the same count)."""
    return linear(dim, hidden) + norm(hidden) + linear(hidden, dim) + norm(dim)


def attention(dim: int, branches: int, qkv_bias: bool) -> int:
    """``branches`` projections Q, K(, V) + BN each, then the output projection (bias) + BN."""
    return branches * (linear(dim, dim, qkv_bias) + norm(dim)) + linear(dim, dim) + norm(dim)


# ---------------------------------------------------------------- the official layer lists: (total, unused)


def spikformer_cifar(classes: int) -> tuple[int, int]:
    """spikformer cifar10/model.py, cifar10.yml (dim 384, layer 4, mlp_ratio 4): SPS from 3 channels; each Block
    has nn.Linear q/k/v/proj with bias (+ BatchNorm1d), the MLP nn.Linear 384 -> 1536 -> 384, and norm1, norm2 =
    LayerNorm(384) that forward never calls; head nn.Linear(384, classes)."""
    dim, depth = 384, 4
    block = attention(dim, 3, qkv_bias=True) + mlp(dim, 4 * dim)
    unused = depth * 2 * norm(dim)
    return sps(3, dim) + depth * block + unused + linear(dim, classes), unused


def spikformer_cifar10dvs() -> tuple[int, int]:
    """spikformer cifar10dvs/model.py spikformer(): dim 256, depths 2, mlp_ratios 4, 128×128 two-channel input,
    patch 16; q/k/v Conv1d without bias, proj and MLP Conv1d with bias (+ BatchNorm1d).  Never used in forward:
    pos_embed [1, 64, 256] (num_patches = (128 // 16)²), the final norm LayerNorm(256), each block's norm1, norm2."""
    dim, depth = 256, 2
    block = attention(dim, 3, qkv_bias=False) + mlp(dim, 4 * dim)
    unused = (128 // 16) ** 2 * dim + norm(dim) + depth * 2 * norm(dim)
    return sps(2, dim) + depth * block + unused + linear(dim, 10), unused


def sdt_cifar(classes: int) -> tuple[int, int]:
    """Spike-Driven-Transformer module/sps.py MS_SPS, module/ms_conv.py, model/spikeformer.py with
    conf/cifar*/2_512_300E_t4.yml (dim 512, layer 2, num_heads 8, mlp_ratio 4): q/k/v Conv2d without bias, proj and
    MLP Conv2d with bias (+ BatchNorm2d); each block's talking_heads = Conv1d(8, 8, 1, bias=False) is never called
    (its attn_lif, also unused, has no parameters); head_lif, then nn.Linear(512, classes)."""
    dim, depth, heads = 512, 2, 8
    block = attention(dim, 3, qkv_bias=False) + mlp(dim, 4 * dim)
    unused = depth * conv(heads, heads)
    return sps(3, dim) + depth * block + unused + linear(dim, classes), unused


def qkformer_stage_embed(dim: int, k: int = 3) -> int:
    """QKFormer PatchEmbeddingStage: conv3×3 D/2 -> D + BN, conv3×3 D -> D + BN, shortcut conv1×1/2 D/2 -> D + BN."""
    return conv(dim // 2, dim, k) + norm(dim) + conv(dim, dim, k) + norm(dim) + conv(dim // 2, dim) + norm(dim)


def qkformer_blocks(dim: int, n: int, token_qk: bool, ratio: int) -> int:
    """``n`` blocks: Token_QK_Attention (q, k) or Spiking_Self_Attention (q, k, v), Conv1d without bias + BN, proj
    Conv1d with bias + BN, then the MLP Conv2d with bias + BN.  The SSA's qkv_mp is a MaxPool1d (no parameters)."""
    return n * (attention(dim, 2 if token_qk else 3, qkv_bias=False) + mlp(dim, ratio * dim))


def qkformer_cifar(classes: int) -> tuple[int, int]:
    """QKFormer cifar10/model.py (= cifar100/model.py) with cifar10.yml (dim 384, layer 4, heads forced to 8):
    PatchEmbedInit(96): conv3×3 3 -> 48 -> 96 + BN, shortcut conv1×1 48 -> 96 + BN; 1 token-QK block at 96;
    PatchEmbeddingStage(192); 1 token-QK block; PatchEmbeddingStage(384); layer - 2 = 2 SSA blocks; nn.Linear."""
    d = 384
    init = conv(3, d // 8, 3) + norm(d // 8) + conv(d // 8, d // 4, 3) + norm(d // 4) + conv(d // 8, d // 4)
    init += norm(d // 4)
    stage1 = qkformer_blocks(d // 4, 1, True, 4)
    stage2 = qkformer_stage_embed(d // 2) + qkformer_blocks(d // 2, 1, True, 4)
    stage3 = qkformer_stage_embed(d) + qkformer_blocks(d, 2, False, 4)
    return init + stage1 + stage2 + stage3 + linear(d, classes), 0


def qkformer_cifar10dvs() -> tuple[int, int]:
    """QKFormer cifar10-dvs/model.py QKFormer(): embed_dims 256, mlp_ratios 1, heads 16: PatchEmbedInit(128): conv3×3
    2 -> 16 -> 32 -> 64 -> 128 + BN, shortcut conv1×1/4 32 -> 128 + BN; 1 token-QK block at 128;
    PatchEmbeddingStage(256); 1 SSA block at 256; nn.Linear(256, 10)."""
    e = 128
    widths = [2, e // 8, e // 4, e // 2, e]
    init = sum(conv(a, b, 3) + norm(b) for a, b in itertools.pairwise(widths)) + conv(e // 4, e) + norm(e)
    total = init + qkformer_blocks(e, 1, True, 1) + qkformer_stage_embed(2 * e) + qkformer_blocks(2 * e, 1, False, 1)
    return total + linear(2 * e, 10), 0


def qkformer_10_768() -> tuple[int, int]:
    """QKFormer imagenet/qkformer.py QKFormer_10_768: embed_dims 768, depths 10, heads 12, mlp_ratios 4:
    PatchEmbedInit(192): conv3×3 3 -> 96 -> 192 -> 192 + BN, shortcut conv1×1/2 96 -> 192 + BN; stage1 1 token-QK
    block at 192; PatchEmbeddingStage(384); stage2 2 token-QK blocks; PatchEmbeddingStage(768); stage3
    depths - 3 = 7 SSA blocks; nn.Linear(768, 1000)."""
    e = 192
    init = conv(3, e // 2, 3) + norm(e // 2) + conv(e // 2, e, 3) + norm(e) + conv(e, e, 3) + norm(e)
    init += conv(e // 2, e) + norm(e)
    total = init + qkformer_blocks(e, 1, True, 4) + qkformer_stage_embed(2 * e) + qkformer_blocks(2 * e, 2, True, 4)
    total += qkformer_stage_embed(4 * e) + qkformer_blocks(4 * e, 7, False, 4) + linear(4 * e, 1000)
    return total, 0


REFERENCES: dict[str, Callable[[], tuple[int, int]]] = {
    "spikformer_4_384_cifar10": lambda: spikformer_cifar(10),
    "spikformer_4_384_cifar100": lambda: spikformer_cifar(100),
    "spikformer_2_256_cifar10dvs": spikformer_cifar10dvs,
    "sdt_2_512_cifar10": lambda: sdt_cifar(10),
    "sdt_2_512_cifar100": lambda: sdt_cifar(100),
    "qkformer_4_384_cifar10": lambda: qkformer_cifar(10),
    "qkformer_4_384_cifar100": lambda: qkformer_cifar(100),
    "qkformer_cifar10dvs": qkformer_cifar10dvs,
    "qkformer_10_768_imagenet": qkformer_10_768,
}
# Counts the official logs print: QKFormer cifar10/cifar10_origin_log.txt ("param count:6706234"),
# cifar100/cifar100_origin_log.txt (6740884), cifar10-dvs/cifar10-dvs_origin_log.txt ("number of params: 1504138"),
# imagenet/imagenet_origin_log.txt ("n_parameters": 64962760).
LOGGED = {
    "qkformer_4_384_cifar10": 6_706_234,
    "qkformer_4_384_cifar100": 6_740_884,
    "qkformer_cifar10dvs": 1_504_138,
    "qkformer_10_768_imagenet": 64_962_760,
}


def recipe_net(name: str) -> nn.Module:
    """The recipe's network as a run builds it for the recipe's own data."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={name}"])
    shape, classes = data_spec(cfg)
    time_first = registry.get("data", cfg.data._target_).time_first
    return build_model(cfg, shape, classes, time_first=time_first)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_recipe_has_the_official_parameters_less_the_unused_modules(name: str) -> None:
    official, unused = REFERENCES[name]()
    assert official == LOGGED.get(name, official), "the layer list disagrees with the official log"
    ours = params(recipe_net(name))
    assert ours == official - unused, f"{name}: ours {ours:,}, official {official:,} less unused {unused:,}"


def test_the_totals_the_recipe_headers_state() -> None:
    """The official totals and unused counts that the recipe headers and the README quote."""
    got = {name: reference() for name, reference in REFERENCES.items()}
    assert got["spikformer_4_384_cifar10"] == (9_330_874, 6_144)
    assert got["spikformer_4_384_cifar100"] == (9_365_524, 6_144)
    assert got["spikformer_2_256_cifar10dvs"] == (2_585_610, 18_944)
    assert got["sdt_2_512_cifar10"] == (10_233_546, 128)
    assert got["sdt_2_512_cifar100"] == (10_279_716, 128)


# ---------------------------------------------------------------- optional: the official model files themselves

REFERENCE_CODE = os.environ.get("SNNLAB_REFERENCE_CODE")


class _Stateless(nn.Module):
    """A parameter-free stand-in (spikingjelly's LIF nodes, timm's DropPath, einops' Rearrange)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__()


def _stub(name: str, **attrs: object) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    return module


def _stand_ins() -> dict[str, types.ModuleType]:
    """The imports of the official model files, replaced by objects without parameters (or torch's own helpers)."""
    neuron = _stub("neuron", MultiStepLIFNode=_Stateless, MultiStepParametricLIFNode=_Stateless)
    parts = {"neuron": neuron, **{n: _stub(n) for n in ("layer", "surrogate", "functional")}}
    layers = {"to_2tuple": lambda x: (x, x), "trunc_normal_": torch.nn.init.trunc_normal_, "DropPath": _Stateless}
    return {
        "spikingjelly.clock_driven": _stub("spikingjelly.clock_driven", **parts),
        **{f"spikingjelly.clock_driven.{n}": part for n, part in parts.items()},
        "timm.models.layers": _stub("timm.models.layers", **layers),
        "timm.models.registry": _stub("timm.models.registry", register_model=lambda fn: fn),
        "timm.models.vision_transformer": _stub("timm.models.vision_transformer", _cfg=lambda **kw: dict(kw)),
        "einops.layers.torch": _stub("einops.layers.torch", Rearrange=_Stateless),
    }


def _load(*files: Path, name: str = "official") -> types.ModuleType:
    """The official source files executed, in order, into one module."""
    module = types.ModuleType(name)
    for file in files:
        exec(compile(file.read_text(), str(file), "exec"), module.__dict__)
    return module


# the arguments the training scripts pass (timm's create_model drops those that are None)
CIFAR_ARGS = {"img_size_h": 32, "img_size_w": 32, "in_channels": 3, "qkv_bias": False, "sr_ratios": 1, "T": 4}
SPIKFORMER_ARGS = {**CIFAR_ARGS, "patch_size": 4, "embed_dims": 384, "num_heads": 12, "mlp_ratios": 4, "depths": 4}
SDT_ARGS = {**CIFAR_ARGS, "num_heads": 8, "pooling_stat": "0011", "embed_dims": 512, "mlp_ratios": 4, "depths": 2,
            "spike_mode": "lif", "dvs_mode": False, "TET": False}  # fmt: skip
QKFORMER_ARGS = {**CIFAR_ARGS, "patch_size": 4, "embed_dims": 384, "num_heads": 8, "mlp_ratios": 4, "depths": 4}


def _official(name: str, root: Path) -> tuple[nn.Module, set[str]]:
    """The official network of recipe ``name`` and the names of the modules its forward never calls."""
    classes = 100 if name.endswith("100") else 10
    if name == "spikformer_2_256_cifar10dvs":
        return _load(root / "spikformer/cifar10dvs/model.py").spikformer(), {"pos_embed", "norm", "norm1", "norm2"}
    if name.startswith("spikformer"):
        net = _load(root / "spikformer/cifar10/model.py").spikformer(num_classes=classes, **SPIKFORMER_ARGS)
        return net, {"norm1", "norm2"}
    if name.startswith("sdt"):
        sdt = root / "Spike-Driven-Transformer"
        sys.modules["module"] = _load(sdt / "module/sps.py", sdt / "module/ms_conv.py", name="module")
        return _load(sdt / "model/spikeformer.py").sdt(num_classes=classes, **SDT_ARGS), {"talking_heads"}
    if name == "qkformer_10_768_imagenet":
        return _load(root / "QKFormer/imagenet/qkformer.py").QKFormer_10_768(T=4), set()
    if name == "qkformer_cifar10dvs":
        return _load(root / "QKFormer/cifar10-dvs/model.py").QKFormer(), set()
    return _load(root / f"QKFormer/cifar{classes}/model.py").QKFormer(num_classes=classes, **QKFORMER_ARGS), set()


@pytest.mark.skipif(not REFERENCE_CODE, reason="SNNLAB_REFERENCE_CODE (clones of the official repositories) not set")
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_the_official_code_has_the_layer_list_counts(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for module_name, stand_in in {**_stand_ins(), "module": types.ModuleType("module")}.items():
        monkeypatch.setitem(sys.modules, module_name, stand_in)  # undone after the test
    net, unused_modules = _official(name, Path(REFERENCE_CODE or ""))
    used = {n: p for n, p in net.named_parameters() if not unused_modules & set(n.split("."))}
    assert (params(net), params(net) - sum(p.numel() for p in used.values())) == REFERENCES[name]()
    # the same tensors layer for layer, up to the 1×1 kernel dims (Conv1d k=1, Conv2d 1×1 and Linear alike)
    assert sorted(map(_shape, used.values())) == sorted(map(_shape, recipe_net(name).parameters()))


def _shape(p: torch.Tensor) -> tuple[int, ...]:
    shape = tuple(p.shape)
    while len(shape) > 2 and shape[-1] == 1:
        shape = shape[:-1]
    return shape
