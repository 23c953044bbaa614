"""Run-level resampling: which runs, and so which points, each bootstrap resample draws.

Checkpoints of one run are correlated, so a resample draws whole runs with replacement: ``n_runs``
draws from the runs (sorted unique values of ``run``), uniformly. As data, resample ``b`` is the same
points with integer weights ``counts[b, run of the point]``; a point of a run it did not draw has weight
0 and is not evaluated at all (:func:`drawn_points`).
"""
from __future__ import annotations

import numpy as np


def run_counts(runs: np.ndarray, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """How often each resample draws each run: ``(counts (n_boot, n_runs), inv (n_points,))``.

    ``inv`` maps each point to its run, so the point weights of resample ``b`` are ``counts[b, inv]``.
    Same seed and run set, same resamples; the first k resamples of n are the k resamples of the same
    seed (the generator draws them one after another), so they can be drawn block by block.
    """
    uniq, inv = np.unique(np.asarray(runs), return_inverse=True)
    rng = np.random.default_rng(seed)
    return draw_counts(rng, len(uniq), n_boot), inv.reshape(-1)


def draw_counts(rng: np.random.Generator, n_runs: int, n: int) -> np.ndarray:
    """The next ``n`` resamples of ``rng``: run counts (n, n_runs), each row summing to ``n_runs``."""
    return rng.multinomial(n_runs, np.full(n_runs, 1.0 / n_runs), size=n)


def run_weights(runs: np.ndarray, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer bootstrap weights per point: ``(W (n_boot, n_points), counts (n_boot, n_runs))``.

    The dense form of :func:`run_counts` (n_boot x n_points: for small data and tests).
    """
    counts, inv = run_counts(runs, n_boot, seed)
    return counts[:, inv].astype(float), counts


def run_index(inv: np.ndarray, n_runs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points grouped by run: ``(order, start, length)``, run ``r``'s points being
    ``order[start[r]:start[r] + length[r]]`` in their original order."""
    order = np.argsort(inv, kind="stable")
    length = np.bincount(inv, minlength=n_runs)
    return order, np.concatenate([[0], np.cumsum(length)[:-1]]), length


def drawn_points(counts: np.ndarray, runs: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The points each resample drew, padded: ``(index (B, m) int, weight (B, m) float)``.

    ``counts`` (B, n_runs) are the resamples' run counts and ``runs`` the :func:`run_index`; a point's
    weight is its run's count. ``m`` is the largest number of points a resample drew (about 63% of the
    points); padding repeats the resample's first point with weight 0, so the model stays finite there.
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
    first = np.cumsum(per_b) - per_b
    row, pos = bb[pair], np.arange(T) - np.repeat(first, per_b)
    index = np.repeat(pts[np.minimum(first, max(T - 1, 0))][:, None] if T else np.zeros((B, 1), np.intp), m, axis=1)
    index[row, pos] = pts
    w = np.zeros((B, m))
    w[row, pos] = counts[bb, rr][pair]
    return index, w


def gather(X: dict, index: np.ndarray) -> dict:
    """The variables at the drawn points, ``(B, m)`` each, plus ``"log " + v`` for positive ones.

    Laws read the logs through :func:`analysis.laws.base.log_rows`, so they are taken once per block
    instead of at every model evaluation (a float64 log costs as much as the rest of a Jacobian entry
    on AVX2 hardware, where numpy's exp and log are scalar).
    """
    out = {}
    for v, a in X.items():
        a = np.asarray(a, dtype=float)
        out[v] = a[index]
        if not v.startswith("log ") and np.all(a > 0) and ("log " + v) not in X:
            out["log " + v] = np.log(a)[index]
    return out
