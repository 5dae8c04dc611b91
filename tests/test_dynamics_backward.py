"""The symbolic backward pass (:mod:`snnlab.math.symbolic_step`, what the fused kernels run) equals torch autograd
through :meth:`NeuronDynamics.step` over a whole sequence, for every variant, in fp64; and the symbolic layer
underneath it differentiates, simplifies and refuses what it cannot render."""

from dataclasses import dataclass

import pytest
import torch

from snnlab.kernels.codegen import dynamics_variants
from snnlab.math.dynamics import NeuronDynamics, Param, State
from snnlab.math.ops import TORCH_OPS
from snnlab.math.symbolic import SYM_OPS, Sym, diff, evaluate, substitute
from snnlab.math.symbolic_step import grad_symbol, param_symbol, state_symbol, symbolic_step

T, B, C = 7, 16, 4


def _params(dyn, g):
    """One learnable fp64 value per declared parameter: 0-dim, or ``[C]`` per channel."""
    return [
        (torch.rand(C if q.per_channel else (), generator=g, dtype=torch.float64) * 0.6 + 0.2).requires_grad_()
        for q in dyn.params
    ]


@pytest.mark.parametrize("dyn", dynamics_variants(), ids=repr)
def test_symbolic_backward_matches_autograd(dyn):
    g = torch.Generator().manual_seed(1)
    names = dyn.state_names
    x_seq = (torch.randn(T, B, C, generator=g, dtype=torch.float64) + 0.5).requires_grad_()
    init = [(0.3 * torch.randn(B, C, generator=g, dtype=torch.float64)).requires_grad_() for _ in names]
    params = _params(dyn, g)
    views = dyn.param_views(params, (B, C))
    w_s, w_v = torch.randn(2, T, B, C, generator=g, dtype=torch.float64)
    w_last = torch.randn(len(names), B, C, generator=g, dtype=torch.float64)

    # autograd through the per-step torch loop; the loss reads spikes, every v[t] and every last state
    states, loss = init, 0.0
    for t in range(T):
        s, states = dyn.step(x_seq[t], states, views)
        loss = loss + (s * w_s[t]).sum() + (states[names.index("v")] * w_v[t]).sum()
    loss = loss + sum((v * w).sum() for v, w in zip(states, w_last))
    want = torch.autograd.grad(loss, [x_seq, *init, *params])

    # the kernels' algorithm: save the charged values, walk back rebuilding each step's states from them
    step = symbolic_step(dyn)
    env = {param_symbol(q.name): v.detach() for q, v in zip(dyn.params, views)}
    states, charged = [v.detach() for v in init], []
    for t in range(T):
        env |= {"x": x_seq[t].detach(), **{state_symbol(k): v for k, v in zip(names, states)}}
        charged.append(evaluate(step.charge, env, TORCH_OPS))
        new = evaluate(step.forward(), env, TORCH_OPS)
        states = [new[k] for k in names]
    grads = dict(zip(names, w_last))
    grad_x, grad_p = torch.empty_like(x_seq), [torch.zeros_like(v) for v in params]
    for t in reversed(range(T)):
        grads["v"] = grads["v"] + w_v[t]
        before = evaluate(step.reset, env | charged[t - 1], TORCH_OPS) if t else dict(zip(names, init))
        env |= {"x": x_seq[t].detach(), "gs": w_s[t], **charged[t]}
        env |= {state_symbol(k): torch.as_tensor(before[k]).detach() for k in names}
        env |= {grad_symbol(k): grads[k] for k in names}
        out = evaluate(step.grads, env, TORCH_OPS)
        grad_x[t] = out["x"]
        grads = {k: out[state_symbol(k)] for k in names}
        for j, q in enumerate(dyn.params):
            term = torch.as_tensor(out[param_symbol(q.name)]).expand(B, C)
            grad_p[j] = grad_p[j] + (term.sum(0) if q.per_channel else term.sum())

    got = [grad_x, *(grads[k] for k in names), *grad_p]
    for k, (a, b) in enumerate(zip(got, want)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12, msg=f"gradient {k}")


# -- the symbolic layer ---------------------------------------------------------------------------------------
x, y = Sym.var("x"), Sym.var("y")


def test_construction_simplifies_exactly_and_equal_trees_are_equal():
    assert x + 0.0 is x and 0.0 + x is x and x - 0.0 is x and x * 1.0 is x and 1.0 * x is x and x / 1.0 is x
    assert (x * 0.0).is_const(0.0) and (Sym.const(2.0) * 3.0).is_const(6.0)
    minus_x = -x
    assert x - 1.0 * y == x - y and x + -y == x - y and -minus_x is x
    assert {x * y + 1.0: "a"}[x * y + 1.0] == "a"  # structural hashing: common subexpressions are found
    with pytest.raises(TypeError, match="cannot branch"):
        bool(x)


def test_diff_and_evaluate():
    f = SYM_OPS.sigmoid(x * y) + SYM_OPS.exp(x) / y
    xs, ys = torch.tensor([0.3, -1.2], dtype=torch.float64), torch.tensor([2.0, 0.5], dtype=torch.float64)
    leaves = [xs.clone().requires_grad_(), ys.clone().requires_grad_()]
    value = torch.sigmoid(leaves[0] * leaves[1]) + torch.exp(leaves[0]) / leaves[1]
    want = torch.autograd.grad(value.sum(), leaves)
    got = evaluate({"x": diff(f, "x"), "y": diff(f, "y")}, {"x": xs, "y": ys}, TORCH_OPS)
    torch.testing.assert_close(got["x"], want[0])
    torch.testing.assert_close(got["y"], want[1])
    assert diff(SYM_OPS.heaviside(y) * x, "x") == SYM_OPS.heaviside(y)  # a step function of other variables
    with pytest.raises(ValueError, match="cannot differentiate heaviside"):
        diff(SYM_OPS.heaviside(x), "x")
    assert substitute({"f": x * y}, {"y": x + 1.0})["f"] == x * (x + 1.0)


@dataclass(frozen=True)
class _BadNames(NeuronDynamics):
    params = (Param("v"),)  # clashes with the state v

    def charge(self, x, st, p):
        return {"v": st.v + x}


@dataclass(frozen=True)
class _MissingState(NeuronDynamics):
    states = (State("v"), State("a"))

    def charge(self, x, st, p):
        return {"v": st.v + x}


def test_declarations_are_checked():
    with pytest.raises(ValueError, match="distinct"):
        symbolic_step(_BadNames())
    with pytest.raises(ValueError, match=r"charge\(\) must return a value for each state \['v', 'a'\]"):
        symbolic_step(_MissingState())
    with pytest.raises(TypeError, match="including 'v'"):
        type("NoMembrane", (NeuronDynamics,), {"states": (State("u"),)})
    per_channel = next(d for d in dynamics_variants() if any(q.per_channel for q in d.params))
    with pytest.raises(ValueError, match=r"per-channel parameter 'decay' needs a \[C\] tensor"):
        per_channel.param_views([torch.ones(3)], (2, 4))
