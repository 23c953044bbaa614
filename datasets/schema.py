"""The store's schema: one long-form layout for every published source and for uploads.

Tables
------
``runs``      one row per training run (a model trained once; a checkpoint series is one run).
``points``    one row per (run, checkpoint, metric): the long form every analysis reads.
``sources``   one row per source folder: title, paper, repository, commit, licence.
``files``     one row per source file read: path, sha256, rows read.
``exclusions`` what the build left out or changed, and why (one row per decision).
``meta``      key/value: ``schema_version``, ``input_digest`` (sha256 over every input file).

Units are never mixed silently: ``points.unit`` is the unit of ``points.value`` as published
(``nats``, ``bits``, ``perplexity``, ``accuracy``, ``error``, ``score``, ``lr`` ...). Conversions
to nats are explicit (see :func:`datasets.vocabulary.to_nats`).

Views (what the analyses read)
------------------------------
``final_points``   the last checkpoint (largest tokens, then step) of every (run, metric).
``family_metrics`` per (family, metric, split, unit): runs, points, sizes, whether curves exist.
``family_summary`` per family: source, runs, points, parameter range, token range.
``nd_table``       runs joined to points: family, run, N, D, C, metric, unit, value (every checkpoint).
"""
from __future__ import annotations

import json
import re

from datasets import vocabulary

SCHEMA_VERSION = 1

RUN_COLUMNS: dict[str, str] = {
    "run_id": "VARCHAR",        # unique: "<source>/<model>[/<variant>]"
    "source": "VARCHAR",        # source folder name, e.g. "colpret"
    "collection": "VARCHAR",    # sub-collection inside the source, e.g. "olmo", "datablations"
    "family": "VARCHAR",        # scaling family: same recipe, different sizes; "<source>/<name>"
    "model": "VARCHAR",         # human-readable model name
    "arch": "VARCHAR",          # dec / enc / enc-dec / moe / ssm / vit / ...
    "params": "DOUBLE",         # N, parameters (as published; embedding convention in `notes`)
    "data": "VARCHAR",          # training corpus name
    "tokens": "DOUBLE",         # total training tokens of the run (samples for vision)
    "flops": "DOUBLE",          # total training FLOPs (6ND when the source gives none; see notes)
    "unique_tokens": "DOUBLE",  # unique tokens available (data-constrained runs), else NULL
    "seed": "VARCHAR",
    "paper": "VARCHAR",         # arXiv id or citation
    "repo": "VARCHAR",          # upstream repository
    "commit": "VARCHAR",        # upstream commit
    "file": "VARCHAR",          # upstream file path (relative to the repository)
    "licence": "VARCHAR",
    "notes": "VARCHAR",         # units, conversions, caveats, in words
    "extra": "VARCHAR",         # JSON object of source-specific attributes (lr, batch, width, depth ...)
}

POINT_COLUMNS: dict[str, str] = {
    "run_id": "VARCHAR",
    "step": "DOUBLE",             # optimiser step, NULL when unknown
    "tokens": "DOUBLE",           # D at this checkpoint (tokens, or samples for vision)
    "flops": "DOUBLE",            # C at this checkpoint
    "metric": "VARCHAR",          # e.g. "val_loss", "train_loss", "c4_en/ce", "arc_easy/acc"
    "split": "VARCHAR",           # train | validation | downstream
    "unit": "VARCHAR",            # nats | bits | perplexity | accuracy | error | score | lr | ...
    "value": "DOUBLE",
    "stderr": "DOUBLE",           # standard error when published, else NULL
    "higher_is_better": "BOOLEAN",
}

SPLITS = ("train", "validation", "downstream")
UNITS = vocabulary.UNITS     # the unit vocabulary lives in datasets.vocabulary


SOURCE_COLUMNS: dict[str, str] = {
    "source": "VARCHAR", "title": "VARCHAR", "paper": "VARCHAR", "repo": "VARCHAR", "commit": "VARCHAR",
    "licence": "VARCHAR", "n_files": "INTEGER", "n_runs": "INTEGER", "n_points": "INTEGER"}
FILE_COLUMNS: dict[str, str] = {
    "source": "VARCHAR", "path": "VARCHAR", "sha256": "VARCHAR", "bytes": "BIGINT", "rows_read": "BIGINT"}
EXCLUSION_COLUMNS: dict[str, str] = {
    "source": "VARCHAR", "file": "VARCHAR", "what": "VARCHAR", "action": "VARCHAR", "reason": "VARCHAR",
    "n_rows": "BIGINT"}
META_COLUMNS: dict[str, str] = {"key": "VARCHAR", "value": "VARCHAR"}

#: every core table -> its columns and their DuckDB types (the one definition of the layout)
TABLE_COLUMNS: dict[str, dict[str, str]] = {
    "runs": RUN_COLUMNS, "points": POINT_COLUMNS, "sources": SOURCE_COLUMNS, "files": FILE_COLUMNS,
    "exclusions": EXCLUSION_COLUMNS, "meta": META_COLUMNS}


def _ddl(name: str, cols: dict[str, str]) -> str:
    body = ",\n  ".join(f'"{c}" {t}' for c, t in cols.items())
    return f"CREATE TABLE {name} (\n  {body}\n)"


DDL = [_ddl(name, cols) for name, cols in TABLE_COLUMNS.items()]


def views(points: str = "points", keys: tuple[str, ...] = ("run_id",)) -> list[str]:
    """``CREATE VIEW`` statements of the views (see the module docstring) over tables ``runs`` and ``points``.

    ``points`` names the relation the joins read points from and ``keys`` the columns points and runs are
    joined on: a Parquet store joins its partitioned points on (run_id, family), so that a filter on the
    family prunes partitions (:mod:`datasets.store.parquet`). Same columns and rows either way.
    """
    on = " AND ".join(f"p.{k} = r.{k}" for k in keys)
    on_pc = " AND ".join(f"pc.{k} = r.{k}" for k in keys)
    group = ", ".join(keys)
    return [
        """CREATE VIEW final_points AS
       SELECT * EXCLUDE (rn) FROM (
         SELECT p.*, row_number() OVER (PARTITION BY p.run_id, p.metric
                ORDER BY p.tokens DESC NULLS LAST, p.step DESC NULLS LAST) AS rn
         FROM points p) WHERE rn = 1""",
        f"""CREATE VIEW nd_table AS
       SELECT r.family, r.source, r.run_id, r.model, r.params AS N, p.tokens AS D, p.flops AS C,
              p.step, p.metric, p.split, p.unit, p.value, p.stderr, p.higher_is_better
       FROM {points} p JOIN runs r ON {on}""",
        f"""CREATE VIEW family_metrics AS
       SELECT r.family, p.metric, p.split, p.unit, any_value(p.higher_is_better) AS higher_is_better,
              count(DISTINCT r.run_id) AS n_runs, count(*) AS n_points,
              count(DISTINCT r.params) AS n_sizes, count(*) > count(DISTINCT r.run_id) AS has_curves
       FROM {points} p JOIN runs r ON {on}
       GROUP BY r.family, p.metric, p.split, p.unit""",
        f"""CREATE VIEW family_summary AS
       SELECT r.family, any_value(r.source) AS source, any_value(r.collection) AS collection,
              count(*) AS n_runs, count(DISTINCT r.params) AS n_sizes,
              min(r.params) AS min_params, max(r.params) AS max_params,
              min(r.tokens) AS min_tokens, max(r.tokens) AS max_tokens,
              coalesce(sum(pc.n), 0) AS n_points
       FROM runs r LEFT JOIN (SELECT {group}, count(*) AS n FROM {points} GROUP BY {group}) pc ON {on_pc}
       GROUP BY r.family""",
    ]


VIEWS = views()

def parse_extra(value) -> dict:
    """A run's ``extra`` (a JSON object's text, or already a dict) as a dict; ``{}`` when it is missing,
    malformed or not an object."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, str):
        return {}
    try:
        parsed = json.loads(value)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


CORE_TABLES = ("runs", "points", "sources", "files", "exclusions", "meta")
_IDENT = re.compile(r"^[a-z][a-z0-9_]*$")


def extra_table_name_ok(name: str) -> bool:
    """Whether ``name`` may name an extra table: lower-case letters, digits and ``_``, not a core table."""
    return bool(_IDENT.match(name)) and name not in CORE_TABLES


def row_problem(runs, points, source: str | None = None) -> str | None:
    """The first inconsistency of conformed ``runs`` and ``points`` frames (as text), or None.

    Checks: run ids unique and non-null, every run from ``source`` (when given, else from some source),
    every run has a family, every point a run, splits and units in the vocabulary (:data:`SPLITS`,
    :data:`UNITS`), every point a metric.
    """
    if runs["run_id"].isna().any() or runs["run_id"].duplicated().any():
        return "runs.run_id must be unique and non-null"
    wrong = (runs["source"] != source).fillna(True) if source is not None else runs["source"].isna()
    if wrong.any():
        return (f"run {runs.loc[wrong, 'run_id'].iloc[0]!r} has "
                + (f"source {runs.loc[wrong, 'source'].iloc[0]!r}" if source is not None else "no source"))
    if runs["family"].isna().any():
        return f"run {runs.loc[runs['family'].isna(), 'run_id'].iloc[0]!r} has no family"
    orphan = ~points["run_id"].isin(runs["run_id"])
    if orphan.any():
        return f"point with run_id {points.loc[orphan, 'run_id'].iloc[0]!r} has no run"
    for col, allowed in (("split", SPLITS), ("unit", UNITS)):
        bad = ~points[col].isin(allowed)
        if bad.any():
            return f"points.{col} {points.loc[bad, col].iloc[0]!r} is not one of {allowed}"
    if points["metric"].isna().any():
        return f"points.metric is null for run {points.loc[points['metric'].isna(), 'run_id'].iloc[0]!r}"
    return None
