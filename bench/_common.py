"""Shared helpers for the benchmarks: timing and the Epoch Chinchilla points."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    return Path(os.environ.get("SCALING_DATA_DIR", ROOT.parent / "shared" / "data"))


def epoch_points() -> pd.DataFrame:
    """Epoch's digitised Chinchilla runs, D = C / 6N, the five highest-loss points left out."""
    raw = pd.read_csv(data_dir() / "chinchilla-epoch" / "data" / "svg_extracted_data.csv")
    df = pd.DataFrame({"N": raw["Model Size"].astype(float), "C": raw["Training FLOP"].astype(float),
                       "y": raw["loss"].astype(float)})
    df["D"] = df["C"] / (6 * df["N"])
    df = df.sort_values("y").iloc[:-5].reset_index(drop=True)
    df["run"] = [f"r{i}" for i in range(len(df))]
    return df


def timed(fn, repeat: int = 1):
    """(result of the last call, median seconds over ``repeat`` calls)."""
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return out, float(np.median(times))


def previous_auto_rule(frame: pd.DataFrame, laws, **backtest_kwargs) -> str | None:
    """The ``auto`` this project shipped before, the baseline the benches score the current rule against:
    one back-test per law (the last 30% of the points held out), the lowest held-out log-RMSE wins; a law
    whose fit fails is passed over. ``backtest_kwargs`` go to :func:`analysis.backtest.backtest`."""
    from analysis.backtest import backtest
    from analysis.fit import FitError

    best = None
    for law in laws:
        try:
            bt = backtest(frame, law, **backtest_kwargs)
        except (FitError, ValueError, FloatingPointError, np.linalg.LinAlgError):
            continue
        if np.isfinite(bt.log_rmse) and (best is None or bt.log_rmse < best[0]):
            best = (bt.log_rmse, law)
    return best[1] if best else None


def store_path() -> Path:
    from datasets.store import ensure_store
    return ensure_store()
