"""Start-up cost: the modules every page imports leave scipy to the analyses that use it.

scipy.stats, scipy.signal and scipy.integrate take about 0.8 s of CPU to import here (measured with
``resource.getrusage`` around the import, 3 runs), and only Trends, Downstream, the lr-annealing law and
the effective-parameter counts need them; scipy.optimize (with scipy.linalg, ~0.5 s) and scipy.special are
needed by the fits, root finders and logistic laws, not by the home page's first chart (the corpus, from a
query). All are imported inside the functions that use them (issue 13: first start).

The server (``app.py``) loads the same modules in a thread at start (:mod:`ui.warmup`), while the first
browser loads the frontend: the warm-up covers what the pages import, never builds a store, and a page
importing at the same time gets whole modules.
"""
import asyncio
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

from ui import warmup

ROOT = Path(__file__).resolve().parents[1]
PAGE_IMPORTS = f"app_modules = {[m for m in warmup.MODULES if m != 'pandas']!r}"


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
    loaded = _loaded_after(PAGE_IMPORTS.replace("]\")", "]") + "\nimport numpy as np\n"
                           "from analysis.two_lines import mann_kendall; mann_kendall(np.arange(5.), np.arange(5.))\n"
                           "from analysis.laws.lr_anneal import anneal_areas; anneal_areas([1., 2.], [1e-3, 5e-4])\n"
                           "from analysis.laws.maths import expit; assert expit(0.0) == 0.5\n"
                           "from analysis.laws.varpro import saturating_inits\n"
                           "saturating_inits(np.array([1., 2., 4., 8.]), np.array([3., 2.5, 2.2, 2.1]))")
    assert {"scipy.stats", "scipy.signal", "scipy.special", "scipy.optimize"} <= loaded


def test_the_warm_up_loads_what_the_pages_import():
    pattern = re.compile(r"^from (ui|analysis|datasets)(?:\.(\w+))? import (\w+)", flags=re.M)
    pages = {f"{top}.{sub or name}" for script in [ROOT / "home.py", *sorted((ROOT / "pages").glob("*.py"))]
             for top, sub, name in pattern.findall(script.read_text(encoding="utf-8"))}
    shared = {m for m in pages if m.startswith(("ui.", "analysis.figures", "analysis.settings", "analysis.laws"))}
    assert shared and shared <= set(warmup.MODULES) | {"ui.upload_form", "ui.uploads"}, shared - set(warmup.MODULES)


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


def test_the_warm_up_opens_a_built_store_and_never_builds_one(tmp_path, store_path):
    code = ("from ui import warmup, store\nwarmup.warm_up(modules=('ui.store',))\n"
            "print(store.open_built() is not None)")
    env = {**os.environ, "SCALING_STORE": str(store_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert out.returncode == 0 and out.stdout.split()[-1] == "True", out.stderr[-3000:]
    missing = tmp_path / "missing.duckdb"
    env = {**os.environ, "SCALING_STORE": str(missing), "SCALING_DATA_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert out.returncode == 0 and out.stdout.split()[-1] == "False", out.stderr[-3000:]
    assert not missing.exists() and list(tmp_path.iterdir()) == []


def test_the_lifespan_starts_the_warm_up_and_serves_at_once(monkeypatch):
    started = threading.Event()
    monkeypatch.setattr(warmup, "warm_up", lambda: started.wait(5) or started.set())

    async def enter():
        async with warmup.lifespan(None):
            return [t.name for t in threading.enumerate()]

    names = asyncio.run(enter())            # the lifespan yields before the warm-up ends
    assert "warm-up" in names
    started.set()


def test_app_py_is_the_server_of_the_home_page():
    text = (ROOT / "app.py").read_text(encoding="utf-8")
    assert 'st.App("home.py", lifespan=warmup.lifespan)' in text
