"""The HTML report in a real browser (Debian's chromium): opened from disk with no network, it inflates its
one compressed copy of plotly.js and draws every figure, without a request or a script error.

Only a browser can check this: the page runs plotly.js from ``DecompressionStream`` under the report's
Content-Security-Policy. Skipped like tests/test_browser.py when playwright or chromium is missing
(a failure under ``SCALING_REQUIRE_DATA=1``).
"""
from __future__ import annotations

import numpy as np
import pytest

from analysis.backtest import backtest
from analysis.fit import fit_law
from analysis.report import build_report
from tests._synthetic import sample
from tests.test_browser import MISSING, REQUIRED

pytestmark = pytest.mark.skipif(MISSING is not None and not REQUIRED, reason=f"real-browser tests: {MISSING}")


def test_offline_html_report_draws_every_figure(page, tmp_path):
    frame = sample("chinchilla", np.random.default_rng(3))
    fit = fit_law(frame, "chinchilla", bootstrap=20, seed=0)
    rep = build_report(fit, frame, backtest=backtest(frame, "chinchilla"),
                       data_source={"kind": "csv", "path": str(tmp_path / "runs.csv"), "metric": "loss",
                                    "unit": "nats"})
    html_text = rep.to_html()
    n_figures = html_text.count('class="plotly-graph-div"')
    assert n_figures == 3
    path = tmp_path / "report.html"
    path.write_text(html_text, encoding="utf-8")

    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(path.as_uri())
    page.wait_for_function(f"document.querySelectorAll('.plotly-graph-div .main-svg').length >= {n_figures}",
                           timeout=60_000)
    marks = page.evaluate("""() => Array.from(document.querySelectorAll('.plotly-graph-div')).map(
        d => d.querySelectorAll('.scatterlayer .trace path, .scatterlayer .point').length)""")
    assert len(marks) == n_figures and all(m > 0 for m in marks), marks       # every figure drew its data
    assert [u for u in requests if not u.startswith("file:")] == []
    assert errors == []
    assert str(tmp_path) not in html_text                                      # the CSV by its name only
