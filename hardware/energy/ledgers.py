"""Combining the ledgers of several runs (one per sample) into one, for per-inference figures."""
from __future__ import annotations

from spiking.recording import ActivityLedger

__all__ = ["combine"]

# backend entries that describe the machine rather than count work: kept, not added
_KEEP = {"device", "machine", "tiles", "tile_rows", "tile_cols", "v_read_V", "t_read_s", "t_inference_s", "chips",
         "cores", "tick_ms", "time_scale_factor", "budget_cycles_per_tick"}
_STRUCTURE = ("neurons", "state_variables", "synapses")
_MAX = {"max_overrun_cycles", "max_cycles_per_tick", "max_tick_load"}


def _add(total: dict, part: dict, where: str):
    for k, v in part.items():
        if isinstance(v, dict):
            _add(total.setdefault(k, {}), v, f"{where}[{k!r}]")
        elif k in _KEEP or isinstance(v, str):
            if k in total and total[k] != v:
                raise ValueError(f"{where}[{k!r}]: runs differ ({total[k]!r} vs {v!r}): combine runs of one machine")
            total[k] = v
        elif k in _MAX:
            total[k] = max(total.get(k, v), v)
        else:
            total[k] = total.get(k, 0) + v


def combine(ledgers) -> ActivityLedger:
    """One ledger holding the sum of the counts of ``ledgers`` (inferences add up; steps too).
    ``neurons``, ``state_variables`` and ``synapses`` describe the network and must agree.
    Backend counts add, except the entries that describe the machine (device, chips, tiles, ...),
    which must agree, and maxima (``max_overrun_cycles``), which take the maximum."""
    ledgers = list(ledgers)
    if not ledgers:
        raise ValueError("combine(): expected at least one ledger")
    d: dict = {}
    for L in ledgers:
        if not isinstance(L, ActivityLedger):
            raise TypeError(f"combine() of {type(L).__name__}: expected ActivityLedger objects")
        x = L.to_dict()
        mode = x.pop("mode")
        if d.setdefault("mode", mode) != mode:
            raise ValueError(f"combine(): ledgers of modes {d['mode']!r} and {mode!r}")
        backend = x.pop("backend")
        _add(d.setdefault("backend", {}), backend, "backend")
        for k, v in x.items():
            if k in _STRUCTURE:          # the network, not work: equal in every run
                if d.setdefault(k, v) != v:
                    raise ValueError(f"combine(): ledgers of different networks ({k} differ)")
            elif isinstance(v, dict):
                _add(d.setdefault(k, {}), v, k)
            else:
                d[k] = d.get(k, 0) + v
    return ActivityLedger.from_dict(d)
