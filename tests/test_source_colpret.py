"""Tests for the ColPret ingester (datasets/sources/colpret.py) against the copied source files."""
from __future__ import annotations

import math
import os
import pickle
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datasets.schema import POINT_COLUMNS, RUN_COLUMNS, SPLITS, UNITS
from datasets.sources.colpret import (check_pickle_globals, ingest, parse_count,
                                      summed_rows)

DATA = Path(os.environ.get("SCALING_DATA_DIR",
                           Path(__file__).resolve().parents[1].parent / "shared" / "data"))
FOLDER = DATA / "colpret"

pytestmark = pytest.mark.skipif(not (FOLDER / "SOURCE.txt").exists() and not os.environ.get("SCALING_REQUIRE_DATA"),
                                reason=f"ColPret copy not found at {FOLDER}")

# (runs, points) per collection, read from the copy in shared/data/colpret
EXPECTED = {
    "amber": (1, 7832),                 # 40 exports, one metric each
    "bimix": (12, 3720),                # 6 mixtures x 2 corpora, 20 steps x (domains + avg)
    "datablations": (48, 9261),
    "datablations-code": (9, 296),
    "datablations-contour": (229, 229),
    "gpt3": (8, 7487),                  # 3476 train + 4011 val after averaging repeated x
    "gzip": (150, 65100),
    "k2": (2, 10710),                   # 9985 train (D = 0 dropped) + 590 evals + 135 spike evals
    "llm360-mamba": (1, 88348),         # loss + lr at 44,174 steps
    "lm-eval-0shot": (11, 223),
    "moduleformer": (20, 1610),
    "olmo": (3, 45392),
    "opt": (6, 1024),                   # 142 ppl + 147 x 6 BIG-bench
    "redpajama": (2, 135),
    "t5-pile": (4, 1606),               # (807 - 4 at step 0) ppl + 803 lr
}


@pytest.fixture(scope="module")
def tables():
    start = time.perf_counter()
    result = ingest(FOLDER)
    result.seconds = time.perf_counter() - start
    return result


@pytest.fixture(scope="module")
def points(tables):
    return tables.points.merge(tables.runs[["run_id", "collection", "family", "params"]],
                               on="run_id", how="left")


def _point(points, run_id, metric, **where):
    sel = points[(points["run_id"] == run_id) & (points["metric"] == metric)]
    for column, value in where.items():
        sel = sel[np.isclose(sel[column], value, rtol=1e-9)]
    return sel


def _excl(tables, file, what):
    rows = [e for e in tables.exclusions if e["file"] == file and e["what"] == what]
    assert len(rows) == 1, (file, what, rows)
    return rows[0]


# ---------------------------------------------------------------------------- shape and contract
def test_counts_per_collection(tables, points):
    runs = tables.runs.groupby("collection").size().to_dict()
    pts = points.groupby("collection").size().to_dict()
    got = {c: (runs.get(c, 0), pts.get(c, 0)) for c in set(runs) | set(pts)}
    assert got == EXPECTED


def test_schema_columns_and_dtypes(tables):
    assert list(tables.runs.columns) == list(RUN_COLUMNS)
    assert list(tables.points.columns) == list(POINT_COLUMNS)
    for col, sqltype in POINT_COLUMNS.items():
        if sqltype == "DOUBLE":
            assert tables.points[col].dtype == np.float64, col


def test_units_splits_and_direction(tables):
    pts = tables.points
    assert set(pts["unit"]) <= set(UNITS)
    assert set(pts["split"]) <= set(SPLITS)
    direction = pts.groupby("unit")["higher_is_better"].agg(lambda s: set(s.dropna()))
    for unit in ("nats", "perplexity", "bits"):
        assert direction[unit] == {False}, unit
    for unit in ("accuracy", "f1", "score"):
        assert direction[unit] == {True}, unit
    assert pts.loc[pts["unit"] == "lr", "higher_is_better"].isna().all()


def test_values_finite_and_in_range(tables):
    pts = tables.points
    assert not pts["value"].isna().any()
    assert np.isfinite(pts["value"]).all()
    acc = pts.loc[pts["unit"].isin(["accuracy", "f1"]), "value"]
    assert acc.between(0, 1).all()
    score = pts.loc[pts["unit"] == "score", "value"]
    assert score.between(0, 100).all()
    assert (pts.loc[pts["unit"] == "perplexity", "value"] >= 1).all()
    assert (pts["tokens"].dropna() > 0).all()


def test_ids_unique_and_families_prefixed(tables):
    runs, pts = tables.runs, tables.points
    assert runs["run_id"].is_unique
    assert runs["run_id"].str.startswith("colpret/").all()
    assert runs["family"].str.startswith("colpret/").all()
    assert (runs["source"] == "colpret").all()
    assert set(pts["run_id"]) <= set(runs["run_id"])
    assert not pts.duplicated(["run_id", "metric", "step", "tokens"]).any()
    assert runs["repo"].eq("IBM/ColPret").all()
    assert runs["commit"].str.fullmatch(r"[0-9a-f]{40}").all()


def test_every_file_read_or_excluded(tables):
    files = sorted(str(p.relative_to(FOLDER)) for p in FOLDER.rglob("*")
                   if p.is_file() and p.name != "SOURCE.txt")
    excluded = {e["file"] for e in tables.exclusions}
    assert len(files) == 66
    assert [f for f in files if f not in tables.rows_read and f not in excluded] == []
    assert set(tables.rows_read) <= set(files)


def test_exclusions_are_well_formed(tables):
    for e in tables.exclusions:
        assert e["action"] in {"dropped", "converted", "flagged", "deduplicated"}, e
        assert e["reason"] and e["what"], e
        assert e["n_rows"] >= 0, e


def test_deterministic(tables):
    again = ingest(FOLDER)
    pd.testing.assert_frame_equal(again.runs, tables.runs)
    pd.testing.assert_frame_equal(again.points, tables.points)
    assert again.exclusions == tables.exclusions


def test_ingest_is_fast(tables):
    assert tables.seconds < 30, f"ingest took {tables.seconds:.1f} s"


# ---------------------------------------------------------------------------- known values
def test_opt_175b_final_point_from_log10_columns(points):
    final = _point(points, "colpret/opt/OPT-175b", "val_ppl").sort_values("tokens").iloc[-1]
    assert final["value"] == pytest.approx(9.768875130, rel=1e-9)
    # num_token 11.447158 (log10) -> 2.8e11 tokens at step 140,000 (2M tokens / step)
    assert final["tokens"] == pytest.approx(2.8e11, rel=1e-6)
    assert final["step"] == 140_000
    assert final["flops"] == pytest.approx(6 * 175e9 * 2.8e11, rel=1e-6)
    bench = _point(points, "colpret/opt/OPT-175b", "bigbench_implicatures/score")
    assert len(bench) == 32 and bench["unit"].eq("score").all()


def test_datablations_flops_recomputed(tables, points):
    first = _point(points, "colpret/datablations/GPT2-2.8B-c4-44ep", "val_loss").iloc[0]
    assert first["tokens"] == 104_857_600
    assert first["flops"] == pytest.approx(6 * 2.8e9 * 104_857_600, rel=1e-12)  # file: 4.878e23
    assert first["value"] == pytest.approx(6.975669384, rel=1e-9)
    note = _excl(tables, "aggregated_eval/datablations_losses.csv", "flops")
    assert note["action"] == "converted" and "6 N D" in note["reason"]
    run = tables.runs.set_index("run_id").loc["colpret/datablations/GPT2-2.8B-c4-44ep"]
    assert run["unique_tokens"] == pytest.approx(1.25e9)
    assert run["family"] == "colpret/datablations-c4"
    oscar = tables.runs[tables.runs["family"] == "colpret/datablations-oscar"]
    assert len(oscar) == 24 and set(oscar["params"]) == {2.8e9, 4.2e9, 8.7e9}


def test_datablations_contour_unique_tokens_from_epochs(tables):
    run = tables.runs.set_index("run_id").loc["colpret/datablations-contour/GPT2-2b855b11b"]
    assert (run["params"], run["tokens"], run["unique_tokens"]) == (2.81e9, 55e9, 11e9)
    assert run["flops"] == pytest.approx(9.273e20)


def test_datablations_code_seed_is_metric(points):
    run = "colpret/datablations-code/GPT2-4.2B-c4-90pct-code"
    general = _point(points, run, "val_loss").sort_values("tokens")
    code = _point(points, run, "code/ce").sort_values("tokens")
    assert len(general) == len(code) == 16
    assert code["value"].iloc[-1] == pytest.approx(0.706429, abs=1e-6)


def test_gpt3_duplicates_averaged(tables, points):
    train = _excl(tables, "raw_data/gpt3/extracted.csv", "train_loss")
    val = _excl(tables, "raw_data/gpt3/extracted.csv", "val_loss")
    assert (train["action"], train["n_rows"]) == ("deduplicated", 2115)
    assert val["n_rows"] == 2495
    gpt3 = points[points["collection"] == "gpt3"]
    assert (gpt3["metric"] == "train_loss").sum() == 3476
    assert (gpt3["metric"] == "val_loss").sum() == 4011
    # the 'small' curve repeats x = 12.05258627 (billions of tokens) four times
    small = _point(points, "colpret/gpt3/GPT-3-small", "train_loss", tokens=12.05258627e9)
    assert len(small) == 1
    assert small["value"].iloc[0] == pytest.approx(np.mean([3.483370591, 3.479035407, 3.474700224,
                                                            3.470365041]), rel=1e-6)
    params = tables.runs[tables.runs["collection"] == "gpt3"].set_index("model")["params"]
    assert params["GPT-3 Small"] == 125e6 and params["GPT-3 13B"] == 13e9


def test_olmo_known_step_and_summed_rows_dropped(tables, points):
    row = _point(points, "colpret/olmo/OLMo-7B", "c4_en/ce", step=556_000)
    assert len(row) == 1
    assert row["value"].iloc[0] == pytest.approx(2.37120008, rel=1e-7)
    assert row["tokens"].iloc[0] == 556_000 * 4e6
    mrpc = _point(points, "colpret/olmo/OLMo-1B", "mrpc/f1")
    assert len(mrpc) == 735 and mrpc["unit"].eq("f1").all()
    twin = points[points["run_id"] == "colpret/olmo/OLMo-7B-Twin-2T"]
    assert not twin["step"].between(158_000, 168_000).any()
    assert _excl(tables, "aggregated_eval/olmo.csv",
                 "OLMo-7B-Twin-2T steps 158000-168000")["n_rows"] == 11
    families = tables.runs.set_index("run_id")["family"]
    assert families["colpret/olmo/OLMo-1B"] == families["colpret/olmo/OLMo-7B"] == "colpret/olmo"


def test_mamba_learning_rate_series(points):
    lr = _point(points, "colpret/llm360-mamba/Mamba-3B", "learning_rate").sort_values("step")
    loss = _point(points, "colpret/llm360-mamba/Mamba-3B", "train_loss")
    assert len(lr) == len(loss) == 44_174
    assert lr["value"].iloc[0] == pytest.approx(3.75e-8)
    assert (lr["unit"] == "lr").all() and (lr["split"] == "train").all()
    assert lr["tokens"].iloc[-1] == pytest.approx(176_700 * 500e9 / 176_703)


def test_k2_spike_segment_is_its_own_run(tables, points):
    spike = points[points["run_id"] == "colpret/k2/K2-65B-spike1"]
    assert len(spike) == 27 * 5 and spike["split"].eq("downstream").all()
    assert tables.runs.set_index("run_id").loc["colpret/k2/K2-65B-spike1", "family"] == "colpret/k2-spike"
    arc = _point(points, "colpret/k2/K2-65B", "arc_easy@5/acc").sort_values("tokens")
    assert arc["value"].iloc[-1] == pytest.approx(0.867)  # 86.7 %
    assert not points["metric"].str.contains("__M").any()


def test_amber_checkpoint_index_to_tokens(points):
    arc = _point(points, "colpret/amber/Amber-7B", "arc/acc").sort_values("tokens")
    # Step 1 -> (1 + 1) x 1.25T / 360
    assert arc["tokens"].iloc[0] == pytest.approx(2 * 1.25e12 / 360)
    assert len(arc) == 356
    assert arc["value"].between(0, 1).all()
    bias = _point(points, "colpret/amber/Amber-7B", "crowspairs/pct_stereotype")
    assert len(bias) == 178 and not bias["higher_is_better"].any()


def test_bimix_losses_and_tokens(tables, points):
    arxiv = _point(points, "colpret/bimix/Pile-Baseline", "arxiv/ce").sort_values("step")
    assert arxiv["value"].iloc[0] == pytest.approx(2.242701, abs=1e-6)
    assert arxiv["tokens"].iloc[0] == 10_000 * 524_288
    assert set(tables.runs.loc[tables.runs["collection"] == "bimix", "family"]) == \
        {"colpret/bimix-pile", "colpret/bimix-slimpajama"}
    assert len(_point(points, "colpret/bimix/SlimPajama-DoReMi", "val_loss")) == 20


def test_gzip_curves(tables, points):
    gz = tables.runs[tables.runs["collection"] == "gzip"]
    assert gz["family"].nunique() == 5 and gz.groupby("family")["params"].nunique().eq(6).all()
    run = "colpret/gzip/gzipscale-0.12-10M/N4178368-D99695"
    train = _point(points, run, "train_loss").sort_values("tokens")
    assert len(train) == 13 and train["tokens"].iloc[-1] == 99_695
    assert train["value"].iloc[0] == pytest.approx(10.343668937683105)
    assert len(_point(points, run, "val_loss")) == 2


def test_t5_flags_and_left_out_columns(tables, points):
    ppl = points[(points["collection"] == "t5-pile") & (points["metric"] == "r_denoiser/ppl")]
    assert ppl["value"].between(1.0, 1.9).all()
    assert _excl(tables, "aggregated_eval/t5_pile.csv", "val_perplexity")["action"] == "flagged"
    assert _excl(tables, "aggregated_eval/t5_pile.csv", "accuracy")["action"] == "dropped"
    assert not points["metric"].isin(["accuracy", "loss", "cross_ent_loss"]).any()
    for size in ("base", "large", "xl", "xxl"):
        e = _excl(tables, f"raw_data/t5_pile/{size}/inference_eval/pile_r_denoiser-metrics.jsonl",
                  "step, perplexity")
        assert e["action"] == "dropped" and "identical" in e["reason"]


def test_moduleformer_sheet_dedup_and_tokens(tables, points):
    dup = _excl(tables, "aggregated_eval/LLMs - 0-shot.csv", "rows also in IBM_MoE.csv")
    assert dup["n_rows"] == 67
    run = "colpret/moduleformer/ST-k2/pile-gpt2"
    wiki = _point(points, run, "wikitext/ppl").sort_values("tokens")
    assert list(wiki["tokens"]) == [parse_count(t) for t in
                                    ("64B", "95B", "130B", "165B", "185B", "200B", "239B", "275B",
                                     "310B", "350B")]
    assert wiki["value"].iloc[0] == pytest.approx(18.6648)
    hella = _point(points, run, "hellaswag/acc").sort_values("tokens")
    assert hella["value"].iloc[0] == pytest.approx(0.3452)
    h1 = tables.runs.set_index("run_id").loc["colpret/moduleformer/h1-k4/pile-codegen_shuffled"]
    assert h1["params"] == 700e6  # effective (active) parameters


def test_duplicate_sources_left_out(tables):
    over = _excl(tables, "raw_data/overtrain/overtrain_downstreams.csv", "whole file")
    assert over["action"] == "dropped" and over["n_rows"] == 104
    conv = _excl(tables, "aggregated_eval/graph_extracted/2310.16764_ConvNets_match.csv", "whole file")
    assert conv["action"] == "dropped" and "F7_wide" in conv["reason"]
    assert not tables.runs["run_id"].str.contains("overtrain").any()


# ---------------------------------------------------------------------------- helpers
@pytest.mark.parametrize("text, value", [("2.8B", 2.8e9), ("125m", 125e6), ("64B", 64e9),
                                         ("1.25T", 1.25e12), ("350M", 350e6), ("4178368", 4178368.0),
                                         (85, 85.0)])
def test_parse_count(text, value):
    assert parse_count(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["Pile", "?", "", "1.2x", float("nan")])
def test_parse_count_rejects(text):
    with pytest.raises(ValueError, match="not a count"):
        parse_count(text)


def test_pickle_check_rejects_foreign_globals():
    bad = pickle.dumps(os.system, protocol=4)
    with pytest.raises(ValueError, match="only numpy/pandas"):
        check_pickle_globals(bad, "evil.pkl")
    good = pickle.dumps(pd.Series([1.0, 2.0]), protocol=4)
    found = check_pickle_globals(good, "ok.pkl")
    assert any(module.startswith("pandas") for module, _ in found)


def test_summed_rows_detects_doubled_block():
    steps = np.arange(100)
    loss = 3.0 - 0.005 * steps
    loss[40:51] *= 2
    frame = pd.DataFrame({"a/CrossEntropyLoss": loss, "b/CrossEntropyLoss": loss + 0.5})
    flagged = summed_rows(frame, list(frame.columns))
    assert list(np.flatnonzero(flagged)) == list(range(40, 51))
    assert not summed_rows(frame.iloc[:40], list(frame.columns)).any()
    assert math.isclose(loss[39], 3.0 - 0.195)
