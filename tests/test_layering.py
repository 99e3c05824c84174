"""The layering rule of DESIGN.md: no import runs back up experiments -> hardware -> core.

Each check runs in a fresh interpreter and lists the modules of the layers above that an import
pulled in.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


def _added_modules(import_lines: str, forbidden: tuple[str, ...]) -> list[str]:
    script = textwrap.dedent(f"""
        import sys
        {import_lines}
        print(sorted(m for m in sys.modules if m.startswith({forbidden!r})))
        """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return eval(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("core", ["spiking", "spiking.nn", "spiking.nir", "spiking.engines.astro",
                                  "spiking.export", "spiking.nir.cli"])
def test_core_imports_no_layer_above(core):
    added = _added_modules(f"import {core}",
                           ("spiking.hardware", "spiking.datasets", "spiking.experiments"))
    assert added == [], f"{core} pulled in {added}"


@pytest.mark.parametrize("hw", ["spiking.hardware.crossbar", "spiking.hardware.spinnaker",
                                "spiking.hardware.energy"])
def test_hardware_imports_no_experiment_and_no_dataset(hw):
    added = _added_modules(f"import {hw}", ("spiking.experiments", "spiking.datasets"))
    assert added == [], f"{hw} pulled in {added}"


def test_energy_reads_no_backend():
    """The energy model reads ledgers and cost tables only; it never imports a backend."""
    added = _added_modules("import spiking.hardware.energy",
                           ("spiking.hardware.crossbar", "spiking.hardware.spinnaker"))
    assert added == [], added
