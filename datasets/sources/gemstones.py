"""Ingest ``gemstones``: mcleish7/gemstone-scaling-laws (McLeish et al. 2025, arXiv 2502.06857).

22 Gemma-style width x depth models (``PyGemma-<width>x<depth>``) trained to 350B tokens at
2,048 x 2,048 = 4,194,304 tokens per step. The ``wandb_dfs/`` files are overlapping views of the same
W&B logs, so exactly one file is used per family and the others are recorded as subsets:

* ``gemstones/hot``: ``wandb_df_for_fitting_hot_100b+_477``, 22 curves, every 477 steps to 350B tokens;
* ``gemstones/cool-end``: ``wandb_df_for_fitting_cool_end``, 199 cooled runs (one final point each);
* ``gemstones/cool-begin``: ``wandb_df_for_fitting_cool_begin``, 20 curves (the cooldown start points);
* ``gemstones/lr-ablation``: ``wandb_df_for_fitting_lr_ablation_hot_477``, 20 curves to 100B tokens;
* ``gemstones/public-<series>``: ``data/our_val_loss_data.json``, 21 public models (final only).

* ``final_loss`` is the validation loss at that step (per upstream's ``wandb_data_extraction.py``),
  cross-entropy in nats: metric ``val_loss``. N = ``params_active_precise`` (embeddings included; the
  upstream ``*_no_embeds`` fits subtract them), D = the file's ``tokens``, C = 6 N D.
* A cool-end run is a branch of the hot run cooled for 10% more steps from a cool-begin step; each
  branch is its own run (``.../from<step>``), a final point.
* The hot runs also get, per published checkpoint (every 2,385 steps and ``main`` = step 83,475):
  ``fineweb_edu/loss`` and ``dclm/loss`` (``benchmarks/*_combined.jsonl``), ``fineweb/loss``
  (``other_validation_losses/fineweb_losses``, 4 checkpoints) and nine lighteval accuracies
  ``<task>/acc`` with their standard errors (``benchmarks/light_eval_df*.parquet``).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from datasets.sources import SourceTables
from datasets.sources._common import Provenance, clean_extra, drop_file, finish, numeric

SOURCE = "gemstones"
TOKENS_PER_STEP = 2048 * 2048
WANDB = "wandb_dfs/wandb_df_for_fitting_{}.jsonl"
HOT, COOL_END, COOL_BEGIN, LR_ABLATION = "hot_100b+_477", "cool_end", "cool_begin", "lr_ablation_hot_477"
#: variant files left out -> the file they are a subset of
SUBSETS = {"hot": HOT, "hot_100b+": HOT, "hot_477": HOT, "hot_120b+_only": HOT, "hot_120b+_only_477": HOT,
           "hot_100b+_512x": HOT, "lr_ablation_hot": LR_ABLATION}
SUBSAMPLES = ("hot_sampled_like_chinchilla", "lr_ablation_hot_sampled_like_chinchilla", "slim_chinchilla",
              "lr_ablation_slim_chinchilla")
COMBINED = {"fineweb_edu": "benchmarks/fineweb_edu_losses_combined.jsonl",
            "dclm": "benchmarks/fineweb_dclm_losses_combined.jsonl"}
LIGHTEVAL, LIGHTEVAL_ERR = "benchmarks/light_eval_df.parquet", "benchmarks/light_eval_df_err.parquet"
PUBLIC = "data/our_val_loss_data.json"
_MODEL = re.compile(r"^(?:cooler_)?PyGemma-(\d+x\d+)_pretrain$")
_CHECKPOINT = re.compile(r"^(?:(Gemstone-\d+x\d+)-)?(main|step_(\d+))$")


def _read_wandb(folder: Path, variant: str, tables: SourceTables) -> pd.DataFrame:
    path = WANDB.format(variant)
    df = pd.read_json(folder / path, lines=True)
    tables.rows_read[path] = len(df)
    for col in ("params_active_precise", "tokens", "step", "final_loss"):
        df[col] = numeric(df[col], path, col)
    if df["run_name"].map(lambda s: _MODEL.match(s) is None).any():
        bad = df.loc[df["run_name"].map(lambda s: _MODEL.match(s) is None), "run_name"].iloc[0]
        raise ValueError(f"{path}: unexpected run_name {bad!r}")
    df["shape"] = df["run_name"].str.extract(_MODEL, expand=False)
    return df


def _curve_runs(df: pd.DataFrame, family: str, prov: Provenance, path: str, notes: str) -> pd.DataFrame:
    """One run per model of a W&B frame; ``run_id = <family>/<width>x<depth>``."""
    first = df.groupby("shape", sort=True).first()
    return pd.DataFrame([dict(run_id=f"{family}/{shape}", collection=family.split("/")[1], family=family,
                              model=f"Gemstone-{shape}", arch="dec", params=r.params_active_precise,
                              data="Gemstones pre-training mix", notes=notes,
                              extra=clean_extra(dict(width=r.width, depth=r.depth, num_nodes=r.num_nodes,
                                                     seconds_per_step=r.seconds_per_step,
                                                     wandb_run=r.run_name)),
                              **prov.run_fields(path))
                         for shape, r in first.iterrows()])


def _loss_points(df: pd.DataFrame, run_id: pd.Series, metric: str = "val_loss") -> pd.DataFrame:
    return pd.DataFrame({"run_id": run_id.values, "step": df["step"].values, "tokens": df["tokens"].values,
                         "flops": 6.0 * df["params_active_precise"].values * df["tokens"].values,
                         "metric": metric, "split": "validation", "unit": "nats",
                         "value": df["final_loss"].values, "stderr": np.nan, "higher_is_better": False})


def ingest(folder: Path) -> SourceTables:
    """Read the Gemstones curves, cooldown and LR-ablation runs, benchmarks and public-model losses."""
    folder = Path(folder)
    prov = Provenance.of(folder)
    tables = SourceTables(runs=pd.DataFrame(), points=pd.DataFrame())
    hot = _read_wandb(folder, HOT, tables)
    if (hot["tokens"] != hot["step"] * TOKENS_PER_STEP).any():
        raise ValueError(f"{WANDB.format(HOT)}: tokens != step x {TOKENS_PER_STEP}")
    runs = [_curve_runs(hot, "gemstones/hot", prov, WANDB.format(HOT),
                        "hot (no cooldown) validation-loss curve every 477 steps to 350B tokens; D = step x "
                        "4,194,304; C = 6ND with N = params_active_precise (incl. embeddings)")]
    points = [_loss_points(hot, "gemstones/hot/" + hot["shape"])]

    lr = _read_wandb(folder, LR_ABLATION, tables)
    runs.append(_curve_runs(lr, "gemstones/lr-ablation", prov, WANDB.format(LR_ABLATION),
                            "learning-rate ablation (upstream run names prefixed cooler_), hot curve every 477 "
                            "steps to 100B tokens; C = 6ND"))
    points.append(_loss_points(lr, "gemstones/lr-ablation/" + lr["shape"]))

    begin = _read_wandb(folder, COOL_BEGIN, tables)
    runs.append(_curve_runs(begin, "gemstones/cool-begin", prov, WANDB.format(COOL_BEGIN),
                            "hot-run validation loss at the steps where the cooldown branches start; C = 6ND"))
    points.append(_loss_points(begin, "gemstones/cool-begin/" + begin["shape"]))
    _compare_begin(tables, begin, hot)

    end = _read_wandb(folder, COOL_END, tables)
    if not (end["run_name"].to_numpy() == begin["run_name"].to_numpy()).all():
        raise ValueError(f"{WANDB.format(COOL_END)} and {WANDB.format(COOL_BEGIN)} rows are not paired")
    end["from_step"] = begin["step"].to_numpy()
    end_ids = "gemstones/cool-end/" + end["shape"] + "/from" + end["from_step"].astype("int64").astype(str)
    runs.append(pd.DataFrame([dict(run_id=rid, collection="cool-end", family="gemstones/cool-end",
                                   model=f"Gemstone-{r.shape} cooled from step {int(r.from_step)}", arch="dec",
                                   params=r.params_active_precise, data="Gemstones pre-training mix",
                                   notes="branch of the hot run from the cool-begin step, cooled down over 10% more "
                                         "steps; final validation loss; C = 6ND",
                                   extra=clean_extra(dict(width=r.width, depth=r.depth,
                                                          cooldown_from_step=int(r.from_step),
                                                          trunk=f"gemstones/hot/{r.shape}", wandb_run=r.run_name)),
                                   **prov.run_fields(WANDB.format(COOL_END)))
                              for rid, r in zip(end_ids, end.itertuples())]))
    points.append(_loss_points(end, end_ids))

    final_step = hot.groupby("shape")["step"].max()
    points += _benchmarks(folder, prov, tables, hot, final_step)
    public_runs, public_points = _public(folder, prov, tables)
    runs.append(public_runs)
    points.append(public_points)
    _record(tables, prov, folder, hot, lr)

    runs = pd.concat(runs, ignore_index=True)
    points = pd.concat(points, ignore_index=True)
    last = points.groupby("run_id")["tokens"].max()
    runs["tokens"] = runs["run_id"].map(last)
    runs["flops"] = 6.0 * runs["params"] * runs["tokens"]
    return finish(tables, prov, runs, points)


def _compare_begin(tables: SourceTables, begin: pd.DataFrame, hot: pd.DataFrame) -> None:
    m = begin.merge(hot[["run_name", "step", "final_loss"]], on=["run_name", "step"], how="left",
                    suffixes=("", "_hot"))
    both = m["final_loss_hot"].notna()
    same = both & np.isclose(m["final_loss"], m["final_loss_hot"], rtol=0, atol=1e-5)
    differ = m.loc[both & ~same]
    tables.exclude(WANDB.format(COOL_BEGIN), "cool-begin points", "flagged",
                   f"kept as family gemstones/cool-begin (what the upstream cool_begin fits use): {int(same.sum())} of "
                   f"{len(m)} equal the hot curve at the same step; {len(differ)} differ by up to "
                   f"{differ.eval('abs(final_loss - final_loss_hot)').max():.3f} nats "
                   f"({', '.join(sorted(differ['shape'].unique()))}); {int((~both).sum())} are at steps the hot "
                   f"file does not log", len(differ) + int((~both).sum()))


def _step(label: str, final_step: float, file: str) -> float:
    """Step of a checkpoint label ``[Gemstone-WxD-]main|step_XXXXXXXX`` (``main`` -> ``final_step``)."""
    m = _CHECKPOINT.match(label)
    if not m:
        raise ValueError(f"{file}: unexpected checkpoint label {label!r}")
    return float(final_step) if m.group(2) == "main" else float(m.group(3))


def _model_checkpoints(folder: Path, path: str, final_step: pd.Series) -> tuple[str, list[tuple[float, float]]]:
    """(shape, [(step, loss)]) of a per-model ``other_validation_losses/*/Gemstone-WxD.json``."""
    doc = json.loads((folder / path).read_text(encoding="utf-8"))
    shape = path.rsplit("/", 1)[1].removeprefix("Gemstone-").removesuffix(".json")
    if shape not in final_step.index:
        raise ValueError(f"{path}: model {shape!r} has no hot run")
    return shape, [(_step(k, final_step[shape], path), float(v)) for k, v in doc.items()]


def _benchmarks(folder: Path, prov: Provenance, tables: SourceTables, hot: pd.DataFrame,
                final_step: pd.Series) -> list[pd.DataFrame]:
    params = hot.groupby("shape")["params_active_precise"].first()
    out = []

    def frame(shape, step, metric, split, unit, value, stderr, hib):
        shape, step = pd.Series(shape), pd.Series(step, dtype="float64")
        unknown = sorted(set(shape) - set(params.index))
        if unknown:
            raise ValueError(f"{metric}: checkpoints of models without a hot run: {unknown}")
        tokens = step.values * TOKENS_PER_STEP
        return pd.DataFrame({"run_id": ("gemstones/hot/" + shape).values, "step": step.values, "tokens": tokens,
                             "flops": 6.0 * shape.map(params).values * tokens, "metric": metric, "split": split,
                             "unit": unit, "value": np.asarray(value, dtype="float64"),
                             "stderr": np.asarray(stderr, dtype="float64"), "higher_is_better": hib})

    for name, path in COMBINED.items():
        df = pd.read_json(folder / path, lines=True)
        tables.rows_read[path] = len(df)
        shape = df["run_name"].str.removeprefix("Gemstone-")
        step = numeric(df["step"], path, "step")
        if (numeric(df["tokens"], path, "tokens") != step * TOKENS_PER_STEP).any():
            raise ValueError(f"{path}: tokens != step x {TOKENS_PER_STEP}")
        out.append(frame(shape, step, f"{name}/loss", "validation", "nats",
                         numeric(df["final_loss"], path, "final_loss"), np.nan, False))
        _per_model_duplicates(folder, prov, tables, name, df.assign(shape=shape, step=step), final_step)

    rows = []
    for path in [f for f in prov.files if f.startswith("other_validation_losses/fineweb_losses/")]:
        shape, pairs = _model_checkpoints(folder, path, final_step)
        tables.rows_read[path] = len(pairs)
        rows += [(shape, step, loss) for step, loss in pairs]
    out.append(frame([r[0] for r in rows], [r[1] for r in rows], "fineweb/loss", "validation", "nats",
                     [r[2] for r in rows], np.nan, False))

    acc, err = pd.read_parquet(folder / LIGHTEVAL), pd.read_parquet(folder / LIGHTEVAL_ERR)
    tables.rows_read[LIGHTEVAL], tables.rows_read[LIGHTEVAL_ERR] = len(acc), len(err)
    if not (acc.index.equals(err.index) and list(acc.columns) == list(err.columns)):
        raise ValueError(f"{LIGHTEVAL} and {LIGHTEVAL_ERR} do not share rows and columns")
    labels = acc.index.to_series().str.extract(_CHECKPOINT)
    if labels[1].isna().any():
        raise ValueError(f"{LIGHTEVAL}: unexpected checkpoint label {acc.index[labels[1].isna()][0]!r}")
    shape = labels[0].str.removeprefix("Gemstone-")
    step = [_step(label, final_step.get(sh, np.nan), LIGHTEVAL) for label, sh in zip(acc.index, shape)]
    for task in acc.columns:
        out.append(frame(shape, step, f"{task}/acc", "downstream", "accuracy",
                         numeric(acc[task], LIGHTEVAL, task), numeric(err[task], LIGHTEVAL_ERR, task), True))
    tables.exclude(LIGHTEVAL, "accuracies", "flagged",
                   "lighteval's reported accuracy per task (whether length-normalised is not stated); stored as "
                   "<task>/acc with the standard errors of light_eval_df_err.parquet", len(acc) * acc.shape[1])
    tables.exclude("benchmarks", "checkpoint 'main'", "converted",
                   "the released final checkpoint 'main' is step 83,475 (350B tokens), the last step of the hot "
                   "curves (the per-model JSONs confirm it against the combined files)")
    return out


def _per_model_duplicates(folder: Path, prov: Provenance, tables: SourceTables, name: str, combined: pd.DataFrame,
                          final_step: pd.Series) -> None:
    """Leave out ``other_validation_losses/<name>_losses/*.json`` after checking they equal the combined file."""
    want = dict(zip(zip(combined["shape"], combined["step"]), combined["final_loss"]))
    for path in [f for f in prov.files if f.startswith(f"other_validation_losses/{name}_losses/")]:
        shape, pairs = _model_checkpoints(folder, path, final_step)
        if any(abs(want.get((shape, step), np.inf) - loss) > 1e-9 for step, loss in pairs):
            raise ValueError(f"{path}: differs from {COMBINED[name]}")
        drop_file(tables, path, f"identical (to 1e-9) to the rows of {COMBINED[name]}, which is read instead",
                  len(pairs))


def _public(folder: Path, prov: Provenance, tables: SourceTables) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The 21 public models' loss on the Gemstones validation set (final models, D unknown)."""
    doc = json.loads((folder / PUBLIC).read_text(encoding="utf-8"))
    df = pd.DataFrame(doc)
    tables.rows_read[PUBLIC] = len(df)
    for col in ("loss", "params", "non_emb_params", "width", "depth", "vocab_size"):
        df[col] = numeric(df[col], PUBLIC, col)
    name = df["hf_name"].str.split("/").str[-1]
    series = name.str.replace(r"-[0-9.]+[bB](-hf)?$", "", regex=True)
    ids = "gemstones/public/" + df["hf_name"]
    runs = pd.DataFrame({"run_id": ids, "collection": "public", "family": "gemstones/public-" + series.str.lower(),
                         "model": df["hf_name"], "arch": "dec", "params": df["params"],
                         "notes": "final released model evaluated on the Gemstones validation set; per-token loss "
                                  "under the model's own tokenizer (vocab_size in extra), so not comparable across "
                                  "tokenizers; training tokens not given",
                         "extra": [clean_extra(dict(non_emb_params=r.non_emb_params, width=r.width, depth=r.depth,
                                                    vocab_size=r.vocab_size)) for r in df.itertuples()]})
    for key, value in prov.run_fields(PUBLIC).items():
        runs[key] = value
    points = pd.DataFrame({"run_id": ids, "step": np.nan, "tokens": np.nan, "flops": np.nan, "metric": "val_loss",
                           "split": "validation", "unit": "nats", "value": df["loss"], "stderr": np.nan,
                           "higher_is_better": False})
    return runs, points


def _record(tables: SourceTables, prov: Provenance, folder: Path, hot: pd.DataFrame, lr: pd.DataFrame) -> None:
    key = ["run_name", "step"]
    for variant, parent in SUBSETS.items():
        path = WANDB.format(variant)
        sub = pd.read_json(folder / path, lines=True)
        main = hot if parent == HOT else lr
        m = sub.merge(main[key + ["final_loss"]], on=key, how="left", suffixes=("", "_main"))
        missing = m["final_loss_main"].isna().any()
        if missing or not np.allclose(m["final_loss"], m["final_loss_main"], rtol=0, atol=1e-9):
            raise ValueError(f"{path}: not a subset of {WANDB.format(parent)}")
        drop_file(tables, path, f"every row equals a row of {WANDB.format(parent)} (same run, step and loss), "
                                "which is read instead", len(sub))
    for variant in SUBSAMPLES:
        path = WANDB.format(variant)
        n = sum(1 for _ in open(folder / path, encoding="utf-8"))
        drop_file(tables, path, "Chinchilla-like subsample of the curves (rounded params/tokens, or no run names "
                                "and interpolated params for slim_chinchilla); the full curves are ingested", n)
    drop_file(tables, "data/preflight_mup_olmo_variant.csv",
              "learning-rate preflight: one W&B global loss per (shape, lr) with no step or token count "
              "(several diverged), not a scaling observation", 24)
    for path in prov.files:
        if path.startswith("parameters"):
            drop_file(tables, path, "the authors' fitted law parameters, not observations; available as "
                                    "reference values via gemstones.reference_fits()")
    tables.exclude(WANDB.format(HOT), "flops", "converted", "no FLOPs published: C = 6 N D")
    tables.exclude(PUBLIC, "tokens", "flagged", "public models' training tokens are not given: D and C are NULL")


def reference_fits(folder: Path) -> pd.DataFrame:
    """The authors' fitted law parameters (``parameters*/*.json``) in long form.

    Returns
    -------
    DataFrame with columns ``file`` (local path), ``approach`` (1: linear fit of log optimum vs log
    FLOPs; 3: parametric ``L = E + A/N^a + B/D^b``-style fit), ``fit`` (file stem after the approach
    prefix, e.g. ``grid_search_0_hot_100b+``), ``delta`` (the folder's Huber-delta label, e.g.
    ``delta-3``, or NULL), ``name`` (e.g. ``exponents[1]``, ``irreducible_error``, ``coef[0]``) and
    ``value`` (float64), sorted by file and name. Values are exactly as published.
    """
    folder = Path(folder)
    rows = []
    for path in sorted(p for p in Provenance.of(folder).files if p.startswith("parameters")):
        doc = json.loads((folder / path).read_text(encoding="utf-8"))
        approach = 1 if "approach_1" in path else 3
        stem = path.rsplit("/", 1)[1].removesuffix(".json")
        prefix = r"^approach_[13]_(?:linear_regression_|parameters_|width_depth_parameters_|width_depth_)?"
        fit = re.sub(prefix, "", stem)
        delta = path.split("/")[0].split("_")[1] if "_delta" in path.split("/")[0] else None
        for key, value in doc.items():
            if isinstance(value, dict):          # pandas-style {"0": value}
                value = value["0"]
            if key in ("approach", "label", "success"):
                continue
            values = value if isinstance(value, list) else [value]
            for i, v in enumerate(values):
                rows.append((path, approach, fit, delta,
                             f"{key}[{i}]" if isinstance(value, list) else key, float(v)))
    out = pd.DataFrame(rows, columns=["file", "approach", "fit", "delta", "name", "value"])
    return out.sort_values(["file", "name"], kind="mergesort").reset_index(drop=True)
