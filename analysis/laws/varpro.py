"""Starting points by variable projection: the exponents on a grid, the linear coefficients by NNLS.

Most laws are linear in their coefficients once the exponents are fixed (``E + A N^-alpha + B D^-beta``
is linear in ``E, A, B`` for fixed ``alpha, beta``), so a dense grid over the exponents with the best
non-negative coefficients at each grid point finds the global basin that a local optimiser then
polishes (:mod:`analysis.fit`).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from analysis.laws.base import Array
from analysis.laws.maths import safe_log

EXP_GRID = np.linspace(0.02, 2.0, 32)
"""Default exponent grid of the two-exponent laws (Chinchilla, data-constrained)."""


VARPRO_CHUNK_ELEMENTS = 262_144
"""Values (grid points x rows x terms) held at once by :func:`varpro` and :func:`varpro_terms` (2 MB: large
temporaries are page-faulted afresh at every allocation)."""


def varpro(design: Callable[[tuple], Array], y: Array, grids: list[Array]) -> tuple[Array, Array]:
    """Variable projection: for each exponent tuple on the grid, NNLS for the linear coefficients.

    ``design(exps)`` returns the (n, K) matrix of basis functions; the model is ``design @ coef``
    with ``coef >= 0``, fitted in relative least squares (``sum ((design @ coef)/y - 1)^2``, which is
    log least squares to first order). NNLS is solved exactly for every grid point at once by
    enumerating the 2^K - 1 active sets: the NNLS optimum is the best feasible active-set solution.
    Grid points are then ranked by the squared error of the log predictions.
    Returns (best exps, best coefs).

    The grid is processed in chunks of at most :data:`VARPRO_CHUNK_ELEMENTS` basis values, so memory
    is linear in n (the whole (G, n, K) stack took 7 GB at 10^5 rows). When every basis function
    depends on one exponent at most, :func:`varpro_terms` gives the same answer far faster.
    """
    mesh = _mesh(grids)
    y = np.asarray(y, dtype=float)
    n = len(y)
    K = np.shape(design(tuple(mesh[0])))[1]
    step = int(max(1, VARPRO_CHUNK_ELEMENTS // max(1, n * K)))
    best = (np.inf, -1, None)
    for start in range(0, len(mesh), step):
        A = np.stack([design(tuple(e)) for e in mesh[start:start + step]]) / y[None, :, None]   # (g, n, K)
        AtA = np.matmul(A.transpose(0, 2, 1), A)
        err, coef = _nnls_from_gram(AtA, A.sum(axis=1), n)
        with np.errstate(all="ignore"):
            ratio = np.matmul(A, coef[:, :, None])[:, :, 0]                     # prediction / y
        best = _better(best, _log_score(ratio, err), coef, start)
    return _result(mesh, best)


def varpro_terms(terms: list[tuple[int | None, Callable]], y: Array, grids: list[Array]) -> tuple[Array, Array]:
    """:func:`varpro` for designs whose basis functions each depend on one exponent at most.

    ``terms`` lists ``(axis, column)`` per basis function: ``axis`` None for a function without
    exponent (``column(None)`` -> (n,)), else the index of the grid its exponent comes from
    (``column(e)`` -> (n,) for ``e`` in ``grids[axis]``). Chinchilla's ``[1, N^-alpha, D^-beta]`` is
    ``[(None, 1), (0, N^-e), (1, D^-e)]``. The Gram matrices of all grid points are assembled from
    products of the per-axis columns (``V_k V_l^T``, one matrix product per pair of axes), so the
    basis is evaluated ``sum_j |grid_j|`` times instead of ``prod_j |grid_j|`` times; same result as
    ``varpro(lambda e: column_stack([column(e[axis]) ...]), y, grids)``.
    """
    mesh_index = _mesh([np.arange(len(g)) for g in grids]).astype(int)      # (G, J) grid positions
    y = np.asarray(y, dtype=float)
    n, G, K = len(y), len(mesh_index), len(terms)
    V = [np.atleast_2d(np.stack([col(e) for e in grids[ax]]) if ax is not None else col(None)) / y
         for ax, col in terms]                                               # (|grid_axis| or 1, n)
    idx = [mesh_index[:, ax] if ax is not None else np.zeros(G, int) for ax, _ in terms]
    AtA = np.empty((G, K, K))
    for k in range(K):
        for l in range(k, K):
            same = terms[k][0] is not None and terms[k][0] == terms[l][0]
            if same:
                AtA[:, k, l] = np.einsum("gn,gn->g", V[k], V[l])[idx[k]]
            else:
                AtA[:, k, l] = (V[k] @ V[l].T)[idx[k], idx[l]]
            AtA[:, l, k] = AtA[:, k, l]
    Atb = np.stack([V[k].sum(axis=1)[idx[k]] for k in range(K)], axis=1)
    err, coef = _nnls_from_gram(AtA, Atb, n)
    step = int(max(1, VARPRO_CHUNK_ELEMENTS // max(1, n * K)))
    best = (np.inf, -1, None)
    for start in range(0, G, step):
        sl = slice(start, start + step)
        with np.errstate(all="ignore"):
            ratio = sum(coef[sl, k, None] * V[k][idx[k][sl]] for k in range(K))   # prediction / y
        best = _better(best, _log_score(ratio, err[sl]), coef[sl], start)
    return _result(_mesh(grids), best)


def _mesh(grids) -> Array:
    return np.stack(np.meshgrid(*grids, indexing="ij"), -1).reshape(-1, len(grids))


def _nnls_from_gram(AtA: Array, Atb: Array, n: int) -> tuple[Array, Array]:
    """Exact NNLS of ``A_g c ~ 1`` for a stack of Gram matrices ``A_g' A_g`` (G, K, K) and ``A_g' 1``
    (G, K), by enumerating the active sets: ``(residual sum of squares (G,), coef (G, K))``."""
    G, K = Atb.shape
    best_err = np.full(G, np.inf)
    best_coef = np.zeros((G, K))
    for mask in range(1, 2 ** K):
        S = [k for k in range(K) if mask >> k & 1]
        sub = AtA[:, S][:, :, S] + 1e-12 * np.eye(len(S)) * np.abs(AtA[:, S][:, :, S]).max(axis=(1, 2))[:, None, None]
        with np.errstate(all="ignore"):
            c = np.linalg.solve(sub, Atb[:, S][..., None])[..., 0]
        coef = np.zeros((G, K))
        coef[:, S] = c
        feasible = np.all(c >= 0, axis=1) & np.all(np.isfinite(c), axis=1)
        # ||A c - 1||^2 from the Gram matrices: O(G K^2) instead of O(G n K) per active set
        resid = np.einsum("gk,gkl,gl->g", coef, AtA, coef) - 2.0 * np.einsum("gk,gk->g", coef, Atb) + n
        take = feasible & (resid < best_err)
        best_err[take], best_coef[take] = resid[take], coef[take]
    return best_err, best_coef


def _log_score(ratio: Array, err: Array) -> Array:
    """Squared log error ``sum (log(prediction / y))^2`` per grid point (inf where infeasible)."""
    with np.errstate(all="ignore"):
        score = np.sum(np.log(np.where(ratio > 0, ratio, np.nan)) ** 2, axis=1)
    return np.where(np.isfinite(score) & np.isfinite(err), score, np.inf)


def _better(best, score: Array, coef: Array, start: int):
    g = int(np.argmin(score))
    return (score[g], start + g, coef[g]) if score[g] < best[0] else best


def _result(mesh: Array, best) -> tuple[Array, Array]:
    if not np.isfinite(best[0]):
        raise ValueError("no valid starting point found on the exponent grid")
    return mesh[best[1]], best[2]


def saturating_inits(x, y) -> list[tuple[float, float, float]]:
    """(log a, log b, c0) starts from a variable-projection fit of y = a + b x^-c0 (the best two)."""
    from scipy.optimize import nnls

    grid = np.linspace(-0.5, 1.5, 41)
    grid = grid[np.abs(grid) > 1e-3]
    best = []
    ly = np.log(y)
    for c0 in grid:
        M = np.column_stack([np.ones_like(x), x ** -c0])
        coef, _ = nnls(M / y[:, None], np.ones_like(y), maxiter=200)
        pred = M @ coef
        if np.any(pred <= 0) or not np.all(np.isfinite(pred)):
            continue
        best.append((np.sum((np.log(pred) - ly) ** 2), c0, coef))
    best.sort(key=lambda t: t[0])
    return [(safe_log(cf[0]), safe_log(cf[1]), c0) for _, c0, cf in best[:2]]
