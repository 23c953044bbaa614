"""Batch runs on a real Dask LocalCluster (loopback): same answers as serial, a killed worker is survived."""
from __future__ import annotations

import os
import signal
import time

import numpy as np
import pandas as pd
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


# ------------------------------------------------------------------------------------------ the real batch commands
# backtest --all, scan and the chunked bootstrap on a Parquet store (what a cluster's workers read), against
# the same functions run serially: equal tables, and a worker killed mid-run costs nothing but time.
BATCH_FAMILIES = ["chinchilla-epoch/chinchilla", "laion-clip-mammut/mammut"]


@pytest.fixture(scope="module")
def small_parquet(data_dir, tmp_path_factory):
    from conftest import SMALL_SOURCES
    from datasets.build import build

    out = tmp_path_factory.mktemp("batch") / "store"
    build(data_dir, out, only=SMALL_SOURCES, format="parquet")
    return out


@pytest.fixture(scope="module")
def options(small_parquet):
    from analysis.cli import batch_commands as bc
    from analysis.cli.parser import build_parser

    args = build_parser().parse_args(["backtest", "--all", "--store", str(small_parquet), "--bootstrap", "10"])
    return bc._options(args)


@pytest.fixture(scope="module")
def serial_table(small_parquet, options):
    from analysis.cli import batch_commands as bc

    return bc.backtest_all(str(small_parquet), BATCH_FAMILIES, options)


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


def test_backtest_all_rows_are_the_single_backtests(serial_table, small_parquet, capsys):
    import json

    from analysis.backtest import applicable_laws, backtest
    from analysis.cli import batch_commands as bc
    from analysis.cli.run import main
    from datasets.store import Store

    assert list(serial_table["family"].unique()) == BATCH_FAMILIES
    assert (serial_table["error"] == "").all() and (serial_table["n_boot"] == 10).all()
    fam = "chinchilla-epoch/chinchilla"
    frame = Store(small_parquet).fit_frame(fam, "loss")
    chin = serial_table[serial_table["family"] == fam]
    assert chin["law"].tolist() == applicable_laws(frame)
    for _, row in chin.iterrows():     # each row is `backtest --family F --law L` with the same flags
        assert main(["backtest", "--store", str(small_parquet), "--family", fam, "--law", row["law"],
                     "--bootstrap", "10", "--json"]) == 0
        one = json.loads(capsys.readouterr().out)
        assert (row["are"], row["log_rmse"]) == (one["are"], one["log_rmse"])
        assert row["are_lo"] <= row["are_hi"] and row["n_heldout_runs"] == len(one["heldout"])
    # the resample scorer, given the point fit's predictions, gives the back-test's own ARE
    bt = backtest(frame, "chinchilla", bootstrap=0)
    point = bt.fit.predict(bt.predictions[bt.predictions["heldout"]])
    fit = type("F", (), {"boot": np.zeros((1, 1)), "predict_samples": lambda self, X: point[None, :]})()
    same = type("B", (), {"fit": fit, "predictions": bt.predictions})()
    assert bc.are_samples(same, 0.3)[0] == pytest.approx(bt.are, rel=1e-12)


def test_backtest_all_on_a_local_cluster_equals_serial(serial_table, small_parquet, options, client):
    from analysis.cli import batch_commands as bc

    seen = []
    table = bc.backtest_all(str(small_parquet), BATCH_FAMILIES, options, client=client,
                            progress=lambda d, t: seen.append(d))
    pd.testing.assert_frame_equal(table, serial_table)
    assert seen == [1, 2]


def test_backtest_all_survives_a_worker_killed_mid_run(serial_table, small_parquet, options, client):
    from analysis.cli import batch_commands as bc

    killed = []

    def kill_busy_worker(done, total):
        if killed:
            return
        busy = [w for w, keys in client.processing().items() if keys]
        if busy:
            pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    # chinchilla finishes first; the worker still back-testing mammut is killed, and mammut runs again
    table = bc.backtest_all(str(small_parquet), BATCH_FAMILIES, options, client=client, progress=kill_busy_worker)
    assert killed, "no worker was busy when the first family finished"
    pd.testing.assert_frame_equal(table, serial_table)


def test_scan_and_a_chunked_bootstrap_on_a_cluster_equal_serial(small_parquet, client):
    from analysis.cli import batch_commands as bc
    from analysis.trend import scan_trends
    from datasets.store import Store

    store = Store(small_parquet)
    families = list(store.families()["family"])
    serial = scan_trends(store.points(final_only=True), n_boot=50, include_all=False)
    both = [bc.scan_all(str(small_parquet), families, n_boot=50, client=client),
            bc.scan_all(str(small_parquet), families, n_boot=50)]
    for findings in both:
        pd.testing.assert_frame_equal(findings, serial, check_dtype=False)
    frame = store.fit_frame("chinchilla-epoch/chinchilla", "loss")
    kwargs = dict(bootstrap=120, seed=3, exclude_runs=tuple(store.flagged_runs("chinchilla-epoch/chinchilla")))
    here = bc.chunked_fit(frame, "chinchilla", kwargs, chunk=50)
    there = bc.chunked_fit(frame, "chinchilla", kwargs, chunk=50, client=client)
    assert here.n_boot == there.n_boot == 120 and np.array_equal(here.boot, there.boot)
    assert here.ci == there.ci and here.params == there.params and here.warnings == there.warnings
    assert here.params["alpha"] == pytest.approx(0.348, abs=0.01)          # Epoch's published fit


def test_cli_backtest_all_with_cluster_prints_the_serial_json_and_progress(small_parquet):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "analysis", "backtest", "--all", "--store", str(small_parquet), "--source",
           "chinchilla-epoch", "--bootstrap", "10", "--json"]
    serial = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    parallel = subprocess.run(cmd + ["--cluster", "local:2"], cwd=root, capture_output=True, text=True)
    assert serial.returncode == parallel.returncode == 0, parallel.stderr
    assert parallel.stdout == serial.stdout
    assert "a local Dask cluster of 2 worker process(es)" in parallel.stderr
    assert "backtest --all: 1/1 families done" in parallel.stderr


def test_cli_batch_errors_are_one_line(small_parquet, capsys):
    from analysis.cli.run import main

    base = ["backtest", "--all", "--store", str(small_parquet), "--bootstrap", "0"]
    assert main(base + ["--cluster", "tcp://127.0.0.1:9"]) == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in capsys.readouterr().err
    assert main(base + ["--cluster", "local:0"]) == 1
    assert "number of local workers" in capsys.readouterr().err
    assert main(base + ["--source", "no-such-source"]) == 1
    assert "no family to work on in source 'no-such-source'" in capsys.readouterr().err
    assert main(["backtest", "--store", str(small_parquet), "--family", "chinchilla-epoch/chinchilla",
                 "--cluster", "local:2"]) == 1
    assert "--cluster and --source go with --all" in capsys.readouterr().err
