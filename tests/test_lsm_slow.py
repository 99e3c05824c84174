"""Slow reproduction of the LSM targets of issue 14 on the shared N-MNIST recordings
(``-m slow``; 7.6 minutes on one loaded core with the reservoir spikes cached, a few more without;
they are cached in $SPIKING_CACHE/lsm). Targets that our measurement does not meet are strict xfails with
the measured figures in their reason (docs/lsm.md)."""
import pytest

pytest.importorskip("torch")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def nmnist(tmp_path_factory):
    from spiking.experiments import lsm
    try:
        return lsm.run(tmp_path_factory.mktemp("lsm"), task="nmnist", energy=False, progress=False)["nmnist"]
    except Exception as err:  # noqa: BLE001 - data missing
        pytest.skip(f"N-MNIST run not possible here: {err}")


def _test(res, kind):
    t = res["table"]
    return t[kind][t[kind]["chosen_readout"]]["test_accuracy"]["mean"]


def _val(res, kind):
    t = res["table"]
    return t[kind][t[kind]["chosen_readout"]]["val_accuracy"]["mean"]


def test_software_reservoir_reaches_85_percent_test(nmnist):
    assert _test(nmnist, "ideal") >= 0.85


def test_reservoir_beats_raw_counts_on_validation(nmnist):
    assert _val(nmnist, "ideal") > _val(nmnist, "raw")


def test_device_reservoir_within_one_point_of_software(nmnist):
    # measured: RRAM 90.0 % against software 89.8 % Test (logistic, 5 seeds); the paired bootstrap
    # over the 100 Test items puts the difference at +0.2 points, 95 % CI [-2.4, +2.8]
    assert abs(_test(nmnist, "rram") - _test(nmnist, "ideal")) <= 0.01


def test_choices_lie_inside_their_grids(nmnist):
    # every input gain and window count chosen on validation is an inner point of its grid
    from spiking.experiments.lsm import GAINS, WINDOWS_GRID
    for c in nmnist["chosen"].values():
        assert min(GAINS) < c["input_gain"] < max(GAINS)
        assert min(WINDOWS_GRID) < c["windows"] < max(WINDOWS_GRID)
    for w in nmnist["raw_windows"].values():
        assert min(WINDOWS_GRID) < w < max(WINDOWS_GRID)


def test_paired_interval_agrees_with_the_table(nmnist):
    boot = nmnist["paired"]["rram_vs_ideal"]["logistic"]["pooled_bootstrap"]
    t = nmnist["table"]
    diff = t["rram"]["logistic"]["test_accuracy"]["mean"] - t["ideal"]["logistic"]["test_accuracy"]["mean"]
    assert boot["difference"] == pytest.approx(diff)
    assert boot["ci"][0] < diff < boot["ci"][1] and boot["n_items"] == 100


@pytest.mark.xfail(strict=True, reason="measured: logistic readout on the raw counts in 5 windows 91.6 +- 1.1 % Test "
                                       "against 89.8 +- 1.6 % for the reservoir (gain 32, 5 windows); paired "
                                       "bootstrap over the 100 Test items: -1.8 points, 95 % CI [-6.2, +2.2], "
                                       "not resolvable; on validation the reservoir leads, 92.4 % against 89.4 %")
def test_reservoir_beats_raw_counts_on_test(nmnist):
    assert _test(nmnist, "ideal") > _test(nmnist, "raw")
