"""Commands that compare or relate metrics: crossover, trend, scan, downstream (as the app's pages do them)."""
from __future__ import annotations

import sys
import time

import pandas as pd

from analysis import settings
from analysis.cli.errors import CLIError
from analysis.cli.loading import (chance_level, load_frame, load_groups, load_points, lr_metrics, open_store,
                                  pick_metric)
from analysis.cli.output import emit
from analysis.crossover import crossover
from analysis.downstream import map_downstream
from analysis.trend import SCAN_COLUMNS, scan_trends, trend_shape
from datasets.vocabulary import axis as scale_axis


def cmd_crossover(args):
    groups, metric, higher_is_better = load_groups(args)
    result = crossover(groups, axis=scale_axis(args.x).symbol, law=args.law, target=args.target,
                       bootstrap=args.bootstrap, seed=args.seed, higher_is_better=higher_is_better)
    payload = result.to_dict()
    payload["metric"] = metric
    emit(args, payload, result.summary())


def cmd_trend(args):
    frame, data_source = load_frame(args)
    x = scale_axis(args.x).symbol
    if x not in frame:
        raise CLIError(f"the data have no {scale_axis(args.x).title} to judge a trend along; choose another --x")
    table = settings.final_values(frame, x)
    if args.higher_is_better is None:
        higher_is_better = settings.is_higher_better(data_source.get("higher_is_better"))
    else:
        higher_is_better = args.higher_is_better == "yes"
    result = trend_shape(table[x].to_numpy(float), table["y"].to_numpy(float), higher_is_better=higher_is_better,
                         alpha=args.alpha, n_boot=args.bootstrap, seed=args.seed, runs=table["run"].to_numpy(str))
    payload = result.to_dict()
    payload["metric"] = data_source.get("metric")
    emit(args, payload, result.summary())


SCAN_TABLE = {"family": "family", "metric": "metric", "shape": "shape", "p_value": "p", "n_sizes": "sizes",
              "first_value": "smallest model", "last_value": "largest model", "turning_point": "turning point N"}


def scan_table(findings: pd.DataFrame, width: int = 48) -> str:
    """The scan's findings as a table a terminal shows: one line each, long names shortened in the middle
    to ``width`` characters (start and end stay: they tell similar names apart), numbers to 3 digits
    (``--json`` has every column in full)."""
    t = findings[list(SCAN_TABLE)].rename(columns=SCAN_TABLE).copy()
    head, tail = (width - 3) // 2, width - 3 - (width - 3) // 2
    for c in ("family", "metric"):
        t[c] = t[c].astype(str).map(lambda s: s if len(s) <= width else s[:head] + "..." + s[-tail:])
    for c in ("p", "smallest model", "largest model", "turning point N"):
        t[c] = t[c].map(lambda v: "" if v is None or pd.isna(v) else f"{v:.3g}".replace("e+", "e"))
    return t.to_string(index=False) + f"\n{len(t)} finding(s); --json for the evidence, intervals and summaries"


def cmd_scan(args):
    store = open_store(args)
    split = args.split or None
    families = list(dict.fromkeys(args.family)) if args.family else list(store.families()["family"])
    if args.source:
        families = [f for f in families if f.startswith(args.source + "/")]
    parts, emergence, t0 = [], [], time.perf_counter()
    for i, family in enumerate(families, 1):         # one family at a time, saying how far it got (stderr)
        points = store.points(family=family, split=split, final_only=True)
        parts.append(scan_trends(points, alpha=args.alpha, n_boot=args.bootstrap))
        if getattr(args, "emergence", False):        # PassUntil shape of each bounded task metric
            from analysis.emergence import scan_emergence
            emergence.append(scan_emergence(points, chance_level=store.chance_level, level=args.alpha,
                                            n_boot=max(99, args.bootstrap), include_all=True))
        if i == len(families) or i % max(1, len(families) // 10) == 0:
            print(f"scan: {i}/{len(families)} families ({time.perf_counter() - t0:.0f} s)", file=sys.stderr,
                  flush=True)
    findings = pd.concat([pd.DataFrame(columns=SCAN_COLUMNS), *[p for p in parts if len(p)]], ignore_index=True)
    findings = findings.sort_values(["family", "metric"]).sort_values("p_value", kind="mergesort")
    findings = findings.reset_index(drop=True)
    if getattr(args, "emergence", False):
        shapes = pd.concat([e for e in emergence if len(e)], ignore_index=True) if any(len(e) for e in emergence) \
            else pd.DataFrame()
        emit(args, {"findings": findings, "emergence": shapes},
             (scan_table(findings) if len(findings) else "no non-monotone trends found") + "\n\n[[emergence]]\n"
             + (shapes.to_string(index=False) if len(shapes) else "no bounded task metric with enough model sizes"))
        return
    emit(args, {"findings": findings}, scan_table(findings) if len(findings) else "no non-monotone trends found")


def cmd_downstream(args):
    points, metrics = load_points(args)
    names = sorted(points["metric"].unique())
    metric = pick_metric(names, args.metric, "the data", lr_metrics(points))
    loss_metric = args.loss_metric or settings.default_loss_metric(metrics)
    if loss_metric is None:
        raise CLIError("no loss metric (unit nats, bits or perplexity) to map from; name one with --loss-metric")
    pick_metric(names, loss_metric, "the data")
    chance = args.chance if args.chance is not None else chance_level(args, metric)
    try:
        pairs, _ = settings.downstream_pairs(points[points["metric"] == loss_metric],
                                             points[points["metric"] == metric])
    except settings.SettingsError as exc:
        raise CLIError(str(exc)) from None
    if len(pairs) < 4:
        raise CLIError(f"only {len(pairs)} checkpoints have both {loss_metric!r} and {metric!r}; need at least 4")
    flag = metrics.loc[metrics["metric"] == metric, "higher_is_better"]
    higher_is_better = settings.is_higher_better(flag.iloc[0] if len(flag) else None)
    heldout, scale = settings.downstream_holdout(args.heldout, pairs["params"] if "params" in pairs else None)
    result = map_downstream(pairs["loss"].to_numpy(float), pairs["value"].to_numpy(float),
                            runs=pairs["run_id"].astype(str).to_numpy(), chance=chance or None,
                            higher_is_better=higher_is_better, heldout=heldout, scale=scale, bootstrap=args.bootstrap)
    payload = result.to_dict()
    payload.update(metric=metric, loss_metric=loss_metric)
    emit(args, payload, result.summary())
