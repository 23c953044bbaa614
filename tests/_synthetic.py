"""Synthetic data drawn from the laws, shared by the engine's tests and benchmarks."""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.laws import anneal_areas, get_law

TRUE = {
    "chinchilla": {"E": 1.8, "A": 480.0, "B": 2100.0, "alpha": 0.35, "beta": 0.37},
    "kaplan": {"Nc": 8.8e13, "Dc": 5.4e13, "alphaN": 0.076, "alphaD": 0.095},
    "data_constrained": {"E": 1.9, "A": 500.0, "B": 1500.0, "alpha": 0.35, "beta": 0.35, "R_D*": 15.4, "R_N*": 5.3},
    "power_c": {"E": 1.7, "A": 2.0e3, "alpha": 0.16},
    "power_d": {"E": 2.0, "A": 400.0, "alpha": 0.3},
    "power_n": {"E": 2.0, "A": 300.0, "alpha": 0.3},
    "power_step": {"E": 2.2, "A": 6.0, "alpha": 0.4},
    "kaplan_c": {"Cc": 2.3e8, "alpha": 0.05},
    "kaplan_n": {"Nc": 8.8e13, "alpha": 0.076},
    "kaplan_d": {"Dc": 5.4e13, "alpha": 0.095},
    "bnsl1": {"a": 0.3, "b": 60.0, "c0": 0.12, "c1": 0.25, "d1": 1e20, "f1": 0.3},
    "bnsl2": {"a": 0.3, "b": 60.0, "c0": 0.12, "c1": 0.25, "d1": 1e19, "f1": 0.3, "c2": -0.2, "d2": 1e22, "f2": 0.3},
    "bnsl1_n": {"a": 0.5, "b": 30.0, "c0": 0.1, "c1": 0.3, "d1": 1e9, "f1": 0.3},
    "bnsl1_d": {"a": 0.5, "b": 30.0, "c0": 0.1, "c1": 0.3, "d1": 1e10, "f1": 0.3},
    "bnsl1_step": {"a": 0.5, "b": 5.0, "c0": 0.1, "c1": 0.3, "d1": 1e3, "f1": 0.3},
    "m4_d": {"E": 0.5, "B": 2.0, "beta": 2000.0, "c": 0.4, "alpha": 0.5},
    "lr_anneal": {"L0": 2.0, "A": 1.5, "alpha": 0.5, "C": 1e-3},
    # H8 (issue 15): Farseer, ParScale (Stack-V2-Python-like), Goyal's repeated-data utility decay
    "farseer": {"a1": 0.1, "b1": -0.994, "alpha": 0.3, "a2": -0.1, "b2": -1.72, "beta": 0.3, "a3": 0.4,
                "b3": 0.588, "gamma": -0.35},
    "parscale": {"E": 0.69, "A": 0.0113, "alpha": 0.189, "k": 0.394},
    "utility_decay": {"a": 300.0, "b": -0.3, "d": 1.8, "tau": 3.0},
}


def grid_runs(rng, n_sizes=8, n_ckpt=12, with_U=False):
    """Runs at several sizes and tokens-per-parameter ratios, with checkpoints along each run."""
    rows = []
    sizes = np.geomspace(5e7, 1e10, n_sizes)
    for i, N in enumerate(sizes):
        for tpp in (5.0, 20.0, 80.0):
            Dfin = tpp * N
            U = Dfin / (1.0, 4.0, 13.0, 40.0)[i % 4] if with_U else np.nan
            for D in np.geomspace(Dfin / 8, Dfin, n_ckpt if not with_U else 3):
                rows.append({"run": f"n{i}-t{tpp:g}", "N": N, "D": D, "U": U})
    df = pd.DataFrame(rows)
    df["C"] = 6 * df["N"] * df["D"]
    df["step"] = df.groupby("run").cumcount() + 1.0
    return df


def lr_runs(rng, steps=4000):
    """Three schedules (constant, cosine, warmup-stable-decay) sampled every 40 steps."""
    s = np.arange(1, steps + 1, dtype=float)
    sched = {"const": np.full_like(s, 3e-4),
             "cosine": 3e-4 * 0.5 * (1 + np.cos(np.pi * s / steps)) + 3e-5,
             "wsd": np.where(s < 0.8 * steps, 3e-4, 3e-4 * (1 - (s - 0.8 * steps) / (0.2 * steps)) + 3e-6)}
    rows = []
    for name, lr in sched.items():
        for i in range(39, steps, 40):
            rows.append({"run": name, "step": s[i], "lr": lr[i]})
    df = pd.DataFrame(rows)
    # scale S1 so that the LR area is in "steps at peak LR" units (LR-sum / peak)
    return df


def sample(law_name: str, rng, noise: float = 0.005) -> pd.DataFrame:
    """Data from ``law_name`` at its TRUE parameters with multiplicative log-normal noise."""
    law = get_law(law_name)
    if law_name == "lr_anneal":
        df = lr_runs(rng)
        df["lr"] = df["lr"] / 3e-4   # normalised LR: S1 counts steps at peak
        S1, S2 = anneal_areas(df["step"], df["lr"], df["run"])
        X = {"S1": S1, "S2": S2}
    else:
        df = grid_runs(rng, with_U=law_name in ("data_constrained", "utility_decay"))
        if law_name == "parscale":   # P parallel streams, cycling over the runs
            df["P"] = df.groupby("run", sort=False).ngroup().map(lambda i: (1.0, 2.0, 4.0, 8.0)[i % 4])
        if law_name == "power_step":
            df = df[df["run"].str.endswith("t20")]
        X = {v: df[v].to_numpy() for v in law.variables}
    y = law.predict(TRUE[law_name], X)
    df = df.assign(y=y * np.exp(rng.normal(0, noise, len(y))))
    return df.reset_index(drop=True)
