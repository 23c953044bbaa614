"""The build: every source present, checkpoints kept, reproducible, atomic, and strict about its inputs."""
from __future__ import annotations

import hashlib
import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from datasets import build as builder
from datasets import manifest as mf
from datasets.schema import SCHEMA_VERSION
from datasets.store import Store
from datasets.store import write as store_write

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SMALL = ["chinchilla-epoch", "overtrain", "revisiting", "laion-clip-mammut", "steplaw", "obsscaling"]  # fastest first
CURVE_SOURCES = ["colpret", "pythia", "gemstones"]  # sources that publish intermediate checkpoints


def _has_ingester(source: str) -> bool:
    try:
        importlib.import_module(f"datasets.sources.{source.replace('-', '_')}")
    except ModuleNotFoundError:
        return False
    return True


def _small_sources(n: int = 2) -> list[str]:
    have = [s for s in SMALL if _has_ingester(s)]
    assert have, "every small source must have an ingester"
    return have[:n]


def table_digests(path: Path) -> dict[str, str]:
    """sha256 of every table's rows in stored order (so sorting is part of what is compared)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = {}
        for (name,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall():
            df = con.execute(f'SELECT * FROM "{name}"').df()
            h = hashlib.sha256(",".join(df.columns).encode())
            h.update(pd.util.hash_pandas_object(df.astype("str"), index=False).to_numpy().tobytes())
            out[name] = h.hexdigest()
        return out
    finally:
        con.close()


@pytest.fixture(scope="module")
def store(store_path):
    return Store(store_path)


def test_every_source_folder_is_in_the_store(store, data_dir):
    folders = sorted(p.name for p in data_dir.iterdir() if (p / "SOURCE.txt").is_file())
    assert sorted(store.sources()["source"]) == folders
    assert (store.exclusions()["what"] == "whole source").sum() == 0, "a source was skipped (missing ingester)"


def test_store_is_large_enough(store):
    s = store.summary()
    assert s["n_runs"] >= 600
    assert s["n_points"] > s["n_runs"]
    assert s["n_families"] >= 20


def test_curves_exist_for_sources_with_checkpoints(store):
    fams = store.families()
    for source in CURVE_SOURCES:
        curved = []
        for fam in fams.loc[fams["source"] == source, "family"]:
            m = store.metrics(fam)
            if m["has_curves"].any():
                curved.append(fam)
        assert curved, f"{source}: no family with intermediate checkpoints"
        fam = curved[0]
        metric = store.metrics(fam).query("has_curves")["metric"].iloc[0]
        pts = store.points(family=fam, metric=metric)
        per_run = pts.groupby("run_id")["tokens"].nunique()
        assert per_run.max() >= 5, f"{fam}/{metric}: runs have at most {per_run.max()} distinct token counts"


def test_meta_and_files_match_the_manifest(store, store_path):
    meta = store.meta()
    assert meta["schema_version"] == str(SCHEMA_VERSION)
    m = mf.load()
    files = Store(store_path)._query("SELECT source, path, sha256, bytes FROM store.files ORDER BY source, path")
    want = pd.DataFrame([(s.source, f.path, f.sha256, f.bytes) for s in m.sources for f in s.files],
                        columns=["source", "path", "sha256", "bytes"]).sort_values(["source", "path"])
    assert len(files) == len(want) == 1337
    assert (files["sha256"].to_numpy() == want["sha256"].to_numpy()).all()
    lines = sorted(f"{r.source}\t{r.path}\t{r.sha256}\n" for r in want.itertuples())
    assert meta["input_digest"] == hashlib.sha256("".join(lines).encode()).hexdigest()


def test_rows_are_stored_sorted(duckdb_store_path):
    con = duckdb.connect(str(duckdb_store_path), read_only=True)
    try:
        ids = [r[0] for r in con.execute("SELECT run_id FROM runs").fetchall()]
        assert ids == sorted(ids)
        pid = [r[0] for r in con.execute("SELECT run_id FROM points").fetchall()]
        assert pid == sorted(pid)
    finally:
        con.close()


def test_extra_tables_are_stored_when_an_ingester_provides_them(store):
    for module, table in (("overtrain", "task_metadata"), ("revisiting", "revisiting_split")):
        if not _has_ingester(module):
            continue
        mod = importlib.import_module(f"datasets.sources.{module}")
        hook = "task_metadata" if table == "task_metadata" else "heldout_table"
        if hasattr(mod, hook):
            assert table in store.extra_tables()
            assert len(store.extra_table(table)) > 0


def test_building_twice_gives_identical_tables(data_dir, tmp_path):
    only = _small_sources(3)
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    ra = builder.build(data_dir, a, only=only)
    rb = builder.build(data_dir, b, only=only)
    assert ra.input_digest == rb.input_digest
    da, db = table_digests(a), table_digests(b)
    assert set(da) >= {"runs", "points", "sources", "files", "exclusions", "meta"}
    assert da == db


def test_failed_build_leaves_previous_store_byte_identical(data_dir, tmp_path, monkeypatch):
    only = _small_sources(2)
    out = tmp_path / "store.duckdb"
    builder.build(data_dir, out, only=only)
    before = out.read_bytes()
    module = importlib.import_module(f"datasets.sources.{only[0].replace('-', '_')}")

    def boom(folder):
        raise RuntimeError("simulated ingester failure")
    monkeypatch.setattr(module, "ingest", boom)
    with pytest.raises(builder.BuildError, match="simulated ingester failure"):
        builder.build(data_dir, out, only=only)
    assert out.read_bytes() == before
    monkeypatch.undo()

    real_insert = store_write._insert

    def interrupt_on_points(con, table, df, order):  # dies midway through writing the new file
        if table == "points":
            raise KeyboardInterrupt
        return real_insert(con, table, df, order)
    monkeypatch.setattr(store_write, "_insert", interrupt_on_points)
    with pytest.raises(KeyboardInterrupt):
        builder.build(data_dir, out, only=only)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.duckdb"], "temporary files left behind"


def test_tampered_input_is_rejected_naming_the_file(data_dir, tmp_path):
    src = tmp_path / "data" / "chinchilla-epoch"
    shutil.copytree(data_dir / "chinchilla-epoch", src)
    f = src / "data" / "svg_extracted_data.csv"
    raw = bytearray(f.read_bytes())
    raw[100] = ord("7") if raw[100] != ord("7") else ord("8")
    f.write_bytes(bytes(raw))
    out = tmp_path / "s.duckdb"
    with pytest.raises(builder.BuildError) as err:
        builder.build(tmp_path / "data", out, only=["chinchilla-epoch"])
    msg = str(err.value)
    assert "chinchilla-epoch/data/svg_extracted_data.csv" in msg and "sha256" in msg
    assert mf.load().get("chinchilla-epoch").files[0].sha256 in msg
    assert not out.exists()

    r = subprocess.run([sys.executable, "-m", "datasets.build", "--source", str(tmp_path / "data"), "--out",
                        str(out), "--only", "chinchilla-epoch"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert r.returncode != 0
    assert "svg_extracted_data.csv" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("case", ["missing", "not_data", "lacks_folder", "unknown_source"])
def test_cli_rejects_bad_source_dirs_in_one_line(tmp_path, case):
    args = {"missing": ["--source", str(tmp_path / "nope")],
            "not_data": ["--source", str(tmp_path)],
            "lacks_folder": ["--source", str(tmp_path)],
            "unknown_source": ["--source", str(tmp_path), "--only", "no-such-source"]}[case]
    if case == "lacks_folder":
        (tmp_path / "steplaw").mkdir()
    r = subprocess.run([sys.executable, "-m", "datasets.build", *args, "--out", str(tmp_path / "s.duckdb")],
                       cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "s.duckdb").exists()
