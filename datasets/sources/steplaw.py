"""Ingest ``steplaw``: step-law/steplaw (Li et al. 2025, "Predictable Scale: Part I", arXiv 2503.04715).

Thousands of from-scratch runs sweeping learning rate x batch size at fixed (N, D); each row is one
run and its final training loss.

* ``data/dense_lr_bs_loss.csv`` (1,911 runs): family ``steplaw/dense``; N = ``N``, D = ``D`` tokens,
  C = 6 N D (no FLOPs published); ``lr``, ``bs`` (sequences of 2,048 tokens: D = ti x bs x 2,048) and
  the shape go to ``runs.extra``.
* ``data/moe_lr_bs_loss.csv`` (708 runs): families ``steplaw/moe-<moe_name>``; N = total parameters
  ``N``; active parameters ``Na`` in ``runs.extra``; C = 6 Na D (compute follows active parameters).
* Metrics (split train, nats, lower is better): ``train_loss`` = the last logged Megatron ``lm loss``
  (per-token cross-entropy) and ``train_loss_smoothed`` = upstream's Gaussian-smoothed loss at the
  final iteration (``code/log_analysis.py``), the value the paper fits. Step = ``ti``.
* Runs whose hyperparameters diverged keep their (high) loss; analyses should take the best
  hyperparameters per (N, D) cell.
* ``data/1004_fitted_lr_bs_scaling_model_parameters.csv`` (bootstrap fits of the authors'
  lr/bs laws, not observations) is left out.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from datasets.sources import SourceTables
from datasets.sources._common import Provenance, clean_extra, drop_file, finish, numeric

SOURCE = "steplaw"
DENSE, MOE = "data/dense_lr_bs_loss.csv", "data/moe_lr_bs_loss.csv"
FITS = "data/1004_fitted_lr_bs_scaling_model_parameters.csv"
SEQ_LEN = 2048
DIVERGED = 4.0   # nats: far above every converged run (best losses ~2.1-2.6); only for the recorded count
DENSE_EXTRA = ["lr", "bs", "ti", "h", "ffnh", "numh", "numl"]
MOE_EXTRA = ["lr", "bs", "ti", "Na", "Na/N", "topk", "nume", "moeh", "sed", "h", "ffnh", "numh", "numl", "Nattn",
             "moe_layer_enum_type", "mfa_version"]


def _read(folder: Path, tables: SourceTables, file: str, numeric_cols: list[str]) -> pd.DataFrame:
    raw = pd.read_csv(folder / file)
    tables.rows_read[file] = len(raw)
    df = raw.copy()
    for col in numeric_cols:
        df[col] = numeric(raw[col], file, col)
    if df["exp_name"].duplicated().any():
        raise ValueError(f"{file}: duplicate exp_name {df.loc[df['exp_name'].duplicated(), 'exp_name'].iloc[0]!r}")
    d_check = df["ti"] * df["bs"] * SEQ_LEN
    off = ~np.isclose(d_check, df["D"], rtol=0.01)
    if off.any():
        row = off.idxmax()
        raise ValueError(f"{file}: row {row}: D = {df.loc[row, 'D']:.4g} but ti x bs x {SEQ_LEN} = {d_check[row]:.4g}")
    df.attrs["raw"] = raw
    return df


def _points(ids: pd.Series, df: pd.DataFrame, flops: pd.Series) -> pd.DataFrame:
    parts = [pd.DataFrame({"run_id": ids.values, "step": df["ti"].values, "tokens": df["D"].values,
                           "flops": flops.values, "metric": metric, "split": "train", "unit": "nats",
                           "value": df[col].values, "stderr": np.nan, "higher_is_better": False})
             for col, metric in (("loss", "train_loss"), ("smooth loss", "train_loss_smoothed"))]
    return pd.concat(parts, ignore_index=True)


def _extra(raw: pd.DataFrame, cols: list[str]) -> list[dict | None]:
    return [clean_extra(dict(zip(cols, r))) for r in raw[cols].itertuples(index=False, name=None)]


def ingest(folder: Path) -> SourceTables:
    """Read the dense and MoE hyperparameter sweeps (see module docstring)."""
    folder = Path(folder)
    prov = Provenance.of(folder)
    tables = SourceTables(runs=pd.DataFrame(), points=pd.DataFrame())

    dense = _read(folder, tables, DENSE, ["N", "D", "lr", "bs", "ti", "loss", "smooth loss"])
    ids = SOURCE + "/dense/" + dense["exp_name"]
    c = 6.0 * dense["N"] * dense["D"]
    runs = [pd.DataFrame({"run_id": ids, "collection": "dense", "family": f"{SOURCE}/dense", "model": dense["exp_name"],
                          "arch": "dec", "params": dense["N"], "tokens": dense["D"], "flops": c,
                          "notes": "one point of the lr x bs sweep; final training loss (smoothed and raw); "
                                   "bs in sequences of 2,048 tokens; C = 6ND",
                          "extra": _extra(dense.attrs["raw"], DENSE_EXTRA)})]
    points = [_points(ids, dense, c)]
    for key, value in prov.run_fields(DENSE).items():
        runs[0][key] = value

    moe = _read(folder, tables, MOE, ["N", "Na", "D", "lr", "bs", "ti", "loss", "smooth loss"])
    ids = SOURCE + "/moe/" + moe["exp_name"]
    c = 6.0 * moe["Na"] * moe["D"]
    moe_runs = pd.DataFrame({"run_id": ids, "collection": "moe", "family": f"{SOURCE}/moe-" + moe["moe_name"],
                             "model": moe["exp_name"], "arch": "moe", "params": moe["N"], "tokens": moe["D"],
                             "flops": c,
                             "notes": "one point of the lr x bs sweep; final training loss (smoothed and raw); "
                                      "N = total params, Na (active) in extra; C = 6 Na D",
                             "extra": _extra(moe.attrs["raw"], MOE_EXTRA)})
    for key, value in prov.run_fields(MOE).items():
        moe_runs[key] = value
    runs.append(moe_runs)
    points.append(_points(ids, moe, c))

    for file, df in ((DENSE, dense), (MOE, moe)):
        n = int((df["loss"] > DIVERGED).sum())
        tables.exclude(file, "diverged runs", "flagged",
                       f"{n} runs end with a training loss above {DIVERGED} nats (unstable lr x bs settings); kept "
                       "as published", n)
        tables.exclude(file, "loss", "flagged",
                       "training loss (last logged lm loss and its Gaussian-smoothed value), not a held-out loss; "
                       "split train")
    tables.exclude(DENSE, "flops", "converted", "no FLOPs published: C = 6 N D")
    tables.exclude(MOE, "flops", "converted", "no FLOPs published: C = 6 Na D with Na the active parameters")
    n_fits = sum(1 for _ in open(folder / FITS, encoding="utf-8")) - 1
    drop_file(tables, FITS, "bootstrap fits of the authors' lr(N, D) and bs(D) laws (coefficients, not "
                            "observations)", n_fits)
    return finish(tables, prov, pd.concat(runs, ignore_index=True), pd.concat(points, ignore_index=True))
