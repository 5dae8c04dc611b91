"""``NeuronDynamics.backward_step`` (the hand-derived BPTT the fused kernels run) equals torch autograd through
``NeuronDynamics.step`` over a whole sequence, for every variant, in fp64."""

import pytest
import torch

from snnlab.kernels.codegen import dynamics_variants
from snnlab.math.ops import TORCH_OPS

T, N = 7, 64


@pytest.mark.parametrize("dyn", dynamics_variants(), ids=repr)
def test_backward_step_matches_autograd(dyn):
    g = torch.Generator().manual_seed(1)
    x_seq = (torch.randn(T, N, generator=g, dtype=torch.float64) + 0.5).requires_grad_()
    v0 = (0.3 * torch.randn(N, generator=g, dtype=torch.float64)).requires_grad_()
    theta = None
    if dyn.kind != "if":
        init = 0.4 if dyn.kind == "lif" else -0.05
        theta = torch.tensor(init, dtype=torch.float64, requires_grad=True)
    w_s, w_v = torch.randn(2, T, N, generator=g, dtype=torch.float64)
    w_last = torch.randn(N, generator=g, dtype=torch.float64)

    # autograd through the per-step torch loop; the loss reads spikes, every v[t] and v[T-1]
    v, hs, loss = v0, [], 0.0
    for t in range(T):
        s, v, h = dyn.step(x_seq[t], v, theta)
        hs.append(h.detach())
        loss = loss + (s * w_s[t]).sum() + (v * w_v[t]).sum()
    loss = loss + (v * w_last).sum()
    inputs = (x_seq, v0) if theta is None else (x_seq, v0, theta)
    want = torch.autograd.grad(loss, inputs)

    # the kernels' algorithm: walk back in time, rebuilding v[t-1] from h[t-1] (only h is saved)
    grad_x, grad_v, grad_theta = torch.empty_like(x_seq), w_last.clone(), torch.zeros((), dtype=torch.float64)
    x = x_seq.detach()
    th = None if theta is None else theta.detach()
    for t in reversed(range(T)):
        grad_v = grad_v + w_v[t]
        v_prev = dyn.reset(hs[t - 1], TORCH_OPS.heaviside(hs[t - 1] - dyn.v_threshold)) if t else v0.detach()
        grad_x[t], grad_v, g_theta = dyn.backward_step(w_s[t], grad_v, hs[t], v_prev, x[t], th)
        if g_theta is not None:
            grad_theta = grad_theta + g_theta.sum()

    got = (grad_x, grad_v) if theta is None else (grad_x, grad_v, grad_theta)
    for name, a, b in zip(("x", "v0", "theta"), got, want):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12, msg=f"grad {name}")
