"""``spiking run nmnist`` under torchrun (2 gloo ranks on CPU, loopback) against one process.

With dropout off (its masks are drawn per rank) two ranks on the same global batches must
reproduce the one-process run: the same parameters to float tolerance and the same validation
and Test metrics, which the ranks evaluate in shards and sum. Slow: two torch processes start,
load the recordings and train (run with ``-m slow``).
"""
import json
import os
import socket
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")

from spiking.datasets import data_root  # noqa: E402
from spiking.experiments import nmnist  # noqa: E402

ROOT = data_root() / "nmnist"
OPTS = dict(strategy="bptt", epochs=2, batch_size=16, time_bins=4, channels=(4, 8), dropout=0.0, limit=60,
            lr=5e-3, max_shift=2, seed=0)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / "Train").is_dir(), reason=f"N-MNIST recordings not found under {ROOT}")
def test_torchrun_two_ranks_reproduce_one_process(tmp_path):
    cache = tmp_path / "cache"
    one = nmnist.run(tmp_path / "one", cache_dir=cache, progress=False, threads=1, **OPTS)
    args = ["--strategy", "bptt", "--epochs", "2", "--batch-size", "16", "--time-bins", "4", "--channels", "4", "8",
            "--dropout", "0", "--limit", "60", "--lr", "5e-3", "--max-shift", "2", "--seed", "0", "--threads", "1",
            "--cache-dir", str(cache), "--out", str(tmp_path / "two"), "--no-progress"]
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={_free_port()}", "-m", "spiking.experiments.cli", "run", "nmnist", *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("N-MNIST bptt: test accuracy") == 1        # rank 0 reports, once
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert two["config"]["world_size"] == 2 and one["config"]["world_size"] == 1
    for key in ("val_loss", "test_loss", "val_accuracy", "test_accuracy"):
        assert two[key] == pytest.approx(one[key], rel=1e-5, abs=1e-7), key
    for e1, e2 in zip(one["epochs"], two["epochs"]):
        assert e2["train_loss"] == pytest.approx(e1["train_loss"], rel=1e-5)
    a = torch.load(tmp_path / "one" / "checkpoint.pt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "two" / "checkpoint.pt", weights_only=True)["state_dict"]
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=1e-4, atol=1e-5, msg=name)
