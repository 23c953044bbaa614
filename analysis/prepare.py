"""The rows a fit uses: completed scale axes, the data choices, derived variables, validity checks.

A fit frame has one row per observation (run x checkpoint) with columns ``run``, the scale axes ``N``
(parameters), ``D`` (tokens), ``C`` (FLOPs), ``step``, optionally ``U`` (unique tokens) and ``lr``,
and ``y`` (the metric, in its units). :func:`prepare` turns it into the arrays a fit of one law needs,
and remembers which input rows those are (:attr:`Prepared.rows`), so figures and reports draw the
rows the fit used instead of re-deriving them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.laws import Law, as_arrays, get_law
from datasets.errors import WorkbenchError
from datasets.vocabulary import AXES

FLOPS_PER_PARAM_TOKEN = 6.0
"""``k`` in ``C = k N D``: a dense transformer's forward and backward pass."""
Y_TRANSFORMS = ("none", "one_minus")
_ROW = "__row__"


class FitError(WorkbenchError, ValueError):
    """The data cannot be fitted with the requested law (message says why and what to do)."""


@dataclass(frozen=True)
class Prepared:
    """The observations a fit uses, after the data choices.

    ``X`` maps the law's variables to arrays, ``y`` is the fitted quantity (after ``y_transform``),
    ``run`` the run of each row, ``frame`` the prepared rows (with derived variables) and ``rows``
    their positions among the ``n_input`` rows of the frame given to :func:`prepare`.
    """

    X: dict
    y: np.ndarray
    run: np.ndarray
    notes: tuple[str, ...]
    frame: pd.DataFrame
    rows: np.ndarray
    n_input: int

    def used_mask(self) -> np.ndarray:
        """Boolean mask over the input rows: True where the fit used the row."""
        mask = np.zeros(self.n_input, bool)
        mask[self.rows] = True
        return mask


def complete_axes(frame: pd.DataFrame | dict, flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN) -> pd.DataFrame:
    """Fill whichever of N, D, C is missing from the other two with C = k N D."""
    df = pd.DataFrame(frame).copy()
    k = flops_per_param_token
    for col in ("N", "D", "C"):
        if col not in df:
            df[col] = np.nan
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    df["C"] = df["C"].fillna(k * df["N"] * df["D"])
    df["D"] = df["D"].fillna(df["C"] / (k * df["N"]))
    df["N"] = df["N"].fillna(df["C"] / (k * df["D"]))
    return df


FILTERS = ("min_tpp", "max_tpp", "max_loss")
"""The data filters (keyword arguments of :func:`select_rows`, :func:`prepare` and ``fit_law``)."""


def select_rows(frame: pd.DataFrame, *, min_tokens: float | None = None, min_fraction: float | None = None,
                exclude_runs=(), min_tpp: float | None = None, max_tpp: float | None = None,
                max_loss: float | None = None) -> tuple[pd.DataFrame, list[str]]:
    """The rows a fit keeps after the data choices (excluded runs, early-checkpoint cuts, filters), with notes.

    ``min_tpp`` / ``max_tpp`` keep points whose tokens per parameter ``D / N`` lie in that range (published
    analyses keep sensibly trained runs, e.g. 2 <= D/N <= 2000; points without N or D are kept);
    ``max_loss`` drops points whose metric ``y`` (in its units, nats for a loss) is above it (diverged or
    far-off runs). Returns the frame with N, D, C completed and ``run`` as text, indexed like ``frame``.
    """
    notes: list[str] = []
    df = complete_axes(frame)
    if "run" not in df:
        df["run"] = np.arange(len(df)).astype(str)
    df["run"] = df["run"].astype(str)
    excl = set(map(str, exclude_runs or ()))
    if excl:
        n0 = len(df)
        df = df[~df["run"].isin(excl)]
        notes.append(f"excluded {len(excl)} run(s) ({n0 - len(df)} points)")
    if min_tpp is not None or max_tpp is not None:
        tpp = df["D"] / df["N"]
        lo = float(min_tpp) if min_tpp is not None else 0.0
        hi = float(max_tpp) if max_tpp is not None else np.inf
        out = (tpp < lo) | (tpp > hi)
        if out.any():
            notes.append(f"dropped {int(out.sum())} points outside {lo:g} <= D/N <= {hi:g} tokens per parameter")
        df = df[~out]
    if max_loss is not None and "y" in df:
        above = pd.to_numeric(df["y"], errors="coerce") > float(max_loss)
        if above.any():
            notes.append(f"dropped {int(above.sum())} points with a value above the ceiling {float(max_loss):g}")
        df = df[~above]
    if min_tokens:
        n0 = len(df)
        df = df[~(df["D"] < float(min_tokens))]
        if n0 - len(df):
            notes.append(f"dropped {n0 - len(df)} checkpoints with D < {float(min_tokens):.3g} tokens")
    if min_fraction:
        axis = "D" if df["D"].notna().any() else "step"
        final = df.groupby("run")[axis].transform("max")
        n0 = len(df)
        df = df[~(df[axis] < float(min_fraction) * final)]
        if n0 - len(df):
            notes.append(f"dropped {n0 - len(df)} checkpoints before {min_fraction:.0%} of their run")
    return df, notes


def prepare(frame: pd.DataFrame, law: str | Law, *, min_tokens: float | None = None,
            min_fraction: float | None = None, exclude_runs=(), y_transform: str = "none",
            min_tpp: float | None = None, max_tpp: float | None = None, max_loss: float | None = None) -> Prepared:
    """Apply the data choices and return the arrays a fit of ``law`` needs.

    Parameters
    ----------
    frame : DataFrame
        Fit frame (columns ``run, N, D, C, step, y`` and optionally ``U``, ``lr``).
    law : str or Law
        The law whose variables (and derived variables, e.g. LR-schedule areas) are needed.
    min_tokens : float, optional
        Drop checkpoints with fewer training tokens ``D`` than this (the Hitchhiker guide drops the
        first 10B tokens of each run).
    min_fraction : float, optional
        Drop checkpoints before this fraction of each run's final tokens (or steps).
    exclude_runs : iterable of str
        Runs to leave out.
    y_transform : {"none", "one_minus"}
        ``"one_minus"`` fits ``1 - y`` (for accuracies: an error that decreases with scale).
    min_tpp, max_tpp, max_loss : float, optional
        Data filters (:func:`select_rows`): tokens-per-parameter range, ceiling on the metric.

    Raises
    ------
    FitError
        When a column the law needs is missing, or too few usable points remain.
    """
    if y_transform not in Y_TRANSFORMS:
        raise ValueError(f"unknown y_transform {y_transform!r}")
    law = get_law(law)
    base = pd.DataFrame(frame).reset_index(drop=True)
    n_input = len(base)
    base[_ROW] = np.arange(n_input)
    if law.derived is not None:
        # derived variables (schedule areas) accumulate over each run's history: computed on whole runs,
        # before the early-checkpoint cuts, exactly as the back-test computes them for held-out rows
        try:
            base = law.add_derived(base)
        except KeyError as e:
            raise FitError(e.args[0]) from None
    df, notes = select_rows(base, min_tokens=min_tokens, min_fraction=min_fraction, exclude_runs=exclude_runs,
                            min_tpp=min_tpp, max_tpp=max_tpp, max_loss=max_loss)
    df = df.reset_index(drop=True)
    df["y"] = pd.to_numeric(df["y"], errors="coerce").astype(float)
    if y_transform == "one_minus":
        df["y"] = 1.0 - df["y"]
        notes.insert(0, "fitted 1 - value (an error rate) because the metric is higher-is-better")
    for v in law.optional:
        if v not in df:
            df[v] = np.nan
    missing = [v for v in law.variables if v not in df]
    if missing:
        raise FitError(f"law {law.name} needs column(s) {', '.join(missing)}; the data have "
                       f"{', '.join(c for c in df.columns if c in AXES) or 'no scale axis'}")
    need = law.checked
    ok = np.isfinite(df["y"]) & (df["y"] > 0)
    for v in law.variables:
        if v in need:
            ok &= np.isfinite(df[v]) & (df[v] > 0)
        elif v not in law.optional:
            ok &= np.isfinite(df[v])
    if (~ok).sum():
        notes.append(f"left out {(~ok).sum()} points with missing, zero or negative {'/'.join(need)} or y")
    df = df[ok].reset_index(drop=True)
    if len(df) < len(law.params) + 1:
        raise FitError(f"only {len(df)} usable points for the {len(law.params)}-parameter law {law.name}: "
                       "add runs, relax the early-token cut, or choose a law with fewer parameters")
    rows = df.pop(_ROW).to_numpy(int)
    X = as_arrays(df, law.variables)
    return Prepared(X, df["y"].to_numpy(float), df["run"].to_numpy(str), tuple(notes), df, rows, n_input)
