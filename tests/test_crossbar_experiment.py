"""crossbar-nmnist end to end on a few recordings (slow: it trains two models)."""
import json

import pytest

pytest.importorskip("torch")

from spiking.datasets import data_root  # noqa: E402

ROOT = data_root() / "nmnist"


@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / "Train").is_dir(), reason="N-MNIST not available")
def test_crossbar_nmnist_smoke(tmp_path):
    from spiking.experiments import crossbar_nmnist as xn

    m = xn.run(tmp_path / "out", epochs=1, limit=30, time_bins=4, seeds=1, cache_dir=tmp_path / "cache",
               progress=False, threads=1)
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["time_labels"] == ["0 s", "1 h", "1 day", "1 month", "1 year"]
    for name in ("plain", "hwa"):
        for lab in saved["time_labels"]:
            for comp in ("uncompensated", "global"):
                v = saved["accuracy"][name]["by_time"][lab][comp]["mean"]
                assert 0.0 <= v <= 1.0
    assert (tmp_path / "out" / "accuracy_vs_time.png").stat().st_size > 1000
    c = m["crossbar_counts_per_test_set"]
    assert c["device"] == "pcm_ibm" and c["reads"] > 0 and c["dac_conversions"] == {}   # spike inputs only
    with pytest.raises(ValueError, match="epochs=0"):
        xn.run(tmp_path / "bad", epochs=0)
