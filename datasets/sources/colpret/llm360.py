"""LLM360: K2 and Amber W&B exports, and the Mamba curves.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from datasets.sources._common import numeric
from datasets.sources.colpret.common import (AMBER_CHECKPOINTS, AMBER_TOKENS, Ingest, MAMBA_STEPS, MAMBA_TOKENS,
                                             PAPERS, band_columns, band_reason, melt, parse_count, slug)


def read_k2(ing: Ingest) -> None:
    file = "aggregated_eval/K2.csv"
    df = ing.read_csv(file)
    band, differ = band_columns(df)
    ing.exclude(file, f"{len(band)} W&B __MIN/__MAX columns", "dropped", band_reason(differ), len(df))
    df = df.drop(columns=band)
    for column in ("tokens_seen", "flops", "k2 training - lm loss"):
        df[column] = numeric(df[column], file, column)
    empty = [c for c in df.columns if df[c].isna().all()]
    ing.exclude(file, ", ".join(empty), "dropped", "columns are empty in this copy", 0)
    df = df.drop(columns=empty)
    df["step"] = np.nan
    df["tokens"] = df["tokens_seen"]
    ing.exclude(file, "Step, index", "dropped",
                "Step is a W&B x-axis, not an optimiser step (not monotone); index is the row "
                "number. tokens_seen (ColPret: row index x 1.4e12 / (rows - 1)) gives D", len(df))

    main = df.assign(run_id="colpret/k2/K2-65B")
    specs = [("k2 training - lm loss", "train_loss", "train", "nats", 1.0)]
    evals = [c for c in df.columns if c.startswith("k2 eval - ")]
    specs += [(c, f"{c.removeprefix('k2 eval - ')}/acc", "downstream", "accuracy", 0.01) for c in evals]
    ing.add(melt(main, specs), file)

    spike_cols = [c for c in df.columns if c.startswith("k2 eval spike 1 - ")]
    spike = df.assign(run_id="colpret/k2/K2-65B-spike1")
    ing.add(melt(spike, [(c, f"{c.removeprefix('k2 eval spike 1 - ')}/acc", "downstream",
                           "accuracy", 0.01) for c in spike_cols]), file)
    ing.exclude(file, "k2 eval * - <task> (percent)", "converted", "accuracy % / 100",
                int(df[evals + spike_cols].notna().sum().sum()))
    ing.exclude(file, "k2 eval spike 1 - *", "flagged",
                "evaluations of the loss-spike restart segment kept as a separate run "
                "(colpret/k2/K2-65B-spike1, family colpret/k2-spike) so they never mix with the "
                "main curve in a fit", int(df[spike_cols].notna().any(axis=1).sum()))
    common = dict(collection="k2", model="K2-65B", arch="dec", params=parse_count(df["num_params"].iloc[0]),
                  data="LLM360/K2Datasets", paper=PAPERS["llm360"] + "; LLM360/K2 model card",
                  file=file, tokens=float(df["tokens_seen"].max()))
    ing.run(run_id="colpret/k2/K2-65B", family="colpret/k2", **common,
            notes="train CE (nats) and 5 downstream accuracies (% -> fraction); D and C as given by "
                  "ColPret (D linear in W&B row index to 1.4T, C = 6ND)")
    ing.run(run_id="colpret/k2/K2-65B-spike1", family="colpret/k2-spike", **common,
            notes="downstream evaluations of the K2 loss-spike restart segment ('k2 eval spike 1'); "
                  "D as for the main run at the same W&B row")


def read_amber(ing: Ingest) -> None:
    folder = "raw_data/lm360/Amber"
    files = sorted(p.name for p in (ing.folder / folder).glob("*.csv"))
    label = f"{folder}/*.csv"
    seen: dict[str, str] = {}
    n_percent = n_band = n_rows = 0
    for name in files:
        file = f"{folder}/{name}"
        df = ing.read_csv(file)
        band, differ = band_columns(df)
        df = df.drop(columns=band)
        n_band, n_rows = n_band + differ, n_rows + len(df)
        (column,) = [c for c in df.columns if c != "Step"]
        group, task = column.split(" - ", 1)
        index = numeric(df["Step"], file, "Step")
        frame = pd.DataFrame({"run_id": "colpret/amber/Amber-7B", "step": np.nan,
                              "tokens": (index + 1) * AMBER_TOKENS / AMBER_CHECKPOINTS,
                              "flops": np.nan, "v": numeric(df[column], file, column)})
        bias = group == "downstream_eval" and task == "crowspairs"
        if bias:
            spec = ("v", "crowspairs/pct_stereotype", "downstream", "other", 0.01)
            ing.exclude(label, column, "flagged",
                        "CrowS-Pairs % stereotyped choices (bias, lower is better, 0.5 = unbiased): "
                        "stored as a fraction with unit 'other'", len(df))
        elif group == "downstream_eval":
            spec = ("v", f"{slug(task)}/acc", "downstream", "accuracy", 0.01)
            n_percent += len(df)
        elif group == "perplexity_eval":
            spec = ("v", f"{slug(task)}/ppl", "validation", "perplexity", 1.0)
        else:
            raise ValueError(f"{file}: unexpected metric group {group!r}")
        if spec[1] in seen:
            raise ValueError(f"{file}: metric {spec[1]} also in {seen[spec[1]]}")
        seen[spec[1]] = file
        points = melt(frame, [spec])
        if bias:
            points["higher_is_better"] = False
        ing.add(points, label)
    ing.exclude(label, "__MIN/__MAX columns of every export", "dropped", band_reason(n_band), n_rows)
    ing.exclude(label, "Step (checkpoint index)", "converted",
                f"tokens = (index + 1) x {AMBER_TOKENS:.3g} / {AMBER_CHECKPOINTS}: Amber's data is "
                "split into 360 equal chunks and checkpoint i is saved after chunk i + 1", len(files))
    ing.exclude(label, "downstream_eval (percent)", "converted", "accuracy % / 100", n_percent)
    ing.exclude(label, "train-loss export", "dropped",
                "wandb_export_2023-12-27T16_36_05.526 (the training loss) is absent from the copy "
                "(over 4 MiB upstream)", 0)
    ing.run(run_id="colpret/amber/Amber-7B", collection="amber", family="colpret/amber",
            model="Amber-7B", arch="dec", params=6.7e9, data="LLM360/AmberDatasets",
            paper=PAPERS["llm360"], file=label,
            notes="40 W&B exports, one metric each: downstream accuracies (% -> fraction) and Pile "
                  "subset perplexities; checkpoint i -> D = (i+1) x 1.25T/360; N = 6.7B (ColPret); "
                  "C = 6ND")


def read_mamba(ing: Ingest) -> None:
    file = "aggregated_eval/llm360Mamba3B.csv"
    df = ing.read_csv(file)
    step = numeric(df["step"], file, "step")
    frame = pd.DataFrame({"run_id": "colpret/llm360-mamba/Mamba-3B", "step": step,
                          "tokens": step * MAMBA_TOKENS / MAMBA_STEPS, "flops": np.nan,
                          "loss": numeric(df["loss"], file, "loss"), "lr": numeric(df["lr"], file, "lr")})
    ing.add(melt(frame, [("loss", "train_loss", "train", "nats", 1.0),
                          ("lr", "learning_rate", "train", "lr", 1.0)]), file)
    ing.exclude(file, "step", "converted",
                f"tokens = step x {MAMBA_TOKENS:.0e} / {MAMBA_STEPS} (ColPret)", len(df))
    ing.exclude(file, "grad_norm", "dropped", "optimiser diagnostic, not a performance metric", len(df))
    ing.exclude(file, "loss", "flagged",
                f"W&B train loss starts at {frame['loss'].iloc[0]:.1f} (> ln 50k = 10.8) and ends "
                f"near {frame['loss'].iloc[-1]:.2f}; kept as nats but its scale is unverified", len(df))
    ing.run(run_id="colpret/llm360-mamba/Mamba-3B", collection="llm360-mamba",
            family="colpret/llm360-mamba", model="LLM360 Mamba-3B", arch="ssm", params=3e9,
            data="LLM360/AmberDatasets", paper=PAPERS["llm360"] + " (Mamba run: W&B logs)", file=file,
            notes="train loss (nats, scale unverified) and the learning-rate schedule at every logged "
                  "step, for LR-annealing laws; D = step x 500e9/176703; N = 3B (ColPret); C = 6ND")
