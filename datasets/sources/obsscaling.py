"""Ingest ``obsscaling``: ryoungj/ObsScaling (Ruan, Maddison & Hashimoto 2024, arXiv 2405.10938).

Observational data: one row per public model, final checkpoints only, no losses.

* ``base_llm_benchmark_eval.csv``: 148 base models (runs), family ``obsscaling/<Model Family>``;
  N = ``Model Size (B)`` x 1e9, D = ``Pretraining Data Size (T)`` x 1e12 tokens and
  C = ``FLOPs (1E21)`` x 1e21 (upstream's ~6ND; both NULL for 25 models); 8 benchmark scores in
  [0, 1] (metric = the column name, unit accuracy, split downstream, higher is better).
* Joined on ``Model`` as more metrics of the same runs: the emergent-capability file (BIG-bench
  style; ``*_bleu`` is BLEU 0-100, unit score), the Open LLM Leaderboard v2 file, and the
  post-training file (GSM8K/BBH under CoT, self-consistency and few-shot prompting; metric = column
  with ',' -> '/'; ``.../norm`` columns are rescaled against a baseline and can be negative, unit score).
* ``instruct_llm_benchmark_eval.csv`` + ``instruct_llm_agent_eval.csv``: instruction-tuned models
  with a published size become runs of ``obsscaling/instruct-<Model Family>`` (N, D, C of their base
  model as published); closed API models (no size, data or compute) are left out.
* ``base_llm_benchmark_eval_sub_10b.csv`` is a subset of the base file (checked) and is left out.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from datasets.sources import SourceTables
from datasets.sources._common import Provenance, drop_file, finish, numeric, numeric_block

SOURCE = "obsscaling"
D = "eval_results/"
BASE, SUB10B = D + "base_llm_benchmark_eval.csv", D + "base_llm_benchmark_eval_sub_10b.csv"
JOINED = (D + "base_llm_emergent_capability_eval.csv", D + "base_llm_leaderboard_v2_eval.csv",
          D + "base_llm_post_training_eval.csv")
INSTRUCT, AGENT = D + "instruct_llm_benchmark_eval.csv", D + "instruct_llm_agent_eval.csv"
META = ["Model", "Model Family", "Model Size (B)", "Pretraining Data Size (T)", "FLOPs (1E21)"]


def _axes(df: pd.DataFrame, file: str) -> pd.DataFrame:
    return pd.DataFrame({"params": numeric(df["Model Size (B)"], file, "Model Size (B)") * 1e9,
                         "tokens": numeric(df["Pretraining Data Size (T)"], file, "Pretraining Data Size (T)") * 1e12,
                         "flops": numeric(df["FLOPs (1E21)"], file, "FLOPs (1E21)") * 1e21}, index=df.index)


def _unit(file: str, column: str) -> str:
    if column.endswith("_bleu") or column in ("Arena-Elo", "MTBench") or column.endswith(",norm") or file == AGENT:
        return "score"
    return "accuracy"


def _melt(df: pd.DataFrame, ids: pd.Series, axes: pd.DataFrame, file: str, columns: list[str]) -> pd.DataFrame:
    """Wide scores -> long points (empty cells are absent results, not zeros)."""
    values = numeric_block(df, columns, file)
    r, c = np.nonzero(~np.isnan(values))
    metric = np.array([col.replace(",", "/") for col in columns], dtype=object)
    unit = np.array([_unit(file, col) for col in columns], dtype=object)
    return pd.DataFrame({"run_id": ids.to_numpy()[r], "step": np.nan, "tokens": axes["tokens"].to_numpy()[r],
                         "flops": axes["flops"].to_numpy()[r], "metric": metric[c], "split": "downstream",
                         "unit": unit[c], "value": values[r, c], "stderr": np.nan, "higher_is_better": True})


def _runs(df: pd.DataFrame, ids: pd.Series, axes: pd.DataFrame, family_prefix: str, prov: Provenance, file: str,
          notes: str) -> pd.DataFrame:
    out = pd.DataFrame({"run_id": ids.values, "collection": family_prefix.rstrip("-") or "base",
                        "family": (f"{SOURCE}/{family_prefix}" + df["Model Family"]).values,
                        "model": df["Model"].values, "params": axes["params"].values, "tokens": axes["tokens"].values,
                        "flops": axes["flops"].values, "notes": notes})
    for key, value in prov.run_fields(file).items():
        out[key] = value
    return out


def ingest(folder: Path) -> SourceTables:
    """Read the ObsScaling evaluation tables (see module docstring)."""
    folder = Path(folder)
    prov = Provenance.of(folder)
    tables = SourceTables(runs=pd.DataFrame(), points=pd.DataFrame())

    def read(file: str) -> pd.DataFrame:
        df = pd.read_csv(folder / file)
        tables.rows_read[file] = len(df)
        if df["Model"].duplicated().any():
            raise ValueError(f"{file}: duplicate Model {df.loc[df['Model'].duplicated(), 'Model'].iloc[0]!r}")
        return df

    base = read(BASE)
    axes = _axes(base, BASE)
    ids = SOURCE + "/" + base["Model"]
    runs = [_runs(base, ids, axes, "", prov, BASE,
                  "public base model (final); N = Model Size (B) x 1e9; D = Pretraining Data Size (T) x 1e12 tokens; "
                  "C = FLOPs (1E21) x 1e21 as published (~6ND); more metrics joined from the emergent, leaderboard-v2 "
                  "and post-training files")]
    points = [_melt(base, ids, axes, BASE, [c for c in base.columns if c not in META])]
    missing = int(axes["tokens"].isna().sum())
    tables.exclude(BASE, "Pretraining Data Size (T), FLOPs (1E21)", "flagged",
                   f"not published for {missing} models: their D and C are NULL (they still have N)", missing)

    index = pd.Series(base.index, index=base["Model"])
    for file in JOINED:
        df = read(file)
        unknown = sorted(set(df["Model"]) - set(base["Model"]))
        if unknown:
            raise ValueError(f"{file}: models not in {BASE}: {unknown[:3]}")
        rows = index[df["Model"]].to_numpy()
        points.append(_melt(df.reset_index(drop=True), ids[rows].reset_index(drop=True),
                            axes.loc[rows].reset_index(drop=True), file, [c for c in df.columns if c != "Model"]))
    tables.exclude(D + "base_llm_post_training_eval.csv", "',norm' columns", "flagged",
                   "scores rescaled against a baseline (negative when below it): unit score, not accuracy")
    tables.exclude(D + "base_llm_emergent_capability_eval.csv", "ipa_transliterate_2_bleu", "flagged",
                   "BLEU on a 0-100 scale: unit score")

    _check_subset(folder, tables, base)
    inst_runs, inst_points = _instruct(folder, prov, tables, read)
    runs.append(inst_runs)
    points.append(inst_points)
    return finish(tables, prov, pd.concat(runs, ignore_index=True), pd.concat(points, ignore_index=True))


def _check_subset(folder: Path, tables: SourceTables, base: pd.DataFrame) -> None:
    sub = pd.read_csv(folder / SUB10B)
    m = sub.merge(base, on="Model", how="left", suffixes=("", "_base"), indicator=True)
    if (m["_merge"] != "both").any():
        raise ValueError(f"{SUB10B}: models not in {BASE}")
    for col in sub.columns:
        if col in ("Model", "Model Family"):
            continue
        a, b = numeric(m[col], SUB10B, col), numeric(m[f"{col}_base"], BASE, col)
        if not np.allclose(a, b, rtol=0, atol=1e-12, equal_nan=True):
            raise ValueError(f"{SUB10B}: column {col!r} differs from {BASE}")
    drop_file(tables, SUB10B, f"its {len(sub)} rows are rows of {BASE} (same values; models under 10B)", len(sub))


def _instruct(folder: Path, prov: Provenance, tables: SourceTables, read) -> tuple[pd.DataFrame, pd.DataFrame]:
    inst = read(INSTRUCT)
    agent = read(AGENT)
    unknown = sorted(set(agent["Model"]) - set(inst["Model"]))
    if unknown:
        raise ValueError(f"{AGENT}: models not in {INSTRUCT}: {unknown[:3]}")
    axes = _axes(inst, INSTRUCT)
    keep = axes["params"].notna()
    closed = inst.loc[~keep, "Model"]
    tables.exclude(INSTRUCT, f"{len(closed)} closed API models", "dropped",
                   f"no parameter, data or compute figures ({', '.join(closed)}): they cannot be placed on any "
                   "scaling axis", len(closed))
    inst, axes = inst[keep].reset_index(drop=True), axes[keep].reset_index(drop=True)
    ids = SOURCE + "/instruct/" + inst["Model"]
    runs = _runs(inst, ids, axes, "instruct-", prov, INSTRUCT,
                 "instruction-tuned model (final); N, D, C of its base model as published; Arena-Elo and MTBench "
                 "as rescaled upstream (unit score); AgentBench/AgentBoard scores (0-100) joined from the agent file")
    points = [_melt(inst, ids, axes, INSTRUCT, [c for c in inst.columns if c not in META])]
    kept = agent[agent["Model"].isin(inst["Model"])].reset_index(drop=True)
    dropped_cells = int(agent[~agent["Model"].isin(inst["Model"])].drop(columns="Model").notna().sum().sum())
    tables.exclude(AGENT, "rows of closed API models", "dropped",
                   f"{dropped_cells} scores of models left out of {INSTRUCT} (no size)",
                   int((~agent["Model"].isin(inst["Model"])).sum()))
    rows = pd.Series(inst.index, index=inst["Model"])[kept["Model"]].to_numpy()
    points.append(_melt(kept, ids[rows].reset_index(drop=True), axes.loc[rows].reset_index(drop=True), AGENT,
                        [c for c in kept.columns if c != "Model"]))
    tables.exclude(INSTRUCT, "Arena-Elo, MTBench", "flagged",
                   "published rescaled to about [0, 1] (not raw Elo or the 1-10 MT-Bench scale): unit score")
    return runs, pd.concat(points, ignore_index=True)
