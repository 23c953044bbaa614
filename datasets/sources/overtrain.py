"""Ingest ``overtrain``: mlfoundations/scaling (Gadre et al. 2024, arXiv 2403.08540).

104 final models (3 datasets x 6 shapes x token multipliers 0.25-32 x 20 tokens/param), each with
``exp_data/models/<name>.json`` (hyperparameters, 8 validation losses) and
``exp_data/evals/evaluation_<name>_heavy.json`` (46 downstream accuracies).

* Runs: one per model JSON; family ``overtrain/<dataset>`` (the paper fits one law per training set
  across shapes and multipliers). N = ``hyperparameters.params`` (total, embeddings included),
  D = ``hyperparameters.tokens``, C = 6 N D (the repository's own convention; no FLOPs are stored).
* Validation losses: metric ``<val set>/loss`` (val set named as upstream's ``scaling/shared.py``
  does: the parent folder of ``val_data``, or ``val_de-en_100``), per-token cross-entropy in nats of
  the final checkpoint. stderr = (upper - lower) / (2 x 1.96) of the published per-sequence 95% CI
  (the interval upstream plots), when the interval contains the loss.
* Downstream: metric ``<task>/acc``, unit accuracy in [0, 1], split downstream; raw values only.
  Per-task random baselines are in :func:`task_metadata` (the build stores it as ``task_metadata``).
* ``exp_data/grid.json``: the hyperparameter sweep at 20 tokens/param, family ``overtrain/hparam-grid``
  (one final loss per configuration; N = tokens / 20, verified against the model JSONs).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from datasets.sources import SourceTables
from datasets.sources._common import Provenance, clean_extra, drop_file, finish, numeric

SOURCE = "overtrain"
Z95 = 1.959963984540054
TOKENS_PER_PARAM = 20
METADATA = "exp_data/eval_metadata.csv"
GRID = "exp_data/grid.json"
DATASETS = {"c4_original": "C4", "rpj": "RedPajama", "rw_original": "RefinedWeb"}
_GRID_KEY = re.compile(r"^d=(?P<d>\d+)_l=(?P<l>\d+)_h=(?P<h>\d+)-(?P<bs>\d+)-(?P<lr>[0-9.e-]+)-(?P<wd>[0-9.e-]+)-"
                       r"(?P<bs2>\d+)-(?P<tokens>\d+)-(?P<warmup>\d+)-(?P<cd>[0-9.e-]+)$")


def val_name(val_data: list[str]) -> str:
    """Short name of a validation set, as upstream's ``parse_model_json`` derives it."""
    parts = val_data[0].split("/")
    return parts[-1].split(".")[0] if "de-en" in parts[-2] else parts[-2]


def _loss_stderr(r: dict) -> float:
    lo, hi, loss = r.get("loss_sequences_lower_95"), r.get("loss_sequences_upper_95"), r["loss"]
    if lo is None or hi is None or not (lo <= loss <= hi) or hi <= lo:
        return np.nan
    return (hi - lo) / (2 * Z95)


def ingest(folder: Path) -> SourceTables:
    """Read the 104 model and eval JSONs, the eval metadata and the grid (see module docstring)."""
    folder = Path(folder)
    prov = Provenance.of(folder)
    tables = SourceTables(runs=pd.DataFrame(), points=pd.DataFrame())
    meta = task_metadata(folder)
    tables.rows_read[METADATA] = len(meta)
    runs, points = [], []
    no_ci = 0
    for path in [f for f in prov.files if f.startswith("exp_data/models/")]:
        doc = json.loads((folder / path).read_text(encoding="utf-8"))
        name, hp = doc["name"], doc["hyperparameters"]
        if path != f"exp_data/models/{name}.json":
            raise ValueError(f"{path}: name {name!r} does not match the file name")
        rid = f"{SOURCE}/{name}"
        n, d = float(hp["params"]), float(hp["tokens"])
        shape = hp["model"].rsplit("/", 1)[-1].removesuffix(".json")
        extra = dict(shape=shape, chinchilla_multiplier=hp["chinchilla_multiplier"],
                     tokens_per_param=hp["chinchilla_multiplier"] * TOKENS_PER_PARAM,
                     params_no_embed=hp["params_no_embed"], lr=hp["lr"], wd=hp["wd"], warmup=hp["warmup"],
                     lr_cooldown_end=hp["cd"], global_batch_size=hp["global_bs"], seed=hp.get("seed"))
        runs.append(dict(run_id=rid, collection=doc["dataset_name"], family=f"{SOURCE}/{doc['dataset_name']}",
                         model=name, arch="dec", params=n, data=DATASETS[doc["dataset_name"]], tokens=d,
                         flops=6 * n * d, seed=None if hp.get("seed") is None else str(hp["seed"]),
                         notes="final checkpoint only; N = hyperparameters.params (incl. embeddings); "
                               "D = hyperparameters.tokens; C = 6ND; loss stderr from the per-sequence 95% CI",
                         extra=clean_extra(extra), **prov.run_fields(path)))
        tables.rows_read[path] = len(doc["results"])
        for r in doc["results"]:
            se = _loss_stderr(r)
            no_ci += int(np.isnan(se))
            points.append((rid, np.nan, d, 6 * n * d, f"{val_name(r['val_data'])}/loss", "validation", "nats",
                           float(r["loss"]), se, False))
        eval_path = f"exp_data/evals/evaluation_{name}_heavy.json"
        icl = json.loads((folder / eval_path).read_text(encoding="utf-8"))["eval_metrics"]["icl"]
        tables.rows_read[eval_path] = len(icl)
        unknown = sorted(set(icl) - set(meta["task"]))
        if unknown:
            raise ValueError(f"{eval_path}: tasks without metadata in {METADATA}: {unknown}")
        points.extend((rid, np.nan, d, 6 * n * d, f"{task}/acc", "downstream", "accuracy", float(v), np.nan, True)
                      for task, v in icl.items())
    grid_runs, grid_points = _grid(folder, prov, tables, runs)
    points = pd.DataFrame(points + grid_points, columns=["run_id", "step", "tokens", "flops", "metric", "split",
                                                         "unit", "value", "stderr", "higher_is_better"])
    _record(tables, prov, meta, set(points.loc[points["split"] == "downstream", "metric"].str[:-4]), no_ci)
    return finish(tables, prov, pd.DataFrame(runs + grid_runs), points)


def _grid(folder: Path, prov: Provenance, tables: SourceTables, runs: list[dict]) -> tuple[list, list]:
    """Runs and points of ``grid.json`` (shape-bs-lr-wd-bs-tokens-warmup-cooldown -> final loss)."""
    grid = json.loads((folder / GRID).read_text(encoding="utf-8"))
    tables.rows_read[GRID] = len(grid)
    known = {r["extra"]["shape"]: r["params"] for r in runs}
    out_runs, out_points = [], []
    for key in sorted(grid):
        m = _GRID_KEY.match(key)
        if not m:
            raise ValueError(f"{GRID}: key {key!r} is not shape-bs-lr-wd-bs-tokens-warmup-cooldown")
        shape = f"d={m['d']}_l={m['l']}_h={m['h']}"
        d = float(m["tokens"])
        n = d / TOKENS_PER_PARAM
        if shape in known and known[shape] != n:
            raise ValueError(f"{GRID}: {key}: tokens/20 = {n:,.0f} but the model JSONs give N = {known[shape]:,.0f}")
        rid = f"{SOURCE}/hparam-grid/{key}"
        out_runs.append(dict(run_id=rid, collection="hparam-grid", family=f"{SOURCE}/hparam-grid", model=key,
                             arch="dec", params=n, tokens=d, flops=6 * n * d,
                             notes="hyperparameter sweep at 20 tokens/param; N = tokens / 20; C = 6ND; grid.json "
                                   "does not name the training data or the evaluation set of the loss; the key's "
                                   "5th field (equal to the batch size in every entry) is not interpreted",
                             extra=dict(shape=shape, width=int(m["d"]), layers=int(m["l"]), heads=int(m["h"]),
                                        batch_size=int(m["bs"]), lr=float(m["lr"]), wd=float(m["wd"]),
                                        warmup=int(m["warmup"]), lr_cooldown_end=float(m["cd"])),
                             **prov.run_fields(GRID)))
        out_points.append((rid, np.nan, d, 6 * n * d, "loss", "validation", "nats", float(grid[key]), np.nan, False))
    return out_runs, out_points


def _record(tables: SourceTables, prov: Provenance, meta: pd.DataFrame, tasks: set[str], no_ci: int) -> None:
    tables.exclude("exp_data/models", "flops", "converted", "no FLOPs stored: C = 6 N D (as upstream's shared.py)")
    tables.exclude("exp_data/models", "loss stderr", "converted",
                   "stderr = (loss_sequences_upper_95 - loss_sequences_lower_95) / (2 x 1.96); "
                   f"{no_ci} losses without a CI containing the loss have no stderr", no_ci)
    tables.exclude("exp_data/models", "loss_tokens_*_95", "dropped",
                   "per-token CIs ignore the correlation of tokens within a sequence; the per-sequence CI is used")
    extra = sorted(set(meta["task"]) - tasks)
    tables.exclude(METADATA, f"{len(extra)} tasks without evaluations", "flagged",
                   f"metadata rows for tasks no eval JSON reports ({', '.join(extra)}); kept in task_metadata",
                   len(extra))
    tables.exclude(GRID, "loss", "flagged",
                   "grid.json gives no training set or evaluation set for its losses; stored as metric 'loss' "
                   "(split validation, nats) in family overtrain/hparam-grid, not comparable with the named "
                   "validation sets")
    tables.exclude(GRID, "params", "converted",
                   "N = tokens / 20 (the sweep trains at 20 tokens per parameter; checked against the 4 shapes "
                   "that have model JSONs)")
    for path in prov.files:
        if path.startswith("scaling/open_lm_configs/"):
            drop_file(tables, path, "architecture config (width, depth, heads, vocab); the shapes are in the "
                                    "model JSONs' hyperparameters.model and runs.extra.shape")


def task_metadata(folder: Path) -> pd.DataFrame:
    """Per-task metadata of the downstream evaluations (``exp_data/eval_metadata.csv``).

    Returns
    -------
    DataFrame with columns ``source`` ('overtrain'), ``task``, ``metric`` (the points' metric name,
    ``<task>/acc``), ``category``, ``task_type``, ``shots``, ``n_examples`` and ``random_baseline``
    (chance accuracy as a fraction in [0, 1]: the published percentage / 100), sorted by task.
    """
    folder = Path(folder)
    raw = pd.read_csv(folder / METADATA)
    out = pd.DataFrame({
        "source": SOURCE,
        "task": raw["Eval Task"].astype("string"),
        "metric": raw["Eval Task"].astype("string") + "/acc",
        "category": raw["Task Category"].astype("string"),
        "task_type": raw["Task Type"].astype("string"),
        "shots": numeric(raw["#shots"], METADATA, "#shots"),
        "n_examples": numeric(raw["#datapoints"], METADATA, "#datapoints"),
        "random_baseline": numeric(raw["Random baseline"], METADATA, "Random baseline") / 100.0,
    })
    if out["task"].duplicated().any():
        raise ValueError(f"{METADATA}: duplicate task {out.loc[out['task'].duplicated(), 'task'].iloc[0]!r}")
    return out.sort_values("task", kind="mergesort").reset_index(drop=True)
