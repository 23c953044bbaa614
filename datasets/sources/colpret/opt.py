"""OPT training trajectories (Xia et al. 2022): perplexities and BIG-bench scores by tokens.
"""
from __future__ import annotations

import numpy as np

from datasets.sources._common import numeric
from datasets.sources.colpret.common import Ingest, PAPERS, melt, parse_count


def read_opt(ing: Ingest) -> None:
    file = "aggregated_eval/opt_trajectories.csv"
    df = ing.read_csv(file)
    for column in ("steps", "num_token", "flops", "ppl"):
        df[column] = numeric(df[column], file, column)
    if df["steps"].min() < 100 or df["num_token"].max() > 20 or df["flops"].max() > 40:
        raise ValueError(f"{file}: expected linear steps and log10 num_token / flops")
    df["run_id"] = "colpret/opt/OPT-" + df["model_size"]
    df["step"] = df["steps"]
    df["tokens"] = 10.0 ** df["num_token"]
    df["flops"] = 10.0 ** df["flops"]
    ing.add(melt(df, [("ppl", "val_ppl", "validation", "perplexity", 1.0)]), file)
    ing.exclude(file, "num_token, flops", "converted",
                "published as log10; D = 10**num_token, C = 10**flops (steps are linear)", len(df))

    bfile = "aggregated_eval/opt.csv"
    bench = ing.read_csv(bfile)
    for column in ("steps", "tokens", "flops"):
        bench[column] = numeric(bench[column], bfile, column)
    bench["run_id"] = "colpret/opt/OPT-" + bench["size"]
    bench["step"] = bench["steps"]
    both = bench.merge(df[["run_id", "step", "tokens"]], on=["run_id", "step"], suffixes=("", "_t"))
    rel = float(np.abs(both["tokens"] / both["tokens_t"] - 1).max())
    if rel > 1e-6:
        raise ValueError(f"{bfile}: tokens disagree with {file} (relative difference {rel:.3g})")
    tasks = [c for c in bench.columns if c.startswith("bigbench__")]
    ing.add(melt(bench, [(c, f"bigbench_{c.removeprefix('bigbench__')}/score", "downstream",
                           "score", 1.0) for c in tasks]), bfile)
    ing.exclude(bfile, "Unnamed: 0, model_name", "dropped", "row index and a copy of size", len(bench))
    for size, group in df.groupby("model_size", sort=True):
        ing.run(run_id=f"colpret/opt/OPT-{size}", collection="opt", family="colpret/opt",
                model=f"OPT-{size}", arch="dec", params=parse_count(size),
                data="OPT corpus (RoBERTa + Pile subset + PushShift.io Reddit)",
                paper=PAPERS["opt"], file=file,
                notes="validation perplexity curve (Training Trajectories) with D and C from log10 "
                      "columns; BIG-bench scores (0-100) from opt.csv at the same steps",
                extra={"tokens_per_step": float(group["tokens"].iloc[-1] / group["step"].iloc[-1])})
