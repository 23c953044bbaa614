"""The store as a Hive-partitioned Parquet dataset: same answers as the DuckDB file, partitions that any
DuckDB reads, appends that add files without touching the others, and clear errors on a damaged store.

(The query API on both formats is also covered by tests/test_store.py, test_store_from_tables.py,
test_build.py, test_cli.py and test_parity.py, which conftest runs once per format.)
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from datasets import build as builder
from datasets.schema import SCHEMA_VERSION
from datasets.sources import make_points, make_runs
from datasets.store import Store, StoreError, append_tables, is_parquet_store, write_parquet_store
from datasets.store import parquet

PROJECT_ROOT = Path(__file__).resolve().parents[1]
HOSTILE = "odd/fam %2F='; DROP TABLE runs; --/é"


def _files(root: Path) -> dict[str, tuple]:
    """Every data file of a store with its identity (inode, size, mtime): what an append must not touch."""
    return {str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*.parquet") if p.name != parquet.META_FILE}


def _frames(store: Store) -> dict[str, pd.DataFrame]:
    """Every query of the API on every family (the comparison between two stores)."""
    out = {"summary": pd.DataFrame([store.summary()]), "meta": pd.DataFrame([store.meta()]),
           "sources": store.sources(), "families": store.families(), "exclusions": store.exclusions(),
           "runs": store.runs(), "points": store.points(), "final": store.points(final_only=True)}
    for name in store.extra_tables():
        out[f"extra {name}"] = store.extra_table(name)
    for fam in store.families()["family"]:
        metric = store.default_metric(fam)
        out[f"metrics {fam}"] = store.metrics(fam)
        out[f"fit {fam}"] = store.fit_frame(fam, metric)
        out[f"flagged {fam}"] = pd.DataFrame({"run": store.flagged_runs(fam)}, dtype=object)
    for view in ("final_points", "nd_table", "family_metrics", "family_summary", "files"):
        out[view] = store._query(f"SELECT * FROM store.{view} ORDER BY ALL")
    return out


def _assert_same(a: Store, b: Store, skip=("meta",)) -> None:
    fa, fb = _frames(a), _frames(b)
    assert sorted(fa) == sorted(fb)
    for key in fa:
        if key not in skip:
            pd.testing.assert_frame_equal(fa[key], fb[key], obj=key)


# ------------------------------------------------------------------------------------ a small real store
@pytest.fixture(scope="module")
def small_parquet(data_dir, small_store_path, tmp_path_factory) -> Path:
    from conftest import SMALL_SOURCES
    out = tmp_path_factory.mktemp("pq") / "small"
    builder.build(data_dir, out, only=SMALL_SOURCES, format="parquet")
    return out


def test_parquet_store_answers_every_query_as_the_duckdb_file(small_parquet, small_store_path):
    a, b = Store(small_store_path), Store(small_parquet)
    assert b.parquet and not a.parquet and is_parquet_store(small_parquet)
    _assert_same(a, b, skip=())          # meta too: the same schema version and digests


def test_layout_is_hive_partitioned_and_readable_by_plain_duckdb(small_parquet):
    runs = sorted(p.relative_to(small_parquet).parts[:2] for p in (small_parquet / "runs").rglob("*.parquet"))
    assert runs == [("runs", "source=chinchilla-epoch"), ("runs", "source=laion-clip-mammut")]
    fams = sorted(p.parent.name for p in (small_parquet / "points").rglob("*.parquet"))
    assert fams == ["family=chinchilla-epoch%2Fchinchilla", "family=laion-clip-mammut%2Fclip",
                    "family=laion-clip-mammut%2Fmammut"]
    con = duckdb.connect()               # no workbench code: any DuckDB reads the dataset
    n = con.execute("SELECT count(*) FROM read_parquet(?, hive_partitioning = true) WHERE family = ?",
                    [str(small_parquet / "points/*/*/*.parquet"), "chinchilla-epoch/chinchilla"]).fetchone()[0]
    assert n == Store(small_parquet).summary()["n_points"] - Store(small_parquet).points(
        family=["laion-clip-mammut/clip", "laion-clip-mammut/mammut"]).shape[0]
    meta = dict(con.execute("SELECT key, value FROM read_parquet(?)", [str(small_parquet / "meta.parquet")]).fetchall())
    assert meta["schema_version"] == str(SCHEMA_VERSION)


def test_a_family_query_reads_only_that_familys_files(small_parquet, tmp_path):
    import shutil
    root = tmp_path / "copy"
    shutil.copytree(small_parquet, root)
    store = Store(root)
    clip = next((root / "points").rglob("family=laion-clip-mammut%2Fclip/*.parquet"))
    clip.write_bytes(clip.read_bytes()[:100])            # damage one family's points after the store opened
    frame = store.fit_frame("chinchilla-epoch/chinchilla", "loss")
    assert len(frame) == 245                            # other families never open the damaged file
    with pytest.raises(StoreError) as e:
        store.points(family="laion-clip-mammut/clip")
    assert e.value.kind == "corrupt" and "--format parquet" in e.value.fix
    parquet._CONNECTIONS.clear()
    with pytest.raises(StoreError, match="damaged") as e:   # and a fresh open checks every footer
        Store(root)
    assert e.value.kind == "corrupt"


# ------------------------------------------------------------------------------------ appends
def test_appending_a_source_adds_partitions_and_equals_a_full_build(data_dir, small_parquet, tmp_path):
    out = tmp_path / "grown"
    first = builder.build(data_dir, out, only=["chinchilla-epoch"], format="parquet")
    before = _files(out)
    key = Store(out).key
    r = subprocess.run([sys.executable, "-m", "datasets.build", "--source", str(data_dir), "--append", "--only",
                        "laion-clip-mammut", "--out", str(out)], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    after = _files(out)
    assert {k: after[k] for k in before} == before, "an append rewrote existing files"
    assert all(k.split("/")[1] == "source=laion-clip-mammut" for k in set(after) - set(before))
    grown = Store(out)
    assert grown.key != key
    _assert_same(Store(small_parquet), grown)
    meta = grown.meta()
    assert json.loads(meta["sources"]) == ["chinchilla-epoch", "laion-clip-mammut"]
    assert meta["schema_version"] == str(SCHEMA_VERSION) and meta["input_digest"] != first.input_digest
    again = subprocess.run([sys.executable, "-m", "datasets.build", "--source", str(data_dir), "--append", "--only",
                            "chinchilla-epoch", "--out", str(out)], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert again.returncode == 2 and again.stderr.count("\n") == 1
    assert again.stderr.startswith("error: source chinchilla-epoch is already in") and _files(out) == after


def _runs_csv(path: Path, prefix: str, n: int = 4) -> Path:
    rows = [dict(run=f"{prefix}-{i}", params=1e7 * 2 ** i, tokens=d, loss=2.0 + 10 / (i + 1) + 1e9 / d)
            for i in range(n) for d in (1e8, 2e8, 4e8)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_appending_a_users_runs_job_after_job(small_parquet, tmp_path):
    import shutil
    root = tmp_path / "lab"
    shutil.copytree(small_parquet, root)
    base = Store(root).summary()
    before = _files(root)
    for job in ("job1", "job2"):
        r = subprocess.run([sys.executable, "-m", "datasets.build", "--out", str(root), "--append-runs",
                            str(_runs_csv(tmp_path / f"{job}.csv", job)), "--runs-source", "my-lab"],
                           cwd=PROJECT_ROOT, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert "appended 4 runs, 12 points of source my-lab" in r.stdout
    after = _files(root)
    assert {k: after[k] for k in before} == before
    store = Store(root)
    assert store.summary() == dict(n_sources=base["n_sources"] + 1, n_families=base["n_families"] + 1,
                                   n_runs=base["n_runs"] + 8, n_points=base["n_points"] + 24)
    src = store.sources().set_index("source").loc["my-lab"]
    assert (src["n_runs"], src["n_points"], src["n_files"]) == (8, 24, 2)        # two appends, summed
    frame = store.fit_frame("my-lab/my-runs", "loss")
    assert sorted(frame["run"].unique())[:2] == ["my-lab/job1-0", "my-lab/job1-1"] and len(frame) == 24
    files = store._query("SELECT * FROM store.files WHERE source = 'my-lab' ORDER BY path")
    assert files["path"].tolist() == ["job1.csv", "job2.csv"] and files["sha256"].str.len().tolist() == [64, 64]
    # the same file again: its run ids are taken; refused in one line, the store unchanged
    again = subprocess.run([sys.executable, "-m", "datasets.build", "--out", str(root), "--append-runs",
                            str(tmp_path / "job1.csv"), "--runs-source", "my-lab"],
                           cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert again.returncode == 2 and again.stderr.startswith("error: run 'my-lab/job1-0' is already in the store")
    assert again.stderr.count("\n") == 1 and _files(root) == after


def _toy(family: str = HOSTILE, source: str = "odd") -> tuple[pd.DataFrame, pd.DataFrame]:
    runs = make_runs(pd.DataFrame([dict(run_id=f"{source}/r{i}", source=source, family=family, model=f"m{i}",
                                        params=1e6 * (i + 1), tokens=1e9) for i in range(3)]))
    points = make_points(pd.DataFrame([dict(run_id=f"{source}/r{i}", step=s, tokens=1e8 * s, metric="loss",
                                            split="validation", unit="nats", value=3.0 - 0.1 * s - 0.2 * i,
                                            higher_is_better=False) for i in range(3) for s in (1, 2, 3)]))
    return runs, points


def test_append_function_round_trips_hostile_names_and_refuses_conflicts(small_parquet, tmp_path):
    import shutil
    root = tmp_path / "odd"
    shutil.copytree(small_parquet, root)
    runs, points = _toy()
    rep = append_tables(root, runs, points, name="odd source")
    assert (rep.n_runs, rep.n_points, rep.sources) == (3, 9, ("odd",))
    store = Store(root)
    memory = Store.from_tables(runs, points)
    pd.testing.assert_frame_equal(store.fit_frame(HOSTILE, "loss"), memory.fit_frame(HOSTILE, "loss"))
    pd.testing.assert_frame_equal(store.points(family=HOSTILE), memory.points(family=HOSTILE))
    assert store.sources().set_index("source").at["odd", "title"] == "odd source"
    with pytest.raises(StoreError, match="'odd/r0' is already in the store") as e:
        append_tables(root, runs, points)
    assert e.value.kind == "conflict"
    bad = points.assign(run_id="odd/nobody")
    with pytest.raises(ValueError, match="has no run"):
        append_tables(root, *_toy(source="odd2")[:1], bad)
    assert Store(root).summary() == store.summary()


def test_refusals_say_what_to_do(tmp_path, data_dir):
    with pytest.raises(StoreError, match="no Parquet store") as e:
        append_tables(tmp_path / "nothing", *_toy())
    assert "--format parquet" in e.value.fix
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    runs, points = _toy()
    tables = Store.from_tables(runs, points)
    with pytest.raises(StoreError, match="not a Parquet store"):
        write_parquet_store(mine, {}, {})
    assert (mine / "notes.txt").read_text() == "keep me"
    with pytest.raises(builder.BuildError, match="--append adds partitions to a Parquet store"):
        builder.build(data_dir, tmp_path / "x.duckdb", only=["chinchilla-epoch"], append=True)
    with pytest.raises(builder.BuildError, match="no Parquet store at"):
        builder.build(data_dir, tmp_path / "none", only=["chinchilla-epoch"], format="parquet", append=True)
    with pytest.raises(StoreError, match="cannot list files") as e:
        Store("https://example.org/store")
    assert "s3://" in e.value.fix
    assert parquet.root_of("s3://bucket/scaling/") == "s3://bucket/scaling" and parquet.is_url("gs://b/x")
    assert not is_parquet_store(tmp_path / "store.duckdb") and is_parquet_store(str(tmp_path / "new") + "/")
    tables.close()


def test_missing_meta_and_old_schema(small_parquet, tmp_path):
    import shutil
    root = tmp_path / "old"
    shutil.copytree(small_parquet, root)
    con = duckdb.connect()
    con.execute(f"COPY (SELECT 'schema_version' AS key, '0' AS value) TO '{root / 'meta.parquet'}' (FORMAT parquet)")
    with pytest.raises(StoreError, match="schema version 0") as e:
        Store(root)
    assert e.value.kind == "old_schema" and "--format parquet" in e.value.fix
    os.remove(root / "meta.parquet")
    with pytest.raises(StoreError) as e:
        Store(root)
    assert e.value.kind == "missing"


def test_ensure_store_builds_a_parquet_store_where_scaling_store_says(monkeypatch, tmp_path, data_dir):
    from datasets.store import ensure_store, locate_store

    real = builder.build
    monkeypatch.setattr(builder, "build", lambda data, out, **kw: real(data, out, only=["chinchilla-epoch"], **kw))
    monkeypatch.setenv("SCALING_STORE", str(tmp_path / "auto") + "/")
    monkeypatch.setenv("SCALING_DATA_DIR", str(data_dir))
    path = ensure_store()
    assert path == locate_store() and (tmp_path / "auto" / "meta.parquet").is_file()
    assert Store(path).summary()["n_runs"] == 245
    monkeypatch.setenv("SCALING_STORE", "s3://bucket/store")
    assert locate_store() == "s3://bucket/store"


def test_store_path_fixture_runs_in_both_formats(store_path):
    """The parametrised fixture of conftest: this module's tests see a DuckDB file, then a Parquet directory."""
    store = Store(store_path)
    assert store.parquet == store_path.is_dir()
    assert store.summary()["n_runs"] >= 600
