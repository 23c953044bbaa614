"""What every format reader produces (:class:`Draft`), and the one step that turns it into an Upload.

A reader (W&B, TensorBoard, MLflow, per-run files) only says what it found: long-form points (run, step,
metric, value, and where each came from: file, row, column) and per-run constants (family, sizes and
config from the log). :func:`finish` then

1. settles each run's sizes and says which were given, derived or unknown;
2. hands one long table to :func:`datasets.upload.read_frame`, so every format gets the upload reader's
   cell checks, unit and split rules, duplicate handling and report;
3. maps the report back to the source: a rejected point names the file, the row (line of a CSV or of an
   MLflow metric file, record of an event file) and the column or tag it came from, not a row of the
   intermediate table; config goes to ``runs.extra`` (JSON: ``config``, ``sizes``, ``format``).

Sizes are settled by :mod:`datasets.formats.sizes` (log, config, ``run_info``, ``tokens_per_step``).
"""
from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from datasets.formats.limits import MAX_ROWS, MAX_RUNS
from datasets.formats.sizes import (SIZE_COLUMNS, as_text, blank, check_tps, is_missing, read_run_info,
                                    settle_sizes, size_lines)
from datasets.upload import Upload, UploadError, read_frame
from datasets.upload.cells import parse_numbers

_MAX_CONFIG = 200            # config entries kept per run in runs.extra
_MAX_CONFIG_TEXT = 200       # characters per config value


@dataclass
class Draft:
    """A format reader's findings, before the upload reader's checks.

    ``points`` columns: ``run``, ``metric``, ``value`` (text or number), ``step`` (optional), ``lr``
    (bool, a learning-rate series), optional per-point sizes ``params`` / ``tokens`` / ``flops`` /
    ``unique_tokens``, and provenance ``file``, ``row`` (int), ``column``. ``runs`` columns: ``run``,
    ``family`` (or None), optional run-level sizes under the same names, ``config`` (dict or None),
    ``alias`` (another name the user may use for the run in ``run_info``, e.g. an MLflow run id).
    ``sources`` names, per long column (``run``, ``step``, ``params`` ...), where it came from.
    """

    format: str
    points: pd.DataFrame
    runs: pd.DataFrame
    rows_read: int
    mapping: dict = field(default_factory=dict)
    ignored: tuple[str, ...] = ()
    sources: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    encoding: str | None = None
    delimiter: str | None = None
    layout: str = "wide"
    files: int = 1


def concat(drafts: list[Draft], fmt: str) -> Draft:
    """Several drafts (one per file) as one."""
    if len(drafts) == 1:
        d = drafts[0]
        d.format = fmt
        return d
    ignored = tuple(dict.fromkeys(i for d in drafts for i in d.ignored))
    mapping: dict = {}
    for d in drafts:
        for k, v in d.mapping.items():
            old = mapping.get(k)
            vals = (old if isinstance(old, list) else [old] if old else []) + (v if isinstance(v, list) else [v])
            mapping[k] = list(dict.fromkeys(vals)) if len(set(vals)) > 1 or k == "value" else vals[0]
    sources: dict[str, str] = {}
    for d in drafts:
        for k, v in d.sources.items():
            sources.setdefault(k, v)
    encs = sorted({d.encoding for d in drafts if d.encoding})
    return Draft(format=fmt, points=pd.concat([d.points for d in drafts], ignore_index=True),
                 runs=pd.concat([d.runs for d in drafts], ignore_index=True).drop_duplicates("run", keep="first"),
                 rows_read=sum(d.rows_read for d in drafts), mapping=mapping, ignored=ignored, sources=sources,
                 notes=[n for d in drafts for n in d.notes], warnings=[w for d in drafts for w in d.warnings],
                 encoding=", ".join(encs) or None, delimiter=None, layout=drafts[0].layout,
                 files=sum(d.files for d in drafts))


# ----------------------------------------------------------------------------- finishing

_ROW_RE = re.compile(r"\brow (\d+)\b(?: \(file line \d+\))?(?:, column '([^']*)')?")


class _Where:
    """Maps rows of the long table (1-based) back to the source."""

    def __init__(self, d: Draft, pts: pd.DataFrame, provenance: dict):
        self.file, self.column, self.run = pts["file"], pts["column"], pts["run"]   # read at rejected rows only
        self.row = pts["row"].to_numpy()
        self.multi = pts["file"].nunique() > 1 or d.files > 1
        self.sources = d.sources
        self.provenance = provenance

    def label(self, k: int, col: str) -> str:
        i = k - 1
        if not 0 <= i < len(self.row):
            return col
        if col in ("value", "metric", "unit", "split"):
            name = str(self.column.iat[i])
        elif col in ("params", "tokens", "flops", "unique_tokens"):
            f = {v: k for k, v in SIZE_COLUMNS.items()}[col]
            how = self.provenance.get(self.run.iat[i], {}).get(f, "")
            name = how.removeprefix("given: ") if how else self.sources.get(col, col)
        else:
            name = self.sources.get(col, col)
        m = re.fullmatch(r"column '(.*)'", name)
        name = m.group(1) if m else name
        return f"{name} ({self.file.iat[i]})" if self.multi else name

    def row_of(self, k: int) -> int:
        i = k - 1
        return int(self.row[i]) if 0 <= i < len(self.row) else k

    def text(self, s: str) -> str:
        """A message of the upload reader with its rows (and ``row K, column 'C'`` pairs) told in source terms."""
        def sub(m: re.Match) -> str:
            k = int(m.group(1))
            if not 0 < k <= len(self.row):
                return m.group(0)
            if m.group(2) is not None:
                return f"row {self.row_of(k)}, column {self.label(k, m.group(2))!r}"
            return f"row {self.row_of(k)}" + (f" of {self.file.iat[k - 1]}" if self.multi else "")
        return _ROW_RE.sub(sub, s)


def _config_value(v):
    """A config value for JSON: numbers (also numeric text such as MLflow's params) as numbers."""
    if v is None or isinstance(v, (bool, int, float)):
        return None if isinstance(v, float) and not np.isfinite(v) else v
    text = str(v).strip()
    vals, _, status = parse_numbers(pd.Series([text], dtype=str), si=False, decimal_comma=False)
    if status[0] == 0 and not np.isnan(vals[0]):
        return int(vals[0]) if re.fullmatch(r"[+-]?\d+", text) else float(vals[0])
    return text[:_MAX_CONFIG_TEXT]


def _extra(config, sizes: dict, fmt: str) -> str:
    out: dict = {"format": fmt, "sizes": sizes}
    if config:
        items = list(config.items())[:_MAX_CONFIG]
        out["config"] = {str(k): _config_value(v) for k, v in items}
    return json.dumps(out, sort_keys=True, default=str)


def _counts(rep, rejected: tuple) -> dict[str, int]:
    """Rejections counted by source column and reason (when every one is listed), else by role."""
    bases = [key.partition(": ")[2] for key in rep.rejection_counts]
    if rep.n_rejected == len(rejected):
        out: dict[str, int] = {}
        for _, col, why in rejected:
            base = max((b for b in bases if why.startswith(b)), key=len, default=why)
            out[f"{col}: {base}"] = out.get(f"{col}: {base}", 0) + 1
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))
    rename = {"value": "metric value", "metric": "metric name", "params": "N", "tokens": "D", "flops": "C",
              "unique_tokens": "U"}
    out = {}
    for key, n in rep.rejection_counts.items():
        col, _, why = key.partition(": ")
        k = f"{rename.get(col, col)}: {why}"
        out[k] = out.get(k, 0) + n
    return out


def finish(d: Draft, *, filename: str | None, run_info=None, tokens_per_step=None) -> Upload:
    """Check, size and read a :class:`Draft` through :func:`datasets.upload.read_frame` (see the module)."""
    tps = check_tps(tokens_per_step)
    info = read_run_info(run_info) if run_info is not None else None
    if d.points.empty:
        raise UploadError("No logged values were found.", fix="Check that the runs logged scalar metrics.")
    if len(d.points) > MAX_ROWS:
        raise UploadError(f"The logs hold {len(d.points):,} points (run x step x metric), above the limit of "
                          f"{MAX_ROWS:,}.", fix="Upload fewer runs or metrics at a time.")
    n_runs = d.points["run"].nunique()
    if n_runs > MAX_RUNS:
        raise UploadError(f"The logs hold {n_runs:,} runs, above the limit of {MAX_RUNS:,}.",
                          fix="Upload fewer runs at a time.")
    present = set(pd.unique(d.points["run"]))
    runs = d.runs[d.runs["run"].isin(present)]
    missing = sorted(present - set(runs["run"]))
    if missing:
        runs = pd.concat([runs, pd.DataFrame({"run": missing})], ignore_index=True)
    d.runs = runs.reset_index(drop=True)
    pts, provenance = settle_sizes(d, info, tps)

    long = pd.DataFrame({"run": pts["run"]})
    family = dict(zip(d.runs["run"], d.runs["family"])) if "family" in d.runs else {}
    if any(not is_missing(v) for v in family.values()):
        long["family"] = pts["run"].map(family)
    if "step" in pts and not blank(pts["step"]).all():
        long["step"] = pts["step"]
    long["metric"] = pts["metric"]
    long["value"] = pts["value"]
    is_lr = pts["lr"].to_numpy(bool) if "lr" in pts else np.zeros(len(pts), bool)
    for f, lr_word in (("unit", "lr"), ("split", "train")):
        given = as_text(pts[f]) if f in pts else None
        if is_lr.any() or (given is not None and not blank(given).all()):
            long[f] = given.where(~is_lr, lr_word) if given is not None else np.where(is_lr, lr_word, "")
    for col in SIZE_COLUMNS.values():
        if col in pts and not blank(pts[col]).all():
            long[col] = pts[col]
    cmap = {"run": "run", "metric": "metric", "value": "value", "lr": None, "stderr": None}
    for f, col in (("family", "family"), ("step", "step"), ("unit", "unit"), ("split", "split"),
                   ("N", "params"), ("D", "tokens"), ("C", "flops"), ("U", "unique_tokens")):
        cmap[f] = col if col in long else None
    where = _Where(d, pts, provenance)
    try:
        up = read_frame(long, filename=filename, column_map=cmap, format=d.format)
    except UploadError as e:
        if e.message.startswith("No size column") or "no size" in e.message:
            raise UploadError("No sizes and no steps: the runs log no parameter count (N), tokens (D), FLOPs (C) "
                              "or step, and none were given.", fix="Give each run's sizes in the run_info table "
                              "(run, params, tokens[, tokens_per_step]; command line: --run-info FILE) or "
                              "tokens_per_step (--tokens-per-step), or map a logged name to N or step (Column "
                              "mapping; command line: --column N=NAME).") from None
        row = where.row_of(e.row) if e.row else None
        raise UploadError(where.text(e.message), fix=e.fix, row=row,
                          column=where.label(e.row, e.column) if e.row and e.column else e.column) from None

    rep = up.report
    flops = dict(zip(up.runs["model"], up.runs["flops"]))
    for r, prov in provenance.items():
        if prov.get("C") == "unknown" and r in flops and not pd.isna(flops[r]):
            prov["C"] = "derived: 6ND"
    lines = size_lines(provenance)
    rejected = tuple((where.row_of(r), where.label(r, c), where.text(why)) for r, c, why in rep.rejected)
    rejected = tuple(sorted(rejected, key=lambda t: (t[1].rsplit("(", 1)[-1] if where.multi else "", t[0])))
    counts = _counts(rep, rejected)
    keep = [re.sub(r"^C = 6ND for ([\d,]+) rows", r"C = 6ND for \1 points", x).replace(" of column 'value'", "")
            for x in rep.defaults if not x.startswith(("one run per distinct", "N, D and C unknown for"))]
    report = dataclasses.replace(
        rep, encoding=d.encoding, delimiter=d.delimiter, layout=d.layout, rows_read=d.rows_read,
        mapping=d.mapping, ignored_columns=tuple(d.ignored), rejected=rejected, rejection_counts=counts,
        defaults=tuple(d.notes + lines + keep), warnings=tuple(d.warnings + list(rep.warnings)))
    config = dict(zip(d.runs["run"], d.runs["config"])) if "config" in d.runs else {}
    out_runs = up.runs.copy()
    out_runs["extra"] = [_extra(config.get(r), provenance[r], d.format) if r in provenance else None
                         for r in out_runs["model"]]
    return Upload(runs=out_runs, points=up.points, report=report)
