"""The ``auto`` law (analysis.auto_law): folds along every scale the data extend over and along the target,
the one-standard-error tie rule, every candidate's held-out error in the result; datablations' check."""
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from analysis import auto_law
from analysis.auto_law import choose_law, default_candidates, thin_runs, validation_folds
from analysis.fit import fit_law
from analysis.laws import get_law
from tests._synthetic import sample


def _m4_curve(seed, n=40):
    """A learning curve with a plateau (M4, alpha = 0.5) and 0.5% noise."""
    x = np.geomspace(1e6, 1e10, n)
    p = {"E": 0.2, "B": 0.75, "beta": 3e3, "c": 0.5, "alpha": 0.5}
    y = get_law("m4_d").predict(p, {"D": x}) * np.exp(np.random.default_rng(seed).normal(0, 0.005, n))
    return pd.DataFrame({"run": "curve", "D": x, "y": y})


def test_auto_prefers_the_generating_law():
    df = sample("chinchilla", np.random.default_rng(3))
    choice = choose_law(df)
    assert choice.law == "chinchilla"
    assert "held-out log-RMSE" in choice.reason and len(choice.table) >= 3
    # every candidate's held-out error is reported, in the table and in the reason
    for r in choice.table.itertuples():
        assert np.isfinite(r.log_rmse) and f"{r.law} {r.log_rmse:.4f}" in choice.reason


def test_validation_folds_of_a_curve_are_the_last_10_and_20_percent_of_its_log_range():
    df = _m4_curve(0)
    lx = np.log(df["D"].to_numpy())
    folds = validation_folds(df)
    assert len(folds) == 2
    for (mask, rule), tail in zip(folds, (0.1, 0.2)):
        np.testing.assert_array_equal(mask, lx > lx.max() - tail * (lx.max() - lx.min()))
        assert f"last {tail:.0%}" in rule


def test_folds_of_a_size_ladder_hold_out_the_largest_sizes_tokens_and_compute():
    df = sample("chinchilla", np.random.default_rng(0))
    sizes = np.sort(df["N"].unique())
    folds = validation_folds(df)
    rules = [r for _, r in folds]
    (m1, _), (m2, _) = folds[:2]
    assert set(df.loc[m1, "N"]) == {sizes[-1]} and set(df.loc[m2, "N"]) == set(sizes[-2:])
    for axis in ("D", "C"):
        mask, rule = next((m, r) for m, r in folds if f"range of {'tokens D' if axis == 'D' else 'compute C'}" in r)
        lx = np.log(df[axis])
        np.testing.assert_array_equal(mask, lx > lx.max() - 0.2 * (lx.max() - lx.min()))
        assert 0 < mask.sum() <= len(df) / 2
    assert not any("epochs" in r for r in rules)            # no unique tokens: no epochs fold
    three = df[df["N"].isin(sizes[:3])].reset_index(drop=True)
    assert sum("model size" in r for _, r in validation_folds(three)) == 1   # 2-largest would leave one size


def test_an_epochs_fold_when_unique_tokens_are_known_and_a_fold_toward_the_target():
    df = sample("data_constrained", np.random.default_rng(0))
    folds = validation_folds(df, target={"N": 1e8, "D": 1e13})
    mask, rule = next((m, r) for m, r in folds if "epochs" in r)
    epochs = df["D"] / df["U"]
    assert epochs[mask].min() > epochs[~mask].max() * 0.999
    tmask, trule = next((m, r) for m, r in folds if "target" in r)
    # the fold holds out the top 20% of the projection of (ln N, ln D) on the target's direction from the median
    X = np.log(df[["N", "D"]].to_numpy())
    u = np.log([1e8, 1e13]) - np.median(X, axis=0)
    s = (X - np.median(X, axis=0)) @ (u / np.linalg.norm(u))
    np.testing.assert_array_equal(tmask, s > s.max() - 0.2 * (s.max() - s.min()))
    # a target far along D: the fold holds out the longest-trained points
    assert df.loc[tmask, "D"].median() > 10 * df["D"].median() and "N = 1e+08, D = 1e+13" in trule
    keys = [m.tobytes() for m, _ in folds]
    assert len(keys) == len(set(keys))                          # identical folds count once


def test_auto_scores_the_geometric_mean_over_folds_and_picks_m4_on_a_plateaued_curve():
    df = _m4_curve(1)
    choice = choose_law(df, bootstrap=0)
    t = choice.table
    assert choice.law == "m4_d" and t["law"].iloc[0] == "m4_d"
    assert set(t["law"]) == {"power_d", "bnsl1_d", "m4_d"}          # kaplan_d (no floor) is left out, and says so
    assert "left out kaplan_d (no irreducible term" in choice.reason
    gm = np.exp((np.log(t["fold 1"]) + np.log(t["fold 2"])) / 2)
    np.testing.assert_allclose(t["log_rmse"], gm)
    assert (np.diff(t["log_rmse"]) >= 0).all() and len(choice.folds) == 2
    assert t.set_index("law").loc["power_d", "log_rmse"] > 5 * t["log_rmse"].iloc[0]


def test_default_candidates_leave_out_pure_power_laws_when_a_law_with_a_floor_applies():
    """Pure power laws (Law.floor False: kaplan, kaplan_n/d/c) predict a loss falling to zero; auto offers
    them only when no law with an irreducible term applies, and always when named."""
    assert {n for n in ("kaplan", "kaplan_n", "kaplan_d", "kaplan_c") if not get_law(n).floor} == {
        "kaplan", "kaplan_n", "kaplan_d", "kaplan_c"}
    assert all(get_law(n).floor for n in ("chinchilla", "power_d", "bnsl1_d", "m4_d", "data_constrained"))
    ladder = sample("chinchilla", np.random.default_rng(3))
    laws = default_candidates(ladder)
    assert "chinchilla" in laws and "kaplan" not in laws and all(get_law(n).floor for n in laws)
    assert default_candidates(ladder, allocatable_only=True) == [n for n in laws if get_law(n).allocatable]
    curve = _m4_curve(4)
    assert "kaplan_d" not in default_candidates(curve)
    named = choose_law(curve, ["kaplan_d", "power_d"], bootstrap=0)
    assert set(named.table["law"]) == {"kaplan_d", "power_d"} and "left out" not in named.reason


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


def test_the_one_standard_error_rule_and_the_other_rules(monkeypatch):
    """Best geometric mean: m4_d (5 parameters). power_d (3) is within one standard error of it (better on
    one fold, worse on the other: mean excess 0.38, SE 0.54), kaplan_d (2) is not (worse on both): the
    one-SE rule picks power_d; "lowest" picks m4_d; "every_fold" climbs to bnsl1_d."""
    df = _m4_curve(0, n=30)
    (m1, _), (m2, _) = validation_folds(df)
    fold_of = {int(m1.sum()): 0, int(m2.sum()): 1}
    errors = {"kaplan_d": (0.10, 0.10), "power_d": (0.05, 0.06), "m4_d": (0.02, 0.07), "bnsl1_d": (0.04, 0.05)}

    def fake(data, law, mask, **kw):
        e = errors[law][fold_of[int(np.sum(mask))]]
        return SimpleNamespace(log_rmse=e, are=0.01, heldout=[{"run": "curve", "log_rmse": e}])

    monkeypatch.setattr(auto_law, "backtest", fake)
    one_se = choose_law(df, list(errors))
    t = one_se.table.set_index("law")
    assert one_se.law == "power_d" and "within one standard error of the lowest (m4_d" in one_se.reason
    d = np.log([0.05 / 0.02, 0.06 / 0.07])
    assert t.loc["power_d", "se"] == pytest.approx(np.std(d, ddof=1) / np.sqrt(2))
    assert t.loc["power_d", "within_1se"] and not t.loc["kaplan_d", "within_1se"]
    assert choose_law(df, list(errors), rule="lowest").law == "m4_d"
    assert choose_law(df, list(errors), rule="every_fold").law == "bnsl1_d"
    with pytest.raises(ValueError, match="unknown rule"):
        choose_law(df, list(errors), rule="best")


def test_long_data_are_thinned_evenly_per_run_for_the_choice():
    df = pd.DataFrame({"run": ["a"] * 1000 + ["b"] * 10 + ["c"], "D": np.r_[np.arange(1, 1001), np.arange(1, 11), 5.0]})
    keep = thin_runs(df, 101)
    kept = df.loc[keep]
    assert kept.groupby("run").size().to_dict() == {"a": 100, "b": 1, "c": 1}   # ceil(101/1011 * n)
    a = kept[kept["run"] == "a"]["D"]
    assert a.min() == 1 and a.max() == 1000                     # both ends of every run survive
    assert thin_runs(df, None).equals(df.index) and thin_runs(df, 5000).equals(df.index)
    choice = choose_law(_m4_curve(0, n=400), ["power_d", "m4_d"], bootstrap=0, max_points=100)
    assert "chose on 100 of the 400 points" in choice.reason


def test_backtest_module_still_exports_the_choice():
    from analysis.backtest import LawChoice, choose_law as from_backtest
    assert from_backtest is choose_law and LawChoice is auto_law.LawChoice


def test_datablations_contour_auto_picks_a_law_in_unique_tokens(store_path):
    """ColPret's datablations contour, held out at tokens >= 6e11 or N >= 4.25e9 (issue 11): auto, choosing on
    the rest, must pick a law that uses unique tokens U, and that law must predict the held-out runs better
    than power_c, which ignores U."""
    from datasets.store import Store
    store = Store(store_path)
    family = next(f for f in store.families()["family"] if "datablations-contour" in f)
    frame = store.fit_frame(family, store.default_metric(family))
    test = ((frame["D"] >= 6e11) | (frame["N"] >= 4.25e9)).to_numpy()
    train, held = frame[~test].reset_index(drop=True), frame[test].reset_index(drop=True)
    assert test.sum() >= 10
    choice = choose_law(train, bootstrap=0)
    assert "U" in get_law(choice.law).variables, choice.reason
    assert any("epochs" in f for f in choice.folds) and any("tokens D" in f for f in choice.folds)

    def heldout_log_rmse(law):
        p = fit_law(train, law, bootstrap=0).predict(held)
        return float(np.sqrt(np.mean(np.log(p / held["y"].to_numpy()) ** 2)))

    assert heldout_log_rmse(choice.law) < heldout_log_rmse("power_c")


def test_cli_auto_reports_every_candidate(tmp_path):
    import json
    import subprocess
    import sys
    df = sample("chinchilla", np.random.default_rng(3)).rename(columns={"N": "params", "D": "tokens", "y": "loss"})
    path = tmp_path / "runs.csv"
    df.drop(columns=["C", "step"]).to_csv(path, index=False)
    p = subprocess.run([sys.executable, "-m", "analysis", "fit", "--csv", str(path), "--law", "auto", "--bootstrap",
                        "0", "--json"], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    auto = json.loads(p.stdout)["auto"]
    assert auto["rule"] == "one_se" and len(auto["table"]) >= 3
    assert all(r["error"] or r["log_rmse"] is not None for r in auto["table"])
    assert len(auto["folds"]) >= 3                 # sizes, tokens, compute
