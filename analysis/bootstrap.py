"""Run-level bootstrap refits: one batched Levenberg-Marquardt over all resamples.

Resample ``b`` draws whole runs with replacement (checkpoints of one run are correlated); as integer
weights :math:`w_{bi}` on the points (:func:`run_weights`) its objective is

.. math::
    F_b(\\theta) = \\sum_i w_{bi}\\, \\rho\\big(r_i(\\theta)\\big), \\qquad
    r_i(\\theta) = \\log \\hat y(x_i; \\theta) - \\log y_i ,

with :math:`\\rho` the fit's loss on log residuals (Huber, squared error or the lower envelope; see
:mod:`analysis.fit`). Only the points a resample drew (:math:`w_{bi} > 0`, about 63% of the runs) are
evaluated: they are gathered into a ``(B, m)`` block, padded with weight 0, and the law is called with
its variables of shape ``(B, m)`` paired row by row with the parameters ``theta`` of shape ``(B, p)``.

Every iteration solves, for each resample still running, the damped Newton system of the loss's own
second-order model (Gauss-Newton in the model, exact in the loss)

.. math::
    \\big(J^\\top \\mathrm{diag}(w\\,\\rho''(r))\\,J + \\lambda\\,\\mathrm{diag}(d)\\big)\\, s
    = -J^\\top \\big(w\\,\\rho'(r)\\big),

where :math:`\\rho''` is the loss's curvature (Huber: 1 inside :math:`\\pm\\delta`, 0 outside; squared
error: 1; lower envelope: :math:`\\tau` below the curve, :math:`1 - \\tau` above), and :math:`d` the
running maximum of :math:`\\mathrm{diag}(J^\\top \\mathrm{diag}(w) J)` (Marquardt's scaling; it keeps the
system regular where few points lie inside the Huber threshold). Unlike an IRLS weight
:math:`\\min(1, \\delta/|r|)`, the exact curvature gives Newton's local convergence on a piecewise
quadratic loss: ~15-20 iterations from the point fit instead of ~60. The trial point's prediction and
Jacobian come from one evaluation of the law (``law.logpred_jac`` when the law provides it); the step
is kept when it lowers :math:`F_b`, and :math:`\\lambda` follows Nielsen's gain-ratio rule.

A resample has *converged* when its last step moved no internal parameter (log of a coefficient, or
an exponent) by more than ``xtol``, or when the actual and the predicted relative decrease of
:math:`F_b` are both below ``ftol``. Resamples that reach ``max_iter`` keep their best point and are
counted in :attr:`BootstrapRefit.n_unconverged`.

A time budget (``deadline``) is checked at every iteration. Resamples run in blocks, in index order;
when the deadline passes, the finished blocks are kept, and of the interrupted block the leading
resamples that had already finished (a prefix, so the kept set does not favour the resamples that
converge quickly).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

LOWER_TAU = 0.1
MAX_ITER = 300          # iterations per resample before it counts as unconverged (valleys of bnsl/m4 need 100-300)
LAM0 = 1e-5
SHRINK = 0.1
BLOCK_ELEMENTS = 2_000_000   # resamples x drawn points gathered per block (16 MB per gathered array)
STREAM_ELEMENTS = 65_536     # (resample, point) pairs evaluated at once: 512 KB temporaries stay in cache and
                             # in the heap (larger ones are mmapped and page-faulted afresh at every call)


# ----------------------------------------------------------------------------------------------
# Loss: value, slope and curvature on log residuals
# ----------------------------------------------------------------------------------------------
def loss_terms(r: np.ndarray, objective: str, delta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rho(r), rho'(r), rho''(r)) elementwise, for ``objective`` in {"huber", "mse", "lower"}.

    Huber: ``rho = r^2 / 2`` for ``|r| <= delta`` and ``delta (|r| - delta / 2)`` beyond, so
    ``rho' = clip(r, -delta, delta)`` and ``rho'' = 1{|r| <= delta}``. Squared error: ``r^2 / 2``.
    Lower envelope (expectile, tau = 0.1): ``c(r) r^2 / 2`` with ``c = 1 - tau`` above the curve
    (``r > 0``) and ``tau`` below.
    """
    if objective == "huber":
        a = np.abs(r)
        inside = a <= delta
        value = np.where(inside, 0.5 * r * r, delta * (a - 0.5 * delta))
        return value, np.clip(r, -delta, delta), inside.astype(float)
    if objective == "mse":
        return 0.5 * r * r, r, np.ones_like(r)
    if objective == "lower":
        c = np.where(r > 0, 1.0 - LOWER_TAU, LOWER_TAU)
        return 0.5 * c * r * r, c * r, c
    raise ValueError(f"unknown objective {objective!r}; choose one of huber, mse, lower")


def loss_value(r: np.ndarray, objective: str, delta: float) -> np.ndarray:
    """rho(r) only (cheaper than :func:`loss_terms` for trial points)."""
    if objective == "huber":
        a = np.abs(r)
        return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))
    if objective == "mse":
        return 0.5 * r * r
    if objective == "lower":
        return 0.5 * np.where(r > 0, 1.0 - LOWER_TAU, LOWER_TAU) * r * r
    raise ValueError(f"unknown objective {objective!r}; choose one of huber, mse, lower")


# ----------------------------------------------------------------------------------------------
# Resampling
# ----------------------------------------------------------------------------------------------
def run_counts(runs: np.ndarray, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """How often each resample draws each run: ``(counts (n_boot, n_runs), inv (n_points,))``.

    Runs are the sorted unique values of ``runs`` and ``inv`` maps each point to its run, so the point
    weights of resample ``b`` are ``counts[b, inv]``. Same seed and run set, same resamples.
    """
    uniq, inv = np.unique(np.asarray(runs), return_inverse=True)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(len(uniq), np.full(len(uniq), 1.0 / len(uniq)), size=n_boot)
    return counts, inv.reshape(-1)


def run_weights(runs: np.ndarray, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer bootstrap weights per point: whole runs drawn with replacement.

    Returns (W, counts): ``W`` has shape (n_boot, n_points); ``counts`` (n_boot, n_runs) counts
    per unique run in sorted order, so the same seed and run set give the same resamples.
    (For large data use :func:`run_counts`: ``W`` is n_boot x n_points.)
    """
    counts, inv = run_counts(runs, n_boot, seed)
    return counts[:, inv].astype(float), counts


def run_index(inv: np.ndarray, n_runs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points grouped by run: ``(order, start, length)`` with run ``r``'s points at
    ``order[start[r]:start[r] + length[r]]`` (in their original order)."""
    order = np.argsort(inv, kind="stable")
    length = np.bincount(inv, minlength=n_runs)
    return order, np.concatenate([[0], np.cumsum(length)[:-1]]), length


def drawn_points(counts: np.ndarray, runs: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The points each resample drew, padded: ``(index (B, m) int, weight (B, m) float)``.

    ``counts`` (B, n_runs) are the run counts of the resamples and ``runs`` the :func:`run_index`;
    a point's weight is its run's count. ``m`` is the largest number of points any resample drew;
    padding repeats the resample's first point with weight 0 (so the model stays finite there).
    """
    order, start, length = runs
    B = counts.shape[0]
    bb, rr = np.nonzero(counts)                                   # drawn (resample, run) pairs, in order
    L = length[rr]
    per_b = np.bincount(bb, weights=L, minlength=B).astype(np.intp)
    m = max(1, int(per_b.max(initial=0)))
    T = int(L.sum())
    pair = np.repeat(np.arange(len(rr)), L)
    pts = order[np.repeat(start[rr], L) + np.arange(T) - np.repeat(np.cumsum(L) - L, L)]
    row = bb[pair]
    first = np.cumsum(per_b) - per_b
    pos = np.arange(T) - np.repeat(first, per_b)
    index = np.repeat(pts[np.minimum(first, max(T - 1, 0))][:, None] if T else np.zeros((B, 1), np.intp), m, axis=1)
    index[row, pos] = pts
    w = np.zeros((B, m))
    w[row, pos] = counts[bb, rr][pair]
    return index, w


# ----------------------------------------------------------------------------------------------
# Result
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class BootstrapRefit:
    """The refitted resamples, in resample order.

    ``theta`` (k, p) internal parameters of the first ``k`` resamples that finished (all of them unless
    the time budget stopped the run), ``objective`` their F_b, ``converged`` whether each met the
    tolerance (the others stopped at ``max_iter`` and keep their best point), ``iterations`` per resample.
    """

    theta: np.ndarray
    objective: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    n_requested: int
    stopped_by_budget: bool
    seconds: float
    n_failed: int = 0          # resamples on which the objective was not finite (dropped)

    @property
    def n_done(self) -> int:
        return int(len(self.theta))

    @property
    def n_unconverged(self) -> int:
        return int(np.sum(~self.converged))

    def to_dict(self) -> dict:
        return {"n_requested": self.n_requested, "n_done": self.n_done, "n_unconverged": self.n_unconverged,
                "n_failed": self.n_failed, "stopped_by_budget": self.stopped_by_budget, "seconds": self.seconds,
                "mean_iterations": float(np.mean(self.iterations)) if self.n_done else 0.0}


# ----------------------------------------------------------------------------------------------
# Solver
# ----------------------------------------------------------------------------------------------
def evaluate(law, theta: np.ndarray, X: dict) -> tuple[np.ndarray, np.ndarray]:
    """log-prediction (B, m) and its Jacobian (B, m, p) at ``theta`` from one evaluation of the law."""
    both = getattr(law, "logpred_jac", None)
    if both is not None:
        return both(theta, X)
    return law.logpred(theta, X), law.jac(theta, X)


def gather(X: dict, index: np.ndarray) -> dict:
    """The variables at the drawn points, ``(B, m)`` each, plus ``"log " + v`` for positive ones.

    Laws read the logs through :func:`analysis.laws.base.log_rows`: taken once per block here, not at
    every iteration (a float64 log costs as much as the rest of a Jacobian entry on AVX2 hardware).
    """
    out = {}
    for v, a in X.items():
        a = np.asarray(a, dtype=float)
        out[v] = a[index]
        if not v.startswith("log ") and np.all(a > 0) and ("log " + v) not in X:
            out["log " + v] = np.log(a)[index]
    return out


def _bounds(law) -> tuple[np.ndarray, np.ndarray]:
    b = np.asarray(law.bounds(), dtype=float)
    return b[:, 0], b[:, 1]


def _solve(A: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Solve A s = -g for a stack of small SPD systems; a singular one falls back to least squares."""
    try:
        return np.linalg.solve(A, -g[..., None])[..., 0]
    except np.linalg.LinAlgError:
        out = np.zeros_like(g)
        for j in range(len(g)):
            out[j] = np.linalg.lstsq(A[j], -g[j], rcond=None)[0]
        return out


def _chunk_stats(law, theta: np.ndarray, X: dict, ly: np.ndarray, w: np.ndarray, objective: str,
                 delta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(F, g, H)`` of the rows of ``theta`` on one chunk of points: the weighted loss, its gradient
    ``J' (w rho')`` and the loss-curvature Gauss-Newton matrix ``J' diag(w rho'') J``, from one evaluation."""
    lp, J = evaluate(law, theta, X)
    r = lp - ly
    value, psi, curv = loss_terms(r, objective, delta)
    Jt = J.transpose(0, 2, 1)                                              # (b, p, m)
    f = np.sum(w * value, axis=1)
    g = np.matmul(Jt, (w * psi)[:, :, None])[:, :, 0]
    H = np.matmul(Jt * (w * curv)[:, None, :], J)
    return f, g, H


def _stream_stats(law, theta, Xg, lyg, wg, rows, objective, delta, stream: int):
    """:func:`_chunk_stats` of the block rows ``rows`` (None: all, in order) summed over chunks of
    ~``stream`` (resample, point) pairs. Chunking keeps the model's temporaries in cache and out of
    fresh memory (first-touch page faults cost as much as an exp per element on a VM)."""
    m = lyg.shape[1]
    step = int(max(1, stream // max(1, len(theta))))
    f, g, H = 0.0, 0.0, 0.0
    for a in range(0, m, step):
        sl = slice(a, a + step)
        pick = (lambda x: x[:, sl]) if rows is None else (lambda x: x[rows, sl])
        fc, gc, Hc = _chunk_stats(law, theta, {v: pick(x) for v, x in Xg.items()}, pick(lyg), pick(wg),
                                  objective, delta)
        f, g, H = f + fc, g + gc, H + Hc
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(f) & np.all(np.isfinite(g), axis=1) & np.all(np.isfinite(H), axis=(1, 2))
    return np.where(ok, f, np.inf), np.where(ok[:, None], g, 0.0), np.where(ok[:, None, None], H, 0.0)


def start_stats(law, X: dict, ly: np.ndarray, theta0: np.ndarray, objective: str, delta: float,
                group: np.ndarray, n_groups: int, stream: int | None = None) -> np.ndarray:
    """Per-group sums at ``theta0`` of ``(rho, J' rho', J' diag(rho'') J, diag(J'J))``: ``(n_groups, q)``.

    Every resample starts at the point fit, where the residuals and Jacobian are the same for all of
    them: one evaluation on the n points, summed per run, gives each resample's starting objective,
    gradient, curvature matrix and Marquardt scaling as ``counts @ sums``. Rows are NaN for a group
    with a non-finite term.
    """
    p = len(theta0)
    q = 1 + p + p * p + p
    step = max(1, (stream or STREAM_ELEMENTS) // 16)          # ~4k points per evaluation
    out = np.zeros((n_groups, q))
    buf = np.empty((min(step, len(ly)), q))                     # reused: no fresh pages per chunk
    for a in range(0, len(ly), step):
        sl = slice(a, a + step)
        lp, J = evaluate(law, theta0[None, :], {v: np.asarray(x, float)[sl] for v, x in X.items()})
        r, J = lp[0] - ly[sl], J[0]
        value, psi, curv = loss_terms(r, objective, delta)
        c = len(r)
        cols = buf[:c]
        cols[:, 0] = value
        np.multiply(psi[:, None], J, out=cols[:, 1:1 + p])
        np.multiply((curv[:, None] * J)[:, :, None], J[:, None, :], out=cols[:, 1 + p:1 + p + p * p].reshape(c, p, p))
        np.multiply(J, J, out=cols[:, 1 + p + p * p:])
        cols[~(np.isfinite(value) & np.all(np.isfinite(J), axis=1))] = np.nan
        if n_groups == 1:
            out[0] += cols.sum(axis=0)
        else:
            gi = group[sl]
            for k in range(q):
                out[:, k] += np.bincount(gi, weights=cols[:, k], minlength=n_groups)
    return out


def _unpack(S: np.ndarray, p: int):
    f = S[:, 0]
    g = S[:, 1:1 + p]
    H = S[:, 1 + p:1 + p + p * p].reshape(-1, p, p)
    d = S[:, 1 + p + p * p:]
    ok = np.all(np.isfinite(S), axis=1)
    return (np.where(ok, f, np.inf), np.where(ok[:, None], g, 0.0), np.where(ok[:, None, None], H, 0.0),
            np.where(ok[:, None], np.maximum(d, 1e-300), 1.0))


def refit_block(law, X: dict, ly: np.ndarray, index: np.ndarray, w: np.ndarray, theta0: np.ndarray,
                start: np.ndarray, objective: str, delta: float, *, max_iter: int = MAX_ITER, xtol: float = 1e-6,
                ftol: float = 1e-12, deadline: float | None = None, stream: int | None = None):
    """Refit one block of resamples from ``theta0``: resample ``b`` weighs point ``index[b, j]`` by
    ``w[b, j]`` (:func:`drawn_points`).

    ``start`` (B, q) holds each resample's sums at ``theta0`` (:func:`start_stats`, weighted). Returns
    ``(theta (B, p), F (B,), converged (B,), iterations (B,), finished (B,))``; ``finished`` is False
    only for resamples still running when ``deadline`` (a ``time.perf_counter`` value) passed.
    """
    lo, hi = _bounds(law)
    B, p = index.shape[0], len(theta0)
    stream = stream or STREAM_ELEMENTS
    Xg, lyg = gather(X, index), ly[index]
    out_theta = np.repeat(np.asarray(theta0, float)[None, :], B, axis=0)
    out_f = np.full(B, np.inf)
    out_conv = np.zeros(B, bool)
    out_iter = np.zeros(B, np.int64)
    out_fin = np.zeros(B, bool)

    # state of the running resamples (``ids``: their rows in the block), compacted whenever some finish;
    # the gathered points stay in place and each evaluation picks its rows chunk by chunk
    ids = np.arange(B)
    theta = out_theta.copy()
    f, g, H, d = _unpack(start, p)
    lam = np.full(B, LAM0)
    nu = np.full(B, 2.0)
    ok = np.isfinite(f)
    out_fin[~ok] = True                     # the law is not finite on this resample's data: give up on it
    eye = np.eye(p)
    it = 0
    while True:
        if not ok.all():
            ids, theta, f, g, H, d, lam, nu = (a[ok] for a in (ids, theta, f, g, H, d, lam, nu))
        if len(ids) == 0 or it >= max_iter:
            break
        if deadline is not None and time.perf_counter() > deadline:
            break
        it += 1
        s = _solve(H + (lam[:, None] * d)[:, :, None] * eye, g)
        cand = np.clip(theta + s, lo, hi)
        s = cand - theta
        small = np.max(np.abs(s), axis=1) <= xtol           # the model's minimum is within xtol: done
        fin = small.copy()
        r_ = np.flatnonzero(~small)
        if len(r_):
            rows = None if len(r_) == B else ids[r_]        # all rows of the block, in order: no copies
            fc, gc, Hc = _stream_stats(law, cand[r_], Xg, lyg, w, rows, objective, delta, stream)
            f_, s_ = f[r_], s[r_]
            pred = -(np.einsum("bp,bp->b", g[r_], s_) + 0.5 * np.einsum("bp,bpq,bq->b", s_, H[r_], s_))
            better = fc < f_
            flat = better & (f_ - fc <= ftol * f_) & (pred <= ftol * f_)
            # gain ratio (Nielsen): shrink lambda after a good step, grow it geometrically after a bad one
            with np.errstate(all="ignore"):
                gain = np.where(pred > 0, (f_ - fc) / pred, 0.0)
            lam_, nu_ = lam[r_], nu[r_]
            lam[r_] = np.where(better, lam_ * np.maximum(SHRINK, 1.0 - (2.0 * gain - 1.0) ** 3), lam_ * nu_)
            nu[r_] = np.where(better, 2.0, nu_ * 2.0)
            acc = r_[better]
            theta[acc], f[acc], g[acc], H[acc] = cand[acc], fc[better], gc[better], Hc[better]
            fin[r_] = flat | (~better & (lam[r_] > 1e16))    # converged, or no step lowers F: at its minimum
        if fin.any():
            k = ids[fin]
            out_theta[k], out_f[k], out_conv[k], out_iter[k], out_fin[k] = theta[fin], f[fin], True, it, True
        ok = ~fin
    out_theta[ids], out_f[ids], out_iter[ids] = theta, f, it
    out_fin[ids] = it >= max_iter            # reached the cap: finished, not converged
    return out_theta, out_f, out_conv, out_iter, out_fin


def refit_resamples(law, X: dict, ly: np.ndarray, runs: np.ndarray, theta0: np.ndarray, *, n_boot: int,
                    seed: int = 0, objective: str = "huber", delta: float = 1e-3, max_iter: int = MAX_ITER,
                    xtol: float = 1e-6, ftol: float = 1e-12, deadline: float | None = None,
                    block_elements: int = BLOCK_ELEMENTS) -> BootstrapRefit:
    """Refit ``n_boot`` run-level resamples of the data ``(X, ly)`` warm-started at ``theta0``.

    Parameters
    ----------
    law : Law
        The fitted law (``logpred_jac``, ``bounds``); its variables may be ``(B, m)`` arrays paired
        with the parameter rows.
    X : dict of str -> array (n,)
        The law's variables at the n points; ``ly`` (n,) the log of the observed values.
    runs : array (n,)
        Run of each point: resamples draw whole runs (:func:`run_counts`, same draws as
        :func:`run_weights` for the same seed).
    theta0 : array (p,)
        Internal parameters of the point fit (the warm start).
    objective, delta
        The fit's loss on log residuals and the Huber threshold.
    max_iter, xtol, ftol
        Iteration cap and convergence tolerances (module docstring).
    deadline : float, optional
        A ``time.perf_counter()`` value after which no new iteration starts.
    block_elements : int
        Memory bound: resamples x drawn points gathered per block.

    Returns
    -------
    BootstrapRefit
    """
    t0 = time.perf_counter()
    theta0 = np.asarray(theta0, dtype=float)
    counts, inv = run_counts(runs, n_boot, seed)
    n, p = len(ly), len(theta0)
    t_start = time.perf_counter()
    sums = start_stats(law, X, ly, theta0, objective, delta, inv, counts.shape[1])
    # a resample costs about four such passes (~5 evaluations on 63% of the points, plus its setup)
    per_resample = 4.0 * (time.perf_counter() - t_start)
    runs_ix = run_index(inv, counts.shape[1])
    bad = ~np.all(np.isfinite(sums), axis=1)
    sums[bad] = 0.0
    m_est = max(1, int(np.ceil(0.7 * n)))
    per_block = int(max(1, min(n_boot, block_elements // m_est)))
    thetas, fs, convs, iters = [], [], [], []
    stopped = False
    failed = 0
    start = 0
    while start < n_boot:
        size = per_block
        if deadline is not None:
            # size the block to half the time left (resamples of a block finish together, so an
            # interrupted block is lost): the blocks shrink geometrically towards the deadline
            if start:
                per_resample = (time.perf_counter() - t0) / start
            left = deadline - time.perf_counter()
            size = int(max(1, min(per_block, 0.5 * left / max(per_resample, 1e-9))))
        stop = min(n_boot, start + size)
        c = counts[start:stop]
        S = c @ sums
        S[(c[:, bad] > 0).any(axis=1)] = np.nan             # drew a run on which the law is not finite
        index, w = drawn_points(c, runs_ix)
        th, f, conv, its, fin = refit_block(law, X, ly, index, w, theta0, S, objective, delta,
                                            max_iter=max_iter, xtol=xtol, ftol=ftol, deadline=deadline)
        if not fin.all():
            keep = int(np.argmin(fin))          # the finished prefix of the interrupted block
            th, f, conv, its = th[:keep], f[:keep], conv[:keep], its[:keep]
            stopped = True
        good = np.isfinite(f)
        failed += int(np.sum(~good))
        thetas.append(th[good]), fs.append(f[good]), convs.append(conv[good]), iters.append(its[good])
        if stopped:
            break
        start = stop
        if deadline is not None and start < n_boot and time.perf_counter() > deadline:
            stopped = True
            break
    cat = (lambda a, shape: np.concatenate(a) if a else np.empty(shape))
    return BootstrapRefit(theta=cat(thetas, (0, p)), objective=cat(fs, (0,)), converged=cat(convs, (0,)).astype(bool),
                          iterations=cat(iters, (0,)).astype(np.int64), n_requested=int(n_boot),
                          stopped_by_budget=stopped, seconds=time.perf_counter() - t0, n_failed=failed)


def refine(law, X: dict, ly: np.ndarray, theta0: np.ndarray, objective: str = "huber", delta: float = 1e-3,
           *, max_iter: int = MAX_ITER) -> tuple[np.ndarray, float, bool]:
    """Levenberg-Marquardt on every row from ``theta0`` (the point fit of a subsample, see
    :func:`analysis.fit.init_rows`): ``(theta, F(theta), converged)``. Memory is linear in the rows."""
    n = len(ly)
    theta0 = np.asarray(theta0, dtype=float)
    S = start_stats(law, X, ly, theta0, objective, delta, np.zeros(n, np.intp), 1)
    th, f, conv, _, _ = refit_block(law, X, ly, np.arange(n)[None, :], np.ones((1, n)), theta0, S, objective,
                                    delta, max_iter=max_iter)
    return th[0], float(f[0]), bool(conv[0])
