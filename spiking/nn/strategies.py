"""Training strategies on the same model, chosen by name: BPTT, SLTT and SLTT-K.

All three minimise the same per-step objective ``L = (1/T) sum_t loss(y[t], target)`` (the loss
of the SLTT reference code, Meng et al. 2023) and accumulate gradients for one optimiser step per
batch; they differ in which gradient paths they keep and when they run the backward pass.

* ``bptt``: forward over all T steps, one backward pass through the whole graph (memory grows
  with T).
* ``sltt`` (Meng et al., ICCV 2023, "Towards Memory- and Time-Efficient Backpropagation for
  Training Spiking Neural Networks"): the previous state is detached,
  ``u[t] = lambda sg(u[t-1] - V_th s[t-1]) + I[t]``, and the loss of each step is backpropagated
  right away, so the graph of one step is freed before the next is built and memory does not grow
  with T. ``chunk`` > 1 runs that many steps per backward pass: since no gradient crosses a step,
  the gradient is the same, and memory grows with ``chunk`` instead of T.
* ``sltt-k``: backward only at K steps drawn without replacement (``torch.randperm``, as the
  reference code); the other steps run forward under ``no_grad``. The loss of a chosen step keeps
  the 1/T factor (as the reference code), so K = T gives SLTT exactly.

A strategy is a function ``(model, x, target, loss_fn, **options) -> (loss_value, outputs)``;
``register_strategy`` adds one.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["STRATEGIES", "register_strategy", "sequence_loss", "bptt_step", "sltt_step", "sltt_k_step"]


def sequence_loss(loss_fn, out: torch.Tensor, target: torch.Tensor, T_total: int) -> torch.Tensor:
    """``(1/T_total) * sum over the steps of out[t] of loss_fn(out[t], target)``.

    Mean-reduced cross-entropy / NLL / MSE are evaluated on the flattened ``[t*B, ...]`` tensor in
    one call (the same value); other losses one step at a time.
    """
    t = out.shape[0]
    if (isinstance(loss_fn, (nn.CrossEntropyLoss, nn.NLLLoss)) and loss_fn.reduction == "mean"
            and loss_fn.weight is None and target.dim() == 1 and target.dtype == torch.long):
        return loss_fn(out.flatten(0, 1), target.repeat(t)) * (t / T_total)
    if isinstance(loss_fn, nn.MSELoss) and loss_fn.reduction == "mean" and target.shape == out.shape[1:]:
        return loss_fn(out, target.expand_as(out)) * (t / T_total)
    return sum(loss_fn(o, target) for o in out.unbind(0)) / T_total


def bptt_step(model, x, target, loss_fn, **_):
    out, _ = model(x)
    loss = sequence_loss(loss_fn, out, target, x.shape[0])
    loss.backward()
    return float(loss.detach()), out.detach()


class _Outputs:
    """The outputs of all steps, gathered into one tensor allocated once (many small long-lived
    tensors would fragment the heap, and the memory held would creep up with T)."""

    def __init__(self, T):
        self.T, self.buf = T, None

    def put(self, t0, out):
        if self.buf is None:
            self.buf = out.new_empty((self.T,) + tuple(out.shape[1:]))
        self.buf[t0:t0 + out.shape[0]] = out.detach()


def sltt_step(model, x, target, loss_fn, chunk: int = 1, **_):
    T = x.shape[0]
    if chunk < 1:
        raise ValueError(f"chunk={chunk}: expected a positive number of steps per backward pass")
    state, total, outs = None, 0.0, _Outputs(T)
    for t0 in range(0, T, chunk):
        out, state = model(x[t0:t0 + chunk], state, temporal_grad=False)
        loss = sequence_loss(loss_fn, out, target, T)
        loss.backward()
        state = model.detach_state(state)
        total += float(loss.detach())
        outs.put(t0, out)
    return total, outs.buf


def _runs(mask):
    """(start, stop, value) of the runs of equal values in a boolean list."""
    runs, start = [], 0
    for i in range(1, len(mask) + 1):
        if i == len(mask) or mask[i] != mask[start]:
            runs.append((start, i, mask[start]))
            start = i
    return runs


def sltt_k_step(model, x, target, loss_fn, k: int | None = None, generator: torch.Generator | None = None, **_):
    T = x.shape[0]
    if k is None or isinstance(k, bool) or not isinstance(k, int) or not (1 <= k <= T):
        raise ValueError(f"k={k!r}: expected an integer number of backward steps in [1, T={T}]")
    chosen = torch.randperm(T, generator=generator)[:k]
    mask = [False] * T
    for t in chosen.tolist():
        mask[t] = True
    state, total, outs = None, 0.0, _Outputs(T)
    for a, b, with_grad in _runs(mask):
        if with_grad:
            for t in range(a, b):  # one step per backward pass: memory of one step
                out, state = model(x[t:t + 1], state, temporal_grad=False)
                loss = sequence_loss(loss_fn, out, target, T)
                loss.backward()
                state = model.detach_state(state)
                total += float(loss.detach())
                outs.put(t, out)
        else:  # forward only, all the steps of the run in one fused call
            with torch.no_grad():
                out, state = model(x[a:b], state, temporal_grad=False)
                total += float(sequence_loss(loss_fn, out, target, T))
                outs.put(a, out)
    return total, outs.buf


STRATEGIES = {"bptt": bptt_step, "sltt": sltt_step, "sltt-k": sltt_k_step}


def register_strategy(name: str, fn) -> None:
    """Make ``fn(model, x, target, loss_fn, **options) -> (loss_value, outputs)`` available by name."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"strategy name {name!r}: expected a non-empty string")
    if not callable(fn):
        raise TypeError(f"strategy {name!r}: expected a callable, got {fn!r}")
    STRATEGIES[name] = fn
