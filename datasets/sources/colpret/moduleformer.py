"""ModuleFormer (``IBM_MoE.csv``) and its spreadsheet (``LLMs - 0-shot.csv``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from datasets.sources._common import numeric
from datasets.sources.colpret.common import Ingest, PAPERS, is_count, melt, parse_count, slug


LM_EVAL_BASELINES = ("GPT2", "GPT3-ada", "Pythia", "Codegen-NL", "GPT-neo", "LLAMA")


def _lm_eval_spec(column: str) -> tuple[str, str, str, str, float]:
    task, kind = column.rsplit(" ", 1)
    task = slug(task)
    if kind == "ppl":
        split = "validation" if task == "wikitext" else "downstream"
        return column, f"{task}/ppl", split, "perplexity", 1.0
    if kind == "bpb":
        return column, f"{task}/bpb", "validation", "bits", 1.0
    if kind in ("acc", "acc_norm"):
        return column, f"{task}/{kind}", "downstream", "accuracy", 0.01
    raise ValueError(f"unexpected lm-eval column {column!r}")


def _moe_rows(ing: Ingest) -> pd.DataFrame:
    """IBM_MoE.csv rows as (model, data, tokenizer, tokens_text, params, active, metrics...)."""
    file = "raw_data/IBM_MoE.csv"
    df = ing.read_csv(file)
    blank = df.isna().all(axis=1)
    ing.exclude(file, "blank rows", "dropped", "block separators", int(blank.sum()))
    df = df[~blank].reset_index(drop=True)
    return df.rename(columns={"Model": "model", "data": "corpus", "Tokenizer": "tokenizer",
                              "tokens_seen": "tokens_text", "Params": "params_text",
                              "Effective Params": "active_text"}).assign(_file=file)


def _sheet_rows(ing: Ingest) -> pd.DataFrame:
    """Parse the two-row-header spreadsheet; unnamed rows belong to the block's named row.

    Within a blank-line-delimited block, a row without a model name belongs to the next named row
    below it, or (when none follows) to the last named row above it.
    """
    file = "aggregated_eval/LLMs - 0-shot.csv"
    raw = pd.read_csv(ing.folder / file, header=None, dtype=str, keep_default_na=False)
    ing.count(file, len(raw) - 2)
    top, sub = raw.iloc[0].tolist(), raw.iloc[1].tolist()
    names, current = [], ""
    for i, (a, b) in enumerate(zip(top, sub)):
        current = a if a or i < 6 else current
        names.append(f"{current} {b}".strip() if b else current)
    body = raw.iloc[2:].reset_index(drop=True)
    body.columns = names
    body = body.replace("", np.nan)
    ids = ["Params", "Effective Params", "Corpus", "Tokenizer"]
    body[ids] = body[ids].replace("?", np.nan)  # the sheet's "unknown"
    blank = body.isna().all(axis=1)
    block = blank.cumsum()
    owner: list[int | None] = [None] * len(body)
    for _, rows in body[~blank].groupby(block[~blank]):
        named = [i for i in rows.index if isinstance(rows.at[i, "Model"], str)]
        for i in rows.index:
            after = [j for j in named if j >= i]
            before = [j for j in named if j <= i]
            owner[i] = after[0] if after else (before[-1] if before else None)
    body["owner"] = owner
    if body.loc[~blank, "owner"].isna().any():
        raise ValueError(f"{file}: a block has no model name")
    body = body[~blank].copy()
    for column in ("Model", "Params", "Effective Params", "Tokenizer"):
        body[column] = body["owner"].map(body[column])
    body = body.rename(columns={"Model": "model", "Corpus": "tokens_text", "Tokenizer": "tokenizer",
                                "Params": "params_text", "Effective Params": "active_text"})
    ing.exclude(file, "blank rows", "dropped", "block separators", int(blank.sum()))
    ing.exclude(file, "Inference time", "dropped", "evaluation wall-clock, not a metric",
                int(body["Inference time"].notna().sum()))
    random = body["model"] == "Random"
    ing.exclude(file, "Random", "dropped", "chance-level reference row, not a model", int(random.sum()))
    body = body[~random].drop(columns=["Inference time"])
    return body.assign(_file=file, corpus=np.nan)


def _row_keys(df: pd.DataFrame, columns: list[str]) -> list[tuple]:
    """Hashable row keys: NaN -> None, floats rounded to 6 decimals."""
    def norm(v):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return None
        return round(float(v), 6) if isinstance(v, (float, np.floating)) else v
    return [tuple(norm(v) for v in row) for row in zip(*(df[c] for c in columns))]


def read_moduleformer(ing: Ingest) -> None:
    moe = _moe_rows(ing)
    sheet = _sheet_rows(ing)
    metrics = [c for c in moe.columns if c not in
               ("model", "corpus", "params_text", "active_text", "tokens_text", "tokenizer", "_file")]
    extra_metrics = sorted(set(sheet.columns) - set(moe.columns) - {"owner"})
    for column in metrics:
        moe[column] = numeric(moe[column], "raw_data/IBM_MoE.csv", column)
    for column in metrics + extra_metrics:
        sheet[column] = numeric(sheet[column], "aggregated_eval/LLMs - 0-shot.csv", column)

    # rows of the spreadsheet that IBM_MoE.csv already has (same model, tokens and scores)
    key = ["tokens_text", "wikitext ppl", "hellaswag acc", "PIQA acc"]
    dup = pd.Series(_row_keys(sheet, key + ["model"]), index=sheet.index).isin(
        set(_row_keys(moe, key + ["model"])))
    loose = pd.Series(_row_keys(sheet, key), index=sheet.index).isin(set(_row_keys(moe, key)))
    if (loose & ~dup).any():
        row = sheet[loose & ~dup].iloc[0]
        raise ValueError(f"LLMs - 0-shot.csv: row for {row['model']} at {row['tokens_text']} matches "
                         "IBM_MoE.csv scores under another model name (block parsing is wrong)")
    ing.exclude("aggregated_eval/LLMs - 0-shot.csv", "rows also in IBM_MoE.csv", "deduplicated",
                "the spreadsheet behind IBM_MoE.csv: identical rows are read from IBM_MoE.csv only",
                int(dup.sum()))
    sheet = sheet[~dup].copy()
    sheet["corpus"] = sheet.groupby("owner")["tokens_text"].transform(
        lambda s: next((t for t in s[::-1] if isinstance(t, str) and not is_count(t)), np.nan))

    rows = pd.concat([moe, sheet.drop(columns=["owner"])], ignore_index=True)
    has_tokens = rows["tokens_text"].map(is_count)
    curve_runs = rows.assign(_c=has_tokens).groupby(["model", "_file", "tokenizer", "corpus"],
                                                    dropna=False)["_c"].transform("any")
    final_rows = ~has_tokens & curve_runs
    for file, n in rows[final_rows].groupby("_file").size().items():
        ing.exclude(file, "final rows labelled with a corpus name", "dropped",
                    "the last row of a checkpoint series names the corpus ('Pile') instead of a "
                    "token count, so its D is unknown", int(n))
    rows = rows[~final_rows].copy()
    rows["tokens"] = [parse_count(t) if ok else np.nan
                      for t, ok in zip(rows["tokens_text"], rows["tokens_text"].map(is_count))]
    rows["N_total"] = rows["params_text"].map(lambda t: parse_count(t) if is_count(t) else np.nan)
    rows["N_active"] = rows["active_text"].map(lambda t: parse_count(t) if is_count(t) else np.nan)
    rows["N"] = rows["N_active"].fillna(rows["N_total"])
    baseline = rows["model"].isin(LM_EVAL_BASELINES)
    rows["collection"] = np.where(baseline, "lm-eval-0shot", "moduleformer")
    rows["family"] = np.where(baseline, "colpret/0shot-" + rows["model"].map(slug),
                              "colpret/moduleformer")
    rows["run_key"] = (rows["model"] + "/" + rows["corpus"].fillna("unknown-corpus").map(slug) +
                       "-" + rows["tokenizer"].fillna("unknown-tokenizer").map(slug))
    rows.loc[baseline, "run_key"] = [m if pd.isna(n) else f"{m}-{t}" for m, t, n in zip(
        rows.loc[baseline, "model"], rows.loc[baseline, "params_text"], rows.loc[baseline, "N_total"])]
    rows["run_id"] = "colpret/" + rows["collection"] + "/" + rows["run_key"]
    rows["step"] = np.nan
    rows["flops"] = np.nan
    specs = [_lm_eval_spec(c) for c in metrics + extra_metrics]
    for file, group in rows.groupby("_file"):
        ing.add(melt(group, [s for s in specs if group[s[0]].notna().any()]), file)
        ing.exclude(file, "accuracies (percent)", "converted", "accuracy % / 100; perplexities and "
                    "bits-per-byte as published", len(group))
    for run_id, group in rows.groupby("run_id", sort=True):
        first = group.iloc[0]
        is_base = first["collection"] == "lm-eval-0shot"
        ing.run(run_id=run_id, collection=first["collection"], family=first["family"],
                model=first["model"], arch="dec" if is_base or first["model"].startswith("GPT") else "moe",
                params=float(first["N"]) if pd.notna(first["N"]) else None,
                data=first["corpus"] if isinstance(first["corpus"], str) else None,
                paper=PAPERS["moduleformer"], file=first["_file"],
                notes=("lm-eval 0-shot scores (accuracy % -> fraction, wikitext ppl/bpb, lambada ppl); "
                       "params = active (effective) parameters when given, else total; C = 6 N_active D"
                       + ("; reference model evaluated by the ModuleFormer authors, D unknown"
                          if is_base else "")),
                extra={"params_total": first["N_total"] if pd.notna(first["N_total"]) else None,
                       "params_active": first["N_active"] if pd.notna(first["N_active"]) else None,
                       "tokenizer": first["tokenizer"] if isinstance(first["tokenizer"], str) else None})
