"""The README's Python examples run as written (the quick tour and the hardware example)."""
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_quick_tour_and_hardware_example_run(tmp_path, monkeypatch):
    blocks = _blocks()
    tour = next(b for b in blocks if "sp.Network(" in b)
    hardware = next(b for b in blocks if "CrossbarEngine" in b)
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(compile(tour + "\n" + hardware, str(README), "exec"), scope)
    assert (tmp_path / "net.h5").exists()
    # the three runs describe the same network: same populations, non-empty ledgers
    assert set(scope["rec_xb"].spikes) == set(scope["rec"].spikes) == set(scope["rec_sp"].spikes)
    assert scope["rec_xb"].ledger.backend["crossbar"]["reads"] > 0
    assert scope["rec_sp"].ledger.backend["spinnaker"]["cores"] >= 1
