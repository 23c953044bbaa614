"""OLMo (``aggregated_eval/olmo.csv``): Paloma-style validation CE and perplexity, downstream accuracies.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from datasets.sources._common import numeric
from datasets.sources.colpret.common import Ingest, OLMO_TOKENS_PER_STEP, PAPERS, melt, parse_count


def _olmo_spec(column: str) -> tuple[str, str, str, str, float]:
    match = re.fullmatch(r"downstream/(.+)_(acc|len_norm|f1)", column)
    if match:
        task, kind = match.groups()
        return column, f"{task}/{kind}", "downstream", "f1" if kind == "f1" else "accuracy", 1.0
    domain, kind = column.rsplit("/", 1) if "/" in column else (column, "")
    domain = domain.removesuffix("-validation")
    if kind == "CrossEntropyLoss":
        return column, f"{domain}/ce", "validation", "nats", 1.0
    if kind == "Perplexity":
        return column, f"{domain}/ppl", "validation", "perplexity", 1.0
    raise ValueError(f"aggregated_eval/olmo.csv: unexpected column {column!r}")


def summed_rows(df: pd.DataFrame, columns: list[str], window: int = 41) -> pd.Series:
    """Rows whose losses are ~2x their neighbours': two W&B runs logged the step and were summed.

    ColPret's OLMo aggregation adds the columns of every W&B run in a group, so a step logged by
    two overlapping runs holds the sum. A row is flagged when the median over ``columns`` of
    value / (centred rolling median over ``window`` rows) lies in [1.8, 2.2]. ``df`` must be
    sorted by step within one model.
    """
    local = df[columns].rolling(window, center=True, min_periods=5).median()
    ratio = np.nanmedian((df[columns] / local).to_numpy(dtype="float64"), axis=1)
    return pd.Series((ratio > 1.8) & (ratio < 2.2), index=df.index)


def read_olmo(ing: Ingest) -> None:
    file = "aggregated_eval/olmo.csv"
    df = ing.read_csv(file)
    meta = ["Step", "model_name", "num_params", "checkpoint"]
    specs = [_olmo_spec(c) for c in df.columns if c not in meta]
    df["step"] = numeric(df["Step"], file, "Step")
    df["model_name"] = df["model_name"].str.strip()  # "OLMo-1B " as published
    df = df.sort_values(["model_name", "step"], kind="mergesort")
    summed = pd.concat([summed_rows(g, [c for c in g.columns if c.endswith("/CrossEntropyLoss")
                                        and g[c].notna().any()])
                        for _, g in df.groupby("model_name", sort=True)])
    for model, steps in df.loc[summed, ["model_name", "step"]].groupby("model_name")["step"]:
        ing.exclude(file, f"{model} steps {steps.min():.0f}-{steps.max():.0f}", "dropped",
                    "every metric is ~2x its neighbours (ColPret summed two overlapping W&B runs; "
                    "accuracies exceed 1)", len(steps))
    df = df[~summed]
    df["tokens"] = df["step"] * OLMO_TOKENS_PER_STEP
    df["flops"] = np.nan
    df["run_id"] = "colpret/olmo/" + df["model_name"]
    ing.add(melt(df, specs), file)
    revision_tokens = df["checkpoint"].str.extract(r"tokens(\d+)B")[0].astype("float64") * 1e9
    ratio = float(np.nanmedian(revision_tokens / df["step"]))
    ing.exclude(file, "Step", "converted",
                f"tokens = Step x {OLMO_TOKENS_PER_STEP:.0f} (ColPret's convention); the HF revision "
                f"names in the checkpoint column imply ~{ratio:.4g} tokens/step (2160 x 2048), so D "
                "may be understated by ~10%", len(df))
    ing.exclude(file, "checkpoint", "dropped",
                "HF revision names; ColPret listed allenai/OLMo-7B branches for every model, so the "
                "OLMo-1B entries do not name OLMo-1B checkpoints", int(df["checkpoint"].notna().sum()))
    for model, group in df.groupby("model_name", sort=True):
        twin = model == "OLMo-7B-Twin-2T"
        ing.run(run_id=f"colpret/olmo/{model}", collection="olmo",
                family="colpret/olmo-twin" if twin else "colpret/olmo", model=model, arch="dec",
                params=parse_count(group["num_params"].iloc[0]), data="dolma",
                paper=PAPERS["olmo"], file=file,
                notes=("Paloma-style validation CE (nats) and perplexity per domain, downstream "
                       "accuracies in [0,1]; tokens = Step x 4e6 (ColPret); params as labelled "
                       "(1B/7B); C = 6ND. " + ("Twin-2T (trained on different hardware) is its own "
                                               "family, as in ColPret's scaled_set." if twin else "")),
                extra={"tokens_per_step": OLMO_TOKENS_PER_STEP})
