"""Read a user's own training runs (CSV or Parquet) into the store's long form.

:func:`read_upload` turns one file into rows for the store's ``runs`` and ``points`` tables
(:mod:`datasets.schema`) plus an :class:`UploadReport` saying what was read, what was assumed and
what was rejected, row by row. It is a pure function of its arguments: no global state is read or
changed (no warnings filters, no ``csv.field_size_limit``, no pandas options).

Layouts
-------
*Long*: one row per run x checkpoint x metric, with a ``metric`` column naming the metric and one
value column. *Wide*: one row per run x checkpoint, no ``metric`` column, and one or more value
columns (``loss``, ``val_loss``, ``train_loss`` ...); each value column becomes a metric named after
the column (a lone ``value`` or ``loss`` column becomes metric ``loss``).

Columns (matched case-, space-, hyphen-, dot- and underscore-insensitively; see :data:`ALIASES`)
-----------------------------------------------------------------------------------------------
===========  ================================================================  ===========
field        accepted names                                                    required
===========  ================================================================  ===========
run          run, run_id, run_name, model, model_name, name                    no
family       family, group, scaled_set, method                                 no
N            N, params, num_params, n_params, parameters, model_size, ...      one of
D            D, tokens, num_tokens, tokens_seen, training_tokens, ...          N, D, C
C            C, flops, compute, training_flops, train_flops                    (FLOPs)
step         step, steps, iteration, iter, global_step                         no
value        value, loss, val_loss, eval_loss, train_loss, score, ...          yes
metric       metric, metric_name                                               long form
unit         unit, units                                                       no
split        split                                                             no
lr           lr, learning_rate                                                 no
U            U, unique_tokens                                                  no
stderr       stderr, std_err, standard_error, se, sem                          no
===========  ================================================================  ===========

``column_map={"value": "final ppl", "N": "Params (M)"}`` overrides the matching (a field mapped to
``None`` is ignored; ``"value"`` may map to a list of columns). :func:`suggest_mapping` proposes such
a map for the UI. When several columns match one field (other than ``value`` in the wide form), the
first in :data:`ALIASES` order is used and a warning names the others.

Runs: a run is one ``(family, run)`` pair. Without a run column a run is one distinct N per family
(run name ``N=125M``); without run and N columns, one run per family when a step column exists (a
single training curve), otherwise one run per row. N and U are properties of a run: a row whose N
differs from the run's first N is rejected; empty N cells are filled from the run.

Numbers: every cell is read as text and coerced to float64 here (pandas 3 would otherwise read an
integer above int64, e.g. a FLOP count of 1e24 written out in digits, as a string). Accepted:
decimals, scientific notation, and in N, D, C, U and step the SI suffixes K (1e3), M (1e6), B or G
(1e9), T (1e12), P (1e15), case-insensitive ("1.3B", "125m", "2T"). In a ``;``-separated file a
single decimal comma is read as a point ("3,21" -> 3.21). Empty cells and ``NA``, ``N/A``,
``null``, ``None`` are *missing*; ``nan`` and ``inf`` are *rejected* as not finite (leave the cell
empty instead). Sizes (N, D, C, U) must be > 0, step, lr and stderr >= 0, a loss in nats or bits
>= 0 and a perplexity >= 1. FLOPs default to ``C = 6 N D`` when the C cell or column is absent and N and D are known.

Units: the ``unit`` column (nats, bits, perplexity, log10_perplexity, accuracy, error, score, f1,
other; aliases such as ``ppl``, ``acc``, ``bpb``) wins; otherwise the unit is inferred from the
metric name or value column: loss-like names (loss, nll, ce, xent) -> ``nats``; ppl/perplexity ->
``perplexity``; bpb/bpc/bits -> ``bits``; acc -> ``accuracy``; err -> ``error``; f1; score;
anything else -> ``other`` with a warning. ``higher_is_better`` follows the unit (True for
accuracy, score, f1; False for nats, bits, perplexity, error; unknown for other). Split: the
``split`` column (train, validation, downstream; aliases val, valid, eval, dev, test, heldout ->
validation) or ``train`` when the metric name says train, else ``validation``. Nothing is converted
silently: a loss column with values above 20 and no unit, or N, D or C all below 100 (log10 sizes?)
produce warnings saying what to do.

Output: run ids ``upload/<run>`` (``upload/<family>/<run>`` when one run name occurs in several
families), families ``upload/<family>`` (``upload/my-runs`` by default), source ``upload``. A
learning-rate column becomes points of metric ``lr`` (unit ``lr``, split ``train``).

Decisions
---------
Encoding
    A byte-order mark decides (UTF-8, UTF-16, UTF-32). Without one: strict UTF-8, then Windows-1252
    (what Excel's plain "CSV" writes on Windows) with a warning. Latin-1 is not a fallback: it
    decodes any bytes, so binary junk would pass as text. NUL bytes without a BOM mean binary (or
    UTF-16 without a BOM): rejected with what to do. ZIP/Excel, gzip and OLE files are named as such.
Delimiter
    ``,``, ``;``, tab or ``|``, sniffed from the first 50 records (the one giving the most records
    with the header's field count, then the most fields); an Excel ``sep=;`` first line is honoured.
CSV injection
    Text cells that become stored names (run, family, metric, unit, split) and start with ``=``,
    ``+``, ``-``, ``@``, tab or CR, after stripping spaces, are *rejected*, not neutralised: the
    data stay exactly what the user wrote, and a spreadsheet opening an export can never run them.
    Names with other control characters or longer than 200 characters are rejected too. Anything
    else (HTML, ``../../etc/passwd``, SQL, emoji, right-to-left text) is kept as plain data;
    escaping is the renderer's job.
Row numbers
    ``row`` is the 1-based *data* row: row 1 is the first record below the header, so in a
    spreadsheet it is row 2. Messages also give the file line (row + header offset, counting a
    ``sep=`` line and blank lines above the header) when every record is one line; blank lines
    below the header keep their numbers and are skipped. Parquet rows are numbered from 1.
Rejections
    Structural problems raise :class:`UploadError`; row-level problems reject the row (or, for a
    value, lr or stderr cell, that point) and are listed as ``(row, column, reason)``, the first
    problem per row, at most :data:`MAX_DETAIL` one by one and all counted by reason. Duplicated
    ``(run, split, metric, checkpoint)`` points keep the first (checkpoint = step, or D when there
    is no step). If nothing survives, :class:`UploadError` quotes the first reasons.
"""
from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from datasets.schema import SPLITS, UNITS
from datasets.sources import make_points, make_runs

SOURCE = "upload"
DEFAULT_FAMILY = "my-runs"
MAX_BYTES = 50_000_000        # 50 MB
MAX_ROWS = 2_000_000
MAX_RUNS = 5_000
MAX_NAME = 200                # characters in a run / family / metric name
MAX_DETAIL = 1_000            # rejections listed one by one (all are counted)
DELIMITERS = (",", ";", "\t", "|")

ALIASES: dict[str, tuple[str, ...]] = {
    "run": ("run", "run_id", "run_name", "model", "model_name", "name"),
    "family": ("family", "group", "scaled_set", "method"),
    "N": ("N", "params", "num_params", "n_params", "parameters", "model_size", "num_parameters",
          "n_parameters"),
    "D": ("D", "tokens", "num_tokens", "tokens_seen", "training_tokens", "train_tokens", "n_tokens"),
    "C": ("C", "flops", "compute", "training_flops", "train_flops"),
    "step": ("step", "steps", "iteration", "iter", "global_step"),
    "value": ("value", "loss", "val_loss", "valid_loss", "validation_loss", "eval_loss", "test_loss",
              "train_loss", "training_loss", "score"),
    "metric": ("metric", "metric_name"),
    "unit": ("unit", "units"),
    "split": ("split",),
    "lr": ("lr", "learning_rate"),
    "U": ("U", "unique_tokens"),
    "stderr": ("stderr", "std_err", "standard_error", "se", "sem"),
}
"""Field -> accepted column names, canonical spelling first (matching ignores case, spaces, ``_-.``)."""

_SIZE_FIELDS = ("N", "D", "C")
_MISSING = frozenset({"", "na", "n/a", "null", "none"})
_NOT_FINITE = frozenset({"nan", "+nan", "-nan"})
_SI = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12, "p": 1e15}
_FORMULA_START = frozenset("=+-@\t\r")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_UNIT_ALIASES = {
    "nats": "nats", "nat": "nats", "ce": "nats", "crossentropy": "nats",
    "bits": "bits", "bit": "bits", "bpb": "bits", "bpc": "bits", "bitsperbyte": "bits",
    "perplexity": "perplexity", "ppl": "perplexity",
    "log10perplexity": "log10_perplexity", "log10ppl": "log10_perplexity",
    "accuracy": "accuracy", "acc": "accuracy", "error": "error", "err": "error",
    "score": "score", "f1": "f1", "lr": "lr", "other": "other",
}
_SPLIT_ALIASES = {
    "train": "train", "training": "train",
    "validation": "validation", "val": "validation", "valid": "validation", "eval": "validation",
    "evaluation": "validation", "dev": "validation", "test": "validation", "heldout": "validation",
    "downstream": "downstream", "benchmark": "downstream",
}
_HIGHER_IS_BETTER = {"accuracy": True, "score": True, "f1": True, "nats": False, "bits": False,
                     "perplexity": False, "log10_perplexity": False, "error": False}
_LOSS_UNITS = frozenset({"nats", "bits", "perplexity", "log10_perplexity"})


class UploadError(ValueError):
    """A file that cannot be read as runs: ``str(e)`` says what is wrong and what to do.

    Attributes
    ----------
    message : str
        What is wrong, naming the row and column when there is one.
    row : int or None
        1-based data row (row 1 is the first row below the header).
    column : str or None
        The column's name as written in the file.
    fix : str
        What to do about it.
    """

    def __init__(self, message: str, *, fix: str = "", row: int | None = None,
                 column: str | None = None):
        self.message, self.fix, self.row, self.column = message, fix, row, column
        super().__init__(f"{message} {fix}".strip())


@dataclass(frozen=True)
class UploadReport:
    """What :func:`read_upload` read, assumed and rejected.

    ``rejected`` lists ``(row, column, reason)`` for the first :data:`MAX_DETAIL` problems in row
    order; ``n_rejected`` and ``rejection_counts`` (``"column: reason" -> count``) cover all.
    """

    filename: str | None
    format: str                      # "csv" | "parquet"
    encoding: str | None
    delimiter: str | None
    layout: str                      # "long" | "wide"
    rows_read: int                   # data rows, blank lines excluded
    points_kept: int
    runs: int
    families: int
    mapping: dict[str, str | list[str]]
    ignored_columns: tuple[str, ...]
    defaults: tuple[str, ...]
    rejected: tuple[tuple[int, str, str], ...]
    n_rejected: int
    rejection_counts: dict[str, int]
    warnings: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"filename": self.filename, "format": self.format, "encoding": self.encoding,
                "delimiter": self.delimiter, "layout": self.layout, "rows_read": self.rows_read,
                "points_kept": self.points_kept, "runs": self.runs, "families": self.families,
                "mapping": dict(self.mapping), "ignored_columns": list(self.ignored_columns),
                "defaults": list(self.defaults), "rejected": [list(r) for r in self.rejected],
                "n_rejected": self.n_rejected, "rejection_counts": dict(self.rejection_counts),
                "warnings": list(self.warnings)}


@dataclass(frozen=True)
class Upload:
    """An uploaded file in the store's long form: ``runs`` (RUN_COLUMNS), ``points`` (POINT_COLUMNS)."""

    runs: pd.DataFrame
    points: pd.DataFrame
    report: UploadReport

    def to_dict(self) -> dict:
        return {"runs": self.runs.astype(object).where(self.runs.notna(), None).to_dict("records"),
                "points": self.points.astype(object).where(self.points.notna(), None).to_dict("records"),
                "report": self.report.to_dict()}


# ----------------------------------------------------------------------------- column names

def _norm(name: object) -> str:
    """Case/space/underscore-insensitive key of a column name."""
    return re.sub(r"[\s_\-.]+", "", unicodedata.normalize("NFKC", str(name)).casefold())


_ALIAS_KEYS = {f: tuple(_norm(a) for a in names) for f, names in ALIASES.items()}


def suggest_mapping(columns: Sequence[str]) -> dict[str, str]:
    """Propose ``{field: column}`` for the UI's column-mapping widget.

    Exact alias matches (ignoring case, spaces and ``_-.``) come first, in :data:`ALIASES` order;
    then a column whose name contains an alias of three or more characters ("Params (M)" -> N,
    "final val loss" -> value), longest alias first. Each column is proposed for one field at most.
    """
    cols = [str(c) for c in columns]
    keys = [_norm(c) for c in cols]
    scored = []
    for f, aliases in _ALIAS_KEYS.items():
        for i, k in enumerate(keys):
            if not k:
                continue
            if k in aliases:
                scored.append((10_000 - aliases.index(k), f, i))
            else:
                hits = [len(a) for a in aliases if len(a) >= 3 and a in k]
                if hits:
                    scored.append((max(hits), f, i))
    out: dict[str, str] = {}
    used: set[int] = set()
    for _, f, i in sorted(scored, key=lambda t: (-t[0], t[2])):
        if f not in out and i not in used:
            out[f] = cols[i]
            used.add(i)
    return {f: out[f] for f in ALIASES if f in out}


def _resolve_column(header: list[str], name: object, field_name: str) -> int:
    keys = [_norm(h) for h in header]
    if isinstance(name, str) and name in header:
        return header.index(name)
    if isinstance(name, str) and keys.count(_norm(name)) == 1 and _norm(name):
        return keys.index(_norm(name))
    raise UploadError(f"column_map maps {field_name!r} to {name!r}, which is not a column of the file.",
                      fix=f"Use one of: {_list(header)}.")


def _mapping(header: list[str], column_map: Mapping | None) -> tuple[dict[str, list[int]], list[str]]:
    """Field -> column positions (``value`` may have several), and warnings."""
    seen: dict[str, int] = {}
    for i, h in enumerate(header):
        k = _norm(h)
        if not k:
            continue
        if k in seen:
            j = seen[k]
            same = "are both named" if header[j] == h else "differ only in case, spaces or underscores:"
            raise UploadError(f"Duplicated header: columns {j + 1} and {i + 1} {same} "
                              f"{header[j]!r}" + ("" if header[j] == h else f" and {h!r}") + ".",
                              fix="Rename or delete one of them so each column has its own name.",
                              column=h)
        seen[k] = i
    warnings: list[str] = []
    out: dict[str, list[int]] = {}
    disabled: set[str] = set()
    used: set[int] = set()
    for key, name in (column_map or {}).items():
        f = next((g for g in ALIASES if g == key or _norm(g) == _norm(key)), None)
        if f is None:
            raise UploadError(f"column_map has an unknown field {key!r}.",
                              fix=f"Fields are: {_list(ALIASES)}.")
        if name is None:
            disabled.add(f)
            continue
        names = list(name) if f == "value" and isinstance(name, (list, tuple)) else [name]
        idx = [_resolve_column(header, n, f) for n in names]
        if not idx or set(idx) & used or len(set(idx)) < len(idx):
            raise UploadError(f"column_map uses a column twice or maps {f!r} to nothing.",
                              fix="Map each field to a different column.")
        out[f] = idx
        used.update(idx)
    keys = [_norm(h) for h in header]
    for f in ("run", "family", "N", "D", "C", "step", "metric", "value", "unit", "split", "lr", "U",
              "stderr"):
        if f in out or f in disabled:
            continue
        cand = sorted((_ALIAS_KEYS[f].index(k), i) for i, k in enumerate(keys)
                      if k in _ALIAS_KEYS[f] and i not in used)
        if not cand:
            continue
        idx = [i for _, i in cand]
        if f == "value" and "metric" not in out:
            take = sorted(idx)                       # wide form: every value-like column is a metric
        else:
            take = idx[:1]
            if len(idx) > 1:
                warnings.append(f"Columns {_list(header[i] for i in idx)} all look like {f!r}; used "
                                f"{header[idx[0]]!r}. Pass column_map={{'{f}': '<column>'}} to choose.")
        out[f] = take
        used.update(take)
    return out, warnings


# ----------------------------------------------------------------------------- reading bytes

@dataclass
class _Table:
    """A parsed file: every column as text (``""`` for missing), positional column labels."""

    header: list[str]
    frame: pd.DataFrame
    rownum: np.ndarray           # 1-based data row of each frame row
    fmt: str
    encoding: str | None = None
    delimiter: str | None = None
    line_offset: int | None = None   # file line = row + line_offset (None when records span lines)
    warnings: list[str] = field(default_factory=list)

    def where(self, row: int) -> str:
        if self.line_offset is None:
            return f"row {row}"
        return f"row {row} (file line {row + self.line_offset})"


def _list(items) -> str:
    items = [repr(str(i)) for i in items]
    return ", ".join(items[:12]) + (f" and {len(items) - 12} more" if len(items) > 12 else "")


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _read_input(data, filename: str | None, max_bytes: int) -> tuple[bytes | str, str | None]:
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
    elif isinstance(data, str):
        raw = data
    elif isinstance(data, Path):
        filename = filename or data.name
        try:
            size = data.stat().st_size
            if size > max_bytes:
                raise UploadError(f"The file is {_mb(size)}, above the {_mb(max_bytes)} limit.",
                                  fix="Upload fewer rows (e.g. fewer checkpoints per run) or raise max_bytes.")
            raw = data.read_bytes()
        except OSError as e:
            raise UploadError(f"Cannot read {str(data)!r}: {e.strerror or e}.",
                              fix="Check the path and the file's permissions.") from None
    elif hasattr(data, "read"):
        filename = filename or getattr(data, "name", None)
        raw = data.read(max_bytes + 1)
        if not isinstance(raw, (bytes, str)):
            raise TypeError("read_upload: file object must return bytes or str")
    else:
        raise TypeError(f"read_upload takes bytes, str, a Path or a binary file, not {type(data).__name__}")
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise UploadError(f"The file is {'over ' if hasattr(data, 'read') else ''}{_mb(size)}, "
                          f"above the {_mb(max_bytes)} limit.",
                          fix="Upload fewer rows (e.g. fewer checkpoints per run) or raise max_bytes.")
    return raw, filename


def _decode(raw: bytes) -> tuple[str, str, list[str]]:
    """Bytes -> text, the encoding used, and warnings (see the module's Decisions: Encoding)."""
    boms = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"), (b"\xef\xbb\xbf", "utf-8-sig"),
            (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
    for bom, enc in boms:
        if raw.startswith(bom):
            try:
                return raw.decode(enc), enc, []
            except UnicodeDecodeError as e:
                raise UploadError(f"The file starts with a {enc.upper()} byte-order mark but is not valid "
                                  f"{enc.upper()} (byte {e.start}).",
                                  fix="Save it again as 'CSV UTF-8'.") from None
    if b"\x00" in raw:
        head = raw[:4096]
        utf16 = head[1::2].count(0) > len(head) // 4 or head[0::2].count(0) > len(head) // 4
        what = ("looks like UTF-16 text without a byte-order mark" if utf16 else
                "contains NUL bytes, so it is a binary file, not a text CSV")
        raise UploadError(f"The file {what}.",
                          fix="Export your runs as 'CSV UTF-8' (or Parquet) and upload that.")
    try:
        return raw.decode("utf-8"), "utf-8", []
    except UnicodeDecodeError as e:
        first_bad = e.start
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError:
        raise UploadError(f"The file is not UTF-8 (invalid byte at offset {first_bad}) nor Windows-1252 text.",
                          fix="Save it as 'CSV UTF-8' and upload again.") from None
    return text, "cp1252", [f"The file is not UTF-8 (invalid byte at offset {first_bad}); it was read as "
                            "Windows-1252. If names look garbled, save it as 'CSV UTF-8'."]


def _count_lines(text: str) -> int:
    n = text.count("\n") + text.count("\r") - text.count("\r\n")
    return n + (1 if text and text[-1] not in "\r\n" else 0)


def _sniff(text: str) -> tuple[str, list[str], int]:
    """Choose the delimiter; return it, the header fields and the header's number of lines."""
    sample = text[:65_536]
    best = None
    for rank, d in enumerate(DELIMITERS):
        reader = csv.reader(io.StringIO(sample, newline=""), delimiter=d)
        records, header_lines = [], 0
        try:
            for rec in reader:
                records.append(rec)
                if len(records) == 1:
                    header_lines = reader.line_num
                if len(records) > 50:
                    break
        except csv.Error:
            continue
        if len(text) > len(sample) and len(records) > 2:
            records = records[:-1]               # the sample may cut the last record
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        body = [r for r in records[1:] if r]
        share = sum(len(r) == width for r in body) / len(body) if body else 1.0
        score = (share, width, -rank)
        if best is None or score > best[0]:
            best = (score, d, records, header_lines)
    if best is None:
        first = text.splitlines()[0] if text.splitlines() else ""
        raise UploadError(f"Found a single column (header {first[:80]!r}): the values must be separated "
                          "by commas, semicolons, tabs or '|'.",
                          fix="Export the file as CSV with one of these delimiters, one header row naming "
                              "the columns (e.g. run,N,D,step,loss).")
    _, d, records, header_lines = best
    width = len(records[0])
    for k, rec in enumerate(records[1:], start=1):
        if len(rec) > width:
            raise UploadError(f"Row {k} has {len(rec)} fields but the header has {width} "
                              f"(delimiter {d!r}).", row=k,
                              fix=f"Quote values that contain {d!r} (\"...\"), or add the missing header names.")
    return d, records[0], header_lines


_FIELDS_RE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_EOF_RE = re.compile(r"EOF inside string starting at row (\d+)")


def _parse_csv(text: str, encoding: str | None, max_rows: int) -> _Table:
    warnings: list[str] = []
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        raise UploadError("The file contains NUL characters, so it is not a text CSV.",
                          fix="Export your runs as 'CSV UTF-8' (or Parquet) and upload that.")
    head = text[:65_536]
    controls = len(_CONTROL_RE.findall(head.replace("\t", "").replace("\n", "").replace("\r", "")))
    if head and controls > 0.05 * len(head):
        raise UploadError("The file is mostly control characters, so it is not a text CSV.",
                          fix="Export your runs as 'CSV UTF-8' (or Parquet) and upload that.")
    stripped = text.lstrip(" \t\r\n")
    if not stripped:
        raise UploadError("The file is empty.", fix="Upload a CSV with a header row and at least one data row.")
    lead = _count_lines(text[:len(text) - len(stripped)])
    lead -= 1 if lead and text[len(text) - len(stripped) - 1] not in "\r\n" else 0
    text = text[len(text) - len(stripped):]
    forced = re.match(r"sep=(.)\r?\n|sep=(.)\r", text)
    if forced:
        d = forced.group(1) or forced.group(2)
        text = text[forced.end():]
        lead += 1
        if d not in DELIMITERS:
            raise UploadError(f"The file's 'sep=' line asks for the delimiter {d!r}.",
                              fix="Use commas, semicolons, tabs or '|'.")
    delim, header, header_lines = _sniff(text)
    if forced and delim != d:
        warnings.append(f"The file's 'sep={d}' line was overridden: its rows are separated by {delim!r}.")
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delim, header=0, dtype=str, na_filter=False,
                            skip_blank_lines=False, engine="c", quotechar='"', doublequote=True,
                            nrows=max_rows + 1)
    except pd.errors.EmptyDataError:
        raise UploadError("The file is empty.", fix="Upload a CSV with a header row and data rows.") from None
    except (pd.errors.ParserError, ValueError, OverflowError) as e:
        msg = str(e)
        m = _FIELDS_RE.search(msg)
        if m:
            row = int(m.group(2)) - 1           # pandas counts records, the header being record 1
            raise UploadError(f"Row {row} has {m.group(3)} fields but the header has {m.group(1)} "
                              f"(delimiter {delim!r}).", row=row,
                              fix=f"Quote values that contain {delim!r} (\"...\"), or fix that row.") from None
        m = _EOF_RE.search(msg)
        if m:
            row = int(m.group(1)) or None      # pandas' row 0 is the header
            raise UploadError(f"A quote opened in {f'row {row}' if row else 'the header'} is never closed.",
                              row=row, fix='Close the quote, or double quotes inside quoted values ("").') from None
        raise UploadError(f"The CSV cannot be parsed: {msg.splitlines()[0] if msg else type(e).__name__}.",
                          fix="Export the file again as a plain CSV.") from None
    if not isinstance(frame.index, pd.RangeIndex) or frame.shape[1] != len(header):
        raise UploadError(f"The rows have more fields than the header's {len(header)}.", row=1,
                          fix="Add the missing header names, or quote values that contain "
                              f"{delim!r}.")
    frame.columns = range(frame.shape[1])
    if len(frame) > max_rows:
        raise UploadError(f"The file has more than {max_rows:,} rows, the limit.",
                          fix="Keep fewer checkpoints per run, or raise max_rows.")
    if frame.empty:
        raise UploadError("The file has a header but no data rows.", fix="Add at least one row of data.")
    first = frame[0].str.strip() == ""
    blank = first.to_numpy() & np.logical_and.reduce([(frame[c] == "").to_numpy() for c in frame.columns[1:]]
                                                     or [np.ones(len(frame), bool)])
    exact = _count_lines(text) == header_lines + len(frame)
    rownum = np.flatnonzero(~blank) + 1
    if blank.all():
        raise UploadError("The file has a header but no data rows.", fix="Add at least one row of data.")
    frame = frame.loc[~blank].reset_index(drop=True)
    return _Table(header=header, frame=frame, rownum=rownum, fmt="csv", encoding=encoding, delimiter=delim,
                  line_offset=lead + header_lines if exact else None, warnings=warnings)


def _parse_parquet(raw: bytes, max_rows: int) -> _Table:
    import pyarrow.parquet as pq
    try:
        pf = pq.ParquetFile(io.BytesIO(raw))
        n = pf.metadata.num_rows
        if n > max_rows:
            raise UploadError(f"The Parquet file has {n:,} rows, above the limit of {max_rows:,}.",
                              fix="Keep fewer checkpoints per run, or raise max_rows.")
        table = pf.read()
    except UploadError:
        raise
    except Exception as e:  # pyarrow raises many types for corrupt input; all mean "unreadable"
        raise UploadError(f"The file is not a readable Parquet file ({type(e).__name__}: "
                          f"{str(e).splitlines()[0][:200] if str(e) else ''}).",
                          fix="Write it again with pandas.DataFrame.to_parquet or pyarrow, or upload a CSV.") from None
    header = [str(c) for c in table.column_names]
    if table.num_rows == 0:
        raise UploadError("The Parquet file has no rows.", fix="Upload a file with at least one row.")
    cols = {}
    for i, col in enumerate(table.columns):
        try:
            values = pc.cast(col, pa.string()).to_pandas()
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
            values = pd.Series(["" if v is None else str(v) for v in col.to_pylist()])
        cols[i] = pd.Series(values, dtype=str).fillna("")
    frame = pd.DataFrame(cols)
    return _Table(header=header, frame=frame, rownum=np.arange(1, len(frame) + 1), fmt="parquet")


def _parse(raw: bytes | str, filename: str | None, max_rows: int) -> _Table:
    suffix = Path(filename).suffix.lower() if filename else ""
    if isinstance(raw, str):
        try:
            raw.encode("utf-8")
        except UnicodeEncodeError:
            raise UploadError("The text contains invalid Unicode (unpaired surrogates).",
                              fix="Save the file as 'CSV UTF-8' and upload the bytes.") from None
        if not raw.strip():
            raise UploadError("The file is empty.", fix="Upload a CSV with a header row and data rows.")
        return _parse_csv(raw, None, max_rows)
    if not raw.strip():
        raise UploadError("The file is empty.", fix="Upload a CSV with a header row and data rows.")
    if raw.startswith(b"PAR1"):
        return _parse_parquet(raw, max_rows)
    if suffix in (".parquet", ".pq"):
        raise UploadError(f"{filename!r} is named like a Parquet file but does not start with 'PAR1'.",
                          fix="Upload the Parquet file itself, or a CSV.")
    for magic, what in ((b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook?)"),
                        (b"\x1f\x8b", "gzip-compressed"), (b"\xd0\xcf\x11\xe0", "an old Excel .xls workbook")):
        if raw.startswith(magic):
            raise UploadError(f"The file is {what}, not a CSV.",
                              fix="Export the sheet as 'CSV UTF-8' (or decompress it) and upload that.")
    text, encoding, warnings = _decode(raw)
    table = _parse_csv(text, encoding, max_rows)
    table.warnings[:0] = warnings
    return table


# ----------------------------------------------------------------------------- cells

def _to_float(t: pd.Series) -> np.ndarray:
    """Text -> float64 (NaN where not numeric): Arrow's parser when every cell parses, else pandas'."""
    try:
        return pc.cast(pa.array(t, type=pa.large_string(), from_pandas=True), pa.float64()).to_numpy(
            zero_copy_only=False).astype("float64", copy=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        codes, uniques = pd.factorize(t, use_na_sentinel=True)
        parsed = pd.to_numeric(pd.Series(uniques, dtype=object), errors="coerce")
        return np.append(parsed.to_numpy(dtype="float64", na_value=np.nan), np.nan)[codes]


def _numbers(s: pd.Series, *, si: bool, decimal_comma: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Text cells -> (float64 values, missing mask, status: 0 ok or missing, 1 not a number, 2 not finite).

    Values are NaN where missing or rejected. See the module docstring for what is accepted.
    """
    t = s.str.strip()
    low = t.str.lower()
    missing = low.isin(_MISSING).to_numpy()
    vals = _to_float(t.where(~missing))
    failed = np.isnan(vals) & ~missing
    if failed.any():
        sub = t[failed]
        if decimal_comma:
            sub = sub.where(~sub.str.fullmatch(r"[^.,]*,[^.,]*"), sub.str.replace(",", ".", regex=False))
        got = _to_float(sub)
        if si:
            suffix = sub.str[-1:].str.lower()
            base = _to_float(sub.str[:-1].str.rstrip())
            with np.errstate(over="ignore", invalid="ignore"):
                for letter, mult in _SI.items():
                    use = np.isnan(got) & (suffix == letter).to_numpy()
                    got[use] = base[use] * mult
        vals[failed] = got
    status = np.zeros(len(s), np.int8)
    status[np.isnan(vals) & ~missing] = 1
    status[np.isinf(vals) | (low.isin(_NOT_FINITE).to_numpy() & ~missing)] = 2
    vals[status > 0] = np.nan
    return vals, missing, status


def _names(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Text cells -> (cleaned names, None when empty; problem per cell, None when fine)."""
    codes, uniques = pd.factorize(s, use_na_sentinel=False)
    clean = np.empty(len(uniques), object)
    problem = np.empty(len(uniques), object)
    for k, u in enumerate(uniques):
        v = str(u).strip(" ")
        clean[k] = v or None
        if not v:
            continue
        if v[0] in _FORMULA_START:
            problem[k] = (f"starts with {v[0]!r}, which spreadsheets run as a formula (CSV injection); "
                          "rename it")
        elif (m := _CONTROL_RE.search(v)) is not None:
            problem[k] = f"contains the control character U+{ord(m.group()):04X}"
        elif len(v) > MAX_NAME:
            problem[k] = f"is {len(v)} characters long (at most {MAX_NAME})"
    return clean[codes], problem[codes]


def _quote(cell: object, limit: int = 60) -> str:
    text = str(cell)
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _unit_from_name(name: str) -> str | None:
    """Unit implied by a metric or column name, or None (see the module docstring)."""
    tokens = set(re.split(r"[^a-z0-9]+", name.casefold()))
    for unit, words in (("perplexity", {"ppl", "perplexity"}), ("bits", {"bpb", "bpc", "bits", "bpt"}),
                        ("accuracy", {"acc", "accuracy"}), ("f1", {"f1"}), ("error", {"err", "error"}),
                        ("nats", {"loss", "nll", "ce", "xent", "crossentropy", "logloss"}),
                        ("score", {"score"})):
        if tokens & words:
            return unit
    return None


def _metric_name(header: str, only: bool) -> str:
    snake = re.sub(r"[^0-9a-z]+", "_", unicodedata.normalize("NFKC", header).casefold()).strip("_")
    if only and snake in ("value", "loss", ""):
        return "loss"
    return snake or "value"


def _si(x: float) -> str:
    for div, suffix in ((1e15, "P"), (1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if x >= div:
            return f"{x / div:.6g}{suffix}"
    return f"{x:.6g}"


# ----------------------------------------------------------------------------- building

class _Rejections:
    """Row-level problems: first problem per row for row checks, per cell for value cells."""

    def __init__(self, table: _Table):
        self.table = table
        self.alive = np.ones(len(table.frame), bool)
        self.entries: list[tuple[np.ndarray, str, str, Callable[[int], str] | None]] = []

    def row(self, mask: np.ndarray, column: str, reason: str, detail: Callable[[int], str] | None = None) -> None:
        """Reject rows in ``mask`` that are still alive."""
        new = mask & self.alive
        if new.any():
            self.entries.append((np.flatnonzero(new), column, reason, detail))
            self.alive &= ~new

    def cell(self, idx: np.ndarray, column: str, reason: str, detail: Callable[[int], str] | None = None) -> None:
        """Reject single points (frame rows ``idx``) without rejecting their row."""
        if len(idx):
            self.entries.append((np.asarray(idx), column, reason, detail))

    def summary(self) -> tuple[tuple[tuple[int, str, str], ...], int, dict[str, int]]:
        counts = Counter()
        for idx, column, reason, _ in self.entries:
            counts[f"{column}: {reason}"] += len(idx)
        if not self.entries:
            return (), 0, {}
        rows = np.concatenate([self.table.rownum[e[0]] for e in self.entries])
        which = np.concatenate([np.full(len(e[0]), k) for k, e in enumerate(self.entries)])
        pos = np.concatenate([e[0] for e in self.entries])
        order = np.lexsort((which, rows))[:MAX_DETAIL]
        detail = []
        for o in order:
            _, column, reason, extra = self.entries[which[o]]
            detail.append((int(rows[o]), column, reason + (extra(int(pos[o])) if extra else "")))
        return tuple(detail), int(sum(counts.values())), dict(counts.most_common())


def _cell_quote(s: pd.Series) -> Callable[[int], str]:
    return lambda i: f": {_quote(s.iat[i])}"


def _check_numeric(rej: _Rejections, s: pd.Series, column: str, status: np.ndarray) -> None:
    rej.row(status == 1, column, "not a number", _cell_quote(s))
    rej.row(status == 2, column, "not finite (leave the cell empty if the value is missing)", _cell_quote(s))


def _run_constant(rej: _Rejections, codes: np.ndarray, vals: np.ndarray, column: str, label: str) -> np.ndarray:
    """Check that ``vals`` is constant within each run; fill missing cells from the run's first value."""
    present = ~np.isnan(vals) & rej.alive
    pos = np.flatnonzero(present)
    ref_pos = np.full(codes.max() + 1 if len(codes) else 0, -1)
    if len(pos):
        first = pd.Series(pos).groupby(codes[pos], sort=False).first()
        ref_pos[first.index.to_numpy()] = first.to_numpy()
    rp = ref_pos[codes]
    ref = np.where(rp >= 0, vals[np.maximum(rp, 0)], np.nan)
    differ = present & ~np.isclose(vals, ref, rtol=1e-9, atol=0.0)
    rownum = rej.table.rownum
    rej.row(differ, column, f"{label} differs within the run",
            lambda i: f": {vals[i]:.6g} here, {ref[i]:.6g} on row {rownum[rp[i]]}")
    return np.where(np.isnan(vals), ref, vals)


def read_upload(data: bytes | str | Path, *, filename: str | None = None, column_map: Mapping | None = None,
                max_bytes: int = MAX_BYTES, max_rows: int = MAX_ROWS, max_runs: int = MAX_RUNS) -> Upload:
    """Read a CSV or Parquet file of training runs into the store's long form.

    Parameters
    ----------
    data : bytes, str or Path
        The file's bytes, its text (a ``str`` is the CSV text itself, not a path), or a Path.
        A binary file object (``.read()``, e.g. Streamlit's UploadedFile) is accepted too.
    filename : str, optional
        Shown in the report and stored in ``runs.file``; ``.parquet`` must then be Parquet.
    column_map : mapping, optional
        ``{field: column}`` overriding the alias matching (see :data:`ALIASES`); ``None`` as a
        column ignores the field; ``"value"`` may map to a list of columns (wide form).
    max_bytes, max_rows, max_runs : int
        Limits (50 MB, 2,000,000 data rows, 5,000 runs); exceeding one raises :class:`UploadError`.

    Returns
    -------
    Upload
        ``runs`` and ``points`` conformed by :func:`datasets.sources.make_runs` / ``make_points``,
        and the :class:`UploadReport`. Sizes are N (parameters), D (tokens), C (FLOPs, 6ND when
        absent); values keep their unit (``points.unit``), never converted.

    Raises
    ------
    UploadError
        For structural problems (empty, binary, undecodable, one column, duplicated headers, no
        value or size column, limits) and when every row is rejected.
    """
    raw, filename = _read_input(data, filename, max_bytes)
    table = _parse(raw, filename, max_rows)
    mapping, map_warnings = _mapping(table.header, column_map)
    table.warnings.extend(map_warnings)
    _require(table.header, mapping)
    return _build(table, mapping, filename=filename, max_runs=max_runs)


def _require(header: list[str], mapping: dict[str, list[int]]) -> None:
    if "value" in mapping and any(f in mapping for f in _SIZE_FIELDS):
        return
    hint = suggest_mapping(header)
    vals, _, _ = _numbers(pd.Series(header, dtype=str), si=True, decimal_comma=False)
    prefix = "The first row looks like data, not a header. " if np.isfinite(vals).sum() >= 2 else ""
    if "value" not in mapping:
        guess = f" Perhaps column_map={{'value': {hint['value']!r}}}." if "value" in hint else ""
        raise UploadError(f"{prefix}No value column: expected one named like {_list(ALIASES['value'][:6])}; "
                          f"the columns are {_list(header)}.",
                          fix="Rename the column holding the loss or metric (e.g. to 'loss'), or pass "
                              f"column_map.{guess}")
    if not any(f in mapping for f in _SIZE_FIELDS):
        guess = [f"'{f}': {hint[f]!r}" for f in _SIZE_FIELDS if f in hint]
        raise UploadError(f"{prefix}No size column: need N (params), D (tokens) or C (FLOPs); the columns "
                          f"are {_list(header)}.",
                          fix="Add a column named N, params, tokens or flops, or pass column_map"
                              + (f" (perhaps {{{', '.join(guess)}}})." if guess else "."))


def _build(table: _Table, mapping: dict[str, list[int]], *, filename: str | None, max_runs: int) -> Upload:
    frame, header = table.frame, table.header
    n = len(frame)
    rej = _Rejections(table)
    defaults: list[str] = []
    warnings = list(table.warnings)
    col = {f: frame[idx[0]] for f, idx in mapping.items() if f != "value"}
    name_of = {f: header[idx[0]] for f, idx in mapping.items() if f != "value"}
    decimal_comma = table.delimiter == ";"

    # text fields: run, family, metric, unit, split
    names = {}
    for f in ("run", "family", "metric", "unit", "split"):
        if f in col:
            clean, problem = _names(col[f])
            rej.row(pd.notna(problem), name_of[f], "name rejected",
                    lambda i, p=problem, s=col[f]: f": {_quote(s.iat[i])} {p[i]}")
            names[f] = clean
    if "run" in names:
        rej.row(pd.isna(names["run"]), name_of["run"], "run is empty")
    if "metric" in names:
        rej.row(pd.isna(names["metric"]), name_of["metric"], "metric is empty")
    units = _normalise(rej, names, "unit", _UNIT_ALIASES, name_of, UNITS)
    splits = _normalise(rej, names, "split", _SPLIT_ALIASES, name_of, SPLITS)

    # numeric fields shared by the row
    nums = {}
    for f in ("N", "D", "C", "step", "U"):
        if f in col:
            vals, _, status = _numbers(col[f], si=True, decimal_comma=decimal_comma)
            _check_numeric(rej, col[f], name_of[f], status)
            if f == "step":
                rej.row(vals < 0, name_of[f], "must be >= 0", _cell_quote(col[f]))
            else:
                rej.row(vals <= 0, name_of[f], "must be > 0", _cell_quote(col[f]))
            nums[f] = vals
    nan = np.full(n, np.nan)
    N, D, C, step, U = (nums.get(f, nan) for f in ("N", "D", "C", "step", "U"))

    # runs
    family = names.get("family")
    fam_missing = np.zeros(n, bool) if family is None else pd.isna(family)
    if family is None:
        family = np.full(n, DEFAULT_FAMILY, object)
        defaults.append(f"family = {DEFAULT_FAMILY!r} (no family column)")
    elif (fam_missing & rej.alive).any():
        family = np.where(fam_missing, DEFAULT_FAMILY, family)
        defaults.append(f"family = {DEFAULT_FAMILY!r} for {int((fam_missing & rej.alive).sum()):,} rows "
                        "with an empty family cell")
    fam_codes, _ = pd.factorize(pd.Series(family, dtype=object))
    if "run" in names:
        run_codes, _ = pd.factorize(pd.Series(names["run"], dtype=object))
        key = fam_codes.astype(np.int64) * (run_codes.max() + 2) + run_codes
        run_name = names["run"]
        rule = "one run per distinct (family, run)"
    elif "N" in nums:
        rej.row(np.isnan(N), name_of["N"], "N is empty and there is no run column to tell runs apart")
        n_codes, n_uniques = pd.factorize(N)
        key = fam_codes.astype(np.int64) * (len(n_uniques) + 2) + n_codes
        labels = [f"N={_si(v)}" for v in n_uniques]
        clash = Counter(labels)
        labels = [lab if clash[lab] == 1 else f"N={v!r}" for v, lab in zip(n_uniques, labels)]
        run_name = np.array(labels + [""], object)[n_codes]
        rule = "run = one distinct N per family (no run column)"
    elif "step" in nums:
        key = fam_codes.astype(np.int64)
        run_name = family
        rule = "run = one training curve per family (no run or N column, but a step column)"
    else:
        key = np.arange(n, dtype=np.int64)
        run_name = np.char.add("row-", table.rownum.astype(str)).astype(object)
        rule = "run = one run per row (no run, N or step column): add a run column if rows share runs"
    if "run" not in names:
        defaults.append(rule)
    codes, _ = pd.factorize(key)
    n_runs = len(np.unique(codes[rej.alive]))
    if n_runs > max_runs:
        raise UploadError(f"The file has {n_runs:,} runs, above the limit of {max_runs:,} ({rule}).",
                          fix="Upload fewer runs at a time, check the run column, or raise max_runs.")
    if "N" in nums:
        N = _run_constant(rej, codes, N, name_of["N"], "N")
    if "U" in nums:
        U = _run_constant(rej, codes, U, name_of["U"], "U")
    rej.row(np.isnan(N) & np.isnan(D) & np.isnan(C), "/".join(name_of[f] for f in _SIZE_FIELDS if f in name_of),
            "no size: N, D and C are all empty")
    with np.errstate(over="ignore", invalid="ignore"):
        six_nd = 6.0 * N * D
    fill = np.isnan(C) & ~np.isnan(six_nd)
    rej.row(fill & ~np.isfinite(six_nd), name_of.get("C", "C"), "C = 6ND overflows (N or D far too large)")
    fill &= rej.alive
    C = np.where(fill, six_nd, C)
    if fill.any():
        defaults.append(f"C = 6ND for {int(fill.sum()):,} rows" + ("" if "C" in nums else " (no C column)"))

    # points: one block per value column, then the learning rate
    value_idx = mapping["value"]
    stderr = None
    if "stderr" in col:
        if len(value_idx) == 1:
            e_vals, _, e_status = _numbers(col["stderr"], si=False, decimal_comma=decimal_comma)
            stderr = (e_vals, e_status, name_of["stderr"])
        else:
            warnings.append(f"Column {name_of['stderr']!r} was ignored: with several value columns it is "
                            "unclear which it belongs to.")
    blocks = [_value_block(rej, table, j, names, units, splits, stderr, defaults, warnings,
                           only=len(value_idx) == 1, long="metric" in names) for j in value_idx]
    if "lr" in col:
        blocks.append(_lr_block(rej, col["lr"], name_of["lr"], decimal_comma))
    pts = {k: np.concatenate([blk[k] for blk in blocks]) for k in blocks[0]}
    pts = _dedup(rej, pts, codes, step, D)

    detail, n_rejected, counts = rej.summary()
    if not len(pts["pos"]):
        first = "; ".join(f"{table.where(r)}, column {c!r}: {why}" for r, c, why in detail[:3])
        raise UploadError(f"Every row was rejected ({n_rejected:,} problem{'s' if n_rejected != 1 else ''}). "
                          f"First: {first}.", row=detail[0][0] if detail else None,
                          column=detail[0][1] if detail else None,
                          fix="Fix these cells (see the upload format notes) and upload again.")
    pos = pts["pos"]
    kept, first_pos, pcode = np.unique(codes[pos], return_index=True, return_inverse=True)
    run_pos = pos[first_pos]
    fam = np.asarray(family, object)[run_pos]
    rname = np.asarray(run_name, object)[run_pos]
    families_of: dict[str, set] = {}
    for r, f in zip(rname, fam):
        families_of.setdefault(r, set()).add(f)
    ids = _unique([f"upload/{f}/{r}" if len(families_of[r]) > 1 else f"upload/{r}" for r, f in zip(rname, fam)])
    Dp, Cp = D[pos], C[pos]
    with np.errstate(invalid="ignore"):
        run_D = pd.Series(Dp).groupby(pcode).max().reindex(range(len(kept))).to_numpy()
        run_C = pd.Series(Cp).groupby(pcode).max().reindex(range(len(kept))).to_numpy()
    note = "uploaded by the user" + "".join(f"; {d}" for d in defaults if not d.startswith(("split", "unit")))
    runs = make_runs(pd.DataFrame({
        "run_id": ids, "source": SOURCE, "collection": None, "family": [f"upload/{f}" for f in fam],
        "model": rname, "arch": None, "params": N[run_pos], "data": None, "tokens": run_D, "flops": run_C,
        "unique_tokens": U[run_pos], "seed": None, "paper": None, "repo": None, "commit": None,
        "file": filename, "licence": None, "notes": note, "extra": None}))
    unit = pd.Categorical(pts["unit"])
    hib = np.array([_HIGHER_IS_BETTER.get(u) for u in unit.categories] + [None], object)[unit.codes]
    points = make_points(pd.DataFrame({
        "run_id": pd.Categorical.from_codes(pcode, categories=ids), "step": step[pos], "tokens": Dp,
        "flops": Cp, "metric": pd.Categorical(pts["metric"]), "split": pd.Categorical(pts["split"]),
        "unit": unit, "value": pts["value"], "stderr": pts["stderr"],
        "higher_is_better": pd.array(hib, dtype="boolean")}))
    _guards(points, N[run_pos], pts["defaulted_unit"], warnings)
    mapping_used = {f: ([header[i] for i in idx] if f == "value" and len(idx) > 1 else header[idx[0]])
                    for f, idx in mapping.items()}
    used = {i for idx in mapping.values() for i in idx}
    report = UploadReport(
        filename=filename, format=table.fmt, encoding=table.encoding, delimiter=table.delimiter,
        layout="long" if "metric" in names else "wide", rows_read=n, points_kept=len(points), runs=len(runs),
        families=int(runs["family"].nunique()), mapping=mapping_used,
        ignored_columns=tuple(h for i, h in enumerate(header) if i not in used),
        defaults=tuple(defaults), rejected=detail, n_rejected=n_rejected, rejection_counts=counts,
        warnings=tuple(warnings))
    return Upload(runs=runs, points=points, report=report)


def _normalise(rej: _Rejections, names: dict, f: str, aliases: dict[str, str], name_of: dict,
               allowed: Sequence[str]) -> np.ndarray | None:
    """Map unit/split cells to the schema's vocabulary; reject unknown words."""
    if f not in names:
        return None
    raw = names[f]
    codes, uniques = pd.factorize(pd.Series(raw, dtype=object), use_na_sentinel=True)
    mapped = np.array([aliases.get(_norm(u)) for u in uniques] + [None], object)
    out = mapped[codes]
    unknown = (codes >= 0) & pd.isna(out)
    rej.row(unknown, name_of[f], f"unknown {f}",
            lambda i: f": {_quote(raw[i])} (use one of {', '.join(allowed)})")
    return out


def _value_block(rej: _Rejections, table: _Table, j: int, names: dict, units: np.ndarray | None,
                 splits: np.ndarray | None, stderr: tuple | None, defaults: list[str], warnings: list[str], *,
                 only: bool, long: bool) -> dict[str, np.ndarray]:
    """Points of value column ``j`` (frame positions, metric, value, unit, split, stderr)."""
    s = table.frame[j]
    column = table.header[j]
    vals, missing, status = _numbers(s, si=False, decimal_comma=table.delimiter == ";")
    alive = rej.alive
    rej.cell(np.flatnonzero(alive & missing), column, "value is empty")
    rej.cell(np.flatnonzero(alive & (status == 1)), column, "not a number", _cell_quote(s))
    rej.cell(np.flatnonzero(alive & (status == 2)), column,
             "not finite (leave the cell empty if the value is missing)", _cell_quote(s))
    ok = alive & ~np.isnan(vals)
    n = len(s)
    if long:
        m_codes, m_names = pd.factorize(pd.Series(names["metric"], dtype=object), use_na_sentinel=True)
        m_names = list(m_names)
    else:
        m_codes, m_names = np.zeros(n, np.int64), [_metric_name(column, only)]
        if only and _norm(column) == "value":
            defaults.append(f"metric = 'loss' (column {column!r}, no metric column)")
    live = set(np.unique(m_codes[ok]).tolist())
    guessed = [_unit_from_name(str(m)) or _unit_from_name(column) for m in m_names]
    for k, (m, g) in enumerate(zip(m_names, guessed)):
        if g is None and k in live and (units is None or pd.isna(units[ok & (m_codes == k)]).any()):
            warnings.append(f"The unit of metric {m!r} is unknown, recorded as 'other': add a unit column "
                            "(nats, bits, perplexity, accuracy, ...).")
    metric = np.array(m_names + [None], object)[m_codes]
    unit_guess = np.array([g or "other" for g in guessed] + ["other"], object)[m_codes]
    defaulted_unit = np.ones(n, bool) if units is None else pd.isna(units)
    unit = unit_guess if units is None else np.where(defaulted_unit, unit_guess, units)
    trains = ["train" in re.split(r"[^a-z0-9]+", str(m).casefold()) for m in m_names]
    split_guess = np.array(["train" if t else "validation" for t in trains] + ["validation"], object)[m_codes]
    defaulted_split = np.ones(n, bool) if splits is None else pd.isna(splits)
    split = split_guess if splits is None else np.where(defaulted_split, split_guess, splits)
    for u_name in sorted(_LOSS_UNITS):
        floor = 1.0 if u_name == "perplexity" else 0.0
        bad = ok & (unit == u_name) & (vals < floor)
        rej.cell(np.flatnonzero(bad), column, "a perplexity cannot be below 1" if floor else
                 f"a loss in {u_name} cannot be negative", _cell_quote(s))
        ok &= ~bad
    err = np.full(n, np.nan)
    if stderr is not None:
        e_vals, e_status, e_column = stderr
        bad = ok & ((e_status > 0) | (e_vals < 0))
        rej.cell(np.flatnonzero(bad), e_column, "stderr must be a finite number >= 0 (or empty)",
                 _cell_quote(table.frame[table.header.index(e_column)]))
        ok &= ~bad
        err = e_vals
    pos = np.flatnonzero(ok)
    for mask, text in ((defaulted_split[pos] & (split[pos] == "validation"), "split = validation"),
                       (defaulted_split[pos] & (split[pos] == "train"), "split = train (metric name says train)"),
                       (defaulted_unit[pos] & (unit[pos] == "nats"), "unit = nats (loss-like name)")):
        if mask.any():
            defaults.append(f"{text} for {int(mask.sum()):,} points of column {column!r}")
    return {"pos": pos, "metric": metric[pos], "value": vals[pos], "unit": unit[pos], "split": split[pos],
            "stderr": err[pos], "quiet": np.zeros(len(pos), bool), "column": np.full(len(pos), column, object),
            "defaulted_unit": defaulted_unit[pos]}


def _lr_block(rej: _Rejections, s: pd.Series, column: str, decimal_comma: bool) -> dict[str, np.ndarray]:
    """Learning-rate points (metric ``lr``); repeated (run, step) copies are dropped without a report."""
    vals, _, status = _numbers(s, si=False, decimal_comma=decimal_comma)
    alive = rej.alive
    rej.cell(np.flatnonzero(alive & (status == 1)), column, "not a number", _cell_quote(s))
    rej.cell(np.flatnonzero(alive & (status == 2)), column, "not finite", _cell_quote(s))
    rej.cell(np.flatnonzero(alive & (vals < 0)), column, "a learning rate cannot be negative", _cell_quote(s))
    pos = np.flatnonzero(alive & (vals >= 0))
    k = len(pos)
    return {"pos": pos, "metric": np.full(k, "lr", object), "value": vals[pos], "unit": np.full(k, "lr", object),
            "split": np.full(k, "train", object), "stderr": np.full(k, np.nan), "quiet": np.ones(k, bool),
            "column": np.full(k, column, object), "defaulted_unit": np.zeros(k, bool)}


def _dedup(rej: _Rejections, pts: dict[str, np.ndarray], codes: np.ndarray, step: np.ndarray,
           D: np.ndarray) -> dict[str, np.ndarray]:
    """Keep the first point of each (run, split, metric, checkpoint); report later value duplicates.

    The checkpoint is the step, or D when the step is unknown.
    """
    pos = pts["pos"]
    st = step[pos]
    keys = pd.DataFrame({"run": codes[pos], "split": pd.factorize(pts["split"])[0],
                         "metric": pd.factorize(pts["metric"])[0], "step": st,
                         "D": np.where(np.isnan(st), D[pos], np.nan)})
    dup = keys.duplicated().to_numpy()
    if not dup.any():
        return pts
    first = pd.Series(pos).groupby([keys[c] for c in keys.columns], sort=False, dropna=False).transform("first")
    first = first.to_numpy()
    loud = dup & ~pts["quiet"]
    rownum = rej.table.rownum
    for column in pd.unique(pts["column"][loud]):
        sel = loud & (pts["column"] == column)
        ref = dict(zip(pos[sel].tolist(), first[sel].tolist()))
        rej.cell(pos[sel], column, "duplicated point (same run, split, metric and checkpoint), first kept",
                 lambda i, ref=ref: f": row {rownum[ref[i]]} has it")
    return {k: v[~dup] for k, v in pts.items()}


def _unique(ids: list[str]) -> list[str]:
    """Make run ids unique by appending ``~2``, ``~3`` ... to later repeats."""
    taken = set(ids)
    out, used = [], set()
    for i in ids:
        new, k = i, 1
        while new in used or (new != i and new in taken):
            k += 1
            new = f"{i}~{k}"
        used.add(new)
        out.append(new)
    return out


def _guards(points: pd.DataFrame, run_N: np.ndarray, defaulted_unit: np.ndarray, warnings: list[str]) -> None:
    """Warn about values that look like another unit than the one assumed."""
    high = points[defaulted_unit & (points["unit"] == "nats").to_numpy(dtype=bool, na_value=False)
                  & (points["value"].to_numpy() > 20)]
    for metric, grp in high.groupby("metric"):
        warnings.append(f"Metric {metric!r} has {len(grp):,} values above 20 (max {grp['value'].max():.4g}), "
                        "high for a loss in nats: if these are perplexities, add a unit column saying "
                        "'perplexity' (converted with ln when fitting); if bits, say 'bits'.")
    for label, vals in (("N", run_N), ("D", points["tokens"].to_numpy(dtype=float)),
                        ("C", points["flops"].to_numpy(dtype=float))):
        v = vals[~np.isnan(vals)]
        if len(v) and v.max() < 100:
            warnings.append(f"Every {label} is below 100 (max {v.max():.4g}): if these are log10 sizes, "
                            f"write 10**{label} (or SI suffixes such as '125M') instead.")


def example_csv() -> str:
    """A small, realistic upload in the long form (deterministic: the same text on every call).

    Five runs of family ``chinchilla-like`` with N = 20M, 50M, 125M, 350M and 760M parameters
    (written with SI suffixes), each trained on 20 tokens per parameter in batches of 2**19 tokens,
    with the validation loss in nats at 8 evenly spaced checkpoints drawn from Chinchilla's law
    L(N, D) = E + A / N**alpha + B / D**beta with the published E = 1.69, A = 406.4, B = 410.7,
    alpha = 0.34, beta = 0.28 (Hoffmann et al. 2022, Approach 3), times log-normal noise of
    0.5% (seed 0), and the cosine learning rate (3e-4 -> 3e-5) at each checkpoint. There is no
    FLOPs column, so :func:`read_upload` fills C = 6ND and says so.
    """
    E, A, B, alpha, beta = 1.69, 406.4, 410.7, 0.34, 0.28
    batch = 2 ** 19
    rng = np.random.default_rng(0)
    lines = ["run,family,N,D,step,metric,value,unit,lr"]
    for label, n_params in (("20M", 20e6), ("50M", 50e6), ("125M", 125e6), ("350M", 350e6), ("760M", 760e6)):
        total = int(np.ceil(20 * n_params / batch))
        for k in range(1, 9):
            step = total * k // 8
            tokens = step * batch
            loss = (E + A / n_params ** alpha + B / tokens ** beta) * np.exp(rng.normal(0.0, 0.005))
            lr = 3e-5 + 0.5 * (3e-4 - 3e-5) * (1 + np.cos(np.pi * step / total))
            lines.append(f"my-{label.lower()},chinchilla-like,{label},{tokens},{step},val_loss,{loss:.4f},nats,{lr:.3e}")
    return "\n".join(lines) + "\n"
