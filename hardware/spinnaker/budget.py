"""The per-tick time budget of a SpiNNaker core, and the provenance a board reports.

Cycles a core spends in one tick (a model, not a measurement):

    cycles = neurons x C_NEURON + synaptic events x C_SYN + rows fetched x C_DMA + C_FIXED

against the budget ``clock_hz x tick_ms / 1000 x time_scale_factor``. The constants are
assumptions, derived as follows and documented in docs/spinnaker.md:

* ``C_SYN = 32`` cycles per synaptic event: Rhodes et al., "sPyNNaker: A Software Package for
  Running PyNN Simulations on SpiNNaker", Front. Neurosci. 12:816 (2018) report a core processing
  about 5,000-10,000 synaptic events per millisecond at 200 MHz, i.e. 20-40 cycles each; 32 is
  the middle (6,250 events per ms).
* ``C_NEURON = 150`` cycles per neuron update of IF_curr_exp (our assumption: the s16.15 closed
  form, two synaptic inputs, threshold, recording bit; 256 neurons then take 19 % of a 1 ms tick).
* ``C_DMA = 120`` cycles per synaptic row fetched from SDRAM (DMA set-up, master population
  table look-up and row header; our assumption).
* ``C_FIXED = 2,000`` cycles per tick (timer interrupt, recording and provenance bookkeeping;
  our assumption).

Provenance names and advice follow sPyNNaker's (``population_machine_vertex.py`` /
SpiNNFrontEndCommon provenance): "Times_the_timer_tic_over_ran", "Max_number_of_times_timer_tic_over_ran"
(here: the largest overrun in cycles), "Times_synaptic_weights_have_saturated",
"Times_the_input_buffer_lost_packets".
"""
from __future__ import annotations

from dataclasses import dataclass

C_SYN = 32
C_NEURON = 150
C_DMA = 120
C_FIXED = 2000

# Rhodes et al. 2018: synaptic events per ms per core at 200 MHz
PUBLISHED_EVENTS_PER_MS = (5000, 10000)


@dataclass(frozen=True)
class CycleModel:
    c_neuron: int = C_NEURON
    c_syn: int = C_SYN
    c_dma: int = C_DMA
    c_fixed: int = C_FIXED

    def budget(self, clock_hz: float, tick_ms: float, time_scale_factor: float) -> int:
        """Cycles available in one tick."""
        return int(clock_hz * tick_ms / 1000.0 * time_scale_factor)

    def cycles(self, neurons: int, events: int, rows: int) -> int:
        return neurons * self.c_neuron + events * self.c_syn + rows * self.c_dma + self.c_fixed


def provenance_report(counts: dict) -> str:
    """What a board would report after the run, with sPyNNaker's advice where a count is not 0."""
    lines = ["provenance (as a SpiNNaker board reports it):"]
    ov, mx = counts.get("timer_tick_overruns", 0), counts.get("max_overrun_cycles", 0)
    sat = counts.get("synaptic_weight_saturations", 0)
    lost = counts.get("input_buffer_packets_lost", 0)
    lines.append(f"  Times_the_timer_tic_over_ran: {ov} (largest overrun {mx} cycles; "
                 f"budget {counts.get('budget_cycles_per_tick', 0)} cycles per tick)")
    if ov:
        lines.append("    advice: the cores ran out of time in some ticks; try increasing the time_scale_factor "
                     "or reducing the number of neurons per core")
    lines.append(f"  Times_synaptic_weights_have_saturated: {sat}")
    if sat:
        lines.append("    advice: the ring buffers saturated; the weights may be too large for the left shift chosen "
                     "(raise ring_buffer_sigma or spikes_per_second), or the input too synchronous")
    lines.append(f"  Times_the_input_buffer_lost_packets: {lost}")
    if lost:
        lines.append("    advice: spikes arrived faster than the core could process them; try increasing the "
                     "time_scale_factor or reducing the number of neurons per core")
    return "\n".join(lines)
