"""Bootstrap solver and large-data point fit, against the solvers they replaced, measured in the same run.

1. Epoch's 240 Chinchilla points (five highest-loss points left out), 1,000 run-level resamples:
   * old: the IRLS-weighted batched LM that ``fit_law`` used before (a copy is kept below), all points
     of every resample, in chunks of resamples;
   * new: :func:`analysis.bootstrap.refit_resamples` (LM on the Huber loss's own curvature, each
     resample's own points, one evaluation per step, start statistics shared);
   prints seconds (median of ``--repeat``), the speed-up (target >= 8x), unconverged resamples (target 0),
   and the 95% intervals of the first 200 resamples against 200 global refits of the same resamples
   (``fit_law`` from its initialisation grid; target: equal within 1e-3 relative).
2. Synthetic Chinchilla ladders of 10^4, 10^5, 10^6 rows (runs x checkpoints), each fitted in a fresh
   subprocess with the app's 10 s time budget: point-fit seconds, peak RSS (``resource.getrusage``), and
   resamples delivered within the budget (target >= 200 at 10^5 rows; RSS < 2 GiB at 10^6; point-fit time
   growing at most linearly from 10^4 rows). Baseline: the old variable-projection initialisation (a
   1,024 x n x 3 array) at 10^4 rows in a subprocess (at 10^5 it needs 7.3 GB; not run).

    python bench/bench_bootstrap.py [--repeat 3] [--refits 200] [--sizes 1e4,1e5,1e6] [--budget 10]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from analysis.bootstrap import refit_resamples  # noqa: E402
from analysis.fit import fit_law, prepare, single_thread_blas  # noqa: E402
from analysis.laws import get_law  # noqa: E402
from analysis.resample import run_weights  # noqa: E402
from bench._common import epoch_points, timed  # noqa: E402

TRUE = {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37}
OLD_INIT_ROWS = 10_000


# ----------------------------------------------------------------------------------------------
# The old solver (analysis/fit.py before issue 13), kept as the baseline
# ----------------------------------------------------------------------------------------------
def _old_rho(r, objective, delta):
    if objective == "huber":
        a = np.abs(r)
        return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))
    if objective == "mse":
        return 0.5 * r * r
    return 0.5 * np.where(r > 0, 0.9, 0.1) * r * r


def _old_irls_weight(r, objective, delta):
    if objective == "huber":
        return np.minimum(1.0, delta / np.maximum(np.abs(r), 1e-300))
    if objective == "mse":
        return np.ones_like(r)
    return np.where(r > 0, 0.9, 0.1)


def old_batched_refit(law, X, ly, W, theta0, objective, delta, iters=100, xtol=1e-6):
    """The old ``_batched_refit``: LM on the IRLS surrogate, every point of every resample."""
    B = W.shape[0]
    bounds = np.array(law.bounds())
    lo, hi = bounds[:, 0], bounds[:, 1]
    theta = np.repeat(theta0[None, :], B, axis=0)
    r_all = law.logpred(theta, X) - ly[None, :]
    f = np.sum(W * _old_rho(r_all, objective, delta), axis=1)
    lam = np.full(B, 1e-3)
    active = np.ones(B, bool)
    p = theta.shape[1]
    eye = np.eye(p)
    for _ in range(iters):
        idx = np.flatnonzero(active)
        if len(idx) == 0:
            break
        th, r = theta[idx], r_all[idx]
        J = law.jac(th, X)
        u = W[idx] * _old_irls_weight(r, objective, delta)
        g = np.einsum("bn,bnp->bp", u * r, J)
        H = np.matmul((J * u[..., None]).transpose(0, 2, 1), J)
        diag = np.einsum("bpp->bp", H)
        A = H + lam[idx, None, None] * (diag[:, :, None] * eye + 1e-12 * eye)
        try:
            step = np.linalg.solve(A, -g[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.stack([np.linalg.lstsq(A[j], -g[j], rcond=None)[0] for j in range(len(idx))])
        cand = np.clip(th + step, lo, hi)
        rc = law.logpred(cand, X) - ly[None, :]
        fc = np.sum(W[idx] * _old_rho(rc, objective, delta), axis=1)
        fc = np.where(np.isfinite(fc), fc, np.inf)
        better = fc < f[idx]
        acc = idx[better]
        theta[acc], r_all[acc], f[acc] = cand[better], rc[better], fc[better]
        lam[idx] = np.where(better, np.maximum(lam[idx] * 0.3, 1e-12), lam[idx] * 10.0)
        moved = np.max(np.abs(cand - th), axis=1)
        done = (better & (moved < xtol)) | (~better & (lam[idx] > 1e6))
        active[idx[done]] = False
    return theta, f, active


def old_bootstrap(law, X, ly, runs, theta, n_boot, seed=0, objective="huber", delta=1e-3):
    """The old ``fit_law`` loop: dense weights, chunks of resamples. Returns (theta, still active at the cap)."""
    W, _ = run_weights(runs, n_boot, seed)
    n, p = len(ly), len(theta)
    chunk = int(np.clip(4e6 // max(1, n * p), 8, 250))
    thetas, active = [], []
    for start in range(0, len(W), chunk):
        th, f, act = old_batched_refit(law, X, ly, W[start:start + chunk], theta, objective, delta)
        thetas.append(th[np.isfinite(f)]), active.append(act[np.isfinite(f)])
    return np.concatenate(thetas), np.concatenate(active)


def old_varpro_init(N, D, y, grid=np.linspace(0.02, 2.0, 32)):
    """The old Chinchilla initialisation: the whole (1024, n, 3) design stack at once."""
    mesh = np.stack(np.meshgrid(grid, grid, indexing="ij"), -1).reshape(-1, 2)
    M = np.stack([np.column_stack([np.ones_like(N), N ** -e[0], D ** -e[1]]) for e in mesh])
    A = M / y[None, :, None]
    AtA = np.matmul(A.transpose(0, 2, 1), A)
    Atb = A.sum(axis=1)
    best_err, best_coef = np.full(len(mesh), np.inf), np.zeros((len(mesh), 3))
    for mask in range(1, 8):
        S = [k for k in range(3) if mask >> k & 1]
        with np.errstate(all="ignore"):
            c = np.linalg.solve(AtA[:, S][:, :, S] + 1e-12 * np.eye(len(S)), Atb[:, S][..., None])[..., 0]
        coef = np.zeros((len(mesh), 3))
        coef[:, S] = c
        resid = np.einsum("gk,gkl,gl->g", coef, AtA, coef) - 2 * np.einsum("gk,gk->g", coef, Atb) + len(y)
        take = np.all(c >= 0, axis=1) & (resid < best_err)
        best_err[take], best_coef[take] = resid[take], coef[take]
    pred = np.matmul(M, best_coef[:, :, None])[:, :, 0]
    with np.errstate(all="ignore"):
        score = np.sum((np.log(np.where(pred > 0, pred, np.nan)) - np.log(y)[None, :]) ** 2, axis=1)
    return mesh[int(np.nanargmin(score))]


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------
def ladder(n_runs: int, n_ckpt: int, seed: int = 0) -> pd.DataFrame:
    """Chinchilla runs (sizes and tokens per parameter log-uniform) with ``n_ckpt`` checkpoints each."""
    rng = np.random.default_rng(seed)
    N = np.exp(rng.uniform(np.log(5e7), np.log(1e10), n_runs))
    D = (np.exp(rng.uniform(np.log(5), np.log(200), n_runs)) * N)[:, None] * np.geomspace(0.05, 1.0, n_ckpt)
    N = np.repeat(N[:, None], n_ckpt, axis=1)
    L = TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / D ** TRUE["beta"]
    L = L * np.exp(rng.normal(0, 0.01, (n_runs, 1)) + rng.normal(0, 0.003, L.shape))
    return pd.DataFrame({"run": np.repeat([f"r{i}" for i in range(n_runs)], n_ckpt), "N": N.ravel(),
                         "D": D.ravel(), "y": L.ravel()})


def shape_for(rows: int) -> tuple[int, int]:
    side = int(round(np.sqrt(rows)))
    return side, int(round(rows / side))


def resampled_frame(frame: pd.DataFrame, counts_b: np.ndarray) -> pd.DataFrame:
    groups = dict(tuple(frame.groupby(frame["run"].astype(str), sort=True)))
    return pd.concat([groups[r].assign(run=f"{r}#{k}") for r, c in zip(sorted(groups), counts_b) for k in range(c)],
                     ignore_index=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ----------------------------------------------------------------------------------------------
# Children (fresh processes, so peak RSS is theirs alone)
# ----------------------------------------------------------------------------------------------
def child_fit(rows: int, budget: float, n_boot: int) -> dict:
    df = ladder(*shape_for(rows))
    rss_data = peak_rss_mb()
    t, c = time.perf_counter(), time.process_time()
    point = fit_law(df, "chinchilla", bootstrap=0, diagnostics=False)
    t_point, cpu_point = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    boot = fit_law(df, "chinchilla", bootstrap=n_boot, time_budget=budget, diagnostics=False)
    t_boot, cpu_boot = time.perf_counter() - t, time.process_time() - c
    return {"rows": len(df), "point_seconds": t_point, "point_cpu": cpu_point, "boot_seconds": t_boot,
            "n_boot": boot.n_boot, "cpu_per_resample": max(cpu_boot - cpu_point, 0.0) / max(boot.n_boot, 1),
            "unconverged": boot.n_boot_unconverged, "rss_mb": peak_rss_mb(), "rss_data_mb": rss_data,
            "message": point.message, "alpha": point.params["alpha"]}


def child_old_init(rows: int) -> dict:
    df = ladder(*shape_for(rows))
    rss_data = peak_rss_mb()
    t = time.perf_counter()
    old_varpro_init(df["N"].to_numpy(), df["D"].to_numpy(), df["y"].to_numpy())
    return {"rows": len(df), "seconds": time.perf_counter() - t, "rss_mb": peak_rss_mb(), "rss_data_mb": rss_data}


def run_child(*args) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *map(str, args)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------------------------
# Parts
# ----------------------------------------------------------------------------------------------
def epoch_part(repeat: int, n_refits: int) -> None:
    df = epoch_points()
    law = get_law("chinchilla")
    point = fit_law(df, law, bootstrap=0, diagnostics=False)
    theta0 = law.to_internal(np.array([point.params[k] for k in law.param_names]))
    prep = prepare(df, law)
    X, ly = prep.X, np.log(prep.y)
    # old and new alternate, so both see the same load; CPU time (process_time) is what a busy machine
    # disturbs least, and the best of the repeats is the closest to an idle one
    wall, cpu = {"old": [], "new": []}, {"old": [], "new": []}
    with single_thread_blas():
        for _ in range(repeat):
            for name, run in (("old", lambda: old_bootstrap(law, X, ly, prep.run, theta0, 1000)),
                              ("new", lambda: refit_resamples(law, X, ly, prep.run, theta0, n_boot=1000, seed=0))):
                t, c = time.perf_counter(), time.process_time()
                out = run()
                wall[name].append(time.perf_counter() - t), cpu[name].append(time.process_time() - c)
                if name == "old":
                    old_th, old_active = out
                else:
                    new = out
    print(f"Epoch, {len(ly)} points, 1,000 run-level resamples ({repeat} alternating repeats; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):")
    print(f"  {'':34s} {'CPU s, best':>12s} {'median':>8s} {'wall s, median':>15s}")
    for name, label, extra in (("old", "old IRLS LM, every point:", f"unconverged at its 100-iteration cap: "
                                f"{int(old_active.sum())}"),
                               ("new", "new LM, Huber curvature:", f"unconverged: {new.n_unconverged}; iterations "
                                f"mean {new.iterations.mean():.1f}, max {new.iterations.max()}")):
        print(f"  {label:34s} {min(cpu[name]):12.3f} {np.median(cpu[name]):8.3f} {np.median(wall[name]):15.3f}"
              f"   {extra}")
    med = {k: {name: np.median(v) for name, v in d.items()} for k, d in (("cpu", cpu), ("wall", wall))}
    print(f"  speed-up: {min(cpu['old']) / min(cpu['new']):.1f}x in CPU time (median "
          f"{med['cpu']['old'] / med['cpu']['new']:.1f}x; wall {med['wall']['old'] / med['wall']['new']:.1f}x)"
          f" (target >= 8x); every resample converged: {new.n_unconverged == 0}")
    full, t_full = timed(lambda: fit_law(df, law, bootstrap=1000, diagnostics=False), repeat=repeat)
    print(f"  fit_law, point fit + 1,000 resamples: {t_full:.3f} s ({full.n_boot_unconverged} unconverged)")
    if not n_refits:
        return
    # the global reference: full fits of the first n_refits resamples
    _, counts = run_weights(prep.run, n_refits, 0)
    t = time.perf_counter()
    ref = np.array([[fit_law(resampled_frame(prep.frame, counts[b]), law, bootstrap=0, diagnostics=False).params[k]
                     for k in law.param_names] for b in range(n_refits)])
    t_ref = time.perf_counter() - t
    q_ref = np.quantile(ref, [0.025, 0.975], axis=0)
    rel = {}
    for name, th in (("new", new.theta[:n_refits]), ("old", old_th[:n_refits])):
        q = np.quantile(law.to_public(th), [0.025, 0.975], axis=0)
        rel[name] = np.abs(q / q_ref - 1)
    print(f"  95% intervals of the first {n_refits} resamples vs {n_refits} global refits ({t_ref:.1f} s):")
    print(f"    {'':6s}" + "".join(f"{k:>16s}" for k in law.param_names))
    print(f"    {'ref':6s}" + "".join(f"  [{a:.4g}, {b:.4g}]".rjust(16) for a, b in zip(*q_ref)))
    for name in ("new", "old"):
        print(f"    {name:6s}" + "".join(f"{v:16.1e}" for v in rel[name].max(axis=0)))
    print(f"  max relative interval difference: new {rel['new'].max():.1e} (target < 1e-3), old {rel['old'].max():.1e}")


def size_part(sizes: list[int], budget: float, n_boot: int) -> None:
    print(f"\nSynthetic Chinchilla ladders, fresh subprocess each, bootstrap of {n_boot} with a {budget:g} s budget:")
    old = run_child("old_init", OLD_INIT_ROWS)            # never more: its array is 7.3 GB at 10^5 rows
    print(f"  old initialisation at {old['rows']:,} rows: {old['seconds']:.2f} s, peak RSS {old['rss_mb']:.0f} MB "
          f"({old['rss_mb'] - old['rss_data_mb']:.0f} MB over the data); at 10^5 rows its array is 7.3 GB: not run")
    print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (the budget is wall-clock time)")
    print(f"  {'rows':>10s} {'point fit':>10s} {'x vs 10^4':>10s} {'peak RSS':>10s} {'resamples in budget':>20s} "
          f"{'boot s':>7s} {'unconv':>7s} {'CPU ms/resample':>16s} {'on an idle core':>16s}")
    base = None
    for rows in sizes:
        r = run_child("fit", rows, budget, n_boot)
        base = base or r
        # on an idle core wall time is CPU time: what the budget left after the point fit buys
        idle = int(max(0.0, budget - r["point_cpu"]) / max(r["cpu_per_resample"], 1e-9)) if r["n_boot"] else 0
        print(f"  {r['rows']:>10,d} {r['point_seconds']:>9.2f}s {r['point_seconds'] / base['point_seconds']:>9.1f}x "
              f"{r['rss_mb']:>8.0f}MB {r['n_boot']:>20d} {r['boot_seconds']:>6.1f}s {r['unconverged']:>7d} "
              f"{r['cpu_per_resample'] * 1e3:>16.1f} {min(idle, n_boot):>16d}")
        if r["rows"] == old["rows"]:
            print(f"  {'':10s} old initialisation alone / new point fit at {r['rows']:,} rows: "
                  f"{old['seconds'] / r['point_seconds']:.1f}x")
    print(f"  targets: RSS < 2048 MB at 10^6 rows; point-fit time at most ~linear in rows (x <= rows ratio); "
          f">= 200 resamples within {budget:g} s at 10^5 rows")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, args = sys.argv[2], sys.argv[3:]
        with single_thread_blas():
            out = (child_fit(int(args[0]), float(args[1]), int(args[2])) if kind == "fit"
                   else child_old_init(int(args[0])))
        print(json.dumps(out))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--refits", type=int, default=200)
    ap.add_argument("--sizes", default="1e4,1e5,1e6")
    ap.add_argument("--budget", type=float, default=10.0)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--skip-epoch", action="store_true")
    a = ap.parse_args()
    if not a.skip_epoch:
        epoch_part(a.repeat, a.refits)
    if a.sizes:
        size_part([int(float(s)) for s in a.sizes.split(",")], a.budget, a.boot)


if __name__ == "__main__":
    main()
