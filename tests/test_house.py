"""House rules of DESIGN.md, checked on the source (issue 16, item 7).

* No import circle among the ``spiking.*`` modules of the core (``spiking/``), and no core module
  imports ``spiking.hardware``, ``spiking.datasets`` or ``spiking.experiments``. Imports are read
  with ``ast`` from every module, including the lazy ones inside functions and
  ``importlib.import_module("...")`` with a literal name, which ``tests/test_layering.py`` (runtime
  imports of a fresh interpreter) cannot see until the function runs.
* Progress bars stay on terminals: every ``tqdm(...)`` call passes ``disable=None`` (tqdm then
  draws nothing when stderr is not a tty), and a run with a bar writes no carriage return into a
  pipe while it does into a pseudo-terminal.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "spiking"
UPPER = ("spiking.hardware", "spiking.datasets", "spiking.experiments")
# every folder whose Python files may draw a progress bar
SOURCES = ("spiking", "hardware", "datasets", "experiments", "benchmarks")


def _module_name(path: Path, root: Path, package: str) -> tuple[str, bool]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_pkg = parts[-1] == "__init__"
    if is_pkg:
        parts = parts[:-1]
    return ".".join([package, *parts]), is_pkg


def core_modules(root: Path = CORE, package: str = "spiking") -> dict[str, tuple[Path, bool]]:
    """{module name: (file, is a package)} of every module under ``root``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        name, is_pkg = _module_name(path, root, package)
        out[name] = (path, is_pkg)
    return out


def imported_names(source: str, module: str, is_pkg: bool, known: set[str]) -> set[str]:
    """Absolute names of everything ``source`` (module ``module``) imports, anywhere in the file.

    ``from X import a`` names ``X.a`` where that is a known module, else ``X``; relative imports
    are resolved against ``module``; ``importlib.import_module("name")`` with a literal counts.
    """
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join(anchor + ([node.module] if node.module else []))
            else:
                target = node.module
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                names.add(sub if sub in known or sub.startswith(UPPER) else target)
        elif isinstance(node, ast.Call):
            f = node.func
            dynamic = (isinstance(f, ast.Attribute) and f.attr == "import_module") or \
                      (isinstance(f, ast.Name) and f.id in ("import_module", "__import__"))
            if dynamic and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                names.add(node.args[0].value)
    return names


def import_graph(modules: dict[str, tuple[Path, bool]]) -> dict[str, set[str]]:
    """{module: the names it imports} for ``modules`` (all names, not only the core's)."""
    known = set(modules)
    return {name: imported_names(path.read_text(), name, is_pkg, known) for name, (path, is_pkg) in modules.items()}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in graph or w == v:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


@pytest.fixture(scope="module")
def core_graph():
    return import_graph(core_modules())


def test_parser_sees_top_level_and_lazy_imports(core_graph):
    """The graph is real: it holds edges known from the source, the lazy one included."""
    assert len(core_graph) > 30
    assert "spiking.network" in core_graph["spiking.engines.event"]        # top-level relative import
    assert "spiking.engines.kernels" in core_graph["spiking.engines.event"]  # from . import kernels
    assert "spiking.engines.plastic" in core_graph["spiking.engines.event"]  # inside a method


def test_cycle_finder_catches_a_lazy_circle(tmp_path):
    """The circle the event and plastic engines had: one side imports the other inside a function."""
    pkg = tmp_path / "pkg"
    (pkg / "eng").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "eng" / "__init__.py").write_text("")
    (pkg / "eng" / "event.py").write_text("def run():\n    from .plastic import go\n    return go()\n")
    (pkg / "eng" / "plastic.py").write_text("def go():\n    from .event import CHUNK\n    return CHUNK\n")
    (pkg / "eng" / "other.py").write_text("import importlib\nimportlib.import_module('spiking.experiments')\n")
    graph = import_graph(core_modules(pkg, "pkg"))
    assert import_cycles(graph) == [["pkg.eng.event", "pkg.eng.plastic"]]
    assert "spiking.experiments" in graph["pkg.eng.other"]


def test_no_import_cycle_in_the_core(core_graph):
    assert import_cycles(core_graph) == []


def test_core_never_imports_the_layers_above(core_graph):
    upward = {m: sorted(n for n in names if n.startswith(UPPER)) for m, names in core_graph.items()}
    assert {m: n for m, n in upward.items() if n} == {}


def _tqdm_calls(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if (isinstance(f, ast.Name) and f.id == "tqdm") or (isinstance(f, ast.Attribute) and f.attr == "tqdm"):
                yield node


def _may_be_none(expr) -> bool:
    """``disable=None`` or ``disable=None if ... else True`` (None where a bar is wanted)."""
    if isinstance(expr, ast.Constant):
        return expr.value is None
    if isinstance(expr, ast.IfExp):
        return _may_be_none(expr.body) or _may_be_none(expr.orelse)
    return False


def test_every_progress_bar_uses_disable_none():
    calls, bad = 0, []
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            for call in _tqdm_calls(path):
                calls += 1
                disable = [k.value for k in call.keywords if k.arg == "disable"]
                if not (disable and _may_be_none(disable[0])):
                    bad.append(f"{path.relative_to(ROOT)}:{call.lineno}")
    assert calls >= 5, calls   # the walk found the bars (engines, trainer, caches, experiments)
    assert bad == [], f"tqdm without disable=None: {bad}"


_RUN_WITH_BAR = textwrap.dedent("""
    import numpy as np
    import spiking as sp
    import spiking.engines.event as event
    event._CHUNK_WORK = 100 * 20            # 20 steps per kernel call: a bar with 50 updates
    net = sp.Network(dt=0.1)
    net.add_source("in", 20, sp.PoissonSource(rate=50.0))
    net.add_population("exc", 100, sp.LIF())
    net.connect("in", "exc", sp.FixedProbability(0.5), weight=2.0, delay=0.1, rng=np.random.default_rng(0))
    rec = sp.simulate(net, 100.0, rng=np.random.default_rng(1), progress=True)
    print("spikes", sum(len(s) for s in rec.spikes.values()))
    """)


def _run(stderr_fd):
    env = dict(os.environ, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", TERM="xterm")
    env.pop("TQDM_DISABLE", None)
    return subprocess.Popen([sys.executable, "-c", _RUN_WITH_BAR], stdout=subprocess.PIPE, stderr=stderr_fd,
                            env=env, cwd=ROOT)


def test_progress_bar_prints_nothing_into_a_pipe():
    """stderr a pipe (logs, CI): no carriage-return updates; the same run on a pseudo-terminal
    draws the bar (so the check could fail)."""
    out, err = _run(subprocess.PIPE).communicate(timeout=300)
    assert b"spikes" in out, err.decode()[-2000:]
    assert b"\r" not in err, err[-500:]

    pty = pytest.importorskip("pty")
    import fcntl
    import struct
    import termios
    master, slave = pty.openpty()
    # a new pty is 0 x 0 characters, where tqdm draws an empty bar: give it 24 x 80
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = _run(slave)
    os.close(slave)
    drawn = []

    def drain():   # read while the child writes, so a full pty buffer never blocks it
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:     # EIO: the child closed the terminal
                return
            if not chunk:
                return
            drawn.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        out, _ = proc.communicate(timeout=300)
        reader.join(timeout=10)
    finally:
        os.close(master)
    drawn = b"".join(drawn)
    assert proc.returncode == 0 and b"spikes" in out, drawn[-2000:]
    assert b"\r" in drawn and b"simulating" in drawn
