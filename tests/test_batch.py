"""Batch runs on a real Dask LocalCluster (loopback): same answers as serial, a killed worker is survived."""
from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from analysis.batch import BatchError, ClusterSpec, item_seed, parse_cluster, run_batch


def _task(item):
    """A seeded computation that takes a little while (so a worker can die in the middle of the batch)."""
    key, seed, pause = item
    time.sleep(pause)
    rng = np.random.default_rng(seed)
    return key, float(rng.standard_normal(1000).mean()), os.getpid()


def _items(n=12, pause=0.0):
    return [(f"family-{i}", item_seed(7, f"family-{i}"), pause) for i in range(n)]


def test_parse_cluster():
    assert parse_cluster(None) == ClusterSpec("serial")
    assert parse_cluster("local:3") == ClusterSpec("local", workers=3)
    assert parse_cluster("tcp://127.0.0.1:8786") == ClusterSpec("tcp", address="tcp://127.0.0.1:8786")
    assert parse_cluster("local").workers >= 1
    for bad in ("local:0", "local:999", "http://x", "tcp://host", "rm -rf /", "local:-1"):
        with pytest.raises(BatchError):
            parse_cluster(bad)


def test_item_seed_is_stable_and_distinct():
    assert item_seed(0, "a") == item_seed(0, "a")
    assert len({item_seed(0, f"k{i}") for i in range(200)}) == 200
    assert item_seed(0, "a") != item_seed(1, "a")


def test_local_cluster_equals_serial_in_item_order():
    items = _items()
    serial = run_batch(_task, items)
    seen = []
    parallel = run_batch(_task, items, cluster="local:2", progress=lambda d, t: seen.append((d, t)))
    assert [r[:2] for r in parallel] == [r[:2] for r in serial]
    assert seen[-1] == (len(items), len(items)) and len(seen) == len(items)
    assert len({r[2] for r in parallel}) == 2            # really spread over two worker processes
    assert os.getpid() not in {r[2] for r in parallel}


def test_worker_killed_mid_run_is_retried_without_wrong_or_missing_results():
    from distributed import Client, LocalCluster

    items = _items(n=16, pause=0.4)
    serial = [r[:2] for r in run_batch(_task, [(k, s, 0.0) for k, s, _ in items])]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        pids = sorted(client.run(os.getpid).values())
        killed = []

        def kill_once(done, total):
            if done == 3 and not killed:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

        got = run_batch(_task, items, client=client, progress=kill_once)
    assert killed, "the worker was never killed"
    assert [r[:2] for r in got] == serial
    assert all(r is not None for r in got)


def test_failing_task_names_the_item():
    with pytest.raises(BatchError, match="task 2 of 3"):
        run_batch(_fails_on_second, [0, 1, 2], cluster="local:1", retries=0)


def _fails_on_second(i):
    if i == 1:
        raise ValueError("bad family")
    return i


def test_unreachable_scheduler_is_a_clear_error():
    with pytest.raises(BatchError, match="cannot reach the Dask scheduler"):
        run_batch(_task, _items(2), cluster="tcp://127.0.0.1:9")
