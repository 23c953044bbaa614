"""Batch analyses in one process or on a Dask cluster.

A batch is a list of independent tasks ``fn(item)`` (a family to back-test, a metric to scan, a chunk of
bootstrap resamples). :func:`run_batch` runs them serially, on a local Dask cluster started for the call
(``"local"`` or ``"local:N"`` workers, loopback only), or on a running scheduler (``"tcp://HOST:PORT"``),
and returns the results **in the order of the items**, so a batch gives the same answer whatever ran it.

Determinism: a task must carry everything it needs, seeds included (derive one per item with
:func:`item_seed`, never from a shared random state), so a task retried on another worker after its
first worker died computes the same result. Dask reschedules the tasks of a worker that dies
(``retries`` more attempts per task); a task that keeps failing raises :class:`BatchError` naming its item.

Why Dask distributed: pure Python, pandas/numpy native, a real scheduler and workers over TCP, and the
same code runs on a laptop (``LocalCluster``) and on a lab's cluster (``dask scheduler`` /
``dask worker tcp://...``).
"""
from __future__ import annotations

import hashlib
import re
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from datasets.errors import WorkbenchError

Progress = Callable[[int, int], None]      # (done, total)
_LOCAL = re.compile(r"^local(?::(\d+))?$")
_TCP = re.compile(r"^tcp://[A-Za-z0-9.\-\[\]:]+:\d+$")
MAX_LOCAL_WORKERS = 64


class BatchError(WorkbenchError, RuntimeError):
    """A cluster that cannot be reached or started, or a task that failed on every attempt."""


@dataclass(frozen=True)
class ClusterSpec:
    """Where a batch runs: ``kind`` is "serial", "local" (``workers`` processes) or "tcp" (``address``)."""

    kind: str
    workers: int | None = None
    address: str | None = None

    def describe(self) -> str:
        if self.kind == "serial":
            return "this process"
        if self.kind == "local":
            return f"a local Dask cluster of {self.workers} worker process(es)"
        return f"the Dask scheduler at {self.address}"


def parse_cluster(spec: str | None) -> ClusterSpec:
    """``None``/"serial" -> this process; "local[:N]" -> N local workers (default: one per core);
    "tcp://HOST:PORT" -> a running scheduler. Anything else raises :class:`BatchError`."""
    if spec is None or spec in ("", "serial", "none"):
        return ClusterSpec("serial")
    text = str(spec).strip()
    m = _LOCAL.match(text)
    if m:
        import os
        n = int(m.group(1)) if m.group(1) else (os.cpu_count() or 1)
        if not 1 <= n <= MAX_LOCAL_WORKERS:
            raise BatchError(f"--cluster {text}: the number of local workers must be 1 to {MAX_LOCAL_WORKERS}")
        return ClusterSpec("local", workers=n)
    if _TCP.match(text):
        return ClusterSpec("tcp", address=text)
    raise BatchError(f"--cluster {text!r} is not a cluster address",
                     fix="use local, local:N (N worker processes) or tcp://HOST:PORT of a running Dask scheduler")


def item_seed(seed: int, key: Any) -> int:
    """A seed for one item, from the batch seed and the item's key (stable across runs and machines)."""
    digest = hashlib.sha256(f"{int(seed)}|{key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "little")


@contextmanager
def _client(spec: ClusterSpec) -> Iterator[Any]:
    try:
        from distributed import Client, LocalCluster
    except ImportError as e:    # pragma: no cover - distributed is in requirements.txt
        raise BatchError("Dask distributed is not installed", fix="pip install -r requirements.txt") from e
    import dask
    import logging

    with dask.config.set({"distributed.scheduler.allowed-failures": 3,
                          "distributed.worker.daemon": False,
                          "distributed.admin.tick.limit": "60s"}):
        if spec.kind == "local":
            cluster = LocalCluster(n_workers=spec.workers, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=None, silence_logs=logging.ERROR)
            try:
                with Client(cluster) as client:
                    yield client
            finally:
                cluster.close()
        else:
            try:
                client = Client(spec.address, timeout="3s")
            except OSError as e:
                raise BatchError(f"cannot reach the Dask scheduler at {spec.address}: {e}",
                                 fix="start it with `dask scheduler` and workers with `dask worker ADDRESS`") from e
            with client:
                yield client


def run_batch(fn: Callable[..., Any], items: Sequence[Any], *, cluster: str | ClusterSpec | None = None,
              retries: int = 2, progress: Progress | None = None,
              client: Any = None, shared: Any = None) -> list[Any]:
    """Apply ``fn`` to every item and return the results in item order.

    Parameters
    ----------
    fn : callable
        A module-level function (it is pickled to the workers) of one item.
    items : sequence
        The work, one task per item. Each item carries its own data and seed.
    cluster : str or ClusterSpec, optional
        ``None`` (this process), ``"local[:N]"`` or ``"tcp://HOST:PORT"``.
    retries : int
        Extra attempts per task when it fails or its worker dies.
    progress : callable, optional
        ``progress(done, total)`` after each finished task.
    client : distributed.Client, optional
        An existing client (then ``cluster`` is ignored); the caller owns its life.
    shared : object, optional
        One large object every task needs (e.g. a million-row frame): sent to every worker once
        (``scatter(broadcast=True)``) instead of once per task; the tasks are then ``fn(item, shared)``.
    """
    items = list(items)
    total = len(items)
    spec = cluster if isinstance(cluster, ClusterSpec) else parse_cluster(cluster)
    if client is None and spec.kind == "serial":
        out = []
        for i, item in enumerate(items):
            out.append(fn(item) if shared is None else fn(item, shared))
            if progress:
                progress(i + 1, total)
        return out
    if client is not None:
        return _gather(client, fn, items, retries, progress, shared)
    with _client(spec) as c:
        return _gather(c, fn, items, retries, progress, shared)


def _gather(client, fn, items, retries, progress, shared=None) -> list[Any]:
    from distributed import as_completed

    extra = () if shared is None else (client.scatter(shared, broadcast=True, hash=False),)
    tag = uuid.uuid4().hex[:12]      # keys unique to this batch (id() of a freed list can be reused)
    futures = [client.submit(fn, item, *extra, retries=retries, pure=False, key=f"batch-{tag}-{i}")
               for i, item in enumerate(items)]
    index = {f.key: i for i, f in enumerate(futures)}
    results: list[Any] = [None] * len(items)
    done = 0
    try:
        for fut in as_completed(futures):
            i = index[fut.key]
            try:
                results[i] = fut.result()
            except Exception as e:  # noqa: BLE001 - report which item failed, then stop the batch
                raise BatchError(f"task {i + 1} of {len(items)} failed on every attempt: "
                                 f"{type(e).__name__}: {e}") from e
            done += 1
            if progress:
                progress(done, len(items))
    finally:
        for f in [*futures, *extra]:
            f.release()
    return results
