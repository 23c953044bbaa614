"""The data filters as flags: ``--min-tpp``, ``--max-tpp`` (tokens per parameter D/N) and ``--max-loss``.

They keep sensibly trained runs, as published analyses do (e.g. ``--min-tpp 2 --max-tpp 2000``), and drop
diverged or far-off points (``--max-loss 6``: values above it, in the metric's units -- nats for a loss).
The fit records them in its ``settings`` and the notes say how many points each dropped
(:func:`analysis.prepare.select_rows`).
"""
from __future__ import annotations


def add_filter_args(group, positive) -> None:
    """Add the three filter flags to an argparse group (``positive``: the parser's positive-number type)."""
    group.add_argument("--min-tpp", type=positive, help="keep points with at least this many tokens per parameter D/N")
    group.add_argument("--max-tpp", type=positive, help="keep points with at most this many tokens per parameter D/N")
    group.add_argument("--max-loss", type=positive,
                       help="drop points whose metric is above this ceiling (in its units; nats for a loss)")


def filters(args) -> dict:
    """``{min_tpp, max_tpp, max_loss}`` from the flags (None when not given), for ``fit_law``."""
    return {k: getattr(args, k, None) for k in ("min_tpp", "max_tpp", "max_loss")}
