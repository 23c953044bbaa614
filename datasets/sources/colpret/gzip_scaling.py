"""gzip-dependent scaling (Pandey 2024, ``results_new.jsonl``).
"""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd

from datasets.sources.colpret.common import Ingest, PAPERS, parse_count


def read_gzip(ing: Ingest) -> None:
    file = "raw_data/gzip/results_new.jsonl"
    records = [json.loads(x) for x in (ing.folder / file).read_text().splitlines() if x.strip()]
    ing.count(file, len(records))
    cols: dict[str, list] = {c: [] for c in ("run_id", "step", "tokens", "metric", "split", "value")}
    n_valid = 0
    for i, rec in enumerate(records):
        dataset = str(rec["dataset_name"]).strip("/")
        ratio = re.fullmatch(r"gzipscale-([0-9.]+)-.*", dataset)
        if not ratio:
            raise ValueError(f"{file}: line {i + 1}: unexpected dataset_name {rec['dataset_name']!r}")
        N, D = parse_count(rec["model_size"]), parse_count(rec["token_ct"])
        run_id = f"colpret/gzip/{dataset}/N{int(N)}-D{int(D)}"
        for metric, split, values in (("train_loss", "train", rec["train_loss"]),
                                      ("val_loss", "validation", rec["valid_loss"])):
            n = len(values)
            position = np.arange(1, n + 1, dtype="float64")
            cols["run_id"] += [run_id] * n
            cols["step"].append(position if split == "train" else np.full(n, np.nan))
            cols["tokens"].append(D * position / n)
            cols["metric"] += [metric] * n
            cols["split"] += [split] * n
            cols["value"].append(np.asarray(values, dtype="float64"))
            n_valid += n if split == "validation" else 0
        ing.run(run_id=run_id, collection="gzip", family=f"colpret/gzip-{ratio.group(1)}",
                model=f"gzip-{ratio.group(1)} N={N:.3g} D={D:.3g}", arch="dec", params=N,
                data=dataset, tokens=D, paper=PAPERS["gzip"], file=file,
                notes="train-loss list = curve, one entry per logged step, placed evenly up to D; "
                      "valid_loss entries placed evenly (flagged); nats; C = 6ND",
                extra={"dataset_gzip_mean": float(rec["dataset_gzip"][0]),
                       "dataset_gzip_std": float(rec["dataset_gzip"][1]),
                       "num_epochs": rec["num_epochs"], "model_stats": rec["model_stats"]})
    frame = pd.DataFrame({c: np.concatenate(v) if c in ("step", "tokens", "value") else v
                          for c, v in cols.items()})
    frame["flops"], frame["unit"], frame["higher_is_better"] = np.nan, "nats", False
    ing.add(frame, file)
    ing.exclude(file, "train_loss list", "converted",
                "entry k of n is placed at D x k / n (evenly spaced logging assumed)", len(records))
    ing.exclude(file, "valid_loss list", "flagged",
                "evaluation positions are not recorded; entry k of n placed at D x k / n, so only "
                "the last (at D) is certain", n_valid)
