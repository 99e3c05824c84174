"""numba kernels of the event engine.

Both kernels read the per-population coefficient rows that the neuron declarations produce
(``NeuronModel.coefficients(dt)``; column meaning in ``spiking.models.neurons.COEF_NAMES``),
so the equations' constants live in one place.

``clock_run``: fixed-step simulation; spikes are delivered through a ring buffer of
``L = max_delay`` slots per receptor and neuron, so delivery costs spikes x fan-out.
``clock_kernel(pop_kind)``: ``clock_run``, or for a network of one population kind its twin that
compiles only that kind's kernel (the same result; less to compile on a fresh install).
``clock_run_threads``: the same steps on several threads, neurons and deliveries split by target
range; the same spikes and state, bit for bit, for every thread count (see ``_threads.py``).
``exact_run``: continuous-time event-driven simulation of delta-synapse LIF/IF neurons; a binary
heap orders synaptic events and a neuron is touched only when an event reaches it, with the
analytic decay since its last update.

The kernels live in files of their own (``_clock.py``, ``_exact.py``, ``_threads.py``), because
numba keys its on-disk cache by source file: an edit to one file recompiles only its kernels.
This module is the one place other code imports them from. ``compile_timer`` measures numba's
share of a run (``Recording.timing``).
"""
from __future__ import annotations

from ._clock import (clock_kernel, clock_run, deliver, deliver_tracked, deliver_unit, new_refractory,  # noqa: F401
                     update_neurons)
from ._exact import MAX_EXACT_MS, QUANTA_PER_MS, TIME_QUANTUM, exact_run, snap_time, snap_times  # noqa: F401
from ._threads import (ThreadPlan, available_cores, check_threads, clock_run_threads, plan_for,  # noqa: F401
                       plan_threads, thread_plan, window_for)
from ._timing import compile_timer  # noqa: F401

__all__ = ["clock_kernel", "clock_run", "clock_run_threads", "deliver", "deliver_tracked", "deliver_unit", "exact_run",
           "new_refractory", "snap_time", "snap_times", "thread_plan", "ThreadPlan", "update_neurons",
           "available_cores", "check_threads", "compile_timer", "plan_for", "plan_threads", "window_for",
           "MAX_EXACT_MS", "QUANTA_PER_MS", "TIME_QUANTUM"]
