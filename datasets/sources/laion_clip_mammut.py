"""Ingest ``laion-clip-mammut``: LAION scaling-laws-for-comparison (Nezhurina et al. 2025, arXiv 2506.04598).

``scaling_laws/data/segmentation_results.parquet``: 1,431 CLIP and MaMMUT models trained on
DataComp-1.4B (hyperparameter sweeps over 11 ViT shapes x 11 samples-seen scales), each evaluated
once at the end of training. Each row is a run (a final point).

* Families ``laion-clip-mammut/clip`` and ``laion-clip-mammut/mammut`` (column ``namespace``).
* N = ``model_mparams`` x 1e6 (image + text towers); D = ``samples_seen`` (image-text **samples**,
  stored in the tokens columns); C = ``gflops`` x 1e9 FLOPs, which upstream computes as per-sample
  forward GFLOPs (``model_gflops``) x samples seen: a forward-only compute axis, about a third of a
  6ND-style training count, kept as published.
* Metrics (split downstream, higher is better): ``ade20k/miou`` (the ADE20K segmentation probe) and
  ``imagenet1k/acc1``, ``imagenet1k/acc5``, ``imagenet1k/mean_per_class_recall`` (the row's ``path``
  is an ImageNet-1k zero-shot classification result; upstream names them acc1 ...). Train losses
  (split train, nats, lower is better): ``train_contrastive_loss``, ``train_caption_loss`` (MaMMUT only).
* Hyperparameters (lr, warmup, batch size, epochs, ...) go to ``runs.extra``.
* ``model_profile.csv`` (per-architecture size and GFLOPs) is read to check ``model_mparams`` and
  ``model_gflops`` of every run against it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from datasets.sources import SourceTables
from datasets.sources._common import Provenance, clean_extra, finish, numeric

SOURCE = "laion-clip-mammut"
FILE = "scaling_laws/data/segmentation_results.parquet"
PROFILE = "model_profile.csv"
#: column -> (metric, split, unit, higher_is_better)
METRICS = {"miou": ("ade20k/miou", "downstream", "accuracy", True),
           "acc1": ("imagenet1k/acc1", "downstream", "accuracy", True),
           "acc5": ("imagenet1k/acc5", "downstream", "accuracy", True),
           "mean_per_class_recall": ("imagenet1k/mean_per_class_recall", "downstream", "accuracy", True),
           "train_contrastive_loss": ("train_contrastive_loss", "train", "nats", False),
           "train_caption_loss": ("train_caption_loss", "train", "nats", False)}
NUMERIC = ["samples_seen", "gflops", "model_mparams", "model_image_mparams", "model_text_mparams", "model_gflops",
           "lr", "warmup", "global_batch_size", "epoch", "total_epochs", "steps", "gpu_hours"]
EXTRA = ["lr", "warmup", "global_batch_size", "local_batch_size", "gpus", "total_epochs", "steps", "lr_scheduler",
         "model_image_mparams", "model_text_mparams", "model_gflops", "gpu_hours", "gpu_model",
         "samples_seen_scale_pretty"]


def ingest(folder: Path) -> SourceTables:
    """Read the segmentation-results sweep (see module docstring)."""
    folder = Path(folder)
    prov = Provenance.of(folder)
    tables = SourceTables(runs=pd.DataFrame(), points=pd.DataFrame())
    df = pd.read_parquet(folder / FILE)
    tables.rows_read[FILE] = len(df)
    raw = df[EXTRA].copy()
    for col in NUMERIC + list(METRICS):
        df[col] = numeric(df[col], FILE, col)
    empty = sorted(c for c in df.columns if df[c].isna().all())
    tables.exclude(FILE, f"{len(empty)} always-empty columns", "dropped",
                   f"no value in any row: {', '.join(empty)}", len(df))
    if df["name"].duplicated().any():
        raise ValueError(f"{FILE}: duplicate run name {df.loc[df['name'].duplicated(), 'name'].iloc[0]!r}")
    if (df["epoch"] != df["total_epochs"]).any():
        raise ValueError(f"{FILE}: rows that are not the final epoch of their run")
    _check_profile(folder, tables, df)

    n = df["model_mparams"] * 1e6
    d = df["samples_seen"]
    c = df["gflops"] * 1e9
    ids = SOURCE + "/" + df["namespace"] + "/" + df["name"]
    runs = pd.DataFrame({
        "run_id": ids, "collection": df["namespace"], "family": SOURCE + "/" + df["namespace"],
        "model": df["model"], "arch": "vit", "params": n, "data": "DataComp-1.4B (datacomp_1b)", "tokens": d,
        "flops": c,
        "notes": "final epoch of one sweep run; N = model_mparams x 1e6 (image + text); D = samples seen "
                 "(image-text pairs, not tokens); C = gflops x 1e9 = forward GFLOPs per sample x samples seen; "
                 "the contrastive loss depends on the batch size (see extra)",
        "extra": [clean_extra(dict(zip(EXTRA, r))) for r in raw.itertuples(index=False, name=None)],
    })
    for key, value in prov.run_fields(FILE).items():
        runs[key] = value
    parts = []
    for col, (metric, split, unit, hib) in METRICS.items():
        have = df[col].notna()
        parts.append(pd.DataFrame({"run_id": ids[have], "step": df.loc[have, "steps"], "tokens": d[have],
                                   "flops": c[have], "metric": metric, "split": split, "unit": unit,
                                   "value": df.loc[have, col], "stderr": np.nan, "higher_is_better": hib}))
    points = pd.concat(parts, ignore_index=True)
    clip_caption = int((df["namespace"] == "clip").sum())
    tables.exclude(FILE, "train_caption_loss", "flagged",
                   f"empty for the {clip_caption} CLIP runs (CLIP has no captioning head); present for MaMMUT",
                   clip_caption)
    tables.exclude(FILE, "samples_seen", "flagged", "D is in image-text samples, stored in the tokens columns")
    tables.exclude(FILE, "gflops", "converted",
                   "C = gflops x 1e9: upstream's compute axis, forward GFLOPs per sample x samples seen "
                   "(not a 6ND-style training count)")
    tables.exclude(FILE, "acc1, acc5, mean_per_class_recall", "flagged",
                   "named imagenet1k/* because every row's result path is an ImageNet-1k zero-shot classification "
                   "JSON; upstream does not label them otherwise")
    return finish(tables, prov, runs, points)


def _check_profile(folder: Path, tables: SourceTables, df: pd.DataFrame) -> None:
    """Check every run's size and per-sample GFLOPs against ``model_profile.csv``."""
    prof = pd.read_csv(folder / PROFILE)
    tables.rows_read[PROFILE] = len(prof)
    prof["mparams"] = numeric(prof["mparams"], PROFILE, "mparams")
    prof["gflops"] = numeric(prof["gflops"], PROFILE, "gflops")
    prof = prof.rename(columns={"mparams": "profile_mparams", "gflops": "profile_gflops"})
    m = df[["name", "model", "model_simple", "namespace", "model_mparams", "model_gflops"]].merge(
        prof[["model_simple", "namespace", "profile_mparams", "profile_gflops"]], on=["model_simple", "namespace"],
        how="left", validate="many_to_one")
    if m["profile_mparams"].isna().any():
        raise ValueError(f"{PROFILE}: no profile for {m.loc[m['profile_mparams'].isna(), 'model'].iloc[0]!r}")
    bad = (~np.isclose(m["model_mparams"], m["profile_mparams"], rtol=1e-3)
           | ~np.isclose(m["model_gflops"], m["profile_gflops"], rtol=1e-3))
    if bad.any():
        raise ValueError(f"{FILE}: run {m.loc[bad, 'name'].iloc[0]!r} disagrees with {PROFILE}")
    tables.exclude(PROFILE, "profiles", "flagged",
                   f"used only to check model_mparams and model_gflops of all {len(df)} runs (they agree); "
                   f"{prof['model'].nunique() - df['model'].nunique()} profiled models have no run here")
