"""The data rules of a fit, shared by the app and the CLI: which rows of a sweep family and which N.

* **Sweep envelope**: :func:`sweep_envelope` -- a hyperparameter sweep family (several runs per (N, D) cell
  at different learning rates or batches; :func:`analysis.sweep.detect_sweep`) is fitted through its
  envelope (:data:`ENVELOPE`), by default the best run per cell (:data:`ENVELOPE_METHOD` ``"best"``; or
  ``"bowl"``, the vertex of a convex bowl in (log lr, log batch)). This module decides *whether* and
  *which*; :func:`analysis.sweep.envelope` does the reduction.
* **Metric**: :func:`fit_metric` -- a source's smoothed loss when it publishes one.
* **Which N**: :func:`n_choices` and :func:`with_which_n` -- N as total (:data:`WHICH_N`), non-embedding,
  active or average parameters (:mod:`analysis.effective_params`).
* **Record**: :func:`data_choices` -- these choices as a fit's settings record them (and its reproduce
  command repeats them): a default is not written, so it adds no flag to the command line.

Every name here is also importable from :mod:`analysis.settings`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pandas as pd

from analysis.sweep import ENVELOPE_METHODS

__all__ = ["ENVELOPE", "ENVELOPE_METHOD", "ENVELOPE_METHODS", "WHICH_N", "SweepChoice", "fit_metric", "sweep_envelope",
           "n_choices", "with_which_n", "data_choices"]

ENVELOPE = True                 # a sweep family is fitted through its envelope (best run per (N, D) cell)
ENVELOPE_METHOD = "best"        # the best run's checkpoints per cell; "bowl": a convex bowl's vertex per cell
WHICH_N = "total"               # the parameter count N a law is fitted in (analysis.effective_params.CHOICES)
# the fit note's phrase per method of ENVELOPE_METHODS (analysis.sweep, the one list; a test checks the keys)
ENVELOPE_WHAT = {"best": "the best run per (N, D) cell",
                 "bowl": "the vertex of a convex bowl in (log lr, log batch) per (N, D) cell"}


@dataclass(frozen=True)
class SweepChoice:
    """What :func:`sweep_envelope` did to a fit frame: ``frame`` (the rows to fit), ``is_sweep``, ``applied``
    (the envelope was taken), ``note`` (one sentence saying so, or None) and ``warnings`` (the envelope's
    own, e.g. E poorly identified; or, with the envelope off, the warning naming the sweep)."""

    frame: pd.DataFrame
    is_sweep: bool
    applied: bool
    note: str | None
    warnings: tuple[str, ...]
    family: str = ""

    def to_dict(self) -> dict:
        return {"is_sweep": self.is_sweep, "envelope": self.applied, "note": self.note,
                "warnings": list(self.warnings), "family": self.family}


def fit_metric(metrics: Sequence[str], default: str | None) -> str | None:
    """The metric a family is fitted on: ``<default>_smoothed`` when the source publishes it (StepLaw's
    Gaussian-smoothed final loss, the quantity its paper fits; the last logged batch loss is noisy), else
    ``default`` (:func:`analysis.hparams.sweep_metric`)."""
    from analysis.hparams import sweep_metric
    return sweep_metric(list(metrics), default)


def sweep_envelope(frame: pd.DataFrame, runs: pd.DataFrame | None = None, enabled: bool = ENVELOPE, *,
                   family: str | None = None, method: str = ENVELOPE_METHOD) -> SweepChoice:
    """The rows a loss law is fitted to when ``frame`` may be a hyperparameter sweep (:mod:`analysis.sweep`).

    A sweep family (several runs per (N, D) cell differing in learning rate or batch) is reduced to its
    envelope when ``enabled`` (the default): a loss law describes the best loss reachable at (N, D). With
    ``enabled=False`` the frame is fitted as it is and the warning names the sweep. ``runs`` (the store's
    runs table with ``extra``) supplies the runs' lr and batch; a frame with an ``lr`` column (uploads) is
    detected from it alone. A frame that is not a sweep comes back unchanged. ``method`` is the envelope
    (:data:`analysis.sweep.ENVELOPE_METHODS`, computed by :func:`analysis.sweep.envelope`): ``"best"`` keeps
    the best run's checkpoints; ``"bowl"`` keeps one row per cell at the vertex of a convex bowl in
    (log lr, log batch) over the runs' final losses (a cell without a bowl keeps its best run's final row).
    """
    from analysis.sweep import attach_hparams, detect_sweep, envelope, sweep_warning
    if frame.empty or not {"run", "N", "y"} <= set(frame.columns):
        return SweepChoice(frame, False, False, None, ())
    probe = frame.copy()
    if family:
        probe.attrs["family"] = family
    if runs is not None and len(runs) and "run_id" in runs:
        probe = attach_hparams(probe, runs)
    info = detect_sweep(probe)
    if not info.is_sweep:
        return SweepChoice(frame, False, False, None, (), info.family)
    if not enabled:
        return SweepChoice(frame, True, False, None, (sweep_warning(probe, info),), info.family)
    env = envelope(probe, method)
    rec = env.attrs["envelope"]
    out = env[list(frame.columns)].reset_index(drop=True)
    out.attrs.update(frame.attrs)
    out.attrs["envelope"] = rec
    note = (f"{info.message}: fitted to the envelope, {ENVELOPE_WHAT[method]} ({rec['n_runs_before']:,} runs "
            f"-> {rec['n_runs_after']:,}), the best loss reachable at each size and budget")
    return SweepChoice(out, True, True, note, tuple(rec["warnings"]), info.family)


def n_choices(frame: pd.DataFrame) -> list[str]:
    """The parameter counts ``frame`` can be fitted in: ``total`` always, then non-embedding / active /
    average where a column of :data:`analysis.effective_params.COLUMNS` holds a positive count for every row
    (:func:`analysis.effective_params.attach_counts` adds them from the store's runs)."""
    from analysis.effective_params import available
    return ["total", *[c for c in available(frame) if c != "total"]]


def with_which_n(frame: pd.DataFrame, choice: str = WHICH_N) -> pd.DataFrame:
    """``frame`` with ``N`` replaced by the parameter count ``choice`` (``attrs["which_n"]`` records it; C is
    the data's own and is not changed). Raises :class:`analysis.settings.SettingsError` when the frame lacks
    that count."""
    from analysis.effective_params import CHOICES, which_n
    from analysis.settings import SettingsError
    if choice == "total":
        out = frame.copy() if frame.attrs.get("which_n") != "total" else frame
        out.attrs.update(frame.attrs)
        out.attrs["which_n"] = "total"
        return out
    if choice not in n_choices(frame):
        raise SettingsError(f"these data have no {choice.replace('_', '-')} parameter count for every run "
                            f"({CHOICES.get(choice, 'unknown choice')}); use N = total")
    out = frame.copy()
    out["N"] = which_n(frame, choice).to_numpy(float)
    out.attrs.update(frame.attrs)
    out.attrs["which_n"] = choice
    return out


def data_choices(which_n: str | None = WHICH_N, envelope: bool = ENVELOPE,
                 method: str | None = ENVELOPE_METHOD) -> dict:
    """The data choices as a fit's settings record them: ``{"which_n", "no_envelope", "envelope"}``, the keys
    :func:`analysis.report.commands.fit_options` turns into ``--which-n``, ``--no-envelope``, ``--envelope``.

    ``which_n`` None means :data:`WHICH_N`. The envelope method is recorded only when it is not the default
    (:data:`ENVELOPE_METHOD`) and the envelope is on: the default adds no flag to the reproduce command, and
    a method is meaningless without the envelope. The app (:func:`ui.fit_controls.data_settings`) and the CLI
    (``report``) both record through here.
    """
    return {"which_n": which_n or WHICH_N, "no_envelope": not envelope,
            "envelope": method if envelope and method not in (None, ENVELOPE_METHOD) else None}
