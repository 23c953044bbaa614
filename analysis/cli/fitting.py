"""The fit a command makes: its flags, with the app's defaults (:mod:`analysis.settings`) for what is not given.

* ``--law`` not given: the app's default law for the data (:func:`analysis.settings.default_law`; for
  ``allocate``, among the laws with a compute-optimal frontier, as on the Allocate page).
* neither ``--min-tokens`` nor ``--min-fraction`` given: the app's early-checkpoint cut
  (:func:`analysis.settings.default_cut`); ``--min-fraction 0`` keeps every checkpoint.
* the runs the source flags as outliers are left out unless ``--keep-flagged``.
* ``--y-transform auto``: ``1 - value`` for a higher-is-better metric in [0, 1]
  (:func:`analysis.settings.default_y_transform`).
"""
from __future__ import annotations

from dataclasses import replace

import pandas as pd

from analysis import settings
from analysis.auto_law import choose_law
from analysis.backtest import applicable_laws
from analysis.cli.errors import CLIError
from analysis.cli.filters import filters
from analysis.cli.loading import load_frame
from analysis.cli.run_names import resolve_runs
from analysis.fit import fit_law
from analysis.fixed_params import parse_fixed
from analysis.laws import get_law


def default_law_name(frame: pd.DataFrame, *, allocatable_only: bool = False) -> str:
    """The app's default law for ``frame`` (among the allocatable laws when ``allocatable_only``)."""
    laws = applicable_laws(frame, allocatable_only=allocatable_only)
    if not laws:
        raise CLIError("no law applies to these data: a fit needs a scale axis (N, D, C or step) that takes at "
                       "least 3 positive, different values" + (" and, to allocate, both N and D" if allocatable_only
                                                               else "") + "; name one with --law")
    return settings.default_law(laws)


def cut(args, frame: pd.DataFrame) -> tuple[float | None, float | None]:
    """``(min_tokens, min_fraction)``: the flags when either is given (0 = no cut), else the app's default."""
    if args.min_tokens is None and args.min_fraction is None:
        return settings.cut_bounds(*settings.default_cut(frame)[:2])
    return args.min_tokens or None, args.min_fraction or None


def exclusions(args, frame: pd.DataFrame, data_source: dict) -> tuple[str, ...]:
    """``--exclude-run`` values plus, as in the app, the runs the source flags as outliers (unless
    ``--keep-flagged``; then the ``--exclude-run`` list is the whole list, as the app's commands write it)."""
    flagged = () if args.keep_flagged else settings.flagged_exclusions(frame, data_source.get("flagged", ()))
    return tuple(dict.fromkeys([*resolve_runs(args.exclude_run or (), frame), *flagged]))


def fit_kwargs(args, frame: pd.DataFrame, data_source: dict) -> dict:
    """The keyword arguments of :func:`analysis.fit.fit_law` besides the law."""
    min_tokens, min_fraction = cut(args, frame)
    y_transform = settings.default_y_transform(frame) if args.y_transform == "auto" else args.y_transform
    return dict(objective=args.objective, delta=args.delta, bootstrap=args.bootstrap, seed=args.seed,
                min_tokens=min_tokens, min_fraction=min_fraction, exclude_runs=exclusions(args, frame, data_source),
                y_transform=y_transform, time_budget=args.time_budget, **filters(args))


def choose(args, frame: pd.DataFrame, kwargs: dict, *, allocatable_only: bool = False) -> tuple[str, dict | None]:
    """``(law name, the auto choice as a dict or None)``: ``--law``, the default law, or with ``--law auto``
    the law with the best held-out error (largest model left out, no bootstrap)."""
    if args.law is None:
        return default_law_name(frame, allocatable_only=allocatable_only), None
    if args.law != "auto":
        return args.law, None
    compute = getattr(args, "compute", None)         # one budget (allocate) or several (report: the largest)
    target = {"C": max(compute) if isinstance(compute, list) else compute} if compute else None
    choice = choose_law(frame, allocatable_only=allocatable_only, target=target,
                        **dict(kwargs, bootstrap=0, time_budget=None))
    return choice.law, choice.to_dict()


def fit(args, *, allocatable_only: bool = False):
    """``(FitResult, frame, data_source, auto choice or None, fit kwargs)`` for the command's flags."""
    frame, data_source = load_frame(args)
    kwargs = fit_kwargs(args, frame, data_source)
    law_name, choice = choose(args, frame, kwargs, allocatable_only=allocatable_only)
    fixed = parse_fixed(getattr(args, "fix", None))       # `fit --fix`: parameters held (a two-stage fit)
    result = fit_law(frame, law_name, **kwargs, **({"fixed": fixed} if fixed else {}))
    return with_sweep(result, data_source), frame, data_source, choice, kwargs


def with_sweep(result, data_source: dict):
    """``result`` with the sweep envelope's note and warnings (:func:`analysis.settings.sweep_envelope`)
    added, as the app shows them beside the fit."""
    sweep = data_source.get("sweep") or {}
    if not sweep:
        return result
    return replace(result, warnings=tuple(dict.fromkeys([*result.warnings, *sweep.get("warnings", ())])),
                   notes=tuple(dict.fromkeys([*result.notes, *([sweep["note"]] if sweep.get("note") else [])])))


COMPARISON_BOOTSTRAP = 200   # resamples of each other law a report compares with (law-choice uncertainty)


def comparison_fits(frame: pd.DataFrame, main, kwargs: dict, n: int = 2) -> list:
    """Up to ``n`` other applicable laws (the app's preference order first) fitted to the same rows with
    at most :data:`COMPARISON_BOOTSTRAP` resamples, for a report's law-choice check; laws that fail are skipped."""
    names = [x for x in applicable_laws(frame) if x != main.law.name and get_law(x).x_axis == main.law.x_axis]
    names.sort(key=lambda x: settings.LAW_PREFERENCE.index(x) if x in settings.LAW_PREFERENCE else 99)
    out = []
    for name in names:
        if len(out) >= n:
            break
        try:
            out.append(fit_law(frame, name, **dict(kwargs, bootstrap=min(int(kwargs.get("bootstrap") or 0),
                                                                           COMPARISON_BOOTSTRAP))))
        except (ValueError, FloatingPointError):
            continue
    return out
