"""Every registered model builds and runs for every input layout, with every neuron, norm and dropout."""

from __future__ import annotations

import pytest
import torch

from snnlab import registry
from snnlab.functional import reset_net, set_step_mode
from snnlab.models import BNTT, AvgPool, DropConnect, MaxPool, SpikingDropout, TdBN, create_model, list_models
from snnlab.models.blocks import SEWBlock
from snnlab.validate import InvalidArgument

SHAPES = [(1, 28, 28), (3, 32, 32), (2, 48, 48), (2, 34, 34)]
SMALL = {
    "cnn": {},
    "mlp": {"hidden": [16]},
    "vgg": {"width_mult": 1 / 16},
    "resnet19": {"width_mult": 1 / 32},
    "bntt_vgg": {"width_mult": 1 / 16},
    "vggsnn": {"width_mult": 1 / 16},
    "cifarnet": {"width_mult": 1 / 32},
    "plif_net": {"channels": 8, "hidden": 16},
    "sew_resnet": {"depth": 18, "width_mult": 1 / 16},
    "sew_dvs": {"channels": [4, 4, 8]},
    "ottt_vgg": {"width_mult": 1 / 16},  # scaled-WS convs, no norm by default (OTTT's normaliser-free VGG)
    "transformer": {"dim": 16, "heads": 2, "depths": [1]},
}
MODELS = list_models()  # the sweeps take every registered family, so a new one cannot be left out
NO_DROPOUT = {
    "sew_resnet",
    "sew_dvs",
    "vggsnn",
    "transformer",
}  # no dropout position: they refuse dropout


def small(name: str) -> dict:
    """Options that keep ``name`` small enough for the sweeps (a family without an entry runs with its defaults)."""
    return SMALL.get(name, {})


def test_registry_lists_the_families() -> None:
    assert set(SMALL) <= set(MODELS), f"SMALL names unregistered models: {sorted(set(SMALL) - set(MODELS))}"
    assert "ottt_vgg" in MODELS


def test_unknown_model_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'nope'.*cnn"):
        create_model("nope", input_shape=(1, 8, 8), num_classes=10)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", MODELS)
def test_model_forward_any_input_size(name: str, shape: tuple[int, ...]) -> None:
    net = create_model(name, input_shape=shape, num_classes=10, **small(name))
    out = net(torch.rand(2, 3, *shape) * 4)
    assert out.shape == (2, 3, 10)
    out.sum().backward()
    for pname, p in net.named_parameters():
        assert p.grad is not None, f"{name}: no gradient reaches {pname}"


@pytest.mark.parametrize("depth", [9, 11, 13, 16])
def test_vgg_depths(depth: int) -> None:
    net = create_model("vgg", input_shape=(3, 32, 32), num_classes=10, depth=depth, width_mult=1 / 16)
    weights = [m for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(weights) == depth
    assert net(torch.rand(1, 2, 3, 32, 32)).shape == (1, 2, 10)


@pytest.mark.parametrize("norm", ["none", "bn", "tdbn", "tebn", "bntt", "neunorm"])
@pytest.mark.parametrize("name", MODELS)
def test_every_model_with_every_norm(name: str, norm: str) -> None:
    net = create_model(
        name,
        input_shape=(2, 16, 16),
        num_classes=10,
        norm=registry.build("norm", norm, **({"T": 3} if norm in ("tebn", "bntt") else {})),
        dropout=None if name in NO_DROPOUT else SpikingDropout(p=0.2),
        **small(name),
    )
    assert net(torch.rand(3, 2, 2, 16, 16)).shape == (3, 2, 10)


@pytest.mark.parametrize(
    "neuron", [n for n in registry.names("neuron") if not getattr(registry.get("neuron", n), "online", False)]
)
def test_step_modes_agree(neuron: str) -> None:
    torch.manual_seed(0)
    net = create_model(
        "cnn",
        input_shape=(1, 8, 8),
        num_classes=10,
        make_neuron=lambda: registry.build("neuron", neuron),
        norm=BNTT(T=3),
        dropout=DropConnect(p=0.3),
    ).eval()
    x = torch.rand(3, 2, 1, 8, 8)
    multi = net(x)
    reset_net(net)
    set_step_mode(net, "s")
    single = torch.stack([net(x_t) for x_t in x])
    torch.testing.assert_close(single, multi)


def test_tdbn_residual_branches_use_alpha_over_sqrt2() -> None:
    net = create_model("resnet19", input_shape=(3, 8, 8), num_classes=10, norm=TdBN(), width_mult=1 / 32)
    alphas = {round(m.alpha, 4) for m in net.modules() if hasattr(m, "alpha")}
    assert alphas == {1.0, round(2**-0.5, 4)}


@pytest.mark.parametrize("name", [m for m in MODELS if m != "mlp"])
def test_conv_models_reject_1d_input_with_a_hint(name: str) -> None:
    with pytest.raises(ValueError, match=rf"model '{name}' takes image input .* \(700,\).*model=mlp"):
        create_model(name, input_shape=(700,), num_classes=20)


def test_cnn_layers_and_parameter_count() -> None:
    """cnn on 1×28×28 with channels (16, 32), hidden 128, BN: the layer list and its parameters, by hand."""
    net = create_model("cnn", input_shape=(1, 28, 28), num_classes=10, norm=registry.build("norm", "bn"))
    convs = [(m.in_channels, m.out_channels, m.kernel_size) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs == [(1, 16, (3, 3)), (16, 32, (3, 3))]
    # convs without bias, BN affine 2 per channel, FC 32·7·7 → 128 → 10 with bias
    expected = 1 * 16 * 9 + 2 * 16 + 16 * 32 * 9 + 2 * 32 + 32 * 7 * 7 * 128 + 128 + 2 * 128 + 128 * 10 + 10
    assert sum(p.numel() for p in net.parameters()) == expected


# ---------------------------------------------------------------- paper networks vs their reference code
# Each expected count is written from the reference implementation's layer list (source named in each test),
# independently of the builders.  conv/bn/fc count weights and biases as torch.nn does.


def conv(c_in: int, c_out: int, k: int = 3, bias: bool = False) -> int:
    return c_in * c_out * k * k + (c_out if bias else 0)


def bn(c: int) -> int:
    return 2 * c


def fc(n_in: int, n_out: int, bias: bool = True) -> int:
    return n_in * n_out + (n_out if bias else 0)


def params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


BN2 = registry.build("norm", "bn")


def plif() -> torch.nn.Module:
    return registry.build("neuron", "plif", step_mode="m")


@pytest.mark.parametrize(("depth", "T", "classes"), [(9, 25, 10), (11, 30, 100)])
def test_bntt_vgg_matches_the_bntt_code(depth: int, T: int, classes: int) -> None:
    """BNTT model.py SNN_VGG9_BNTT / SNN_VGG11_BNTT: convs and FCs without bias, one BN per step without bias."""
    if depth == 9:  # conv 64, 64, P, 128, 128, P, 256, 256, 256, P; fc1 256·4·4 -> 1024
        chans = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256)]
        fcs, hidden = [(256 * 4 * 4, 1024), (1024, classes)], 1024
    else:  # conv 64, P, 128, P, 256, 256, P, 512, 512, P, 512, 512, global pool; fc1 512 -> 4096
        chans = [(3, 64), (64, 128), (128, 256), (256, 256), (256, 512), (512, 512), (512, 512), (512, 512)]
        fcs, hidden = [(512, 4096), (4096, classes)], 4096
    expected = sum(conv(i, o) for i, o in chans) + sum(fc(i, o, bias=False) for i, o in fcs)
    expected += T * (sum(o for _, o in chans) + hidden)  # BNTT weights only: model.py sets each bias to None
    net = create_model(
        "bntt_vgg", input_shape=(3, 32, 32), num_classes=classes, depth=depth, norm=BNTT(T=T, bias=False, eps=1e-4)
    )
    assert params(net) == expected


def test_vggsnn_matches_the_tet_code() -> None:
    """TET models/VGG_models.py VGGSNN: Layer = conv (bias) + BN + LIF; 4 avg pools on 48×48; Linear(512·3·3, 10)."""
    chans = [(2, 64), (64, 128), (128, 256), (256, 256), (256, 512), (512, 512), (512, 512), (512, 512)]
    expected = sum(conv(i, o, bias=True) + bn(o) for i, o in chans) + fc(512 * 3 * 3, 10)
    net = create_model("vggsnn", input_shape=(2, 48, 48), num_classes=10, norm=BN2)
    assert params(net) == expected == 9_271_498


def test_cifarnet_matches_the_stbp_code() -> None:
    """STBP code_cifar10/spiking_cnn_model.py: convs/FCs with bias, fc1 8·8·512 -> 1024 -> 512 -> 100 (voting)."""
    chans = [(3, 128), (128, 256), (256, 512), (512, 1024), (1024, 512)]
    expected = sum(conv(i, o, bias=True) for i, o in chans) + fc(8 * 8 * 512, 1024) + fc(1024, 512) + fc(512, 100)
    assert params(create_model("cifarnet", input_shape=(3, 32, 32), num_classes=100)) == expected


PLIF_NETS = {  # codes/models.py: (input, classes, builder options, conv layers, FC layers); one PLIF w per neuron
    "MNISTNet": ((1, 28, 28), 10, {}, [(1, 128), (128, 128)], [(128 * 7 * 7, 128 * 4 * 4), (2048, 100)]),
    "Cifar10Net": (
        (3, 32, 32),
        10,
        {"channels": 256, "stages": [3, 3], "fc_dropout": [0]},
        [(3, 256)] + [(256, 256)] * 5,
        [(256 * 8 * 8, 128 * 4 * 4), (2048, 100)],
    ),
    "NMNISTNet": (
        (2, 34, 34),
        10,
        {"stages": [1, 1], "hidden": None},
        [(2, 128), (128, 128)],
        [(128 * 8 * 8, 128 * 8 * 8 // 4), (2048, 100)],  # 34 >> 2 = 8
    ),
    "CIFAR10DVSNet": (
        (2, 128, 128),
        10,
        {"stages": [1] * 4, "hidden": None},
        [(2, 128)] + [(128, 128)] * 3,
        [(128 * 8 * 8, 2048), (2048, 100)],
    ),
    "DVS128GestureNet": (
        (2, 128, 128),
        11,
        {"stages": [1] * 5, "hidden": None},
        [(2, 128)] + [(128, 128)] * 4,
        [(128 * 4 * 4, 512), (512, 110)],
    ),
}


@pytest.mark.parametrize("name", sorted(PLIF_NETS))
def test_plif_nets_match_the_plif_code(name: str) -> None:
    """PLIF codes/models.py: conv (no bias) + BN + PLIF per layer, 2×2 max pools, FCs without bias, voting 10."""
    shape, classes, options, convs, fcs = PLIF_NETS[name]
    expected = sum(conv(i, o) + bn(o) for i, o in convs) + sum(fc(i, o, bias=False) for i, o in fcs)
    expected += len(convs) + len(fcs)  # PLIF w
    net = create_model(
        "plif_net",
        input_shape=shape,
        num_classes=classes * 10,
        make_neuron=plif,
        norm=BN2,
        spiking_head=True,
        **options,
    )
    assert params(net) == expected


def sew_imagenet_reference(depth: int) -> int:
    """imagenet/sew_resnet.py (torchvision's ResNet; neurons have no parameters), 1000 classes."""
    bottleneck, blocks = {18: (0, [2, 2, 2, 2]), 34: (0, [3, 4, 6, 3]), 50: (1, [3, 4, 6, 3])}.get(
        depth, (1, [3, 4, 23, 3] if depth == 101 else [3, 8, 36, 3])
    )
    total, c_in = conv(3, 64, 7) + bn(64), 64
    for stage, n in enumerate(blocks):
        planes = 64 * 2**stage
        c_out = planes * (4 if bottleneck else 1)
        for i in range(n):
            stride = 2 if stage and not i else 1
            if bottleneck:
                total += conv(c_in, planes, 1) + bn(planes) + conv(planes, planes) + bn(planes)
                total += conv(planes, c_out, 1) + bn(c_out)
            else:
                total += conv(c_in, planes) + bn(planes) + conv(planes, planes) + bn(planes)
            if stride != 1 or c_in != c_out:
                total += conv(c_in, c_out, 1) + bn(c_out)  # downsample: conv1x1 + BN + IF
            c_in = c_out
    return total + fc(c_in, 1000)


@pytest.mark.parametrize("depth", [18, 34, 50, 101, 152])
def test_sew_resnet_matches_the_sew_code(depth: int) -> None:
    net = create_model("sew_resnet", input_shape=(3, 224, 224), num_classes=1000, depth=depth, norm=BN2)
    assert params(net) == sew_imagenet_reference(depth)


def test_sew_resnet34_has_torchvision_resnet34_parameters() -> None:
    """The SEW ImageNet code is torchvision's ResNet with spiking neurons: the same parameters."""
    import torchvision

    net = create_model("sew_resnet", input_shape=(3, 224, 224), num_classes=1000, depth=34, norm=BN2)
    assert params(net) == params(torchvision.models.resnet34()) == 21_797_672


@pytest.mark.parametrize(
    ("channels", "classes"), [([32] * 7, 11), ([64] * 4 + [128] * 3, 10)], ids=["dvsgesture", "cifar10dvs"]
)
def test_sew_dvs_nets_match_the_sew_code(channels: list[int], classes: int) -> None:
    """SEW {dvsgesture,cifar10dvs}/smodels.py SEWResNet: 1×1 up conv-BN-PLIF where channels change, SEW block of two
    conv3×3-BN-PLIF, MP2 (128 -> 1 after 7 pools), Linear(channels, classes) with bias."""
    expected, c_in = 0, 2
    for c in channels:
        if c_in != c:
            expected += conv(c_in, c, 1) + bn(c) + 1
        expected += 2 * (conv(c, c) + bn(c) + 1)
        c_in = c
    expected += fc(c_in, classes)
    net = create_model(
        "sew_dvs", input_shape=(2, 128, 128), num_classes=classes, channels=channels, make_neuron=plif, norm=BN2
    )
    assert params(net) == expected


@pytest.mark.parametrize("stem", [128, 64], ids=["tdbn_paper", "tet_code"])
def test_resnet19_matches_the_reference_layer_lists(stem: int) -> None:
    """ResNet-19: tdBN paper table (128-channel stem) and TET models/resnet_models.py (64-channel stem, so the
    first block has a 1×1 projection); basic blocks [3, 3, 2] of 128, 256, 512; FC 256 (bias), FC 10 (bias)."""
    total, c_in = conv(3, stem) + bn(stem), stem
    for planes, n, stride in ((128, 3, 1), (256, 3, 2), (512, 2, 2)):
        for i in range(n):
            total += conv(c_in, planes) + bn(planes) + conv(planes, planes) + bn(planes)
            if (stride if i == 0 else 1) != 1 or c_in != planes:
                total += conv(c_in, planes, 1) + bn(planes)
            c_in = planes
    total += fc(512, 256) + fc(256, 10)
    net = create_model("resnet19", input_shape=(3, 32, 32), num_classes=10, norm=BN2, stem_channels=stem, fc_norm=False)
    assert params(net) == total


# ---------------------------------------------------------------- options the papers vary


def test_bntt_without_bias_has_no_shift() -> None:
    layer = BNTT(T=3, bias=False).pre(4)
    layer.step_mode = "m"  # factories make layers in the default step mode "s"
    assert all(b.bias is None and b.weight is not None for b in layer.bns)
    x = torch.randn(3, 5, 4, 2, 2) + 3.0
    y = layer(x)
    torch.testing.assert_close(y.mean((1, 3, 4)), torch.zeros(3, 4), atol=1e-5, rtol=0)  # no learnt shift
    assert len(list(BNTT(T=3).pre(4).parameters())) == 6


@pytest.mark.parametrize(
    ("connect", "expected"), [("ADD", [0, 1, 1, 2]), ("AND", [0, 0, 0, 1]), ("IAND", [0, 1, 0, 0])]
)
def test_sew_connect_functions(connect: str, expected: list[float]) -> None:
    """g(A, S) for residual spikes A and shortcut spikes S over the four combinations (A, S) = 00, 01, 10, 11."""
    a, s = torch.tensor([[[0.0, 0.0, 1.0, 1.0]]]), torch.tensor([[[0.0, 1.0, 0.0, 1.0]]])  # [T=1, B=1, 4]

    class Residual(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return a

    assert SEWBlock(Residual(), registry.build("connect", connect))(s).flatten().tolist() == expected
    with pytest.raises(
        InvalidArgument, match=r"connect='ADD': must be a registered connect: a node \{_target_: NAME\}.*ADD, AND, IAND"
    ):
        SEWBlock(torch.nn.Identity(), "ADD")  # the name alone, not the built component


def test_pooling_floor_and_kind() -> None:
    floor = create_model("plif_net", input_shape=(2, 34, 34), num_classes=10, channels=4, hidden=None)
    ceil_pool = MaxPool(ceil_mode=True)
    ceil = create_model("plif_net", input_shape=(2, 34, 34), num_classes=10, channels=4, hidden=None, pool=ceil_pool)
    fc_in = [next(m for m in n.modules() if isinstance(m, torch.nn.Linear)).in_features for n in (floor, ceil)]
    assert fc_in == [4 * 8 * 8, 4 * 9 * 9]  # 34 -> 17 -> 8, or 9 with ceil_mode
    avg = create_model("plif_net", input_shape=(1, 8, 8), num_classes=10, channels=4, pool=AvgPool(ceil_mode=False))
    assert sum(isinstance(m, torch.nn.AvgPool2d) for m in avg.modules()) == 2
    with pytest.raises(
        InvalidArgument, match=r"pool='min': must be a registered pool: a node \{_target_: NAME\}, NAME one of avg, max"
    ):
        create_model("plif_net", input_shape=(1, 8, 8), num_classes=10, pool="min")


def test_weight_init_schemes() -> None:
    torch.manual_seed(0)
    net = create_model("bntt_vgg", input_shape=(3, 32, 32), num_classes=10, width_mult=1 / 4)
    first = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    bound = 2.0 * (6.0 / (first.in_channels * 9 + first.out_channels * 9)) ** 0.5  # Xavier uniform, gain 2
    assert bound * 0.9 < first.weight.abs().max() <= bound
    with pytest.raises(InvalidArgument, match=r"init='orthogonal': must be a registered init: a node \{_target_"):
        create_model("vggsnn", input_shape=(2, 48, 48), num_classes=10, init="orthogonal")
