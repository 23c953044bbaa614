"""The canonical fit frame: long-form runs and points -> one row per observation, losses in nats.

A pure function of its inputs, shared by the store (:meth:`datasets.store.Store.fit_frame`) and anything
holding runs and points in memory.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from datasets.vocabulary import to_nats

FIT_POINT_COLUMNS = ("run_id", "step", "tokens", "flops", "metric", "unit", "value", "higher_is_better")


def _final_rows(points: pd.DataFrame) -> pd.DataFrame:
    """The last checkpoint of every (run, metric): largest tokens, then step (NaN last), then value."""
    order = points.sort_values(["run_id", "metric", "tokens", "step", "value"],
                               ascending=[True, True, False, False, True], na_position="last", kind="stable")
    return order.drop_duplicates(["run_id", "metric"], keep="first")


def to_fit_frame(runs: pd.DataFrame, points: pd.DataFrame, metric: str, *, as_nats: bool = True,
                 final_only: bool = False) -> pd.DataFrame:
    """The canonical fit frame for ``metric`` from long-form ``runs`` and ``points`` (pure function).

    One row per observation with columns ``run`` (run id), ``N`` (params), ``D`` (tokens at the point),
    ``C`` (FLOPs at the point; 6*N*D where not published), ``step``, ``y`` (the value, in nats when
    ``as_nats`` and the unit is a loss), ``group`` (family), plus ``U`` (unique tokens) when any run has
    it and ``lr`` (the learning rate at that step) when ``points`` holds a series with unit ``lr`` for
    these runs. ``D`` falls back to the run's total tokens for a run with a single point.

    ``attrs`` records ``metric``, ``unit`` (after conversion), ``converted`` ({unit: rows}),
    ``c_from_6nd`` (rows whose C was computed), ``dropped_nonfinite`` and ``higher_is_better``.

    Raises
    ------
    ValueError
        When the metric has several units and ``as_nats`` cannot make them one.
    """
    points = points[[c for c in FIT_POINT_COLUMNS if c in points]]
    pts = points[points["metric"] == metric]
    if final_only:
        pts = _final_rows(pts)
    lr_series = points[(points["unit"] == "lr") & (points["metric"] != metric)
                       & points["run_id"].isin(pts["run_id"].unique())]
    runs = runs.drop_duplicates("run_id").set_index("run_id")
    pts = pts[pts["run_id"].isin(runs.index.unique())].reset_index(drop=True)

    y = pts["value"].astype("float64").to_numpy(copy=True)
    units = sorted(pts["unit"].dropna().unique())
    converted: dict[str, int] = {}
    if as_nats:
        out_units = set()
        for u in units:
            mask = (pts["unit"] == u).to_numpy()
            y[mask], new = to_nats(y[mask], u)
            out_units.add(new)
            if new != u:
                converted[u] = int(mask.sum())
    else:
        out_units = set(units)
    if len(out_units) > 1:
        raise ValueError(f"metric {metric!r} comes in several units {sorted(out_units)}; "
                         f"pick one family or convert to nats (as_nats=True) first")

    cols = [c for c in ("params", "tokens", "family", "unique_tokens") if c in runs]
    r = runs[cols].iloc[runs.index.get_indexer(pts["run_id"])]
    N = r["params"].to_numpy(dtype="float64")
    D = pts["tokens"].to_numpy(dtype="float64", copy=True)
    codes, _ = pd.factorize(pts["run_id"])
    single = np.bincount(codes, minlength=1)[codes] == 1 if len(codes) else np.zeros(0, bool)
    fill = np.isnan(D) & single
    D[fill] = r["tokens"].to_numpy(dtype="float64")[fill]
    C = pts["flops"].to_numpy(dtype="float64", copy=True)
    c_missing = np.isnan(C)
    C[c_missing] = 6.0 * N[c_missing] * D[c_missing]
    frame = pd.DataFrame({"run": pts["run_id"].astype("str").to_numpy(), "N": N, "D": D, "C": C,
                          "step": pts["step"].to_numpy(dtype="float64"), "y": y,
                          "group": r["family"].astype("str").to_numpy()})
    if "unique_tokens" in r and r["unique_tokens"].notna().any():
        frame["U"] = r["unique_tokens"].to_numpy(dtype="float64")
    if "extra" in runs:      # ParScale's parallel streams P, recorded per run in runs.extra (uploads: column P)
        P = _extra_number(runs["extra"], "P")
        if P.notna().any():
            frame["P"] = P.reindex(pts["run_id"]).to_numpy(dtype="float64")
    if len(lr_series):
        frame["lr"] = _lr_at(frame, lr_series)
    keep = np.isfinite(frame["y"].to_numpy())
    frame = frame[keep].reset_index(drop=True)
    hib = pts["higher_is_better"].dropna()
    frame.attrs.update(metric=metric, unit=next(iter(out_units), None), converted=converted,
                       c_from_6nd=int(c_missing[keep].sum()), dropped_nonfinite=int((~keep).sum()),
                       higher_is_better=bool(hib.iloc[0]) if len(hib) else None)
    return frame


def _extra_number(extra: pd.Series, key: str) -> pd.Series:
    """``extra[key]`` as float per run (index: run id) from the runs' JSON ``extra``; NaN where absent."""
    import json

    out = pd.Series(np.nan, index=extra.index, dtype="float64")
    has = extra.astype("string").str.contains(f'"{key}"', regex=False).fillna(False).to_numpy(bool)
    for run_id, text in extra[has].items():
        try:
            v = float(json.loads(text).get(key))
        except (ValueError, TypeError, AttributeError):
            continue
        out[run_id] = v if np.isfinite(v) and v > 0 else np.nan
    return out


def _lr_at(frame: pd.DataFrame, lr_points: pd.DataFrame) -> np.ndarray:
    """Learning rate of each frame row: the ``lr`` series value at the same (run, step), else (run, D)."""
    name = "lr" if (lr_points["metric"] == "lr").any() else sorted(lr_points["metric"].unique())[0]
    lr = lr_points[lr_points["metric"] == name]
    out = np.full(len(frame), np.nan)
    for key_f, key_p in (("step", "step"), ("D", "tokens")):
        table = lr[["run_id", key_p, "value"]].dropna(subset=[key_p]).drop_duplicates(["run_id", key_p])
        keys = pd.DataFrame({"run_id": frame["run"].to_numpy(), key_p: frame[key_f].to_numpy()})
        found = keys.merge(table, on=["run_id", key_p], how="left")["value"].to_numpy(dtype="float64")
        out = np.where(np.isnan(out), found, out)
    return out
