"""Issue 15: the data-constrained law against Muennighoff et al. (2023) on the datablations contour in the store.

The paper fits in two stages (``utils/parametric_fit.ipynb`` of huggingface/datablations): Chinchilla with
alpha = beta on Hoffmann et al.'s C4 IsoFLOP points first (E = 1.869, A = 520.8, B = 1487.7, alpha = beta =
0.3527; those points are not in the store), then R_D* and R_N* with those frozen, on 182 runs: the 229
contour runs minus 48 where excess epochs or parameters made the loss worse (listed below from the notebook)
plus one run the contour file lacks (8b7178b13b). Objective: Huber(delta = 1e-3) on log residuals, summed;
U_N = min(N, N_opt(U)) from the stage-1 law (0.051 U). Published: R_D* = 15.387756, R_N* = 5.309743 at
objective 0.015825936570763588.

Measured here: the law's objective at the published point on those 182 runs is the paper's to 1e-7 (same
data, definitions and loss); from the paper's starting grid our polish lands on the published point
(15.37, 5.315); but it is a *local* minimum: the same objective is 0.12% lower at R_D* = 47.0, R_N* = 2.33,
where the fit path's global search goes (46.2, 2.35 on the 181 runs of the store), with 95% intervals
6.8-10,000 (R_D*) and 0.34-15 (R_N*) that contain the published values. R_D* is not identified by these runs.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis.fit import _polish, fit_law
from analysis.fixed_params import frozen_law
from analysis.laws import get_law
from analysis.laws.data_constrained import PUBLISHED_DECAY, PUBLISHED_SINGLE_EPOCH
from analysis.loss import loss_value
from datasets.store import Store

ROOT = Path(__file__).resolve().parents[1]
FAMILY = "colpret/datablations-contour"
# Runs commented out of the fit in the paper's notebook (cell "Custom data loading with outliers removed"):
# excess epochs or parameters hurt the loss, which the law cannot describe. 421m300b1b5 is simply absent there.
PAPER_OUTLIERS = """2b84b4b 2b88b4b 2b812b4b 2b816b4b 2b824b4b 2b855b1b25 4b212b12b 4b224b12b 4b284b1b9 4b284b6b
2b8100m100m 14m7b5100m 14m300b100m 1b12b7100m 1b13b9100m 1b15b9100m 1b17b5100m 619m3b9100m 619m5b9100m
619m7b5100m 2b84b8100m 1b58b8100m 1b112b100m 619m22b100m 221m91b400m 221m174b400m 221m600b400m 8b712b12b
8b712b1b5 8b712b400m 8b712b100m 3b926b1b5 2b836b1b5 2b836b400m 2b836b100m 2b246b400m 2b246b100m 1b566b1b5
1b566b100m 1b191b400m 1b191b1b5 1b1250b1b5 1b5174b1b5 2b291b1b5 2b2174b1b5 8b720b1b5 2b877b1b5
421m300b1b5""".split()
EXCLUDED = [f"{FAMILY}/GPT2-{name}" for name in PAPER_OUTLIERS]
# The paper's 182nd run, not in the contour file: 8.67B parameters, 178B tokens, 13B unique, loss 2.451606.
MISSING_RUN = {"N": 8.67e9, "D": 178e9, "U": 13e9, "y": 2.451606}
PAPER_OBJECTIVE = 0.015825936570763588
PAPER_STARTS = [(r, n) for r in np.linspace(0, 20, 4)[1:] for n in np.linspace(0, 20, 4)[1:]]   # 0 is undefined


@pytest.fixture(scope="module")
def frame(store_path):
    store = Store(store_path)
    return store.fit_frame(FAMILY, store.default_metric(FAMILY))


@pytest.fixture(scope="module")
def paper_rows(frame):
    """The paper's 182 runs: the store's 181 after the paper's exclusions, plus the one the file lacks."""
    kept = frame[~frame["run"].astype(str).isin(EXCLUDED)]
    X = {v: kept[v].to_numpy(float) for v in ("N", "D", "U")}
    return X, kept["y"].to_numpy(float)


def _with_missing(X, y):
    return {v: np.r_[X[v], MISSING_RUN[v]] for v in X}, np.r_[y, MISSING_RUN["y"]]


def _objective(law, theta, X, y):
    return float(np.sum(loss_value(law.logpred(np.atleast_2d(theta), X)[0] - np.log(y), "huber", 1e-3)))


def test_the_store_holds_the_papers_runs(frame, paper_rows):
    assert frame["run"].nunique() == 229
    assert set(EXCLUDED) <= set(frame["run"].astype(str))
    X, y = paper_rows
    assert len(y) == 181
    one = frame[frame["run"] == f"{FAMILY}/GPT2-146m14b400m"].iloc[0]     # U from the run name, not tokens_per_epoch
    assert (one["N"], one["D"], one["U"]) == pytest.approx((1.465e8, 14e9, 0.4e9))


def test_objective_at_the_published_point_is_the_papers(paper_rows):
    """Same runs, same U_N, R_N, R_D, D', same loss: the paper's printed minimum to 1e-5 (measured 8e-8)."""
    law = get_law("data_constrained")
    theta = law.to_internal(np.array([{**PUBLISHED_SINGLE_EPOCH, **PUBLISHED_DECAY}[n] for n in law.param_names]))
    X, y = _with_missing(*paper_rows)
    assert _objective(law, theta, X, y) == pytest.approx(PAPER_OBJECTIVE, rel=1e-5)


@pytest.mark.parametrize("with_missing", [True, False], ids=["182 runs", "181 runs in the store"])
def test_the_papers_starting_grid_reaches_the_published_point(paper_rows, with_missing):
    """Our L-BFGS-B polish from the paper's first grid start (R_D*, R_N*) = (6.67, 6.67), stage 1 frozen:
    (15.372, 5.315) on the 182 runs, (15.355, 5.324) on the store's 181. Tolerance 0.5%: the paper's own
    two best starts ended 0.1% apart (15.373 and 15.388) on this flat objective; one run fewer moves it 0.2%."""
    X, y = _with_missing(*paper_rows) if with_missing else paper_rows
    law = frozen_law(get_law("data_constrained"), PUBLISHED_SINGLE_EPOCH)
    res = _polish(law, np.log(PAPER_STARTS[0]), X, np.log(y), np.ones_like(y), "huber", 1e-3)
    R_D, R_N = np.exp(res.x)
    assert R_D == pytest.approx(PUBLISHED_DECAY["R_D*"], rel=0.005)
    assert R_N == pytest.approx(PUBLISHED_DECAY["R_N*"], rel=0.005)


def test_the_published_point_is_a_local_minimum(paper_rows):
    """From the rest of the paper's grid our polish also finds R_D* ~ 47, R_N* ~ 2.3, 0.12% lower on the
    paper's own 182 runs: the published R_D* is one of two basins of an almost flat objective."""
    X, y = _with_missing(*paper_rows)
    law = frozen_law(get_law("data_constrained"), PUBLISHED_SINGLE_EPOCH)
    ends = [_polish(law, np.log(s), X, np.log(y), np.ones_like(y), "huber", 1e-3) for s in PAPER_STARTS]
    best = min(ends, key=lambda r: r.fun)
    R_D, R_N = np.exp(best.x)
    assert R_D == pytest.approx(47.0, rel=0.03) and R_N == pytest.approx(2.33, rel=0.03)
    lower = best.fun * 1e-3                  # _polish scales the Huber sum by 1/delta
    assert 0 < (PAPER_OBJECTIVE - lower) / PAPER_OBJECTIVE < 0.002


@pytest.fixture(scope="module")
def two_stage(frame):
    return fit_law(frame, "data_constrained", fixed="published", exclude_runs=EXCLUDED, bootstrap=200, seed=0)


def test_two_stage_fit_on_the_store(two_stage, paper_rows):
    """The fit path (`fixed="published"`): global optimum R_D* = 46.2, R_N* = 2.35 (2%), intervals that hold
    the published values and say R_D* is not pinned down (upper bound at the 1e4 limit)."""
    f = two_stage
    assert f.n_runs == 181
    for name, value in PUBLISHED_SINGLE_EPOCH.items():
        assert f.params[name] == pytest.approx(value, rel=1e-12)
        assert tuple(f.ci[name]) == pytest.approx((value, value), rel=1e-12)
    assert f.params["R_D*"] == pytest.approx(46.2, rel=0.02)
    assert f.params["R_N*"] == pytest.approx(2.35, rel=0.02)
    lo, hi = f.ci["R_D*"]
    assert lo < PUBLISHED_DECAY["R_D*"] < hi and hi > 1000
    lo, hi = f.ci["R_N*"]
    assert lo < PUBLISHED_DECAY["R_N*"] < hi
    law = get_law("data_constrained")
    X, y = paper_rows
    at_paper = _objective(law, law.to_internal(np.array([{**PUBLISHED_SINGLE_EPOCH, **PUBLISHED_DECAY}[n]
                                                         for n in law.param_names])), X, y)
    assert f.objective_value <= at_paper and (at_paper - f.objective_value) / at_paper < 1e-3
    assert f.settings["fixed"] == pytest.approx(PUBLISHED_SINGLE_EPOCH) and f.settings["stage1"] == "published"
    assert any("two-stage fit" in n for n in f.notes)


def test_two_stage_fit_from_the_cli(store_path, two_stage):
    args = [sys.executable, "-m", "analysis", "fit", "--store", str(store_path), "--family", FAMILY,
            "--law", "data_constrained", "--fix", "published", "--bootstrap", "0", "--json"]
    for run in EXCLUDED:
        args += ["--exclude-run", run]
    p = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["params"]["R_D*"] == pytest.approx(two_stage.params["R_D*"], rel=1e-6)
    assert out["params"]["alpha"] == pytest.approx(PUBLISHED_SINGLE_EPOCH["alpha"], rel=1e-12)
    assert out["settings"]["stage1"] == "published"


def test_joint_fit_of_all_runs_does_not_pin_r_d(frame):
    """The default one-stage fit (7 free parameters, all 229 runs): measured R_D* = 40 (95% CI 19 to the 1e4
    limit), R_N* = 38 (0.28-249): nothing contradicts 15.4 / 5.3, nothing pins them either."""
    f = fit_law(frame, "data_constrained", bootstrap=100, seed=0)
    lo, hi = f.ci["R_D*"]
    assert lo < 30 and hi > 1000
    lo, hi = f.ci["R_N*"]
    assert lo < PUBLISHED_DECAY["R_N*"] < hi
