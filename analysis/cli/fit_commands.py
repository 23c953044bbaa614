"""Commands around one fitted law: laws, families, fit, predict, allocate, backtest, report."""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from analysis.allocate import allocations
from analysis.backtest import backtest
from analysis.cli import fitting
from analysis.cli.errors import CLIError, one_line
from analysis.cli.loading import check_file, load_frame, open_store, read_points
from analysis.cli.output import dump, emit
from analysis.fit import FitResult
from analysis.laws import LAWS
from analysis.report import build_report
from analysis.settings import data_choices

DEFAULT_BUDGETS = (1e21, 1e22, 1e23, 1e24, 1e25)      # FLOPs of the report's allocation table


def cmd_laws(args):
    described = [law.describe() for law in LAWS.values()]
    emit(args, {"laws": described}, "\n".join(f"{d['name']:18s} {d['formula']}   [{', '.join(d['variables'])}]"
                                              for d in described))


def cmd_families(args):
    families = open_store(args).families()
    emit(args, {"families": families}, families.to_string(index=False))


def cmd_fit(args):
    result, _, data_source, choice, _ = fitting.fit(args)
    emit_fit(args, result, data_source, choice)


def emit_fit(args, result: FitResult, data_source, choice: dict | None) -> None:
    """Save ``result`` to ``--out`` (with its bootstrap samples) and print it: the JSON payload (with the
    data source and the automatic law choice) or the text summary."""
    if args.out:
        Path(args.out).write_text(dump(result.to_dict(include_samples=True)), encoding="utf-8")
    payload = result.to_dict()
    payload["data"] = data_source
    if choice:
        payload["auto"] = choice
    emit(args, payload, result.summary() + (f"\n[[auto]] {choice['reason']}" if choice else ""))


def cmd_predict(args):
    check_file(args.fit)
    try:
        saved = json.loads(Path(args.fit).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CLIError(f"cannot read the fit {args.fit}: {exc}") from None
    if not isinstance(saved, dict) or not {"law", "params"} <= set(saved):
        raise CLIError(f"{args.fit} is not a fit saved with `python -m analysis fit --out` (no 'law' and 'params')")
    try:
        result = FitResult.from_dict(saved)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CLIError(f"{args.fit} is not a usable fit: {one_line(exc)}") from None
    points = read_points(args.csv)
    out = points.copy()
    out["y_pred"] = result.predict(points)
    if result.n_boot:
        out["y_lo"], out["y_hi"] = result.band(points)
    emit(args, {"law": saved["law"], "predictions": out}, out.to_string(index=False))


def cmd_backtest(args):
    frame, data_source = load_frame(args)
    kwargs = fitting.fit_kwargs(args, frame, data_source)
    law_name, choice = fitting.choose(args, frame, kwargs)
    bt = backtest(frame, law_name, n_holdout=args.n_holdout, tail=args.tail, **kwargs)
    payload = bt.to_dict()
    if choice:
        payload["auto"] = choice
    emit(args, payload, bt.summary())


def cmd_report(args):
    result, frame, data_source, _, kwargs = fitting.fit(args)
    bt = None
    try:
        bt = backtest(frame, result.law, **dict(kwargs, bootstrap=0))
    except Exception as exc:  # noqa: BLE001 - a report without a back-test is still a report
        print(f"note: no back-test in the report ({one_line(exc)})", file=sys.stderr)
    allocation = None
    if result.law.allocatable:
        allocation, refused = allocations(result, args.compute or DEFAULT_BUDGETS)
        for c, exc in refused.items():
            print(f"note: no allocation at {c:.4g} FLOPs ({one_line(exc)})", file=sys.stderr)
    command = "python -m analysis " + " ".join(shlex.quote(a) for a in getattr(args, "argv", sys.argv[1:]))
    data = data_choices(args.which_n, not args.no_envelope, args.envelope)      # as the app records them
    report = build_report(result, frame, data_source=data_source, backtest=bt, allocation=allocation,
                          comparisons=fitting.comparison_fits(frame, result, kwargs),
                          command=command, settings={**result.settings, **data})
    text = {"html": lambda: report.to_html(plotlyjs=args.plotlyjs), "json": report.to_json,
            "md": report.to_markdown}[args.format]()
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.format} report to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
