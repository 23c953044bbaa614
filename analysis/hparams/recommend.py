"""A learning rate and batch size for a new (N, D), from the fitted laws, with intervals and a hull check.

:math:`\\eta = c N^a D^b` and :math:`B = d D^g` tokens (:mod:`.scaling`) at the requested ``N``
[parameters] and ``D`` [tokens]; the batch also in sequences, ``B / seq_len``. Intervals are the
percentile intervals of the laws' bootstrap replicates evaluated there. ``inside_hull`` says whether
:math:`(\\ln N, \\ln D)` lies in the convex hull of the swept cells (for an MoE the N the laws were fitted
on: total or active parameters); outside it the recommendation extrapolates and says so. The published
rules' values at the same point are listed beside it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.interval import Interval
from analysis.jsonable import jsonable

from .data import SEQ_LEN, HparamsError
from .rules import RULES, RuleInputs
from .scaling import MIN_LOG_RANGE, PowerLaw

__all__ = ["Recommendation", "recommend", "in_hull"]


def in_hull(points: np.ndarray, query: np.ndarray, tol: float = 1e-6) -> bool:
    """Whether ``query`` (2,) lies in the convex hull of ``points`` (k, 2), degenerate hulls included
    (a segment when the points are collinear, a point when they coincide)."""
    from scipy.spatial import Delaunay          # on use: scipy's submodules cost the app's start-up
    points = np.unique(np.asarray(points, float), axis=0)
    query = np.asarray(query, float)
    centre = points.mean(axis=0)
    rank = np.linalg.matrix_rank(points - centre, tol=tol) if len(points) > 1 else 0
    if rank == 0:
        return bool(np.all(np.abs(points[0] - query) <= tol))
    if rank == 1:
        direction = points[np.argmax(np.linalg.norm(points - centre, axis=1))] - centre
        direction /= np.linalg.norm(direction)
        off = (query - centre) - np.dot(query - centre, direction) * direction
        t = (points - centre) @ direction
        s = np.dot(query - centre, direction)
        return bool(np.linalg.norm(off) <= tol and t.min() - tol <= s <= t.max() + tol)
    return bool(Delaunay(points).find_simplex(query, tol=tol) >= 0)


@dataclass(frozen=True)
class Recommendation:
    """``lr`` [1] and ``batch_tokens`` / ``batch_sequences`` at (``N``, ``D``) with 95% intervals.

    ``n_used`` is the N given to the laws (total or active parameters, ``n_basis``); ``rules`` lists
    ``(rule name, lr, batch tokens)`` of the published rules at the same setup.
    """

    N: float
    D: float
    N_active: float | None
    seq_len: float
    n_basis: str
    n_used: float
    lr: float
    lr_ci: Interval
    batch_tokens: float
    batch_tokens_ci: Interval
    batch_sequences: float
    batch_sequences_ci: Interval
    inside_hull: bool
    hull: str
    rules: tuple[tuple[str, float, float], ...] = ()
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return jsonable({"N": self.N, "D": self.D, "N_active": self.N_active, "seq_len": self.seq_len,
                         "n_basis": self.n_basis, "n_used": self.n_used, "lr": self.lr, "lr_ci": self.lr_ci,
                         "batch_tokens": self.batch_tokens, "batch_tokens_ci": self.batch_tokens_ci,
                         "batch_sequences": self.batch_sequences, "batch_sequences_ci": self.batch_sequences_ci,
                         "inside_hull": self.inside_hull, "hull": self.hull,
                         "rules": [{"name": n, "lr": a, "batch_tokens": b} for n, a, b in self.rules],
                         "warnings": self.warnings})


def _span(v: np.ndarray, unit: str) -> str:
    return f"{v.min():.3g}-{v.max():.3g} {unit}"


def recommend(lr_law: PowerLaw, batch_law: PowerLaw, cells_N: np.ndarray, cells_D: np.ndarray, *, N: float,
              D: float, seq_len: float = SEQ_LEN, N_active: float | None = None, M: float | None = None,
              rules=RULES, level: float = 0.95) -> Recommendation:
    """The laws' learning rate and batch at ``N`` [parameters], ``D`` [tokens] (see the module docstring).

    ``cells_N`` / ``cells_D`` are the swept cells in the laws' basis (the hull). For an MoE pass
    ``N`` = total and ``N_active``; the laws use whichever basis they were fitted on. ``M`` [FLOPs per
    token] feeds DeepSeek's rule (default 6 x the N the rule sees).

    Raises
    ------
    HparamsError
        ``N``, ``D`` or ``seq_len`` not a positive number, or the laws need ``N_active`` and it is missing.
    """
    for name, v in (("N", N), ("D", D), ("seq_len", seq_len)):
        if not (isinstance(v, (int, float, np.floating, np.integer)) and math.isfinite(v) and v > 0):
            raise HparamsError(f"{name} = {v!r} is not a positive number", f"give {name} as a positive number")
    basis = lr_law.n_basis
    if basis == "active" and (N_active is None or not math.isfinite(N_active) or N_active <= 0):
        raise HparamsError("the laws were fitted on active parameters: N_active is needed",
                           "give the model's active parameters per token")
    n_used = float(N_active if basis == "active" else N)
    lr = lr_law.predict(N=n_used, D=D)
    lr_ci = lr_law.interval(level, N=n_used, D=D)
    b = batch_law.predict(N=n_used, D=D)
    b_ci = batch_law.interval(level, N=n_used, D=D)
    pts = np.column_stack([np.log(cells_N), np.log(cells_D)])
    query = np.log([n_used, D])
    for k in range(2):   # an axis the cells hardly vary (one N, +-5%): inside means within that band
        if np.ptp(pts[:, k]) <= MIN_LOG_RANGE and abs(query[k] - pts[:, k].mean()) <= MIN_LOG_RANGE:
            pts[:, k], query[k] = 0.0, 0.0
    inside = in_hull(pts, query)
    n_name = "N_active" if basis == "active" else "N"
    hull = (f"{'inside' if inside else 'outside'} the swept cells ({n_name} "
            f"{_span(np.asarray(cells_N), 'parameters')}, D {_span(np.asarray(cells_D), 'tokens')})")
    warns = []
    if not inside:
        warns.append(f"({n_name}, D) = ({n_used:.3g}, {D:.3g}) lies {hull}: the recommendation extrapolates the laws "
                     "and its interval does not cover a change of regime -- check with a short sweep around it")
    moe = N_active is not None and math.isfinite(N_active)
    m = M if M is not None else 6.0 * float(N_active if moe else N)
    rows = []
    for rule in rules:
        if rule.needs_loss:
            continue
        r_lr, r_b = rule.at(RuleInputs(N=float(N), D=float(D), M=m, seq_len=float(seq_len)))
        rows.append((rule.name, r_lr, r_b))
    return Recommendation(N=float(N), D=float(D), N_active=float(N_active) if moe else None, seq_len=float(seq_len),
                          n_basis=basis, n_used=n_used, lr=lr, lr_ci=lr_ci, batch_tokens=b, batch_tokens_ci=b_ci,
                          batch_sequences=b / seq_len,
                          batch_sequences_ci=Interval(b_ci.lo / seq_len, b_ci.hi / seq_len, b_ci.level),
                          inside_hull=inside, hull=hull, rules=tuple(rows), warnings=tuple(warns))
