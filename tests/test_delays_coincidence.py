"""A synthetic coincidence task that only delays can solve.

Four classes; class k is "channel a_k fires exactly lag_k steps before channel b_k" (lags 5, 10,
15, 20 steps). In every sample each of the 8 channels fires exactly once, and the pairs of the
other classes fire with any relative timing but their own lag, so spike counts carry no
information: only the relative timing of two channels does. The hidden LIF forgets in a few
steps (beta 0.5: 3 % left after 5 steps) and the readout sums the hidden spikes over time, so
without delays (M = 1) the network cannot see a lag of 5-20 steps and stays near chance (25 %);
with learned delays (M = 25) a hidden unit can delay a_k by lag_k and fire on the coincidence.
Targets: learned delays >= 95 %, M = 1 <= 60 % (on 400 test samples; evaluation with one-hot
kernels, the exported network).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import spiking.nn as snn
from spiking.nn.delays import DelayedLinear, SigmaSchedule, delay_optimizers

PAIRS = ((0, 1, 5), (2, 3, 10), (4, 5, 15), (6, 7, 20))      # (a, b, lag in steps)


def coincidence_task(n: int, T: int, rng: np.random.Generator):
    """(spikes [T, n, 8] float32, labels [n]) of the task above."""
    x = np.zeros((T, n, 2 * len(PAIRS)), np.float32)
    y = rng.integers(0, len(PAIRS), n)
    for s in range(n):
        for k, (a, b, lag) in enumerate(PAIRS):
            ta = int(rng.integers(0, T - 21))
            tb = ta + lag
            while k != y[s] and abs(tb - ta - lag) <= 1:          # other classes: any lag but their own
                tb = int(rng.integers(0, T))
            x[ta, s, a] = x[tb, s, b] = 1.0
    return torch.from_numpy(x), torch.from_numpy(y)


def train(M: int, epochs: int, seed: int = 0, n_train: int = 600, T: int = 50, hidden: int = 32):
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    x_train, y_train = coincidence_task(n_train, T, rng)
    x_test, y_test = coincidence_task(400, T, rng)
    model = snn.Sequential(DelayedLinear(8, hidden, M, generator=gen), snn.LIF(0.5, detach_reset=True),
                           DelayedLinear(hidden, 4, 1, generator=gen), snn.LeakyReadout(0.0))
    # learning rates 10x the SHD configuration's: a small task with few steps per epoch (with
    # lr_pos 0.1 or 16 hidden units, some seeds stall below 95 %; measured on seeds 0-3)
    optimizers, schedulers = delay_optimizers(model, epochs, lr_w=1e-2, lr_pos=1.0)
    sigma = SigmaSchedule.for_training(M, epochs)
    delayed = [m for m in model if isinstance(m, DelayedLinear)]
    for epoch in range(epochs):
        for m in delayed:
            m.set_sigma(sigma(epoch))
        model.train()
        order = torch.randperm(n_train, generator=gen)
        for start in range(0, n_train, 50):
            idx = order[start:start + 50]
            out, _ = model(x_train[:, idx])
            loss = torch.nn.functional.cross_entropy(out.sum(0), y_train[idx])
            for opt in optimizers:
                opt.zero_grad()
            loss.backward()
            for opt in optimizers:
                opt.step()
            for m in delayed:
                m.clamp_positions()
        for sched in schedulers:
            sched.step()
    model.eval()
    with torch.no_grad():
        return (model(x_test)[0].sum(0).argmax(1) == y_test).float().mean().item(), model


@pytest.fixture
def one_thread():
    """One torch thread: the result then does not depend on the machine's thread count (the
    training is sensitive to summation order: with two threads, seed 2 reached 79 % once)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_the_task_has_no_rate_information():
    x, y = coincidence_task(200, 50, np.random.default_rng(0))
    assert torch.equal(x.sum(0), torch.ones(200, 8))          # one spike per channel, every class
    t = x.argmax(0)                                           # spike step of each channel
    for k, (a, b, lag) in enumerate(PAIRS):
        assert torch.equal((t[:, b] - t[:, a] == lag), y == k)


def test_learned_delays_solve_the_coincidence_task_and_no_delays_do_not(one_thread):
    learned, model = train(25, epochs=20)
    assert learned >= 0.95, learned
    # the network learned coincidence detectors: for at least two classes, the hidden unit with
    # the largest readout weight excites from both channels of the pair and delays a_k by lag_k
    # relative to b_k (up to a step); the others can be told apart by which detectors stay silent
    d = model[0].delays().numpy()
    w = model[0].weight.detach().numpy()
    readout = model[2].weight.detach().numpy()
    found = 0
    for k, (a, b, lag) in enumerate(PAIRS):
        unit = int(np.argmax(readout[k]))
        found += bool(w[unit, a] > 0 and w[unit, b] > 0 and abs((d[unit, a] - d[unit, b]) - lag) <= 1)
    assert found >= 2, (d, w, readout)
    no_delays, _ = train(1, epochs=20)
    assert no_delays <= 0.60, no_delays


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_coincidence_task_over_seeds(seed, one_thread):
    learned, _ = train(25, epochs=20, seed=seed)
    no_delays, _ = train(1, epochs=20, seed=seed)
    assert learned >= 0.95 and no_delays <= 0.60, (learned, no_delays)
