"""Ingest ``colpret``: IBM/ColPret, the corpus behind "A Hitchhiker's Guide to Scaling Law Estimation".

ColPret (Choshen, Zhang & Andreas, arXiv 2410.11840) compiles training curves and evaluations of
published models from many papers, each in its own file and its own units. This module reads every
per-source file of the copy in ``shared/data/colpret`` and returns long-form ``runs``/``points``
(:mod:`datasets.schema`). Every unit conversion, flag and omission is recorded with
:meth:`SourceTables.exclude`; the main ones are:

* tokens D: OLMo ``Step x 4e6`` (ColPret's convention), Mamba ``step x 500e9 / 176,703``,
  T5 ``steps x 1e6``, GPT-3 and RedPajama ``x-axis x 1e9``, bimix ``global_step x 524,288``,
  Amber checkpoint index ``i -> (i + 1) x 1.25e12 / 360``, OPT ``10 ** num_token``.
* FLOPs C: taken from the file when it publishes a consistent value (K2, OPT, datablations
  contour), otherwise C = 6 N D (datablations' published column is inconsistent and is replaced).
* percentages (K2, Amber, ModuleFormer sheets) become fractions, so ``unit = accuracy`` is in [0, 1]
  everywhere; BIG-bench scores stay 0-100 with ``unit = score``.
* losses are per-token cross-entropy in nats; perplexities keep ``unit = perplexity``
  (``ln(ppl)`` is nats); bits-per-byte keep ``unit = bits``.

Points at D = 0 (the initialisation) are dropped because every law is fitted in log D. Left out,
with reasons: ColPret's copy of the over-training data (the ``overtrain`` source ingests it from
upstream), the ConvNets digitisation (x-axis in TPU core-hours, y-axis unlabelled), the raw T5
jsonl files (identical to ``t5_pile.csv``), W&B band columns, T5X summed/negative summaries and 11
OLMo-7B-Twin-2T rows that ColPret summed over two overlapping W&B runs.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from datasets.sources import SourceTables, make_points, make_runs
from datasets.sources.colpret.bimix import read_bimix
from datasets.sources.colpret.common import Ingest, check_pickle_globals, parse_count
from datasets.sources.colpret.datablations import (read_datablations, read_datablations_code,
                                                   read_datablations_contour)
from datasets.sources.colpret.gpt3 import read_gpt3
from datasets.sources.colpret.gzip_scaling import read_gzip
from datasets.sources.colpret.llm360 import read_amber, read_k2, read_mamba
from datasets.sources.colpret.moduleformer import read_moduleformer
from datasets.sources.colpret.olmo import read_olmo, summed_rows
from datasets.sources.colpret.opt import read_opt
from datasets.sources.colpret.redpajama import read_redpajama
from datasets.sources.colpret.t5 import read_t5

__all__ = ["ingest", "check_pickle_globals", "parse_count", "summed_rows"]


def read_left_out(ing: Ingest) -> None:
    """Record the files of the copy that are not ingested, and why."""
    file = "raw_data/overtrain/overtrain_downstreams.csv"
    ing.exclude(file, "whole file", "dropped",
                "ColPret's flattening of mlfoundations/scaling, which the 'overtrain' source ingests "
                "from the upstream JSON (losses and 46 downstream tasks); kept out to avoid "
                "duplicate runs", len(ing.read_csv(file)))
    file = "aggregated_eval/graph_extracted/2310.16764_ConvNets_match.csv"
    df = ing.read_csv(file, encoding="utf-8-sig")
    same = (df[df["model"] == "F7"][["x", "y"]].to_numpy() ==
            df[df["model"] == "F7_wide"][["x", "y"]].to_numpy()).all()
    ing.exclude(file, "whole file", "dropped",
                "digitised NFNet points whose x-axis is TPU-v4 core hours (no FLOPs, N or samples) "
                "and whose y-axis label is not in the copy (labels.xlsx was not copied)"
                + ("; F7_wide repeats F7 point for point" if same else ""), len(df))


_READERS = (read_olmo, read_k2, read_amber, read_mamba, read_datablations, read_datablations_contour, read_datablations_code,
            read_opt, read_gpt3, read_t5, read_redpajama, read_bimix, read_gzip, read_moduleformer, read_left_out)


def ingest(folder: Path) -> SourceTables:
    """Read every per-source file of the ColPret copy in ``folder`` into store tables.

    Parameters
    ----------
    folder : Path
        ``shared/data/colpret`` (holds ``SOURCE.txt`` and the copied repository paths).

    Returns
    -------
    SourceTables
        ``runs`` (one per training run), ``points`` (one per run x checkpoint x metric, values
        in the unit named by ``points.unit``), ``exclusions`` (every conversion, flag and omission)
        and ``rows_read`` (file -> rows). Missing FLOPs are filled as C = 6 N D with N = runs.params
        and D = points.tokens; points at D = 0 are dropped.
    """
    folder = Path(folder)
    ing = Ingest(folder)
    for reader in _READERS:
        reader(ing)

    runs = pd.DataFrame(ing.runs)
    points = pd.concat(ing.points, ignore_index=True)
    orphans = sorted(set(points["run_id"]) - set(runs["run_id"]))
    if orphans:
        raise ValueError(f"points reference runs that were not created: {orphans[:3]}")
    params = points["run_id"].map(runs.set_index("run_id")["params"].astype("float64"))

    zero = points["tokens"] == 0
    for file, n in points[zero].groupby("_file").size().items():
        ing.exclude(file, "points at D = 0", "dropped",
                    "initialisation checkpoint; laws are fitted in log D (ColPret drops them too)", int(n))
    points, params = points[~zero], params[~zero]

    fill = points["flops"].isna() & params.notna() & points["tokens"].notna()
    points.loc[fill, "flops"] = 6.0 * params[fill] * points.loc[fill, "tokens"]
    for file, n in points[fill].groupby("_file").size().items():
        ing.exclude(file, "flops", "converted", "no FLOPs published: C = 6 N D", int(n))

    dup = points.duplicated(["run_id", "metric", "step", "tokens"])
    if dup.any():
        row = points[dup].iloc[0]
        raise ValueError(f"duplicate point {row['run_id']} {row['metric']} at D={row['tokens']}")

    final_tokens = points.groupby("run_id")["tokens"].max()
    if "tokens" not in runs:
        runs["tokens"] = np.nan
    runs["tokens"] = runs["tokens"].astype("float64").fillna(runs["run_id"].map(final_tokens))
    if "flops" not in runs:
        runs["flops"] = np.nan
    runs["flops"] = runs["flops"].astype("float64").fillna(
        6.0 * runs["params"].astype("float64") * runs["tokens"])
    runs["extra"] = runs["extra"].map(_clean_extra)

    points = points.drop(columns=["_file"]).sort_values(
        ["run_id", "metric", "tokens", "step"], na_position="last", kind="mergesort")
    ing.tables.runs = make_runs(runs.sort_values("run_id", kind="mergesort"))
    ing.tables.points = make_points(points)
    ing.tables.exclusions.sort(key=lambda e: (e["file"], e["what"], e["action"], e["reason"]))
    ing.tables.rows_read = dict(sorted(ing.tables.rows_read.items()))
    return ing.tables


def _clean_extra(extra: object) -> dict | None:
    """Drop ``None``/NaN entries so the JSON only says what is known."""
    if not isinstance(extra, dict):
        return None
    out = {}
    for key, value in extra.items():
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        out[key] = value.item() if isinstance(value, np.generic) else value
    return out or None
