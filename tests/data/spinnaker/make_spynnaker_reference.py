"""Ring-buffer left shifts computed by sPyNNaker itself, for tests/test_spinnaker_fixedpoint.py.

Run with sPyNNaker installed (not a dependency of spiking-sim; a virtual board, no hardware):

    python -m venv /tmp/spyvenv && /tmp/spyvenv/bin/pip install "spynnaker==1!7.4.1"
    printf '[Machine]\\nvirtual_board = True\\nversion = 5\\nwidth = 8\\nheight = 8\\n' > ~/.spynnaker.cfg
    /tmp/spyvenv/bin/python tests/data/spinnaker/make_spynnaker_reference.py tests/data/spinnaker/spynnaker_reference.json

The networks are built here from their published descriptions with PyNN only (nothing of
spiking-sim is imported), and ``AbstractPopulationVertex.get_ring_buffer_shifts()`` gives the
shift of each synapse type (excitatory, inhibitory) per population:

* ``one_delay``: 100 spike sources -> 1 IF_curr_exp neuron, all-to-all, 1 nA, delay 1 ms;
* ``delay_spread``: the same with delays 1 and 2 ms alternating (the expected-upper-bound path);
* ``cuba_list``: 400 IF_curr_exp neurons, a deterministic list (pre i -> post j when
  (7 i + 3 j) % 23 == 0 and i != j), excitatory from i < 320 with 1.62 nA, inhibitory with 9 nA,
  delay 1 ms (CUBA's weights);
* ``ca3``: the CA3 memory of Casanueva-Morato et al. (5 cues x 10 bits) as in the table of
  ``../shared/data/ca3_cam/README.md``, pair STDP (tau 3 ms, A 6, w in [0, 6] nA) on its two plastic
  projections;

and sPyNNaker's STDP exponential tables (``get_exp_lut_array``) and S1615 encodings of a few values.
"""
from __future__ import annotations

import json
import sys


def cuba_pairs(n=400, n_exc=320):
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j and (7 * i + 3 * j) % 23 == 0]
    exc = [(i, j) for i, j in pairs if i < n_exc]
    inh = [(i, j) for i, j in pairs if i >= n_exc]
    return exc, inh


CA3_NEURONS = {  # (cm, tau_m, v_thresh)
    "CA3cueCueRecall": (0.27, 3.0, -57.0), "CA3cueContRecall": (0.14, 0.5, -57.0),
    "CA3contCueRecall": (0.27, 3.0, -57.0), "CA3contContRecall": (0.27, 3.0, -57.0),
    "CA3contCond": (0.14, 0.5, -57.0), "CA3contCondInt": (0.14, 0.5, -57.0),
    "CA3mergeCue": (0.27, 3.0, -57.0), "CA3mergeCont": (0.27, 3.0, -57.0),
    "OUTcue": (0.27, 3.0, -57.5), "OUTcont": (0.27, 3.0, -57.5),
}


def main(out_path) -> int:
    import pyNN.spiNNaker as sim

    result = {"spynnaker": None, "cases": {}}
    sim.setup(timestep=1.0)
    import spynnaker
    result["spynnaker"] = getattr(spynnaker, "__version__", "7.4.1")

    def lif(**kw):
        return sim.IF_curr_exp(**kw)

    src = sim.Population(100, sim.SpikeSourceArray(spike_times=[[0.0]] * 100), label="src")
    one = sim.Population(1, lif(), label="one_delay")
    sim.Projection(src, one, sim.AllToAllConnector(), sim.StaticSynapse(weight=1.0, delay=1.0))
    spread = sim.Population(1, lif(), label="delay_spread")
    sim.Projection(src, spread, sim.FromListConnector([(i, 0, 1.0, 1.0 if i % 2 == 0 else 2.0) for i in range(100)]),
                   sim.StaticSynapse())
    cuba = sim.Population(400, lif(), label="cuba_list")
    exc, inh = cuba_pairs()
    sim.Projection(cuba, cuba, sim.FromListConnector([(i, j, 1.62, 1.0) for i, j in exc]), sim.StaticSynapse(),
                   receptor_type="excitatory")
    sim.Projection(cuba, cuba, sim.FromListConnector([(i, j, 9.0, 1.0) for i, j in inh]), sim.StaticSynapse(),
                   receptor_type="inhibitory")
    for p in (one, spread, cuba):
        result["cases"][p.label] = {p.label: list(map(int, p._vertex.get_ring_buffer_shifts()))}

    C, N = 5, 10
    pops = {"INcue": sim.Population(C, sim.SpikeSourceArray(spike_times=[[0.0]] * C), label="INcue"),
            "INcont": sim.Population(N, sim.SpikeSourceArray(spike_times=[[0.0]] * N), label="INcont")}
    sizes = {"CA3cueCueRecall": C, "CA3contCueRecall": N, "CA3contCond": N, "CA3contCondInt": 1,
             "CA3cueContRecall": C, "CA3contContRecall": N, "CA3mergeCue": C, "CA3mergeCont": N,
             "OUTcue": C, "OUTcont": N}
    for name, n in sizes.items():
        cm, tau, vth = CA3_NEURONS[name]
        pops[name] = sim.Population(n, lif(cm=cm, tau_m=tau, v_thresh=vth, v_rest=-60.0, v_reset=-60.0,
                                           tau_refrac=1.0, tau_syn_E=0.3, tau_syn_I=0.3, i_offset=0.0), label=name)

    def link(pre, post, conn, w, d, receptor="excitatory"):
        sim.Projection(pops[pre], pops[post], conn, sim.StaticSynapse(weight=w, delay=d), receptor_type=receptor)

    def stdp(pre, post):
        rule = sim.STDPMechanism(timing_dependence=sim.SpikePairRule(tau_plus=3.0, tau_minus=3.0, A_plus=6.0,
                                                                     A_minus=6.0),
                                 weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=6.0),
                                 weight=0.0, delay=1.0)
        sim.Projection(pops[pre], pops[post], sim.AllToAllConnector(), rule, receptor_type="excitatory")

    one2one, every, others = sim.OneToOneConnector(), sim.AllToAllConnector(), sim.AllToAllConnector(allow_self_connections=False)
    link("INcue", "CA3cueCueRecall", one2one, 6.0, 1.0)
    link("INcont", "CA3contCueRecall", one2one, 6.0, 1.0)
    link("CA3cueCueRecall", "CA3cueContRecall", one2one, 6.0, 2.0)
    link("CA3cueCueRecall", "CA3cueContRecall", others, 6.0 * N, 3.0, "inhibitory")
    link("CA3cueCueRecall", "CA3contCond", every, 6.0, 2.0, "inhibitory")
    link("CA3contCueRecall", "CA3contCond", one2one, 9.0, 1.0)
    link("CA3contCond", "CA3contContRecall", one2one, 6.0, 1.0)
    link("CA3contCueRecall", "CA3contCondInt", every, 6.0, 1.0)
    link("CA3contCondInt", "CA3contCond", every, 2.0, 1.0)
    stdp("CA3cueCueRecall", "CA3contCueRecall")
    stdp("CA3contContRecall", "CA3cueContRecall")
    link("CA3cueContRecall", "CA3cueContRecall", others, 6.0 * N, 2.0, "inhibitory")
    link("CA3cueCueRecall", "CA3mergeCue", one2one, 6.0, 3.0)
    link("CA3cueContRecall", "CA3mergeCue", one2one, 6.0, 1.0)
    link("CA3contCueRecall", "CA3mergeCont", one2one, 6.0, 3.0)
    link("CA3contContRecall", "CA3mergeCont", one2one, 6.0, 1.0)
    link("CA3mergeCue", "OUTcue", one2one, 6.0, 1.0)
    link("CA3mergeCont", "OUTcont", one2one, 6.0, 1.0)
    result["cases"]["ca3"] = {name: list(map(int, pops[name]._vertex.get_ring_buffer_shifts())) for name in sizes}
    # STDP decay tables (header of size and shift, then the 16-bit values) and S1615 encodings
    import numpy
    from spinn_front_end_common.interface.ds import DataType
    from spynnaker.pyNN.models.neuron.plasticity.stdp.common import get_exp_lut_array
    luts = {}
    for ts, tau in ((1.0, 3.0), (1.0, 20.0), (0.1, 20.0)):
        words = get_exp_lut_array(ts, tau).view(numpy.uint16)
        luts[f"{ts:g}/{tau:g}"] = [int(x) for x in words[2:2 + int(words[0])]]
    result["exp_luts"] = luts
    result["s1615"] = {repr(v): int(DataType.S1615.encode_as_int(v))
                       for v in (1.0, -60.0, 1 / 3, 2 ** -16, 3 * 2 ** -16, 6.0, 1.62, -57.5)}
    sim.end()
    text = json.dumps(result, indent=1, sort_keys=True)
    with open(out_path, "w") as f:
        f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "spynnaker_reference.json"))
