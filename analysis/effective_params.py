"""Which N: total, non-embedding, active (mixture of experts) or average over training (sparse runs).

A scaling law in N needs one number of parameters per run, and the choice moves the fitted exponents:

* **total** -- every parameter, embeddings included (what most papers publish);
* **non-embedding** -- total minus the token (and untied output) embeddings, ``N - V d_model`` (or
  ``N - 2 V d_model`` untied): Kaplan et al. 2020's convention, which straightens small-model curves;
* **active** -- the parameters used per token by a mixture of experts: the dense part plus ``top_k`` of
  the ``n_experts`` routed experts, ``N_active = N_dense_part + N_experts top_k / n_experts``;
* **average** -- for a run whose weights are pruned (or grown) during training, the parameter count
  averaged over the token budget (Jin et al. 2025, "The Journey Matters: Average Parameter Count over
  Pre-training Unifies Sparse and Dense Scaling Laws"):

  .. math::
      \\bar N = N_\\text{dense}\\,\\Big(1 - \\frac{1}{D}\\int_0^D s(t)\\,dt\\Big) = N_\\text{dense}\\,(1 - \\bar s),

  with ``s(t)`` the sparsity (share of weights zeroed) after ``t`` of the ``D`` training tokens.

Pruning schedules
-----------------
The cubic schedule of Zhu & Gupta (2017), used by Jin et al., prunes from ``s_i`` to ``s_f`` between the
fractions ``t_0`` and ``t_1`` of training:

.. math::
    s(\\tau) = s_f + (s_i - s_f)\\Big(1 - \\frac{\\tau - t_0}{t_1 - t_0}\\Big)^3 \\quad (t_0 \\le \\tau \\le t_1),

``s_i`` before ``t_0`` and ``s_f`` after ``t_1``. Its mean over the budget is exact:
``s_bar = s_i t_0 + (t_1 - t_0)(3 s_f + s_i)/4 + s_f (1 - t_1)``. For ``t_0 = 0.25``, ``t_1 = 0.75``,
``s_i = 0``, ``s_f = 0.5``: ``s_bar = 0.3125`` and ``N_bar = 0.6875 N_dense``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from datasets.errors import WorkbenchError
from datasets.schema import parse_extra

CHOICES = {
    "total": "all parameters, embeddings included",
    "non_embedding": "parameters without the token (and untied output) embeddings",
    "active": "parameters used per token (dense part + top-k of the routed experts)",
    "average": "dense parameters x (1 - sparsity averaged over the training tokens)",
}
# columns a fit frame may carry for each choice (first present wins)
COLUMNS = {
    "total": ("N", "params", "N_total"),
    "non_embedding": ("N_non_embedding", "params_non_embedding", "params_no_embed", "non_embedding_params"),
    "active": ("N_active", "params_active", "active_params", "Na"),
    "average": ("N_average", "params_average", "N_avg"),
}


class EffectiveParamsError(WorkbenchError, ValueError):
    """A parameter count cannot be formed from the inputs (the message says which, the fix what to do)."""


def _frac(name: str, v: float) -> float:
    v = float(v)
    if not np.isfinite(v) or not 0.0 <= v <= 1.0:
        raise EffectiveParamsError(f"{name} must lie in [0, 1], got {v!r}", f"give {name} as a fraction")
    return v


def non_embedding_params(total, vocab_size, d_model, tied: bool = True):
    """``N - V d_model`` (tied input/output embeddings) or ``N - 2 V d_model`` (untied)."""
    total = np.asarray(total, float)
    emb = (1.0 if tied else 2.0) * float(vocab_size) * float(d_model)
    out = total - emb
    if np.any(out <= 0):
        raise EffectiveParamsError(f"the embeddings ({emb:.3g} parameters) are at least the total "
                                   f"({np.min(total):.3g})", "check vocab_size, d_model and the total count")
    return out


def active_params(total, expert_share: float, n_experts: int, top_k: int):
    """Parameters used per token by a mixture of experts.

    ``expert_share`` is the share of ``total`` in the routed experts; each token uses ``top_k`` of the
    ``n_experts``: ``N_active = total (1 - share) + total share top_k / n_experts``.
    """
    share = _frac("expert_share", expert_share)
    if not (int(n_experts) >= 1 and 1 <= int(top_k) <= int(n_experts)):
        raise EffectiveParamsError(f"top_k = {top_k} of n_experts = {n_experts} is not a routing",
                                   "use 1 <= top_k <= n_experts")
    total = np.asarray(total, float)
    return total * (1.0 - share) + total * share * int(top_k) / int(n_experts)


@dataclass(frozen=True)
class CubicSchedule:
    """Zhu & Gupta's cubic sparsity schedule over the fraction of training ``tau`` in [0, 1]."""

    final: float
    start: float = 0.25
    end: float = 0.75
    initial: float = 0.0

    def __post_init__(self):
        for k in ("final", "start", "end", "initial"):
            _frac(k, getattr(self, k))
        if not self.start < self.end:
            raise EffectiveParamsError(f"pruning must end after it starts (start {self.start}, end {self.end})",
                                       "give start < end as fractions of training")

    def __call__(self, tau) -> np.ndarray:
        tau = np.clip(np.asarray(tau, float), 0.0, 1.0)
        x = np.clip((tau - self.start) / (self.end - self.start), 0.0, 1.0)
        return self.final + (self.initial - self.final) * (1.0 - x) ** 3

    def mean(self) -> float:
        """Exact mean sparsity over training (see the module docstring)."""
        return (self.initial * self.start + (self.end - self.start) * (3.0 * self.final + self.initial) / 4.0
                + self.final * (1.0 - self.end))

    @property
    def breakpoints(self) -> tuple[float, float]:
        return (self.start, self.end)


def mean_sparsity(schedule: CubicSchedule | Callable | tuple) -> float:
    """Sparsity averaged over the token budget.

    ``schedule`` is a :class:`CubicSchedule` (exact), a function of the training fraction in [0, 1]
    (adaptive quadrature), or a pair ``(fractions, sparsities)`` of a logged schedule, integrated by the
    trapezoid rule after sorting (held constant before the first and after the last logged point).
    """
    from scipy.integrate import quad          # on use: scipy's submodules cost the app's start-up
    if isinstance(schedule, CubicSchedule):
        return schedule.mean()
    if callable(schedule):
        pts = getattr(schedule, "breakpoints", None)
        val, _ = quad(lambda t: float(schedule(t)), 0.0, 1.0, points=pts, epsabs=1e-13, epsrel=1e-12, limit=200)
        return float(val)
    t, s = (np.asarray(a, float).reshape(-1) for a in schedule)
    if len(t) != len(s) or len(t) == 0:
        raise EffectiveParamsError(f"a logged schedule needs as many fractions as sparsities "
                                   f"(got {len(t)} and {len(s)})", "pass (fractions, sparsities) of equal length")
    bad = np.flatnonzero(~np.isfinite(t) | ~np.isfinite(s) | (s < 0) | (s > 1))
    if len(bad):
        raise EffectiveParamsError(f"logged schedule row {int(bad[0])}: fraction {t[bad[0]]!r}, sparsity "
                                   f"{s[bad[0]]!r}", "sparsities must lie in [0, 1]")
    if t.max() > 1.0 + 1e-12:   # tokens rather than fractions: rescale to the budget
        t = t / t.max()
    order = np.argsort(t, kind="mergesort")
    t, s = np.concatenate([[0.0], t[order], [1.0]]), np.concatenate([[s[order][0]], s[order], [s[order][-1]]])
    return float(np.trapezoid(s, t))


def average_params(N_dense, schedule) -> np.ndarray | float:
    """Jin et al.'s average parameter count ``N_dense (1 - mean sparsity)``."""
    s = mean_sparsity(schedule)
    out = np.asarray(N_dense, float) * (1.0 - s)
    return float(out) if out.ndim == 0 else out


def which_n(frame: pd.DataFrame, choice: str = "total") -> pd.Series:
    """The parameter count ``choice`` (one of :data:`CHOICES`) for every row of ``frame``.

    Reads the first of :data:`COLUMNS` [choice] present; raises with the columns to add otherwise.
    """
    if choice not in CHOICES:
        raise EffectiveParamsError(f"unknown parameter count {choice!r}",
                                   f"choose one of {', '.join(CHOICES)}")
    for col in COLUMNS[choice]:
        if col in frame.columns:
            vals = pd.to_numeric(frame[col], errors="coerce").astype(float)
            bad = np.flatnonzero(~(vals > 0).to_numpy())
            if len(bad):
                i = bad[0]
                raise EffectiveParamsError(f"row {i}, column {col!r}: {frame[col].iloc[i]!r} is not a positive "
                                           "parameter count", "fix or drop that row, or use another N")
            return vals.rename("N")
    raise EffectiveParamsError(f"the data have no {choice.replace('_', '-')} parameter count",
                               f"add a column named {COLUMNS[choice][0]!r} ({CHOICES[choice]})")


# ---------------------------------------------------------------------------------------------- store runs (H14)
# keys of a run's ``extra`` JSON (the store's runs table) that hold each parameter count
EXTRA_KEYS = {
    "non_embedding": ("N_non_embedding", "non_emb_params", "params_non_embedding", "non_embedding_params"),
    "active": ("N_active", "Na", "params_active", "active_params"),
    "average": ("N_average", "params_average", "N_avg"),
}


def _extra_counts(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run (index ``run_id``) and a column per choice of :data:`EXTRA_KEYS` (NaN when unrecorded)."""
    out = {}
    for run_id, text in zip(runs["run_id"].astype(str), runs.get("extra", pd.Series([None] * len(runs)))):
        extra = parse_extra(text)
        row = {}
        for choice, keys in EXTRA_KEYS.items():
            v = next((pd.to_numeric(extra[k], errors="coerce") for k in keys if k in extra), np.nan)
            row[choice] = float(v) if np.isfinite(v) and v > 0 else np.nan
        out[run_id] = row
    return pd.DataFrame.from_dict(out, orient="index", columns=list(EXTRA_KEYS), dtype=float)


def attach_counts(frame: pd.DataFrame, runs: pd.DataFrame | None) -> pd.DataFrame:
    """``frame`` (a fit frame, column ``run``) with ``N_non_embedding``, ``N_active`` and ``N_average`` added
    from the runs' ``extra`` (:data:`EXTRA_KEYS`) where any run records them; columns the frame already has
    are kept. ``runs`` None or without ``extra``: ``frame`` unchanged."""
    if runs is None or not len(runs) or "run_id" not in runs or "extra" not in runs:
        return frame
    counts = _extra_counts(runs)
    out = frame.copy()
    for choice in EXTRA_KEYS:
        col = COLUMNS[choice][0]
        if any(c in out.columns for c in COLUMNS[choice]) or counts[choice].isna().all():
            continue
        out[col] = out["run"].astype(str).map(counts[choice]).astype(float)
    out.attrs.update(frame.attrs)
    return out


def available(frame: pd.DataFrame) -> list[str]:
    """The choices of :data:`CHOICES` the frame supports: a column of :data:`COLUMNS` positive on every row."""
    out = []
    for choice in CHOICES:
        col = next((c for c in COLUMNS[choice] if c in frame.columns), None)
        if col is not None and len(frame) and bool((pd.to_numeric(frame[col], errors="coerce") > 0).all()):
            out.append(choice)
    return out


def families_with(runs: pd.DataFrame) -> dict[str, list[str]]:
    """``{choice: [families whose every run records it]}`` for the choices beyond ``total`` (runs table with
    ``family`` and ``extra``)."""
    if runs is None or not len(runs) or "extra" not in runs:
        return {c: [] for c in EXTRA_KEYS}
    counts = _extra_counts(runs)
    fam = runs.drop_duplicates("run_id").set_index(runs.drop_duplicates("run_id")["run_id"].astype(str))["family"]
    counts = counts.assign(family=fam.reindex(counts.index).to_numpy())
    return {c: sorted(str(f) for f, g in counts.groupby("family") if g[c].notna().all()) for c in EXTRA_KEYS}
