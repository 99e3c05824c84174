"""``spiking run quickstart``: the full CUBA network (4000 neurons, 1 s; ~2 s here) through the CLI,
its files, and the plausibility of its activity (Vogels & Abbott 2005 / Brette et al. 2007)."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from spiking.experiments import cli

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quickstart_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("quickstart")
    rc = cli.main(["run", "quickstart", "--out", str(out), "--seed", "1"])
    return rc, out


def test_quickstart_writes_valid_files(quickstart_run, capsys):
    rc, out = quickstart_run
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "raster.png", "recording.h5"]  # no temp files
    png = (out / "raster.png").read_bytes()
    assert png[:8] == PNG_SIGNATURE and png[12:16] == b"IHDR" and len(png) > 10_000
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert width > 500 and height > 300
    with h5py.File(out / "recording.h5", "r") as f:
        assert float(f.attrs["duration"]) == 1000.0 and float(f.attrs["dt"]) == 0.1
        g = f["spikes"]["neurons"]
        assert int(g.attrs["size"]) == 4000
        times, ids = g["times"][()], g["ids"][()]
        v = f["state"]["neurons"]["v"][()]
        assert f["state"]["neurons"]["ids"][()].tolist() == [0, 1, 2, 3, 4]
        ledger = json.loads(f.attrs["ledger"])
    assert times.shape == ids.shape and times.size > 0
    assert np.all(np.diff(times) >= 0) and times.min() >= 0 and times.max() < 1000.0
    assert ids.min() >= 0 and ids.max() < 4000
    assert v.shape == (10000, 5) and np.all(np.isfinite(v))
    assert v.max() < -50.0 + 1e-9 and v.min() > -90.0  # threshold -50 mV, reset -60 mV: no runaway


def test_quickstart_activity_is_physiological(quickstart_run):
    _, out = quickstart_run
    metrics = json.loads((out / "metrics.json").read_text())
    with h5py.File(out / "recording.h5", "r") as f:
        ids = f["spikes"]["neurons"]["ids"][()]
        times = f["spikes"]["neurons"]["times"][()]
        ledger = json.loads(f.attrs["ledger"])
    counts = np.bincount(ids, minlength=4000)
    rate = counts.mean() / 1.0                       # spikes per neuron in 1 s
    assert metrics["mean_rate_hz"] == pytest.approx(rate, rel=1e-12)
    # CUBA: a few Hz (~5.5 Hz published for this benchmark); a loose band that catches a dead or
    # exploding network and unit errors
    assert 2.0 < rate < 15.0
    assert 2.0 < metrics["mean_rate_exc_hz"] < 15.0 and 2.0 < metrics["mean_rate_inh_hz"] < 15.0
    # asynchronous irregular: ISI CV of the order of 1 (published ~0.5-1), activity sustained to the end
    assert 0.3 < metrics["isi_cv_mean"] < 1.5
    assert np.count_nonzero(times > 900.0) > 0.05 * times.size
    # refractory period 5 ms: no ISI shorter than that
    order = np.lexsort((times, ids))
    isi = np.diff(times[order])[np.diff(ids[order]) == 0]
    assert isi.min() > 5.0
    # the ledger agrees with the spikes and the clock
    assert ledger["mode"] == "clock" and ledger["steps"] == 10000
    assert ledger["neuron_updates"] == {"neurons": 4000 * 10000}
    assert ledger["spikes"] == {"neurons": int(times.size)}
    assert metrics["network"]["n_neurons"] == 4000
    assert 0.015 < metrics["network"]["n_synapses"] / 4000 ** 2 < 0.025  # p = 0.02


def test_quickstart_ledger_synaptic_events(quickstart_run):
    """Synaptic events per projection = sum over presynaptic spikes of the fan-out, with the
    connectivity redrawn from the same seed."""
    from spiking.experiments.cuba import CubaParams, draw_cuba
    _, out = quickstart_run
    conn = draw_cuba(CubaParams(), np.random.default_rng(1))
    with h5py.File(out / "recording.h5", "r") as f:
        ids = f["spikes"]["neurons"]["ids"][()]
        ledger = json.loads(f.attrs["ledger"])
    counts = np.bincount(ids, minlength=4000)
    exc = conn.exc_mask
    assert ledger["synaptic_events"]["exc"] == int(counts[conn.pre[exc]].sum())
    assert ledger["synaptic_events"]["inh"] == int(counts[conn.pre[~exc]].sum())


# 50 ms is too short for any neuron to have the 3 spikes an ISI CV needs: nanmean of nothing warns
@pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")
def test_quickstart_small_network_options(tmp_path, capsys):
    rc = cli.main(["run", "quickstart", "--out", str(tmp_path), "--neurons", "200", "--duration", "50"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "200 neurons" in printed and "50 ms" in printed and "activity ledger" in printed
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["network"]["n_neurons"] == 200 and metrics["network"]["duration_ms"] == 50.0
    assert metrics["ledger"]["neuron_updates"]["neurons"] == 200 * 500
    with h5py.File(tmp_path / "recording.h5", "r") as f:
        assert f["state"]["neurons"]["v"].shape == (500, 5)


def test_quickstart_without_isi_cv_writes_strict_json(tmp_path, capsys):
    # in 4 ms (refractory period 5 ms) no neuron can fire the three spikes an ISI CV needs
    assert cli.main(["run", "quickstart", "--out", str(tmp_path), "--neurons", "200", "--duration", "4"]) == 0
    assert "no neuron fired often enough" in capsys.readouterr().out

    def reject(token):
        raise AssertionError(f"metrics.json holds {token}, which is not JSON")

    metrics = json.loads((tmp_path / "metrics.json").read_text(), parse_constant=reject)
    assert metrics["isi_cv_mean"] is None and metrics["neurons_with_cv"] == 0


def test_quickstart_rejects_tiny_network(tmp_path):
    with pytest.raises(ValueError, match="--neurons"):
        cli.main(["run", "quickstart", "--out", str(tmp_path), "--neurons", "5"])
    assert list(tmp_path.iterdir()) == []


def test_cli_lists_quickstart(capsys):
    assert cli.main(["list"]) == 0
    assert "quickstart" in capsys.readouterr().out
