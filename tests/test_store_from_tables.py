"""Store.from_tables: tables in memory answer every query exactly as the same rows in a built store file.

One family of every source is loaded from the real store, passed through :meth:`Store.from_tables`, and every
query method is compared; an upload (``example_csv``) goes through ``read_upload`` then ``from_tables``.
"""
from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

from datasets import manifest as mf
from datasets.schema import POINT_COLUMNS
from datasets.store import OUTLIER_FLAG, Store
from datasets.upload import example_csv, read_upload


@pytest.fixture(scope="module")
def real(store_path) -> Store:
    return Store(store_path)


SOURCES = [s.source for s in mf.load().sources]


def _family_of(real: Store, source: str) -> str:
    """The source's family with the most points."""
    fams = real.families(source=source).sort_values(["n_points", "family"], ascending=[False, True])
    assert len(fams), f"the store has no family of {source}"
    return str(fams["family"].iloc[0])


def _copy(real: Store, family: str) -> Store:
    """The family's rows (and its source's metadata, exclusions and extra tables) as an in-memory store."""
    runs = real.runs(family=family)
    points = real.points(family=family)[list(POINT_COLUMNS)]
    source = str(runs["source"].iloc[0])
    sources = real.sources()
    return Store.from_tables(runs, points, name=family, sources=sources[sources["source"] == source],
                             exclusions=real.exclusions(source),
                             extras={t: real.extra_table(t) for t in real.extra_tables()})


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_exact=True)


@pytest.mark.parametrize("source", SOURCES)
def test_every_query_answers_the_same_in_memory(real, source):
    family = _family_of(real, source)
    mem = _copy(real, family)
    row = real.families()
    row = row[row["family"] == family]

    assert mem.in_memory and not real.in_memory
    assert mem.summary() == dict(n_sources=1, n_families=1, n_runs=int(row["n_runs"].iloc[0]),
                                 n_points=int(row["n_points"].iloc[0]))
    _same(mem.families(), row)
    _same(mem.families(source=source), row)
    _same(mem.sources(), real.sources().query("source == @source"))
    _same(mem.exclusions(), real.exclusions(source))
    assert mem.extra_tables() == real.extra_tables()
    for t in real.extra_tables():
        _same(mem.extra_table(t), real.extra_table(t))
    assert mem.meta()["schema_version"] == real.meta()["schema_version"]

    metrics = real.metrics(family)
    _same(mem.metrics(family), metrics)
    assert mem.default_metric(family) == real.default_metric(family) is not None
    assert mem.flagged_runs(family) == real.flagged_runs(family)

    runs = real.runs(family=family)
    _same(mem.runs(), runs)
    _same(mem.runs(family=family, source=source), runs)
    mid = float(runs["params"].median()) if runs["params"].notna().any() else 1.0
    _same(mem.runs(family=family, min_params=mid), real.runs(family=family, min_params=mid))
    _same(mem.runs(max_params=mid, arch=list(runs["arch"].dropna().unique()) or ["none"]),
          real.runs(family=family, max_params=mid, arch=list(runs["arch"].dropna().unique()) or ["none"]))

    _same(mem.points(family=family), real.points(family=family))
    for metric in metrics["metric"].unique()[:4]:
        _same(mem.points(family=family, metric=metric), real.points(family=family, metric=metric))
        _same(mem.points(metric=metric, final_only=True), real.points(family=family, metric=metric, final_only=True))
        _same(mem.metric_across_families(metric), real.points(family=family, metric=metric, final_only=True))
        assert mem.chance_level(source, metric) == real.chance_level(source, metric)
    for split in metrics["split"].unique():
        _same(mem.points(family=family, split=split), real.points(family=family, split=split))
    some = runs["run_id"].iloc[: max(1, len(runs) // 2)].tolist()
    _same(mem.points(run_ids=some), real.points(family=family, run_ids=some))

    fit_metrics = metrics.loc[metrics["unit"] != "lr", "metric"].unique()[:3]
    for metric in fit_metrics:
        for final_only in (False, True):
            for as_nats in (True, False):
                try:
                    want = real.fit_frame(family, metric, final_only=final_only, as_nats=as_nats)
                except ValueError as e:      # several units: the same refusal in memory
                    with pytest.raises(ValueError, match="several units"):
                        mem.fit_frame(family, metric, final_only=final_only, as_nats=as_nats)
                    assert "several units" in str(e)
                    continue
                got = mem.fit_frame(family, metric, final_only=final_only, as_nats=as_nats)
                _same(got, want)
                assert got.attrs == want.attrs


def test_flagged_outliers_and_chance_levels_survive_the_copy(real):
    epoch = _copy(real, "chinchilla-epoch/chinchilla")
    flagged = epoch.flagged_runs("chinchilla-epoch/chinchilla")
    assert len(flagged) == 5 and flagged == real.flagged_runs("chinchilla-epoch/chinchilla")
    over = _copy(real, "overtrain/rpj")
    assert over.chance_level("overtrain", "hellaswag/acc") == 0.25          # 4-way multiple choice
    assert over.chance_level("overtrain", "x' OR 1=1 --") is None


def test_an_upload_becomes_a_store(real):
    up = read_upload(example_csv(), filename="example.csv")
    s = Store.from_upload(up)
    fam = "upload/chinchilla-like"
    assert s.summary() == dict(n_sources=1, n_families=1, n_runs=5, n_points=80)
    assert s.families()["family"].tolist() == [fam] and s.families()["n_sizes"].iloc[0] == 5
    assert s.sources()[["source", "title", "n_files", "n_runs", "n_points"]].iloc[0].tolist() == \
        ["upload", "example.csv", 1, 5, 80]
    m = s.metrics(fam).set_index("metric")
    assert sorted(m.index) == ["lr", "val_loss"]
    assert m.loc["val_loss", "unit"] == "nats" and m.loc["val_loss", "split"] == "validation"
    assert m.loc["lr", "unit"] == "lr" and bool(m.loc["val_loss", "has_curves"])
    assert s.default_metric(fam) == "val_loss"
    assert s.flagged_runs(fam) == [] and s.chance_level("upload", "val_loss") is None
    assert s.exclusions().empty

    frame = s.fit_frame(fam, "val_loss")
    csv = pd.read_csv(pd.io.common.StringIO(example_csv()))
    assert len(frame) == len(csv) == 40
    assert frame.attrs["unit"] == "nats" and frame.attrs["higher_is_better"] is False
    assert sorted(frame["N"].unique()) == [20e6, 50e6, 125e6, 350e6, 760e6]
    np.testing.assert_allclose(np.sort(frame["y"]), np.sort(csv["value"]))
    np.testing.assert_allclose(frame["C"], 6 * frame["N"] * frame["D"], rtol=1e-12)   # no FLOPs column: C = 6ND
    by_step = frame.set_index(["N", "step"])["lr"].sort_index()
    np.testing.assert_allclose(by_step.to_numpy(), csv.assign(N=frame["N"].sort_values().unique().repeat(8))
                               .set_index(["N", "step"])["lr"].sort_index().to_numpy(), rtol=1e-3)
    final = s.fit_frame(fam, "val_loss", final_only=True)
    assert len(final) == 5 and final.groupby("run")["D"].max().equals(frame.groupby("run")["D"].max())


def test_an_upload_keeps_its_rejections_and_its_outlier_flags():
    text = example_csv().replace("my-20m,chinchilla-like,20M", "my-20m,chinchilla-like,abc", 1)
    up = read_upload(text, filename="bad.csv")
    assert up.report.n_rejected == 1
    s = Store.from_upload(up)
    ex = s.exclusions()
    assert ex[["file", "what", "n_rows"]].iloc[0].tolist() == ["bad.csv", "N", 1]
    assert "not a number" in ex["reason"].iloc[0]

    runs = up.runs.copy()
    runs.loc[runs["model"] == "my-760m", "extra"] = '{"user_outlier": true}'
    flagged = Store.from_tables(runs, up.points)
    assert flagged.flagged_runs("upload/chinchilla-like") == ["upload/my-760m"]
    assert runs["extra"].astype(str).str.contains(OUTLIER_FLAG).sum() == 1


def test_the_tables_are_copied_and_keys_follow_the_content():
    up = read_upload(example_csv())
    runs, points = up.runs.copy(), up.points.copy()
    a = Store.from_tables(runs, points)
    b = Store.from_tables(runs, points)
    assert a.key == b.key and a.key.startswith("memory:upload:")
    points["value"] = 0.0                                       # later edits do not reach the store
    assert a.fit_frame("upload/chinchilla-like", "val_loss")["y"].min() > 1.0
    c = Store.from_tables(runs, points)
    assert c.key != a.key
    d = Store.from_tables(up.runs[up.runs["model"] != "my-20m"], up.points[~up.points["run_id"].eq("upload/my-20m")])
    assert d.summary()["n_runs"] == 4 and a.summary()["n_runs"] == 5   # two stores never share rows
    a.close()
    assert b.summary()["n_runs"] == 5


def test_inconsistent_tables_are_refused():
    up = read_upload(example_csv())
    with pytest.raises(ValueError, match="has no run"):
        Store.from_tables(up.runs[up.runs["model"] != "my-20m"], up.points)
    bad_unit = up.points.astype({"unit": "string"}).assign(unit="furlongs")
    with pytest.raises(ValueError, match="furlongs"):
        Store.from_tables(up.runs, bad_unit)
    with pytest.raises(ValueError, match="duplicate run_id"):
        Store.from_tables(pd.concat([up.runs, up.runs.iloc[:1]]), up.points)
    with pytest.raises(ValueError, match="not allowed"):
        Store.from_tables(up.runs, up.points, extras={"runs": pd.DataFrame({"x": [1]})})


def test_concurrent_queries_on_one_memory_store():
    s = Store.from_upload(read_upload(example_csv()))
    want = s.fit_frame("upload/chinchilla-like", "val_loss")
    errors, results = [], []

    def work():
        try:
            for _ in range(5):
                results.append(s.fit_frame("upload/chinchilla-like", "val_loss").equals(want))
                results.append(s.metrics("upload/chinchilla-like")["n_points"].sum() == 80)
        except Exception as e:   # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 6 * 10 and all(results)
