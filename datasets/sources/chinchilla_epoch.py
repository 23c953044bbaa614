"""Ingest ``chinchilla-epoch``: Epoch AI's extraction of Hoffmann et al. 2022 Figure 4.

``data/svg_extracted_data.csv`` (245 rows) holds the final loss of every training run behind the
Chinchilla paper's Approach 3, read from the figure's SVG by Besiroglu et al. 2024 (arXiv 2404.10102).
Each row is one run (a final point): ``Model Size`` = N, ``Training FLOP`` = C, ``loss`` = final loss
(cross-entropy in nats on MassiveText, as plotted; the runs train for under one epoch).

* D is not published: D = C / (6 N).
* Epoch fit their law on 240 points, leaving out the 5 highest-loss runs; all 245 are kept here and
  those 5 carry ``runs.extra.epoch_outlier = true`` so a fit can reproduce Epoch's selection.
* ``x``, ``y``, ``color``, ``hex_color`` (SVG position and marker colour) go to ``runs.extra``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from datasets.sources import SourceTables
from datasets.sources._common import Provenance, clean_extra, finish, numeric

SOURCE = "chinchilla-epoch"
FILE = "data/svg_extracted_data.csv"
N_OUTLIERS = 5   # Epoch's notebook drops the 5 highest-loss points before fitting


def ingest(folder: Path) -> SourceTables:
    """Read the 245 digitised Chinchilla runs (see module docstring)."""
    folder = Path(folder)
    prov = Provenance.of(folder)
    tables = SourceTables(runs=pd.DataFrame(), points=pd.DataFrame())
    df = pd.read_csv(folder / FILE)
    tables.rows_read[FILE] = len(df)
    n = numeric(df["Model Size"], FILE, "Model Size")
    c = numeric(df["Training FLOP"], FILE, "Training FLOP")
    loss = numeric(df["loss"], FILE, "loss")
    x, y = numeric(df["x"], FILE, "x"), numeric(df["y"], FILE, "y")
    d = c / (6.0 * n)
    outlier = loss.rank(method="first", ascending=False) <= N_OUTLIERS
    ids = [f"{SOURCE}/row{i + 1:03d}" for i in range(len(df))]
    runs = pd.DataFrame({
        "run_id": ids, "collection": "chinchilla", "family": f"{SOURCE}/chinchilla",
        "model": [f"Chinchilla Fig. 4 run, N={a:.3g}, C={b:.3g}" for a, b in zip(n, c)],
        "arch": "dec", "params": n, "data": "MassiveText", "tokens": d, "flops": c,
        "notes": "digitised from Hoffmann et al. 2022 Fig. 4 (Epoch AI); final loss; D = C / (6N); run id = "
                 "1-based data row of the CSV",
        "extra": [clean_extra(dict(svg_x=a, svg_y=b, color=col, hex_color=hx, epoch_outlier=bool(o) or None))
                  for a, b, col, hx, o in zip(x, y, df["color"], df["hex_color"], outlier)],
    })
    for key, value in prov.run_fields(FILE).items():
        runs[key] = value
    points = pd.DataFrame({"run_id": ids, "step": np.nan, "tokens": d, "flops": c, "metric": "loss",
                           "split": "train", "unit": "nats", "value": loss, "stderr": np.nan,
                           "higher_is_better": False})
    tables.exclude(FILE, "tokens", "converted", "D is not published: D = Training FLOP / (6 x Model Size)", len(df))
    tables.exclude(FILE, "5 highest-loss runs", "flagged",
                   "Epoch's fit leaves out the 5 highest-loss points (240 used); kept, with "
                   "runs.extra.epoch_outlier = true", int(outlier.sum()))
    tables.exclude(FILE, "loss split", "flagged",
                   "Figure 4 plots the final training loss; the runs see each token at most once, so it estimates "
                   "the held-out loss; stored as split train, metric 'loss'")
    return finish(tables, prov, runs, points)
