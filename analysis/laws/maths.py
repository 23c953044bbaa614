"""Maths shared by the laws: a lean logsumexp, softplus, the logistic function, and sums of power terms.

Chinchilla, the saturating 1-D laws and (after its effective N', D') the data-constrained law are
sums of power terms,

.. math::
    \\log \\hat y = \\operatorname{logsumexp}_k \\Big(c_k - \\sum_j \\alpha_{kj} \\log x_j\\Big),

whose log-prediction and Jacobian :func:`power_terms` builds from the list of terms.
"""
from __future__ import annotations

import numpy as np

from analysis.laws.base import Array, log_rows


def logsumexp(a: Array, axis: int, keepdims: bool = False) -> Array:
    """log(sum(exp(a))) along ``axis``, stable; a lean stand-in for scipy's (10x less overhead)."""
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def softplus(t: Array) -> Array:
    """log(1 + exp(t)), stable."""
    return np.logaddexp(0.0, t)


def expit(t: Array) -> Array:
    """The logistic function 1 / (1 + exp(-t)): ``scipy.special.expit``, imported at the first call, as every
    scipy import of the analyses is: not when a page starts (``tests/test_startup_imports.py``)."""
    from scipy.special import expit as logistic

    return logistic(t)


def safe_log(c) -> Array:
    """log of coefficients from a non-negative least-squares solve (zeros become log 1e-12)."""
    return np.log(np.maximum(c, 1e-12))


def power_terms(terms, variables, p):
    """logpred and Jacobian of log y = logsumexp_k (c_k - sum_j alpha_kj log x_j).

    ``terms`` lists (coefficient index, [(exponent index, variable), ...]) per term; ``p`` is the
    number of parameters. Variables broadcast as in :func:`analysis.laws.base.rows` (shared ``(n,)``
    or paired ``(B, m)``).
    """
    def log_terms(theta, X):
        L = {v: log_rows(X, v) for v in variables}
        shape = np.broadcast_shapes((theta.shape[0], 1), *(l.shape for l in L.values()))
        T = []
        for ci, exps in terms:
            t = theta[:, ci, None]
            for ei, var in exps:
                t = t - theta[:, ei, None] * L[var]
            T.append(np.broadcast_to(t, shape))
        return np.stack(T, axis=1), L                                # (B, K, n)

    def logpred(theta, X):
        return logsumexp(log_terms(theta, X)[0], axis=1)

    def jac(theta, X):
        T, L = log_terms(theta, X)
        w = np.exp(T - logsumexp(T, axis=1, keepdims=True))        # softmax over terms (B, K, n)
        J = np.zeros((theta.shape[0], T.shape[2], p))
        for k, (ci, exps) in enumerate(terms):
            J[:, :, ci] += w[:, k]
            for ei, var in exps:
                J[:, :, ei] -= w[:, k] * L[var]
        return J

    def combined(theta, X):
        # The bootstrap's hot path (H7): terms in linear space, one exp per term that has exponents (a
        # term without is one value per row) and one log, instead of K exps + 1 log; the Jacobian is
        # built parameter-major (contiguous rows) and returned as a (B, n, p) view.
        L = {v: log_rows(X, v) for v in variables}
        with np.errstate(over="ignore", under="ignore"):
            E = []
            for ci, exps in terms:
                t = theta[:, ci, None]
                for ei, var in exps:
                    t = t - theta[:, ei, None] * L[var]
                E.append(np.exp(t))
            tot = E[0]
            for e in E[1:]:
                tot = tot + e
        if np.all(np.isfinite(tot) & (tot > 0)):
            lp = np.log(tot)
        else:                                                         # overflow or underflow: shifted form
            T, L = log_terms(theta, X)
            lse = logsumexp(T, axis=1, keepdims=True)
            E, tot, lp = list(np.moveaxis(np.exp(T - lse), 1, 0)), 1.0, lse[:, 0]
        lp = np.broadcast_to(lp, np.broadcast_shapes(*(np.shape(e) for e in E)))
        inv = 1.0 / tot
        Jt = np.empty((theta.shape[0], p, lp.shape[1]))
        written = np.zeros(p, bool)
        for k, (ci, exps) in enumerate(terms):
            wk = E[k] * inv                                           # share of term k in y
            for j, val in [(ci, wk)] + [(ei, -wk * L[var]) for ei, var in exps]:
                if written[j]:
                    Jt[:, j] += val
                else:
                    Jt[:, j], written[j] = val, True
        Jt[:, ~written] = 0.0
        return lp, Jt.transpose(0, 2, 1)
    return logpred, jac, combined
