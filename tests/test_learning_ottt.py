"""Learning modes: OTTT's gradients against BPTT (T=1) and against the OTTT_A equation worked by hand (T>1),
optimizer steps per batch, resets in every stage, Lightning features, and the errors of networks that cannot
run online.  The OTTT VGG builder is checked against the official code's layer list."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import lightning
import pytest
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from training_helpers import compose_run

from snnlab import layers, registry
from snnlab.encoders import DirectEncoder
from snnlab.functional import set_step_mode
from snnlab.neurons import LIF, OTTTLIF
from snnlab.training import SNNClassifier, build, run_training
from snnlab.training.module.learning import BPTT, OTTT

N_IN, HIDDEN, K = 6, 5, 3
# the same network for both modes: OTTT's VGG, tiny; BPTT gets a LIF with OTTT's dynamics
TINY_VGG = ["model=ottt_vgg", "model.channels=[4,A,6]", "norm=none", "optim=sgd", "data.normalize=standard"]
LIF_AS_OTTT = [
    "neuron=lif",
    "neuron.decay_input=false",
    "neuron.v_reset=null",
    "neuron.detach_reset=true",
    "neuron.surrogate={_target_: sigmoid, alpha: 4.0}",
]


def compose_cfg(tmp_path: Path, overrides: Sequence[str]) -> DictConfig:
    """The shared tiny run config (training_helpers) with batches of 32."""
    return compose_run(tmp_path, ["data.batch_size=32", *overrides])


class TimeFirst(nn.Module):
    """Batches of ``[B, T, ...]`` sequences → ``[T, B, ...]`` (so each step can get its own input)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(0, 1)


class GradRecorder(lightning.Callback):
    """The gradients at every optimizer step (before the step, after accumulation)."""

    def __init__(self) -> None:
        self.grads: list[dict[str, torch.Tensor]] = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        self.grads.append({n: p.grad.clone() for n, p in pl_module.named_parameters() if p.grad is not None})


def fit(
    module: SNNClassifier, x: torch.Tensor, y: torch.Tensor, batch_size: int, **kwargs: object
) -> lightning.Trainer:
    trainer = lightning.Trainer(
        accelerator="cpu",
        max_epochs=kwargs.pop("max_epochs", 1),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        **kwargs,
    )
    trainer.fit(module, DataLoader(TensorDataset(x, y), batch_size=batch_size))
    return trainer


def two_layer(neuron: nn.Module) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(layers.Linear(N_IN, HIDDEN), neuron, layers.Linear(HIDDEN, K))


def classifier(
    net: nn.Module, learning: object, encoder: nn.Module, lr: float = 0.1, **kwargs: object
) -> SNNClassifier:
    return SNNClassifier(
        net=learning.prepare(net),
        encoder=encoder,
        num_classes=K,
        optimizer=partial(torch.optim.SGD, lr=lr),
        step_mode="s",
        learning=learning,
        **kwargs,
    )


def test_T1_ottt_gradient_equals_bptt_gradient(tmp_path: Path) -> None:
    """With one time step the trace is the spike and no graph spans time: OTTT's gradient is BPTT's."""
    cfg_bptt = compose_cfg(tmp_path / "b", [*TINY_VGG, *LIF_AS_OTTT, "T=1", "step_mode=s"])
    cfg_ottt = compose_cfg(tmp_path / "o", [*TINY_VGG, "neuron=ottt_lif", "learning=ottt", "T=1"])
    torch.manual_seed(0)
    datamodule, bptt = build(cfg_bptt)
    torch.manual_seed(0)
    _, ottt = build(cfg_ottt)
    datamodule.setup("fit")
    x, y = next(iter(datamodule.train_dataloader()))

    loss, _ = bptt.compute_loss((x, y))
    loss.backward()
    expected = {n: p.grad for n, p in bptt.named_parameters()}
    recorder = GradRecorder()
    fit(ottt, x, y, batch_size=len(x), callbacks=[recorder])
    (got,) = recorder.grads
    assert got.keys() == expected.keys() and len(got) == 8  # 2 WS convs (weight, bias, gain) + the classifier
    assert all(g.abs().sum() > 0 for g in got.values())
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-4, atol=1e-7, msg=name)


def hand_ottt_a_gradients(
    w: Sequence[torch.Tensor], x_seq: torch.Tensor, y: torch.Tensor, lam: float, presynaptic: str = "trace"
) -> dict[str, torch.Tensor]:
    """OTTT_A (Xiao et al. 2022): ∇W^l = Σ_t (∂L_t/∂u^{l+1}_t)^T â^l_t with the presynaptic traces â and the
    instantaneous surrogate gradient, for x → W1 → LIF(τ=2, soft reset, no input decay) → W2 → scores."""
    w1, b1, w2, b2 = w
    T, B = x_seq.shape[:2]
    tau, v_th, alpha = 2.0, 1.0, 4.0
    v, a = torch.zeros(B, HIDDEN), torch.zeros(B, HIDDEN)
    grads = {"w1": 0.0, "b1": 0.0, "w2": 0.0, "b2": 0.0}
    one_hot = F.one_hot(y, K).float()
    for x in x_seq:
        h = v * (1 - 1 / tau) + x @ w1.T + b1
        s = (h >= v_th).float()
        v = h - s * v_th
        a = a * (1 - 1 / tau) + s
        o = s @ w2.T + b2
        # ∂L_t/∂o_t for L_t = ((1-λ) CE(o_t, y) + λ MSE(o_t, one_hot)) / T
        d_o = ((1 - lam) * (o.softmax(-1) - one_hot) / B + lam * 2 * (o - one_hot) / (B * K)) / T
        sig = torch.sigmoid(alpha * (h - v_th))
        d_u = (d_o @ w2) * alpha * sig * (1 - sig)  # instantaneous: no path through earlier membranes
        grads["w2"] = grads["w2"] + d_o.T @ (a if presynaptic == "trace" else s)  # the trace, not the spike
        grads["b2"] = grads["b2"] + d_o.sum(0)
        grads["w1"] = grads["w1"] + d_u.T @ x  # the first layer sees the input itself
        grads["b1"] = grads["b1"] + d_u.sum(0)
    return grads


def test_ottt_a_gradient_equals_the_trace_equation_by_hand() -> None:
    T, B, lam = 4, 8, 0.3
    torch.manual_seed(1)
    x = torch.rand(B, T, N_IN) * 1.5
    y = torch.randint(0, K, (B,))
    module = classifier(two_layer(OTTTLIF()), OTTT(mse_weight=lam), TimeFirst())
    fc1, fc2 = module.net[0], module.net[2]
    w = [p.detach().clone() for p in (fc1.weight, fc1.bias, fc2.weight, fc2.bias)]
    recorder = GradRecorder()
    fit(module, x, y, batch_size=B, callbacks=[recorder])
    (got,) = recorder.grads  # OTTT_A: one optimizer step for the batch
    hand = hand_ottt_a_gradients(w, x.transpose(0, 1), y, lam)
    for name, key in (("net.0.weight", "w1"), ("net.0.bias", "b1"), ("net.2.weight", "w2"), ("net.2.bias", "b2")):
        assert hand[key].abs().sum() > 0
        torch.testing.assert_close(got[name], hand[key], rtol=1e-4, atol=1e-6, msg=name)
    # the traces matter here: the same sum over the spikes (what BPTT-free per-step training would use) differs
    with_spikes = hand_ottt_a_gradients(w, x.transpose(0, 1), y, lam, presynaptic="spike")["w2"]
    assert (got["net.2.weight"] - with_spikes).abs().max() > 1e-3


@pytest.mark.parametrize("online_update", [False, True])
def test_optimizer_steps_per_batch(online_update: bool) -> None:
    T, B, n = 3, 4, 10  # three batches (4, 4, 2)
    torch.manual_seed(0)
    x, y = torch.rand(n, N_IN) * 2, torch.randint(0, K, (n,))
    module = classifier(two_layer(OTTTLIF()), OTTT(online_update=online_update), DirectEncoder(T))
    recorder = GradRecorder()
    trainer = fit(module, x, y, batch_size=B, callbacks=[recorder])
    steps = 3 * (T if online_update else 1)
    assert len(recorder.grads) == steps
    assert trainer.global_step == steps


def test_ottt_o_updates_the_weights_between_time_steps() -> None:
    """OTTT_O with plain SGD: after each step's backward the weights move by -lr·grad before the next step."""
    T, B, lr = 3, 4, 0.5
    torch.manual_seed(0)
    x, y = torch.rand(B, N_IN) * 2, torch.randint(0, K, (B,))
    module = classifier(two_layer(OTTTLIF()), OTTT(online_update=True), DirectEncoder(T), lr=lr)
    before = module.net[2].weight.detach().clone()
    recorder = GradRecorder()
    fit(module, x, y, batch_size=B, callbacks=[recorder])
    grads = [g["net.2.weight"] for g in recorder.grads]
    assert len(grads) == T and not torch.equal(grads[0], grads[1])  # each step's own gradient, not a sum
    torch.testing.assert_close(module.net[2].weight.detach(), before - lr * sum(grads))


class ResetProbe:
    """Records, at every call of each OTTT neuron, whether its membrane and trace are at their reset values."""

    def __init__(self, net: nn.Module) -> None:
        self.fresh: list[bool] = []
        for m in net.modules():
            if isinstance(m, OTTTLIF):
                m.register_forward_pre_hook(self.hook)

    def hook(self, m: OTTTLIF, args: object) -> None:
        self.fresh.append(not isinstance(m.v, torch.Tensor) and not isinstance(m.trace, torch.Tensor))


def test_state_and_traces_are_reset_before_every_batch_in_every_stage() -> None:
    T, n = 3, 10  # batches of 4, 4 and 2: a stale state of another shape would also raise
    torch.manual_seed(0)
    x, y = torch.rand(n, N_IN) * 2, torch.randint(0, K, (n,))
    module = classifier(
        nn.Sequential(layers.Linear(N_IN, HIDDEN), OTTTLIF(), layers.Linear(HIDDEN, K)), OTTT(), DirectEncoder(T)
    )
    probe = ResetProbe(module.net)
    per_batch = [True] + [False] * (T - 1)
    loader = DataLoader(TensorDataset(x, y), batch_size=4)
    trainer = lightning.Trainer(
        accelerator="cpu",
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, loader, loader)
    assert probe.fresh == per_batch * 6  # three training and three validation batches
    probe.fresh.clear()
    trainer.test(module, loader, verbose=False)
    assert probe.fresh == per_batch * 3
    probe.fresh.clear()
    trainer.predict(module, loader)
    assert probe.fresh == per_batch * 3


def test_gradient_clipping_applies_after_the_gradients_are_complete() -> None:
    T, B, clip = 3, 8, 1e-3
    torch.manual_seed(0)
    x, y = torch.rand(B, N_IN) * 2, torch.randint(0, K, (B,))
    module = classifier(two_layer(OTTTLIF()), OTTT(gradient_clip_val=clip), DirectEncoder(T), lr=1.0)
    before = [p.detach().clone() for p in module.parameters()]
    recorder = GradRecorder()
    fit(module, x, y, batch_size=B, callbacks=[recorder])
    raw_norm = torch.cat([g.flatten() for g in recorder.grads[0].values()]).norm()
    step_norm = torch.cat([(b - p.detach()).flatten() for b, p in zip(before, module.parameters())]).norm()
    assert raw_norm > 10 * clip
    assert step_norm == pytest.approx(clip, rel=1e-3)  # SGD lr=1: the step is the clipped gradient


def test_bf16_mixed_precision_trains() -> None:
    T, B = 2, 8
    torch.manual_seed(0)
    x, y = torch.rand(B, N_IN) * 2, torch.randint(0, K, (B,))
    module = classifier(two_layer(OTTTLIF()), OTTT(), DirectEncoder(T))
    before = module.net[0].weight.detach().clone()
    fit(module, x, y, batch_size=B, precision="bf16-mixed")
    assert not torch.equal(before, module.net[0].weight.detach())


def test_resume_from_checkpoint_continues_optimizer_and_scheduler(tmp_path: Path) -> None:
    """One epoch, then resume for the second from ``last.ckpt``: the same weights and learning rate as two
    epochs in one go (momentum buffers and the cosine schedule, which the learning mode steps, are restored)."""
    T, n = 2, 12
    torch.manual_seed(0)
    x, y = torch.rand(n, N_IN) * 2, torch.randint(0, K, (n,))

    def run(epochs: int, ckpt_path: Path | None = None) -> tuple[SNNClassifier, lightning.Trainer]:
        module = SNNClassifier(
            net=OTTT().prepare(two_layer(OTTTLIF())),
            encoder=DirectEncoder(T),
            num_classes=K,
            optimizer=partial(torch.optim.SGD, lr=0.1, momentum=0.9),
            scheduler=partial(torch.optim.lr_scheduler.CosineAnnealingLR, T_max=2),
            step_mode="s",
            learning=OTTT(online_update=True),
        )
        checkpoint = lightning.pytorch.callbacks.ModelCheckpoint(tmp_path / str(epochs), save_last=True)
        trainer = lightning.Trainer(
            accelerator="cpu",
            max_epochs=epochs,
            logger=False,
            callbacks=[checkpoint],
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        trainer.fit(module, DataLoader(TensorDataset(x, y), batch_size=4), ckpt_path=ckpt_path)
        return module, trainer

    straight, t_straight = run(2)
    run(1)
    resumed, t_resumed = run(2, ckpt_path=tmp_path / "1" / "last.ckpt")
    assert t_resumed.global_step == t_straight.global_step == 2 * 3 * T  # OTTT_O: T steps per batch
    lrs = [t.optimizers[0].param_groups[0]["lr"] for t in (t_straight, t_resumed)]
    assert lrs[0] == lrs[1] == pytest.approx(0.0, abs=1e-12)  # cosine from 0.1 over 2 epochs, stepped twice
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)


@pytest.mark.slow
def test_ottt_mnist5k_style_run_learns(tmp_path: Path) -> None:
    """A whole ``train`` run with learning=ottt from the config groups: it learns and writes its summary."""
    overrides = ["learning=ottt", "neuron=ottt_lif", "norm=none", "model.channels=[8]", "model.hidden=32", "T=2"]
    overrides += ["data.normalize=standard", "learning.mse_weight=0.05"]
    overrides += ["trainer.max_epochs=1", "+trainer.limit_train_batches=20", "optimized_metric=test/acc"]
    acc = run_training(compose_cfg(tmp_path, overrides))
    assert acc > 0.3  # ten classes: chance is 0.1
    assert (tmp_path / "summary.json").is_file()


@pytest.mark.parametrize(
    "options",
    [
        ["classifier.loss={_target_: mse}", "classifier.spiking_head=true"],
        ["classifier.loss={_target_: tet}"],
        ["dropout=dropout"],
    ],
)
def test_spiking_head_per_step_loss_and_dropout_run_online(tmp_path: Path, options: list[str]) -> None:
    """A spiking head ends the network in a [spike, trace] pair; a per-step loss (TET) gets one step at a time."""
    overrides = ["learning=ottt", "neuron=ottt_lif", "norm=none", "model.channels=[4]", "model.hidden=8", "T=2"]
    loss = run_training(compose_cfg(tmp_path, [*overrides, *options, "debug=fdr", "optimized_metric=train/loss"]))
    assert math.isfinite(loss) and loss > 0


@pytest.mark.parametrize("step_mode", ["m", "s"])
def test_ottt_neuron_under_bptt_fails_clearly(tmp_path: Path, step_mode: str) -> None:
    cfg = compose_cfg(tmp_path, ["neuron=ottt_lif", "norm=none", f"step_mode={step_mode}"])
    message = (
        "OTTTLIF cannot run in step mode 'm'.*learning=ottt"
        if step_mode == "m"
        else (r"layer '0\.2' is OTTTLIF, an online-learning neuron.*learning=ottt")
    )
    with pytest.raises(ValueError, match=message):
        build(cfg)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["neuron=lif", "norm=none"], r"layer '0\.2' \(LIF\) is not an online neuron.*neuron=ottt_lif"),
        (["norm=bn"], r"layer '0\.1' \(BatchNorm2d\) normalises with batch statistics.*norm=none"),
        (["norm=none", "dropout=dropconnect"], r"layer '5' \(DropConnectLinear\) is stateful"),
        (["norm=none", "model=resnet19", "model.width_mult=0.05"], r"layer '1' \(BasicBlock\) runs spiking neurons"),
        (["norm=none", "+trainer.gradient_clip_val=1.0"], r"set learning.gradient_clip_val instead"),
        (["norm=none", "learning.mse_weight=1.5"], r"^learning.mse_weight=1.5: must be in \[0, 1\]"),
    ],
)
def test_networks_that_cannot_run_online_fail_at_build_naming_the_layer(
    tmp_path: Path, overrides: list[str], message: str
) -> None:
    cfg = compose_cfg(tmp_path, ["learning=ottt", "neuron=ottt_lif", *overrides])
    with pytest.raises(ValueError, match=message):
        build(cfg)


def test_online_network_keeps_dropout_and_state_dict_keys() -> None:
    net = nn.Sequential(nn.Sequential(layers.Linear(4, 4), OTTTLIF(), layers.Dropout(0.5)), layers.Linear(4, 2))
    keys = list(net.state_dict())
    online = OTTT().prepare(net)
    assert list(online.state_dict()) == keys
    assert type(online).__name__ == type(online[0]).__name__ == "OTTTSequential"
    assert type(online[0][2]) is layers.Dropout and online[0][2].p == 0.5  # in place, not dropped
    plain = nn.Sequential(layers.Linear(4, 2), LIF(step_mode="s"))
    assert BPTT().prepare(plain) is plain  # BPTT trains the network as built, unwrapped


def test_ottt_vgg_matches_the_official_layer_list() -> None:
    """Parameter count against the official ``online_spiking_vgg11_ws`` (pkuxmq/OTTT-SNN, models/spiking_vgg.py,
    cfg 'A'), written out independently: eight ScaledWSConv2d 3×3 with bias and a per-channel gain, one Linear."""
    convs = [(3, 64), (64, 128), (128, 256), (256, 256), (256, 512), (512, 512), (512, 512), (512, 512)]
    expected = sum(cin * cout * 9 + cout + cout for cin, cout in convs) + 512 * 10 + 10
    net = registry.build("model", "ottt_vgg", input_shape=(3, 32, 32), num_classes=10, make_neuron=OTTTLIF)
    set_step_mode(net, "s")
    assert sum(p.numel() for p in net.parameters()) == expected == 9_228_362
    kinds = [type(m).__name__ for m in net.modules()]
    assert kinds.count("ScaledWSConv2d") == 8 and kinds.count("Scale") == 8 and kinds.count("AvgPool2d") == 3
    assert all(m.scale == 2.74 for m in net.modules() if isinstance(m, layers.Scale))
    fc = net[-1]
    assert fc.bias.abs().sum() == 0 and abs(fc.weight.std().item() - 0.01) < 1e-3  # Linear init N(0, 0.01)
    out = OTTT().prepare(net).eval()(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 10) and math.isfinite(out.sum().item())
