"""Server start-up: load what the pages import while the first browser loads Streamlit's frontend.

A new server's first page otherwise imports pandas, plotly, DuckDB and the analyses (~1 s here) only
after the browser has loaded Streamlit's frontend (~1.2 s on a cold cache), while the server idles.
:func:`lifespan` (the lifespan of ``app.py``'s ``st.App``) starts :func:`warm_up` in a daemon thread, so
both happen at once. First start to the home page's first chart, paired rounds against the tree before
(this machine: 2 shared cores): 0.35 s sooner at load 2-4 (median of 15; 11 sooner, 4 later), 0.5-1 s
sooner at load ~1. On a busy machine the thread and the browser share the cores, and the gain shrinks.

A page that starts while the thread still imports waits for each module's import lock, as for any
import (the package cycles in ``datasets.store``, ``analysis.report`` and ``analysis.cli`` are entered
through their parent package only, so two threads take the locks in one order), and the store is opened
once (Streamlit's cache holds a lock per key). Opening the store is only opening it: a missing or
outdated store is built by the first page, under its progress bar.
"""
from __future__ import annotations

import contextlib
import importlib
import logging
import threading

# what home.py imports, in its order, then the other pages' shared modules. Not scipy.optimize (0.5 s, for
# the fits): it ran into the first page's run and the frontend's loading, and the first chart came later.
MODULES = ("pandas", "analysis.figures", "analysis.laws", "analysis.settings", "datasets.store", "ui.compute",
           "ui.data", "ui.navigation", "ui.output", "ui.store", "ui.format", "ui.field_views", "ui.fit_controls",
           "ui.widgets")

_log = logging.getLogger(__name__)


def warm_up(modules: tuple[str, ...] = MODULES, open_store: bool = True) -> float:
    """Import ``modules``, load plotly's lazily imported figure classes, and open the corpus store when
    it is built (:func:`ui.store.open_built`). Returns the seconds it took. Never raises: a failure
    here is logged, and the page that needs the module meets it again and says what to do."""
    import time

    t0 = time.perf_counter()
    try:
        for name in modules:
            importlib.import_module(name)
        import plotly.graph_objects as go
        go.Figure([go.Scatter(), go.Bar()])       # the classes and validators every figure uses (~0.1 s)
        if open_store:
            from ui import store
            store.open_built()
    except Exception:  # noqa: BLE001 - a warm-up must never take the server down
        _log.warning("start-up warm-up failed; pages load what they need themselves", exc_info=True)
    return time.perf_counter() - t0


@contextlib.asynccontextmanager
async def lifespan(app):
    """``st.App`` lifespan: start :func:`warm_up` in a daemon thread and serve at once."""
    threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
    yield
