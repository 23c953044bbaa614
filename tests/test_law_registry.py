"""A law added as one new file reaches every place that offers laws, with no other edit.

The throw-away law (``tests/_shared_exponent_law.py``, Chinchilla with one shared exponent and a
closed-form compute optimum) is registered for this module only and must appear in ``laws --json``
and ``fit --law`` of the CLI, among the applicable laws of back-tests and ``auto``, fit and predict
through ``FitResult`` (also after a JSON round trip and pickling), in the report with its parameter
units, in the fit figure, and in the allocation by its closed form. A custom law that is *not*
registered must fit and predict too. On the dashboard it is offered by the Fit page (fitted, with its
parameter table) and the Allocate page (split by its closed form), on uploaded runs.
"""
import dataclasses
import importlib
import json
import pickle

import numpy as np
import pandas as pd
import pytest

from analysis.allocate import allocate
from analysis.backtest import applicable_laws, backtest, choose_law
from analysis.fit import fit_law
from analysis.fit_result import FitResult
from analysis.laws import LAWS, register, unregister
from analysis.report import build_report
from tests._synthetic import grid_runs

TRUE = {"E": 1.8, "A": 400.0, "B": 1500.0, "a": 0.33}


@pytest.fixture(scope="module")
def law():
    module = importlib.import_module("tests._shared_exponent_law")
    register(module.SHARED)            # again, when an earlier module run unregistered it
    yield module.SHARED
    unregister(module.SHARED.name)


@pytest.fixture(scope="module")
def frame(law):
    df = grid_runs(np.random.default_rng(0))
    y = law.predict(TRUE, df)
    return df.assign(y=y * np.exp(np.random.default_rng(1).normal(0, 0.005, len(y))))


@pytest.fixture(scope="module")
def fit(law, frame):
    return fit_law(frame, law.name, bootstrap=100)


def test_the_jacobian_of_the_shared_exponent_is_exact(law):
    rng = np.random.default_rng(2)
    X = {"N": 10 ** rng.uniform(7, 10, 20), "D": 10 ** rng.uniform(9, 12, 20)}
    theta = law.to_internal(np.array([[TRUE[p] for p in law.param_names]]))
    h = 1e-6
    for k in range(theta.shape[1]):
        e = np.zeros_like(theta)
        e[0, k] = h
        num = (law.logpred(theta + e, X) - law.logpred(theta - e, X))[0] / (2 * h)
        np.testing.assert_allclose(law.jac(theta, X)[0, :, k], num, rtol=1e-5, atol=1e-8)
    lp, J = law.logpred_jac(theta, X)
    np.testing.assert_allclose(J, law.jac(theta, X), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(lp, law.logpred(theta, X), rtol=1e-12)


def test_the_cli_lists_it_and_fits_it(law, frame, tmp_path, capsys):
    from analysis.cli.run import main

    assert main(["laws", "--json"]) == 0
    listed = {d["name"]: d for d in json.loads(capsys.readouterr().out)["laws"]}
    entry = listed[law.name]
    assert entry["formula"] == law.formula and entry["allocatable"] and entry["closed_form_optimum"]
    assert [p["unit"] for p in entry["parameters"]] == ["y units", "y units x (parameters)^a",
                                                         "y units x (tokens)^a", "dimensionless"]
    path = tmp_path / "runs.csv"
    frame.rename(columns={"N": "params", "D": "tokens", "C": "flops", "y": "loss"}).to_csv(path, index=False)
    assert main(["fit", "--csv", str(path), "--law", law.name, "--bootstrap", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["law"] == law.name and out["params"]["a"] == pytest.approx(TRUE["a"], rel=0.05)


def test_it_is_applicable_backtested_and_a_candidate_of_auto(law, frame):
    assert law.name in applicable_laws(frame)
    assert law.name not in applicable_laws(frame[["run", "D", "y"]])     # needs N and D
    bt = backtest(frame, law.name)
    assert bt.law == law.name and bt.log_rmse < 0.02
    choice = choose_law(frame, [law.name, "kaplan_c"], bootstrap=0)
    assert choice.law == law.name and set(choice.table["law"]) == {law.name, "kaplan_c"}


def test_it_fits_predicts_and_round_trips(law, frame, fit):
    assert fit.law is law and fit.success
    for k, v in TRUE.items():
        assert fit.params[k] == pytest.approx(v, rel=0.1), k
        assert fit.ci[k].contains(fit.params[k])
    truth = law.predict(TRUE, frame)
    assert np.sqrt(np.mean(np.log(fit.predict(frame) / truth) ** 2)) < 0.004
    assert fit.used.all() and len(fit.data) == len(frame)
    again = FitResult.from_dict(json.loads(json.dumps(fit.to_dict(include_samples=True))))
    assert again.law is law and again.to_dict()["law"] == law.name
    np.testing.assert_allclose(again.predict(frame), fit.predict(frame))
    lo, hi = again.ci["a"]                                   # intervals unpack like tuples
    assert (lo, hi) == tuple(fit.ci["a"])
    assert pickle.loads(pickle.dumps(fit)).law is law        # registered laws pickle by name


def test_an_unregistered_custom_law_fits_and_predicts(law, frame):
    custom = dataclasses.replace(law, name="not_registered_anywhere")
    assert custom.name not in LAWS
    res = fit_law(frame, custom, bootstrap=20)
    assert res.law is custom and res.to_dict()["law"] == custom.name
    np.testing.assert_allclose(res.predict(frame.iloc[:5]), law.predict(res.params, frame.iloc[:5]), rtol=1e-12)
    assert res.band(frame.iloc[:5])[0].shape == (5,)
    loaded = FitResult.from_dict(res.to_dict(), law=custom)
    np.testing.assert_allclose(loaded.predict(frame.iloc[:5]), res.predict(frame.iloc[:5]))
    with pytest.raises(KeyError, match="unknown law"):
        FitResult.from_dict(res.to_dict())


def test_the_report_shows_it_with_units(law, frame, fit):
    report = build_report(fit, frame, data_source={"kind": "csv", "metric": "loss", "unit": "nats"})
    md = report.to_markdown()
    assert law.title in md and law.formula in md
    params = {p["name"]: p for p in report.to_dict()["parameters"]}
    assert params["A"]["unit"] == "nats x (parameters)^a" and params["a"]["unit"] == "dimensionless"
    assert law.name in report.to_html()


def test_the_fit_figure_draws_its_frontier(law, frame, fit):
    from analysis.figures import fit_figure

    names = [t.name for t in fit_figure(fit, frame, unit="nats").data]
    assert "compute-optimal L*(C)" in names and "data used in the fit" in names


def test_allocation_uses_its_closed_form(law, fit):
    C, k = 1e22, 6.0
    a = allocate(fit, C)
    p = fit.params
    N = (p["A"] / p["B"]) ** (1 / (2 * p["a"])) * np.sqrt(C / k)
    assert a.method == "closed form" and a.N_opt == pytest.approx(N, rel=1e-12)
    assert a.ci["N_opt"].contains(a.N_opt) and a.ci["N_opt"].level == 0.95
    numerical = FitResult(**{**{f.name: getattr(fit, f.name) for f in dataclasses.fields(fit)},
                             "law": dataclasses.replace(law, name="shared_numerical", optimum=None)})
    b = allocate(numerical, C)
    assert b.method.startswith("numerical") and b.N_opt == pytest.approx(a.N_opt, rel=0.01)
    assert b.loss == pytest.approx(a.loss, rel=1e-6)
    frame_rows = pd.DataFrame([a.to_dict()])
    assert frame_rows.loc[0, "ci"]["N_opt"] == a.ci["N_opt"].to_list()


def test_the_fit_and_allocate_pages_offer_it(law, frame, tmp_path, monkeypatch):
    """Uploaded runs (no corpus needed): the Fit page fits the law from ?law=, the Allocate page splits by it."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from datasets.upload import read_upload
    from ui.navigation import BY_NAME

    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("SCALING_STORE", str(tmp_path / "store.duckdb"))
    monkeypatch.setenv("SCALING_DATA_DIR", str(empty))
    monkeypatch.setattr("analysis.settings.BOOTSTRAP", 20)
    csv = frame.rename(columns={"N": "params", "D": "tokens", "C": "flops", "y": "loss"}).to_csv(index=False)
    up = read_upload(csv, filename="runs.csv")
    uploads = {"runs.csv": {"runs": up.runs, "points": up.points, "report": up.report, "filename": "runs.csv",
                            "digest": "shared-exponent"}}
    root = Path(__file__).resolve().parents[1]
    tables = {}
    for page in ("Fit", "Allocate"):
        at = AppTest.from_file(str(root / "home.py"), default_timeout=120)
        at.switch_page(BY_NAME[page].script)
        at.query_params.update({"data": "upload", "law": law.name, "boot": "20", "settings": "true"})
        at.session_state["uploads"] = uploads
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert f"{law.name}: {law.formula}" in at.selectbox(key="law").options     # offered, labelled by its formula
        assert at.selectbox(key="law").value == law.name
        tables[page] = at
    from tests.test_app_pages import table
    params = table(tables["Fit"], "parameter")
    assert list(params["parameter"]) == list(law.param_names)
    a = float(params.set_index("parameter").loc["a", "value"])
    assert a == pytest.approx(TRUE["a"], rel=0.1)
    assert any(law.title in c.value for c in tables["Fit"].caption)
    assert any("closed form" in c.value for c in tables["Allocate"].caption)
