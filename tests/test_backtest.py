"""Back-tests (ARE over the last 30% of held-out runs) and automatic law choice."""
import numpy as np
import pandas as pd
import pytest

from analysis.backtest import applicable_laws, backtest, choose_law, heldout_mask
from analysis.fit import FitError
from tests._synthetic import sample


def test_holds_out_the_largest_model():
    df = sample("chinchilla", np.random.default_rng(0))
    mask, rule = heldout_mask(df)
    assert df.loc[mask, "N"].min() == df["N"].max() and "largest" in rule
    bt = backtest(df, "chinchilla")
    assert {h["N"] for h in bt.heldout} == {df["N"].max()}
    assert bt.are < 0.01 and bt.log_rmse < 0.01
    assert bt.predictions["heldout"].sum() == mask.sum()


def test_an_excluded_largest_run_is_neither_held_out_nor_fitted():
    df = sample("chinchilla", np.random.default_rng(0))
    sizes = sorted(df["N"].unique())
    largest = df.loc[df["N"] == sizes[-1], "run"].unique().tolist()
    bt = backtest(df, "chinchilla", exclude_runs=largest)
    assert {h["N"] for h in bt.heldout} == {sizes[-2]}          # the largest of the runs still in play
    held = bt.predictions[bt.predictions["heldout"]]
    assert not held["run"].isin(largest).any()
    held_runs = held["run"].nunique()
    assert bt.fit.n_runs == df["run"].nunique() - len(largest) - held_runs


def test_are_scores_only_the_last_30_percent_of_each_run():
    df = sample("chinchilla", np.random.default_rng(0))
    bt = backtest(df, "chinchilla")
    pred = bt.predictions[bt.predictions["heldout"]]
    manual = []
    for run, g in pred.groupby("run"):
        lo, hi = g["D"].min(), g["D"].max()
        tail = g[g["D"] >= lo + 0.7 * (hi - lo)]
        manual.append(np.mean(np.abs(tail["y"] - tail["y_pred"]) / tail["y"]))
    assert bt.are == pytest.approx(np.mean(manual))


def test_wrong_law_extrapolates_worse():
    df = sample("chinchilla", np.random.default_rng(0))
    good, bad = backtest(df, "chinchilla"), backtest(df, "kaplan_c")
    assert bad.log_rmse > 2 * good.log_rmse


def test_auto_prefers_the_generating_law():
    df = sample("chinchilla", np.random.default_rng(3))
    choice = choose_law(df)
    assert choice.law == "chinchilla"
    assert "held-out log-RMSE" in choice.reason and len(choice.table) >= 3


def test_applicable_laws_follow_the_columns():
    df = sample("power_d", np.random.default_rng(0))
    assert "chinchilla" in applicable_laws(df)
    one_curve = df[df["run"] == df["run"].iloc[0]][["run", "D", "y"]]
    laws = applicable_laws(one_curve)
    assert "power_d" in laws and "chinchilla" not in laws


def test_single_size_learning_curve_holds_out_its_tail():
    df = sample("power_d", np.random.default_rng(0))
    curve = df[df["run"] == df["run"].iloc[0]][["run", "D", "y"]].reset_index(drop=True)
    bt = backtest(curve, "power_d")
    assert "largest 30%" in bt.rule and bt.are < 0.02


def test_nothing_to_hold_out_is_an_error():
    with pytest.raises(FitError):
        backtest(pd.DataFrame({"run": ["a"] * 5, "N": [1e8] * 5, "D": np.geomspace(1e9, 1e10, 5),
                               "y": [3, 2.9, 2.8, 2.7, 2.6]}), "power_d", mask=np.zeros(5, bool))


def _m4_curve(seed, n=40):
    """A learning curve with a plateau (M4, alpha = 0.5) and 0.5% noise."""
    from analysis.laws import get_law
    x = np.geomspace(1e6, 1e10, n)
    p = {"E": 0.2, "B": 0.75, "beta": 3e3, "c": 0.5, "alpha": 0.5}
    y = get_law("m4_d").predict(p, {"D": x}) * np.exp(np.random.default_rng(seed).normal(0, 0.005, n))
    return pd.DataFrame({"run": "curve", "D": x, "y": y})


def test_validation_folds_of_a_curve_are_the_last_10_and_20_percent_of_its_log_range():
    from analysis.backtest import validation_folds
    df = _m4_curve(0)
    lx = np.log(df["D"].to_numpy())
    folds = validation_folds(df)
    assert len(folds) == 2
    for (mask, rule), tail in zip(folds, (0.1, 0.2)):
        np.testing.assert_array_equal(mask, lx > lx.max() - tail * (lx.max() - lx.min()))
        assert f"last {tail:.0%}" in rule


def test_validation_folds_of_a_size_ladder_hold_out_the_largest_one_and_two_sizes():
    from analysis.backtest import validation_folds
    df = sample("chinchilla", np.random.default_rng(0))
    sizes = np.sort(df["N"].unique())
    (m1, _), (m2, _) = validation_folds(df)
    assert set(df.loc[m1, "N"]) == {sizes[-1]} and set(df.loc[m2, "N"]) == set(sizes[-2:])
    three = df[df["N"].isin(sizes[:3])].reset_index(drop=True)
    assert len(validation_folds(three)) == 1   # with 3 sizes the two-largest fold would leave one size


def test_auto_scores_the_geometric_mean_over_folds_and_picks_m4_on_a_plateaued_curve():
    df = _m4_curve(1)
    choice = choose_law(df, bootstrap=0)
    t = choice.table
    assert choice.law == "m4_d" and t["law"].iloc[0] == "m4_d"
    assert {"power_d", "kaplan_d", "bnsl1_d", "m4_d"} <= set(t["law"])
    gm = np.exp((np.log(t["fold 1"]) + np.log(t["fold 2"])) / 2)
    np.testing.assert_allclose(t["log_rmse"], gm)
    assert (np.diff(t["log_rmse"]) >= 0).all() and len(choice.folds) == 2
    # a plain power law cannot bend through the plateau: it is far behind
    assert t.set_index("law").loc["power_d", "log_rmse"] > 5 * t["log_rmse"].iloc[0]


def test_auto_cuts_its_folds_from_the_rows_the_fit_keeps():
    df = _m4_curve(2)
    choice = choose_law(df, ["power_d", "m4_d"], bootstrap=0, min_fraction=0.1)
    kept = df[df["D"] >= 0.1 * df["D"].max()]
    lx = np.log(kept["D"])
    cut = np.exp(lx.max() - 0.1 * (lx.max() - lx.min()))
    assert f"D > {cut:.3g}" in choice.folds[0] and "dropped" in choice.reason


def test_a_law_that_fails_on_a_fold_ranks_last():
    # 8 log-spaced points: the 20% fold leaves 6, too few for bnsl1_d's 6 parameters; kaplan_d fits both folds
    df = _m4_curve(3, n=8)
    choice = choose_law(df, ["bnsl1_d", "kaplan_d"], bootstrap=0)
    t = choice.table.set_index("law")
    assert choice.law == "kaplan_d" and t.index[-1] == "bnsl1_d"
    assert np.isnan(t.loc["bnsl1_d", "fold 2"]) and np.isnan(t.loc["bnsl1_d", "log_rmse"])
    assert "usable points" in t.loc["bnsl1_d", "error"]


def test_a_more_complex_law_must_win_on_every_fold(monkeypatch):
    """The default rule climbs the ladder of laws by parameter count only on a win on every fold;
    rule="lowest" takes the lowest geometric mean (here a law that won one fold by a lot)."""
    import analysis.backtest as bt_mod
    from types import SimpleNamespace
    df = _m4_curve(0, n=30)
    (m1, _), (m2, _) = bt_mod.validation_folds(df)
    fold_of = {int(m1.sum()): 0, int(m2.sum()): 1}
    errors = {"kaplan_d": (0.10, 0.10), "power_d": (0.05, 0.06), "m4_d": (0.02, 0.07), "bnsl1_d": (0.04, 0.05)}
    monkeypatch.setattr(bt_mod, "backtest", lambda data, law, mask, **kw: SimpleNamespace(
        log_rmse=errors[law][fold_of[int(np.sum(mask))]], are=0.01))
    simple = bt_mod.choose_law(df, list(errors))
    lowest = bt_mod.choose_law(df, list(errors), rule="lowest")
    assert simple.law == "bnsl1_d" and "over kaplan_d, power_d" in simple.reason
    assert lowest.law == "m4_d" and lowest.table["law"].iloc[0] == "m4_d"
    with pytest.raises(ValueError, match="unknown rule"):
        bt_mod.choose_law(df, list(errors), rule="best")


def test_long_data_are_thinned_evenly_per_run_for_the_choice():
    from analysis.backtest import thin_runs
    df = pd.DataFrame({"run": ["a"] * 1000 + ["b"] * 10 + ["c"], "D": np.r_[np.arange(1, 1001), np.arange(1, 11), 5.0]})
    keep = thin_runs(df, 101)
    kept = df.loc[keep]
    assert kept.groupby("run").size().to_dict() == {"a": 100, "b": 1, "c": 1}   # ceil(101/1011 * n)
    a = kept[kept["run"] == "a"]["D"]
    assert a.min() == 1 and a.max() == 1000                     # both ends of every run survive
    assert thin_runs(df, None).equals(df.index) and thin_runs(df, 5000).equals(df.index)
    choice = choose_law(_m4_curve(0, n=400), ["power_d", "m4_d"], bootstrap=0, max_points=100)
    assert "chose on 100 of the 400 points" in choice.reason


def test_lr_anneal_backtest_uses_the_areas_of_the_whole_schedule():
    df = sample("lr_anneal", np.random.default_rng(0))
    bt = backtest(df, "lr_anneal")
    assert bt.log_rmse < 0.02 and len(bt.heldout) == 3    # the tail of each of the three schedules
    choice = choose_law(df, ["power_step", "lr_anneal"], bootstrap=0)
    assert choice.law == "lr_anneal"
