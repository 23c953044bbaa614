"""Read a user's own training runs (CSV, Parquet or an in-memory table) into the store's long form.

:func:`read_upload` turns one file into rows for the store's ``runs`` and ``points`` tables
(:mod:`datasets.schema`) plus an :class:`UploadReport` saying what was read, what was assumed and
what was rejected, row by row. It is a pure function of its arguments: no global state is read or
changed (no warnings filters, no ``csv.field_size_limit``, no pandas options). :func:`read_frame` does
the same for a pandas DataFrame (e.g. an experiment tracker's export), :func:`read_header` returns a
file's column names for a mapping widget, and ``datasets.store.Store.from_upload`` makes the result a
store with the corpus's query API.

Stages (one module each): :mod:`~datasets.upload.errors` (the
error type and limits) -> :mod:`~datasets.upload.sniff` (bytes -> a :class:`~datasets.upload.table.Table`
of text cells: format, encoding, delimiter) -> :mod:`~datasets.upload.columns` (which column is which
field) -> :mod:`~datasets.upload.cells` (numbers, names, units) -> :mod:`~datasets.upload.points` and
:mod:`~datasets.upload.build` (runs, points, rejections, guards) -> :mod:`~datasets.upload.report`.

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
C            C, flops, compute, training_flops, train_flops                    (FLOPs),
step         step, steps, iteration, iter, global_step                         or step
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
differs from the run's first N is rejected; empty N cells are filled from the run. A row with no size
(N, D and C empty) is kept when it has a step: a training curve logged without sizes (a TensorBoard or
W&B run) reads with its sizes NULL, fits the step laws, and ``defaults`` names those runs; without a
step too, the row is rejected ("no size").

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

from pathlib import Path
from typing import Mapping

import pandas as pd

from datasets.upload.build import build_upload
from datasets.upload.columns import ALIASES, map_columns, require_columns, suggest_mapping
from datasets.upload.errors import (DEFAULT_FAMILY, DELIMITERS, MAX_BYTES, MAX_DETAIL, MAX_NAME, MAX_ROWS, MAX_RUNS,
                                    SOURCE, UploadError)
from datasets.upload.example import example_csv
from datasets.upload.report import Upload, UploadReport
from datasets.upload.sniff import header, parse, read_input
from datasets.upload.table import Table, table_from_frame

__all__ = ["read_upload", "read_frame", "read_header", "suggest_mapping", "example_csv", "Upload", "UploadReport",
           "UploadError", "ALIASES", "SOURCE", "DEFAULT_FAMILY", "DELIMITERS", "MAX_BYTES", "MAX_ROWS", "MAX_RUNS",
           "MAX_NAME", "MAX_DETAIL"]


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
    raw, filename = read_input(data, filename, max_bytes)
    table = parse(raw, filename, max_rows)
    return _read_table(table, column_map, filename=filename, max_runs=max_runs)


def read_frame(df: pd.DataFrame, *, filename: str | None = None, column_map: Mapping | None = None,
               max_rows: int = MAX_ROWS, max_runs: int = MAX_RUNS, format: str = "dataframe") -> Upload:
    """Read an in-memory table of training runs (e.g. a W&B, TensorBoard or MLflow export) like a file.

    The column, cell and build stages of :func:`read_upload` run unchanged on ``df``: the same aliases,
    ``column_map``, SI suffixes in text cells, checks, defaults and report, with rows numbered from 1 in
    ``df``'s order (the index is ignored: ``df.reset_index()`` first to keep it). Cells may be text
    (as read from a file) or numbers; a missing number (``NaN``, ``None``, ``pd.NA``) is a missing
    cell, exactly like an empty CSV cell, while an infinity is rejected as not finite.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per run x checkpoint (wide) or run x checkpoint x metric (long); see the module docstring.
    filename : str, optional
        Shown in the report and stored in ``runs.file`` (e.g. the export the table came from).
    column_map : mapping, optional
        As for :func:`read_upload`.
    max_rows, max_runs : int
        Limits (2,000,000 rows, 5,000 runs); exceeding one raises :class:`UploadError`.
    format : str
        Recorded as ``report.format`` (default ``"dataframe"``; a reader may say ``"wandb"``, ...).

    Returns
    -------
    Upload

    Raises
    ------
    UploadError
        No columns or rows, duplicated or missing columns, a limit exceeded, or every row rejected.
    """
    table = table_from_frame(df, fmt=format, max_rows=max_rows)
    return _read_table(table, column_map, filename=filename, max_runs=max_runs)


def read_header(raw: bytes, filename: str | None = None) -> list[str]:
    """The column names of an uploaded CSV or Parquet file, read the way :func:`read_upload` reads them
    (encoding, ``sep=`` line, delimiter), with surrounding spaces stripped: what the Upload page offers
    in its column-mapping widgets. Reads only the Parquet schema, or the first 256 KB of a CSV.

    Raises
    ------
    UploadError
        When the file cannot be read as a table (empty, binary, undecodable, a single column ...);
        :func:`read_upload` raises the same error for it.
    """
    return header(raw, filename)


def _read_table(table: Table, column_map: Mapping | None, *, filename: str | None, max_runs: int) -> Upload:
    """The column and build stages shared by every input: map the columns, check them, build."""
    mapping, map_warnings = map_columns(table.header, column_map)
    table.warnings.extend(map_warnings)
    require_columns(table.header, mapping)
    return build_upload(table, mapping, filename=filename, max_runs=max_runs)
