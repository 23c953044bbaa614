"""What the load test's pages must show (:mod:`bench.server_load`), computed without the app, and how a page's
answer is compared with it: the CLI's fit and allocations, the store API's browse counts, the upload reader's
report; a table cell against a reference number (a data grid's float, or a static table's text at its
precision)."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ui.format import quantity

ROOT = Path(__file__).resolve().parents[1]
FIT_FAMILY = "chinchilla-epoch/chinchilla"
BROWSE_FAMILIES = ["chinchilla-epoch/chinchilla", "overtrain/rpj", "laion-clip-mammut/clip", "obsscaling/Pythia",
                   "gemstones/hot", "colpret/datablations-c4", "revisiting/lm-val_loss"]
BUDGETS = (1e21, 5.76e23)          # FLOPs: the allocate actions rotate over these
PARAMS = ("E", "A", "B", "alpha", "beta")
REL_TOL = 1e-6                             # page (Arrow float64) against the CLI (JSON float64)


def same(shown, value: float) -> bool:
    """Whether a table cell ``shown`` is ``value``: a number to :data:`REL_TOL`, or a static table's text
    (``1.8172``, ``4.778e+02``) to within half a unit of its last digit."""
    if not isinstance(shown, str):
        return abs(float(shown) - value) <= REL_TOL * abs(value)
    text = shown.replace("\\", "").replace(",", "")
    mantissa = text.lower().split("e")[0]
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    scale = 10.0 ** int(text.lower().split("e")[1]) if "e" in text.lower() else 1.0
    return abs(float(text) - value) <= 0.5 * 10.0 ** -decimals * scale * (1 + 1e-9)


class WrongAnswer(Exception):
    """The page ran and showed a number that differs from the reference."""


@dataclass
class Expected:
    fit_query: dict[str, list[str]]
    fit_params: dict[str, float]
    allocations: dict[float, dict[str, str]]        # budget -> metric label -> text the page must show
    browse: dict[str, tuple[str, int, int]]         # family -> (source, runs shown, points shown)
    upload: dict[str, int]                          # validation report metric -> value
    csv_text: str


def _cli_allocate(store: Path, budget: float, exclude: list[str]) -> dict:
    cmd = [sys.executable, "-m", "analysis", "allocate", "--store", str(store), "--family", FIT_FAMILY, "--law",
           "chinchilla", "--objective", "huber", "--bootstrap", "0", "--compute", repr(budget), "--json", "--compact"]
    for r in exclude:
        cmd += ["--exclude-run", r]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError(f"the CLI allocate failed: {p.stderr[-2000:]}")
    return json.loads(p.stdout)


def expectations(store: Path) -> Expected:
    """What the pages must show, computed without the app: the CLI (fit and allocation), the store API
    (browse counts) and the upload reader (the report)."""
    from concurrent.futures import ThreadPoolExecutor

    from datasets.store import Store
    from datasets.upload import example_csv, read_upload

    s = Store(store)
    flagged = sorted(str(r) for r in s.flagged_runs(FIT_FAMILY))
    with ThreadPoolExecutor(2) as pool:
        answers = dict(zip(BUDGETS, pool.map(lambda b: _cli_allocate(store, b, flagged), BUDGETS)))
    fit_params = {k: float(answers[BUDGETS[0]]["fit"]["params"][k]) for k in PARAMS}
    allocations = {b: {"N* (parameters)": quantity(a["N_opt"], "params", short=True),
                       "D* (tokens)": quantity(a["D_opt"], "tokens", short=True),
                       "Tokens per parameter": quantity(a["tokens_per_param"], "tokens/param", short=True)}
                   for b, a in answers.items()}
    query = {"source": [FIT_FAMILY.split("/")[0]], "family": [FIT_FAMILY], "law": ["chinchilla"],
             "objective": ["huber"], "cut": ["none"], "exclude": flagged}
    browse = {}
    fams = set(s.families()["family"])
    for fam in BROWSE_FAMILIES:
        if fam in fams:
            runs = s.runs(family=fam)
            pts = s.points(family=fam, metric=s.default_metric(fam))
            browse[fam] = (fam.split("/")[0], int(runs["run_id"].nunique()),
                           int(pts["run_id"].isin(runs["run_id"]).sum()))
    csv_text = example_csv()
    rep = read_upload(csv_text, filename="example.csv").report
    return Expected(query, fit_params, allocations, browse,
                    {"Rows read": rep.rows_read, "Points kept": rep.points_kept, "Runs": rep.runs,
                     "Rows rejected": rep.n_rejected}, csv_text)
