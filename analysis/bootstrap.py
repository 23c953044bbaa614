"""Run-level bootstrap refits: one batched Levenberg-Marquardt over all resamples.

Resample ``b`` draws whole runs with replacement (:mod:`analysis.resample`); as integer weights
:math:`w_{bi}` on the points its objective is

.. math::
    F_b(\\theta) = \\sum_i w_{bi}\\, \\rho\\big(r_i(\\theta)\\big), \\qquad
    r_i(\\theta) = \\log \\hat y(x_i; \\theta) - \\log y_i ,

with :math:`\\rho` the fit's loss on log residuals (:mod:`analysis.loss`). All resamples start at the
point fit :math:`\\theta_0` and are refitted together:

* **Only the points a resample drew** (:math:`w_{bi} > 0`, ~63% of the runs) are evaluated: they are
  gathered into a ``(B, m)`` block and the law is called with its variables of shape ``(B, m)`` paired row
  by row with the parameters of shape ``(B, p)`` (every law in the registry is broadcasting-generic).
* **The loss's own curvature.** Each iteration solves, per resample, the damped Newton system of the
  loss's exact second-order model (Gauss-Newton in the law)

  .. math::
      \\big(H + \\lambda\\,\\mathrm{diag}(d)\\big)\\, s = -g, \\qquad
      g = J^\\top (w\\,\\rho'(r)), \\quad H = J^\\top \\mathrm{diag}(w\\,\\rho''(r))\\, J,

  where :math:`\\rho''` is 1 inside the Huber threshold and 0 outside (1 for squared error, :math:`\\tau`
  or :math:`1 - \\tau` for the lower envelope) and :math:`d = \\mathrm{diag}(J^\\top \\mathrm{diag}(w) J)`
  at :math:`\\theta_0` (Marquardt's scaling: it keeps the system regular where few points lie inside the
  Huber threshold). An IRLS weight :math:`\\min(1, \\delta/|r|)` instead needed ~60 iterations per
  resample on Epoch's points (118 of 1,000 unconverged at 100); this needs ~9 and converges on all.
* **One evaluation per step.** The trial point's prediction and Jacobian come from one call of
  ``law.logpred_jac``, and :math:`F, g, H` are accumulated over chunks of (resample, point) pairs in the
  same pass (no residual or Jacobian is stored), so an accepted step already has the next system. A
  chunk's Jacobian is at most ``JACOBIAN_BYTES``: with larger ones glibc hands the freed temporaries back
  to the kernel after every chunk and the next chunk page-faults them in again (on Epoch's points, 2.6 MB
  Jacobians cost 29,000 page faults per 1,000 resamples and half the solver's time).
* **One start for all.** At :math:`\\theta_0` the residuals and Jacobian are the same for every
  resample: one evaluation on the n points, summed per run, gives every resample's starting
  :math:`F, g, H, d` (:func:`start_stats`).
* The step is kept when it lowers :math:`F_b`; :math:`\\lambda` follows Nielsen's gain-ratio rule.

A resample has *converged* when its next step would move no internal parameter (log of a coefficient,
or an exponent) by more than ``xtol`` (1e-6: a relative change far below what an interval resolves), or
when the actual and predicted relative decrease of :math:`F_b` are both below ``ftol``. Resamples that
reach ``max_iter`` keep their best point and are counted (:attr:`BootstrapRefit.n_unconverged`).

The time budget (``deadline``) is checked at every iteration. Resamples run in blocks in index order;
near the deadline the blocks shrink (half the time left each), the finished blocks are kept, and of an
interrupted block the leading resamples that had finished (a prefix, so the kept set does not favour
resamples that converge fast).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from analysis.loss import loss_terms
from analysis.resample import draw_counts, drawn_points, gather, run_index

MAX_ITER = 300               # iterations per resample before it counts as unconverged (bnsl/m4 valleys take 100-300)
LAM0 = 1e-5                  # initial damping, relative to Marquardt's scaling
SHRINK = 0.1                 # smallest factor lambda shrinks by after a good step (Nielsen's rule uses 1/3)
BLOCK_ELEMENTS = 2_000_000   # resamples x drawn points gathered per block (16 MB per gathered array)
JACOBIAN_BYTES = 1 << 20     # per model evaluation: (resample, point) pairs per chunk = this / (8 p)


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
    lp, J = law.logpred_jac(theta, X)
    r = lp - ly
    value, psi, curv = loss_terms(r, objective, delta)
    Jt = J.transpose(0, 2, 1)                                              # (b, p, m)
    f = np.einsum("bm,bm->b", w, value)
    g = np.matmul(Jt, (w * psi)[:, :, None])[:, :, 0]
    H = np.matmul(Jt * (w * curv)[:, None, :], J)
    return f, g, H


def stream_pairs(p: int) -> int:
    """(resample, point) pairs per model evaluation for a law of ``p`` parameters (``JACOBIAN_BYTES``)."""
    return max(1024, JACOBIAN_BYTES // (8 * p))


def _stream_stats(law, theta, Xg, lyg, wg, rows, objective, delta, stream: int):
    """:func:`_chunk_stats` of the block rows ``rows`` (None: all, in order) summed over chunks of
    ~``stream`` (resample, point) pairs. Chunking keeps the model's temporaries in cache and out of
    fresh memory (first-touch page faults cost as much as an exp per element on a VM)."""
    if len(theta) > stream:          # more running resamples than a chunk holds pairs: the rows in groups too
        groups = range(0, len(theta), stream)
        parts = [_stream_stats(law, theta[a:a + stream], Xg, lyg, wg,
                               np.arange(a, min(a + stream, len(theta))) if rows is None else rows[a:a + stream],
                               objective, delta, stream) for a in groups]
        return tuple(np.concatenate(p) for p in zip(*parts))
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
    step = max(1, (stream or stream_pairs(p)) // 8)            # a few thousand points per evaluation
    out = np.zeros((n_groups, q))
    buf = np.empty((min(step, len(ly)), q))                     # reused: no fresh pages per chunk
    for a in range(0, len(ly), step):
        sl = slice(a, a + step)
        lp, J = law.logpred_jac(theta0[None, :], {v: np.asarray(x, float)[sl] for v, x in X.items()})
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
    """``(F, g, H, d)`` from rows of :func:`start_stats` sums; F is inf where a sum is not finite. The
    scaling ``d`` is floored at 1e-12 of its largest entry (a parameter none of the points moves)."""
    f = S[:, 0]
    g = S[:, 1:1 + p]
    H = S[:, 1 + p:1 + p + p * p].reshape(-1, p, p)
    d = S[:, 1 + p + p * p:]
    ok = np.all(np.isfinite(S), axis=1)
    d = np.maximum(d, 1e-12 * np.max(np.abs(d), axis=1, keepdims=True) + 1e-300)
    return (np.where(ok, f, np.inf), np.where(ok[:, None], g, 0.0), np.where(ok[:, None, None], H, 0.0),
            np.where(ok[:, None], d, 1.0))


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
    stream = stream or stream_pairs(p)
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
    p = len(theta0)
    if deadline is not None and t0 >= deadline:         # the budget went on the point fit
        return BootstrapRefit(np.empty((0, p)), np.empty(0), np.empty(0, bool), np.empty(0, np.int64),
                              int(n_boot), True, 0.0)
    uniq, inv = np.unique(np.asarray(runs), return_inverse=True)
    inv, n_runs = inv.reshape(-1), len(uniq)
    rng = np.random.default_rng(seed)           # drawn block by block: the same rows as run_counts(runs, n_boot, seed)
    n = len(ly)
    t_start = time.perf_counter()
    sums = start_stats(law, X, ly, theta0, objective, delta, inv, n_runs)
    # a resample costs about four such passes (~5 evaluations on 63% of the points, plus its setup)
    per_resample = 4.0 * (time.perf_counter() - t_start)
    runs_ix = run_index(inv, n_runs)
    bad = ~np.all(np.isfinite(sums), axis=1)
    sums[bad] = 0.0
    m_est = max(1, int(np.ceil(0.7 * n)))
    per_block = int(max(1, min(n_boot, block_elements // m_est)))
    thetas, fs, convs, iters = [], [], [], []
    stopped = False
    failed = 0
    start = 0
    in_blocks = 0.0
    while start < n_boot:
        size = per_block
        if deadline is not None:
            # size the block to half the time left (resamples of a block finish together, so an
            # interrupted block is lost): the blocks shrink geometrically towards the deadline
            if start:
                per_resample = in_blocks / start
            left = deadline - time.perf_counter()
            size = int(max(1, min(per_block, 0.5 * left / max(per_resample, 1e-9))))
        t_block = time.perf_counter()
        stop = min(n_boot, start + size)
        c = draw_counts(rng, n_runs, stop - start)
        S = c @ sums
        S[(c[:, bad] > 0).any(axis=1)] = np.nan             # drew a run on which the law is not finite
        index, w = drawn_points(c, runs_ix)
        th, f, conv, its, fin = refit_block(law, X, ly, index, w, theta0, S, objective, delta,
                                            max_iter=max_iter, xtol=xtol, ftol=ftol, deadline=deadline)
        if not fin.all():
            keep = int(np.argmin(fin))          # the finished prefix of the interrupted block
            th, f, conv, its = th[:keep], f[:keep], conv[:keep], its[:keep]
            stopped = True
        in_blocks += time.perf_counter() - t_block
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
