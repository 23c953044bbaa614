"""Repeated data: Goyal et al.'s utility decay law, and the two repeated-data laws side by side on datablations."""
import numpy as np
import pandas as pd
import pytest

from analysis.fit import fit_law
from analysis.laws import get_law
from analysis.laws.utility_decay import epochs_until
from analysis.repetition import RepetitionError, compare_repetition, muennighoff_epochs_until
from datasets.store import Store

LAW = "utility_decay"
TRUE = {"a": 300.0, "b": -0.3, "d": 1.8, "tau": 3.0}


def _predict(p, D, U):
    return get_law(LAW).predict(p, {"D": np.asarray(D, float), "U": np.asarray(U, float)})


def test_fresh_data_is_a_plain_power_law():
    D = np.geomspace(1e8, 1e12, 9)
    fresh = 300.0 * D ** -0.3 + 1.8
    np.testing.assert_allclose(_predict(TRUE, D, np.full(9, np.nan)), fresh, rtol=1e-12)   # no limit
    np.testing.assert_allclose(_predict(TRUE, D, D * 2), fresh, rtol=1e-12)                # first pass


def test_exponent_decays_by_half_every_tau_repetitions():
    U = 1e9
    # local slope of log(y - d) in log n during repetition k is b (1/2)^(k/tau)
    for k in (1, 3, 6, 30):
        n = np.array([k + 0.3, k + 0.7]) * U
        yd = _predict(TRUE, n, [U, U]) - TRUE["d"]
        slope = np.diff(np.log(yd))[0] / np.diff(np.log(n))[0]
        assert slope == pytest.approx(TRUE["b"] * 0.5 ** (k / TRUE["tau"]), rel=1e-9)
    # continuous at every pass boundary
    for k in (1, 2, 5):
        left, right = _predict(TRUE, [k * U * (1 - 1e-12), k * U * (1 + 1e-12)], [U, U])
        assert left == pytest.approx(right, rel=1e-9)


def test_readouts():
    # repeated data are worth half of fresh after tau repetitions, i.e. from epoch 1 + tau
    assert epochs_until(3.0, 0.5) == pytest.approx(4.0)
    assert epochs_until(3.0, 0.25) == pytest.approx(7.0)
    # Muennighoff: a token on repetition R is worth exp(-R / R_D*) of a fresh one; with R_D* = 15.4 that is
    # half after 15.4 ln 2 = 10.67 repetitions
    assert muennighoff_epochs_until(15.4, 0.5) == pytest.approx(1 + 15.4 * np.log(2))


def test_synthetic_repetition_is_recovered():
    rng = np.random.default_rng(0)
    rows = []
    for i, (U, epochs) in enumerate([(1e11, 1), (1e10, 4), (2.5e9, 10), (1e9, 25), (4e8, 50)]):
        for D in np.geomspace(1e7, U * epochs, 25):
            rows.append({"run": f"r{i}", "D": D, "U": U})
    df = pd.DataFrame(rows)
    df["y"] = _predict(TRUE, df["D"], df["U"]) * np.exp(rng.normal(0, 0.003, len(df)))
    f = fit_law(df, LAW, bootstrap=100)
    assert f.params["tau"] == pytest.approx(3.0, rel=0.1)
    assert f.params["b"] == pytest.approx(-0.3, rel=0.05)
    # (5 runs are too few for the run-level bootstrap to cover reliably: only check that intervals exist)
    assert f.ci["tau"][0] < f.params["tau"] < f.ci["tau"][1]


@pytest.fixture(scope="module")
def store(store_path):
    return Store(store_path)


@pytest.fixture(scope="module")
def comparison(store):
    frame = store.fit_frame("colpret/datablations-c4", "val_loss")
    return compare_repetition(frame, share=0.5, bootstrap=50, seed=0)


def test_both_laws_predict_the_held_out_44_epoch_runs(comparison):
    """Largest epoch count (44) held out; measured MAPE: data_constrained 8.0%, utility_decay 3.9-7.2%."""
    print(comparison.summary())
    assert comparison.heldout_epochs == pytest.approx(44, rel=0.01)
    laws = [r.law for r in comparison.readouts]
    assert laws[0] == "data_constrained" and laws.count("utility_decay") == 3      # one per model size
    for r in comparison.readouts:
        assert 0 < r.heldout_mape < 0.12 and r.n_heldout > 0
        lo, hi = r.epochs_until_ci
        assert 1 < lo <= r.epochs_until <= hi < 60
    assert any("overfit" in n for n in comparison.notes)
    t = comparison.table()
    assert {"law", "group", "heldout_mape", "epochs_until"} <= set(t.columns)


def test_comparison_refuses_data_without_repetition():
    df = pd.DataFrame({"run": ["a", "b"], "N": [1e9, 1e9], "D": [1e10, 2e10], "U": [1e10, 2e10], "y": [3.0, 2.9]})
    with pytest.raises(RepetitionError, match="epoch counts"):
        compare_repetition(df)
    with pytest.raises(RepetitionError, match="share"):
        compare_repetition(df, share=2)


def test_data_constrained_on_the_datablations_contour(store):
    """Issue 15 check, measured: on the 229 contour runs a joint 7-parameter fit gives R_N* = 38 (95% CI
    0.28-249, containing the paper's 5.3) and R_D* = 40 (CI 19 to the 1e4 bound): R_D* is not pinned down by
    the contour alone. The paper's two-stage procedure and why its 15.4 is a local minimum:
    tests/test_data_constrained_published.py. The point estimates keep the paper's ordering R_D* > R_N*."""
    family = "colpret/datablations-contour"
    frame = store.fit_frame(family, store.default_metric(family))
    f = fit_law(frame, "data_constrained", bootstrap=200, seed=0)
    print({k: round(v, 3) for k, v in f.params.items()}, f.ci["R_D*"], f.ci["R_N*"])
    lo, hi = f.ci["R_N*"]
    assert lo < 5.3 < hi
    assert f.params["R_D*"] > f.params["R_N*"] and f.ci["R_D*"][0] > f.ci["R_N*"][0]
