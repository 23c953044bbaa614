"""Start-up cost: the modules the pages import leave scipy to the analyses that use it, and the server
loads them while the first browser boots.

scipy.stats, scipy.signal and scipy.integrate take about 0.8 s of CPU to import here (measured with
``resource.getrusage`` around the import, 3 runs), and only Trends, Downstream, the lr-annealing law and
the effective-parameter counts need them; scipy.optimize (with scipy.linalg, ~0.5 s) and scipy.special are
needed by the fits, root finders and logistic laws, not by the home page's first chart (the corpus, from a
query). All are imported inside the functions that use them (issue 13: first start).

The server (``app.py``) loads the pages' shared modules in a thread at start (:mod:`ui.warmup`), while the
first browser loads the frontend: the warm-up covers what the home page and most pages import, never
builds a store, and a page importing at the same time gets whole modules.
"""
import ast
import asyncio
import importlib.util
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from ui import navigation, warmup

ROOT = Path(__file__).resolve().parents[1]
OURS = ("ui", "analysis", "datasets")


def imported_modules(script: Path) -> set[str]:
    """Our modules ``script`` imports: ``from ui import a, b`` gives ``ui.a`` and ``ui.b`` (a module each)."""
    out = set()
    for node in ast.walk(ast.parse(script.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for a in node.names:
                full = f"{node.module}.{a.name}"
                out.add(full if _is_module(full) else node.module)
    return {m for m in out if m.split(".")[0] in OURS}


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


SCRIPTS = [ROOT / p.script for p in navigation.PAGES]
PER_SCRIPT = {s.name: imported_modules(s) for s in SCRIPTS}
PAGE_IMPORTS = f"app_modules = {sorted(set().union(*PER_SCRIPT.values()))!r}"


def test_the_modules_the_pages_import_are_found():
    assert PER_SCRIPT["home.py"] >= {"ui.compute", "ui.output", "ui.store", "analysis.figures"}
    assert all(PER_SCRIPT.values()) and len(PER_SCRIPT) == len(navigation.PAGES) == 9


def _loaded_after(imports: str) -> set[str]:
    code = (f"import importlib, sys\n{imports}\n"
            "for m in app_modules: importlib.import_module(m)\n"
            "print('loaded:' + ','.join(m for m in sys.modules if m == 'scipy' or m.startswith('scipy.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    line = next(x for x in reversed(out.stdout.splitlines()) if x.startswith("loaded:"))
    return set(filter(None, line.removeprefix("loaded:").split(",")))


def test_the_page_modules_do_not_import_scipy():
    assert _loaded_after(PAGE_IMPORTS) == set()          # no scipy module at all


def test_the_analyses_that_need_them_still_import_them():
    loaded = _loaded_after(PAGE_IMPORTS + "\nimport numpy as np\n"
                           "from analysis.two_lines import mann_kendall; mann_kendall(np.arange(5.), np.arange(5.))\n"
                           "from analysis.laws.lr_anneal import anneal_areas; anneal_areas([1., 2.], [1e-3, 5e-4])\n"
                           "from analysis.laws.maths import expit; assert expit(0.0) == 0.5\n"
                           "from analysis.laws.varpro import saturating_inits\n"
                           "saturating_inits(np.array([1., 2., 4., 8.]), np.array([3., 2.5, 2.2, 2.1]))")
    assert {"scipy.stats", "scipy.signal", "scipy.special", "scipy.optimize"} <= loaded


def test_the_warm_up_loads_what_the_home_page_and_most_pages_import():
    code = ("import sys\nfrom ui import warmup\nw = warmup.warm_up(open_store=False)\n"
            "print('failures', len(w.failures))\nprint('loaded:' + ','.join(sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    loaded = set(out.stdout.splitlines()[-1].removeprefix("loaded:").split(","))
    assert "failures 0" in out.stdout, out.stderr[-3000:]
    counts = Counter(m for mods in PER_SCRIPT.values() for m in mods)
    wanted = PER_SCRIPT["home.py"] | {m for m, n in counts.items() if n >= 3}
    assert len(wanted) > 15 and wanted <= loaded, wanted - loaded


def test_a_page_importing_during_the_warm_up_gets_whole_modules():
    """The warm-up thread and a page's run (here: the modules in the opposite order) import at once."""
    code = ("import importlib, sys, threading\nfrom ui import warmup\n"
            "t = threading.Thread(target=warmup.warm_up, kwargs={'open_store': False}); t.start()\n"
            "mods = [importlib.import_module(m) for m in reversed(warmup.MODULES)]\nt.join()\n"
            "from ui.compute import fit; from analysis.figures import corpus_figure; from ui.store import corpus\n"
            "print('ok', all(m in sys.modules for m in warmup.MODULES), 'scipy.optimize' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[-3:] == ["ok", "True", "False"], out.stdout


def test_the_warm_up_opens_a_built_store_and_never_builds_one(tmp_path, small_store_path):
    code = ("from ui import warmup\nw = warmup.warm_up(modules=('ui.store',))\n"
            "print(w.store_open, len(w.failures))")
    env = {**os.environ, "SCALING_STORE": str(small_store_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert out.stdout.split()[-2:] == ["True", "0"], out.stderr[-3000:]
    missing = tmp_path / "missing.duckdb"
    env = {**os.environ, "SCALING_STORE": str(missing), "SCALING_DATA_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert out.stdout.split()[-2:] == ["False", "0"], out.stderr[-3000:]
    assert not missing.exists() and list(tmp_path.iterdir()) == []


def test_a_failed_step_is_logged_and_the_others_still_run():
    w = warmup.warm_up(modules=("no_such_module_here", "json"), open_store=False)
    assert len(w.failures) == 1 and w.failures[0].startswith("import no_such_module_here: ModuleNotFoundError")
    assert w.store_open is False and w.seconds > 0


def test_the_lifespan_starts_the_warm_up_and_serves_at_once(monkeypatch):
    started = threading.Event()
    monkeypatch.setattr(warmup, "warm_up", lambda: started.wait(5) or started.set())

    async def enter():
        async with warmup.lifespan(None):
            return [t.name for t in threading.enumerate()]

    out = []                                 # in a thread of its own: another test may leave this one's loop running
    runner = threading.Thread(target=lambda: out.append(asyncio.run(enter())))
    runner.start()
    runner.join(30)
    names = out[0]                          # the lifespan yields before the warm-up ends
    assert "warm-up" in names
    started.set()


def test_app_py_serves_the_home_page_with_the_warm_up():
    calls = [n for n in ast.walk(ast.parse((ROOT / "app.py").read_text(encoding="utf-8")))
             if isinstance(n, ast.Call) and ast.unparse(n.func) == "st.App"]
    assert len(calls) == 1
    assert ast.literal_eval(calls[0].args[0]) == navigation.BY_NAME["Home"].script == "home.py"
    assert {k.arg: ast.unparse(k.value) for k in calls[0].keywords} == {"lifespan": "warmup.lifespan"}
