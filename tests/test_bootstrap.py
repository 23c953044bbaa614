"""Run-level bootstrap: resampling, the batched Levenberg-Marquardt solver (analysis/bootstrap.py),
time budget, convergence reporting, and coverage of the true parameters."""
import functools
import time

import numpy as np
import pandas as pd
import pytest

import analysis.bootstrap as bootstrap_module
import analysis.fit as fit_module
from tests._synthetic import sample
from analysis.bootstrap import refit_resamples
from analysis.fit import fit_law, prepare, rho, run_weights
from analysis.fit_result import FitResult
from analysis.laws import LAWS, get_law
from analysis.resample import drawn_points, run_counts, run_index

TRUE = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}


def draw(rng, run_sd=0.01, point_sd=0.003):
    """12 runs x 8 checkpoints; each run has its own offset (checkpoints of a run are correlated)."""
    rows = []
    for i, N in enumerate(np.geomspace(7e7, 7e9, 6)):
        for tpp in (10.0, 40.0):
            off = rng.normal(0, run_sd)
            for D in np.geomspace(tpp * N / 6, tpp * N, 8):
                L = TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / D ** TRUE["beta"]
                rows.append({"run": f"r{i}-{tpp:g}", "N": N, "D": D, "y": L * np.exp(off + rng.normal(0, point_sd))})
    return pd.DataFrame(rows)


def ladder(n_runs, n_ckpt, seed=0):
    """``n_runs`` Chinchilla runs of ``n_ckpt`` checkpoints each (sizes and tokens per parameter log-uniform)."""
    rng = np.random.default_rng(seed)
    N = np.exp(rng.uniform(np.log(5e7), np.log(1e10), n_runs))
    D = (np.exp(rng.uniform(np.log(5), np.log(200), n_runs)) * N)[:, None] * np.geomspace(0.05, 1.0, n_ckpt)
    N = np.repeat(N[:, None], n_ckpt, axis=1)
    L = (TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / D ** TRUE["beta"])
    L *= np.exp(rng.normal(0, 0.01, (n_runs, 1)) + rng.normal(0, 0.003, L.shape))
    return pd.DataFrame({"run": np.repeat([f"r{i}" for i in range(n_runs)], n_ckpt), "N": N.ravel(),
                         "D": D.ravel(), "y": L.ravel()})


def resampled_frame(frame: pd.DataFrame, counts_b: np.ndarray) -> pd.DataFrame:
    """The rows of one resample as data: each drawn run repeated as often as it was drawn (renamed, so
    per-run derived variables are computed once per copy)."""
    groups = dict(tuple(frame.groupby(frame["run"].astype(str), sort=True)))
    runs = sorted(groups)
    return pd.concat([groups[r].assign(run=f"{r}#{k}") for r, c in zip(runs, counts_b) for k in range(c)],
                     ignore_index=True)


def internal(law, params: dict) -> np.ndarray:
    return law.to_internal(np.array([params[k] for k in law.param_names]))


# ----------------------------------------------------------------------------------------------
# Resampling
# ----------------------------------------------------------------------------------------------
def test_weights_resample_whole_runs():
    runs = np.array(["a", "a", "b", "c", "c", "c"])
    W, counts = run_weights(runs, 50, seed=3)
    assert W.shape == (50, 6) and counts.sum(axis=1).tolist() == [3] * 50
    # every point of a run carries the same weight in a resample
    assert np.all(W[:, 0] == W[:, 1]) and np.all(W[:, 3] == W[:, 5])
    W2, _ = run_weights(runs, 50, seed=3)
    assert np.array_equal(W, W2)


def test_each_resample_is_evaluated_on_exactly_the_points_it_drew():
    rng = np.random.default_rng(7)
    runs = rng.permutation(np.repeat([f"run{i}" for i in range(9)], rng.integers(1, 6, 9)))   # uneven, shuffled
    W, counts = run_weights(runs, 40, seed=5)
    counts2, inv = run_counts(runs, 40, seed=5)
    assert np.array_equal(counts, counts2)
    index, w = drawn_points(counts, run_index(inv, counts.shape[1]))
    rebuilt = np.zeros_like(W)
    np.add.at(rebuilt, (np.repeat(np.arange(40), index.shape[1]), index.ravel()), w.ravel())
    assert np.array_equal(rebuilt, W)                       # same weights as the dense run_weights
    for b in range(40):
        kept = index[b][w[b] > 0]
        assert len(kept) == len(set(kept)) == np.count_nonzero(W[b])   # each drawn point once, nothing else
    assert index.shape[1] == np.count_nonzero(W, axis=1).max() < len(runs)


@pytest.mark.parametrize("name", sorted(LAWS))
def test_every_law_evaluates_each_resample_on_its_own_points(name):
    """The solver calls ``law.logpred_jac`` with variables of shape (B, m) paired with the parameter rows
    (and with precomputed ``"log v"`` columns): it must agree with the usual shared-points evaluation."""
    law = get_law(name)
    rng = np.random.default_rng(1)
    n, p = 9, len(law.params)
    X = {v: np.exp(rng.uniform(1, 20, n)) for v in law.variables}
    if "U" in X:
        X["U"] = X["D"] * rng.uniform(0.1, 2, n)
    b = np.array(law.bounds())
    mid = np.where(np.isfinite(b).all(axis=1), np.clip(b.mean(axis=1), -3, 3), 0.0)
    theta = mid[None] + rng.normal(0, 0.05, (4, p))
    lp, J = law.logpred_jac(theta, X)
    assert lp.shape == (4, n) and J.shape == (4, n, p)
    assert np.allclose(lp, law.logpred(theta, X), equal_nan=True) and np.allclose(J, law.jac(theta, X), equal_nan=True)
    idx = rng.integers(0, n, (4, 6))
    for extra in ({}, {f"log {v}": np.log(a)[idx] for v, a in X.items()}):
        lpp, Jp = law.logpred_jac(theta, {**{v: a[idx] for v, a in X.items()}, **extra})
        assert np.allclose(lpp, np.take_along_axis(lp, idx, 1), equal_nan=True)
        assert np.allclose(Jp, np.take_along_axis(J, idx[..., None], 1), equal_nan=True)


# ----------------------------------------------------------------------------------------------
# The solver
# ----------------------------------------------------------------------------------------------
SOLVER_CASES = [("chinchilla", "huber"), ("chinchilla", "mse"), ("chinchilla", "lower"), ("kaplan", "huber"),
                ("data_constrained", "huber"), ("power_d", "lower"), ("lr_anneal", "huber"), ("m4_d", "huber"),
                ("bnsl1", "mse")]


@pytest.mark.parametrize("name,objective", SOLVER_CASES)
def test_refits_reach_the_optimum_of_a_full_refit(name, objective):
    """Warm-started LM on a resample's points finds what a full fit (initialisation grid + L-BFGS-B) of
    that resample's data finds: the same objective (to 1e-9) and the same parameters."""
    law = get_law(name)
    df = sample(name, np.random.default_rng(0))
    point = fit_law(df, law, bootstrap=0, objective=objective)
    prep = prepare(df, law)
    X, ly = prep.X, np.log(prep.y)
    boot = refit_resamples(law, X, ly, prep.run, internal(law, point.params), n_boot=3, seed=1, objective=objective)
    assert boot.n_done == 3 and boot.n_unconverged == 0 and boot.n_failed == 0
    counts, inv = run_counts(prep.run, 3, 1)
    for b in range(3):
        w = counts[b][inv]
        ref = internal(law, fit_law(resampled_frame(prep.frame, counts[b]), law, bootstrap=0,
                                    objective=objective, diagnostics=False).params)
        f_ref = np.sum(w * rho(law.logpred(ref[None], X)[0] - ly, objective, 1e-3))
        f_lm = np.sum(w * rho(law.logpred(boot.theta[b][None], X)[0] - ly, objective, 1e-3))
        assert f_lm == pytest.approx(boot.objective[b], rel=1e-12)
        assert f_lm <= f_ref * (1 + 1e-9), (b, f_lm, f_ref)
        assert np.max(np.abs(boot.theta[b] - ref)) < 1e-4, (b, boot.theta[b], ref)


def test_chunking_is_a_speed_choice_only(monkeypatch):
    """The solver streams its model evaluations in chunks whose Jacobian stays under JACOBIAN_BYTES (larger
    ones page-fault their temporaries in again on every chunk), also when more resamples run than a chunk
    holds pairs; the refits do not depend on the chunks."""
    law = get_law("chinchilla")
    df = ladder(30, 20)
    prep = prepare(df, law)
    theta0 = internal(law, fit_law(df, law, bootstrap=0).params)
    seen = []
    evaluate = law.logpred_jac
    monkeypatch.setattr(type(law), "logpred_jac", lambda self, th, X: seen.append(next(iter(X.values())).size * len(
        law.param_names) * 8) or evaluate(th, X))
    default = refit_resamples(law, prep.X, np.log(prep.y), prep.run, theta0, n_boot=1100, seed=2)
    assert seen and max(seen) <= bootstrap_module.JACOBIAN_BYTES
    seen.clear()
    monkeypatch.setattr(bootstrap_module, "JACOBIAN_BYTES", 8 * 5 * 1024)      # the smallest chunks: 1,024 pairs,
    small = refit_resamples(law, prep.X, np.log(prep.y), prep.run, theta0, n_boot=1100, seed=2)   # < 1,100 rows
    assert seen and max(seen) <= 8 * 5 * 1024
    assert small.n_unconverged == default.n_unconverged == 0
    np.testing.assert_allclose(small.theta, default.theta, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(small.iterations, default.iterations)


def test_unconverged_resamples_are_counted_and_reported(monkeypatch):
    df = draw(np.random.default_rng(3))
    law = get_law("chinchilla")
    prep = prepare(df, law)
    theta0 = internal(law, fit_law(df, law, bootstrap=0).params)
    capped = refit_resamples(law, prep.X, np.log(prep.y), prep.run, theta0, n_boot=40, seed=0, max_iter=1)
    full = refit_resamples(law, prep.X, np.log(prep.y), prep.run, theta0, n_boot=40, seed=0)
    assert full.n_unconverged == 0 and full.n_done == 40
    assert capped.n_done == 40 and 0 < capped.n_unconverged == np.sum(~capped.converged)
    assert np.all(capped.iterations <= 1) and np.all(capped.objective >= full.objective * (1 - 1e-12))
    # fit_law carries the count into the result, its JSON and its warnings
    monkeypatch.setattr(fit_module, "refit_resamples", functools.partial(refit_resamples, max_iter=1))
    res = fit_law(df, law, bootstrap=40, seed=0)
    assert res.n_boot == 40 and res.n_boot_unconverged == capped.n_unconverged
    assert any("did not converge" in w for w in res.warnings)
    d = res.to_dict()
    assert d["n_boot_unconverged"] == res.n_boot_unconverged
    assert FitResult.from_dict(d).n_boot_unconverged == res.n_boot_unconverged


def test_the_budget_stops_the_solver_inside_its_loop():
    """A 1 s deadline on work that needs several seconds: stops within one iteration of it, and keeps a
    prefix of the resamples (the same ones an unhurried run computes first)."""
    df = ladder(200, 100)
    law = get_law("chinchilla")
    prep = prepare(df, law)
    X, ly = prep.X, np.log(prep.y)
    theta0 = internal(law, fit_law(df, law, bootstrap=0).params)
    t0 = time.perf_counter()
    res = refit_resamples(law, X, ly, prep.run, theta0, n_boot=5000, seed=4, deadline=t0 + 1.0)
    elapsed = time.perf_counter() - t0
    assert res.stopped_by_budget and 0 < res.n_done < 5000
    assert elapsed < 1.0 * 1.1 + 0.2, elapsed
    again = refit_resamples(law, X, ly, prep.run, theta0, n_boot=res.n_done, seed=4)
    assert np.allclose(res.theta, again.theta, rtol=0, atol=1e-12)


def test_time_budget_degrades_gracefully():
    df = draw(np.random.default_rng(0))
    t = time.perf_counter()
    fit_law(df, "chinchilla", bootstrap=0)
    # the point fit, its diagnostics refit (budgeted too) and half a second of bootstrap
    budget = 2 * (time.perf_counter() - t) + 0.5
    res = fit_law(df, "chinchilla", bootstrap=100000, time_budget=budget)
    assert 0 < res.n_boot < 100000
    assert any("time budget" in w for w in res.warnings)
    assert res.seconds < budget * 1.1 + 0.2, (res.seconds, budget)


def test_single_run_gets_no_interval_and_says_why():
    df = draw(np.random.default_rng(0))
    one = df[df["run"] == df["run"].iloc[0]].assign(N=lambda d: d["N"])
    res = fit_law(one, "power_d", bootstrap=100)
    assert res.ci == {} and any("at least 2 runs" in w for w in res.warnings)


def test_large_data_fit_in_linear_memory_matches_the_direct_fit():
    """Past INIT_ROWS rows the point fit initialises on a seeded subsample and refines on every row:
    it reaches the optimum of the all-rows objective (the same as a fit without subsampling)."""
    df = ladder(60, 250)                              # 15,000 rows
    law = get_law("chinchilla")
    big = fit_law(df, law, bootstrap=0)
    assert "polished on 10,000 of 15,000 rows" in big.message and "converged" in big.message
    prep = prepare(df, law)
    ly = np.log(prep.y)
    direct = fit_module._polish(law, internal(law, big.params) + 0.01, prep.X, ly, np.ones_like(ly), "huber", 1e-3)
    f_big = np.sum(rho(law.logpred(internal(law, big.params)[None], prep.X)[0] - ly, "huber", 1e-3))
    assert f_big <= direct.fun * (1 + 1e-9)
    assert np.allclose(internal(law, big.params), direct.x, atol=1e-4)


def test_intervals_cover_true_parameters_near_nominal_rate():
    """Over 40 seeded synthetic draws, 95% run-level intervals cover the truth ~95% of the time.

    With 40 draws the binomial standard error of a 95% rate is 3.4 points; percentile intervals
    from 12 runs under-cover a little, so we require >= 85% (a point-level bootstrap on the same
    correlated data covers far less, checked below).
    """
    rng = np.random.default_rng(2024)
    hits = {k: 0 for k in ("E", "alpha", "beta")}
    point_hits = 0
    n = 40
    for _ in range(n):
        df = draw(rng)
        res = fit_law(df, "chinchilla", bootstrap=150, seed=int(rng.integers(1 << 30)))
        for k in hits:
            lo, hi = res.ci[k]
            hits[k] += lo <= TRUE[k] <= hi
        pt = fit_law(df.assign(run=np.arange(len(df)).astype(str)), "chinchilla", bootstrap=100, seed=1)
        point_hits += pt.ci["E"][0] <= TRUE["E"] <= pt.ci["E"][1]
    print({k: h / n for k, h in hits.items()}, point_hits / n)
    for k, h in hits.items():
        assert h / n >= 0.85, (k, h / n)
    assert point_hits / n < min(hits.values()) / n, "bootstrapping points should under-cover correlated runs"


# ----------------------------------------------------------------------------------------------
# Epoch's points: every resample converges, intervals equal a global-refit reference
# ----------------------------------------------------------------------------------------------
def test_epoch_intervals_equal_a_200_refit_global_reference(store_path):
    """On Epoch's 240 Chinchilla points (the five flagged outliers left out), the batched solver's 1,000
    resamples all converge, and the 95% intervals of its first 200 equal those of 200 full fits
    (initialisation grid + L-BFGS-B, no warm start) of the same 200 resamples within 1e-3 relative."""
    from datasets.store import Store

    store = Store(store_path)
    family = "chinchilla-epoch/chinchilla"
    frame, flagged = store.fit_frame(family, "loss"), store.flagged_runs(family)
    assert len(flagged) == 5
    law = get_law("chinchilla")
    fit = fit_law(frame, law, bootstrap=1000, seed=0, exclude_runs=flagged)
    assert fit.n_points == 240 and fit.n_boot == 1000 and fit.n_boot_unconverged == 0
    prep = prepare(frame, law, exclude_runs=flagged)
    counts, _ = run_counts(prep.run, 200, 0)
    assert np.array_equal(counts, run_counts(prep.run, 1000, 0)[0][:200])   # the first 200 of the 1,000
    ref = np.array([[fit_law(resampled_frame(prep.frame, counts[b]), law, bootstrap=0, diagnostics=False).params[k]
                     for k in law.param_names] for b in range(200)])
    ours = fit.boot[:200]
    assert np.allclose(ours, ref, rtol=1e-4)                # every resample at the global optimum
    q_ours = np.quantile(ours, [0.025, 0.975], axis=0)
    q_ref = np.quantile(ref, [0.025, 0.975], axis=0)
    assert np.max(np.abs(q_ours / q_ref - 1)) < 1e-3, (q_ours, q_ref)
