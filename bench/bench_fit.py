"""Point-fit speed and quality against the field's usual fitters, and bootstrap throughput.

On Epoch's 240 Chinchilla points, in one run on one machine:
* ours: variable projection (32 x 32 exponent grid, NNLS) + L-BFGS-B with the analytic gradient;
* an Epoch-style grid: L-BFGS-B from each of 4,500 starts (alpha, beta in {0, .5, ..., 2},
  e in {-1, -.5, ..., 1}, a, b in {0, 5, ..., 25}) on the same Huber objective, numerical gradients
  as in their notebook; ``--starts`` subsamples it (default: all);
* scipy ``curve_fit`` in linear space from its default start (all ones).
Prints seconds, objective values (Huber, delta = 1e-3, on log residuals) and the ratios.
Our fits are timed with ``diagnostics=False`` (the checks fit_law appends are not part of fitting).
Then times 1,000 run-level bootstrap refits (bench/bench_bootstrap.py compares the solver with the one it
replaced), and the point fit with the bundled OpenBLAS left
multi-threaded (``fit_law`` pins it to one thread: L-BFGS-B's tiny factorisations pay the thread
pool's wake-up on every iteration, badly so on a busy 2-core machine). Both fitters of the
comparison run with the same single-threaded BLAS.

    python bench/bench_fit.py [--starts 4500]
"""
from __future__ import annotations

import argparse
import contextlib
import itertools
import sys
import warnings
from pathlib import Path

import numpy as np
from scipy.optimize import curve_fit, minimize

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import analysis.fit as fit_module  # noqa: E402
from analysis.fit import fit_law, rho, single_thread_blas  # noqa: E402
from analysis.laws import get_law  # noqa: E402
from bench._common import epoch_points, timed  # noqa: E402


def huber_objective(params_public, df):
    law = get_law("chinchilla")
    r = np.log(law.predict(dict(zip(law.param_names, params_public)), df)) - np.log(df["y"].to_numpy())
    return float(np.sum(rho(r, "huber", 1e-3)))


def epoch_grid(df, n_starts):
    lN, lD, ly = np.log(df["N"].to_numpy()), np.log(df["D"].to_numpy()), np.log(df["y"].to_numpy())

    def f(x):
        a, b, e, al, be = x
        pred = np.logaddexp(np.logaddexp(a - al * lN, b - be * lD), e)
        return float(np.sum(rho(pred - ly, "huber", 1e-3)))

    grid = list(itertools.product(np.arange(0, 30, 5), np.arange(0, 30, 5), np.arange(-1, 1.5, 0.5),
                                  np.arange(0, 2.5, 0.5), np.arange(0, 2.5, 0.5)))
    rng = np.random.default_rng(0)
    if n_starts < len(grid):
        grid = [grid[i] for i in rng.choice(len(grid), n_starts, replace=False)]
    best = None
    for x0 in grid:
        res = minimize(f, np.array(x0, float), method="L-BFGS-B")
        if best is None or res.fun < best.fun:
            best = res
    a, b, e, al, be = best.x
    return np.array([np.exp(e), np.exp(a), np.exp(b), al, be]), len(grid)


def naive_curve_fit(df):
    def model(X, E, A, B, alpha, beta):
        N, D = X
        return E + A / N ** alpha + B / D ** beta
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            p, _ = curve_fit(model, (df["N"].to_numpy(), df["D"].to_numpy()), df["y"].to_numpy(), maxfev=20000)
        except RuntimeError:
            return None
    return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--starts", type=int, default=4500)
    ap.add_argument("--boot", type=int, default=1000)
    args = ap.parse_args()
    df = epoch_points()
    ours, t_ours = timed(lambda: fit_law(df, "chinchilla", bootstrap=0, diagnostics=False), repeat=5)
    ours_p = np.array([ours.params[k] for k in ("E", "A", "B", "alpha", "beta")])
    with single_thread_blas():
        (grid_p, n), t_grid = timed(lambda: epoch_grid(df, args.starts))
    cf_p, t_cf = timed(lambda: naive_curve_fit(df), repeat=3)
    rows = [("ours: VarPro + L-BFGS-B", t_ours, huber_objective(ours_p, df), ours_p),
            (f"Epoch-style grid, {n} L-BFGS-B starts", t_grid, huber_objective(grid_p, df), grid_p)]
    if cf_p is not None:
        rows.append(("scipy curve_fit, default start", t_cf, huber_objective(cf_p, df), cf_p))
    print(f"{'fitter':42s} {'seconds':>9s} {'objective':>12s}   E, A, B, alpha, beta")
    for name, t, obj, p in rows:
        print(f"{name:42s} {t:9.4f} {obj:12.7f}   " + ", ".join(f"{v:.4g}" for v in p))
    print(f"speed-up over the grid: {t_grid / t_ours:.0f}x (target >= 100x); objective ours - grid = "
          f"{rows[0][2] - rows[1][2]:+.2e} (ours / grid = {rows[0][2] / rows[1][2]:.9f}; target <= 1)")
    if cf_p is not None:
        print(f"curve_fit objective / ours: {rows[2][2] / rows[0][2]:.2f}x (alpha {cf_p[3]:.3g} vs {ours_p[3]:.3g})")
    res, t_boot = timed(lambda: fit_law(df, "chinchilla", bootstrap=args.boot, diagnostics=False), repeat=3)
    print(f"point fit + {res.n_boot} run-level bootstrap refits: {t_boot:.2f} s "
          f"({(t_boot - t_ours) / res.n_boot * 1e3:.2f} ms per refit, {res.n_boot_unconverged} unconverged; "
          "the solver against its predecessor: bench/bench_bootstrap.py)")
    pinned = fit_module.single_thread_blas
    fit_module.single_thread_blas = contextlib.nullcontext   # the library's own thread count
    try:
        _, t_threads = timed(lambda: fit_law(df, "chinchilla", bootstrap=0, diagnostics=False), repeat=5)
    finally:
        fit_module.single_thread_blas = pinned
    print(f"point fit with OpenBLAS left multi-threaded: {t_threads:.4f} s, {t_threads / t_ours:.1f}x the pinned "
          "single-threaded fit (varies with the machine's load)")


if __name__ == "__main__":
    main()
