"""The one data interface: the app, the CLI and the tests read runs and points only through :class:`Store`.

A store is the DuckDB database of :mod:`datasets.schema` (tables ``runs``, ``points``, ``sources``, ``files``,
``exclusions``, ``meta`` and the views ``final_points``, ``nd_table``, ``family_metrics``,
``family_summary``), either a file built by :mod:`datasets.build` -- ``Store(path)`` --, a Hive-partitioned
Parquet dataset built with ``--format parquet`` (a directory or an object-storage URL; appendable
source by source and run by run) -- ``Store(directory)`` --, or tables held in memory --
``Store.from_tables(runs, points)``, e.g. a user's upload -- with the same query API.

Modules
-------
:mod:`~datasets.store.errors`      :class:`StoreError` and :func:`build_command`.
:mod:`~datasets.store.connection`  one verified, read-only connection per store file and process.
:mod:`~datasets.store.locate`      :func:`locate_store`, :func:`ensure_store` (build on first start).
:mod:`~datasets.store.query`       :class:`Store`: the queries (parameterised, a cursor per query).
:mod:`~datasets.store.memory`      the in-memory store behind :meth:`Store.from_tables`.
:mod:`~datasets.store.fit_frame`   :func:`to_fit_frame`: runs and points -> the canonical fit frame.
:mod:`~datasets.store.write`       tables -> a DuckDB database (the build's writer, and the in-memory store's).
:mod:`~datasets.store.parquet`     a Parquet store: layout, views over ``read_parquet``, one connection per store.
:mod:`~datasets.store.parquet_write` tables -> a Parquet store (build), and :func:`append_tables`.

Units: ``points.unit`` is the unit of ``points.value`` as published. :func:`datasets.vocabulary.to_nats`
converts losses to nats explicitly (bits x ln 2, perplexity -> ln, log10 perplexity x ln 10);
:func:`to_fit_frame` records what it converted in ``DataFrame.attrs``.
"""
from __future__ import annotations

from datasets.store.errors import DEFAULT_STORE, PROJECT_ROOT, StoreError, build_command
from datasets.store.fit_frame import to_fit_frame
from datasets.store.locate import Progress, ensure_store, locate_store
from datasets.store.parquet import is_parquet_store, is_url
from datasets.store.parquet_write import AppendReport, append_tables, write_parquet_store
from datasets.store.query import OUTLIER_FLAG, Store
from datasets.vocabulary import LOSS_UNITS, to_nats

__all__ = ["Store", "StoreError", "to_fit_frame", "locate_store", "ensure_store", "build_command", "OUTLIER_FLAG",
           "DEFAULT_STORE", "PROJECT_ROOT", "Progress", "LOSS_UNITS", "to_nats", "is_parquet_store", "is_url",
           "append_tables", "write_parquet_store", "AppendReport"]
