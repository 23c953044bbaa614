"""The single-folder ingesters: schema, units, provenance, every file accounted for, known values.

Each ingester runs once per module on ``../shared/data/<folder>`` (or ``$SCALING_DATA_DIR``); the
reference values come from the papers / the data survey (``shared/reference/data-notes.md``).
"""
from __future__ import annotations

import importlib
import json

import numpy as np
import pandas as pd
import pytest

from datasets import manifest as mf
from datasets.schema import POINT_COLUMNS, RUN_COLUMNS, SPLITS, UNITS

SOURCES = ["pythia", "overtrain", "gemstones", "chinchilla-epoch", "revisiting", "laion-clip-mammut",
           "obsscaling", "steplaw"]
ACTIONS = {"dropped", "converted", "flagged", "deduplicated"}


def module(source: str):
    return importlib.import_module(f"datasets.sources.{source.replace('-', '_')}")


@pytest.fixture(scope="module")
def ingested(data_dir):
    cache = {}

    def get(source: str):
        if source not in cache:
            cache[source] = module(source).ingest(data_dir / source)
        return cache[source]
    return get


def final(points: pd.DataFrame, run_id: str, metric: str) -> float:
    rows = points[(points["run_id"] == run_id) & (points["metric"] == metric)]
    assert len(rows), f"no {metric} for {run_id}"
    return float(rows.sort_values(["tokens", "step"]).iloc[-1]["value"])


# ------------------------------------------------------------------------------------------------
# contracts every ingester keeps
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("source", SOURCES)
def test_tables_follow_the_schema(ingested, source):
    t = ingested(source)
    assert list(t.runs.columns) == list(RUN_COLUMNS)
    assert list(t.points.columns) == list(POINT_COLUMNS)
    for df, cols in ((t.runs, RUN_COLUMNS), (t.points, POINT_COLUMNS)):
        for col, sqltype in cols.items():
            if sqltype == "DOUBLE":
                assert df[col].dtype == "float64", f"{source}: {col} is {df[col].dtype}"
    runs, pts = t.runs, t.points
    assert runs["run_id"].is_unique
    assert runs["run_id"].str.startswith(f"{source}/").all()
    assert runs["family"].str.startswith(f"{source}/").all()
    assert (runs["source"] == source).all()
    assert runs[["repo", "commit", "licence", "paper", "file"]].notna().all().all()
    assert pts["run_id"].isin(runs["run_id"]).all()
    assert runs["run_id"].isin(pts["run_id"]).all(), "a run without points"
    assert list(runs["run_id"]) == sorted(runs["run_id"])
    assert list(pts["run_id"]) == sorted(pts["run_id"])


@pytest.mark.parametrize("source", SOURCES)
def test_units_splits_and_values_are_valid(ingested, source):
    runs, pts = ingested(source).runs, ingested(source).points
    assert pts["split"].isin(SPLITS).all()
    assert pts["unit"].isin(UNITS).all()
    assert pts["metric"].notna().all() and pts["higher_is_better"].notna().all()
    assert np.isfinite(pts["value"]).all()
    se = pts["stderr"].dropna()
    assert np.isfinite(se).all() and (se >= 0).all()
    for col in ("tokens", "flops"):
        v = pts[col].dropna()
        assert (v > 0).all() and np.isfinite(v).all(), f"{source}: points.{col}"
    for col in ("params", "tokens", "flops"):
        v = runs[col].dropna()
        assert (v > 0).all() and np.isfinite(v).all(), f"{source}: runs.{col}"
    acc = pts.loc[pts["unit"].isin(["accuracy", "error"]), "value"]
    assert ((acc >= 0) & (acc <= 1)).all(), f"{source}: accuracy/error outside [0, 1]"
    assert not pts.duplicated(["run_id", "metric", "tokens", "step"]).any()
    assert all(json.loads(e) is not None for e in runs["extra"].dropna())


@pytest.mark.parametrize("source", SOURCES)
def test_every_file_is_read_or_recorded_as_left_out(ingested, source):
    t = ingested(source)
    files = {f.path for f in mf.load().get(source).files}
    left_out = {e["file"] for e in t.exclusions if e["what"] == "whole file" and e["action"] == "dropped"}
    assert set(t.rows_read) <= files
    assert files == set(t.rows_read) | left_out
    assert not set(t.rows_read) & left_out
    for e in t.exclusions:
        assert e["action"] in ACTIONS and e["reason"] and e["what"] and e["n_rows"] >= 0


@pytest.mark.parametrize("source", ["chinchilla-epoch", "revisiting", "steplaw", "obsscaling"])
def test_ingest_is_deterministic(ingested, data_dir, source):
    a, b = ingested(source), module(source).ingest(data_dir / source)
    pd.testing.assert_frame_equal(a.runs, b.runs)
    pd.testing.assert_frame_equal(a.points, b.points)
    assert a.exclusions == b.exclusions and a.rows_read == b.rows_read


# ------------------------------------------------------------------------------------------------
# per-source facts
# ------------------------------------------------------------------------------------------------
def test_pythia_runs_tokens_and_shots(ingested):
    t = ingested("pythia")
    runs, pts = t.runs.set_index("run_id"), t.points
    assert len(runs) == 43 and len(pts) == 129_322
    fam = runs.groupby("family")["params"].nunique()
    assert fam["pythia/pythia"] == 7 and fam["pythia/pythia-deduped"] == 8
    assert set(fam.index) >= {"pythia/opt-evals", "pythia/bloom-evals", "pythia/intervention", "pythia/bs-0.5M"}
    assert runs.loc["pythia/pythia-12b", "params"] == 11_846_072_320
    v1 = runs[runs["collection"] == "pythia-v1"]
    assert (v1["tokens"] == 143_000 * 2_097_152).all()          # every suite run ends at ~299.9B tokens
    own = pts[pts["run_id"] == "pythia/pythia-160m/bs-0.5M"]
    assert (own["tokens"] == own["step"] * 524_288).all()
    std = pts[pts["run_id"] == "pythia/pythia-160m"]
    assert (std["tokens"] == std["step"] * 2_097_152).all() and std["step"].min() > 0
    # zero-shot files named -5shot are trusted by config.num_fewshot
    bf16 = pts[pts["run_id"] == "pythia/pythia-1b/bf16"]
    assert bf16.loc[bf16["metric"].str.endswith("@0shot"), "step"].nunique() == 26
    assert bf16.loc[bf16["metric"].str.endswith("@5shot"), "step"].nunique() == 15
    assert runs.loc["pythia/opt/opt-13b", "tokens"] == 180e9 and np.isnan(
        pts.loc[pts["run_id"] == "pythia/opt/opt-13b", "step"]).all()
    units = pts.groupby(pts["metric"].str.split("/").str[1].str.split("@").str[0])["unit"].unique()
    assert list(units["ppl"]) == ["perplexity"] and list(units["pct_stereotype"]) == ["score"]
    assert list(units["acc"]) == ["accuracy"] and list(units["acc_norm"]) == ["accuracy"]


def test_pythia_crows_pairs_bias_rises_with_size(ingested):
    pts = ingested("pythia").points
    metric = "crows_pairs_english/pct_stereotype@0shot"
    small, large = final(pts, "pythia/pythia-70m-deduped", metric), final(pts, "pythia/pythia-12b-deduped", metric)
    assert small == pytest.approx(0.554, abs=1e-3) and large == pytest.approx(0.637, abs=1e-3)
    assert not pts.loc[pts["metric"] == metric, "higher_is_better"].any()


def test_overtrain_runs_losses_and_task_metadata(ingested, data_dir):
    t = ingested("overtrain")
    runs, pts = t.runs.set_index("run_id"), t.points
    models = runs[runs["family"] != "overtrain/hparam-grid"]
    assert len(models) == 104
    assert models["family"].value_counts().to_dict() == {
        "overtrain/rpj": 35, "overtrain/rw_original": 35, "overtrain/c4_original": 34}
    assert (runs["family"] == "overtrain/hparam-grid").sum() == 435
    r = runs.loc["overtrain/rpj-d=1024_l=24_h=8-1.0"]
    assert r["params"] == 411_616_256 and r["tokens"] == 20 * r["params"]
    assert r["flops"] == pytest.approx(6 * r["params"] * r["tokens"], rel=1e-12)
    mp = pts[pts["run_id"].isin(models.index)]
    loss = mp[mp["split"] == "validation"]
    assert (loss.groupby("run_id")["metric"].nunique() == 8).all() and (loss["unit"] == "nats").all()
    assert (loss["stderr"] > 0).all() and (loss["stderr"] < 0.03 * loss["value"]).all()
    down = mp[mp["split"] == "downstream"]
    assert (down.groupby("run_id")["metric"].nunique() == 46).all()
    meta = module("overtrain").task_metadata(data_dir / "overtrain")
    assert len(meta) == 51 and meta["task"].is_unique
    assert meta["random_baseline"].between(0, 1).all()
    assert set(down["metric"]) <= set(meta["metric"])
    assert meta.set_index("task").loc["mmlu_zeroshot", "random_baseline"] == pytest.approx(0.25)


def test_gemstones_families_and_checkpoints(ingested, data_dir):
    t = ingested("gemstones")
    runs, pts = t.runs.set_index("run_id"), t.points
    counts = runs["family"].value_counts()
    assert counts["gemstones/hot"] == 22 and counts["gemstones/cool-end"] == 199
    assert counts["gemstones/cool-begin"] == 20 and counts["gemstones/lr-ablation"] == 20
    hot = pts[pts["run_id"].str.startswith("gemstones/hot/")]
    val = hot[hot["metric"] == "val_loss"]
    assert (val.groupby("run_id").size() == 175).all()
    assert (val["tokens"] == val["step"] * 4_194_304).all() and val["tokens"].max() == 350_119_526_400
    lighteval = hot[hot["split"] == "downstream"]
    assert lighteval["metric"].nunique() == 9 and len(lighteval) == 9 * 770 and lighteval["stderr"].notna().all()
    assert lighteval["step"].max() == 83_475          # 'main' checkpoints map to the final step
    end = pts[pts["run_id"].str.startswith("gemstones/cool-end/")]
    assert end.groupby("run_id").size().max() == 1
    dropped = {e["file"] for e in t.exclusions if e["what"] == "whole file"}
    assert "wandb_dfs/wandb_df_for_fitting_hot_477.jsonl" in dropped
    assert "wandb_dfs/wandb_df_for_fitting_slim_chinchilla.jsonl" in dropped
    fits = module("gemstones").reference_fits(data_dir / "gemstones")
    assert {"exponents[0]", "irreducible_error", "coef[0]"} <= set(fits["name"]) and np.isfinite(fits["value"]).all()


def test_chinchilla_epoch_points_and_outliers(ingested):
    t = ingested("chinchilla-epoch")
    runs, pts = t.runs, t.points
    assert len(runs) == 245 and len(pts) == 245
    assert runs["tokens"].to_numpy() == pytest.approx((runs["flops"] / (6 * runs["params"])).to_numpy(), rel=1e-12)
    outlier = runs["extra"].map(lambda e: json.loads(e).get("epoch_outlier", False))
    assert outlier.sum() == 5
    loss = pts.set_index("run_id")["value"]
    assert set(loss.nlargest(5).index) == set(runs.loc[outlier, "run_id"])
    assert [e["n_rows"] for e in t.exclusions if e["what"] == "5 highest-loss runs"] == [5]


def test_revisiting_dedup_curves_and_heldout(ingested, data_dir):
    t = ingested("revisiting")
    runs, pts = t.runs, t.points
    assert len(runs) == 92 and runs["family"].nunique() == 24
    assert len(pts) == 1399 - 687 + 18883
    assert [e["n_rows"] for e in t.exclusions if e["action"] == "deduplicated"] == [687]
    by_domain = runs["extra"].map(lambda e: json.loads(e)["domain"]).value_counts().to_dict()
    assert by_domain == {"IC": 72, "BB": 10, "LM": 5, "NMT": 5}
    units = pts.groupby(pts["run_id"].str.split("/").str[1].str.split("-").str[0])["unit"].unique()
    assert list(units["ic"]) == ["error"] and list(units["lm"]) == ["other"] and list(units["nmt"]) == ["other"]
    held = module("revisiting").heldout_table(data_dir / "revisiting")
    assert len(held) == len(pts) and held["training"].any() and (~held["training"]).any()
    keyed = held.merge(pts, on=["run_id", "metric", "tokens"], how="left", validate="one_to_one")
    assert keyed["value"].notna().all()


def test_laion_runs_and_clip_mammut_crossover(ingested):
    t = ingested("laion-clip-mammut")
    runs, pts = t.runs, t.points
    assert len(runs) == 1431
    assert runs["family"].value_counts().to_dict() == {"laion-clip-mammut/mammut": 850, "laion-clip-mammut/clip": 581}
    assert runs["extra"].map(lambda e: {"lr", "warmup", "global_batch_size"} <= set(json.loads(e))).all()
    miou = pts[pts["metric"] == "ade20k/miou"]
    arch = miou["run_id"].str.split("/").str[1]
    low, high = miou["flops"] < 10 ** 17.5, miou["flops"].between(10 ** 20.5, 10 ** 21)
    best_low = miou[low].groupby(arch[low])["value"].max()
    best_high = miou[high].groupby(arch[high])["value"].max()
    assert best_low["clip"] == pytest.approx(0.226, abs=1e-3) and best_low["mammut"] == pytest.approx(0.198, abs=1e-3)
    assert best_high["mammut"] == pytest.approx(0.483, abs=1e-3) and best_high["clip"] == pytest.approx(0.469, abs=1e-3)
    caption = pts[pts["metric"] == "train_caption_loss"]
    assert caption["run_id"].str.startswith("laion-clip-mammut/mammut/").all() and len(caption) == 850


def test_obsscaling_truthfulqa_falls_with_pythia_size(ingested):
    t = ingested("obsscaling")
    runs, pts = t.runs, t.points
    assert (runs["collection"] == "base").sum() == 148
    assert runs.loc[runs["collection"] == "base", "tokens"].isna().sum() == 25
    small = final(pts, "obsscaling/EleutherAI/pythia-70m-deduped", "TruthfulQA")
    large = final(pts, "obsscaling/EleutherAI/pythia-12b-deduped", "TruthfulQA")
    assert small == pytest.approx(0.475, abs=1e-3) and large == pytest.approx(0.330, abs=1e-3)
    r = runs.set_index("run_id").loc["obsscaling/meta-llama/Llama-2-7b-hf"]
    assert (r["params"], r["tokens"], r["flops"]) == pytest.approx((7e9, 2e12, 84e21))
    assert {"leaderboard_bbh", "arithmetic_2da_2_acc"} <= set(pts["metric"])
    dropped = {e["file"] for e in t.exclusions if e["what"] == "whole file"}
    assert dropped == {"eval_results/base_llm_benchmark_eval_sub_10b.csv"}


def test_steplaw_dense_and_moe(ingested):
    t = ingested("steplaw")
    runs, pts = t.runs, t.points
    assert runs["family"].value_counts().to_dict() == {
        "steplaw/dense": 1911, "steplaw/moe-1in89": 180, "steplaw/moe-2in88": 180, "steplaw/moe-1in8": 174,
        "steplaw/moe-3in8": 174}
    assert set(pts["metric"]) == {"train_loss", "train_loss_smoothed"} and (pts["split"] == "train").all()
    dense = runs[runs["family"] == "steplaw/dense"]
    extra = dense["extra"].map(json.loads)
    tokens = extra.map(lambda e: e["ti"] * e["bs"] * 2048)
    assert np.allclose(tokens, dense["tokens"], rtol=0.01)
    assert extra.map(lambda e: e["lr"] > 0).all()
    assert {e["file"] for e in t.exclusions if e["what"] == "whole file"} == {
        "data/1004_fitted_lr_bs_scaling_model_parameters.csv"}
