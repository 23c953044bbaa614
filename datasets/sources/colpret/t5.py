"""T5 on the Pile (``t5_pile.csv``): Pile-T5 validation losses by step.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd

from datasets.sources._common import numeric
from datasets.sources.colpret.common import Ingest, PAPERS, T5_TOKENS_PER_STEP, melt


T5_PARAMS = {"base": 247_586_304, "large": 783_173_632, "xl": 2_849_804_288, "xxl": 11_135_426_560}


def read_t5(ing: Ingest) -> None:
    file = "aggregated_eval/t5_pile.csv"
    df = ing.read_csv(file)
    unknown = sorted(set(df["model_name"]) - set(T5_PARAMS))
    if unknown:
        raise ValueError(f"{file}: unknown model sizes {unknown}")
    for column in ("steps", "val_perplexity", "learning_rate/current"):
        df[column] = numeric(df[column], file, column)
    df["run_id"] = "colpret/t5-pile/pile-t5-" + df["model_name"]
    df["step"] = df["steps"]
    df["tokens"] = df["steps"] * T5_TOKENS_PER_STEP
    df["flops"] = np.nan
    ing.add(melt(df, [("val_perplexity", "r_denoiser/ppl", "validation", "perplexity", 1.0),
                       ("learning_rate/current", "learning_rate", "train", "lr", 1.0)]), file)
    n = len(df)
    ing.exclude(file, "steps", "converted", f"D = steps x {T5_TOKENS_PER_STEP:.0e} (ColPret)", n)
    ing.exclude(file, "val_perplexity", "flagged",
                "perplexity of the T5X r-denoiser objective on the Pile (1.03-1.84), not a "
                "left-to-right LM perplexity: not comparable with other families", n)
    ing.exclude(file, "accuracy", "dropped", "negative values (T5X summary of a summed quantity)", n)
    ing.exclude(file, "loss, cross_ent_loss, z_loss and their *_per_* variants", "dropped",
                "sums over the batch (1e5-1e9) and per-token variants that go negative: corrupted "
                "summaries, not per-token CE", n)
    ing.exclude(file, "learning_rate", "dropped",
                "interval mean; learning_rate/current (the value at the step) is kept", n)
    ing.exclude(file, "timing/*, effective_batch_size/*, non_padding_fraction/*, config", "dropped",
                "run diagnostics, not performance metrics", n)
    for model in T5_PARAMS:
        ing.run(run_id=f"colpret/t5-pile/pile-t5-{model}", collection="t5-pile",
                family="colpret/t5-pile", model=f"Pile-T5 {model}", arch="enc-dec",
                params=float(T5_PARAMS[model]), data="pile", paper=PAPERS["t5-pile"], file=file,
                notes="r-denoiser validation perplexity (flagged: not LM perplexity) and the "
                      "learning rate; D = steps x 1e6 (ColPret); C = 6ND (enc-dec approximation)")
    for model in T5_PARAMS:
        jfile = f"raw_data/t5_pile/{model}/inference_eval/pile_r_denoiser-metrics.jsonl"
        lines = [json.loads(x) for x in (ing.folder / jfile).read_text().splitlines() if x.strip()]
        ing.count(jfile, len(lines))
        raw = pd.DataFrame(lines)
        last = raw.dropna(subset=["perplexity"]).groupby("step")["perplexity"].last()
        csv = df[df["model_name"] == model].set_index("steps")["val_perplexity"]
        same = int(np.isclose(csv.reindex(last.index), last).sum())
        ing.exclude(jfile, "step, perplexity", "dropped",
                    f"raw source of t5_pile.csv val_perplexity (last value per step after restarts): "
                    f"{same} of {len(last)} steps identical to the CSV", len(lines))
