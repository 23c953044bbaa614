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
    assert "lowest held-out" in choice.reason and len(choice.table) >= 3


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
