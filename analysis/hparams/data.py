"""The sweep frame: one row per training run of a learning-rate x batch-size sweep.

Columns (units in brackets):

* ``run`` -- run id (text); ``group`` -- family (text).
* ``N`` [parameters] -- the model size the laws use (non-embedding parameters for StepLaw; the
  *total* parameters of a mixture-of-experts model); ``N_active`` [parameters] -- active parameters
  per token of an MoE model (NaN for a dense model).
* ``D`` [tokens] -- training tokens of the run.
* ``lr`` [1] -- the peak learning rate; ``batch`` [tokens] -- the batch size in tokens
  (sequences x ``seq_len``); ``seq_len`` [tokens per sequence].
* ``M`` [FLOPs per token] -- non-embedding training FLOPs per token, DeepSeek's
  ``M = 6 N_active + 6 n_layer d_model l_seq`` when the run records its shape (``numl``, ``h``); NaN
  otherwise (rules then use ``M = 6 N``).
* ``loss`` -- the final loss (nats when the metric is a loss); ``diverged`` -- a run whose loss is not
  finite or exceeds its cell's minimum by more than :data:`DIVERGED_GAP` (50%): on StepLaw's dense
  sweep this is exactly the 181 runs above 4 nats (converged runs lie within 30% of their cell's
  minimum, diverged ones 60% or more above it).
* ``cell`` -- integer id of the (N, N_active, D) cell.

Builders: :func:`from_store` (a store family, reading ``lr``/``bs`` from ``runs.extra``),
:func:`from_table` (an uploaded table with columns lr, batch or bs, N, D, loss) and
:func:`sweep_frame` (validate a frame that already has the canonical columns).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from datasets.errors import WorkbenchError
from datasets.schema import parse_extra
from datasets.vocabulary import LOSS_UNITS, to_nats

__all__ = ["HparamsError", "DIVERGED_GAP", "SEQ_LEN", "COLUMNS", "ALIASES", "sweep_frame", "from_table",
           "from_store", "from_runs", "sweep_metric", "cell_table"]

DIVERGED_GAP = 0.5      # a run whose loss exceeds its cell's minimum by more than 50% diverged
SEQ_LEN = 2048          # tokens per sequence when a source does not say (StepLaw, Porian et al.)
COLUMNS = ["run", "group", "N", "N_active", "D", "lr", "batch", "seq_len", "M", "loss", "diverged", "cell"]
# accepted spellings of each input column (case-insensitive); "bs"/"batch_size" are sequences
ALIASES = {
    "lr": ("lr", "learning_rate", "peak_lr", "eta"),
    "batch": ("batch", "batch_tokens", "tokens_per_batch"),
    "bs": ("bs", "batch_size", "batch_sequences", "sequences_per_batch"),
    "N": ("n", "params", "parameters", "n_params", "model_size"),
    "N_active": ("n_active", "na", "active_params", "active_parameters"),
    "D": ("d", "tokens", "n_tokens", "train_tokens", "data"),
    "loss": ("loss", "smooth loss", "smooth_loss", "y", "value", "final_loss", "val_loss", "train_loss"),
    "run": ("run", "run_id", "name", "exp_name", "id"),
    "seq_len": ("seq_len", "sequence_length", "context", "context_length"),
}


class HparamsError(WorkbenchError, ValueError):
    """A sweep cannot be analysed; ``message`` names the row/column, ``fix`` says what to do."""


def _find(columns, key: str) -> str | None:
    lower = {str(c).strip().lower(): c for c in columns}
    for alias in ALIASES[key]:
        if alias in lower:
            return lower[alias]
    return None


def _numeric(df: pd.DataFrame, col: str, name: str, *, positive: bool = True, allow_nan: bool = False) -> np.ndarray:
    """Column ``col`` as float64, raising :class:`HparamsError` naming the first bad row.

    A cell is bad when it is text that is not a number, infinite, not positive (``positive``), or empty
    (unless ``allow_nan``: then an empty cell is NaN).
    """
    raw = df[col]
    vals = np.asarray(pd.to_numeric(raw, errors="coerce"), dtype=float)
    empty = raw.isna().to_numpy() | raw.astype(str).str.strip().str.lower().isin(["", "nan", "none"]).to_numpy()
    bad = np.isinf(vals) | (np.isnan(vals) & ~empty)
    if not allow_nan:
        bad |= empty
    if positive:
        bad |= np.isfinite(vals) & (vals <= 0)
    if bad.any():
        i = int(np.argmax(bad))
        shown = str(raw.iloc[i])[:40]
        need = "a positive number" if positive else "a number"
        raise HparamsError(f"row {i + 1}, column {col!r} ({name}): {shown!r} is not {need}",
                           f"give every run {need} in {col!r}")
    return vals


def sweep_frame(df: pd.DataFrame, *, diverged_gap: float = DIVERGED_GAP) -> pd.DataFrame:
    """Validate a frame with (at least) ``N, D, lr, batch, loss`` and complete the canonical columns.

    ``batch`` is in tokens. Missing optional columns get defaults: ``run`` = ``row<i>``, ``group`` = "",
    ``N_active`` = NaN, ``seq_len`` = 2048, ``M`` = NaN. ``diverged`` and ``cell`` are (re)computed.

    Raises
    ------
    HparamsError
        A required column is missing, a value is not a positive number (loss: not a number), or the
        frame has no row.
    """
    missing = [c for c in ("N", "D", "lr", "batch", "loss") if c not in df.columns]
    if missing:
        raise HparamsError(f"the sweep has no column {', '.join(map(repr, missing))}",
                           "give columns lr, batch (tokens) or bs (sequences), N, D and loss")
    if len(df) == 0:
        raise HparamsError("the sweep has no rows", "give at least one run per (N, D) cell")
    out = pd.DataFrame(index=pd.RangeIndex(len(df)))
    out["run"] = (df["run"].astype(str).to_numpy() if "run" in df.columns
                  else [f"row{i + 1}" for i in range(len(df))])
    out["group"] = df["group"].astype(str).to_numpy() if "group" in df.columns else ""
    for col, name in (("N", "parameters"), ("D", "tokens"), ("lr", "learning rate"), ("batch", "batch, tokens")):
        out[col] = _numeric(df, col, name)
    out["N_active"] = (_numeric(df, "N_active", "active parameters", allow_nan=True)
                       if "N_active" in df.columns else np.nan)
    out["seq_len"] = _numeric(df, "seq_len", "sequence length") if "seq_len" in df.columns else float(SEQ_LEN)
    out["M"] = _numeric(df, "M", "FLOPs per token", allow_nan=True) if "M" in df.columns else np.nan
    loss = pd.to_numeric(df["loss"], errors="coerce").to_numpy(dtype=float)
    bad_text = np.isnan(loss) & df["loss"].notna().to_numpy() & (df["loss"].astype(str).str.strip().str.lower()
                                                                 != "nan").to_numpy()
    if bad_text.any():
        i = int(np.argmax(bad_text))
        raise HparamsError(f"row {i + 1}, column 'loss': {str(df['loss'].iloc[i])[:40]!r} is not a number",
                           "give every run its final loss as a number (a diverged run may be NaN or inf)")
    out["loss"] = loss
    out["cell"] = _cells(out)
    out["diverged"] = _diverged(out, diverged_gap)
    if (~out["diverged"]).sum() == 0:
        raise HparamsError("every run of the sweep diverged (no finite loss)", "check the loss column")
    out.attrs.update(df.attrs)
    return out[COLUMNS]


def _cells(df: pd.DataFrame) -> np.ndarray:
    """Integer cell ids: runs with the same N, N_active and D (to 6 significant digits) share a cell."""
    def key(v):
        v = np.asarray(v, float)
        return np.where(np.isfinite(v), np.round(np.log(np.where(v > 0, v, 1.0)), 5), -1.0)
    keys = pd.DataFrame({"n": key(df["N"]), "a": key(df["N_active"]), "d": key(df["D"])})
    return keys.groupby(["n", "a", "d"], sort=True).ngroup().to_numpy()


def _diverged(df: pd.DataFrame, gap: float) -> np.ndarray:
    loss = df["loss"].to_numpy(float)
    finite = np.isfinite(loss)
    best = pd.Series(np.where(finite, loss, np.inf)).groupby(df["cell"].to_numpy()).transform("min").to_numpy()
    return ~finite | (loss > best * (1.0 + gap))


def from_table(df: pd.DataFrame, *, batch_unit: str = "sequences", seq_len: float | None = None,
               diverged_gap: float = DIVERGED_GAP) -> pd.DataFrame:
    """The sweep frame of an uploaded table (one row per run).

    Columns are matched case-insensitively (:data:`ALIASES`): ``lr``; ``batch`` (tokens) or ``bs``
    (sequences of ``seq_len`` tokens, 2,048 unless a ``seq_len`` column or argument says otherwise);
    ``N``; ``D``; ``loss``; optionally ``N_active`` and ``run``. ``batch_unit`` says what a bare
    ``batch`` column counts ("sequences" or "tokens").

    Raises
    ------
    HparamsError
        A column is missing or a cell is not a positive number (the message names row and column).
    """
    if batch_unit not in ("sequences", "tokens"):
        raise HparamsError(f"batch_unit {batch_unit!r} is not 'sequences' or 'tokens'")
    cols = {k: _find(df.columns, k) for k in ALIASES if k not in ("batch", "bs")}
    lower = {str(c).strip().lower(): c for c in df.columns}
    tokens_col = next((lower[a] for a in ("batch_tokens", "tokens_per_batch") if a in lower), None)
    batch_col = lower.get("batch")
    seq_col = _find(df.columns, "bs")
    missing = [k for k in ("lr", "N", "D", "loss") if cols[k] is None]
    if tokens_col is None and batch_col is None and seq_col is None:
        missing.insert(1, "batch or bs")
    if missing:
        raise HparamsError(f"the table has no column for {', '.join(missing)} (columns: "
                           f"{', '.join(map(str, df.columns[:20]))})",
                           "name the columns lr, batch (or bs), N, D and loss")
    out = pd.DataFrame({k: df[c].to_numpy() for k, c in cols.items() if c is not None and k != "seq_len"})
    seq = (_numeric(df, cols["seq_len"], "sequence length") if cols["seq_len"] is not None
           else np.full(len(df), float(seq_len or SEQ_LEN)))
    out["seq_len"] = seq
    if tokens_col is not None:
        out["batch"] = _numeric(df, tokens_col, "batch size, tokens")
    elif batch_col is not None:
        b = _numeric(df, batch_col, f"batch size, {batch_unit}")
        out["batch"] = b * seq if batch_unit == "sequences" else b
    else:
        out["batch"] = _numeric(df, seq_col, "batch size, sequences") * seq
    return sweep_frame(out, diverged_gap=diverged_gap)


def _pick(extra: dict, names) -> float:
    for name in names:
        if name in extra and extra[name] is not None:
            try:
                return float(extra[name])
            except (TypeError, ValueError):
                return math.nan
    return math.nan


def from_runs(runs: pd.DataFrame, final: pd.DataFrame, *, diverged_gap: float = DIVERGED_GAP) -> pd.DataFrame:
    """The sweep frame from store ``runs`` (with ``extra`` JSON holding ``lr`` and ``bs``) and ``final``
    points (``run_id``, ``value``, ``unit``; one row per run).

    The batch is ``bs`` (sequences) x ``seq_len`` (2,048 when ``extra`` has none), or ``batch_tokens``.
    ``N_active`` comes from ``Na``/``N_active``; ``M`` = 6 N_active (or N) + 6 ``numl`` ``h`` seq_len.

    Raises
    ------
    HparamsError
        No run records a learning rate and a batch size.
    """
    extra = [parse_extra(e) for e in runs["extra"]] if "extra" in runs.columns else [{}] * len(runs)
    seq = np.array([_pick(e, ("seq_len",)) for e in extra])
    seq = np.where(np.isfinite(seq), seq, float(SEQ_LEN))
    bs = np.array([_pick(e, ("bs", "batch_size")) for e in extra])
    tok = np.array([_pick(e, ("batch_tokens",)) for e in extra])
    batch = np.where(np.isfinite(tok), tok, bs * seq)
    lr = np.array([_pick(e, ALIASES["lr"]) for e in extra])
    n = runs["params"].to_numpy(float)
    na = np.array([_pick(e, ("Na", "N_active", "active_params")) for e in extra])
    layers = np.array([_pick(e, ("numl", "n_layers", "num_layers")) for e in extra])
    width = np.array([_pick(e, ("h", "d_model", "hidden_size")) for e in extra])
    m = 6.0 * np.where(np.isfinite(na), na, n) + 6.0 * layers * width * seq
    frame = pd.DataFrame({"run": runs["run_id"].astype(str).to_numpy(), "group": runs["family"].astype(str).to_numpy(),
                          "N": n, "N_active": na, "D": runs["tokens"].to_numpy(float), "lr": lr, "batch": batch,
                          "seq_len": seq, "M": m})
    keep = np.isfinite(frame["lr"]) & np.isfinite(frame["batch"]) & np.isfinite(frame["N"]) & np.isfinite(frame["D"])
    if not keep.any():
        raise HparamsError("no run of this family records its learning rate and batch size (runs.extra lr, bs)",
                           "choose a sweep family (e.g. steplaw/dense) or upload a table with lr and batch columns")
    values = final.drop_duplicates("run_id").set_index("run_id")
    loss = values["value"].reindex(frame["run"]).to_numpy(float)
    unit = str(values["unit"].iloc[0]) if len(values) and "unit" in values.columns else "nats"
    if unit in LOSS_UNITS:
        loss, unit = to_nats(loss, unit)
    frame["loss"] = loss
    frame = frame[keep.to_numpy()].reset_index(drop=True)
    frame.attrs["unit"] = unit
    return sweep_frame(frame, diverged_gap=diverged_gap)


def sweep_metric(metrics: list[str], default: str | None) -> str | None:
    """The metric to analyse: ``<default>_smoothed`` when the source publishes it (StepLaw fits its
    Gaussian-smoothed final loss; the last logged loss is one noisy batch), else ``default``."""
    if default and f"{default}_smoothed" in metrics:
        return f"{default}_smoothed"
    return default


def from_store(store, family: str, metric: str | None = None, *,
               diverged_gap: float = DIVERGED_GAP) -> pd.DataFrame:
    """The sweep frame of a store family (final value of ``metric``; default :func:`sweep_metric`)."""
    runs = store.runs(family=family)
    if runs.empty:
        raise HparamsError(f"no runs in family {family!r}", "choose a family listed by the store")
    if metric is None:
        metric = sweep_metric(store.metrics(family)["metric"].astype(str).tolist(), store.default_metric(family))
    if metric is None:
        raise HparamsError(f"family {family!r} has no metric", "choose another family")
    final = store.points(family=family, metric=metric, final_only=True)
    frame = from_runs(runs, final, diverged_gap=diverged_gap)
    frame.attrs.update({"family": family, "metric": metric})
    return frame


def cell_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: ``cell, N, N_active, D, n_runs, n_diverged, loss_min``."""
    g = frame.groupby("cell", sort=True)
    out = g.agg(N=("N", "first"), N_active=("N_active", "first"), D=("D", "first"), n_runs=("run", "size"),
                n_diverged=("diverged", "sum"), loss_min=("loss", "min")).reset_index()
    out["n_diverged"] = out["n_diverged"].astype(int)
    return out
