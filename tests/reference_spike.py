"""The reference spike of the neuron tests: Θ(x) forward, the sigmoid surrogate (α = 4, snnlab's default)
backward, written independently of :mod:`snnlab.math.surrogate`."""

import torch

ALPHA = 4.0  # default sigmoid surrogate


class RefSpike(torch.autograd.Function):
    """Θ(x) forward, α·σ(αx)·(1-σ(αx)) backward."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        sig = 1 / (1 + torch.exp(-ALPHA * x))
        return g * ALPHA * sig * (1 - sig)
