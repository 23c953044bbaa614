"""Repeated data, two laws side by side: Muennighoff's effective data against Goyal's utility decay.

* ``data_constrained`` (Muennighoff et al. 2023): ``D' = U + U R_D* (1 - exp(-R_D / R_D*))`` with ``R_D``
  repetitions; the marginal value of a token seen on repetition ``R`` is ``dD'/dD = exp(-R / R_D*)`` of a
  fresh one, so repeated data are worth less than a share ``X`` of fresh from epoch
  ``1 + R_D* ln(1/X)`` on.
* ``utility_decay`` (Goyal et al. 2024): on repetition ``k`` the exponent is ``b (1/2)^(k/tau)``, i.e. the
  data are worth ``(1/2)^(k/tau)`` of fresh data, less than ``X`` from epoch ``1 + tau log2(1/X)`` on.

:func:`compare_repetition` fits both on the same rows with the runs of the largest epoch count held out
(``data_constrained`` once over every model size; ``utility_decay``, a law without N, once per size) and
reports each law's held-out mean absolute percentage error and its "epochs until repeated data are worth
less than X of fresh" readout with a run-level bootstrap interval.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.fit import fit_law
from analysis.interval import Interval
from analysis.laws.utility_decay import epochs_until as goyal_epochs_until
from datasets.errors import WorkbenchError


class RepetitionError(WorkbenchError, ValueError):
    """The frame cannot support the comparison (message says why, fix what to add)."""


def muennighoff_epochs_until(R_D_star, share):
    """Epoch from which a repeated token is worth less than ``share`` of a fresh one: ``1 + R_D* ln(1/share)``."""
    return 1.0 + np.asarray(R_D_star, float) * np.log(1.0 / np.asarray(share, float))


@dataclass(frozen=True)
class LawReadout:
    """One law's side of the comparison."""

    law: str
    heldout_mape: float
    n_heldout: int
    epochs_until: float
    epochs_until_ci: Interval
    params: dict
    group: str = "all sizes"

    def to_dict(self) -> dict:
        return {"law": self.law, "group": self.group, "heldout_mape": self.heldout_mape,
                "n_heldout": self.n_heldout, "epochs_until": self.epochs_until,
                "epochs_until_ci": self.epochs_until_ci.to_list(), "params": dict(self.params)}


@dataclass(frozen=True)
class RepetitionComparison:
    """Both laws on the same split; ``share`` is the X of "worth less than X of fresh data"."""

    share: float
    heldout_epochs: float
    readouts: tuple[LawReadout, ...]
    notes: tuple[str, ...] = ()

    def table(self) -> pd.DataFrame:
        return pd.DataFrame([r.to_dict() for r in self.readouts])

    def to_dict(self) -> dict:
        return {"share": self.share, "heldout_epochs": self.heldout_epochs,
                "readouts": [r.to_dict() for r in self.readouts], "notes": list(self.notes)}

    def summary(self) -> str:
        lines = [f"Runs of {self.heldout_epochs:g} epochs held out; epochs until repeated data are worth "
                 f"< {self.share:.0%} of fresh:"]
        for r in self.readouts:
            lo, hi = r.epochs_until_ci
            lines.append(f"  {r.law} ({r.group}): held-out MAPE {r.heldout_mape:.2%}; "
                         f"{r.epochs_until:.3g} epochs (95% CI {lo:.3g} to {hi:.3g})")
        return "\n".join(lines + list(self.notes))


def _thin(df: pd.DataFrame, per_run: int) -> pd.DataFrame:
    """At most ``per_run`` checkpoints per run, spread evenly in log D (always keeping the last)."""
    keep = []
    for _, g in df.groupby("run", sort=False):
        g = g.sort_values("D")
        if len(g) <= per_run:
            keep.append(g)
            continue
        target = np.geomspace(g["D"].iloc[0], g["D"].iloc[-1], per_run)
        idx = np.unique(np.searchsorted(g["D"].to_numpy(), target).clip(0, len(g) - 1))
        keep.append(g.iloc[idx])
    return pd.concat(keep)


def _mape(fit, rows: pd.DataFrame) -> float:
    p = fit.predict(rows)
    return float(np.mean(np.abs(p - rows["y"].to_numpy(float)) / rows["y"].to_numpy(float)))


def compare_repetition(frame: pd.DataFrame, *, share: float = 0.5, min_fraction: float = 0.1,
                       per_run: int = 25, bootstrap: int = 100, seed: int = 0) -> RepetitionComparison:
    """Fit ``data_constrained`` and ``utility_decay`` with the largest epoch count held out (see module doc).

    Parameters
    ----------
    frame : fit frame with ``run, N, D, U, y`` (checkpoints of runs repeating ``U`` unique tokens).
    share : the X of "repeated data worth less than X of fresh" (0 < X < 1).
    min_fraction : checkpoints before this fraction of each run are dropped (warm-up).
    per_run : at most this many checkpoints per run (log-spaced), to keep the fits fast.
    bootstrap, seed : run-level bootstrap of the readouts.
    """
    if not 0.0 < share < 1.0:
        raise RepetitionError(f"share = {share!r} is not a fraction in (0, 1)", "use e.g. 0.5 for half as valuable")
    need = {"run", "N", "D", "U", "y"} - set(frame.columns)
    if need:
        raise RepetitionError(f"the data lack column(s) {', '.join(sorted(need))}",
                              "use runs that repeat a known number of unique tokens U")
    df = frame[np.isfinite(frame["U"]) & (frame["U"] > 0) & np.isfinite(frame["D"]) & np.isfinite(frame["y"])].copy()
    df["run"] = df["run"].astype(str)
    final = df.groupby("run")["D"].transform("max")
    df = df[df["D"] >= min_fraction * final]
    df["epochs"] = df.groupby("run")["D"].transform("max") / df["U"]
    if np.unique(np.round(np.log(df["epochs"]), 1)).size < 3:
        raise RepetitionError(f"only {df['epochs'].nunique()} distinct epoch counts",
                              "the comparison needs runs at three or more epoch counts")
    df = _thin(df, per_run)
    top = float(df["epochs"].max())
    test = df["epochs"] >= 0.97 * top        # the largest epoch count (runs differ by a few % in tokens)
    train, held = df[~test], df[test]
    readouts = []
    dc = fit_law(train, "data_constrained", bootstrap=bootstrap, seed=seed)
    e, lo, hi = dc.derived(lambda p: muennighoff_epochs_until(p["R_D*"], share))
    readouts.append(LawReadout("data_constrained", _mape(dc, held), int(len(held)), float(e),
                               Interval(float(lo), float(hi)), dict(dc.params)))
    groups = sorted(df["N"].unique()) if "N" in df else [None]
    for N in groups:
        tr = train if N is None else train[train["N"] == N]
        he = held if N is None else held[held["N"] == N]
        if np.unique(np.round(np.log(tr["epochs"]), 1)).size < 2 or he.empty:
            continue
        ud = fit_law(tr, "utility_decay", bootstrap=bootstrap, seed=seed)
        e, lo, hi = ud.derived(lambda p: goyal_epochs_until(p["tau"], share))
        readouts.append(LawReadout("utility_decay", _mape(ud, he), int(len(he)), float(e),
                                   Interval(float(lo), float(hi)), dict(ud.params),
                                   group="all sizes" if N is None else f"N = {N:.3g}"))
    notes = ()
    if held.groupby("run")["y"].apply(lambda s: s.iloc[-1] > s.min() * 1.001).any():
        notes = ("The held-out runs overfit (their loss rises at the end): neither law models a rising loss.",)
    return RepetitionComparison(share, round(top, 1), tuple(readouts), notes)
