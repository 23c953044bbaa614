"""Where do two (or more) groups' scaling curves cross, and how sure are we?

Each group (a fit frame: one recipe, dataset or architecture) is fitted with a one-variable law along a
shared axis -- by default the saturating power law ``err = E + A * x^-alpha`` in x = N, D or C
(``power_n`` / ``power_d`` / ``power_c``) with :func:`analysis.fit.fit_law`. Higher-is-better metrics
(accuracy, mIoU) are fitted as the error ``1 - value``. All comparisons happen in that fitted error
space, where lower is better.

Crossings
---------
With ``d(u) = err_A(10^u) - err_B(10^u)``, the crossings are the roots of ``d`` on ``u = log10 x``:
``d`` is evaluated on a grid of :data:`GRID_PER_DECADE` points per decade over the *search range* (the
shown range widened by :data:`SEARCH_DECADES` decades on each side) and every sign change of the point
estimate is refined with Brent's method. Bootstrap curves use linear interpolation inside the bracketing
grid interval (0.01 decade wide: an error far below 0.001 decade, negligible next to the intervals). The *shown range* is ``x_range`` when given, else the union of the groups' data
ranges, extended to ``target`` when one is given. A crossing is *in the data* when it lies inside the
range where both groups have data, *below the data* ("already crossed": one group leads over all the
measured scales and the other only below them) or *above the data* (extrapolated).

Uncertainty (run-level bootstrap)
---------------------------------
Each group is refitted on ``bootstrap`` resamples of its runs (independent seeds per group); the b-th
resample of one group is paired with the b-th of the other. For each pair:

* ``p_cross`` -- the share of pairs whose curves cross inside the shown range;
* the crossover scale -- the first root inside the shown range (else the root nearest to it); its
  median and 95% percentile interval over the pairs that cross at all;
* ``better_at_target`` -- for each group, the share of resampled fits in which it has the lowest error at
  the target scale.

Declaring a crossing: ``p_cross`` is descriptive, not a test -- two groups that follow one law have
near-identical curves whose noisy fits cross about half the time. A crossing is *declared* only when
the lead significantly reverses inside the shown range: at some scale group A is better in at least
``1 - alpha/2`` of the resamples and at another scale group B is (pointwise 95% bands of ``d`` that
exclude zero on both sides). The statuses are

* ``"crosses"``                  -- significant reversal, crossing inside the data;
* ``"crosses outside the data"`` -- significant reversal, the crossing is extrapolated (shown range
  reaches beyond the data through ``target`` or ``x_range``);
* ``"already crossed"``          -- the fitted curves cross below the data; over the data one group leads;
* ``"no crossing"``              -- no root anywhere in the search range; one group leads throughout;
* ``"crossing beyond the range"`` -- the fitted curves cross above the shown range (pure extrapolation);
* ``"not significant"``          -- the fitted curves cross in the shown range, but the bootstrap does not
  separate the groups on both sides of it.

When the exponents are tied the compute multiplier ``(A_2/A_1)^(1/alpha)`` is a cleaner summary
(methods reference, section 4); the free-exponent fit here reports where the curves meet.

The pair comparison (roots, bootstrap, status) lives in :mod:`analysis.crossover_pair` and the
sentences in :mod:`analysis.crossover_text`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from analysis.crossover_pair import DECLARED, PairCrossing, compare_pair
from analysis.crossover_text import format_scale, target_sentence
from analysis.fit import FitError, FitResult, fit_law
from analysis.jsonable import number
from analysis.laws import get_law
from datasets.vocabulary import AXES as SCALE_AXES
from datasets.vocabulary import axis as scale_axis

__all__ = ["CrossoverError", "CrossoverResult", "PairCrossing", "DECLARED", "DEFAULT_LAW", "crossover", "fit_group",
           "format_scale"]

DEFAULT_LAW = {"N": "power_n", "D": "power_d", "C": "power_c"}
SEARCH_DECADES = 3.0
GRID_PER_DECADE = 100


class CrossoverError(ValueError):
    """The groups cannot be compared (message names the group and what to do)."""




@dataclass(frozen=True, eq=False)
class CrossoverResult:
    """Crossover analysis of two or more groups along one axis (see the module docstring)."""

    groups: tuple[str, ...]
    axis: str
    law: str
    higher_is_better: bool
    shown_range: tuple[float, float]
    data_ranges: dict[str, tuple[float, float]]
    target: float | None
    better_at_target: dict[str, float] | None
    at_target: dict[str, dict[str, float]] | None
    pairs: tuple[PairCrossing, ...]
    primary: int
    n_boot: int
    fits: dict[str, FitResult] = field(repr=False)
    notes: tuple[str, ...] = ()

    @property
    def main(self) -> PairCrossing:
        return self.pairs[self.primary]

    @property
    def crossover_x(self) -> float | None:
        return self.main.crossover_x

    @property
    def ci(self) -> tuple[float, float] | None:
        return self.main.ci

    @property
    def p_cross(self) -> float:
        return self.main.p_cross

    @property
    def status(self) -> str:
        return self.main.status

    @property
    def verdict(self) -> str:
        text = " ".join(p.verdict for p in self.pairs)
        if self.better_at_target is not None:
            text += target_sentence(self.target, SCALE_AXES[self.axis].unit, self.better_at_target)
        return text

    def to_dict(self) -> dict:
        m = self.main
        return {"groups": list(self.groups), "axis": self.axis, "law": self.law,
                "fitted": "1 - value" if self.higher_is_better else "value",
                "higher_is_better": bool(self.higher_is_better),
                "crossover_x": number(m.crossover_x), "median": number(m.median),
                "ci": None if m.ci is None else [number(v) for v in m.ci], "p_cross": number(m.p_cross),
                "status": m.status, "location": m.location, "pair": list(m.groups),
                "verdict": self.verdict,
                "better_at_target": None if self.better_at_target is None else
                {k: float(v) for k, v in self.better_at_target.items()},
                "at_target": self.at_target, "target": number(self.target),
                "shown_range": [number(v) for v in self.shown_range],
                "data_ranges": {k: [number(a), number(b)] for k, (a, b) in self.data_ranges.items()},
                "pairs": [p.to_dict() for p in self.pairs], "n_boot": self.n_boot,
                "fits": {k: f.to_dict() for k, f in self.fits.items()}, "notes": list(self.notes),
                "warnings": list(self.warnings)}

    @property
    def warnings(self) -> tuple[str, ...]:
        """Every group fit's warnings, each prefixed with its group."""
        return tuple(f"{g}: {w}" for g, f in self.fits.items() for w in f.warnings)

    def summary(self) -> str:
        return self.verdict


# ----------------------------------------------------------------------------------------------
# Main entry
# ----------------------------------------------------------------------------------------------
def _named_frames(a, b, names) -> dict[str, pd.DataFrame]:
    if isinstance(a, dict):
        if b is not None:
            raise CrossoverError("pass either a dict of frames or two frames, not both")
        frames = {str(k): v for k, v in a.items()}
    else:
        if b is None:
            raise CrossoverError("crossover needs two frames (or a dict of two or more)")
        frames_list = [a, b]
        if names is None:
            names = []
            for k, f in enumerate(frames_list):
                g = f["group"].dropna().unique() if "group" in f else []
                names.append(str(g[0]) if len(g) == 1 else "AB"[k])
            if names[0] == names[1]:
                names = ["A", "B"]
        frames = dict(zip(map(str, names), frames_list))
    if len(frames) < 2:
        raise CrossoverError(f"crossover needs at least two groups, got {len(frames)}")
    for k, f in frames.items():
        if not isinstance(f, pd.DataFrame):
            raise CrossoverError(f"group {k!r}: expected a DataFrame (fit frame), got {type(f).__name__}")
    return frames


def _axis_law(axis: str, law: str | None):
    """(axis symbol, law name, Law) of a crossover along ``axis`` (a one-variable law in it)."""
    try:
        ax = scale_axis(str(axis)).symbol
    except ValueError:
        ax = None
    if ax not in DEFAULT_LAW:
        raise CrossoverError(f"unknown axis {axis!r}; use one of params/N, tokens/D, flops/C")
    law_name = law or DEFAULT_LAW[ax]
    law_obj = get_law(law_name)
    if law_obj.variables != (ax,):
        raise CrossoverError(f"law {law_name!r} depends on {', '.join(law_obj.variables)}; a crossover along "
                             f"{ax} needs a one-variable law in {ax} such as {DEFAULT_LAW[ax]}")
    return ax, law_name, law_obj


def fit_group(frame: pd.DataFrame, index: int, name: str = "group", *, axis: str = "C", law: str | None = None,
              bootstrap: int = 1000, seed: int = 0, higher_is_better: bool = False,
              objective: str = "huber") -> FitResult:
    """The fit :func:`crossover` makes of its ``index``-th group (0-based, in the groups' order): same law,
    settings and seed stream (``SeedSequence(seed).generate_state(n)[index]`` does not depend on the
    number of groups n). A caller can so fit (and cache) each group apart from the comparison, which
    then takes them as ``crossover(..., fits=...)``: a new target or range refits nothing."""
    _, _, law_obj = _axis_law(axis, law)
    s = int(np.random.SeedSequence(seed).generate_state(index + 1)[index])
    try:
        return fit_law(frame, law_obj, objective=objective, bootstrap=bootstrap, seed=s,
                       y_transform="one_minus" if higher_is_better else "none")
    except (FitError, ValueError, KeyError) as exc:
        raise CrossoverError(f"group {name!r}: {exc}") from exc


def crossover(a, b=None, *, axis: str = "C", law: str | None = None, target: float | None = None,
              x_range: tuple[float, float] | None = None, bootstrap: int = 1000, seed: int = 0,
              higher_is_better: bool = False, alpha: float = 0.05, names=None,
              objective: str = "huber", fits: dict[str, FitResult] | None = None) -> CrossoverResult:
    """Fit each group along ``axis`` and find where their curves cross, with a run-level bootstrap.

    Parameters
    ----------
    a, b : two fit frames (columns run, N, D, C, y ...), or ``a`` a dict {group name: fit frame}.
    axis : "N" / "params", "D" / "tokens" or "C" / "flops": the shared scale axis.
    law : a one-variable law along ``axis`` (default ``power_n`` / ``power_d`` / ``power_c``).
    target : scale (axis units) at which to report which group is better.
    x_range : (lo, hi) shown range in axis units; default: the data, extended to ``target``.
    bootstrap : run-level resamples per group (paired by index across groups); 0 for point estimates only.
    seed : seed; each group gets its own independent stream derived from it.
    higher_is_better : fit ``1 - y`` (accuracy, mIoU) instead of ``y`` (losses, errors).
    alpha : level of the pointwise bands used to declare a crossing.
    names : names for two frames (default: their ``group`` column, else "A", "B").
    fits : the groups' fits, already made by :func:`fit_group` with the same settings (by group name);
        a group missing here is fitted.

    Returns
    -------
    CrossoverResult
    """
    frames = _named_frames(a, b, names)
    ax, law_name, law_obj = _axis_law(axis, law)
    given = fits or {}
    fits = {name: given[name] if name in given else
            fit_group(frame, i, name, axis=ax, law=law_name, bootstrap=bootstrap, seed=seed,
                      higher_is_better=higher_is_better, objective=objective)
            for i, (name, frame) in enumerate(frames.items())}
    groups = tuple(fits)
    data_ranges = {g: fits[g].ranges[ax] for g in groups}
    lo_union = min(r[0] for r in data_ranges.values())
    hi_union = max(r[1] for r in data_ranges.values())
    if x_range is not None:
        shown = (float(x_range[0]), float(x_range[1]))
        if not (0 < shown[0] < shown[1]):
            raise CrossoverError(f"x_range must be 0 < lo < hi, got {x_range}")
    else:
        shown = (lo_union, hi_union)
        if target is not None:
            shown = (min(shown[0], float(target)), max(shown[1], float(target)))
    if target is not None and not target > 0:
        raise CrossoverError(f"target must be a positive scale, got {target}")
    R = (np.log10(shown[0]), np.log10(shown[1]))
    S = (R[0] - SEARCH_DECADES, R[1] + SEARCH_DECADES)
    u_grid = np.linspace(S[0], S[1], int(np.ceil((S[1] - S[0]) * GRID_PER_DECADE)) + 1)
    X_grid = {ax: 10 ** u_grid}

    # predictions in fitted (error) space: point estimate and bootstrap samples
    point = {g: law_obj.predict(fits[g].params, X_grid) for g in groups}
    boots = {g: fits[g].boot for g in groups}
    n_boot = min((0 if v is None else len(v)) for v in boots.values())
    samples = {}
    if n_boot:
        for g in groups:
            th = law_obj.to_internal(boots[g][:n_boot])
            samples[g] = np.exp(law_obj.logpred(th, X_grid))

    pairs = []
    for ga, gb in combinations(groups, 2):
        overlap = (max(data_ranges[ga][0], data_ranges[gb][0]), min(data_ranges[ga][1], data_ranges[gb][1]))
        pairs.append(compare_pair(ga, gb, law_obj, fits, point, samples, n_boot, u_grid, R,
                                  (np.log10(overlap[0]), np.log10(overlap[1])), alpha, ax, SCALE_AXES[ax].unit,
                                  {ga: data_ranges[ga], gb: data_ranges[gb]}))
    # the headline pair: a declared crossing first, then the most probable crossing
    primary = max(range(len(pairs)), key=lambda i: (pairs[i].status in DECLARED, pairs[i].p_cross))

    better = at_target = None
    if target is not None:
        Xt = {ax: np.array([float(target)])}
        inv = (lambda e: 1.0 - e) if higher_is_better else (lambda e: e)
        at_target = {}
        for g in groups:
            v = float(inv(law_obj.predict(fits[g].params, Xt)[0]))
            entry = {"value": v}
            if n_boot:
                sv = inv(np.exp(law_obj.logpred(law_obj.to_internal(boots[g][:n_boot]), Xt))[:, 0])
                entry.update(lo=float(np.quantile(sv, 0.025)), hi=float(np.quantile(sv, 0.975)))
            at_target[g] = entry
        if n_boot:
            errs = np.column_stack([np.exp(law_obj.logpred(law_obj.to_internal(boots[g][:n_boot]), Xt))[:, 0]
                                    for g in groups])
            winner = np.argmin(errs, axis=1)
            better = {g: float(np.mean(winner == k)) for k, g in enumerate(groups)}
        else:
            errs = [law_obj.predict(fits[g].params, Xt)[0] for g in groups]
            better = {g: float(k == int(np.argmin(errs))) for k, g in enumerate(groups)}
    notes = []
    if higher_is_better:
        notes.append("fitted 1 - value (an error rate), since the metric is higher-is-better")
    if bootstrap and n_boot < bootstrap:
        notes.append(f"{n_boot} paired bootstrap resamples were usable (of {bootstrap} requested)")
    if not bootstrap:
        notes.append("no bootstrap: crossings are point estimates and no crossing can be declared significant")
    return CrossoverResult(groups, ax, law_name, bool(higher_is_better), shown, data_ranges,
                           None if target is None else float(target), better, at_target, tuple(pairs), primary,
                           n_boot, fits, tuple(notes))
