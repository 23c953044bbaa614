"""datablations (Muennighoff et al. 2023): data-constrained runs, the contour grid and the code mix.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from datasets.sources._common import numeric
from datasets.sources.colpret.common import Ingest, PAPERS, melt, parse_count


def _datablations_flops_note(df: pd.DataFrame) -> str:
    product = (df["flops"] * df["token_num"]).groupby(df["model_args"]).agg(["min", "max"])
    constant = bool(np.allclose(product["min"], product["max"], rtol=1e-6))
    return ("published flops decrease along each curve" +
            (" (flops x tokens is constant per run)" if constant else "") +
            "; replaced by C = 6 N D")


def read_datablations(ing: Ingest) -> None:
    file = "aggregated_eval/datablations_losses.csv"
    df = ing.read_csv(file)
    for column in ("token_num", "loss", "tokens_per_epoch", "flops", "epochs"):
        df[column] = numeric(df[column], file, column)
    df["N"] = df["num_params"].map(parse_count)
    runs = df.groupby("model_args", sort=True).agg(
        data=("data", "first"), epochs=("epochs", "first"), num_params=("num_params", "first"),
        N=("N", "first"), tpe=("tokens_per_epoch", "first"), url=("checkpoint", "first"))
    runs["model"] = "GPT2-" + runs["num_params"] + "-" + runs["data"] + "-" + \
        runs["epochs"].astype(int).astype(str) + "ep"
    if runs["model"].duplicated().any():
        raise ValueError(f"{file}: two tensorboard runs share (size, data, epochs)")
    runs["run_id"] = "colpret/datablations/" + runs["model"]
    df = df.merge(runs[["run_id"]], left_on="model_args", right_index=True)
    ing.exclude(file, "flops", "converted", _datablations_flops_note(df), len(df))
    df["step"] = np.nan
    df["tokens"] = df["token_num"]
    df["flops"] = 6.0 * df["N"] * df["tokens"]
    ing.add(melt(df, [("loss", "val_loss", "validation", "nats", 1.0)]), file)
    for key, run in runs.iterrows():
        ing.run(run_id=run["run_id"], collection="datablations",
                family=f"colpret/datablations-{run['data']}", model=run["model"], arch="dec",
                params=float(run["N"]), data=run["data"], unique_tokens=float(run["tpe"]),
                paper=PAPERS["datablations"], file=file,
                notes="validation CE (nats) curve of a data-constrained run: unique_tokens = "
                      "tokens_per_epoch, epochs repeated; C = 6ND (published flops inconsistent)",
                extra={"epochs": float(run["epochs"]), "tensorboard": key, "checkpoint": run["url"]})


def read_datablations_contour(ing: Ingest) -> None:
    file = "aggregated_eval/datablations_contour_losses.csv"
    df = ing.read_csv(file)
    for column in ("epochs", "token_num", "openLM_loss", "num_params", "tokens_per_epoch", "flops"):
        df[column] = numeric(df[column], file, column)
    df["name"] = df["model_args"].str.extract(r"'name':\s*'([^']+)'")[0]
    if df["name"].isna().any() or df["name"].duplicated().any():
        raise ValueError(f"{file}: model_args names are missing or repeated")
    rel = np.abs(df["flops"] / (6 * df["num_params"] * df["token_num"]) - 1).max()
    if rel > 1e-6:
        raise ValueError(f"{file}: flops != 6 N D (max relative difference {rel:.3g})")
    df["run_id"] = "colpret/datablations-contour/GPT2-" + df["name"]
    df["step"], df["tokens"] = np.nan, df["token_num"]
    ing.add(melt(df, [("openLM_loss", "val_loss", "validation", "nats", 1.0)]), file)
    ing.exclude(file, "tokens_per_epoch", "dropped",
                "constant 1.5e9 for every row and inconsistent with epochs = D / U; unique tokens "
                "U = token_num / epochs instead (matches the <N><D><U> run name)", len(df))
    for _, row in df.iterrows():
        ing.run(run_id=row["run_id"], collection="datablations-contour",
                family="colpret/datablations-contour", model=f"GPT2-{row['name']}", arch="dec",
                params=float(row["num_params"]), data="c4", tokens=float(row["token_num"]),
                flops=float(row["flops"]), unique_tokens=float(row["token_num"] / row["epochs"]),
                paper=PAPERS["datablations"], file=file,
                notes="final validation CE (nats) only; U = D / epochs; C = 6ND as published",
                extra={"epochs": float(row["epochs"])})


def read_datablations_code(ing: Ingest) -> None:
    file = "aggregated_eval/datablations_code_losses.csv"
    df = ing.read_csv(file)
    for column in ("token_num", "loss", "epochs", "Seed", "flops"):
        df[column] = numeric(df[column], file, column)
    ing.exclude(file, "flops", "converted", _datablations_flops_note(df), len(df))
    df["N"] = df["num_params"].map(parse_count)
    df["U"] = df["tokens_per_epoch"].map(parse_count)
    df["code_pct"] = df["epochs"].astype(int)
    df["model"] = "GPT2-" + df["num_params"] + "-c4-" + df["code_pct"].astype(str) + "pct-code"
    df["run_id"] = "colpret/datablations-code/" + df["model"]
    if df.groupby("model_args")["run_id"].nunique().max() != 1 or \
            df.groupby("run_id")["model_args"].nunique().max() != 1:
        raise ValueError(f"{file}: runs are not one-to-one with tensorboard ids")
    df["step"], df["tokens"] = np.nan, df["token_num"]
    df["flops"] = 6.0 * df["N"] * df["tokens"]
    if set(df["Seed"].unique()) != {1.0, 2.0}:
        raise ValueError(f"{file}: Seed should be 1 (general loss) or 2 (code loss)")
    general = df[df["Seed"] == 1]
    code = df[df["Seed"] == 2]
    ing.add(melt(general, [("loss", "val_loss", "validation", "nats", 1.0)]), file)
    ing.add(melt(code, [("loss", "code/ce", "validation", "nats", 1.0)]), file)
    ing.exclude(file, "Seed", "converted",
                "Seed is not a seed: 1 = general (C4) validation loss -> val_loss, 2 = code "
                "validation loss -> code/ce (ColPret's reading)", len(df))
    ing.exclude(file, "epochs", "converted", "the 'epochs' column is the code percentage", len(df))
    for run_id, group in df.groupby("run_id", sort=True):
        first = group.iloc[0]
        ing.run(run_id=run_id, collection="datablations-code", family="colpret/datablations-code",
                model=first["model"], arch="dec", params=float(first["N"]),
                data=f"c4 + {first['code_pct']}% python", unique_tokens=float(first["U"]),
                paper=PAPERS["datablations"], file=file,
                notes="general (val_loss) and code (code/ce) validation CE in nats; C = 6ND",
                extra={"code_pct": int(first["code_pct"]), "tensorboard": first["model_args"]})
