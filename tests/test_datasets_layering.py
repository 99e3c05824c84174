"""spiking.datasets reads, transforms and caches data without torch, tonic or the spiking core."""
from __future__ import annotations

import subprocess
import sys
import textwrap


def test_datasets_need_neither_torch_nor_tonic_nor_the_core(tmp_path):
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        import spiking  # the parent package runs first in any case; only what datasets adds counts
        before = set(sys.modules)
        import spiking.datasets as data
        events = np.zeros(3, dtype=data.EVENT_DTYPE)
        frames = data.Compose((data.CenterCrop((34, 34, 2), 16), data.ToFrames((16, 16, 2), n_time_bins=2)))(events)

        class Toy:
            transform = None
            def __len__(self): return 2
            def __getitem__(self, i): return frames, i

        cached = data.CachedDataset(Toy(), {str(tmp_path)!r}, identity={{"name": "toy"}}, progress=False)
        cached[1]
        added = set(sys.modules) - before
        print(sorted(m for m in added if m.split(".")[0] in ("torch", "tonic")
                     or (m.startswith("spiking.") and not m.startswith("spiking.datasets"))))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
