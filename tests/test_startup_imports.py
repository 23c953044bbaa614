"""Start-up cost: the modules every page imports leave scipy to the analyses that use it.

scipy.stats, scipy.signal and scipy.integrate take about 0.8 s of CPU to import here (measured with
``resource.getrusage`` around the import, 3 runs), and only Trends, Downstream, the lr-annealing law and
the effective-parameter counts need them; scipy.optimize (with scipy.linalg, ~0.5 s) and scipy.special are
needed by the fits, root finders and logistic laws, not by the home page's first chart (the corpus, from a
query). All are imported inside the functions that use them (issue 13: first start).
"""
import subprocess
import sys

PAGE_IMPORTS = ("app_modules = ['analysis.figures', 'analysis.laws', 'analysis.settings', 'datasets.store', "
                "'ui.compute', 'ui.data', 'ui.navigation', 'ui.output', 'ui.store', 'ui.format', 'ui.field_views', "
                "'ui.fit_controls', 'ui.widgets']")


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
