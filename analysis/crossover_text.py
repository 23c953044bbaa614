"""The sentences a crossover analysis says: one verdict per pair of groups, and the target sentence.

Every view (page, figure, CLI, report) prints crossing scales through :func:`format_scale`, so a number
reads the same everywhere. The statuses named here are decided in :mod:`analysis.crossover_pair`.
"""
from __future__ import annotations

import numpy as np


def format_scale(x) -> str:
    """A crossing scale as every view prints it (verdict, page, figure, report): 3 significant digits,
    ``1.91e23`` (``n/a`` when missing)."""
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.3g}".replace("e+", "e")


_fmt = format_scale


def outside_data(x: float, ranges: dict, unit: str) -> str:
    """A sentence naming the groups whose data the crossing scale ``x`` lies outside ('' when inside all).

    ``ranges`` maps each group to its data range (lo, hi) in ``unit``."""
    out = [f"{g}'s data ({_fmt(lo)} to {_fmt(hi)} {unit})" for g, (lo, hi) in ranges.items()
           if not (lo <= x <= hi)]
    if not out:
        return ""
    return (f" The crossing at {_fmt(x)} {unit} lies outside " + " and ".join(out) +
            ": there it rests on extrapolated curves; add runs near it to confirm.")


def pair_verdict(ga: str, gb: str, status: str, x: float | None, loc: str | None, ci, p_cross: float,
                 below: str, above: str, unit: str, sig_a: bool, sig_b: bool,
                 other_crossings: list[tuple[float, str]] = ()) -> str:
    """The verdict on groups ``ga`` and ``gb``.

    ``x`` is the crossing scale in ``unit`` (``loc`` where it lies against the data, ``ci`` its 95%
    interval), ``p_cross`` the share of bootstrap pairs that cross in the shown range, ``below``/``above``
    the better group on each side of it, ``sig_a``/``sig_b`` whether ``ga``/``gb`` is significantly better
    somewhere, and ``other_crossings`` (scale, location) the other roots near the shown range.
    """
    other = gb if below == ga else ga
    ci_txt = "" if ci is None else f" (95% CI {_fmt(ci[0])} to {_fmt(ci[1])})"
    p_txt = "" if not np.isfinite(p_cross) else f"; {p_cross:.0%} of bootstrap pairs cross in the shown range"
    if status == "crosses":
        text = (f"{ga} and {gb} cross at {_fmt(x)} {unit}{ci_txt}, inside the data{p_txt}: "
                f"{below} is better below, {above} above.")
    elif status == "crosses outside the data":
        text = (f"{ga} and {gb} are predicted to cross at {_fmt(x)} {unit}{ci_txt}, {loc} (extrapolated){p_txt}: "
                f"{below} is better below, {above} above.")
    elif status == "already crossed":
        text = (f"{ga} and {gb} already crossed below the data, at {_fmt(x)} {unit}{ci_txt} (extrapolated): "
                f"{above} is better than {below} over the measured scales.")
    elif status == "no crossing":
        text = (f"No crossing between {ga} and {gb}: {below} is better than {other} throughout" +
                (" (significantly somewhere in the range)." if (sig_a or sig_b) else
                 ", but the bootstrap does not separate the groups."))
    elif status == "crossing beyond the range":
        text = (f"{below} is better than {other} over the shown range; the fitted curves would cross only at "
                f"{_fmt(x)} {unit}, beyond it (pure extrapolation).")
    else:
        text = (f"The fitted curves of {ga} and {gb} cross at {_fmt(x)} {unit}{ci_txt}{p_txt}, but the bootstrap "
                f"does not show each group significantly better on its side: not a significant crossing.")
    if other_crossings:
        text += " Other crossing(s) of the fitted curves: " + ", ".join(
            f"{_fmt(s)} ({where})" for s, where in other_crossings) + "."
    return text


def target_sentence(target: float, unit: str, better_at_target: dict[str, float]) -> str:
    """Which group is better at the target scale, in what share of the bootstrap resamples."""
    best = max(better_at_target, key=better_at_target.get)
    return (f" At the target {_fmt(target)} {unit}, {best} is better in "
            f"{better_at_target[best]:.0%} of bootstrap resamples.")
