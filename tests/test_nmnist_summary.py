"""benchmarks/nmnist_summary.py: per-strategy figures over seeds from nmnist metrics.json files."""
import importlib.util
import json
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "nmnist_summary", Path(__file__).resolve().parents[1] / "benchmarks" / "nmnist_summary.py")
summary = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(summary)


def _metrics(path, strategy, seed, test, val, seconds, mb):
    path.write_text(json.dumps({
        "test_accuracy": test, "val_accuracy": val, "train_seconds": seconds, "mean_epoch_seconds": seconds / 40,
        "peak_memory_mb": mb, "config": {"strategy": strategy, "seed": seed, "epochs": 40, "k": None}}))
    return path


def test_summary_over_seeds_and_json(tmp_path, capsys):
    files = [_metrics(tmp_path / "a.json", "bptt", 0, 0.96, 0.95, 600, 100.0),
             _metrics(tmp_path / "b.json", "bptt", 1, 0.97, 0.96, 720, 100.0),
             _metrics(tmp_path / "c.json", "sltt", 0, 0.95, 0.94, 540, 7.0)]
    out = tmp_path / "s" / "summary.json"
    assert summary.main([str(f) for f in files] + ["--json", str(out)]) == 0
    s = json.loads(out.read_text())["strategies"]
    assert s["bptt"]["runs"] == 2 and s["bptt"]["seeds"] == [0, 1]
    assert s["bptt"]["test_accuracy"] == pytest.approx({"mean": 0.965, "min": 0.96, "max": 0.97})
    assert s["bptt"]["train_minutes"]["max"] == pytest.approx(12.0)
    assert s["sltt"]["runs"] == 1
    assert "bptt     2 runs: Test 96.5 %" in capsys.readouterr().out
    assert [p.name for p in out.parent.iterdir()] == ["summary.json"]  # no temporary file left


def test_summary_rejects_a_file_that_is_not_nmnist_metrics(tmp_path):
    bad = tmp_path / "metrics.json"
    bad.write_text(json.dumps({"test_accuracy": 0.9}))
    with pytest.raises(ValueError, match=r"metrics\.json: no 'val_accuracy'"):
        summary.main([str(bad)])
