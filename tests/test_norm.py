"""Normalisation layers: step-mode BN, tdBN, TEBN, BNTT, NeuNorm and conv-BN fusion."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from snnlab import layers
from snnlab.functional import reset_net, set_step_mode
from snnlab.layers import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    BatchNormThroughTime1d,
    BatchNormThroughTime2d,
    NeuNorm,
    ScaledWSConv2d,
    TemporalEffectiveBatchNorm1d,
    TemporalEffectiveBatchNorm2d,
    ThresholdDependentBatchNorm1d,
    ThresholdDependentBatchNorm2d,
    ThresholdDependentBatchNorm3d,
    fuse_conv_bn,
)

T, B, C, H, W = 4, 3, 5, 6, 7


def _randomise_affine(bn: nn.Module, gen: torch.Generator) -> None:
    with torch.no_grad():
        bn.weight.copy_(torch.rand(bn.num_features, generator=gen) + 0.5)
        bn.bias.copy_(torch.randn(bn.num_features, generator=gen))


def _ref_bn(x: torch.Tensor, dims: tuple[int, ...], weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5):
    """Training-mode BN written out; channel is the dim not in ``dims``."""
    mean = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, keepdim=True, unbiased=False)
    shape = [1] * x.dim()
    shape[next(d for d in range(x.dim()) if d not in dims)] = -1
    return (x - mean) / torch.sqrt(var + eps) * weight.view(shape) + bias.view(shape)


# -- step-mode BatchNorm ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cls", "ref", "shape"),
    [
        (BatchNorm1d, nn.BatchNorm1d, (T, B, C)),
        (BatchNorm1d, nn.BatchNorm1d, (T, B, C, W)),
        (BatchNorm2d, nn.BatchNorm2d, (T, B, C, H, W)),
        (BatchNorm3d, nn.BatchNorm3d, (T, B, C, 2, H, W)),
    ],
)
def test_bn_multi_step_equals_torch_bn_over_flattened_time_batch(cls, ref, shape):
    torch.manual_seed(0)
    bn, plain = cls(C, step_mode="m"), ref(C)
    gen = torch.Generator().manual_seed(1)
    _randomise_affine(bn.bn, gen)
    plain.load_state_dict(bn.bn.state_dict())
    x = torch.randn(shape) * 3 + torch.arange(T).view(T, *([1] * (len(shape) - 1)))
    y = bn(x)
    y_ref = plain(x.flatten(0, 1)).unflatten(0, (T, B))
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(bn.bn.running_mean, plain.running_mean)
    torch.testing.assert_close(bn.bn.running_var, plain.running_var)
    # independent expectation: statistics over T, B (and space) jointly
    dims = tuple(d for d in range(len(shape)) if d != 2)
    torch.testing.assert_close(y, _ref_bn(x, dims, bn.bn.weight, bn.bn.bias), rtol=1e-4, atol=1e-4)


def test_bn_single_and_multi_step_agree_in_eval():
    torch.manual_seed(0)
    bn = BatchNorm2d(C)
    bn(torch.randn(8, C, H, W) * 2 + 1)  # non-trivial running statistics
    bn.eval()
    x = torch.randn(T, B, C, H, W)
    y_s = torch.stack([bn(x_t) for x_t in x])
    bn.step_mode = "m"
    torch.testing.assert_close(bn(x), y_s)


def test_bn_rank_errors_name_the_layout():
    with pytest.raises(ValueError, match=r"BatchNorm2d in step mode 'm' expects \[T, B, C, H, W\]"):
        BatchNorm2d(C, step_mode="m")(torch.randn(B, C, H, W))
    with pytest.raises(ValueError, match=r"BatchNorm1d in step mode 's' expects \[B, C\] or \[B, C, L\]"):
        BatchNorm1d(C)(torch.randn(T, B, C, W))


BN_ATTRIBUTES = ("num_features", "eps", "momentum", "affine", "track_running_stats")
BN_TENSORS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
SINGLE_BN = [
    lambda: BatchNorm2d(C, eps=1e-3, momentum=0.2, step_mode="m"),
    lambda: ThresholdDependentBatchNorm2d(0.5, 2.0, C, eps=1e-3, momentum=0.2),
    lambda: TemporalEffectiveBatchNorm2d(T, C, eps=1e-3, momentum=0.2),
]


@pytest.mark.parametrize("make", SINGLE_BN)
def test_bn_api_reads_the_inner_bn(make):
    layer = make()
    assert tuple(getattr(layer, name) for name in BN_ATTRIBUTES) == (C, 1e-3, 0.2, True, True)
    for name in BN_TENSORS:
        assert getattr(layer, name) is getattr(layer.bn, name)
    assert torch.equal(layer.running_var, torch.ones(C)) and layer.num_batches_tracked.item() == 0


@pytest.mark.parametrize("make", SINGLE_BN)
def test_bn_api_assignments_reach_the_inner_bn(make):
    torch.manual_seed(0)
    layer = make()
    layer.weight.data.fill_(2.0)
    assert torch.equal(layer.bn.weight, torch.full((C,), 2.0))
    bias = nn.Parameter(torch.arange(C, dtype=torch.float32))
    layer.bias = bias  # a Parameter goes to the inner BN, not onto the wrapper
    assert layer.bn.bias is bias and "bias" not in dict(layer.named_parameters(recurse=False))
    layer.running_mean.fill_(1.0)  # the live buffer
    layer.momentum = 0.3
    x = torch.randn(T, B, C, H, W) * 2 + 3
    layer(x)
    per_channel = x.transpose(0, 2).flatten(1)
    torch.testing.assert_close(layer.bn.running_mean, 0.7 * 1.0 + 0.3 * per_channel.mean(dim=1))
    torch.testing.assert_close(layer.bn.running_var, 0.7 * 1.0 + 0.3 * per_channel.var(dim=1, unbiased=True))
    assert layer.num_batches_tracked.item() == 1
    layer.running_var = torch.full((C,), 4.0)
    layer.eps = 0.0
    assert torch.equal(layer.bn.running_var, torch.full((C,), 4.0)) and layer.bn.eps == 0.0


@pytest.mark.parametrize("make", SINGLE_BN)
def test_bn_state_dict_keys_unchanged_and_torch_checkpoints_load(make):
    layer = make()
    keys = {f"bn.{name}" for name in BN_TENSORS}
    assert set(layer.state_dict()) == keys | ({"k"} if hasattr(layer, "k") else set())
    plain = nn.BatchNorm2d(C)
    plain.running_mean.fill_(0.5)
    plain.weight.data.fill_(3.0)
    layer.load_state_dict(layer.state_dict() | {f"bn.{k}": v for k, v in plain.state_dict().items()})
    assert torch.equal(layer.running_mean, torch.full((C,), 0.5)) and torch.equal(layer.weight, torch.full((C,), 3.0))


def test_bntt_api_shares_hyperparameters_and_keeps_statistics_per_step():
    torch.manual_seed(0)
    bntt = BatchNormThroughTime2d(T, C, eps=1e-3, momentum=0.2)
    assert tuple(getattr(bntt, name) for name in BN_ATTRIBUTES) == (C, 1e-3, 0.2, True, True)
    for name in BN_TENSORS:  # per step only: bns[t].<name>
        assert not hasattr(bntt, name)
    bntt.momentum = 0.5
    assert [bn.momentum for bn in bntt.bns] == [0.5] * T
    x = torch.randn(T, B, C, H, W) + torch.arange(T).view(T, 1, 1, 1, 1)
    for x_t in x:
        bntt(x_t)
    for t, bn in enumerate(bntt.bns):
        torch.testing.assert_close(bn.running_mean, 0.5 * x[t].mean(dim=(0, 2, 3)))
    assert set(bntt.state_dict()) == {f"bns.{t}.{name}" for t in range(T) for name in BN_TENSORS}


def _eval_by_hand(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Eval-mode output of a 2d norm layer from its running statistics, written out."""

    def bn(x: torch.Tensor, inner: nn.Module) -> torch.Tensor:
        view = (-1, 1, 1)
        x_hat = (x - inner.running_mean.view(view)) / torch.sqrt(inner.running_var.view(view) + inner.eps)
        return x_hat * inner.weight.view(view) + inner.bias.view(view)

    if isinstance(layer, BatchNormThroughTime2d):
        return torch.stack([bn(x_t, inner) for x_t, inner in zip(x, layer.bns)])
    y = bn(x, layer.bn)
    if isinstance(layer, ThresholdDependentBatchNorm2d):
        return layer.scale * (y - layer.bias.view(-1, 1, 1)) + layer.bias.view(-1, 1, 1)
    if isinstance(layer, TemporalEffectiveBatchNorm2d):
        return y * layer.k.view(T, 1, 1, 1, 1)
    return y


def test_sync_batchnorm_conversion_swaps_only_inner_bns_and_keeps_api_and_outputs():
    torch.manual_seed(0)
    net = nn.ModuleList(
        [
            BatchNorm2d(C, step_mode="m"),
            ThresholdDependentBatchNorm2d(0.5, 2.0, C),
            TemporalEffectiveBatchNorm2d(T, C),
            BatchNormThroughTime2d(T, C, step_mode="m"),
        ]
    )
    classes = [type(m) for m in net]
    for _ in range(3):  # non-trivial running statistics
        x = torch.randn(T, B, C, H, W) * 2 + 1
        for layer in net:
            layer(x)
        reset_net(net)
    gen = torch.Generator().manual_seed(7)
    for bn in [net[0].bn, net[1].bn, net[2].bn, *net[3].bns]:
        _randomise_affine(bn, gen)
    with torch.no_grad():
        net[2].k.copy_(torch.tensor([0.5, 1.0, 2.0, -1.0]))
    net.eval()
    x = torch.randn(T, B, C, H, W)
    before = [layer(x) for layer in net]
    reset_net(net)
    running_means = [net[i].running_mean.clone() for i in range(3)]

    converted = nn.SyncBatchNorm.convert_sync_batchnorm(net)

    assert [type(m) for m in converted] == classes
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in converted)
    assert all(type(m.bn) is nn.SyncBatchNorm for m in converted[:3])
    assert all(type(bn) is nn.SyncBatchNorm for bn in converted[3].bns)
    for layer, mean in zip(converted[:3], running_means):
        assert layer.running_mean is layer.bn.running_mean
        torch.testing.assert_close(layer.running_mean, mean)
    converted[1].momentum = 0.3
    converted[3].momentum = 0.3
    assert converted[1].bn.momentum == 0.3 and [bn.momentum for bn in converted[3].bns] == [0.3] * T
    for layer, y_before in zip(converted, before):
        y = layer(x)
        torch.testing.assert_close(y, y_before)
        torch.testing.assert_close(y, _eval_by_hand(layer, x), rtol=1e-4, atol=1e-5)


def test_set_step_mode_accepts_wrapped_bn_and_rejects_plain_bn():
    net = nn.Sequential(BatchNorm2d(C), BatchNormThroughTime2d(T, C))
    set_step_mode(net, "m")
    assert net[0].step_mode == net[1].step_mode == "m"
    set_step_mode(BatchNorm2d(C), "m")  # the wrapper itself as the root
    with pytest.raises(TypeError, match=r"plain torch\.nn\.BatchNorm2d"):
        set_step_mode(nn.Sequential(nn.BatchNorm2d(C)), "m")


# -- tdBN -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [1.0, 1 / math.sqrt(2)])
def test_tdbn_output_std_is_alpha_vth_with_statistics_over_time(alpha):
    torch.manual_seed(0)
    v_th = 0.5
    bn = ThresholdDependentBatchNorm2d(alpha, v_th, C)
    # every step has its own mean: per-step statistics would centre each step, T·B statistics do not
    offsets = torch.tensor([-3.0, -1.0, 1.0, 3.0]).view(T, 1, 1, 1, 1)
    x = torch.randn(T, 16, C, H, W) + offsets
    y = bn(x)
    per_channel = y.transpose(0, 2).flatten(1)
    torch.testing.assert_close(per_channel.std(dim=1, unbiased=False), torch.full((C,), alpha * v_th))
    torch.testing.assert_close(per_channel.mean(dim=1), torch.zeros(C), atol=1e-5, rtol=0)
    step_means = y.mean(dim=(1, 2, 3, 4))
    assert (step_means[-1] - step_means[0]).item() > 2 * alpha * v_th
    expected = alpha * v_th * _ref_bn(x, (0, 1, 3, 4), torch.ones(C), torch.zeros(C))
    torch.testing.assert_close(y, expected, rtol=1e-4, atol=1e-4)


def test_tdbn_affine_applies_after_threshold_scaling():
    torch.manual_seed(0)
    bn = ThresholdDependentBatchNorm1d(0.5, 3.0, C)
    _randomise_affine(bn.bn, torch.Generator().manual_seed(3))
    x = torch.randn(T, B, C)
    x_hat = _ref_bn(x, (0, 1), torch.ones(C), torch.zeros(C))  # y = λ·αV_th·x̂ + β, αV_th = 1.5
    torch.testing.assert_close(bn(x), bn.bn.weight * 1.5 * x_hat + bn.bn.bias, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "make",
    [
        lambda mode: ThresholdDependentBatchNorm2d(1.0, 1.0, C, step_mode=mode),
        lambda mode: ThresholdDependentBatchNorm3d(1.0, 1.0, C, step_mode=mode),
        lambda mode: TemporalEffectiveBatchNorm2d(T, C, step_mode=mode),
    ],
)
def test_multi_step_only_norms_refuse_single_step(make):
    with pytest.raises(
        ValueError, match=r"(ThresholdDependent|TemporalEffective)BatchNorm\dd cannot run in step mode 's'"
    ):
        make("s")
    layer = make("m")
    with pytest.raises(ValueError, match="cannot run in step mode 's'"):
        layer.step_mode = "s"
    with pytest.raises(ValueError, match="cannot run in step mode 's'"):
        set_step_mode(nn.Sequential(layer), "s")


# -- TEBN -------------------------------------------------------------------------------------------------------
def test_tebn_scales_step_t_by_k_t():
    torch.manual_seed(0)
    tebn = TemporalEffectiveBatchNorm2d(T, C)
    assert torch.equal(tebn.k.detach(), torch.ones(T))
    plain = BatchNorm2d(C, step_mode="m")
    plain.bn.load_state_dict(tebn.bn.state_dict())
    with torch.no_grad():
        tebn.k.copy_(torch.tensor([0.5, 1.0, 2.0, -1.0]))
    x = torch.randn(T, B, C, H, W)
    y, y_bn = tebn(x), plain(x)
    for t, k in enumerate([0.5, 1.0, 2.0, -1.0]):
        torch.testing.assert_close(y[t], k * y_bn[t])
    y.sum().backward()
    torch.testing.assert_close(tebn.k.grad, y_bn.detach().sum(dim=(1, 2, 3, 4)), rtol=1e-4, atol=1e-3)


def test_tebn_time_mismatch_names_both():
    with pytest.raises(ValueError, match=r"T=4.*T=3"):
        TemporalEffectiveBatchNorm1d(T, C)(torch.randn(3, B, C))


# -- BNTT -------------------------------------------------------------------------------------------------------
def _bntt_with_distinct_affine() -> BatchNormThroughTime2d:
    bntt = BatchNormThroughTime2d(T, C)
    gen = torch.Generator().manual_seed(5)
    for bn in bntt.bns:
        _randomise_affine(bn, gen)
    return bntt


def test_bntt_uses_bn_of_step_t():
    torch.manual_seed(0)
    bntt = _bntt_with_distinct_affine()
    x = torch.randn(T, B, C, H, W)
    for t in range(T):
        expected = _ref_bn(x[t], (0, 2, 3), bntt.bns[t].weight, bntt.bns[t].bias)
        torch.testing.assert_close(bntt(x[t]), expected, rtol=1e-4, atol=1e-4)
        assert bntt.t == t + 1
    for t, bn in enumerate(bntt.bns):  # each BN saw only its own step
        torch.testing.assert_close(bn.running_mean, 0.1 * x[t].mean(dim=(0, 2, 3)))


def test_bntt_single_and_multi_step_agree_and_error_past_t():
    torch.manual_seed(0)
    bntt = _bntt_with_distinct_affine()
    x = torch.randn(T, B, C, H, W)
    y_s = torch.stack([bntt(x_t) for x_t in x])
    with pytest.raises(RuntimeError, match="reset"):
        bntt(x[0])
    bntt.reset()
    assert bntt.t == 0
    bntt.step_mode = "m"
    for bn in bntt.bns:  # undo the first pass's running-stat update so both passes start equal
        bn.reset_running_stats()
    y_m = bntt(x)
    torch.testing.assert_close(y_m, y_s)
    with pytest.raises(RuntimeError, match="reset"):
        bntt(x)
    reset_net(bntt)
    with pytest.raises(ValueError, match=r"T=4.*T=2"):
        bntt(x[:2])


def test_bntt_counter_is_not_in_state_dict():
    bntt = BatchNormThroughTime1d(2, C)
    bntt(torch.randn(B, C))
    assert not any(k == "t" or k.endswith(".t") for k in bntt.state_dict())
    assert bntt.t == 1


# -- NeuNorm ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shared", [False, True])
def test_neunorm_recursion_by_hand(shared):
    k, c, h, w = 0.75, 2, 1, 2
    nn_layer = NeuNorm(c, h, w, k=k, shared_across_channels=shared)
    assert nn_layer.w.shape == ((1, h, w) if shared else (c, h, w))
    with torch.no_grad():
        nn_layer.w.copy_(torch.tensor([[[1.0, 2.0]]]) if shared else torch.tensor([[[1.0, 2.0]], [[3.0, 4.0]]]))
    # one sample; spikes per step, channels x positions
    s = [
        torch.tensor([[[[1.0, 0.0]], [[1.0, 1.0]]]]),
        torch.tensor([[[[0.0, 0.0]], [[1.0, 0.0]]]]),
        torch.tensor([[[[1.0, 1.0]], [[1.0, 1.0]]]]),
    ]
    # (1-k)/C² = 0.25/4 = 1/16; channel sums per position: [2, 1], [1, 0], [2, 2]
    x1 = [2 / 16, 1 / 16]
    x2 = [0.75 * x1[0] + 1 / 16, 0.75 * x1[1]]
    x3 = [0.75 * x2[0] + 2 / 16, 0.75 * x2[1] + 2 / 16]
    wv = [[1.0, 2.0]] * 2 if shared else [[1.0, 2.0], [3.0, 4.0]]
    outs = [nn_layer(s_t) for s_t in s]
    for out, s_t, x_t in zip(outs, s, [x1, x2, x3]):
        expected = s_t.clone()
        for ch in range(c):
            for pos in range(w):
                expected[0, ch, 0, pos] -= wv[ch][pos] * x_t[pos]
        torch.testing.assert_close(out, expected)
    torch.testing.assert_close(nn_layer.x, torch.tensor(x3).view(1, 1, 1, 2))
    # mode m from a reset gives the same sequence
    nn_layer.reset()
    nn_layer.step_mode = "m"
    torch.testing.assert_close(nn_layer(torch.stack(s)), torch.stack(outs))
    assert "x" not in nn_layer.state_dict()


def test_neunorm_shape_checks_and_reset():
    layer = NeuNorm(C, H, W)
    layer(torch.rand(B, C, H, W))
    with pytest.raises(RuntimeError, match="reset"):
        layer(torch.rand(B + 1, C, H, W))
    layer.reset()
    layer(torch.rand(B + 1, C, H, W))
    with pytest.raises(ValueError, match=r"\[B, 5, 6, 7\]"):
        layer(torch.rand(B, C, H, W + 1))


# -- fusion -----------------------------------------------------------------------------------------------------
def _train_a_few_steps(conv: nn.Module, bn: nn.Module, shape: tuple[int, ...]) -> None:
    opt = torch.optim.SGD([*conv.parameters(), *bn.parameters()], lr=0.05)
    for _ in range(5):
        opt.zero_grad()
        bn(conv(torch.randn(shape) * 2 + 0.5)).square().mean().backward()
        opt.step()


@pytest.mark.parametrize(
    ("make_conv", "make_bn", "shape"),
    [
        (lambda: nn.Conv2d(3, C, 3, padding=1), lambda: nn.BatchNorm2d(C), (B, 3, H, W)),
        (
            lambda: layers.Conv2d(3, C, 3, bias=False, step_mode="m"),
            lambda: BatchNorm2d(C, step_mode="m"),
            (T, B, 3, H, W),
        ),
        (
            lambda: layers.Conv2d(3, C, 3, step_mode="m"),
            lambda: ThresholdDependentBatchNorm2d(0.7, 0.5, C),
            (T, B, 3, H, W),
        ),
        (
            lambda: layers.Conv1d(3, C, 3, step_mode="m"),
            lambda: ThresholdDependentBatchNorm1d(1.0, 2.0, C),
            (T, B, 3, W),
        ),
    ],
)
def test_fuse_conv_bn_equals_unfused_pair_in_eval(make_conv, make_bn, shape):
    torch.manual_seed(0)
    conv, bn = make_conv(), make_bn()
    _train_a_few_steps(conv, bn, shape)
    inner = bn if isinstance(bn, nn.BatchNorm2d) else bn.bn
    assert not torch.allclose(inner.running_var, torch.ones(C))
    assert not torch.allclose(inner.weight, torch.ones(C))
    conv.eval()
    bn.eval()
    fused = fuse_conv_bn(conv, bn)
    assert type(fused) is type(conv)
    x = torch.randn(shape)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), bn(conv(x)), rtol=1e-4, atol=1e-5)


def test_fuse_conv_bn_rejects_time_varying_norms():
    with pytest.raises(TypeError, match="TEBN and BNTT"):
        fuse_conv_bn(nn.Conv2d(3, C, 3), TemporalEffectiveBatchNorm2d(T, C))
    with pytest.raises(ValueError, match="output channels"):
        fuse_conv_bn(nn.Conv2d(3, C + 1, 3), nn.BatchNorm2d(C))
    with pytest.raises(TypeError, match="cannot fold into a ScaledWSConv2d"):  # its forward undoes a folded scale
        fuse_conv_bn(ScaledWSConv2d(3, C, 3), nn.BatchNorm2d(C))
