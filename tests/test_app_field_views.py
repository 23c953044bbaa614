"""The issue-15 views in the app (AppTest): Allocate's inference row, Fit's law bake-off, Downstream's emergence."""
from __future__ import annotations

from tests.test_app_pages import app_env, metric, number_of, run_page  # noqa: F401  (app_env is a fixture)

EPOCH = {"source": "chinchilla-epoch", "family": "chinchilla-epoch/chinchilla"}


def test_allocate_inference_row_shrinks_the_model(app_env):  # noqa: F811
    base = {**EPOCH, "budget": "1e23"}
    closed = run_page("Allocate", base)           # drawn only when opened
    assert not any("Enter the tokens the model will generate" in c.value for c in closed.caption)
    idle = run_page("Allocate", base, session={"inf_open": True})
    assert any("Enter the tokens the model will generate" in c.value for c in idle.caption)
    at = run_page("Allocate", {**base, "inf_tokens": "1e12"})          # a link that sets it opens it
    n_train = number_of(metric(at, "N* (parameters)"))
    n_serve = number_of(metric(at, "N* with serving (parameters)"))
    assert n_serve < n_train
    share = number_of(metric(at, "Share of the budget spent serving"))
    assert 0 < share < 1
    # the number input drives the same view
    at.number_input(key="inf_tokens").set_value(1e13).run()
    assert not at.exception
    assert number_of(metric(at, "N* with serving (parameters)")) < n_serve


def test_fit_bakeoff_ranks_farseer_first_on_epoch(app_env):  # noqa: F811
    at = run_page("Fit", {**EPOCH, "law": "chinchilla", "view": "backtest", "bakeoff": "1"})
    tables = [d.value for d in at.dataframe if "heldout_log_rmse" in d.value.columns]
    assert tables, "no bake-off table"
    t = tables[0]
    assert {"chinchilla", "farseer"} <= set(t["law"])
    assert t.iloc[0]["law"] == "farseer"


def test_downstream_emergence_verdict(app_env):  # noqa: F811
    at = run_page("Downstream", {"source": "overtrain", "family": "overtrain/rpj", "metric": "hellaswag/acc"},
                  session={"emergence_open": True})
    shape = metric(at, "Shape")
    assert shape in ("linear", "accelerated", "sub-scaling", "no improvement", "too few sizes")
