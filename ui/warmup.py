"""Server start-up: load what the pages import while the first browser loads Streamlit's frontend.

A new server's first page otherwise imports pandas, plotly, DuckDB and the analyses (~1 s here) only
after the browser has loaded Streamlit's frontend (~1.2 s on a cold cache), while the server idles.
:func:`lifespan` (the lifespan of ``app.py``'s ``st.App``) starts :func:`warm_up` in a daemon thread, so
both happen at once. First start to the home page's first chart, paired rounds against the tree before
(this machine: 2 shared cores, load 1-4): 0.34 s sooner (median of 23 rounds; 16 sooner, 7 later), up to
1 s at low load. The thread and the browser share the cores: the browser boots ~0.5 s slower, the page
runs ~1 s sooner. A lower OS priority for the thread (nice 19) gained nothing (4 rounds).

A page that starts while the thread still imports waits for each module's import lock, as for any
import (every import cycle of ours stays inside one package and is entered through that package, so two
threads take the locks in one order), and the store is opened once (Streamlit's cache holds a lock per
key). Opening the store is only opening it: a missing or outdated store is built by the first page, under
its progress bar.
"""
from __future__ import annotations

import contextlib
import importlib
import threading
import time
from dataclasses import dataclass

from streamlit.logger import get_logger

# what home.py imports, in its order, then the other pages' shared modules. Not scipy.optimize (0.5 s, for
# the fits): it ran into the first page's run and the frontend's loading, and the first chart came later.
MODULES = ("pandas", "analysis.figures", "analysis.laws", "analysis.settings", "datasets.store", "ui.compute",
           "ui.data", "ui.navigation", "ui.output", "ui.store", "ui.format", "ui.field_views", "ui.fit_controls",
           "ui.widgets")

OPEN_STORE = "open the store"
_log = get_logger(__name__)


@dataclass(frozen=True)
class Warmed:
    """What :func:`warm_up` did: its seconds, whether the corpus store is open, and the steps that failed
    (``"import pandas: ModuleNotFoundError: ..."``; each logged as a warning)."""

    seconds: float
    store_open: bool
    failures: tuple[str, ...]


def _figure_classes() -> None:
    import plotly.graph_objects as go
    go.Figure([go.Scatter(), go.Bar()])     # the classes and validators every figure uses (~0.1 s)


def _open_store() -> bool:
    from ui import store
    return store.open_built() is not None


def warm_up(modules: tuple[str, ...] = MODULES, open_store: bool = True) -> Warmed:
    """Import ``modules``, load plotly's lazily imported figure classes, and open the corpus store when
    it is built (:func:`ui.store.open_built`). Never raises: a failed step is logged and skipped, and the
    page that needs it meets the error again and says what to do."""
    t0, results, failures = time.perf_counter(), {}, []
    steps = [(f"import {m}", lambda m=m: importlib.import_module(m)) for m in modules]
    steps.append(("plotly's figure classes", _figure_classes))
    if open_store:
        steps.append((OPEN_STORE, _open_store))
    for what, step in steps:
        try:
            results[what] = step()
        except Exception as e:  # noqa: BLE001 - a warm-up must never take the server down
            failures.append(f"{what}: {type(e).__name__}: {e}")
            _log.warning("start-up warm-up: %s failed (%s); the page that needs it loads it itself", what, e)
    return Warmed(time.perf_counter() - t0, bool(results.get(OPEN_STORE)), tuple(failures))


@contextlib.asynccontextmanager
async def lifespan(app):
    """``st.App`` lifespan: start :func:`warm_up` in a daemon thread and serve at once."""
    threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
    yield
