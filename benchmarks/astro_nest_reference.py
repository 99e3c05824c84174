"""Astrocytes against NEST 3.10: reference traces, agreement and cost.

Four cases, each built from one seeded description and run in NEST and in our event engine with
identical inputs (spike trains drawn here and given to NEST as ``spike_generator`` times and to us
as a ``SpikeSourceArray`` one step earlier: NEST emits a generator spike at time t in the step that
ends at t, we in the step that starts at t; both then arrive ``delay`` steps later):

* ``single``: one ``astrocyte_lr_1994`` driven by a Poisson train (IP3, Ca_astro, h_IP3R);
* ``clamp``: astrocytes at clamped IP3 (``delta_IP3 = 0``, IP3 = IP3_0) for a scan of IP3_0:
  calcium oscillates only in a middle band;
* ``tsodyks``: an ``iaf_psc_exp`` neuron (our ``CubaLIF``) fed through a facilitating and a
  depressing ``tsodyks_synapse``;
* ``pair``: the tripartite pair of NEST's ``astrocyte_interaction.py``, driven harder so that the
  SIC visibly changes the postsynaptic spiking: the presynaptic neuron gets the example's 1500 Hz
  Poisson drive, the astrocyte ``delta_IP3 = 0.2`` (the example's), and two postsynaptic neurons
  held just below rheobase (``I_e = 500 pA``; rheobase is about 546 pA) take the same synaptic
  input, one with a SIC projection of weight 20 (SIC of a few pA x 20), one without;
* ``network``: 100 excitatory and 25 inhibitory AdExAstro neurons and 20 astrocytes, E -> E built
  with ``TripartiteConnect`` (block pools, one astrocyte per 5 targets), the other pathways with
  Bernoulli connectivity; the connection lists are ours and handed to NEST as arrays.

``python benchmarks/astro_nest_reference.py --write`` stores NEST's results in
``tests/data/astro/<case>.npz`` (what ``tests/test_astro_nest.py`` compares against without NEST).
Without ``--write`` it runs both simulators and prints the agreement and the run times (JSON to
``benchmarks/results/astro_nest.json``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "astro"
DT = 0.1
SAMPLE = 10.0      # ms between stored samples of traces (every 100 steps)


# ---------------------------------------------------------------------------------------------
# shared descriptions

def poisson_train(rate_hz, duration_ms, rng, t_min=DT):
    """Poisson spike times on the dt grid in [t_min, duration) (NEST spike_generator times)."""
    n = rng.poisson(rate_hz * duration_ms / 1000.0)
    t = np.sort(rng.uniform(0.0, duration_ms, n))
    t = np.unique(np.round(t / DT) * DT)
    return t[(t >= t_min) & (t < duration_ms - DT)]


def case_spec(case: str, seed: int = 12345) -> dict:
    rng = np.random.default_rng(seed)
    if case == "single":
        T = 30_000.0
        return dict(case=case, T=T, astro=dict(delta_IP3=0.02), train=poisson_train(10.0, T, rng))
    if case == "clamp":
        return dict(case=case, T=60_000.0, sample=50.0,
                    ip3=np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.5, 2.0, 3.0]))
    if case == "pair":
        T = 10_000.0
        return dict(case=case, T=T, neuron=dict(tau_syn_ex=2.0), astro=dict(delta_IP3=0.2), post_I_e=500.0, w_in=2.0,
                    w_sic=20.0, train=poisson_train(1500.0, T, rng))
    if case == "tsodyks":
        T = 3_000.0
        return dict(case=case, T=T, sample=1.0, lif=dict(tau_m=10.0, C_m=250.0, E_L=-70.0, V_reset=-70.0, V_th=-55.0,
                                                       t_ref=2.0, tau_syn_ex=3.0, tau_syn_in=3.0),
                    rules=[dict(U=0.2, tau_psc=3.0, tau_rec=500.0, tau_fac=200.0),   # facilitating
                           dict(U=0.6, tau_psc=3.0, tau_rec=800.0, tau_fac=0.0)],    # depressing
                    w=[12000.0, -2000.0], trains=[poisson_train(60.0, T, rng), poisson_train(20.0, T, rng)])
    if case == "network":
        import spiking as sp
        T = 2_000.0
        n_e, n_i, n_a = 100, 25, 20
        net = sp.Network(dt=DT)
        net.add_population("E", n_e, sp.AdExAstro())
        net.add_population("I", n_i, sp.AdExAstro())
        net.add_population("A", n_a, sp.Astrocyte())
        rule = sp.TripartiteConnect(sp.FixedProbability(0.1), p=0.5, pool_size=1, pool_type="block")
        (pe, pp), (ie, ia), (oa, op) = rule.build_tripartite(n_e, n_e, n_a, True, rng)
        conns = {"EE": (pe, pp)}
        for name, (a, b) in {"EI": (n_e, n_i), "IE": (n_i, n_e), "II": (n_i, n_i)}.items():
            conns[name] = sp.FixedProbability(0.1).build(a, b, name == "II", rng)
        rng_in = np.random.default_rng(seed + 1)   # inputs from their own stream (connectivity is stored)
        trains = [poisson_train(6000.0, T, rng_in) for _ in range(n_e + n_i)]
        return dict(case=case, T=T, n=(n_e, n_i, n_a), neuron=dict(tau_syn_ex=2.0, tau_syn_in=4.0),
                    astro=dict(delta_IP3=0.5), w=dict(EE=1.0, EI=1.0, IE=4.0, II=4.0, ext=1.0, sic=1.0, third_in=1.0),
                    conns=conns, third_in=(ie, ia), third_out=(oa, op), trains=trains)
    raise ValueError(f"case={case!r}: expected single, clamp, pair or network")


# ---------------------------------------------------------------------------------------------
# our side

def _array_source(trains):
    """SpikeSourceArray with each NEST generator time moved one step earlier (see the docstring)."""
    import spiking as sp
    return sp.SpikeSourceArray.from_lists([np.asarray(t) - DT for t in trains])


def spec_from_reference(case: str, ref) -> dict:
    """The case's description with the connectivity stored in a reference file (network)."""
    spec = case_spec(case)
    if case == "network":
        for name in list(spec["conns"]):
            spec["conns"][name] = tuple(ref[f"conn.{name}"])
        spec["third_in"] = tuple(ref["conn.third_in"])
        spec["third_out"] = tuple(ref["conn.third_out"])
    return spec


def build_ours(spec: dict, integrator: str = "rkf45", substeps: int = 1):
    """(network, record dict) of a case in our description."""
    import spiking as sp
    opt = dict(integrator=integrator, substeps=substeps)
    net = sp.Network(dt=DT)
    c = spec["case"]
    if c == "single":
        net.add_source("src", 1, _array_source([spec["train"]]))
        net.add_population("astro", 1, sp.Astrocyte(**spec["astro"], **opt))
        net.connect("src", "astro", sp.OneToOne(), weight=1.0, delay=DT)
        return net, {"astro": ["IP3", "Ca_astro", "h_IP3R", "SIC"]}
    if c == "clamp":
        for k, v in enumerate(spec["ip3"]):
            net.add_population(f"a{k}", 1, sp.Astrocyte(IP3_0=float(v), delta_IP3=0.0, **opt))
        return net, {f"a{k}": ["Ca_astro", "h_IP3R"] for k in range(len(spec["ip3"]))}
    if c == "pair":
        nrn = spec["neuron"]
        net.add_source("src", 1, _array_source([spec["train"]]))
        net.add_population("pre", 1, sp.AdExAstro(**nrn, **opt))
        net.add_population("post", 2, sp.AdExAstro(**nrn, I_e=spec["post_I_e"], **opt))
        net.add_population("astro", 1, sp.Astrocyte(**spec["astro"], **opt))
        net.connect("src", "pre", sp.OneToOne(), weight=spec["w_in"], delay=DT)
        net.connect("pre", "post", sp.AllToAll(), weight=1.0, delay=DT)
        net.connect("pre", "astro", sp.OneToOne(), weight=1.0, delay=DT)
        net.connect("astro", "post", sp.FromList(np.array([0]), np.array([0])), weight=spec["w_sic"], delay=DT)
        return net, {"pre": ["v"], "post": ["v", "I_SIC"], "astro": ["IP3", "Ca_astro", "SIC"]}
    if c == "tsodyks":
        p = spec["lif"]
        # NEST relays the generators through parrot neurons (one step), so our sources are not shifted
        net.add_source("src", 2, sp.SpikeSourceArray.from_lists(spec["trains"]))
        net.add_population("n", 1, sp.CubaLIF(tau_m=p["tau_m"], c_m=p["C_m"] * 1e-3, v_rest=p["E_L"],
                                              v_reset=p["V_reset"], v_th=p["V_th"], t_ref=p["t_ref"],
                                              tau_syn_e=p["tau_syn_ex"], tau_syn_i=p["tau_syn_in"]))
        for k, (rule, w) in enumerate(zip(spec["rules"], spec["w"])):
            net.connect("src", "n", sp.FromList(np.array([k]), np.array([0])), weight=abs(w) * 1e-3, delay=DT,
                        receptor="excitatory" if w > 0 else "inhibitory", plasticity=sp.TsodyksSynapse(**rule))
        return net, {"n": ["v"]}
    if c == "network":
        n_e, n_i, n_a = spec["n"]
        w = spec["w"]
        net.add_source("ext", n_e + n_i, _array_source(spec["trains"]))
        net.add_population("E", n_e, sp.AdExAstro(**spec["neuron"], **opt))
        net.add_population("I", n_i, sp.AdExAstro(**spec["neuron"], **opt))
        net.add_population("A", n_a, sp.Astrocyte(**spec["astro"], **opt))
        ext_pre = np.arange(n_e + n_i)
        net.connect("ext", "E", sp.FromList(ext_pre[:n_e], np.arange(n_e)), weight=w["ext"], delay=DT)
        net.connect("ext", "I", sp.FromList(ext_pre[n_e:], np.arange(n_i)), weight=w["ext"], delay=DT)
        pops = {"E": "E", "I": "I"}
        for name, (a, b) in spec["conns"].items():
            rec = "excitatory" if name[0] == "E" else "inhibitory"
            net.connect(pops[name[0]], pops[name[1]], sp.FromList(a, b), weight=w[name], delay=DT, receptor=rec)
        net.connect("E", "A", sp.FromList(*spec["third_in"]), weight=w["third_in"], delay=DT)
        net.connect("A", "E", sp.FromList(*spec["third_out"]), weight=w["sic"], delay=DT)
        return net, {"A": ["Ca_astro", "SIC"], "E": ["v"]}
    raise ValueError(c)


def run_ours(spec, integrator="rkf45", substeps=1):
    import spiking as sp
    net, record = build_ours(spec, integrator, substeps)
    eng = sp.EventEngine(net)
    eng.run(10 * DT, record=record)      # load the compiled kernel before timing
    t0 = time.perf_counter()
    rec = eng.run(spec["T"], record=record)
    wall = time.perf_counter() - t0
    every = int(round(spec.get("sample", SAMPLE) / DT))
    out = {"wall_s": wall}
    for pop, variables in record.items():
        for var in variables:
            out[f"{pop}.{var}"] = rec.state[pop][var][every - 1::every]   # rows at t = k * SAMPLE
    for pop, tr in rec.spikes.items():
        if not net.populations[pop].is_source:
            out[f"{pop}.spike_steps"] = np.rint(tr.times / DT).astype(np.int64)   # our step n = NEST stamp (n+1) dt
            out[f"{pop}.spike_ids"] = tr.ids
    return out


# ---------------------------------------------------------------------------------------------
# NEST side

def _connect_arrays(nest, pre, post, weight, model="static_synapse"):
    n = len(pre)
    nest.Connect(np.asarray(pre, dtype=np.int64), np.asarray(post, dtype=np.int64), "one_to_one",
                 syn_spec={"synapse_model": model, "weight": np.full(n, float(weight)), "delay": np.full(n, DT)})


def run_nest(spec) -> dict:
    import nest
    nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    nest.resolution = DT
    nest.local_num_threads = 1
    c = spec["case"]
    out = {}
    mms = {}

    def mm(name, nodes, variables):
        m = nest.Create("multimeter", params={"record_from": variables, "interval": spec.get("sample", SAMPLE)})
        nest.Connect(m, nodes)
        mms[name] = (m, variables, len(nodes))

    def gen(trains):
        g = nest.Create("spike_generator", len(trains))
        for k, t in enumerate(trains):
            g[k].spike_times = np.asarray(t, dtype=float)
        return g

    sr = {}
    if c == "single":
        a = nest.Create("astrocyte_lr_1994", params=spec["astro"])
        g = gen([spec["train"]])
        nest.Connect(g, a, syn_spec={"weight": 1.0, "delay": DT})
        mm("astro", a, ["IP3", "Ca_astro", "h_IP3R"])
    elif c == "clamp":
        for k, v in enumerate(spec["ip3"]):
            a = nest.Create("astrocyte_lr_1994", params={"IP3_0": float(v), "IP3": float(v), "delta_IP3": 0.0})
            mm(f"a{k}", a, ["Ca_astro", "h_IP3R"])
    elif c == "pair":
        pre = nest.Create("aeif_cond_alpha_astro", params=spec["neuron"])
        post = nest.Create("aeif_cond_alpha_astro", 2, params={**spec["neuron"], "I_e": spec["post_I_e"]})
        a = nest.Create("astrocyte_lr_1994", params=spec["astro"])
        g = gen([spec["train"]])
        nest.Connect(g, pre, syn_spec={"weight": spec["w_in"], "delay": DT})
        nest.Connect(pre, post, syn_spec={"weight": 1.0, "delay": DT})
        nest.Connect(pre, a, syn_spec={"weight": 1.0, "delay": DT})
        nest.Connect(a, post[0], syn_spec={"synapse_model": "sic_connection", "weight": spec["w_sic"], "delay": DT})
        mm("pre", pre, ["V_m"])
        mm("post", post, ["V_m", "I_SIC"])
        mm("astro", a, ["IP3", "Ca_astro"])
        for name, nodes in (("pre", pre), ("post", post)):
            sr[name] = (nest.Create("spike_recorder"), nodes)
    elif c == "tsodyks":
        n = nest.Create("iaf_psc_exp", params=spec["lif"])
        g = gen(spec["trains"])
        parrots = nest.Create("parrot_neuron", len(spec["trains"]))   # NEST: devices take static synapses only
        nest.Connect(g, parrots, "one_to_one", syn_spec={"delay": DT})
        for k, (rule, w) in enumerate(zip(spec["rules"], spec["w"])):
            nest.Connect(parrots[k], n, syn_spec={"synapse_model": "tsodyks_synapse", "weight": w, "delay": DT, **rule})
        mm("n", n, ["V_m"])
        sr["n"] = (nest.Create("spike_recorder"), n)
    elif c == "network":
        n_e, n_i, n_a = spec["n"]
        w = spec["w"]
        E = nest.Create("aeif_cond_alpha_astro", n_e, params=spec["neuron"])
        I = nest.Create("aeif_cond_alpha_astro", n_i, params=spec["neuron"])
        A = nest.Create("astrocyte_lr_1994", n_a, params=spec["astro"])
        g = gen(spec["trains"])
        post_all = np.concatenate([np.asarray(E.global_id), np.asarray(I.global_id)])
        _connect_arrays(nest, np.asarray(g.global_id), post_all, w["ext"])
        ids = {"E": np.asarray(E.global_id), "I": np.asarray(I.global_id), "A": np.asarray(A.global_id)}
        for name, (a, b) in spec["conns"].items():
            sign = 1.0 if name[0] == "E" else -1.0
            if len(a):
                _connect_arrays(nest, ids[name[0]][a], ids[name[1]][b], sign * w[name])
        ia, ib = spec["third_in"]
        _connect_arrays(nest, ids["E"][ia], ids["A"][ib], w["third_in"])
        oa, ob = spec["third_out"]
        _connect_arrays(nest, ids["A"][oa], ids["E"][ob], w["sic"], "sic_connection")
        mm("A", A, ["Ca_astro"])
        for name, nodes in (("E", E), ("I", I)):
            sr[name] = (nest.Create("spike_recorder"), nodes)
    for name, (rec, nodes) in sr.items():
        nest.Connect(nodes, rec)
    t0 = time.perf_counter()
    nest.Simulate(spec["T"])
    out["wall_s"] = time.perf_counter() - t0
    for name, (m, variables, n) in mms.items():
        ev = m.events
        senders = np.asarray(ev["senders"])
        order = np.lexsort((senders, np.asarray(ev["times"])))
        for var in variables:
            vals = np.asarray(ev[var])[order].reshape(-1, n)
            key = "v" if var == "V_m" else var
            out[f"{name}.{key}"] = vals
    for name, (rec, nodes) in sr.items():
        ev = rec.events
        first = int(nodes[0].global_id)
        t = np.asarray(ev["times"])
        s = (np.asarray(ev["senders"]) - first).astype(np.int64)
        order = np.lexsort((s, t))
        out[f"{name}.spike_steps"] = np.rint(t[order] / DT).astype(np.int64) - 1   # NEST stamp (n+1) dt -> step n
        out[f"{name}.spike_ids"] = s[order]
    return out


def nest_tripartite_counts(seed=1, p_primary=0.1, p_third=0.5, pool_size=1, pool_type="block", n=(100, 20)):
    """NEST's own TripartiteConnect on E -> E with astrocytes: (primary, third_in, third_out) counts
    and the astrocytes each target's SIC comes from (for the statistics test)."""
    import nest
    nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    nest.rng_seed = seed
    E = nest.Create("aeif_cond_alpha_astro", n[0])
    A = nest.Create("astrocyte_lr_1994", n[1])
    nest.TripartiteConnect(E, E, A, conn_spec={"rule": "pairwise_bernoulli", "p": p_primary},
                           third_factor_conn_spec={"rule": "third_factor_bernoulli_with_pool", "p": p_third,
                                                   "pool_size": pool_size, "pool_type": pool_type},
                           syn_specs={"third_out": {"synapse_model": "sic_connection"}})
    prim = nest.GetConnections(E, E)
    tin = nest.GetConnections(E, A)
    tout = nest.GetConnections(A, E)
    e0, a0 = int(E[0].global_id), int(A[0].global_id)
    return dict(primary=len(prim), third_in=len(tin), third_out=len(tout),
                out_astro=np.asarray(tout.source) - a0, out_target=np.asarray(tout.target) - e0)


# ---------------------------------------------------------------------------------------------
# comparison

def oscillation_period(ca, dt_ms=50.0, skip_ms=20_000.0):
    """Mean period (ms) of calcium oscillations after ``skip_ms`` (upward crossings of the mean
    level with an amplitude > 0.05 uM), nan when there is none."""
    x = np.asarray(ca)[int(skip_ms / dt_ms):]
    if x.size < 3 or x.max() - x.min() < 0.05:
        return float("nan")
    m = 0.5 * (x.max() + x.min())
    up = np.flatnonzero((x[:-1] < m) & (x[1:] >= m))
    return float(np.diff(up).mean() * dt_ms) if up.size >= 2 else float("nan")


def first_divergence(a_steps, a_ids, b_steps, b_ids):
    """Step of the first spike that differs between two (step, id) lists (None if equal)."""
    n = min(a_steps.size, b_steps.size)
    diff = np.flatnonzero((a_steps[:n] != b_steps[:n]) | (a_ids[:n] != b_ids[:n]))
    if diff.size:
        return int(min(a_steps[diff[0]], b_steps[diff[0]]))
    if a_steps.size != b_steps.size:
        return int((a_steps if a_steps.size > n else b_steps)[n])
    return None


def write_reference(cases):
    DATA.mkdir(parents=True, exist_ok=True)
    for case in cases:
        spec = case_spec(case)
        res = run_nest(spec)
        arrays = {k: v for k, v in res.items() if k != "wall_s"}
        if case == "network":   # the connectivity (our connectors may draw differently later)
            for name, (a, b) in spec["conns"].items():
                arrays[f"conn.{name}"] = np.stack([a, b])
            arrays["conn.third_in"] = np.stack(spec["third_in"])
            arrays["conn.third_out"] = np.stack(spec["third_out"])
        path = DATA / f"{case}.npz"
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1024:.0f} KiB)")


def compare(cases, integrators=(("rkf45", 1), ("rk4", 1), ("rk4", 4))):
    report = {}
    for case in cases:
        spec = case_spec(case)
        nest_res = run_nest(spec)
        entry = {"nest_wall_s": nest_res["wall_s"]}
        for integ, sub in integrators:
            ours = run_ours(spec, integ, sub)
            r = {"wall_s": ours["wall_s"]}
            for key, ref in nest_res.items():
                if key == "wall_s" or key.endswith("spike_ids"):
                    continue
                mine = ours.get(key)
                if mine is None:
                    continue
                if key.endswith("spike_steps"):
                    pop = key.split(".")[0]
                    r[f"{pop}.spikes"] = [int(mine.size), int(ref.size)]
                    r[f"{pop}.first_divergence_step"] = first_divergence(mine, ours[f"{pop}.spike_ids"], ref,
                                                                         nest_res[f"{pop}.spike_ids"])
                else:
                    r[f"{key}.max_abs_diff"] = float(np.max(np.abs(mine[:len(ref)] - ref)))
            if case == "clamp":
                r["periods_ms"] = [oscillation_period(ours[f"a{k}.Ca_astro"][:, 0]) for k in range(len(spec["ip3"]))]
                entry["nest_periods_ms"] = [oscillation_period(nest_res[f"a{k}.Ca_astro"][:, 0])
                                            for k in range(len(spec["ip3"]))]
            entry[f"{integ}x{sub}"] = r
        report[case] = entry
        print(case, json.dumps(entry, indent=1, default=float))
    out = ROOT / "benchmarks" / "results" / "astro_nest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, indent=1, default=float))
    os.replace(tmp, out)
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true", help="write NEST's reference files to tests/data/astro")
    ap.add_argument("--cases", nargs="+", default=["single", "clamp", "pair", "tsodyks", "network"])
    args = ap.parse_args(argv)
    if args.write:
        write_reference(args.cases)
    else:
        compare(args.cases)
    return 0


if __name__ == "__main__":
    sys.exit(main())
