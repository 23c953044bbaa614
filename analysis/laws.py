"""The scaling-law registry.

Every law predicts a positive quantity ``y`` (a loss in nats, an error rate ...) from scale variables
taken from the fit frame: ``N`` parameters, ``D`` training tokens, ``C`` training FLOPs, ``step``
optimiser steps, ``U`` unique tokens, and for the annealing law the schedule areas ``S1``, ``S2``
(see :func:`anneal_areas`). Fits happen in log space, so each law provides

* ``logpred(theta, X)``: :math:`\\log \\hat y` for a batch of internal parameter vectors ``theta``
  of shape ``(B, p)``, returning shape ``(B, n)``;
* ``jac(theta, X)``: the analytic Jacobian :math:`\\partial \\log \\hat y / \\partial \\theta`,
  shape ``(B, n, p)``;
* ``init(X, y)``: candidate starting points, shape ``(M, p)``, from variable projection or a grid.

Internal parameters are unconstrained where the public one is positive: a parameter with
``log=True`` is estimated as its natural logarithm, so every coefficient stays positive by
construction. Public values (``Law.to_public``) are what users see and what ``predict`` takes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy.optimize import nnls
from scipy.special import expit

Array = np.ndarray
X_ALIASES = {"params": "N", "tokens": "D", "flops": "C", "n": "N", "d": "D", "c": "C"}
VAR_UNITS = {"N": "parameters", "D": "tokens", "C": "FLOPs", "step": "steps", "U": "unique tokens",
             "S1": "LR-area (steps x LR)", "S2": "annealing area"}


@dataclass(frozen=True)
class Param:
    """One law parameter: name, meaning, bounds in public units, and whether it is fitted in log."""

    name: str
    meaning: str
    lower: float
    upper: float
    log: bool = False

    def internal_bounds(self) -> tuple[float, float]:
        if self.log:
            return (np.log(self.lower) if self.lower > 0 else -50.0, np.log(self.upper))
        return (self.lower, self.upper)


@dataclass(frozen=True, eq=False)
class Law:
    """A scaling law: formula, parameters, variables, and the maths the fitter needs."""

    name: str
    title: str
    formula: str
    latex: str
    variables: tuple[str, ...]
    params: tuple[Param, ...]
    logpred: Callable[[Array, dict], Array] = field(repr=False)
    jac: Callable[[Array, dict], Array] = field(repr=False)
    init: Callable[[dict, Array], Array] = field(repr=False)
    reference: str = ""
    allocatable: bool = False   # has N and D (or C via N, D): compute-optimal allocation applies
    grid_edges: tuple[tuple[int, float, float], ...] = ()   # (param index, grid lo, grid hi) for edge warnings

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def to_public(self, theta: Array) -> Array:
        theta = np.asarray(theta, dtype=float)
        out = theta.copy()
        for k, p in enumerate(self.params):
            if p.log:
                out[..., k] = np.exp(theta[..., k])
        return out

    def to_internal(self, values: Array) -> Array:
        values = np.asarray(values, dtype=float)
        out = values.copy()
        for k, p in enumerate(self.params):
            if p.log:
                out[..., k] = np.log(values[..., k])
        return out

    def bounds(self) -> list[tuple[float, float]]:
        return [p.internal_bounds() for p in self.params]

    def predict(self, params: dict[str, float], X: dict) -> Array:
        """Evaluate the law at public parameter values ``params`` on variables ``X`` (y units)."""
        theta = self.to_internal(np.array([params[n] for n in self.param_names], dtype=float))
        return np.exp(self.logpred(theta[None, :], as_arrays(X, self.variables))[0])

    def describe(self) -> dict:
        return {"name": self.name, "title": self.title, "formula": self.formula, "latex": self.latex,
                "variables": list(self.variables), "reference": self.reference,
                "parameters": [{"name": p.name, "meaning": p.meaning, "bounds": [p.lower, p.upper]}
                               for p in self.params]}


def as_arrays(X, variables) -> dict[str, Array]:
    """Pull ``variables`` out of a DataFrame or mapping as float64 arrays."""
    out = {}
    for v in variables:
        col = X[v]
        out[v] = np.asarray(col, dtype=float).reshape(-1)
    return out


# --------------------------------------------------------------------------------------------
# Sums of power terms:  log y = logsumexp_k ( c_k - sum_j alpha_kj log x_j )
# Chinchilla, the 1-D saturating laws and the data-constrained law are of this shape.
# --------------------------------------------------------------------------------------------
EXP_GRID = np.linspace(0.02, 2.0, 32)


def logsumexp(a: Array, axis: int, keepdims: bool = False) -> Array:
    """log(sum(exp(a))) along ``axis``, stable; a lean stand-in for scipy's (10x less overhead)."""
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def _lse_law_fns(terms, variables, p):
    """logpred and Jacobian of log y = logsumexp_k (c_k - sum_j alpha_kj log x_j).

    ``terms`` lists (coefficient index, [(exponent index, variable), ...]) per term.
    The log-terms are one matmul: T = c - P @ log X with P (B, K, V) the exponents per term.
    """
    K, V = len(terms), len(variables)
    cidx = np.array([ci for ci, _ in terms])
    slots = [(k, ei, variables.index(var)) for k, (_, exps) in enumerate(terms) for ei, var in exps]

    def log_terms(theta, X):
        L = np.stack([np.log(X[v]) for v in variables])             # (V, n)
        P = np.zeros((theta.shape[0], K, V))
        for k, ei, j in slots:
            P[:, k, j] = theta[:, ei]
        return theta[:, cidx, None] - P @ L, L

    def logpred(theta, X):
        return logsumexp(log_terms(theta, X)[0], axis=1)

    def jac(theta, X):
        T, L = log_terms(theta, X)
        w = np.exp(T - logsumexp(T, axis=1, keepdims=True))       # softmax over terms (B, K, n)
        J = np.zeros((theta.shape[0], T.shape[2], p))
        for k, ci in enumerate(cidx):
            J[:, :, ci] += w[:, k]
        for k, ei, j in slots:
            J[:, :, ei] -= w[:, k] * L[j][None, :]
        return J
    return logpred, jac


def _varpro(design: Callable[[tuple], Array], y: Array, grids: list[Array]) -> tuple[Array, Array]:
    """Variable projection: for each exponent tuple on the grid, NNLS for the linear coefficients.

    ``design(exps)`` returns the (n, K) matrix of basis functions; the model is ``design @ coef``
    with ``coef >= 0``, fitted in relative least squares (``sum ((design @ coef)/y - 1)^2``, which is
    log least squares to first order). NNLS is solved exactly for every grid point at once by
    enumerating the 2^K - 1 active sets: the NNLS optimum is the best feasible active-set solution.
    Grid points are then ranked by the squared error of the log predictions.
    Returns (best exps, best coefs).
    """
    mesh = np.stack(np.meshgrid(*grids, indexing="ij"), -1).reshape(-1, len(grids))
    M = np.stack([design(tuple(e)) for e in mesh])            # (G, n, K)
    A = M / y[None, :, None]
    G, n, K = A.shape
    AtA = np.matmul(A.transpose(0, 2, 1), A)
    Atb = A.sum(axis=1)
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
    pred = np.matmul(M, best_coef[:, :, None])[:, :, 0]
    with np.errstate(all="ignore"):
        score = np.sum((np.log(np.where(pred > 0, pred, np.nan)) - np.log(y)[None, :]) ** 2, axis=1)
    score = np.where(np.isfinite(score) & np.isfinite(best_err), score, np.inf)
    g = int(np.argmin(score))
    if not np.isfinite(score[g]):
        raise ValueError("no valid starting point found on the exponent grid")
    return mesh[g], best_coef[g]


def _safe_log(c):
    return np.log(np.maximum(c, 1e-12))


def chinchilla() -> Law:
    params = (Param("E", "irreducible loss (y units)", 1e-6, 1e3, log=True),
              Param("A", "parameter-term coefficient", 1e-6, 1e12, log=True),
              Param("B", "data-term coefficient", 1e-6, 1e12, log=True),
              Param("alpha", "parameter exponent", 0.0, 3.0),
              Param("beta", "data exponent", 0.0, 3.0))
    terms = [(0, []), (1, [(3, "N")]), (2, [(4, "D")])]
    logpred, jac = _lse_law_fns(terms, ("N", "D"), 5)

    def init(X, y):
        N, D = X["N"], X["D"]
        exps, coef = _varpro(lambda e: np.column_stack([np.ones_like(N), N ** -e[0], D ** -e[1]]),
                             y, [EXP_GRID, EXP_GRID])
        return np.array([[*_safe_log(coef), exps[0], exps[1]]])

    return Law("chinchilla", "Chinchilla L(N, D)", "L = E + A/N^alpha + B/D^beta",
               r"L(N,D) = E + \frac{A}{N^{\alpha}} + \frac{B}{D^{\beta}}", ("N", "D"), params,
               logpred, jac, init, reference="Hoffmann et al. 2022 (Approach 3); Besiroglu et al. 2024",
               allocatable=True, grid_edges=((3, EXP_GRID[0], EXP_GRID[-1]), (4, EXP_GRID[0], EXP_GRID[-1])))


def saturating(var: str) -> Law:
    """y = E + A * x^-alpha in one variable."""
    params = (Param("E", "irreducible value (y units)", 1e-8, 1e3, log=True),
              Param("A", "coefficient", 1e-8, 1e15, log=True),
              Param("alpha", "exponent", 0.0, 3.0))
    terms = [(0, []), (1, [(2, var)])]
    logpred, jac = _lse_law_fns(terms, (var,), 3)
    grid = np.linspace(0.005, 2.0, 200)

    def init(X, y):
        x = X[var]
        exps, coef = _varpro(lambda e: np.column_stack([np.ones_like(x), x ** -e[0]]), y, [grid])
        return np.array([[*_safe_log(coef), exps[0]]])

    name = {"N": "power_n", "D": "power_d", "C": "power_c", "step": "power_step"}[var]
    return Law(name, f"Saturating power law in {var}", f"y = E + A*{var}^-alpha",
               rf"y = E + A\,{var}^{{-\alpha}}", (var,), params, logpred, jac, init,
               reference="standard single-curve baseline",
               grid_edges=((2, grid[0], grid[-1]),))


def pure_power(var: str) -> Law:
    """Kaplan's pure power law y = (Xc / x)^alpha, fitted as log y = alpha (log Xc - log x)."""
    params = (Param(f"{var}c", f"critical scale ({VAR_UNITS[var]})", 1e-30, 1e60, log=True),
              Param("alpha", "exponent", 1e-4, 3.0))

    def logpred(theta, X):
        lx = np.log(X[var])[None, :]
        return theta[:, 1, None] * (theta[:, 0, None] - lx)

    def jac(theta, X):
        lx = np.log(X[var])[None, :]
        J = np.empty((theta.shape[0], lx.shape[1], 2))
        J[:, :, 0] = theta[:, 1, None]
        J[:, :, 1] = theta[:, 0, None] - lx
        return J

    def init(X, y):
        slope, icpt = np.polyfit(np.log(X[var]), np.log(y), 1)
        a = max(-slope, 1e-3)
        return np.array([[icpt / a, a]])

    name = {"N": "kaplan_n", "D": "kaplan_d", "C": "kaplan_c"}[var]
    return Law(name, f"Kaplan power law in {var}", f"L = ({var}c/{var})^alpha",
               rf"L = \left(\frac{{{var}_c}}{{{var}}}\right)^{{\alpha}}", (var,), params, logpred, jac, init,
               reference="Kaplan et al. 2020")


def kaplan() -> Law:
    """Kaplan et al. 2020 eq. 1.5: L = [(Nc/N)^(alphaN/alphaD) + Dc/D]^alphaD."""
    params = (Param("Nc", "critical parameter count", 1e-10, 1e40, log=True),
              Param("Dc", "critical token count", 1e-10, 1e40, log=True),
              Param("alphaN", "parameter exponent", 1e-3, 2.0),
              Param("alphaD", "data exponent", 1e-3, 2.0))

    def parts(theta, X):
        lN, lD = np.log(X["N"])[None, :], np.log(X["D"])[None, :]
        r = theta[:, 2, None] / theta[:, 3, None]
        u1 = r * (theta[:, 0, None] - lN)
        u2 = theta[:, 1, None] - lD + 0.0 * u1
        s = np.logaddexp(u1, u2)
        return lN, u1, u2, s

    def logpred(theta, X):
        _, _, _, s = parts(theta, X)
        return theta[:, 3, None] * s

    def jac(theta, X):
        lN, u1, u2, s = parts(theta, X)
        w1 = np.exp(u1 - s)
        w2 = 1.0 - w1
        aN, aD = theta[:, 2, None], theta[:, 3, None]
        J = np.empty(u1.shape + (4,))
        J[..., 0] = aN * w1
        J[..., 1] = aD * w2
        J[..., 2] = w1 * (theta[:, 0, None] - lN)
        J[..., 3] = s - w1 * u1
        return J

    def init(X, y):
        ly, lN, lD = np.log(y), np.log(X["N"]), np.log(X["D"])
        cands = []
        for aN in np.linspace(0.02, 0.6, 12):
            for aD in np.linspace(0.02, 0.6, 12):
                # choose log Nc, log Dc so that each term alone matches the mean loss: a coarse but fair start
                lNc = np.mean(ly) / aN + np.mean(lN)
                lDc = np.mean(ly) / aD + np.mean(lD)
                for shift in (-3.0, 0.0, 3.0):
                    cands.append([lNc + shift, lDc + shift, aN, aD])
        return np.array(cands)

    return Law("kaplan", "Kaplan L(N, D)", "L = [(Nc/N)^(alphaN/alphaD) + Dc/D]^alphaD",
               r"L(N,D) = \left[\left(\frac{N_c}{N}\right)^{\alpha_N/\alpha_D} + \frac{D_c}{D}\right]^{\alpha_D}",
               ("N", "D"), params, logpred, jac, init, reference="Kaplan et al. 2020, eq. 1.5",
               allocatable=True)


# --------------------------------------------------------------------------------------------
# Data-constrained (Muennighoff et al. 2023)
# --------------------------------------------------------------------------------------------
TOKENS_PER_PARAM_FOR_UNIQUE = 20.0


def effective(U, R, lRstar):
    """Effective amount U + U R* (1 - exp(-R/R*)) and d log(eff)/d log R*."""
    Rs = np.exp(lRstar)
    e = np.exp(-R / Rs)
    eff = U + U * Rs * (1.0 - e)
    deff = U * Rs * ((1.0 - e) - (R / Rs) * e)   # d eff / d log R*
    return eff, deff / eff


def _dc_effective(theta, X):
    N, D, U = X["N"][None, :], X["D"][None, :], X["U"][None, :]
    U = np.where(np.isfinite(U) & (U > 0), U, D)
    U_D = np.minimum(U, D)
    R_D = D / U_D - 1.0
    U_N = np.minimum(N, U_D / TOKENS_PER_PARAM_FOR_UNIQUE)
    R_N = np.maximum(N / U_N - 1.0, 0.0)
    Dp, dlD = effective(U_D, R_D, theta[:, 5, None])
    Np, dlN = effective(U_N, R_N, theta[:, 6, None])
    return Np, Dp, dlN, dlD


def data_constrained() -> Law:
    params = (Param("E", "irreducible loss", 1e-6, 1e3, log=True),
              Param("A", "parameter-term coefficient", 1e-6, 1e12, log=True),
              Param("B", "data-term coefficient", 1e-6, 1e12, log=True),
              Param("alpha", "parameter exponent", 0.0, 3.0),
              Param("beta", "data exponent", 0.0, 3.0),
              Param("R_D*", "repetitions of data at which returns decay by 1/e", 0.01, 1e4, log=True),
              Param("R_N*", "excess parameters (in multiples) at which returns decay by 1/e", 0.01, 1e4, log=True))

    def logpred(theta, X):
        Np, Dp, _, _ = _dc_effective(theta, X)
        T = np.stack([theta[:, 0, None] + 0 * Dp, theta[:, 1, None] - theta[:, 3, None] * np.log(Np),
                      theta[:, 2, None] - theta[:, 4, None] * np.log(Dp)], axis=1)
        return logsumexp(T, axis=1)

    def jac(theta, X):
        Np, Dp, dlN, dlD = _dc_effective(theta, X)
        lNp, lDp = np.log(Np), np.log(Dp)
        T = np.stack([theta[:, 0, None] + 0 * Dp, theta[:, 1, None] - theta[:, 3, None] * lNp,
                      theta[:, 2, None] - theta[:, 4, None] * lDp], axis=1)
        w = np.exp(T - logsumexp(T, axis=1, keepdims=True))
        J = np.empty(Dp.shape + (7,))
        J[..., 0], J[..., 1], J[..., 2] = w[:, 0], w[:, 1], w[:, 2]
        J[..., 3] = -w[:, 1] * lNp
        J[..., 4] = -w[:, 2] * lDp
        J[..., 5] = -w[:, 2] * theta[:, 4, None] * dlD
        J[..., 6] = -w[:, 1] * theta[:, 3, None] * dlN
        return J

    def init(X, y):
        cands = []
        grid = np.linspace(0.05, 1.5, 16)
        for rd in (5.0, 15.4, 50.0):
            for rn in (5.3,):
                th = np.array([[0, 0, 0, 0, 0, np.log(rd), np.log(rn)]], dtype=float)
                Np, Dp, _, _ = _dc_effective(th, X)
                Np, Dp = Np[0], Dp[0]
                exps, coef = _varpro(lambda e: np.column_stack([np.ones_like(Np), Np ** -e[0], Dp ** -e[1]]),
                                     y, [grid, grid])
                cands.append([*_safe_log(coef), exps[0], exps[1], np.log(rd), np.log(rn)])
        return np.array(cands)

    return Law("data_constrained", "Data-constrained L(N, D, U)",
               "L = E + A/N'^alpha + B/D'^beta; D' = U_D + U_D R_D* (1 - exp(-R_D/R_D*)), R_D = D/U_D - 1; "
               "N' likewise with U_N = min(N, U_D/20), R_N = N/U_N - 1",
               r"L = E + \frac{A}{N'^{\alpha}} + \frac{B}{D'^{\beta}},\ "
               r"D' = U_D + U_D R_D^{*}\left(1 - e^{-R_D/R_D^{*}}\right)",
               ("N", "D", "U"), params, logpred, jac, init,
               reference="Muennighoff et al. 2023 (R_D*=15.4, R_N*=5.3)", allocatable=True)


# --------------------------------------------------------------------------------------------
# Broken neural scaling law (Caballero et al. 2022)
# --------------------------------------------------------------------------------------------
def bnsl(n_breaks: int, var: str = "C") -> Law:
    """y = a + b x^-c0 prod_i (1 + (x/d_i)^(1/f_i))^(-c_i f_i)."""
    ps = [Param("a", "limit value (y units)", 1e-8, 1e3, log=True),
          Param("b", "coefficient", 1e-30, 1e30, log=True),
          Param("c0", "initial exponent", -3.0, 3.0)]
    for i in range(1, n_breaks + 1):
        ps += [Param(f"c{i}", f"change of exponent at break {i}", -5.0, 5.0),
               Param(f"d{i}", f"scale of break {i} ({VAR_UNITS[var]})", 1e-30, 1e60, log=True),
               Param(f"f{i}", f"sharpness of break {i} (smaller is sharper)", 1e-3, 20.0, log=True)]
    params = tuple(ps)
    p = len(params)

    def parts(theta, X):
        lx = np.log(X[var])[None, :]
        lg = theta[:, 1, None] - theta[:, 2, None] * lx
        comps = []
        for i in range(n_breaks):
            c, ld, lf = theta[:, 3 + 3 * i, None], theta[:, 4 + 3 * i, None], theta[:, 5 + 3 * i, None]
            f = np.exp(lf)
            lz = (lx - ld) / f
            l1pz = np.logaddexp(0.0, lz)
            lg = lg - c * f * l1pz
            comps.append((c, f, lz, l1pz))
        la = theta[:, 0, None] + 0 * lg
        lyhat = np.logaddexp(la, lg)
        return lx, la, lg, lyhat, comps

    def logpred(theta, X):
        return parts(theta, X)[3]

    def jac(theta, X):
        lx, la, lg, lyhat, comps = parts(theta, X)
        wa, wg = np.exp(la - lyhat), np.exp(lg - lyhat)
        J = np.empty(lyhat.shape + (p,))
        J[..., 0] = wa
        J[..., 1] = wg
        J[..., 2] = -wg * lx
        for i, (c, f, lz, l1pz) in enumerate(comps):
            s = expit(lz)   # z / (1 + z)
            J[..., 3 + 3 * i] = -wg * f * l1pz
            J[..., 4 + 3 * i] = wg * c * s
            J[..., 5 + 3 * i] = wg * (-c * f * l1pz + c * f * s * lz)
        return J

    def init(X, y):
        lx = np.log(X[var])
        base = saturating_inits(X[var], y)
        qs = np.quantile(lx, [0.25, 0.5, 0.75]) if n_breaks == 1 else np.quantile(lx, [0.33, 0.66])
        cands = []
        for la_, lb, c0 in base:
            for c1 in (-1.0, -0.3, 0.3, 1.0):
                for q in qs:
                    for lf in (np.log(0.3), np.log(1.0)):
                        row = [la_, lb + 0.0, c0]
                        row += [c1, q, lf]
                        if n_breaks == 2:
                            row += [-c1 / 2, np.quantile(lx, 0.8), np.log(0.5)]
                        cands.append(row)
        return np.array(cands)

    name = f"bnsl{n_breaks}" + ("" if var == "C" else f"_{var.lower()}")
    return Law(name, f"Broken power law, {n_breaks} break{'s' if n_breaks > 1 else ''}, in {var}",
               f"y = a + b*{var}^-c0 * prod_i (1 + ({var}/d_i)^(1/f_i))^(-c_i f_i)",
               rf"y = a + b\,{var}^{{-c_0}} \prod_{{i=1}}^{{{n_breaks}}} "
               rf"\left(1 + \left(\frac{{{var}}}{{d_i}}\right)^{{1/f_i}}\right)^{{-c_i f_i}}",
               (var,), params, logpred, jac, init, reference="Caballero et al. 2022 (BNSL)")


# --------------------------------------------------------------------------------------------
# M4 (Alabdulmohsin et al. 2022): (y - E) / (L0 - y)^alpha = beta * x^-c
# --------------------------------------------------------------------------------------------
M4_NEWTON_ITERS = 60


def _softplus(t):
    return np.logaddexp(0.0, t)


def _m4_solve(s: Array, alpha: Array) -> Array:
    """Solve ``log u - alpha log(1 - u) = s`` for ``u = sigmoid(t)`` in (0, 1); returns ``t``.

    In ``t`` the left side is ``g(t) = -softplus(-t) + alpha softplus(t)``, increasing with slope
    ``(1 - u) + alpha u`` in [min(1, alpha), max(1, alpha)] and concave (alpha < 1) or convex
    (alpha > 1), so Newton's method converges from any start after its first step (monotonically
    from then on). The start is the asymptote: ``t = s`` for ``s < 0``, ``t = s / alpha`` above.
    """
    a = np.maximum(alpha, 1e-12)
    t = np.where(s < 0, s, s / a)
    for _ in range(M4_NEWTON_ITERS):
        u = expit(t)
        g = -_softplus(-t) + a * _softplus(t) - s
        step = g / ((1.0 - u) + a * u)
        t = t - step
        if np.all(np.abs(step) <= 1e-12 * (1.0 + np.abs(t))):
            break
    return t


def m4(var: str = "D") -> Law:
    """Alabdulmohsin et al.'s M4 learning-curve law, solved for y.

    .. math::
        \\frac{y - E}{(L_0 - y)^{\\alpha}} = \\beta\\, x^{-c}, \\qquad L_0 = E + B,

    so ``y`` falls from the plateau ``L0`` (the random-guessing value) at small ``x`` to a power law
    ``y - E ~ beta B^alpha x^-c`` at large ``x``; ``alpha = 0`` is the plain power law
    ``E + beta x^-c`` (capped at ``L0``), ``alpha = 1`` the logistic in ``log x``. ``y``, ``E`` and
    ``B`` are in the metric's units (an error rate, a loss in nats ...), ``x`` in the units of the
    variable (tokens, examples seen, steps, FLOPs, parameters). With ``u = (y - E) / B`` the law is
    ``log u - alpha log(1 - u) = log beta - c log x + (alpha - 1) log B``, solved exactly by
    Newton's method in ``t = logit u``; the Jacobian follows from the implicit-function theorem.
    """
    params = (Param("E", "limit value as x grows (y units)", 1e-8, 1e3, log=True),
              Param("B", "span L0 - E from the small-x plateau L0 to the limit (y units)", 1e-8, 1e4, log=True),
              Param("beta", "coefficient of the power term", 1e-30, 1e60, log=True),
              Param("c", "exponent", 0.0, 5.0),
              Param("alpha", "shape: 0 = plain power law, 1 = logistic in log x", 0.0, 10.0))

    def parts(theta, X):
        lx = np.log(X[var])[None, :]
        lE, lB, lb, c, al = (theta[:, k, None] for k in range(5))
        s = lb - c * lx + (al - 1.0) * lB
        t = _m4_solve(s + 0.0 * lE, al + 0.0 * lx)
        lu = -_softplus(-t)
        lg = lB + lu
        lyhat = np.logaddexp(lE + 0.0 * lg, lg)
        return lx, lE, lB, al, t, lu, lg, lyhat

    def logpred(theta, X):
        return parts(theta, X)[-1]

    def jac(theta, X):
        lx, lE, lB, al, t, lu, lg, lyhat = parts(theta, X)
        u = np.exp(lu)
        wa, wg = np.exp(lE - lyhat), np.exp(lg - lyhat)
        dlu_ds = (1.0 - u) / ((1.0 - u) + np.maximum(al, 1e-12) * u)   # d log u / d s
        J = np.empty(lyhat.shape + (5,))
        J[..., 0] = wa
        J[..., 1] = wg * (1.0 + dlu_ds * (al - 1.0))
        J[..., 2] = wg * dlu_ds
        J[..., 3] = -wg * dlu_ds * lx
        J[..., 4] = wg * dlu_ds * (lB - _softplus(t))
        return J

    def init(X, y):
        lx, ly = np.log(X[var]), np.log(y)
        lo, hi = float(np.min(y)), float(np.max(y))
        cands = []
        # For fixed E and L0 the law is linear in (log beta, c, alpha): M4's own regression step.
        for e_frac in (0.0, 0.3, 0.6, 0.85, 0.97):
            E = max(e_frac * lo, 1e-6)
            for l0 in (hi * 1.001 + 1e-6, hi * 1.02, hi * 1.1, hi * 1.5, hi * 3.0):
                A = np.column_stack([np.ones_like(lx), -lx, np.log(l0 - y)])
                coef, *_ = np.linalg.lstsq(A, np.log(np.maximum(y - E, 1e-12)), rcond=None)
                lb_, c_, al_ = coef
                c_, al_ = float(np.clip(c_, 1e-3, 5.0)), float(np.clip(al_, 0.0, 10.0))
                cands.append([np.log(E), np.log(l0 - E), lb_, c_, al_])
        # and from the saturating fit y = E + A x^-c (alpha = 0, L0 well above the data)
        for la_, lA, c0 in saturating_inits(X[var], y):
            if c0 > 0:
                cands.append([la_, np.log(hi * 3.0), lA, c0, 0.0])
        return np.array(cands)

    name = {"N": "m4_n", "D": "m4_d", "C": "m4_c", "step": "m4_step"}[var]
    return Law(name, f"M4 learning-curve law in {var}", f"(y - E)/(L0 - y)^alpha = beta*{var}^-c, L0 = E + B",
               rf"\frac{{y - E}}{{(L_0 - y)^{{\alpha}}}} = \beta\,{var}^{{-c}},\ L_0 = E + B",
               (var,), params, logpred, jac, init, reference="Alabdulmohsin et al. 2022 (M4)")


def saturating_inits(x, y) -> list[tuple[float, float, float]]:
    """(log a, log b, c0) starts from a variable-projection fit of y = a + b x^-c0."""
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
    return [(_safe_log(cf[0]), _safe_log(cf[1]), c0) for _, c0, cf in best[:2]]


# --------------------------------------------------------------------------------------------
# LR-annealing loss curve (Tissue et al. 2024)
# --------------------------------------------------------------------------------------------
ANNEAL_DECAY = 0.999


def anneal_areas(step: Array, lr: Array, run: Array | None = None, decay: float = ANNEAL_DECAY):
    """Forward area S1 and annealing area S2 of a learning-rate schedule, per run.

    The schedule observed at ``step`` is interpolated linearly to every integer step
    ``1..max(step)`` (eta_0 = eta at the first observed step). Then

    .. math::
        S_1(s) = \\sum_{i=1}^{s} \\eta_i, \\qquad
        m_i = \\lambda m_{i-1} + (\\eta_{i-1} - \\eta_i), \\qquad S_2(s) = \\sum_{i=1}^{s} m_i

    with :math:`\\lambda` = ``decay`` (0.999 in the paper). Returns (S1, S2) at the observed steps.
    """
    step = np.asarray(step, float)
    lr = np.asarray(lr, float)
    run = np.zeros(len(step)) if run is None else np.asarray(run)
    S1, S2 = np.empty_like(step), np.empty_like(step)
    for r in np.unique(run):
        idx = np.flatnonzero(run == r)
        order = idx[np.argsort(step[idx])]
        s, e = step[order], lr[order]
        grid = np.arange(1, int(np.ceil(s.max())) + 1, dtype=float)
        eta = np.interp(grid, s, e)
        s1 = np.cumsum(eta)
        d = np.concatenate([[0.0], eta[:-1] - eta[1:]])
        # m_i = decay * m_{i-1} + d_i, computed as a linear filter
        from scipy.signal import lfilter
        m = lfilter([1.0], [1.0, -decay], d)
        s2 = np.cumsum(m)
        pos = np.clip(np.round(s).astype(int) - 1, 0, len(grid) - 1)
        S1[order], S2[order] = s1[pos], s2[pos]
    return S1, S2


def lr_anneal() -> Law:
    params = (Param("L0", "loss floor", 1e-6, 1e3, log=True),
              Param("A", "coefficient of the forward-area term", 1e-8, 1e8, log=True),
              Param("alpha", "exponent of the forward area", 0.0, 3.0),
              Param("C", "annealing gain per unit of annealing area", 1e-12, 1e6, log=True))

    def parts(theta, X):
        S1, S2 = X["S1"][None, :], X["S2"][None, :]
        L0, A, C = np.exp(theta[:, 0, None]), np.exp(theta[:, 1, None]), np.exp(theta[:, 3, None])
        t = A * S1 ** -theta[:, 2, None]
        yhat = L0 + t - C * S2
        return S1, S2, L0, t, C, np.maximum(yhat, 1e-12)

    def logpred(theta, X):
        return np.log(parts(theta, X)[5])

    def jac(theta, X):
        S1, S2, L0, t, C, yhat = parts(theta, X)
        J = np.empty(yhat.shape + (4,))
        J[..., 0] = L0 / yhat
        J[..., 1] = t / yhat
        J[..., 2] = -t * np.log(S1) / yhat
        J[..., 3] = -C * S2 / yhat
        return J

    def init(X, y):
        S1, S2 = X["S1"], X["S2"]
        exps, coef = _varpro(lambda e: np.column_stack([np.ones_like(S1), S1 ** -e[0], -S2]), y,
                             [np.linspace(0.02, 2.0, 100)])
        return np.array([[_safe_log(coef[0]), _safe_log(coef[1]), exps[0], _safe_log(max(coef[2], 1e-10))]])

    return Law("lr_anneal", "LR-annealing loss curve L(s)", "L(s) = L0 + A*S1^-alpha - C*S2",
               r"L(s) = L_0 + A\,S_1^{-\alpha} - C\,S_2", ("S1", "S2"), params, logpred, jac, init,
               reference="Tissue et al. 2024 (lambda = 0.999)")


def _registry() -> dict[str, Law]:
    laws = [chinchilla(), kaplan(), data_constrained(),
            saturating("N"), saturating("D"), saturating("C"), saturating("step"),
            pure_power("N"), pure_power("D"), pure_power("C"),
            bnsl(1, "C"), bnsl(2, "C"), bnsl(1, "N"), bnsl(1, "D"), bnsl(1, "step"), m4("D"), lr_anneal()]
    return {law.name: law for law in laws}


LAWS: dict[str, Law] = _registry()


def get_law(name: str) -> Law:
    """Return the law called ``name``; raise ``KeyError`` listing the known names otherwise."""
    try:
        return LAWS[name]
    except KeyError:
        raise KeyError(f"unknown law {name!r}; known laws: {', '.join(sorted(LAWS))}") from None
