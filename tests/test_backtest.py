"""Back-tests: ARE over the last 30% of held-out runs, log-RMSE, predictions with bands (the auto law:
tests/test_auto_law.py)."""
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


def test_lr_anneal_backtest_uses_the_areas_of_the_whole_schedule():
    df = sample("lr_anneal", np.random.default_rng(0))
    bt = backtest(df, "lr_anneal")
    assert bt.log_rmse < 0.02 and len(bt.heldout) == 3    # the tail of each of the three schedules
    choice = choose_law(df, ["power_step", "lr_anneal"], bootstrap=0)
    assert choice.law == "lr_anneal"


def test_backtest_json_has_every_heldout_point_with_its_prediction_and_band():
    df = sample("chinchilla", np.random.default_rng(0))
    bt = backtest(df, "chinchilla", bootstrap=100)
    d = bt.to_dict()
    mask, _ = heldout_mask(df)
    assert len(d["points"]) == mask.sum()
    pts = pd.DataFrame(d["points"])
    assert {"run", "N", "D", "y", "y_pred", "y_lo", "y_hi"} <= set(pts.columns)
    assert (pts["y_lo"] <= pts["y_pred"]).all() and (pts["y_pred"] <= pts["y_hi"]).all()
    # the band covers the truth of a fit that extrapolates one size (0.5% noise): most held-out points inside
    inside = ((pts["y_lo"] <= pts["y"]) & (pts["y"] <= pts["y_hi"])).mean()
    assert inside > 0.5
    no_band = backtest(df, "chinchilla").to_dict()["points"]
    assert "y_lo" not in no_band[0] and "y_pred" in no_band[0]


def test_backtest_cli_json_carries_the_points(tmp_path):
    import json
    import subprocess
    import sys
    df = sample("chinchilla", np.random.default_rng(0)).rename(columns={"N": "params", "D": "tokens", "y": "loss"})
    path = tmp_path / "runs.csv"
    df.drop(columns=["C", "step"]).to_csv(path, index=False)
    p = subprocess.run([sys.executable, "-m", "analysis", "backtest", "--csv", str(path), "--law", "chinchilla",
                        "--bootstrap", "50", "--json"], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["points"] and all(r["y_lo"] <= r["y_pred"] <= r["y_hi"] for r in out["points"])
