"""Trend shapes: the ObsScaling TruthfulQA findings, synthetic ground truth, and false-positive rates."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from scipy import stats

from analysis.trend import NON_MONOTONE, SCAN_COLUMNS, SHAPES, mann_kendall, scan_trends, trend_shape

SIZES8 = np.logspace(7, 11, 8)


@pytest.fixture(scope="module")
def truthfulqa(store_path):
    from datasets.store import Store

    return Store(store_path).points(metric="TruthfulQA", final_only=True)


def _family(points, name):
    df = points[points["family"] == f"obsscaling/{name}"]
    assert len(df), f"no TruthfulQA points for {name}"
    return df["params"].to_numpy(float), df["value"].to_numpy(float), df["run_id"].to_numpy(object)


# ---------------------------------------------------------------------------------------- real data
def test_pythia_truthfulqa_is_inverse(truthfulqa):
    x, y, runs = _family(truthfulqa, "Pythia")
    r = trend_shape(x, y, higher_is_better=True, n_boot=0, runs=runs)
    assert r.n_sizes == 8
    assert r.shape == "inverse"                    # 0.475 -> 0.330 from 70M to 12B, monotone
    assert r.p_value < 1e-3 and r.strength == "strong"
    assert r.slope_per_decade < 0 and r.slope_ci[1] < 0
    assert r.pattern == "falls"
    assert r.turning_point is None


def test_opt_truthfulqa_dip_and_rise_with_turning_point_and_weak_evidence(truthfulqa):
    x, y, runs = _family(truthfulqa, "OPT")
    r = trend_shape(x, y, higher_is_better=True, n_boot=300, seed=0, runs=runs)
    # 0.429 at 125M falls to 0.341 at 13B, then 0.352 (30B) and 0.354 (66B): a dip and a small rise
    assert r.shape == "U-shaped"
    assert r.pattern == "falls then rises"
    assert r.strength == "weak" and r.evidence.startswith("weak: 8 sizes")
    assert 6.7e9 < r.turning_point < 30e9
    lo, hi = r.turning_point_ci
    assert lo <= 13e9 <= hi and hi <= 66e9
    s = r.slopes
    assert s["before"] < 0 < s["after"]
    assert s["p_before"] < 1e-3                       # the fall is clear
    assert 0.01 < s["p_after"] < 0.05                 # the rise rests on three sizes: weak
    assert r.p_value == pytest.approx(max(s["p_before"], s["p_after"]))
    assert "turning point near" in r.summary()


def test_scan_lists_non_monotone_truthfulqa_findings(truthfulqa):
    df = scan_trends(truthfulqa, n_boot=100)
    assert list(df.columns) == SCAN_COLUMNS
    assert set(df["shape"]) <= set(NON_MONOTONE)
    found = dict(zip(df["family"], df["shape"]))
    assert found["obsscaling/Pythia"] == "inverse"
    assert found["obsscaling/OPT"] == "U-shaped"
    assert found["obsscaling/Cerebras-GPT"] == "inverse"
    assert "obsscaling/Llama-2" not in found          # three sizes: too few to say anything
    assert df["p_value"].is_monotonic_increasing
    opt = df[df["family"] == "obsscaling/OPT"].iloc[0]
    assert opt["turning_point_lo"] <= opt["turning_point"] <= opt["turning_point_hi"]
    everything = scan_trends(truthfulqa, n_boot=0, include_all=True)
    assert len(everything) > len(df)
    assert set(everything["shape"]) <= set(SHAPES) - {"too few sizes"}


def test_scan_uses_the_final_checkpoint_of_each_run():
    import pandas as pd

    rows = []
    for k, x in enumerate(SIZES8):
        # early checkpoints improve with size, final ones get worse: only the final ones count
        rows.append(dict(family="f", run_id=f"r{k}", model=f"m{k}", params=x, metric="acc", tokens=1.0,
                         step=1.0, value=0.1 * k, higher_is_better=True))
        rows.append(dict(family="f", run_id=f"r{k}", model=f"m{k}", params=x, metric="acc", tokens=2.0,
                         step=2.0, value=0.9 - 0.1 * k, higher_is_better=True))
    df = scan_trends(pd.DataFrame(rows), n_boot=0)
    assert list(df["shape"]) == ["inverse"]


# ---------------------------------------------------------------------------------------- synthetic
def test_synthetic_ground_truth_for_each_verdict():
    rng = np.random.default_rng(0)
    u = np.log10(SIZES8)
    noise = rng.normal(scale=0.01, size=8)
    up = 0.2 + 0.05 * u + noise
    assert trend_shape(SIZES8, up, higher_is_better=True, n_boot=0).shape == "improving"
    assert trend_shape(SIZES8, up, higher_is_better=False, n_boot=0).shape == "inverse"
    # a loss that falls with scale is improving
    assert trend_shape(SIZES8, 5 - 0.3 * u + noise, higher_is_better=False, n_boot=0).shape == "improving"
    bowl = 0.3 + 0.04 * (u - 9) ** 2 + noise
    r = trend_shape(SIZES8, bowl, higher_is_better=True, n_boot=200)
    assert r.shape == "U-shaped" and r.pattern == "falls then rises"
    assert r.turning_point_ci[0] < 1e9 < r.turning_point_ci[1]
    assert 10 ** 8.5 < r.turning_point < 10 ** 9.5
    assert r.turning_point_support > 0.8
    r = trend_shape(SIZES8, bowl, higher_is_better=False, n_boot=0)   # the same curve as a loss
    assert r.shape == "inverted-U" and r.pattern == "falls then rises"
    flat = 0.5 + rng.normal(scale=0.01, size=8)
    r = trend_shape(SIZES8, flat, higher_is_better=True, n_boot=0)
    assert r.shape == "flat" and r.strength == "none" and r.turning_point is None


def test_too_few_sizes_and_four_sizes():
    r = trend_shape(np.repeat([1e8, 1e9, 1e10], 3), np.arange(9.0), higher_is_better=True)
    assert r.shape == "too few sizes" and r.n_sizes == 3 and r.n == 9
    assert r.evidence.startswith("too few sizes: 3 sizes")
    # four sizes in perfect order: p = 2/4! = 0.083, never below 0.05
    r = trend_shape([1e8, 1e9, 1e10, 1e11], [1.0, 2.0, 3.0, 4.0], higher_is_better=True)
    assert r.shape == "flat" and r.mk_p == pytest.approx(1 / 12)
    assert any("0.083" in n for n in r.notes) and any("U shape cannot be tested" in n for n in r.notes)
    # with replicate runs per size the same ordering becomes significant
    x = np.repeat([1e8, 1e9, 1e10, 1e11], 2)
    r = trend_shape(x, np.repeat([1.0, 2.0, 3.0, 4.0], 2) + np.tile([0, 0.01], 4), higher_is_better=True, n_boot=0)
    assert r.shape == "improving" and r.evidence.startswith("weak: 4 sizes")


def test_mann_kendall_exact_p_values():
    rng = np.random.default_rng(3)
    for n in (5, 7, 12):
        u, g = np.arange(n, dtype=float), rng.normal(size=n)
        assert mann_kendall(u, g)[1] == pytest.approx(stats.kendalltau(u, g, method="exact").pvalue)
    # ties in x (two runs per size): brute-force permutation p-value
    u = np.array([1.0, 1, 2, 2, 3, 3])
    g = np.array([0.1, 0.3, 0.2, 0.5, 0.6, 0.4])
    i, j = np.triu_indices(6, 1)

    def S(v):
        return np.sum(np.sign(u[j] - u[i]) * np.sign(v[j] - v[i]))

    null = np.array([S(g[list(p)]) for p in itertools.permutations(range(6))])
    assert mann_kendall(u, g)[1] == pytest.approx(np.mean(np.abs(null) >= abs(S(g))))


def test_false_positive_rate_on_pure_noise():
    rng = np.random.default_rng(2024)
    designs = [(SIZES8, 300), (np.repeat(np.logspace(7, 11, 6), 2), 150)]
    for x, draws in designs:
        shapes = [trend_shape(x, rng.normal(size=len(x)), higher_is_better=True, n_boot=0).shape
                  for _ in range(draws)]
        rate = np.mean([s != "flat" for s in shapes])
        assert rate <= 0.08, f"non-flat verdicts on noise: {rate:.3f}"


def _quadratic_u_test(u, y, alpha=0.05):
    """The invalid test the two-lines test replaces: significant u^2 term with the vertex inside the data."""
    X = np.column_stack([np.ones_like(u), u, u ** 2])
    b, *_ = np.linalg.lstsq(X, y, rcond=None)
    r = y - X @ b
    dof = len(u) - 3
    cov = (r @ r / dof) * np.linalg.inv(X.T @ X)
    p = 2 * stats.t.sf(abs(b[2] / np.sqrt(cov[2, 2])), dof)
    vertex = -b[1] / (2 * b[2])
    return p < alpha and u.min() < vertex < u.max()


def test_two_lines_does_not_call_a_concave_monotone_curve_u_shaped():
    # y = log(u): rising and concave in the working axis; a quadratic "finds" an inverted U most of the time
    rng = np.random.default_rng(7)
    x = np.logspace(7, 11, 12)
    u = np.log10(x)
    quad = two = 0
    draws = 200
    for _ in range(draws):
        y = np.log(u - 6.5) + rng.normal(scale=0.05, size=len(x))
        quad += _quadratic_u_test(u, y)
        two += trend_shape(x, y, higher_is_better=True, n_boot=0).shape in ("U-shaped", "inverted-U")
    assert quad / draws > 0.4
    assert two / draws <= 0.02


# ---------------------------------------------------------------------------------------- contract
def test_to_dict_is_plain_json_with_the_documented_keys():
    x = np.repeat(SIZES8, 2)
    u = np.log10(x)
    y = 0.3 + 0.04 * (u - 9) ** 2 + np.random.default_rng(1).normal(scale=0.01, size=len(x))
    runs = [f"run{k}" for k in range(len(x))]
    r = trend_shape(x, y, higher_is_better=True, n_boot=50, runs=runs)
    d = r.to_dict()
    assert {"shape", "p_value", "turning_point", "turning_point_ci", "slopes", "n", "evidence"} <= set(d)
    json.dumps(d)
    assert d["n"] == 16 and d["n_sizes"] == 8
    assert set(d["slopes"]) >= {"before", "after", "p_before", "p_after"}
    assert isinstance(r.summary(), str) and r.shape in r.summary()
    with pytest.raises(Exception):
        r.shape = "flat"  # frozen


def test_bad_input_names_the_row():
    with pytest.raises(ValueError, match="row 2"):
        trend_shape([1e8, 1e9, -1.0, 1e11], [1, 2, 3, 4], higher_is_better=True)
    with pytest.raises(ValueError, match="same length"):
        trend_shape([1e8, 1e9], [1.0], higher_is_better=True)
    r = trend_shape([1e8, 1e9, 1e10, 1e11, 1e12, np.nan], [1, 2, 3, 4, 5, 6], higher_is_better=True, n_boot=0)
    assert r.n == 5 and any("Left out 1 rows" in n for n in r.notes)
