"""RedPajama-INCITE (digitised curves).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from datasets.sources._common import numeric
from datasets.sources.colpret.common import DIGITISED_TOKEN_UNIT, Ingest, PAPERS, melt, parse_count


def read_redpajama(ing: Ingest) -> None:
    for label in ("2.4B", "6.7B"):
        file = f"raw_data/redPajama/{label}.csv"
        df = ing.read_csv(file, header=None, names=["x", "loss"])
        run_id = f"colpret/redpajama/RedPajama-INCITE-{label}"
        frame = pd.DataFrame({"run_id": run_id, "step": np.nan,
                              "tokens": numeric(df["x"], file, "col 0") * DIGITISED_TOKEN_UNIT,
                              "flops": np.nan, "loss": numeric(df["loss"], file, "col 1")})
        ing.add(melt(frame, [("loss", "train_loss", "train", "nats", 1.0)]), file)
        ing.exclude(file, "column 0", "converted",
                    "digitised x-axis in billions of tokens: D = x * 1e9", len(df))
        ing.run(run_id=run_id, collection="redpajama", family="colpret/redpajama-incite",
                model=f"RedPajama-INCITE {label}", arch="dec", params=parse_count(label),
                data="RedPajama-Data-1T", paper=PAPERS["redpajama"], file=file,
                notes="train loss (nats) digitised from the RedPajama-INCITE blog; N as labelled by "
                      "ColPret; C = 6ND")
