"""GPT-3 (digitised training curves of Brown et al. 2020, Table 2.1 sizes).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from datasets.sources._common import numeric
from datasets.sources.colpret.common import DIGITISED_TOKEN_UNIT, Ingest, PAPERS, melt, parse_count


def _parse_sci(text: str) -> float:
    """``"6.0×10−4"`` -> 6e-4 (GPT-3 Table 2.1 learning rates)."""
    mantissa, exponent = str(text).replace("\u2212", "-").split("×10")
    return float(mantissa) * 10.0 ** int(exponent)


def read_gpt3(ing: Ingest) -> None:
    mfile = "raw_data/gpt3/gpt3_metadata.xlsx"
    meta = pd.read_excel(ing.folder / mfile, header=None,
                         names=["name", "params", "n_layers", "d_model", "n_heads", "d_head",
                                "batch", "lr"])
    ing.count(mfile, len(meta))
    meta["key"] = meta["name"].str.split().str[1].str.lower()
    meta = meta.set_index("key")

    file = "raw_data/gpt3/extracted.csv"
    df = ing.read_csv(file)
    for column in ("step", "train_loss", "val_loss"):
        df[column] = numeric(df[column], file, column)
    unknown = sorted(set(df["model"]) - set(meta.index))
    if unknown:
        raise ValueError(f"{file}: models {unknown} not in {mfile}")
    for metric, split in (("train_loss", "train"), ("val_loss", "validation")):
        rows = df[df[metric].notna()]
        merged = rows.groupby(["model", "step"], as_index=False)[metric].mean()
        ing.exclude(file, metric, "deduplicated",
                    "digitised curve repeats x positions: repeated (model, x) points averaged "
                    f"({len(rows)} rows -> {len(merged)} points)", len(rows) - len(merged))
        merged["run_id"] = "colpret/gpt3/GPT-3-" + merged["model"]
        merged["tokens"] = merged["step"] * DIGITISED_TOKEN_UNIT
        merged["step"], merged["flops"] = np.nan, np.nan
        ing.add(melt(merged, [(metric, metric, split, "nats", 1.0)]), file)
    ing.exclude(file, "step", "converted", "x-axis is billions of tokens: D = x * 1e9", len(df))
    for key in sorted(df["model"].unique()):
        row = meta.loc[key]
        ing.run(run_id=f"colpret/gpt3/GPT-3-{key}", collection="gpt3", family="colpret/gpt3",
                model=str(row["name"]), arch="dec", params=parse_count(row["params"]),
                data="GPT-3 mix (filtered Common Crawl, WebText2, Books1/2, Wikipedia)",
                paper=PAPERS["gpt3"], file=file,
                notes="train and validation loss (nats) digitised from the GPT-3 paper's learning "
                      "curves by ColPret, repeated x positions averaged; N and shapes from Table 2.1 "
                      "(gpt3_metadata.xlsx); C = 6ND",
                extra={"n_layers": int(row["n_layers"]), "d_model": int(row["d_model"]),
                       "n_heads": int(row["n_heads"]), "d_head": int(row["d_head"]),
                       "batch_tokens": parse_count(row["batch"]), "lr": _parse_sci(row["lr"])})
