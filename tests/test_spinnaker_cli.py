"""``spiking map`` and ``spiking run ca3-cam --backend spinnaker1``."""
import json

import pytest

from spiking import AllToAll, CubaLIF, Network, PoissonSource
from spiking.experiments.cli import main


def _net(path, n=300):
    net = Network(dt=1.0)
    net.add_source("drive", 50, PoissonSource(rate=80.0))
    net.add_population("exc", n, CubaLIF(update_order="spinnaker", t_ref=2.0, tau_syn_e=2.0))
    net.connect("drive", "exc", AllToAll(), weight=0.6, name="in")
    net.save(path)
    return net


def test_map_writes_json_and_png(tmp_path, capsys):
    _net(tmp_path / "net.h5")
    out = tmp_path / "out"
    assert main(["map", str(tmp_path / "net.h5"), "--target", "spinnaker1", "--neurons-per-core", "100",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "cores used: 4" in text and "router entries per chip" in text
    d = json.loads((out / "mapping.json").read_text())
    assert d["cores_used"] == 4 and d["machine"]["target"] == "spinnaker1"
    assert (out / "mapping.png").stat().st_size > 5000
    assert not list(out.glob("*.tmp"))


def test_map_run_prints_budget_provenance_energy(tmp_path, capsys):
    _net(tmp_path / "net.h5")
    out = tmp_path / "out"
    assert main(["map", str(tmp_path / "net.h5"), "--run", "200", "--time-scale-factor", "2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "time budget per tick: 400000 cycles" in text
    assert "Times_the_timer_tic_over_ran: 0" in text
    run = json.loads((out / "run.json").read_text())
    b = run["spinnaker"]
    assert b["ticks"] == 200 and b["time_scale_factor"] == 2.0 and b["run_time_s"] == pytest.approx(0.4)
    if "energy" in run:          # the energy model prices the backend's counts when it is installed
        assert run["energy"]["total_joules"] > 0 and "J" in text
    from spiking.recording import Recording
    rec = Recording.load(out / "recording.h5")
    assert rec.ledger.backend["spinnaker"]["packets"] == b["packets"] > 0


def test_map_reports_a_network_that_does_not_fit(tmp_path, capsys):
    # 800 cores: the smallest machine of whole boards that holds them is three boards
    net = Network(dt=1.0)
    net.add_population("big", 800, CubaLIF(update_order="spinnaker", t_ref=1.0))
    net.save(tmp_path / "big.h5")
    assert main(["map", str(tmp_path / "big.h5"), "--neurons-per-core", "1", "--out", str(tmp_path / "b")]) == 0
    assert "cores used: 800 on 50 chip(s)" in capsys.readouterr().out
    # a delay no delay extension holds: exit 1, the limit and the value named
    net.connect("big", "big", AllToAll(), weight=0.1, delay=200.0, name="slow")
    net.save(tmp_path / "slow.h5")
    assert main(["map", str(tmp_path / "slow.h5"), "--out", str(tmp_path / "s")]) == 1
    assert "delay 200 ticks: SpiNNaker holds at most 144" in capsys.readouterr().err
    assert main(["map", str(tmp_path / "missing.h5")]) == 2
    o = ["--out", str(tmp_path / "bad")]
    assert main(["map", str(tmp_path / "big.h5"), "--neurons-per-core", "0"] + o) == 2
    assert "neurons_per_core=0: expected a positive integer" in capsys.readouterr().err
    assert main(["map", str(tmp_path / "big.h5"), "--time-scale-factor", "-1"] + o) == 2
    assert main(["map", str(tmp_path / "big.h5"), "--run", "-5"] + o) == 2
    assert not (tmp_path / "bad").exists()


ca3 = pytest.importorskip("spiking.experiments.ca3_cam")


@pytest.mark.skipif(not (ca3.dataset_dir() / "results").is_dir(), reason="CA3 recordings not found")
def test_ca3_cli_spinnaker_backend_writes_the_golden_table(tmp_path):
    out = tmp_path / "exp1"
    assert main(["run", "ca3-cam", "--experiment", "1", "--backend", "spinnaker1", "--out", str(out)]) == 0
    golden = ca3.dataset_dir() / "results" / ca3.EXPERIMENTS[1]["folder"] / "spikes.csv"
    assert (out / "spikes.csv").read_bytes() == golden.read_bytes()
    s = json.loads((out / "summary.json").read_text())
    assert s["backend"] == "spinnaker1" and s["rows_identical"] == s["rows"] == 90
