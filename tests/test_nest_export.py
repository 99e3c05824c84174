"""Export to NEST 3 (spiking.export, ``spiking export nest``) against NEST itself.

Oracles: NEST 3.10 run live on the exported network (the event engine already gives NEST's
spikes on CUBA), and NEST's spikes of the several-population network stored in
tests/data/nest_export/multipop.npz by ``benchmarks/nest_export_reference.py --write``, so that
the agreement is checked where NEST is not installed. NEST stamps a spike one step later than we
do (docs/architecture.md): times are compared after subtracting dt.
"""
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import spiking as sp
from spiking.experiments import cli
from spiking.export import nest_spec

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("nest_export_reference", ROOT / "benchmarks" / "nest_export_reference.py")
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)


def _same_spikes(net, ours, theirs_nest_stamps):
    for name, (t, i) in ours.items():
        tn, inn = theirs_nest_stamps[name]
        size = net.populations[name].size
        assert t.size > 0
        assert np.array_equal(np.bincount(i, minlength=size), np.bincount(inn, minlength=size)), name
        order = np.lexsort((i, t))
        assert np.array_equal(i[order], inn) and np.max(np.abs(t[order] - (tn - net.dt))) < 1e-9, name


# -- without NEST ----------------------------------------------------------------------------------

def test_engine_reproduces_the_stored_nest_spikes_of_the_multipop_network():
    net = ref.multipop()
    with np.load(ROOT / "tests" / "data" / "nest_export" / "multipop.npz") as f:
        duration = float(f["duration_ms"])
        stored = {name: (f[f"{name}_times"], f[f"{name}_ids"]) for name in ("delta", "exp")}
    _same_spikes(net, ref.run_ours(net, duration), stored)


def test_spec_carries_nest_units_signs_delays_and_the_stamp_shift():
    net = ref.multipop()
    spec, arrays = nest_spec(net)
    pops = {p["name"]: p for p in spec["populations"]}
    assert pops["delta"]["nest_model"] == "iaf_psc_delta" and pops["exp"]["nest_model"] == "iaf_psc_exp"
    assert pops["exp"]["params"]["C_m"] == pytest.approx(300.0) and pops["exp"]["params"]["I_e"] == pytest.approx(100.0)
    assert pops["delta"]["params"]["tau_m"] == 15.0 and pops["delta"]["params"]["t_ref"] == 2.0
    np.testing.assert_array_equal(arrays[pops["delta"]["initial"]["V_m"]], net.populations["delta"].initial["v"])
    by_name = {p["name"]: p for p in spec["projections"]}
    for proj in net.projections:
        entry = by_name[proj.name]
        scale = 1000.0 if proj.post == "exp" else 1.0          # pA for current synapses, mV for delta
        sign = 1.0 if proj.receptor == "excitatory" else -1.0
        np.testing.assert_allclose(arrays[entry["weight"]], sign * scale * proj.weight)
        np.testing.assert_allclose(arrays[entry["delay"]], proj.delay * net.dt)
        np.testing.assert_array_equal(arrays[entry["pre_idx"]], proj.pre_idx)
    src = net.populations["input"].model
    shifted = arrays[pops["input"]["times"]]
    np.testing.assert_allclose(shifted, (np.rint(src.times / net.dt) + 1) * net.dt, atol=1e-9)


class _OwnLIF(sp.LIF):
    pass


@pytest.mark.parametrize("model,initial,words", [
    (sp.IF(), {}, "tau_m=inf"),
    (sp.LIF(reset="soft"), {}, "reset='soft'"),
    (sp.CubaLIF(update_order="spinnaker"), {}, "update_order='spinnaker'"),
    (sp.CubaLIF(), {"i_e": 0.5}, "initial i_e"),
    (_OwnLIF(), {}, "model _OwnLIF"),
])
def test_models_without_a_nest_counterpart_are_refused_by_name(model, initial, words):
    net = sp.Network(dt=0.1)
    net.add_population("odd", 3, model, initial=initial)
    with pytest.raises(ValueError, match="population 'odd'") as err:
        nest_spec(net)
    assert words in str(err.value) and "no NEST counterpart" in str(err.value)


def test_plastic_projections_are_refused_by_name():
    from spiking.plasticity import PairSTDP

    net = sp.Network(dt=0.1)
    net.add_population("a", 4, sp.LIF())
    net.connect("a", "a", sp.AllToAll(allow_self=False), weight=0.5, name="learn", plasticity=PairSTDP())
    with pytest.raises(ValueError, match="projection 'learn' has plasticity PairSTDP"):
        nest_spec(net)


# -- with NEST -------------------------------------------------------------------------------------

def test_to_nest_reproduces_the_multipop_network_with_delays():
    pytest.importorskip("nest")
    from spiking.export import to_nest

    net = ref.multipop()
    built = to_nest(net)
    built.run(ref.MULTIPOP_MS)
    _same_spikes(net, ref.run_ours(net, ref.MULTIPOP_MS), built.spikes(convention="nest"))
    ours_stamps = built.spikes()   # default: our convention, NEST's minus dt
    assert np.allclose(ours_stamps["exp"][0], built.spikes(convention="nest")["exp"][0] - net.dt)


def test_to_nest_reproduces_cuba_spike_for_spike():
    pytest.importorskip("nest")
    from spiking.export import to_nest

    net = ref.cuba()
    built = to_nest(net)
    built.run(ref.CUBA_MS)
    _same_spikes(net, ref.run_ours(net, ref.CUBA_MS), built.spikes(convention="nest"))


def test_cli_export_writes_a_script_that_runs_without_spiking(tmp_path):
    pytest.importorskip("nest")
    net = ref.multipop()
    net.save(tmp_path / "net.h5")
    out = tmp_path / "export"
    assert cli.main(["export", "nest", str(tmp_path / "net.h5"), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["arrays.npz", "network.json", "run_nest.py"]
    # run the script in a fresh interpreter where spiking cannot be imported
    code = ("import sys, runpy; sys.modules['spiking'] = None; "
            f"sys.argv = ['run_nest.py', '--duration', '{ref.MULTIPOP_MS}']; "
            f"runpy.run_path({str(out / 'run_nest.py')!r}, run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={"OMP_WAIT_POLICY": "PASSIVE", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["processes"] == 1
    with np.load(out / "spikes.npz") as f:
        theirs = {name: (f[f"{name}/times"], f[f"{name}/ids"]) for name in ("delta", "exp")}
    _same_spikes(net, ref.run_ours(net, ref.MULTIPOP_MS), theirs)


def test_poisson_sources_keep_their_rate_in_nest():
    pytest.importorskip("nest")
    from spiking.export import to_nest

    net = sp.Network(dt=0.1)
    net.add_source("poisson", 200, sp.PoissonSource(40.0, start=0.0, stop=400.0))
    net.add_population("relay", 200, sp.LIF(tau_m=10.0, v_rest=0.0, v_reset=0.0, v_th=1.0))
    net.connect("poisson", "relay", sp.OneToOne(), weight=2.0)    # every input spike fires its relay
    spikes = to_nest(net).run(500.0)["relay"][0]
    expected = 200 * 40.0 * 0.4          # rate x units x active time (s)
    assert abs(spikes.size - expected) < 5 * math.sqrt(expected)
    assert spikes.max() < 400.0 + 1.0    # nothing after stop (plus the relay's delays)


def test_cli_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.h5"):
        cli.main(["export", "nest", str(tmp_path / "nowhere.h5"), "--out", str(tmp_path / "o")])
