"""The delayed-recall task and its three models (``spiking run astro-memory``, see
``spiking.experiments.astro_memory``): trials, the adaptive-LIF baseline, the models with equal
parameter counts, and one training run scored on fresh trials.

Task (ours): a cue of 5 steps (input channels 0-4 fire with p = 0.8 for class 0, channels 5-9 for
class 1), then ``delay`` steps of background noise (every channel, p = 0.02), then a recall
period of 5 steps in which channels 10-14 fire (p = 0.8) and the readout must name the cue.
20 input channels (15-19: noise only). Loss: cross-entropy of the readout over the recall steps.

Models (one hidden layer, bias-free Linear layers, a LeakyReadout with beta = 0.9; hidden beta =
0.9, i.e. a membrane memory of about 10 steps; Adam, learning rate 1e-2):

* ``lif``: ``Linear(20, 57) -> LIF(57)``;
* ``alif``: the same with threshold adaptation (Bellec et al. 2018, LSNN: threshold
  ``1 + 1.8 b``, ``b <- rho b + (1 - rho) s``, rho = exp(-1/200)), fixed adaptation parameters;
* ``astro``: ``Linear(20, 48) -> AstroLIF(48, one astrocyte per neuron, tau_a = 100 steps,
  modulation="current")``;

parameter counts 1254, 1254 and 1248. Kept apart from the experiment module because it imports
torch, which the command line (it imports every experiment module) should not pay for.
"""
from __future__ import annotations

import math

import torch
from torch import nn

N_IN, CUE, RECALL = 20, 5, 5
KINDS = ("lif", "alif", "astro")   # as in spiking.experiments.astro_memory (no import: that one stays torch-free)
STRATEGIES = ("bptt", "sltt")


def make_batch(n, delay, gen):
    """x [T, n, 20] (float), labels [n] (long), T = CUE + delay + RECALL."""
    T = CUE + delay + RECALL
    y = torch.randint(0, 2, (n,), generator=gen)
    p = torch.full((T, n, N_IN), 0.02)
    cue = torch.zeros(n, N_IN)
    cue[y == 0, 0:5] = 0.8
    cue[y == 1, 5:10] = 0.8
    p[:CUE] = torch.maximum(p[:CUE], cue)
    p[CUE + delay:, :, 10:15] = 0.8
    return (torch.rand(p.shape, generator=gen) < p).float(), y


class ALIF(nn.Module):
    """Adaptive-threshold LIF (Bellec et al. 2018), the baseline with a slow variable of its own."""

    def __init__(self, n, beta=0.9, rho=math.exp(-1 / 200), beta_a=1.8, surrogate="atan"):
        super().__init__()
        from spiking.nn.surrogate import get_surrogate
        self.n, self.beta, self.rho, self.beta_a = n, beta, rho, beta_a
        self.surrogate = get_surrogate(surrogate)

    def forward(self, x, state=None, temporal_grad=True):
        from spiking.nn.surrogate import spike
        v = x.new_zeros(x.shape[1:])
        b = x.new_zeros(x.shape[1:])
        out = []
        for t in range(x.shape[0]):
            v = self.beta * v + x[t]
            z = spike(v - (1.0 + self.beta_a * b), self.surrogate)
            v = v * (1.0 - z)
            b = self.rho * b + (1.0 - self.rho) * z
            out.append(z)
        return torch.stack(out), None


class _Stack(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        for layer in self.layers:
            if isinstance(layer, nn.Linear):
                x = layer(x)
            else:
                x, _ = layer(x)
        return x


def build(kind, seed=0):
    """The model ``kind`` (lif, alif or astro), its weights drawn from torch's generator seeded
    with ``seed`` (inside ``fork_rng``: the caller's global torch state is left as it was)."""
    import spiking.nn as snn
    if kind not in KINDS:
        raise ValueError(f"model {kind!r}: expected one of {', '.join(KINDS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if kind == "lif":
            hidden, h = [snn.Linear(N_IN, 57), snn.LIF(beta=0.9)], 57
        elif kind == "alif":
            hidden, h = [snn.Linear(N_IN, 57), ALIF(57)], 57
        else:
            hidden, h = [snn.Linear(N_IN, 48), snn.AstroLIF(48, beta=0.9, tau_a=100.0, k_pre=0.5, k_post=0.0,
                                                            gain_init=0.1)], 48
        return _Stack(hidden + [snn.Linear(h, 2), snn.LeakyReadout(beta=0.9)])


def n_params(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _sltt_iteration(model, x, y, loss_fn):
    """SLTT (Meng et al. 2023): one step at a time, the state detached between steps, the loss of
    each recall step backpropagated at once (the astrocyte's parameters learn through the layer's
    forward traces, see spiking.nn.astro)."""
    import spiking.nn as snn
    seq = snn.Sequential(*model.layers)
    state = None
    T = x.shape[0]
    for t in range(T):
        out, state = seq(x[t:t + 1], state, temporal_grad=False)
        if t >= T - RECALL:
            (loss_fn(out[0], y) / RECALL).backward()
        state = seq.detach_state(state)


def train_eval(kind, delay, iters, seed, batch=64, strategy="bptt", n_test=512):
    """Train model ``kind`` for ``iters`` Adam steps on batches at ``delay``; (test accuracy, params)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy={strategy!r}: expected 'bptt' or 'sltt'")
    if int(delay) < 0 or int(iters) < 0 or int(batch) < 1 or int(n_test) < 1:
        raise ValueError(f"delay={delay}, iters={iters}, batch={batch}, n_test={n_test}: expected delay >= 0, "
                         "iters >= 0, batch >= 1 and n_test >= 1")
    gen = torch.Generator().manual_seed(seed)
    model = build(kind, seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(iters):
        x, y = make_batch(batch, delay, gen)
        opt.zero_grad()
        if strategy == "sltt":
            _sltt_iteration(model, x, y, loss_fn)
        else:
            out = model(x)[-RECALL:]
            loss = loss_fn(out.flatten(0, 1), y.repeat(RECALL))
            loss.backward()
        opt.step()
    test_gen = torch.Generator().manual_seed(10_000 + seed)
    with torch.no_grad():
        x, y = make_batch(n_test, delay, test_gen)
        pred = model(x)[-RECALL:].sum(0).argmax(-1)
    return float((pred == y).float().mean()), n_params(model)
