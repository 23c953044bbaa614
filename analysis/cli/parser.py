"""The command line's flags. Defaults are the app's (:mod:`analysis.settings`), so a command without options
computes what the corresponding page shows by default."""
from __future__ import annotations

import argparse
import math

from analysis import settings
from analysis.cli.data_options import add_data_args
from analysis.cli.compare_commands import cmd_crossover, cmd_downstream, cmd_scan, cmd_trend
from analysis.cli import batch_commands, example_command, hparams_command
from analysis.cli.allocate_command import cmd_allocate
from analysis.cli.errors import EXIT_USAGE
from analysis.cli.filters import add_filter_args
from analysis.cli.fit_commands import (cmd_backtest, cmd_families, cmd_fit, cmd_laws, cmd_predict,
                                       cmd_report)
from analysis.laws import LAWS
from datasets.vocabulary import AXES

DESCRIPTION = "python -m analysis: the workbench's analyses from the command line."
# --x accepts an axis symbol or its store column (N or params, D or tokens, C or flops, step)
AXIS_CHOICES = sorted({name for a in AXES.values() if a.symbol in ("N", "D", "C", "step")
                       for name in (a.symbol, a.column)})


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (``error: ...``, exit 2), like every other error of the CLI."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"error: {' '.join(str(message).split())} (see `{self.prog} --help`)\n")


def _number(kind: str, lo: float | None = None, hi: float | None = None, *, lo_open=False, hi_open=False,
            integer=False):
    """An argparse ``type``: a finite number within [lo, hi] (open ends where asked), else a usage error."""
    def parse(text: str):
        try:
            x = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{kind} expected, got {text!r}") from None
        ok = math.isfinite(x) and (lo is None or (x > lo if lo_open else x >= lo)) \
            and (hi is None or (x < hi if hi_open else x <= hi)) and (not integer or x == int(x))
        if not ok:
            raise argparse.ArgumentTypeError(f"{kind} expected, got {text!r}")
        return int(x) if integer else x
    return parse


POSITIVE = _number("a positive finite number", 0, lo_open=True)
NON_NEGATIVE = _number("a finite number >= 0", 0)
FRACTION = _number("a fraction in [0, 1)", 0, 1, hi_open=True)
TAIL = _number("a fraction in (0, 1]", 0, 1, lo_open=True)
ALPHA = _number("a significance level in (0, 1)", 0, 1, lo_open=True, hi_open=True)
MAX_BOOTSTRAP = 100_000
RESAMPLES = _number(f"a whole number of resamples from 0 to {MAX_BOOTSTRAP:,}", 0, MAX_BOOTSTRAP, integer=True)
SEED = _number("a whole number from 0 to 2**32 - 1", 0, 2 ** 32 - 1, integer=True)
COUNT = _number("a whole number >= 1", 1, 1e6, integer=True)


def _bootstrap_arg(p, analysis: str, what: str = "run-level bootstrap resamples") -> None:
    p.add_argument("--bootstrap", type=RESAMPLES, default=settings.bootstrap_for(analysis),
                   help=f"{what} (0 = none; default: the app's, %(default)s)")


def _data_args(p, multi_family=False):
    g = p.add_argument_group("data")
    add_data_args(g)      # --data/--csv, --column, --run-info, --tokens-per-step, --strict (analysis.cli.data_options)
    g.add_argument("--store", help="a store built by `python -m datasets.build` "
                                   "(default: $SCALING_STORE, else the project's store.duckdb)")
    g.add_argument("--family", action="append",
                   help="a family in the store" + (" (repeat for groups)" if multi_family else ""))
    g.add_argument("--metric", help="the metric to analyse (default: the only one, or the family's default)")
    g.add_argument("--final-only", action="store_true", help="use only the last checkpoint of each run")


def _fit_args(p):
    g = p.add_argument_group("fit (defaults: the app's, from analysis.settings)")
    g.add_argument("--law", default=None, choices=sorted(LAWS) + ["auto"],
                   help="law to fit; auto picks by held-out error (default: the app's default for the data: "
                        "chinchilla when N and D vary, else the saturating power law of the varying axis)")
    g.add_argument("--objective", default=settings.OBJECTIVE, choices=["huber", "mse", "lower"])
    g.add_argument("--delta", type=POSITIVE, default=settings.HUBER_DELTA, help="Huber threshold on log residuals")
    _bootstrap_arg(g, "fit")
    g.add_argument("--seed", type=SEED, default=settings.SEED)
    g.add_argument("--min-tokens", type=NON_NEGATIVE, help="drop checkpoints with fewer tokens than this "
                                                           "(default, with --min-fraction: the app's early cut)")
    g.add_argument("--min-fraction", type=FRACTION, help="drop checkpoints before this fraction of each run "
                                                         "(0 keeps every checkpoint)")
    g.add_argument("--exclude-run", action="append", help="leave out this run (repeatable)")
    g.add_argument("--keep-flagged", action="store_true",
                   help="keep the runs the source flags as outliers (left out by default, as in the app)")
    g.add_argument("--y-transform", default="auto", choices=["auto", "none", "one_minus"],
                   help="fit 1 - value (auto: for a higher-is-better metric in [0, 1], as the app)")
    g.add_argument("--time-budget", type=POSITIVE, help="seconds the bootstrap may take before it stops early")
    g.add_argument("--which-n", default=settings.WHICH_N, choices=["total", "non_embedding", "active", "average"],
                   help="the parameter count N is fitted in (default total; the others where the data record them: "
                        "active for StepLaw's MoE families)")
    g.add_argument("--no-envelope", action="store_true",
                   help="fit every run of a hyperparameter sweep family (default, as in the app: the best run per "
                        "(N, D) cell, analysis.settings.sweep_envelope)")
    g.add_argument("--envelope", default=settings.ENVELOPE_METHOD, choices=list(settings.ENVELOPE_METHODS),
                   help="how a sweep family's envelope is taken: best = the best run per (N, D) cell (default); "
                        "bowl = the vertex of a convex bowl in (log lr, log batch) over each cell's final losses")
    add_filter_args(g, POSITIVE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m analysis", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name, fn, help_):
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.add_argument("--compact", action="store_true", help="JSON on one line")
        p.set_defaults(fn=fn)
        return p

    add("laws", cmd_laws, "list the law registry")
    p = add("families", cmd_families, "list the store's families")
    p.add_argument("--store")
    p = add("fit", cmd_fit, "fit a law with bootstrap confidence intervals")
    _data_args(p)
    _fit_args(p)
    p.add_argument("--out", help="save the fit (with bootstrap samples) as JSON for `predict`")
    p.add_argument("--fix", action="append", metavar="NAME=VALUE|STAGE",
                   help="hold a parameter at a value (repeatable, e.g. --fix E=1.87), or for data_constrained a "
                        "two-stage fit: --fix published (the paper's single-epoch E, A, B, alpha, beta) or "
                        "--fix single-epoch (Chinchilla on the rows with D <= U first); analysis.fixed_params")
    batch_commands.register_fit(p)
    p = add("predict", cmd_predict, "predict with a saved fit at the rows of a CSV")
    p.add_argument("--fit", required=True, help="a fit saved with `fit --out`")
    p.add_argument("--csv", required=True, help="points to predict at (columns N, D, C or step)")
    p = add("allocate", cmd_allocate, "compute-optimal N and D for a FLOP budget")
    _data_args(p)
    _fit_args(p)
    p.add_argument("--compute", type=POSITIVE, help="training budget in FLOPs (without it: the exponents only)")
    p.add_argument("--approach", type=int, choices=[2, 3], default=3,
                   help="3: the fitted law's optimum (default); 2: IsoFLOP minima by local parabolas, then "
                        "power laws N*(C), D*(C) (intervals by resampling runs)")
    p.add_argument("--flops-per-param-token", type=POSITIVE, default=6.0, help="k in C = k N D")
    p.add_argument("--unique-tokens", type=POSITIVE, help="unique tokens available (data-constrained law)")
    p = add("backtest", cmd_backtest, "hold out the largest model(s), predict them, report ARE and log-RMSE")
    _data_args(p)
    _fit_args(p)
    p.add_argument("--n-holdout", type=COUNT, default=1, help="number of largest sizes held out")
    p.add_argument("--tail", type=TAIL, default=0.3, help="fraction of each held-out run scored by ARE")
    batch_commands.register_backtest(p)
    p = add("report", cmd_report, "a fitted-law report in HTML, JSON or Markdown")
    _data_args(p)
    _fit_args(p)
    p.add_argument("--format", choices=["html", "json", "md"], default="html")
    p.add_argument("--out", help="write the report here (default: stdout)")
    p.add_argument("--compute", type=POSITIVE, action="append", help="budget(s) for the allocation table")
    p.add_argument("--plotlyjs", choices=["inline", "cdn"], default="inline",
                   help="HTML only: inline = self-contained, works offline (~2 MB, default); cdn = ~0.2 MB, "
                        "the figures load plotly.js from cdn.plot.ly (pinned version and hash)")
    p = add("crossover", cmd_crossover, "where two groups' scaling curves cross, with bootstrap uncertainty")
    _data_args(p, multi_family=True)
    p.add_argument("--group", default="family", help="column of the CSV that names the groups")
    p.add_argument("--x", default="flops", choices=AXIS_CHOICES, help="shared scale axis")
    p.add_argument("--law", default=None, choices=sorted(LAWS),
                   help="law per group (default: saturating power law on the axis)")
    p.add_argument("--target", type=POSITIVE, help="scale at which to say which group is better")
    _bootstrap_arg(p, "crossover", "run-level resamples per group")
    p.add_argument("--seed", type=SEED, default=settings.SEED)
    p = add("trend", cmd_trend, "classify a metric's trend with scale: improving, inverse, U-shaped ...")
    _data_args(p)
    p.add_argument("--x", default="params", choices=AXIS_CHOICES)
    p.add_argument("--alpha", type=ALPHA, default=settings.TREND_ALPHA, help="significance level")
    _bootstrap_arg(p, "trend", "run-level resamples for the turning point's interval")
    p.add_argument("--seed", type=SEED, default=settings.SEED)
    p.add_argument("--higher-is-better", choices=["yes", "no"], help="override the metric's direction")
    p = add("scan", cmd_scan, "list non-monotone trends across the store's families and metrics")
    p.add_argument("--store")
    p.add_argument("--family", action="append")
    p.add_argument("--source", help="only families of this source")
    p.add_argument("--split", help="only metrics of this split (default: every split, as the app)")
    p.add_argument("--alpha", type=ALPHA, default=settings.TREND_ALPHA)
    _bootstrap_arg(p, "scan", "resamples per turning point")
    p.add_argument("--emergence", action="store_true",
                   help="also classify every bounded higher-is-better metric's emergence (PassUntil: "
                        "F = log(-log p) against log N, chance floor subtracted; runs serially)")
    batch_commands.register_scan(p)
    p = add("downstream", cmd_downstream, "map loss to a downstream metric")
    _data_args(p)
    p.add_argument("--loss-metric", help="the loss to map from (default: the app's, the family's main loss)")
    p.add_argument("--chance", type=NON_NEGATIVE, help="chance level of the task in metric units, 0 = unknown "
                                                       "(default: the source's published baseline)")
    p.add_argument("--heldout", choices=["largest", "best", "none"], default=settings.DOWNSTREAM_HELDOUT,
                   help="back-test: the largest model, the lowest-loss 20%%, or none (AICc)")
    _bootstrap_arg(p, "downstream", "run-level resamples of the map")
    hparams_command.register(add)
    example_command.register(add)
    return parser
