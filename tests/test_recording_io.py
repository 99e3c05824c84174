"""Recording.save / Recording.load: HDF5 round trip of spikes, recorded state and ledger, and
errors that name the file when it is truncated, damaged or incomplete."""
import h5py
import numpy as np
import pytest

import spiking as sp


@pytest.fixture(scope="module")
def recording():
    rng = np.random.default_rng(3)
    net = sp.Network(dt=0.1)
    net.add_source("drive", 50, sp.PoissonSource(100.0))
    net.add_population("lif", 20, sp.LIF(tau_m=10.0, v_rest=0.0, v_reset=0.0, v_th=1.0, t_ref=2.0))
    net.connect("drive", "lif", sp.FixedProbability(0.3), weight=0.4, rng=rng)
    rec = sp.simulate(net, 100.0, rng=np.random.default_rng(4), record={"lif": ["v"]},
                      record_ids={"lif": np.arange(4)})
    assert len(rec.spikes["lif"]) > 0
    return rec


def test_round_trip_keeps_everything(recording, tmp_path):
    path = tmp_path / "rec.h5"
    recording.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["rec.h5"]  # written atomically
    back = sp.Recording.load(path)
    assert (back.dt, back.duration) == (recording.dt, recording.duration)
    for name, st in recording.spikes.items():
        np.testing.assert_array_equal(back.spikes[name].times, st.times)
        np.testing.assert_array_equal(back.spikes[name].ids, st.ids)
        assert back.spikes[name].size == st.size
    np.testing.assert_array_equal(back.state["lif"]["v"], recording.state["lif"]["v"])
    np.testing.assert_array_equal(back.state_ids["lif"], recording.state_ids["lif"])
    assert back.ledger.to_dict() == recording.ledger.to_dict()


@pytest.mark.parametrize("keep", [0.0, 0.3, 0.9])
def test_truncated_file_names_the_file(recording, tmp_path, keep):
    path = tmp_path / "rec.h5"
    recording.save(path)
    bad = tmp_path / "truncated.h5"
    bad.write_bytes(path.read_bytes()[:int(path.stat().st_size * keep)])
    with pytest.raises(ValueError, match=r"truncated\.h5: not a readable HDF5 recording"):
        sp.Recording.load(bad)


def test_incomplete_file_names_the_file_and_what_is_missing(recording, tmp_path):
    path = tmp_path / "rec.h5"
    recording.save(path)
    with h5py.File(path, "a") as f:
        del f["spikes/lif/ids"]
    with pytest.raises(ValueError, match=r"rec\.h5: damaged or incomplete recording .*ids"):
        sp.Recording.load(path)
    with pytest.raises(FileNotFoundError):
        sp.Recording.load(tmp_path / "missing.h5")
