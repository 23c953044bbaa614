"""Approach 2 (Hoffmann et al. 2022): the loss-minimising model size of each IsoFLOP budget, then power laws
:math:`N^*(C) = k_N C^a` and :math:`D^*(C) = k_D C^b` through those minima.

Method, step by step (what the report and the CLI call "local parabola"):

1. **One point per run**: the last checkpoint of each run (its final loss at its final compute).
2. **Budgets**: runs are grouped by compute. Exact IsoFLOP sweeps repeat one C per budget; digitised or
   logged data scatter around it, so the groups are found greedily: the window of ``width_dex``
   (0.1 dex, a factor 1.26) in :math:`\\log_{10} C` holding the most runs becomes a budget, its runs are
   removed, and so on. A budget's compute is the geometric mean of its runs' C.
3. **Local minimum**: in each budget, the loss is averaged per distinct model size and the lowest one
   found. A parabola :math:`y = c_0 + c_1 x + c_2 x^2` in :math:`x = \\ln N` is fitted by least squares to
   the distinct sizes within ``half_width_dex`` (1 dex, a factor 10) of it, at least the ``window`` (5)
   nearest, and its vertex
   :math:`x^* = -c_1 / 2c_2` is the budget's :math:`\\ln N^*`; :math:`D^* = C / (k N^*)` and the loss is
   the parabola at the vertex. Far-off sizes (losses of 8-10 at the ends of a wide grid) never enter:
   one parabola through a whole wide budget is pulled towards them (a = 1.21 instead of ~0.86 on a
   Kaplan-style sweep).
4. **Flags** (the budget's minimum is listed but left out of the power laws): ``"too few sizes"``
   (fewer than ``min_sizes`` = 4 distinct N: a parabola through 3 points always fits, so nothing
   checks its shape), ``"minimum at grid edge"`` (the lowest loss is the smallest or largest N: the true
   minimum may lie outside the grid), ``"no curvature"`` (:math:`c_2 \\le 0`) and
   ``"vertex outside window"`` (the parabola's vertex is outside the sizes it was fitted to).
5. **Power laws**: ordinary least squares of :math:`\\ln N^*` and :math:`\\ln D^*` on :math:`\\ln C` over
   the kept budgets (at least 2). With :math:`D^* = C / (k N^*)`, :math:`b = 1 - a` exactly.
6. **Intervals**: a bootstrap that resamples runs with replacement within each budget (the budgets stay
   as found), repeats steps 3-5, and reports 95% percentile :class:`~analysis.interval.Interval` s of
   a, b and of :math:`N^*`, :math:`D^*` at a requested compute.

Caveats (in :attr:`Approach2Result.warnings`): Approach 2 assumes each budget's runs share one compute;
when C varies within a budget the minima are approximate. It is also biased when the grid of sizes is
off-centre and when the IsoFLOP curve is asymmetric (alpha != beta in Chinchilla's law): compare with
Approach 3, the exponent of the fitted law (:func:`analysis.allocate.optimum_exponents`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.fit_result import message_sections
from analysis.interval import Interval, percentile_interval
from analysis.prepare import FLOPS_PER_PARAM_TOKEN, FitError, complete_axes

__all__ = ["Approach2Result", "approach2", "budget_groups", "local_minimum", "WINDOW", "MIN_SIZES", "WIDTH_DEX"]

WINDOW = 5          # distinct sizes at least in each local parabola
HALF_WIDTH_DEX = 1.0   # the parabola takes every size within this many dex (a factor 10) of the lowest loss
MIN_SIZES = 4       # distinct sizes a budget needs for its minimum to count
WIDTH_DEX = 0.1     # width of a budget in log10 C
SPREAD_WARN_DEX = 0.02   # compute varying more than this within a budget (4.7%) earns a caveat
FLAGS = ("too few sizes", "minimum at grid edge", "no curvature", "vertex outside window")


def budget_groups(compute, width_dex: float = WIDTH_DEX) -> np.ndarray:
    """Budget label (0, 1, ... by increasing compute) of each value of ``compute`` (FLOPs).

    Greedy densest window: the window ``[log10 C_i, log10 C_i + width_dex]`` holding the most
    unassigned values becomes a budget; repeat until every value is assigned.
    """
    lc = np.log10(np.asarray(compute, float))
    order = np.argsort(lc)
    s = lc[order]
    free = np.ones(len(s), bool)
    label = np.full(len(s), -1)
    g = 0
    while free.any():
        idx = np.flatnonzero(free)
        hi = np.searchsorted(s[idx], s[idx] + width_dex + 1e-12, side="right")
        counts = hi - np.arange(len(idx))
        i = int(np.argmax(counts))
        members = idx[i:hi[i]]
        label[members] = g
        free[members] = False
        g += 1
    # relabel by increasing compute
    out = np.empty(len(s), int)
    out[order] = label
    centres = np.array([lc[out == k].mean() for k in range(g)])
    rank = np.empty(g, int)
    rank[np.argsort(centres)] = np.arange(g)
    return rank[out]


def _group_minima(logN: np.ndarray, y: np.ndarray, counts: np.ndarray, *, window: int = WINDOW,
                  half_width_dex: float = HALF_WIDTH_DEX, min_sizes: int = MIN_SIZES):
    """Local-parabola minima of one budget for every row of ``counts`` (K, m): how often each of the
    budget's m runs is drawn (all ones for the data as they are; a resample otherwise).

    Returns ``(ln N*, loss*, flag code)`` arrays of length K; codes index ``(None,) + FLAGS``. Every
    row is solved at once: per-size mean losses from the counts, the lowest size, the window (sizes
    within ``half_width_dex`` of it, at least ``window`` of them), and the 3x3 normal equations of
    the parabola in ln N, centred on the lowest size.
    """
    sizes, inv = np.unique(np.round(logN, 9), return_inverse=True)
    S, K = len(sizes), len(counts)
    onehot = np.zeros((len(logN), S))
    onehot[np.arange(len(logN)), inv] = 1.0
    cnt = counts @ onehot
    avail = cnt > 0
    with np.errstate(all="ignore"):
        mean = np.where(avail, (counts * y) @ onehot / np.where(avail, cnt, 1.0), np.inf)
    nav = avail.sum(axis=1)
    rows = np.arange(K)
    i = np.argmin(mean, axis=1)
    first = np.argmax(avail, axis=1)
    last = S - 1 - np.argmax(avail[:, ::-1], axis=1)
    x = sizes[None, :] - sizes[i][:, None]                      # ln N centred on the lowest size
    dist = np.where(avail, np.abs(x), np.inf)
    inside = (dist <= half_width_dex * np.log(10) + 1e-9).sum(axis=1)
    take = np.minimum(np.maximum(window, inside), nav)
    rank = np.empty_like(inv, shape=(K, S))
    rank[rows[:, None], np.argsort(dist, axis=1, kind="stable")] = np.arange(S)[None, :]
    w = (avail & (rank < take[:, None])).astype(float)
    v = np.where(avail, mean, 0.0)
    m = [np.sum(w * x ** p, axis=1) for p in range(5)]
    r = np.stack([np.sum(w * v * x ** p, axis=1) for p in range(3)], axis=1)
    M = np.stack([np.stack([m[j + k] for k in range(3)], axis=1) for j in range(3)], axis=1)   # (K, 3, 3)
    code = np.zeros(K, int)
    ok = nav >= 3
    c = np.full((K, 3), np.nan)
    if ok.any():
        with np.errstate(all="ignore"):
            dets = np.linalg.det(M[ok])
        solvable = np.flatnonzero(ok)[np.abs(dets) > 1e-12]
        if len(solvable):
            c[solvable] = np.linalg.solve(M[solvable], r[solvable][..., None])[..., 0]
    c0, c1, c2 = c[:, 0], c[:, 1], c[:, 2]
    with np.errstate(all="ignore"):
        xm = -c1 / (2 * c2)
        lo = np.min(np.where(w > 0, x, np.inf), axis=1)
        hi = np.max(np.where(w > 0, x, -np.inf), axis=1)
    code[(i == first) | (i == last)] = 2
    code[nav < min_sizes] = 1
    curved = c2 > 0
    code[(code == 0) & ~curved] = 3
    code[(code == 0) & curved & ((xm < lo) | (xm > hi))] = 4
    xm = np.where(curved, xm, 0.0)
    xm = np.where(np.isfinite(c2), xm, np.nan)
    lnN = sizes[i] + xm
    loss = np.where(curved, c0 + c1 * xm + c2 * xm * xm, np.where(np.isfinite(mean[rows, i]), mean[rows, i], np.nan))
    return lnN, np.where(np.isfinite(c2), loss, np.nan), code


def local_minimum(logN: np.ndarray, y: np.ndarray, *, window: int = WINDOW, half_width_dex: float = HALF_WIDTH_DEX,
                  min_sizes: int = MIN_SIZES) -> tuple[float, float, str | None]:
    """``(ln N*, loss at N*, flag)`` of one budget: a parabola in ln N through the distinct sizes within
    ``half_width_dex`` of the lowest mean loss (at least the ``window`` nearest). ``flag`` is None when
    the minimum is usable, else one of :data:`FLAGS`; the values are NaN when no parabola could be fitted."""
    lnN, loss, code = _group_minima(np.asarray(logN, float), np.asarray(y, float), np.ones((1, len(logN))),
                                    window=window, half_width_dex=half_width_dex, min_sizes=min_sizes)
    return float(lnN[0]), float(loss[0]), ((None,) + FLAGS)[int(code[0])]


def _minima(logN, y, groups, n_groups, **kw) -> tuple[np.ndarray, np.ndarray, list]:
    out = [local_minimum(logN[groups == g], y[groups == g], **kw) for g in range(n_groups)]
    return (np.array([o[0] for o in out]), np.array([o[1] for o in out]), [o[2] for o in out])


def _lines(x: np.ndarray, Y: np.ndarray, use: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise OLS slope and intercept of ``Y[k]`` on ``x`` over ``use[k]`` (NaN with < 2 points)."""
    w = (use & np.isfinite(Y)).astype(float)
    Y = np.where(w > 0, Y, 0.0)
    n = w.sum(axis=1)
    with np.errstate(all="ignore"):
        mx = (w * x).sum(axis=1) / n
        my = (w * Y).sum(axis=1) / n
        sxx = (w * (x - mx[:, None]) ** 2).sum(axis=1)
        slope = (w * (x - mx[:, None]) * (Y - my[:, None])).sum(axis=1) / sxx
        ok = (n >= 2) & (sxx > 0)
    return np.where(ok, slope, np.nan), np.where(ok, my - slope * mx, np.nan)


def _line(x, y) -> tuple[float, float]:
    """OLS slope and intercept of y on x (NaN with fewer than 2 points)."""
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2 or np.ptp(x[ok]) == 0:
        return float("nan"), float("nan")
    slope, icept = np.polyfit(x[ok], y[ok], 1)
    return float(slope), float(icept)


def final_points(frame: pd.DataFrame) -> pd.DataFrame:
    """The last checkpoint of each run (largest D, then step) with finite positive N, C and loss ``y``."""
    df = complete_axes(frame)
    if "run" not in df:
        df["run"] = np.arange(len(df)).astype(str)
    order = [c for c in ("D", "step") if c in df]
    df = df.sort_values(["run", *order], na_position="first", kind="mergesort").groupby("run").tail(1)
    y = pd.to_numeric(df["y"], errors="coerce")
    ok = np.isfinite(df["N"]) & (df["N"] > 0) & np.isfinite(df["C"]) & (df["C"] > 0) & np.isfinite(y)
    return df[ok.to_numpy()].reset_index(drop=True)


@dataclass(frozen=True)
class Approach2Result:
    """IsoFLOP minima and the power laws through them, with run-resampled 95% intervals.

    ``minima``: one row per budget (``compute`` FLOPs, ``N_opt`` parameters, ``D_opt`` tokens, ``loss``
    in the metric's units, ``n_runs``, ``n_sizes``, ``spread_dex`` = the budget's range of log10 C,
    ``flag`` None when used). ``exponents``: ``a`` in N* ~ C^a and ``b`` in D* ~ C^b; ``coefficients``:
    ``k_N``, ``k_D`` (N* = k_N C^a). ``ci`` holds intervals of a, b (and of ``N_opt``, ``D_opt`` at
    ``compute`` when given).
    """

    minima: pd.DataFrame
    exponents: dict[str, float]
    coefficients: dict[str, float]
    ci: dict[str, Interval]
    n_boot: int
    flops_per_param_token: float
    compute: float | None = None
    N_opt: float | None = None
    D_opt: float | None = None
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    method: str = ("local parabola in ln N through the sizes within a factor 10 of each budget's lowest loss "
                   "(at least 5); log-linear fits of N* and D* on C; runs resampled within budgets")
    boot: np.ndarray | None = field(default=None, repr=False)    # (n_boot, 4): a, ln k_N, b, ln k_D

    @property
    def n_used(self) -> int:
        return int(self.minima["flag"].isna().sum()) if len(self.minima) else 0

    def predict(self, compute) -> tuple[np.ndarray, np.ndarray]:
        """``(N*, D*)`` of the power laws at ``compute`` FLOPs."""
        c = np.asarray(compute, float)
        return (self.coefficients["k_N"] * c ** self.exponents["a"],
                self.coefficients["k_D"] * c ** self.exponents["b"])

    def to_dict(self) -> dict:
        """The CLI contract: ``approach``, ``exponents`` {a, b: {value, ci}}, ``minima`` [{compute, N_opt,
        D_opt, loss, flag, ...}], ``coefficients``, and ``N_opt`` / ``D_opt`` {value, ci} at ``compute``."""
        def entry(key, value):
            ci = self.ci.get(key)
            return {"value": value, "ci": ci.to_list() if ci is not None else None}
        minima = self.minima.astype(object).where(self.minima.notna(), None).to_dict(orient="records")
        d = {"approach": 2, "method": self.method,
             "exponents": {k: entry(k, v) for k, v in self.exponents.items()},
             "coefficients": dict(self.coefficients), "minima": minima, "n_budgets": len(self.minima),
             "n_used": self.n_used, "n_boot": self.n_boot, "flops_per_param_token": self.flops_per_param_token,
             "warnings": list(self.warnings), "notes": list(self.notes)}
        if self.compute is not None:
            d["compute"] = self.compute
            d["N_opt"], d["D_opt"] = entry("N_opt", self.N_opt), entry("D_opt", self.D_opt)
        return d

    def summary(self) -> str:
        def ci(key):
            c = self.ci.get(key)
            return f" [{c.lo:.4g}, {c.hi:.4g}]" if c is not None and c.finite else ""
        lines = [f"[[Approach 2]] {self.method}",
                 f"    a (N* ~ C^a) = {self.exponents['a']:.4f}{ci('a')}",
                 f"    b (D* ~ C^b) = {self.exponents['b']:.4f}{ci('b')}",
                 f"    budgets: {len(self.minima)} ({self.n_used} used), {self.n_boot} resamples (95% intervals)"]
        if self.compute is not None:
            lines += [f"    at C = {self.compute:.4g} FLOPs: N* = {self.N_opt:.4g} parameters{ci('N_opt')}, "
                      f"D* = {self.D_opt:.4g} tokens{ci('D_opt')}"]
        lines.append("[[Minima]]")
        for r in self.minima.itertuples():
            lines.append(f"    C = {r.compute:.3g}: N* = {r.N_opt:.3g}, D* = {r.D_opt:.3g}, loss {r.loss:.4g} "
                         f"({r.n_sizes} sizes)" + (f"  LEFT OUT: {r.flag}" if isinstance(r.flag, str) else ""))
        return "\n".join(lines + message_sections(self.warnings, self.notes))


def approach2(frame: pd.DataFrame, *, compute: float | None = None, bootstrap: int = 1000, seed: int = 0,
              window: int = WINDOW, half_width_dex: float = HALF_WIDTH_DEX, min_sizes: int = MIN_SIZES,
              width_dex: float = WIDTH_DEX,
              flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN, exclude_runs=()) -> Approach2Result:
    """Approach 2 on a fit frame (``run, N, D, C, y``; ``y`` the loss): see the module docstring.

    Parameters
    ----------
    compute : float, optional
        A budget in FLOPs at which to report N* (parameters) and D* (tokens) with intervals.
    bootstrap : int
        Resamples of runs within budgets (0 for no intervals).
    window, min_sizes, width_dex
        Sizes per local parabola, sizes a budget needs, width of a budget in log10 C.
    exclude_runs : iterable of str
        Runs left out.

    Raises
    ------
    FitError
        When fewer than two budgets give a usable minimum.
    """
    k = float(flops_per_param_token)
    df = final_points(frame)
    excl = {str(r) for r in exclude_runs or ()}
    notes = []
    if excl:
        n0 = len(df)
        df = df[~df["run"].astype(str).isin(excl)].reset_index(drop=True)
        notes.append(f"excluded {len(excl)} run(s) ({n0 - len(df)} points)")
    if len(df) < 2 * min_sizes:
        raise FitError(f"Approach 2 needs IsoFLOP budgets of at least {min_sizes} model sizes each; the data have "
                       f"{len(df)} runs.", "use IsoFLOP sweeps (several sizes at each of several budgets) or Approach 3")
    logN, logC, y = np.log(df["N"].to_numpy(float)), np.log(df["C"].to_numpy(float)), df["y"].to_numpy(float)
    groups = budget_groups(df["C"].to_numpy(float), width_dex)
    n_groups = int(groups.max()) + 1
    local = dict(window=window, half_width_dex=half_width_dex, min_sizes=min_sizes)
    xN, ly, flags = _minima(logN, y, groups, n_groups, **local)
    lcg = np.array([logC[groups == g].mean() for g in range(n_groups)])
    spread = np.array([np.ptp(logC[groups == g]) / np.log(10) for g in range(n_groups)])
    sizes = np.array([len(np.unique(np.round(logN[groups == g], 9))) for g in range(n_groups)])
    nruns = np.bincount(groups, minlength=n_groups)
    table = pd.DataFrame({"compute": np.exp(lcg), "N_opt": np.exp(xN), "D_opt": np.exp(lcg - xN) / k, "loss": ly,
                          "n_runs": nruns, "n_sizes": sizes, "spread_dex": spread, "flag": flags})
    single = nruns == 1
    if single.any():   # a lone run between budgets is not a budget: counted in a note, not listed
        notes.append(f"{int(single.sum())} run(s) lie alone between budgets (no other run within "
                     f"{width_dex:g} dex of compute) and were not used")
    keep_rows = ~single
    used = table["flag"].isna().to_numpy() & keep_rows
    if not keep_rows.any():
        raise FitError("Approach 2 needs IsoFLOP budgets, and no two runs of these data share a compute budget "
                       f"(within {width_dex:g} dex).", "use IsoFLOP sweeps (several sizes at each of several "
                       "budgets), or Approach 3")
    if used.sum() < 2:
        raise FitError(f"Approach 2 needs at least 2 IsoFLOP budgets with a usable minimum; {int(used.sum())} of "
                       f"{int(keep_rows.sum())} budgets have one (flags: "
                       f"{', '.join(sorted({f for f in flags if f})) or 'none'}).",
                       "add model sizes on both sides of each budget's minimum, or use Approach 3")
    a, icN = _line(lcg[used], xN[used])
    b, icD = _line(lcg[used], lcg[used] - xN[used] - np.log(k))
    warnings = []
    boot = None
    ci: dict[str, Interval] = {}
    if bootstrap:
        rng = np.random.default_rng(seed)
        K = int(bootstrap)
        bx = np.full((K, n_groups), np.nan)
        bok = np.zeros((K, n_groups), bool)
        for g in range(n_groups):
            m = np.flatnonzero(groups == g)
            counts = rng.multinomial(len(m), np.full(len(m), 1.0 / len(m)), size=K).astype(float)
            bx[:, g], _, code = _group_minima(logN[m], y[m], counts, **local)
            bok[:, g] = (code == 0) & keep_rows[g]
        boot = np.full((K, 4), np.nan)
        boot[:, 0], boot[:, 1] = _lines(lcg, bx, bok)
        boot[:, 2], boot[:, 3] = _lines(lcg, lcg[None, :] - bx - np.log(k), bok)
        ci["a"], ci["b"] = percentile_interval(boot[:, 0], min_samples=2), percentile_interval(boot[:, 2], min_samples=2)
    N_opt = D_opt = None
    if compute is not None:
        lc = np.log(float(compute))
        N_opt, D_opt = float(np.exp(icN + a * lc)), float(np.exp(icD + b * lc))
        if boot is not None:
            ci["N_opt"] = percentile_interval(np.exp(boot[:, 1] + boot[:, 0] * lc), min_samples=2)
            ci["D_opt"] = percentile_interval(np.exp(boot[:, 3] + boot[:, 2] * lc), min_samples=2)
        top = float(np.exp(lcg[used].max()))
        if compute > 10 * top:
            warnings.append(f"the budget {compute:.3g} FLOPs is {compute / top:.0f}x the largest budget with a usable "
                            "minimum: the power law is extrapolated that far; add a larger IsoFLOP budget to check it.")
    n_out = int((~table["flag"].isna() & keep_rows).sum())
    if n_out:
        notes.append(f"{n_out} budget minimum(s) flagged and left out of the power laws: " +
                     "; ".join(f"C = {r.compute:.3g} ({r.flag})" for r in table[keep_rows].itertuples()
                               if isinstance(r.flag, str)))
    if used.sum() < 3:
        warnings.append(f"only {int(used.sum())} budgets give a usable minimum: the exponent rests on them alone; "
                        "add IsoFLOP budgets (3 or more, spanning at least a factor 10 in compute).")
    wide = spread[used] > SPREAD_WARN_DEX
    if wide.any():
        warnings.append(f"compute varies within {int(wide.sum())} budget(s) by up to {10 ** spread[used].max():.2f}x "
                        "(the runs are not exact IsoFLOP groups, e.g. digitised points): each minimum mixes nearby "
                        "budgets and is approximate; prefer Approach 3 (the fitted law) on such data.")
    notes.append("caveat: Approach 2 is biased when the IsoFLOP curve is asymmetric (alpha != beta in Chinchilla's "
                 "law) or the sizes are off-centre around each minimum: compare with Approach 3's exponent")
    return Approach2Result(table[keep_rows].reset_index(drop=True), {"a": a, "b": b},
                           {"k_N": float(np.exp(icN)), "k_D": float(np.exp(icD))}, ci,
                           0 if boot is None else len(boot), k, None if compute is None else float(compute),
                           N_opt, D_opt, tuple(warnings), tuple(notes), boot=boot)
