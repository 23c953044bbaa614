"""Ingest ``revisiting``: the learning-curve benchmark of Alabdulmohsin, Neyshabur & Zhai 2022.

``data/benchmark.lang.csv`` and ``data/benchmark.vision.csv`` (google-research
``revisiting_neural_scaling_laws/data``; bytes copied from IBM/ColPret) hold 92 evaluations: learning
curves of one model on one task, with columns Domain, Task, Model, Seen Examples, Loss, Training.

* One run per (Domain, Task, Model) curve; one family per (Domain, Task), so every group of
  curves that the paper extrapolates together is fitted separately.
* x = ``Seen Examples`` = batch size x steps, stored in ``points.tokens``: images for IC, tokens for
  LM and BIG-bench (BB), examples for NMT (upstream does not say whether sentence pairs or tokens),
  as published (never converted).
* y = ``Loss``, per domain (the upstream README's metric names):

  ======  =====================================  ===========  ================  ============
  Domain  metric                                 split        unit              lower better
  ======  =====================================  ===========  ================  ============
  IC      ``<task>/error`` (n-shot error rate)   downstream   error             yes
  NMT     ``log_perplexity``                     validation   other             yes
  LM      ``val_loss`` ("log-loss")              validation   other             yes
  BB      ``<task>_<k>shot/error``               downstream   error             yes
  ======  =====================================  ===========  ================  ============

  NMT and LM values lie in (0, 1] (every LM curve starts at 0.999, the estimators'
  ``err_0``), so they are not raw nats per token; they keep unit ``other`` and are never converted.
  BIG-bench values fall as models learn, i.e. 1 - the task's preferred metric.
* ``Training`` (1: points the paper fits, 0: held-out extrapolation targets) varies per point, so it is
  not in ``points``: :func:`heldout_table` returns it (the build stores it as ``revisiting_split``).
* The language file repeats 687 rows exactly; duplicates are removed (recorded).
"""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd

from datasets.sources import SourceTables
from datasets.sources._common import Provenance, finish, numeric

SOURCE = "revisiting"
FILES = ("data/benchmark.lang.csv", "data/benchmark.vision.csv")
ORIGIN = "google-research/google-research revisiting_neural_scaling_laws/{}"

#: nominal parameter counts from the upstream README's model table
PARAMS = {"ViT/S/16": 32e6, "ViT/B/16": 110e6, "BiT/50/1": 61e6, "BiT/101/3": 494e6, "MiX/B/16": 73e6,
          "MiX/L/16": 226e6, "6 Enc, 6 Dec": 300e6, "6 Enc, 28 Dec": 300e6, "28 Enc, 6 Dec": 300e6,
          "Dec-only": 300e6, "TEnc-LSTM": 300e6, "262M": 262e6}
ARCH = {"ViT": "vit", "BiT": "cnn", "MiX": "mlp-mixer"}
NMT_ARCH = {"6 Enc, 6 Dec": "enc-dec", "6 Enc, 28 Dec": "enc-dec", "28 Enc, 6 Dec": "enc-dec",
            "Dec-only": "dec", "TEnc-LSTM": "enc-lstm"}
BB_TASKS = {"date": "date_understanding", "ling": "linguistic_mappings", "qa": "qa_wikidata",
            "mult": "mult_data_wrangling", "unit": "unit_conversion"}


def _read(folder: Path, tables: SourceTables | None = None) -> pd.DataFrame:
    """Both files, exact duplicate rows removed (recorded in ``tables``), with curve keys added."""
    parts = []
    for file in FILES:
        df = pd.read_csv(folder / file)
        if tables is not None:
            tables.rows_read[file] = len(df)
        dup = df.duplicated()
        if dup.any() and tables is not None:
            tables.exclude(file, "exact duplicate rows", "deduplicated",
                           "the same (Domain, Task, Model, Seen Examples, Loss, Training) row appears more than once "
                           f"(mostly LM val_loss curves; {int(dup[df['Model'] == '1.68e+07'].sum())} of the removed "
                           "copies are of the 17M model's curve); one copy kept", int(dup.sum()))
        df = df[~dup].copy()
        df["x"] = numeric(df["Seen Examples"], file, "Seen Examples")
        df["y"] = numeric(df["Loss"], file, "Loss")
        df["training"] = numeric(df["Training"], file, "Training")
        if not df["training"].isin([0, 1]).all():
            raise ValueError(f"{file}: column 'Training' holds values other than 0/1")
        df["_file"] = file
        parts.append(df)
    df = pd.concat(parts, ignore_index=True)
    keys = df[["Domain", "Task", "Model"]].drop_duplicates()
    info = {k: _curve(*k) for k in keys.itertuples(index=False, name=None)}
    df["run_id"] = [info[k]["run_id"] for k in zip(df["Domain"], df["Task"], df["Model"])]
    clash = df.duplicated(["run_id", "x"])
    if clash.any():
        row = df[clash].iloc[0]
        raise ValueError(f"{row['_file']}: two different rows for {row['run_id']} at Seen Examples = {row['x']}")
    df.attrs["curves"] = info
    return df


def _curve(domain: str, task: str, model: str) -> dict:
    """Run fields, metric and unit of one learning curve."""
    if domain == "IC":
        metric, split, unit = f"{task}/error", "downstream", "error"
        slug, arch, params = task, ARCH[model.split("/")[0]], PARAMS[model]
    elif domain == "NMT":
        metric, split, unit = "log_perplexity", "validation", "other"
        slug, arch, params = "log_perplexity", NMT_ARCH[model], PARAMS[model]
    elif domain == "LM":
        metric, split, unit = "val_loss", "validation", "other"
        slug, arch, params = "val_loss", "dec", float(model)
    elif domain == "BB":
        name, shots = ast.literal_eval(task)
        shots = shots.replace("-", "")
        metric, split, unit = f"{BB_TASKS[name]}_{shots}/error", "downstream", "error"
        slug, arch, params = f"{BB_TASKS[name]}_{shots}", "dec", PARAMS[model]
    else:
        raise ValueError(f"unknown Domain {domain!r}")
    family = f"{SOURCE}/{domain.lower()}-{slug}"
    model_slug = model.replace(", ", "-").replace(" ", "")
    return dict(run_id=f"{family}/{model_slug}", family=family, metric=metric, split=split, unit=unit,
                arch=arch, params=float(params), domain=domain, task=task, model=model)


def ingest(folder: Path) -> SourceTables:
    """Read the 92 learning curves (see module docstring)."""
    folder = Path(folder)
    prov = Provenance.of(folder)
    tables = SourceTables(runs=pd.DataFrame(), points=pd.DataFrame())
    df = _read(folder, tables)
    info = df.attrs["curves"]
    cur = df["run_id"].map({v["run_id"]: v for v in info.values()})
    points = pd.DataFrame({"run_id": df["run_id"], "step": np.nan, "tokens": df["x"], "flops": np.nan,
                           "metric": cur.map(lambda c: c["metric"]), "split": cur.map(lambda c: c["split"]),
                           "unit": cur.map(lambda c: c["unit"]), "value": df["y"], "stderr": np.nan,
                           "higher_is_better": False})
    files = df.groupby("run_id")["_file"].first()
    last = df.groupby("run_id")["x"].max()
    runs = []
    for c in info.values():
        file = files[c["run_id"]]
        fields = prov.run_fields(file)
        x_unit = {"IC": "images", "NMT": "examples (unspecified)", "LM": "tokens", "BB": "tokens"}[c["domain"]]
        runs.append(dict(run_id=c["run_id"], collection=c["domain"].lower(), family=c["family"], model=c["model"],
                         arch=c["arch"], params=c["params"], tokens=float(last[c["run_id"]]), **fields,
                         notes=f"learning curve; x = Seen Examples (batch x steps; {x_unit}) in tokens; "
                               f"y as published ({c['unit']}); N nominal from the upstream README; no FLOPs; "
                               f"origin {ORIGIN.format(file)}; held-out flags in table revisiting_split",
                         extra=dict(domain=c["domain"], task=c["task"], x_unit=x_unit)))
    tables.exclude("data", "NMT log_perplexity, LM val_loss units", "flagged",
                   "values lie in (0, 1] (every LM curve starts at 0.999), so they are not raw nats per token; "
                   "stored with unit 'other' and never converted")
    tables.exclude("data", "Seen Examples", "flagged",
                   "stored in points.tokens as published: images (IC), examples (NMT; sentence pairs or tokens, "
                   "not stated), tokens (LM, BB)")
    tables.exclude("data", "Training", "converted",
                   "the per-point fit/held-out flag is not a points column; heldout_table() returns it "
                   "(table revisiting_split)", len(df))
    tables.exclude("data", "flops", "flagged", "no FLOPs published and N is nominal: C left NULL")
    return finish(tables, prov, pd.DataFrame(runs), points)


def heldout_table(folder: Path) -> pd.DataFrame:
    """Which points the paper fits and which it holds out for extrapolation.

    Returns
    -------
    DataFrame with columns ``run_id``, ``metric``, ``tokens`` (Seen Examples, as in ``points``) and
    ``training`` (bool: True = used for fitting, False = extrapolation test point), one row per
    deduplicated point, sorted by run and tokens. Join to ``points`` on (run_id, metric, tokens).
    """
    df = _read(Path(folder))
    info = {v["run_id"]: v["metric"] for v in df.attrs["curves"].values()}
    out = pd.DataFrame({"run_id": df["run_id"].astype("string"), "metric": df["run_id"].map(info).astype("string"),
                        "tokens": df["x"].astype("float64"), "training": df["training"] == 1})
    return out.sort_values(["run_id", "tokens"], kind="mergesort").reset_index(drop=True)
