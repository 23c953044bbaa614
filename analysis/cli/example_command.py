"""``python -m analysis example``: write the example files the README's recipes use.

``example --out runs.csv`` writes an upload in the long form (one row per checkpoint and metric): one
training recipe (family ``baseline``) at six sizes N = 50M .. 1.6B parameters, each run trained on 100
tokens per parameter (D up to 1.6e11 tokens) with the validation loss in nats at 8 evenly spaced
checkpoints, drawn from Chinchilla's law

    L(N, D) = E + A / N**alpha + B / D**beta

with Hoffmann et al.'s (2022) E = 1.69, A = 406.4, B = 410.7, alpha = 0.34, beta = 0.28, times
log-normal noise of 0.5% (seed 0, so the file is the same on every call).

``example --kind recipes --out recipes.csv`` adds a second recipe, family ``wide``: A = 250 and a higher
floor E = 1.74 (better at small scale, worse at large: the two recipes' curves cross), for ``crossover``.

``example --kind isoflops --out isoflops.csv`` writes an IsoFLOP grid for ``allocate --approach 2``: the
final loss of baseline-recipe runs at four budgets C = 1e18 .. 1e20 FLOPs, nine sizes each (D = C / 6N).

``example --kind targets --out targets.csv`` writes the points ``predict`` evaluates a saved fit at:
columns N (parameters) and D (tokens) at 20 tokens per parameter, N = 1B .. 70B.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

RECIPES = {"baseline": dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28),
           "wide": dict(E=1.74, A=250.0, B=410.7, alpha=0.34, beta=0.28)}
SIZES = (50e6, 100e6, 200e6, 400e6, 800e6, 1.6e9)        # parameters
TOKENS_PER_PARAM = 100
CHECKPOINTS = 8
NOISE = 0.005                                            # log-normal sd of the loss
TARGET_SIZES = (1e9, 7e9, 13e9, 70e9)


def runs_csv(recipes: tuple[str, ...] = ("baseline",)) -> str:
    """The example runs of ``recipes`` (see the module docstring): ``run,family,N,D,step,metric,value,unit``."""
    rng = np.random.default_rng(0)
    lines = ["run,family,N,D,step,metric,value,unit"]
    for method in recipes:
        p = RECIPES[method]
        for n in SIZES:
            total = TOKENS_PER_PARAM * n
            for k in range(1, CHECKPOINTS + 1):
                d = total * k / CHECKPOINTS
                loss = (p["E"] + p["A"] / n ** p["alpha"] + p["B"] / d ** p["beta"]) * np.exp(rng.normal(0.0, NOISE))
                lines.append(f"{method}-{n / 1e6:g}m,{method},{n:.6g},{d:.6g},{k},val_loss,{loss:.5f},nats")
    return "\n".join(lines) + "\n"


ISOFLOP_BUDGETS = (1e18, 1e19, 3e19, 1e20)


def isoflops_csv() -> str:
    """The example IsoFLOP grid: ``run,family,N,D,metric,value,unit``, one final point per run."""
    rng = np.random.default_rng(1)
    p = RECIPES["baseline"]
    lines = ["run,family,N,D,metric,value,unit"]
    for c in ISOFLOP_BUDGETS:
        n_opt = 0.1 * (c / 6.0) ** 0.5
        for n in n_opt * np.logspace(-1, 1, 9):
            d = c / (6.0 * n)
            loss = (p["E"] + p["A"] / n ** p["alpha"] + p["B"] / d ** p["beta"]) * np.exp(rng.normal(0.0, NOISE))
            lines.append(f"iso-{c:.0e}-{n:.3g},isoflops,{n:.6g},{d:.6g},val_loss,{loss:.5f},nats")
    return "\n".join(lines) + "\n"


def targets_csv() -> str:
    """The example prediction targets: ``N,D`` at 20 tokens per parameter."""
    return "N,D\n" + "".join(f"{n:.6g},{20 * n:.6g}\n" for n in TARGET_SIZES)


def register(add) -> None:
    """Add the ``example`` command (``add`` is the parser's sub-command factory)."""
    p = add("example", cmd_example, "write the example files of the README's recipes (runs.csv, targets.csv)")
    p.add_argument("--kind", choices=KINDS, default="runs",
                   help="runs: one recipe's ladder (default); recipes: two recipes whose curves cross "
                        "(family baseline and wide); isoflops: runs at fixed budgets (allocate --approach 2); "
                        "targets: points (N, D) to predict at")
    p.add_argument("--out", help="file to write (default: stdout)")


KINDS = ("runs", "recipes", "isoflops", "targets")


def cmd_example(args) -> int:
    text = {"runs": runs_csv, "recipes": lambda: runs_csv(tuple(RECIPES)), "isoflops": isoflops_csv,
            "targets": targets_csv}[args.kind]()
    if not args.out:
        if args.json:      # one JSON object, as every command's --json: the file's text under "csv"
            import json
            print(json.dumps({"out": None, "rows": text.count("\n") - 1, "csv": text}))
        else:
            sys.stdout.write(text)
        return 0
    Path(args.out).write_text(text, encoding="utf-8")
    rows = text.count("\n") - 1
    n_recipes = {"runs": 1, "recipes": len(RECIPES)}.get(args.kind)
    what = {"targets": "prediction targets (N, D)", "isoflops": f"{len(ISOFLOP_BUDGETS)} budgets x 9 sizes"}.get(
        args.kind) if n_recipes is None else \
        f"{n_recipes * len(SIZES)} runs of {n_recipes} recipe(s) (column family), {CHECKPOINTS} checkpoints each"
    if args.json:
        import json
        print(json.dumps({"out": args.out, "rows": rows, "what": what}))
    else:
        print(f"wrote {args.out}: {rows} rows, {what}")
    return 0
