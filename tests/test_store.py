"""Store queries: on the real store (typical queries) and on a tiny synthetic store (exact expectations)."""
from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from datasets import build as builder
from datasets import store as st
from datasets.schema import SCHEMA_VERSION
from datasets.sources import make_points, make_runs
from datasets.store import Store, StoreError, to_fit_frame, to_nats
from datasets.store.write import write_store

FIT_COLUMNS = ["run", "N", "D", "C", "step", "y", "group"]
INJECTIONS = ["x' OR '1'='1", "'; DROP TABLE runs; --", "\" OR 1=1 --", "toy/a' UNION SELECT * FROM meta --",
              "%", "*", "toy/a'); DELETE FROM points; --"]


# ------------------------------------------------------------------------------------ synthetic store
def _toy_tables() -> dict[str, pd.DataFrame]:
    runs = make_runs(pd.DataFrame([
        dict(run_id="toy/a/1", source="toy", family="toy/a", model="a-1M", arch="dec", params=1e6, data="c4",
             tokens=3e8),
        dict(run_id="toy/a/2", source="toy", family="toy/a", model="a-2M", arch="dec", params=2e6, data="c4",
             tokens=3e8),
        dict(run_id="toy/b/1", source="toy", family="toy/b", model="b-4M", arch="moe", params=4e6, data="pile",
             tokens=5e8, unique_tokens=1e8),
        dict(run_id="toy/c/1", source="toy", family="toy/c", model="c", arch="dec", params=8e6, data="pile",
             tokens=1e9),
    ]))
    rows = []
    for rid, n in (("toy/a/1", 1e6), ("toy/a/2", 2e6)):
        for k, d in enumerate((1e8, 2e8, 3e8), 1):
            rows.append(dict(run_id=rid, step=k, tokens=d, flops=None if k < 3 else 7 * n * d, metric="val_loss",
                             split="validation", unit="nats", value=4.0 / k + n / 1e7, higher_is_better=False))
            rows.append(dict(run_id=rid, step=k, tokens=d, metric="train_loss", split="train", unit="bits",
                             value=5.0 / k, higher_is_better=False))
            rows.append(dict(run_id=rid, step=k, tokens=d, metric="lr", split="train", unit="lr", value=1e-3 / k))
        rows.append(dict(run_id=rid, step=3, tokens=3e8, metric="acc", split="downstream", unit="accuracy",
                         value=0.5 + n / 1e7, higher_is_better=True))
    rows.append(dict(run_id="toy/b/1", tokens=5e8, metric="val_loss", split="validation", unit="perplexity",
                     value=math.e ** 2, higher_is_better=False))
    rows.append(dict(run_id="toy/c/1", tokens=1e9, metric="acc", split="downstream", unit="accuracy", value=0.7))
    rows.append(dict(run_id="toy/c/1", tokens=1e9, metric="f1", split="downstream", unit="f1", value=0.6))
    rows.append(dict(run_id="toy/c/1", tokens=5e8, metric="f1", split="downstream", unit="f1", value=0.5))
    points = make_points(pd.DataFrame(rows))
    return dict(
        runs=runs, points=points,
        sources=pd.DataFrame([dict(source="toy", title="Toy", paper="none", repo="o/r", commit="0" * 40,
                                   licence="MIT", n_files=1, n_runs=len(runs), n_points=len(points))]),
        files=pd.DataFrame([dict(source="toy", path="t.csv", sha256="0" * 64, bytes=1, rows_read=1)]),
        exclusions=pd.DataFrame([dict(source="toy", file="t.csv", what="row 3", action="dropped", reason="NaN",
                                      n_rows=1)]),
        meta=pd.DataFrame([("schema_version", str(SCHEMA_VERSION)), ("input_digest", "x"),
                           ("extra_tables", '["toy_split"]')], columns=["key", "value"]))


@pytest.fixture(scope="module", params=["duckdb", "parquet"])
def toy_path(request, tmp_path_factory) -> Path:
    """The toy store as a DuckDB file and as a Parquet directory: every toy test runs on both."""
    extras = {"toy_split": pd.DataFrame({"task": ["t"], "train": [1]})}
    if request.param == "parquet":
        path = tmp_path_factory.mktemp("toy") / "toy"
        st.write_parquet_store(path, _toy_tables(), extras)
        return path
    path = tmp_path_factory.mktemp("toy") / "toy.duckdb"
    write_store(path, _toy_tables(), extras)
    return path


@pytest.fixture(scope="module")
def toy(toy_path) -> Store:
    return Store(toy_path)


def test_toy_summary_and_overview(toy):
    assert toy.summary() == dict(n_sources=1, n_families=3, n_runs=4, n_points=24)
    assert list(toy.families()["family"]) == ["toy/a", "toy/b", "toy/c"]
    assert list(toy.families(source="toy")["n_runs"]) == [2, 1, 1]
    assert toy.meta()["schema_version"] == str(SCHEMA_VERSION)
    assert toy.extra_tables() == ["toy_split"]
    assert toy.extra_table("toy_split")["task"].tolist() == ["t"]
    with pytest.raises(KeyError):
        toy.extra_table("runs")


def test_default_metric_prefers_validation_then_train_then_most_points(toy):
    assert toy.default_metric("toy/a") == "val_loss"
    assert toy.default_metric("toy/b") == "val_loss"
    assert toy.default_metric("toy/c") == "f1"  # no loss: the metric with most points
    assert toy.default_metric("no/such") is None


def test_runs_filters(toy):
    assert toy.runs(family="toy/a")["run_id"].tolist() == ["toy/a/1", "toy/a/2"]
    assert toy.runs(arch="moe")["run_id"].tolist() == ["toy/b/1"]
    assert toy.runs(data=["pile"], min_params=5e6)["run_id"].tolist() == ["toy/c/1"]
    assert toy.runs(min_params=2e6, max_params=4e6)["run_id"].tolist() == ["toy/a/2", "toy/b/1"]
    assert len(toy.runs()) == 4


def test_points_all_checkpoints_and_final(toy):
    pts = toy.points(family="toy/a", metric="val_loss")
    assert len(pts) == 6
    assert {"family", "model", "params", "data", "arch"} <= set(pts.columns)
    assert pts["tokens"].tolist() == [1e8, 2e8, 3e8] * 2
    fin = toy.points(family="toy/a", metric="val_loss", final_only=True)
    assert fin["tokens"].tolist() == [3e8, 3e8] and fin["step"].tolist() == [3, 3]
    f1 = toy.points(run_ids=["toy/c/1"], metric="f1", final_only=True)
    assert f1["value"].tolist() == [0.6]
    assert len(toy.points(split="downstream")) == 5
    assert toy.points(run_ids="toy/b/1")["unit"].tolist() == ["perplexity"]


def test_metric_across_families_gives_one_final_point_per_run(toy):
    acc = toy.metric_across_families("acc")
    assert sorted(acc["family"].unique()) == ["toy/a", "toy/c"]
    assert acc["run_id"].is_unique and len(acc) == 3
    vl = toy.metric_across_families("val_loss")
    assert sorted(vl["unit"].unique()) == ["nats", "perplexity"]  # units as stored, never mixed silently


def test_fit_frame_columns_and_conversion(toy):
    ff = toy.fit_frame("toy/a", "train_loss")
    assert list(ff.columns) == FIT_COLUMNS + ["lr"]
    assert all(ff[c].dtype == np.float64 for c in ["N", "D", "C", "step", "y", "lr"])
    np.testing.assert_allclose(ff["y"], [5.0 * math.log(2) / k for k in (1, 2, 3)] * 2, rtol=1e-12)
    assert ff.attrs["unit"] == "nats" and ff.attrs["converted"] == {"bits": 6}
    np.testing.assert_allclose(ff["lr"], [1e-3 / k for k in (1, 2, 3)] * 2, rtol=1e-12)
    np.testing.assert_allclose(ff["C"], 6 * ff["N"] * ff["D"])
    raw = toy.fit_frame("toy/a", "train_loss", as_nats=False)
    np.testing.assert_allclose(raw["y"], [5.0 / k for k in (1, 2, 3)] * 2)
    assert raw.attrs["unit"] == "bits"

    vl = toy.fit_frame("toy/a", "val_loss", final_only=True)
    assert len(vl) == 2
    np.testing.assert_allclose(vl["C"], 7 * vl["N"] * vl["D"])  # published C kept
    assert vl.attrs["c_from_6nd"] == 0

    b = toy.fit_frame("toy/b", "val_loss")
    assert list(b.columns) == FIT_COLUMNS + ["U"]
    assert b["y"].tolist() == pytest.approx([2.0]) and b["U"].tolist() == [1e8]
    assert b["group"].tolist() == ["toy/b"]


def test_to_fit_frame_is_pure_and_refuses_mixed_units():
    t = _toy_tables()
    both = t["points"][t["points"]["metric"] == "val_loss"]
    ff = to_fit_frame(t["runs"], both, "val_loss")
    assert ff.attrs["converted"] == {"perplexity": 1} and len(ff) == 7
    with pytest.raises(ValueError, match="several units"):
        to_fit_frame(t["runs"], both, "val_loss", as_nats=False)
    pts = t["points"].copy()
    pts.loc[pts["run_id"] == "toy/b/1", "tokens"] = np.nan  # single point: D from the run's tokens
    pts.loc[pts["metric"] == "val_loss", "value"] = pts.loc[pts["metric"] == "val_loss", "value"].where(
        pts["step"] != 1, np.inf)
    ff = to_fit_frame(t["runs"], pts, "val_loss")
    assert ff.loc[ff["run"] == "toy/b/1", "D"].tolist() == [5e8]
    assert ff.attrs["dropped_nonfinite"] == 2 and len(ff) == 5
    assert to_fit_frame(t["runs"], t["points"], "nope").empty


def test_to_nats():
    v, u = to_nats(np.array([1.0, 2.0]), "bits")
    assert u == "nats" and v.tolist() == pytest.approx([math.log(2), 2 * math.log(2)])
    assert to_nats(math.e ** 3, "perplexity") == (pytest.approx(3.0), "nats")
    assert to_nats(2.0, "log10_perplexity") == (pytest.approx(2 * math.log(10)), "nats")
    assert to_nats(1.5, "nats") == (1.5, "nats")
    assert to_nats(0.4, "accuracy") == (0.4, "accuracy")


@pytest.mark.parametrize("bad", INJECTIONS)
def test_injection_strings_match_nothing_and_execute_nothing(toy, bad):
    assert toy.runs(family=bad).empty and toy.runs(source=bad).empty
    assert toy.runs(arch=[bad, "'"]).empty and toy.runs(data=bad).empty
    assert toy.points(family=bad).empty and toy.points(metric=bad).empty
    assert toy.points(run_ids=[bad]).empty and toy.points(split=bad, final_only=True).empty
    assert toy.families(source=bad).empty and toy.metrics(bad).empty
    assert toy.exclusions(source=bad).empty and toy.metric_across_families(bad).empty
    assert toy.fit_frame(bad, bad).empty and toy.default_metric(bad) is None
    with pytest.raises(ValueError, match="min_params must be a number"):
        toy.runs(min_params=bad)
    with pytest.raises(KeyError):
        toy.extra_table(bad)
    assert toy.summary()["n_points"] == 24


def test_non_string_filters_are_type_errors(toy):
    with pytest.raises(TypeError, match="family must be a string"):
        toy.runs(family=3)
    with pytest.raises(TypeError):
        toy.points(run_ids=[1, 2])
    with pytest.raises(ValueError, match="finite"):
        toy.runs(max_params=float("nan"))


# ------------------------------------------------------------------------------------ errors
def test_missing_corrupt_and_old_stores_raise_store_errors(tmp_path):
    with pytest.raises(StoreError) as e:
        Store(tmp_path / "none.duckdb")
    assert e.value.kind == "missing" and "datasets.build" in e.value.fix and e.value.message in str(e.value)

    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(b"this is not a database" * 1000)
    with pytest.raises(StoreError) as e:
        Store(junk)
    assert e.value.kind == "corrupt"

    old = tmp_path / "old.duckdb"
    t = _toy_tables()
    t["meta"] = pd.DataFrame([("schema_version", "0")], columns=["key", "value"])
    write_store(old, t, {})
    with pytest.raises(StoreError, match="schema version 0") as e:
        Store(old)
    assert e.value.kind == "old_schema"

    bare = tmp_path / "bare.duckdb"
    duckdb.connect(str(bare)).close()
    with pytest.raises(StoreError, match="no meta table"):
        Store(bare)


def test_locked_store_raises_store_error(tmp_path):
    path = tmp_path / "locked.duckdb"
    write_store(path, _toy_tables(), {})
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time\n"
                               f"con = duckdb.connect({str(path)!r})\nprint('ready', flush=True)\ntime.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError) as e:
            Store(path)
        assert e.value.kind == "locked"
    finally:
        holder.kill()
        holder.wait()


def test_one_connection_per_path_reopened_after_rebuild(tmp_path):
    path = tmp_path / "s.duckdb"
    write_store(path, _toy_tables(), {})
    a, b = Store(path), Store(path)
    assert a._con is b._con
    t = _toy_tables()
    t["runs"] = t["runs"].iloc[:3]
    t["points"] = t["points"][t["points"]["run_id"].isin(t["runs"]["run_id"])]
    tmp = tmp_path / "new.duckdb"
    write_store(tmp, t, {})
    os.replace(tmp, path)
    c = Store(path)
    assert c._con is not a._con
    assert c.summary()["n_runs"] == 3


def test_queries_from_threads(toy):
    out, errors = [], []

    def work():
        try:
            out.append(len(toy.points(family="toy/a")))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and out == [20] * 8


# ------------------------------------------------------------------------------------ ensure_store
def test_locate_store_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SCALING_STORE", str(tmp_path / "x.duckdb"))
    assert st.locate_store() == tmp_path / "x.duckdb"
    monkeypatch.delenv("SCALING_STORE")
    assert st.locate_store() == st.PROJECT_ROOT / "store.duckdb"


def _small_build(monkeypatch, calls: list):
    """Make ensure_store's build cheap: only the synthetic tables (a real build is tested elsewhere)."""
    def fake_build(data, out, progress=None, **kw):
        calls.append(Path(data))
        tmp = Path(out).with_name(f".{Path(out).name}.{threading.get_ident()}.tmp")
        write_store(tmp, _toy_tables(), {})
        os.replace(tmp, out)
    monkeypatch.setattr(builder, "build", fake_build)


def test_ensure_store_builds_once_when_two_start_together(monkeypatch, tmp_path, data_dir):
    calls: list = []
    _small_build(monkeypatch, calls)
    target = tmp_path / "auto.duckdb"
    monkeypatch.setenv("SCALING_STORE", str(target))
    monkeypatch.setenv("SCALING_DATA_DIR", str(data_dir))
    results = []
    threads = [threading.Thread(target=lambda: results.append(st.ensure_store())) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [target, target]
    assert calls == [data_dir]
    assert Store(target).summary()["n_runs"] == 4
    assert st.ensure_store() == target and len(calls) == 1  # a good store is not rebuilt


def test_ensure_store_rebuilds_an_old_store(monkeypatch, tmp_path, data_dir):
    calls: list = []
    target = tmp_path / "old.duckdb"
    t = _toy_tables()
    t["meta"] = pd.DataFrame([("schema_version", "0")], columns=["key", "value"])
    write_store(target, t, {})
    _small_build(monkeypatch, calls)
    monkeypatch.setenv("SCALING_STORE", str(target))
    monkeypatch.setenv("SCALING_DATA_DIR", str(data_dir))
    assert st.ensure_store() == target and len(calls) == 1
    assert Store(target).meta()["schema_version"] == str(SCHEMA_VERSION)


def test_ensure_store_reports_a_bad_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("SCALING_STORE", str(tmp_path / "s.duckdb"))
    monkeypatch.setenv("SCALING_DATA_DIR", str(tmp_path / "nope"))
    with pytest.raises(StoreError, match="SCALING_DATA_DIR"):
        st.ensure_store()


# ------------------------------------------------------------------------------------ the real store
@pytest.fixture(scope="module")
def real(store_path) -> Store:
    return Store(store_path)


def _curve_family(real: Store) -> tuple[str, str]:
    for fam in real.families().sort_values("n_points", ascending=False)["family"]:
        m = real.metrics(fam)
        c = m[m["has_curves"] & (m["split"] != "downstream")]
        if len(c):
            return fam, c.iloc[0]["metric"]
    pytest.fail("no family with checkpoint curves in the store")


def test_real_all_checkpoints_of_one_family(real):
    fam, metric = _curve_family(real)
    pts = real.points(family=fam, metric=metric)
    m = real.metrics(fam)
    assert len(pts) == m.loc[m["metric"] == metric, "n_points"].sum()
    assert (pts["family"] == fam).all()
    assert pts.groupby("run_id").size().max() > 1


def test_real_final_points_of_every_run_in_a_family(real):
    fam, metric = _curve_family(real)
    pts = real.points(family=fam, metric=metric)
    fin = real.points(family=fam, metric=metric, final_only=True)
    assert fin["run_id"].is_unique
    assert set(fin["run_id"]) == set(pts["run_id"])
    last = pts.groupby("run_id")["tokens"].max()
    got = fin.set_index("run_id")["tokens"]
    assert ((got == last.reindex(got.index)) | last.reindex(got.index).isna()).all()


def test_real_one_metric_across_families(real):
    fm = real._query("SELECT metric, count(DISTINCT family) AS n FROM store.family_metrics "
                     "GROUP BY metric HAVING n >= 2 ORDER BY n DESC, metric LIMIT 1")
    assert not fm.empty, "no metric shared by two families"
    metric = fm["metric"].iloc[0]
    across = real.metric_across_families(metric)
    assert across["family"].nunique() == fm["n"].iloc[0]
    assert across["run_id"].is_unique and (across["metric"] == metric).all()


def test_real_fit_frame_of_the_default_metric(real):
    fam, _ = _curve_family(real)
    metric = real.default_metric(fam)
    ff = real.fit_frame(fam, metric)
    assert list(ff.columns[:7]) == FIT_COLUMNS
    assert len(ff) > 0 and (ff["group"] == fam).all()
    pts = real.points(family=fam, metric=metric)
    y = np.concatenate([to_nats(g["value"].to_numpy(), u)[0] for u, g in pts.groupby("unit")])
    np.testing.assert_allclose(np.sort(ff["y"]), np.sort(y[np.isfinite(y)]))
    assert (ff["N"] > 0).all() and (ff["C"].dropna() > 0).all()


def test_real_chance_level_comes_from_the_task_table(real):
    assert real.chance_level("overtrain", "hellaswag/acc") == 0.25            # 4-way multiple choice
    assert real.chance_level("overtrain", "no-such-task") is None
    assert real.chance_level("pythia", "hellaswag/acc") is None                 # no task table for that source
    assert real.chance_level("overtrain", "x' OR 1=1 --") is None


def test_real_flagged_runs_are_epochs_five_outliers(real):
    flagged = real.flagged_runs("chinchilla-epoch/chinchilla")
    worst = real.fit_frame("chinchilla-epoch/chinchilla", "loss").nlargest(5, "y")["run"]
    assert sorted(flagged) == sorted(worst.astype(str)) and len(flagged) == 5
    assert real.flagged_runs("overtrain/rpj") == [] and real.flagged_runs("x' OR 1=1 --") == []
