"""The spiking-transformer family behaves as its papers' equations say: the spike products on hand-worked tensors,
each token mixer against a slow reference written from the equations on ``[N, d]`` tokens per head, both step modes
alike for every stem × mixer × residual, frozen Q/K of ``random_qk``, the stems' token maps, and bad values named by
their config key through the real config path."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
import torch
from fake_datasets import forbid_network, write_nmnist
from torch import nn
from training_helpers import compose_run

from snnlab.functional import reset_net, set_step_mode
from snnlab.layers import SpikeMask, SpikeMatMul, SpikeSum
from snnlab.models import create_model
from snnlab.models.norms import BN
from snnlab.models.transformer import SDSA, SPS, SSA, HierarchicalEmbed, MembraneSPS, QKToken, RandomQK
from snnlab.models.transformer.parts import Parts
from snnlab.neurons import LIF
from snnlab.training.run.lifecycle import prepare

T, B = 3, 2


def lif(**overrides: float) -> nn.Module:
    """The papers' LIF (τ=2, hard reset to 0), ``overrides`` as the mixers pass them (``v_threshold``)."""
    return LIF(**{"tau": 2.0, "detach_reset": True, **overrides})


# ---------------------------------------------------------------------------------------------- spike products


def test_spike_matmul_by_hand() -> None:
    a = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])  # [2, 3]
    b = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])  # [3, 2]
    product = SpikeMatMul(scale=0.5)
    torch.testing.assert_close(product(a, b), torch.tensor([[1.0, 1.0], [1.0, 2.0]]) * 0.5)
    # pairs a[i, k] != 0, b[k, j] != 0: k=0: 1×1, k=1: 1×2, k=2: 2×1
    acs = product.accumulates(a, b)
    assert acs.dtype == torch.float64 and acs.dim() == 0 and acs.item() == 5
    batched = (torch.stack([a, torch.zeros_like(a), a]), torch.stack([b, b, torch.zeros_like(b)]))  # leading dims
    assert product.accumulates(*batched).item() == 5
    torch.testing.assert_close(SpikeMatMul()(*batched)[0], a @ b)
    assert SpikeMatMul().accumulates(torch.zeros(4, 5), torch.ones(5, 6)).item() == 0


def test_spike_mask_and_sum_by_hand() -> None:
    k = torch.tensor([[1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])  # [d=2, N=4]
    mask = torch.tensor([[0.0, 1.0, 1.0, 0.0]])  # [1, N]: broadcast over the channels
    masked = SpikeMask()(mask, k)
    torch.testing.assert_close(masked, torch.tensor([[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 0.0]]))
    assert SpikeMask().accumulates(mask, k).item() == 0  # a logical AND of spikes costs no addition
    over_channels, over_tokens = SpikeSum(-2), SpikeSum(-1)
    torch.testing.assert_close(over_channels(k), torch.tensor([[1.0, 0.0, 2.0, 2.0]]))  # kept dim: [1, N]
    torch.testing.assert_close(over_tokens(k), torch.tensor([[3.0], [2.0]]))  # [d, 1]
    assert over_channels.accumulates(k).item() == 5 == over_tokens.accumulates(k).item()  # one per non-zero term
    assert SpikeSum(0).accumulates(torch.zeros(3, 3)).item() == 0


# ---------------------------------------------------------------------------------------------- mixers


def spikes(*shape: int, p: float = 0.5, seed: int = 0) -> torch.Tensor:
    return (torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) < p).float()


def eager_lif(**overrides: float) -> nn.Module:
    """A LIF that spikes often on normed input (threshold 0.25), so the Q/K/V branches are dense enough to test."""
    return lif(**{"v_threshold": 0.25, **overrides})


def build_mixer(mixer: object, dim: int, heads: int) -> nn.Module:
    module = mixer.build(dim, heads, Parts(eager_lif, BN()), qkv_bias=False)
    set_step_mode(module, "m")
    return module


def run_capturing(module: nn.Module, x: torch.Tensor, names: tuple[str, ...]) -> tuple[torch.Tensor, dict]:
    """The mixer's output and what its submodules ``names`` output (and the attention neuron's input)."""
    seen: dict[str, torch.Tensor] = {}
    hooks = [getattr(module, n).register_forward_hook(lambda m, i, o, n=n: seen.__setitem__(n, o)) for n in names]
    hooks.append(module.attn_neuron.register_forward_hook(lambda m, i, o: seen.__setitem__("attn_in", i[0])))
    out = module(x)
    for h in hooks:
        h.remove()
    return out, seen


def head_tokens(x: torch.Tensor, t: int, b: int, h: int, heads: int) -> torch.Tensor:
    """Head ``h`` of step ``t``, sample ``b`` of a ``[T, B, C, H, W]`` map as ``[N, d]`` tokens (channels split
    into contiguous groups)."""
    d = x.shape[2] // heads
    return x[t, b, h * d : (h + 1) * d].flatten(1).T


def put_head(out: torch.Tensor, tokens: torch.Tensor, t: int, b: int, h: int, heads: int) -> None:
    d = out.shape[2] // heads
    out[t, b, h * d : (h + 1) * d] = tokens.T.reshape(d, *out.shape[-2:])


def fresh_attention_neuron(x: torch.Tensor) -> torch.Tensor:
    neuron = lif(v_threshold=0.5)
    set_step_mode(neuron, "m")
    return neuron(x)


def nontrivial(x: torch.Tensor) -> None:
    """Some but not all elements spike: the comparison is not between two all-zero tensors."""
    assert 0 < x.mean().item() < 1, x.mean().item()


@pytest.mark.parametrize("order", ["qk", "kv"])
def test_ssa_is_q_kt_v_scaled_then_the_attention_neuron(order: str) -> None:
    torch.manual_seed(0)
    dim, heads, scale = 16, 2, 0.125
    module = build_mixer(SSA(order=order, scale=scale), dim, heads)
    assert module.attn_neuron.v_threshold == 0.5 and module.q[-1].v_threshold == 0.25  # the mixer's override
    x = spikes(T, B, dim, 4, 6)
    out, seen = run_capturing(module, x, ("q", "k", "v"))
    for name in "qkv":
        nontrivial(seen[name])
    pre = torch.zeros_like(x)
    for t, b, h in itertools.product(range(T), range(B), range(heads)):
        q, k, v = (head_tokens(seen[n], t, b, h, heads) for n in "qkv")  # [N, d] each
        put_head(pre, (q @ k.T @ v) * scale, t, b, h, heads)
    torch.testing.assert_close(seen["attn_in"], pre)
    torch.testing.assert_close(out, fresh_attention_neuron(pre))
    nontrivial(out)


def test_ssa_orders_give_the_same_output() -> None:
    torch.manual_seed(0)
    qk = build_mixer(SSA(order="qk"), 16, 4)
    kv = build_mixer(SSA(order="kv"), 16, 4)
    kv.load_state_dict(qk.state_dict())
    x = spikes(T, B, 16, 4, 4, seed=1)
    torch.testing.assert_close(qk(x), kv(x))


def test_qk_token_masks_k_with_the_neuron_of_the_channel_sum_of_q() -> None:
    torch.manual_seed(0)
    dim, heads = 8, 2
    module = build_mixer(QKToken(), dim, heads)
    x = spikes(T, B, dim, 3, 4)
    out, seen = run_capturing(module, x, ("q", "k"))
    n = x.shape[-2] * x.shape[-1]
    pre = torch.zeros(T, B, heads, 1, n)
    for t, b, h in itertools.product(range(T), range(B), range(heads)):
        pre[t, b, h, 0] = head_tokens(seen["q"], t, b, h, heads).sum(1)  # Σ over the head's channels, per token
    torch.testing.assert_close(seen["attn_in"], pre)
    mask = fresh_attention_neuron(pre)
    nontrivial(mask)
    ref = torch.zeros_like(x)
    for t, b, h in itertools.product(range(T), range(B), range(heads)):
        put_head(ref, head_tokens(seen["k"], t, b, h, heads) * mask[t, b, h, 0][:, None], t, b, h, heads)
    torch.testing.assert_close(out, ref)


def test_sdsa_masks_q_with_the_neuron_of_the_token_sum_of_k_and_v() -> None:
    torch.manual_seed(0)
    dim, heads = 8, 2
    module = build_mixer(SDSA(), dim, heads)
    x = spikes(T, B, dim, 3, 4)
    out, seen = run_capturing(module, x, ("q", "k", "v"))
    d = dim // heads
    pre = torch.zeros(T, B, heads, d, 1)
    for t, b, h in itertools.product(range(T), range(B), range(heads)):
        k, v = (head_tokens(seen[n], t, b, h, heads) for n in "kv")
        pre[t, b, h, :, 0] = (k * v).sum(0)  # Σ over the tokens, per channel
    torch.testing.assert_close(seen["attn_in"], pre)
    kv = fresh_attention_neuron(pre)
    nontrivial(kv)
    ref = torch.zeros_like(x)
    for t, b, h in itertools.product(range(T), range(B), range(heads)):
        put_head(ref, head_tokens(seen["q"], t, b, h, heads) * kv[t, b, h, :, 0][None, :], t, b, h, heads)
    torch.testing.assert_close(out, ref)


# ---------------------------------------------------------------------------------------------- whole networks

STEMS = {
    "sps": SPS(pools_at=(False, True, False, True)),
    "sdt_sps": MembraneSPS(pools_at=(False, True, False, True)),
    "qkformer": HierarchicalEmbed(stages=2),
}
MIXERS = {"ssa": SSA(), "random_qk": RandomQK(), "qk_token": QKToken(), "sdsa": SDSA()}


def small(stem: str, mixer: str, residual: str, **kw: object) -> nn.Module:
    """A small transformer; its batch norms (momentum 1) hold the statistics of the last training batch."""
    depths = [1] * STEMS[stem].levels
    options = {"make_neuron": eager_lif, "norm": BN(momentum=1.0), "dim": 16, "heads": 2, "depths": depths}
    return create_model("transformer", input_shape=(2, 12, 12), num_classes=5, stem=STEMS[stem],
                        token_mixer=MIXERS[mixer], residual=residual, head_neuron=residual == "membrane",
                        **options, **kw)  # fmt: skip


@pytest.mark.parametrize("residual", ["spike", "membrane"])
@pytest.mark.parametrize("mixer", list(MIXERS))
@pytest.mark.parametrize("stem", list(STEMS))
def test_step_modes_agree(stem: str, mixer: str, residual: str) -> None:
    torch.manual_seed(0)
    net = small(stem, mixer, residual)
    x = torch.rand(T, B, 2, 12, 12) * 3
    with torch.no_grad():
        net(x)  # batch statistics into the norms, so that the eval-mode network spikes
        reset_net(net)
        multi = net.eval()(x)
        reset_net(net)
        set_step_mode(net, "s")
        single = torch.stack([net(x_t) for x_t in x])
    assert multi.shape == (T, B, 5) and multi.abs().sum() > 0
    torch.testing.assert_close(single, multi)


def test_random_qk_freezes_q_and_k_and_trains_the_rest() -> None:
    torch.manual_seed(0)
    net = small("sps", "random_qk", "spike").train()
    mixer = net.stages[0][1][0].branch[0]
    frozen = {f"q.{n}" for n, _ in mixer.q.named_parameters()} | {f"k.{n}" for n, _ in mixer.k.named_parameters()}
    norms = {n for n in frozen if not n.endswith(".0.weight")}
    assert {"q.0.weight", "k.0.weight"} <= frozen and len(norms) == 4  # projection, norm weight and bias of both
    assert all(not p.requires_grad for p in [*mixer.q.parameters(), *mixer.k.parameters()])
    assert all(p.requires_grad for p in mixer.v.parameters())
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-2, weight_decay=0.05)
    net(torch.rand(T, B, 2, 12, 12) * 3).mean(0).logsumexp(-1).sum().backward()
    optimizer.step()
    after = dict(net.named_parameters())
    prefix = "stages.0.1.0.branch.0."
    unchanged = {n for n in before if torch.equal(before[n], after[n])}
    assert unchanged == {prefix + n for n in frozen}
    assert not after[prefix + "q.0.weight"].requires_grad
    ssa = small("sps", "ssa", "spike")
    assert all(p.requires_grad for p in ssa.parameters())


def token_maps(net: nn.Module, shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """``(C, H, W)`` of each stage's patch embedding output."""
    seen: list[tuple[int, ...]] = []
    hooks = [stage[0].register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape[2:]))) for stage in net.stages]
    with torch.no_grad():
        net(torch.rand(1, 1, *shape))
    for h in hooks:
        h.remove()
    return seen


@pytest.mark.parametrize(
    ("shape", "stem", "dim", "maps"),
    [
        ((3, 32, 32), SPS(), 32, [(32, 8, 8)]),  # Spikformer CIFAR: pools at stages 3, 4
        ((2, 128, 128), SPS(pools_at=(True, True, True, True)), 32, [(32, 8, 8)]),  # CIFAR10-DVS, ImageNet: 16
        ((3, 32, 32), MembraneSPS(), 32, [(32, 8, 8)]),
        ((2, 128, 128), MembraneSPS(pools_at=(True, True, True, True)), 32, [(32, 8, 8)]),
        ((3, 32, 32), HierarchicalEmbed(stages=3), 32, [(8, 32, 32), (16, 16, 16), (32, 8, 8)]),  # QKFormer CIFAR
        (
            (2, 128, 128),  # QKFormer CIFAR10-DVS: 1/8, 1/4, 1/2, 1 with pools after convs 2-4, shortcut from conv 2
            HierarchicalEmbed(stages=2, init_widths=(1 / 8, 1 / 4, 1 / 2, 1), init_pools=(0, 1, 1, 1), shortcut_from=1),
            32,
            [(16, 16, 16), (32, 8, 8)],
        ),
    ],
    ids=["sps-cifar", "sps-128", "sdt_sps-cifar", "sdt_sps-128", "qkformer-cifar", "qkformer-dvs"],
)
def test_token_maps_of_the_stems(shape: tuple[int, ...], stem: object, dim: int, maps: list) -> None:
    depths = [1] * stem.levels
    net = create_model("transformer", input_shape=shape, num_classes=10, stem=stem, dim=dim, heads=1, depths=depths)
    assert token_maps(net, shape) == maps


def stage_stream(net: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """The stream after the stem and after each block of the first stage."""
    seen: list[torch.Tensor] = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append(o.detach())) for m in net.stages[0]]
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    return seen


def test_membrane_residual_adds_real_values_and_spike_residual_adds_spikes() -> None:
    torch.manual_seed(0)
    x = torch.rand(T, B, 2, 12, 12) * 3
    for values in stage_stream(small("sps", "ssa", "spike"), x):  # sums of spikes: whole numbers
        assert torch.equal(values, values.round()) and values.min() >= 0
    membrane = stage_stream(small("sdt_sps", "sdsa", "membrane"), x)
    for values in membrane:  # norm outputs added: real values of both signs
        assert not torch.equal(values, values.round()) and values.min() < 0
    net = small("sdt_sps", "sdsa", "membrane")
    assert isinstance(net.head_neuron, LIF)
    assert isinstance(net.stages[0][1][0].branch[0], LIF)  # the block's branch starts with a neuron


# ---------------------------------------------------------------------------------------------- the real config path

TINY = ["trainer.max_epochs=1", "+trainer.limit_train_batches=2"]
SMALL = ["model=transformer", "model.dim=16", "model.heads=2", "model.depths=[1]",
         "model.stem.pools_at=[false,false,true,false]"]  # fmt: skip  # digits: 8×8 → 4×4 tokens
QKFORMER = ["model=transformer", "model/stem=qkformer", "model.stem.stages=2", "model.dim=16", "model.heads=1",
            "model.depths=[1,1]"]  # fmt: skip


def check_run(output_dir: Path, overrides: list[str]) -> None:
    """What ``python train.py`` does before training: build and try everything."""
    prepare(compose_run(output_dir, [*TINY, *overrides]))


BAD = [
    ([*SMALL, "model.heads=3"], r"model.heads=3: must divide the stage's width 16 .*: valid: 1, 2, 4, 8, 16$"),
    ([*QKFORMER, "model.heads=[2,3]"], r"model.heads=\[2, 3\]: must divide the stage's width 16 .*: valid: 1, 2, 4"),
    (
        [*SMALL, "model.stem.pools_at=[true,true,true,true]"],
        r"model.stem.pools_at=\[True, True, True, True\]: the stem's 4 pools leave no tokens of an input 8×8: "
        r"it needs at least 16×16",
    ),
    (
        [*QKFORMER, "model.stem.init_pools=[true,true]", "model.stem.stages=3", "model.depths=[1,1,1]"],
        r"model.stem.init_pools=\[True, True\]: the stem's 4 pools \(2 of init_pools, 2 between stages=3\) leave no",
    ),
    ([*SMALL, "model.stem.input=events"], r"model.stem.input='events': the stem is made for events but the data gi"),
    ([*SMALL, "model.stem.pools_at=[true]"], r"model.stem.pools_at=\[True\]: must be a list of 4 booleans"),
    ([*SMALL, "model.depths=[1,1]"], r"model.depths=\[1, 1\]: must give the blocks of each of the stem's 1 stage"),
    ([*QKFORMER, "model.depths=[1]"], r"model.depths=\[1\]: must give the blocks of each of the stem's 2 stage"),
    ([*SMALL, "model.dim=20"], r"model.dim=20: must be a multiple of 8"),
    ([*QKFORMER, "model.dim=17"], r"model.dim=17: must be divisible by 2"),
    ([*SMALL, "model.residual=add"], r"model.residual='add': valid: spike, membrane$"),
    ([*SMALL, "model.projection=mlp"], r"model.projection='mlp': valid: linear, conv$"),
    ([*SMALL, "model.token_mixer.order=vq"], r"model.token_mixer.order='vq': valid: qk, kv$"),
    ([*SMALL, "model.token_mixer.attention_threshold=0"], r"model.token_mixer.attention_threshold=0: must be a real"),
    ([*QKFORMER, "model.stem.stage_pool=third"], r"model.stem.stage_pool='third': valid: first, second$"),
    ([*SMALL, "model.stem._target_=vit"], r"model.stem._target_='vit': unknown stem 'vit'; valid: qkformer, sdt_s"),
    ([*SMALL, "dropout=dropout"], r"dropout \(dropout\): .*transformer has no dropout positions .*; use dropout=none$"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD, ids=lambda c: " ".join(c) if isinstance(c, list) else "")
def test_bad_values_name_their_key(tmp_path: Path, overrides: list[str], message: str) -> None:
    with pytest.raises(ValueError) as error:
        check_run(tmp_path, overrides)
    assert re.match(message, str(error.value)), str(error.value)
    assert not any(tmp_path.iterdir())


def test_unknown_token_mixer_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(Exception, match=r"(?s)model/token_mixer/nope.*qk_token\s+random_qk\s+sdsa\s+ssa"):
        check_run(tmp_path, [*SMALL, "model/token_mixer=nope"])
    with pytest.raises(Exception, match=r"(?s)model/stem/nope.*qkformer\s+sdt_sps\s+sps"):
        check_run(tmp_path, [*SMALL, "model/stem=nope"])


def test_event_data_on_an_image_stem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    forbid_network(monkeypatch)
    write_nmnist(tmp_path)
    events = ["data=nmnist", f"paths.data_dir={tmp_path}", "data.num_workers=0", "data.size=16"]
    with pytest.raises(ValueError) as error:
        check_run(tmp_path / "run", [*SMALL, *events, "model.stem.input=image"])
    assert re.match(r"model.stem.input='image': the stem is made for image but the data gives event frames",
                    str(error.value)), str(error.value)  # fmt: skip
    check_run(tmp_path / "run", [*SMALL, *events, "model.stem.input=events"])


@pytest.mark.parametrize(
    "overrides",
    [
        ["model/token_mixer=random_qk"],
        ["model/stem=sdt_sps", "model/token_mixer=sdsa", "model.residual=membrane", "model.head_neuron=true"],
        ["model/token_mixer=qk_token", "model.projection=linear", "model.qkv_bias=true"],
    ],
    ids=["random_qk", "sdt", "qk_token-linear"],
)
def test_component_overrides_compose_and_build(tmp_path: Path, overrides: list[str]) -> None:
    check_run(tmp_path, [*SMALL, *overrides])


def test_qkformer_with_an_early_mixer_composes_and_builds(tmp_path: Path) -> None:
    check_run(tmp_path, [*QKFORMER, "model.early_token_mixer={_target_: qk_token}"])
