"""Law bake-off: every law on one held-out split, ranked by held-out error, with AICc beside it."""
import numpy as np
import pytest

from analysis.bakeoff import aicc, bakeoff
from analysis.prepare import FitError
from datasets.store import Store
from tests._synthetic import sample

FAMILY = "chinchilla-epoch/chinchilla"


def test_aicc_formula():
    # n ln(RSS/n) + 2k + 2k(k+1)/(n-k-1) with k counting the noise variance
    assert aicc(2.0, 100, 4) == pytest.approx(100 * np.log(0.02) + 10 + 60 / 94)
    assert np.isnan(aicc(1.0, 5, 4))


def test_true_law_wins_and_extra_parameters_cost_aicc():
    df = sample("chinchilla", np.random.default_rng(0))
    res = bakeoff(df, ["power_c", "chinchilla", "data_constrained"])
    t = res.table.set_index("law")
    assert res.best == "chinchilla" and res.n_heldout > 0 and "largest model size" in res.split
    assert t.loc["chinchilla", "heldout_mape"] < t.loc["power_c", "heldout_mape"]
    # data_constrained without U is Chinchilla with two idle parameters: no better fit, worse AICc
    assert t.loc["data_constrained", "aicc"] > t.loc["chinchilla", "aicc"]
    assert t.loc["chinchilla", "delta_aicc"] < 2
    assert list(res.table["rank"].dropna()) == [1, 2, 3]
    assert res.to_dict()["best"] == "chinchilla"


def test_a_failing_law_is_listed_last_with_its_error():
    df = sample("chinchilla", np.random.default_rng(1))
    res = bakeoff(df, ["chinchilla", "lr_anneal"])
    last = res.table.iloc[-1]
    assert last["law"] == "lr_anneal" and last["error"] and np.isnan(last["rank"])
    with pytest.raises(FitError, match="nothing"):
        bakeoff(df, ["chinchilla"], holdout_compute=1e40)


def test_farseer_wins_the_bakeoff_on_epochs_largest_budget(store_path):
    s = Store(store_path)
    frame = s.fit_frame(FAMILY, s.default_metric(FAMILY))
    frame = frame[~frame["run"].isin(s.flagged_runs(FAMILY))]
    res = bakeoff(frame, ["chinchilla", "kaplan"], holdout_compute=1.5e21, include=("farseer",))
    print(res.summary())
    t = res.table.set_index("law")
    assert res.n_heldout == 17 and res.best == "farseer"
    assert t.loc["farseer", "heldout_mape"] <= 0.0070 <= 0.0090 <= t.loc["chinchilla", "heldout_mape"]
