"""Atomic writes: no half-written file on failure, and the result gets open()'s usual mode."""
import os

import pytest

from spiking.atomic import atomic_path, write_text_atomic


def test_result_has_the_mode_open_would_give(tmp_path):
    umask = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "a.json", "{}")
        plain = tmp_path / "b.json"
        plain.write_text("{}")
        assert (tmp_path / "a.json").stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(umask)


def test_failure_leaves_nothing_behind(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "x.h5", ".h5") as tmp:
            tmp.write_text("partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
