"""Ingest ``colpret``: IBM/ColPret, the corpus behind "A Hitchhiker's Guide to Scaling Law Estimation".

ColPret (Choshen, Zhang & Andreas, arXiv 2410.11840) compiles training curves and evaluations of
published models from many papers, each in its own file and its own units. This module reads every
per-source file of the copy in ``shared/data/colpret`` and returns long-form ``runs``/``points``
(:mod:`datasets.schema`). Every unit conversion, flag and omission is recorded with
:meth:`SourceTables.exclude`; the main ones are:

* tokens D: OLMo ``Step x 4e6`` (ColPret's convention), Mamba ``step x 500e9 / 176,703``,
  T5 ``steps x 1e6``, GPT-3 and RedPajama ``x-axis x 1e9``, bimix ``global_step x 524,288``,
  Amber checkpoint index ``i -> (i + 1) x 1.25e12 / 360``, OPT ``10 ** num_token``.
* FLOPs C: taken from the file when it publishes a consistent value (K2, OPT, datablations
  contour), otherwise C = 6 N D (datablations' published column is inconsistent and is replaced).
* percentages (K2, Amber, ModuleFormer sheets) become fractions, so ``unit = accuracy`` is in [0, 1]
  everywhere; BIG-bench scores stay 0-100 with ``unit = score``.
* losses are per-token cross-entropy in nats; perplexities keep ``unit = perplexity``
  (``ln(ppl)`` is nats); bits-per-byte keep ``unit = bits``.

Points at D = 0 (the initialisation) are dropped because every law is fitted in log D. Left out,
with reasons: ColPret's copy of the over-training data (the ``overtrain`` source ingests it from
upstream), the ConvNets digitisation (x-axis in TPU core-hours, y-axis unlabelled), the raw T5
jsonl files (identical to ``t5_pile.csv``), W&B band columns, T5X summed/negative summaries and 11
OLMo-7B-Twin-2T rows that ColPret summed over two overlapping W&B runs.
"""
from __future__ import annotations

import io
import json
import pickletools
import re
from pathlib import Path

import numpy as np
import pandas as pd

from datasets.sources import SourceTables, make_points, make_runs, read_source_txt
from datasets.sources._common import numeric

SOURCE = "colpret"

#: unit -> higher_is_better (``None``: not a quality metric, e.g. a learning rate)
HIGHER_IS_BETTER = {"nats": False, "bits": False, "perplexity": False, "log10_perplexity": False,
                    "accuracy": True, "f1": True, "score": True, "error": False, "lr": None,
                    "other": None}

PAPERS = {
    "olmo": "Groeneveld et al. 2024, OLMo, arXiv 2402.00838",
    "llm360": "Liu et al. 2023, LLM360, arXiv 2312.06550",
    "datablations": "Muennighoff et al. 2023, Scaling Data-Constrained Language Models, arXiv 2305.16264",
    "opt": "Xia et al. 2022, Training Trajectories of Language Models Across Scales, arXiv 2212.09803 "
           "(OPT: Zhang et al. 2022, arXiv 2205.01068)",
    "gpt3": "Brown et al. 2020, Language Models are Few-Shot Learners, arXiv 2005.14165",
    "t5-pile": "EleutherAI 2024, Pile-T5 (blog.eleuther.ai/pile-t5)",
    "redpajama": "Together 2023, RedPajama-INCITE (together.ai/blog/redpajama-models-v1)",
    "bimix": "Ge et al. 2024, Data Mixing Made Efficient: A Bivariate Scaling Law, arXiv 2405.14908",
    "gzip": "Pandey 2024, gzip Predicts Data-dependent Scaling Laws, arXiv 2405.16684",
    "moduleformer": "Shen et al. 2023, ModuleFormer, arXiv 2306.04640",
}

# token conventions (see the module docstring)
OLMO_TOKENS_PER_STEP = 4e6
MAMBA_TOKENS, MAMBA_STEPS = 500e9, 176_703
AMBER_TOKENS, AMBER_CHECKPOINTS = 1.25e12, 360
T5_TOKENS_PER_STEP = 1e6
BIMIX_TOKENS_PER_STEP = 512 * 1024
DIGITISED_TOKEN_UNIT = 1e9

_SUFFIX = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}
_COUNT = re.compile(r"\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmbt]?)\s*", re.IGNORECASE)
_PICKLE_STRINGS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE",
                   "SHORT_BINSTRING", "BINSTRING", "STRING"}
_PICKLE_ALLOWED = ("numpy", "pandas")
_PICKLE_ALLOWED_BUILTINS = {("builtins", "slice")}


# --------------------------------------------------------------------------------------------
# parsing helpers
# --------------------------------------------------------------------------------------------
def parse_count(text: object) -> float:
    """Parse a count such as ``"2.8B"``, ``"125m"``, ``"64B"``, ``"1.25T"`` or ``"4178368"``.

    Suffixes k/m/b/t (any case) multiply by 1e3/1e6/1e9/1e12. Raises ``ValueError`` naming the
    text when it is not a count.
    """
    if isinstance(text, (int, float, np.integer, np.floating)) and not isinstance(text, bool):
        if np.isfinite(text):
            return float(text)
        raise ValueError(f"not a count: {text!r}")
    match = _COUNT.fullmatch(str(text))
    if not match:
        raise ValueError(f"not a count: {text!r}")
    number, suffix = match.groups()
    return float(number) * _SUFFIX.get(suffix.lower(), 1.0)


def _is_count(text: object) -> bool:
    try:
        parse_count(text)
    except ValueError:
        return False
    return True


def _slug(text: str) -> str:
    return re.sub(r"[^0-9a-z.]+", "_", str(text).lower()).strip("_")


def check_pickle_globals(data: bytes, file: str) -> set[tuple[str, str]]:
    """Return the globals a pickle imports; raise ``ValueError`` unless all are numpy/pandas.

    Walks the opcodes with :mod:`pickletools` (nothing is executed). ``STACK_GLOBAL`` takes module
    and name from the two strings pushed before it (directly or through the memo).
    """
    memo: dict[int, object] = {}
    pushed: list[object] = []
    found: set[tuple[str, str]] = set()
    for op, arg, _ in pickletools.genops(data):
        name = op.name
        if name in _PICKLE_STRINGS:
            pushed.append(arg)
        elif name == "MEMOIZE":
            memo[len(memo)] = pushed[-1] if pushed else None
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[arg] = pushed[-1] if pushed else None
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            pushed.append(memo.get(arg))
        elif name == "STACK_GLOBAL":
            module, attr = (pushed[-2], pushed[-1]) if len(pushed) >= 2 else (None, None)
            if not (isinstance(module, str) and isinstance(attr, str)):
                raise ValueError(f"{file}: cannot resolve a STACK_GLOBAL import; refusing to load")
            found.add((module, attr))
            pushed.append(None)
        elif name in ("GLOBAL", "INST"):
            module, attr = arg.split(" ", 1)
            found.add((module, attr))
            pushed.append(None)
        elif name not in ("PROTO", "FRAME", "STOP"):
            pushed.append(None)
    bad = sorted(g for g in found
                 if g[0].split(".")[0] not in _PICKLE_ALLOWED and g not in _PICKLE_ALLOWED_BUILTINS)
    if bad:
        raise ValueError(f"{file}: pickle imports {bad}; only numpy/pandas objects are allowed")
    return found


def _read_safe_pickle(path: Path, file: str):
    data = path.read_bytes()
    check_pickle_globals(data, file)
    return pd.read_pickle(io.BytesIO(data))


# --------------------------------------------------------------------------------------------
# collection state
# --------------------------------------------------------------------------------------------
class _Ingest:
    """Accumulates runs and points for one source folder and records what was read."""

    def __init__(self, folder: Path):
        self.folder = folder
        info = read_source_txt(folder)
        self.repo = info.get("repo")
        self.commit = info.get("commit")
        self.licence = info.get("licence", "").split(". ")[0] or None
        self.tables = SourceTables(runs=pd.DataFrame(), points=pd.DataFrame())
        self.runs: list[dict] = []
        self.points: list[pd.DataFrame] = []

    def exclude(self, file: str, what: str, action: str, reason: str, n_rows: int = 0) -> None:
        self.tables.exclude(file, what, action, reason, n_rows)

    def read_csv(self, file: str, **kwargs) -> pd.DataFrame:
        df = pd.read_csv(self.folder / file, **kwargs)
        self.tables.rows_read[file] = len(df)
        return df

    def count(self, file: str, n_rows: int) -> None:
        self.tables.rows_read[file] = int(n_rows)

    def run(self, **fields) -> None:
        fields.setdefault("source", SOURCE)
        fields.setdefault("repo", self.repo)
        fields.setdefault("commit", self.commit)
        fields.setdefault("licence", self.licence)
        self.runs.append(fields)

    def add(self, frame: pd.DataFrame, file: str) -> None:
        """Add long-form points (run_id, step, tokens, flops, metric, split, unit, value,
        higher_is_better); ``file`` is remembered for per-file exclusion records."""
        self.points.append(frame.assign(_file=file))


def _melt(df: pd.DataFrame, specs: list[tuple[str, str, str, str, float]]) -> pd.DataFrame:
    """Wide -> long. ``df`` has run_id, step, tokens, flops and the spec columns.

    Each spec is ``(column, metric, split, unit, scale)``; empty cells are skipped (absent, not
    excluded); ``value = cell * scale``; ``higher_is_better`` follows the unit.
    """
    values = df[[s[0] for s in specs]].to_numpy(dtype="float64") * np.array([s[4] for s in specs])
    rows, which = np.nonzero(~np.isnan(values))
    label = {name: np.array([s[i] for s in specs], dtype=object)
             for i, name in ((1, "metric"), (2, "split"), (3, "unit"))}
    hib = np.array([HIGHER_IS_BETTER[s[3]] for s in specs], dtype=object)
    out = {c: np.asarray(df[c].to_numpy())[rows] for c in ("run_id", "step", "tokens", "flops")}
    out.update({name: arr[which] for name, arr in label.items()})
    out["value"] = values[rows, which]
    out["higher_is_better"] = hib[which]
    return pd.DataFrame(out)


def _band_columns(df: pd.DataFrame) -> tuple[list[str], int]:
    """W&B ``__MIN``/``__MAX`` band columns and how many of their cells differ from the value."""
    band = [c for c in df.columns if c.endswith(("__MIN", "__MAX"))]
    differ = 0
    for col in band:
        base = col[: -len("__MIN")]
        both = df[col].notna() & df[base].notna()
        differ += int((~np.isclose(df.loc[both, col], df.loc[both, base])).sum())
    return band, differ


def _band_reason(differ: int) -> str:
    return f"W&B smoothing-band bounds, not measurements; {differ} cells differ from the plotted value"


# --------------------------------------------------------------------------------------------
# OLMo
# --------------------------------------------------------------------------------------------
def _olmo_spec(column: str) -> tuple[str, str, str, str, float]:
    match = re.fullmatch(r"downstream/(.+)_(acc|len_norm|f1)", column)
    if match:
        task, kind = match.groups()
        return column, f"{task}/{kind}", "downstream", "f1" if kind == "f1" else "accuracy", 1.0
    domain, kind = column.rsplit("/", 1) if "/" in column else (column, "")
    domain = domain.removesuffix("-validation")
    if kind == "CrossEntropyLoss":
        return column, f"{domain}/ce", "validation", "nats", 1.0
    if kind == "Perplexity":
        return column, f"{domain}/ppl", "validation", "perplexity", 1.0
    raise ValueError(f"aggregated_eval/olmo.csv: unexpected column {column!r}")


def summed_rows(df: pd.DataFrame, columns: list[str], window: int = 41) -> pd.Series:
    """Rows whose losses are ~2x their neighbours': two W&B runs logged the step and were summed.

    ColPret's OLMo aggregation adds the columns of every W&B run in a group, so a step logged by
    two overlapping runs holds the sum. A row is flagged when the median over ``columns`` of
    value / (centred rolling median over ``window`` rows) lies in [1.8, 2.2]. ``df`` must be
    sorted by step within one model.
    """
    local = df[columns].rolling(window, center=True, min_periods=5).median()
    ratio = np.nanmedian((df[columns] / local).to_numpy(dtype="float64"), axis=1)
    return pd.Series((ratio > 1.8) & (ratio < 2.2), index=df.index)


def _olmo(ing: _Ingest) -> None:
    file = "aggregated_eval/olmo.csv"
    df = ing.read_csv(file)
    meta = ["Step", "model_name", "num_params", "checkpoint"]
    specs = [_olmo_spec(c) for c in df.columns if c not in meta]
    df["step"] = numeric(df["Step"], file, "Step")
    df["model_name"] = df["model_name"].str.strip()  # "OLMo-1B " as published
    df = df.sort_values(["model_name", "step"], kind="mergesort")
    summed = pd.concat([summed_rows(g, [c for c in g.columns if c.endswith("/CrossEntropyLoss")
                                        and g[c].notna().any()])
                        for _, g in df.groupby("model_name", sort=True)])
    for model, steps in df.loc[summed, ["model_name", "step"]].groupby("model_name")["step"]:
        ing.exclude(file, f"{model} steps {steps.min():.0f}-{steps.max():.0f}", "dropped",
                    "every metric is ~2x its neighbours (ColPret summed two overlapping W&B runs; "
                    "accuracies exceed 1)", len(steps))
    df = df[~summed]
    df["tokens"] = df["step"] * OLMO_TOKENS_PER_STEP
    df["flops"] = np.nan
    df["run_id"] = "colpret/olmo/" + df["model_name"]
    ing.add(_melt(df, specs), file)
    revision_tokens = df["checkpoint"].str.extract(r"tokens(\d+)B")[0].astype("float64") * 1e9
    ratio = float(np.nanmedian(revision_tokens / df["step"]))
    ing.exclude(file, "Step", "converted",
                f"tokens = Step x {OLMO_TOKENS_PER_STEP:.0f} (ColPret's convention); the HF revision "
                f"names in the checkpoint column imply ~{ratio:.4g} tokens/step (2160 x 2048), so D "
                "may be understated by ~10%", len(df))
    ing.exclude(file, "checkpoint", "dropped",
                "HF revision names; ColPret listed allenai/OLMo-7B branches for every model, so the "
                "OLMo-1B entries do not name OLMo-1B checkpoints", int(df["checkpoint"].notna().sum()))
    for model, group in df.groupby("model_name", sort=True):
        twin = model == "OLMo-7B-Twin-2T"
        ing.run(run_id=f"colpret/olmo/{model}", collection="olmo",
                family="colpret/olmo-twin" if twin else "colpret/olmo", model=model, arch="dec",
                params=parse_count(group["num_params"].iloc[0]), data="dolma",
                paper=PAPERS["olmo"], file=file,
                notes=("Paloma-style validation CE (nats) and perplexity per domain, downstream "
                       "accuracies in [0,1]; tokens = Step x 4e6 (ColPret); params as labelled "
                       "(1B/7B); C = 6ND. " + ("Twin-2T (trained on different hardware) is its own "
                                               "family, as in ColPret's scaled_set." if twin else "")),
                extra={"tokens_per_step": OLMO_TOKENS_PER_STEP})


# --------------------------------------------------------------------------------------------
# LLM360: K2, Amber, Mamba
# --------------------------------------------------------------------------------------------
def _k2(ing: _Ingest) -> None:
    file = "aggregated_eval/K2.csv"
    df = ing.read_csv(file)
    band, differ = _band_columns(df)
    ing.exclude(file, f"{len(band)} W&B __MIN/__MAX columns", "dropped", _band_reason(differ), len(df))
    df = df.drop(columns=band)
    for column in ("tokens_seen", "flops", "k2 training - lm loss"):
        df[column] = numeric(df[column], file, column)
    empty = [c for c in df.columns if df[c].isna().all()]
    ing.exclude(file, ", ".join(empty), "dropped", "columns are empty in this copy", 0)
    df = df.drop(columns=empty)
    df["step"] = np.nan
    df["tokens"] = df["tokens_seen"]
    ing.exclude(file, "Step, index", "dropped",
                "Step is a W&B x-axis, not an optimiser step (not monotone); index is the row "
                "number. tokens_seen (ColPret: row index x 1.4e12 / (rows - 1)) gives D", len(df))

    main = df.assign(run_id="colpret/k2/K2-65B")
    specs = [("k2 training - lm loss", "train_loss", "train", "nats", 1.0)]
    evals = [c for c in df.columns if c.startswith("k2 eval - ")]
    specs += [(c, f"{c.removeprefix('k2 eval - ')}/acc", "downstream", "accuracy", 0.01) for c in evals]
    ing.add(_melt(main, specs), file)

    spike_cols = [c for c in df.columns if c.startswith("k2 eval spike 1 - ")]
    spike = df.assign(run_id="colpret/k2/K2-65B-spike1")
    ing.add(_melt(spike, [(c, f"{c.removeprefix('k2 eval spike 1 - ')}/acc", "downstream",
                           "accuracy", 0.01) for c in spike_cols]), file)
    ing.exclude(file, "k2 eval * - <task> (percent)", "converted", "accuracy % / 100",
                int(df[evals + spike_cols].notna().sum().sum()))
    ing.exclude(file, "k2 eval spike 1 - *", "flagged",
                "evaluations of the loss-spike restart segment kept as a separate run "
                "(colpret/k2/K2-65B-spike1, family colpret/k2-spike) so they never mix with the "
                "main curve in a fit", int(df[spike_cols].notna().any(axis=1).sum()))
    common = dict(collection="k2", model="K2-65B", arch="dec", params=parse_count(df["num_params"].iloc[0]),
                  data="LLM360/K2Datasets", paper=PAPERS["llm360"] + "; LLM360/K2 model card",
                  file=file, tokens=float(df["tokens_seen"].max()))
    ing.run(run_id="colpret/k2/K2-65B", family="colpret/k2", **common,
            notes="train CE (nats) and 5 downstream accuracies (% -> fraction); D and C as given by "
                  "ColPret (D linear in W&B row index to 1.4T, C = 6ND)")
    ing.run(run_id="colpret/k2/K2-65B-spike1", family="colpret/k2-spike", **common,
            notes="downstream evaluations of the K2 loss-spike restart segment ('k2 eval spike 1'); "
                  "D as for the main run at the same W&B row")


def _amber(ing: _Ingest) -> None:
    folder = "raw_data/lm360/Amber"
    files = sorted(p.name for p in (ing.folder / folder).glob("*.csv"))
    label = f"{folder}/*.csv"
    seen: dict[str, str] = {}
    n_percent = n_band = n_rows = 0
    for name in files:
        file = f"{folder}/{name}"
        df = ing.read_csv(file)
        band, differ = _band_columns(df)
        df = df.drop(columns=band)
        n_band, n_rows = n_band + differ, n_rows + len(df)
        (column,) = [c for c in df.columns if c != "Step"]
        group, task = column.split(" - ", 1)
        index = numeric(df["Step"], file, "Step")
        frame = pd.DataFrame({"run_id": "colpret/amber/Amber-7B", "step": np.nan,
                              "tokens": (index + 1) * AMBER_TOKENS / AMBER_CHECKPOINTS,
                              "flops": np.nan, "v": numeric(df[column], file, column)})
        bias = group == "downstream_eval" and task == "crowspairs"
        if bias:
            spec = ("v", "crowspairs/pct_stereotype", "downstream", "other", 0.01)
            ing.exclude(label, column, "flagged",
                        "CrowS-Pairs % stereotyped choices (bias, lower is better, 0.5 = unbiased): "
                        "stored as a fraction with unit 'other'", len(df))
        elif group == "downstream_eval":
            spec = ("v", f"{_slug(task)}/acc", "downstream", "accuracy", 0.01)
            n_percent += len(df)
        elif group == "perplexity_eval":
            spec = ("v", f"{_slug(task)}/ppl", "validation", "perplexity", 1.0)
        else:
            raise ValueError(f"{file}: unexpected metric group {group!r}")
        if spec[1] in seen:
            raise ValueError(f"{file}: metric {spec[1]} also in {seen[spec[1]]}")
        seen[spec[1]] = file
        points = _melt(frame, [spec])
        if bias:
            points["higher_is_better"] = False
        ing.add(points, label)
    ing.exclude(label, "__MIN/__MAX columns of every export", "dropped", _band_reason(n_band), n_rows)
    ing.exclude(label, "Step (checkpoint index)", "converted",
                f"tokens = (index + 1) x {AMBER_TOKENS:.3g} / {AMBER_CHECKPOINTS}: Amber's data is "
                "split into 360 equal chunks and checkpoint i is saved after chunk i + 1", len(files))
    ing.exclude(label, "downstream_eval (percent)", "converted", "accuracy % / 100", n_percent)
    ing.exclude(label, "train-loss export", "dropped",
                "wandb_export_2023-12-27T16_36_05.526 (the training loss) is absent from the copy "
                "(over 4 MiB upstream)", 0)
    ing.run(run_id="colpret/amber/Amber-7B", collection="amber", family="colpret/amber",
            model="Amber-7B", arch="dec", params=6.7e9, data="LLM360/AmberDatasets",
            paper=PAPERS["llm360"], file=label,
            notes="40 W&B exports, one metric each: downstream accuracies (% -> fraction) and Pile "
                  "subset perplexities; checkpoint i -> D = (i+1) x 1.25T/360; N = 6.7B (ColPret); "
                  "C = 6ND")


def _mamba(ing: _Ingest) -> None:
    file = "aggregated_eval/llm360Mamba3B.csv"
    df = ing.read_csv(file)
    step = numeric(df["step"], file, "step")
    frame = pd.DataFrame({"run_id": "colpret/llm360-mamba/Mamba-3B", "step": step,
                          "tokens": step * MAMBA_TOKENS / MAMBA_STEPS, "flops": np.nan,
                          "loss": numeric(df["loss"], file, "loss"), "lr": numeric(df["lr"], file, "lr")})
    ing.add(_melt(frame, [("loss", "train_loss", "train", "nats", 1.0),
                          ("lr", "learning_rate", "train", "lr", 1.0)]), file)
    ing.exclude(file, "step", "converted",
                f"tokens = step x {MAMBA_TOKENS:.0e} / {MAMBA_STEPS} (ColPret)", len(df))
    ing.exclude(file, "grad_norm", "dropped", "optimiser diagnostic, not a performance metric", len(df))
    ing.exclude(file, "loss", "flagged",
                f"W&B train loss starts at {frame['loss'].iloc[0]:.1f} (> ln 50k = 10.8) and ends "
                f"near {frame['loss'].iloc[-1]:.2f}; kept as nats but its scale is unverified", len(df))
    ing.run(run_id="colpret/llm360-mamba/Mamba-3B", collection="llm360-mamba",
            family="colpret/llm360-mamba", model="LLM360 Mamba-3B", arch="ssm", params=3e9,
            data="LLM360/AmberDatasets", paper=PAPERS["llm360"] + " (Mamba run: W&B logs)", file=file,
            notes="train loss (nats, scale unverified) and the learning-rate schedule at every logged "
                  "step, for LR-annealing laws; D = step x 500e9/176703; N = 3B (ColPret); C = 6ND")


# --------------------------------------------------------------------------------------------
# datablations (Muennighoff et al.)
# --------------------------------------------------------------------------------------------
def _datablations_flops_note(df: pd.DataFrame) -> str:
    product = (df["flops"] * df["token_num"]).groupby(df["model_args"]).agg(["min", "max"])
    constant = bool(np.allclose(product["min"], product["max"], rtol=1e-6))
    return ("published flops decrease along each curve" +
            (" (flops x tokens is constant per run)" if constant else "") +
            "; replaced by C = 6 N D")


def _datablations(ing: _Ingest) -> None:
    file = "aggregated_eval/datablations_losses.csv"
    df = ing.read_csv(file)
    for column in ("token_num", "loss", "tokens_per_epoch", "flops", "epochs"):
        df[column] = numeric(df[column], file, column)
    df["N"] = df["num_params"].map(parse_count)
    runs = df.groupby("model_args", sort=True).agg(
        data=("data", "first"), epochs=("epochs", "first"), num_params=("num_params", "first"),
        N=("N", "first"), tpe=("tokens_per_epoch", "first"), url=("checkpoint", "first"))
    runs["model"] = "GPT2-" + runs["num_params"] + "-" + runs["data"] + "-" + \
        runs["epochs"].astype(int).astype(str) + "ep"
    if runs["model"].duplicated().any():
        raise ValueError(f"{file}: two tensorboard runs share (size, data, epochs)")
    runs["run_id"] = "colpret/datablations/" + runs["model"]
    df = df.merge(runs[["run_id"]], left_on="model_args", right_index=True)
    ing.exclude(file, "flops", "converted", _datablations_flops_note(df), len(df))
    df["step"] = np.nan
    df["tokens"] = df["token_num"]
    df["flops"] = 6.0 * df["N"] * df["tokens"]
    ing.add(_melt(df, [("loss", "val_loss", "validation", "nats", 1.0)]), file)
    for key, run in runs.iterrows():
        ing.run(run_id=run["run_id"], collection="datablations",
                family=f"colpret/datablations-{run['data']}", model=run["model"], arch="dec",
                params=float(run["N"]), data=run["data"], unique_tokens=float(run["tpe"]),
                paper=PAPERS["datablations"], file=file,
                notes="validation CE (nats) curve of a data-constrained run: unique_tokens = "
                      "tokens_per_epoch, epochs repeated; C = 6ND (published flops inconsistent)",
                extra={"epochs": float(run["epochs"]), "tensorboard": key, "checkpoint": run["url"]})


def _datablations_contour(ing: _Ingest) -> None:
    file = "aggregated_eval/datablations_contour_losses.csv"
    df = ing.read_csv(file)
    for column in ("epochs", "token_num", "openLM_loss", "num_params", "tokens_per_epoch", "flops"):
        df[column] = numeric(df[column], file, column)
    df["name"] = df["model_args"].str.extract(r"'name':\s*'([^']+)'")[0]
    if df["name"].isna().any() or df["name"].duplicated().any():
        raise ValueError(f"{file}: model_args names are missing or repeated")
    rel = np.abs(df["flops"] / (6 * df["num_params"] * df["token_num"]) - 1).max()
    if rel > 1e-6:
        raise ValueError(f"{file}: flops != 6 N D (max relative difference {rel:.3g})")
    df["run_id"] = "colpret/datablations-contour/GPT2-" + df["name"]
    df["step"], df["tokens"] = np.nan, df["token_num"]
    ing.add(_melt(df, [("openLM_loss", "val_loss", "validation", "nats", 1.0)]), file)
    ing.exclude(file, "tokens_per_epoch", "dropped",
                "constant 1.5e9 for every row and inconsistent with epochs = D / U; unique tokens "
                "U = token_num / epochs instead (matches the <N><D><U> run name)", len(df))
    for _, row in df.iterrows():
        ing.run(run_id=row["run_id"], collection="datablations-contour",
                family="colpret/datablations-contour", model=f"GPT2-{row['name']}", arch="dec",
                params=float(row["num_params"]), data="c4", tokens=float(row["token_num"]),
                flops=float(row["flops"]), unique_tokens=float(row["token_num"] / row["epochs"]),
                paper=PAPERS["datablations"], file=file,
                notes="final validation CE (nats) only; U = D / epochs; C = 6ND as published",
                extra={"epochs": float(row["epochs"])})


def _datablations_code(ing: _Ingest) -> None:
    file = "aggregated_eval/datablations_code_losses.csv"
    df = ing.read_csv(file)
    for column in ("token_num", "loss", "epochs", "Seed", "flops"):
        df[column] = numeric(df[column], file, column)
    ing.exclude(file, "flops", "converted", _datablations_flops_note(df), len(df))
    df["N"] = df["num_params"].map(parse_count)
    df["U"] = df["tokens_per_epoch"].map(parse_count)
    df["code_pct"] = df["epochs"].astype(int)
    df["model"] = "GPT2-" + df["num_params"] + "-c4-" + df["code_pct"].astype(str) + "pct-code"
    df["run_id"] = "colpret/datablations-code/" + df["model"]
    if df.groupby("model_args")["run_id"].nunique().max() != 1 or \
            df.groupby("run_id")["model_args"].nunique().max() != 1:
        raise ValueError(f"{file}: runs are not one-to-one with tensorboard ids")
    df["step"], df["tokens"] = np.nan, df["token_num"]
    df["flops"] = 6.0 * df["N"] * df["tokens"]
    if set(df["Seed"].unique()) != {1.0, 2.0}:
        raise ValueError(f"{file}: Seed should be 1 (general loss) or 2 (code loss)")
    general = df[df["Seed"] == 1]
    code = df[df["Seed"] == 2]
    ing.add(_melt(general, [("loss", "val_loss", "validation", "nats", 1.0)]), file)
    ing.add(_melt(code, [("loss", "code/ce", "validation", "nats", 1.0)]), file)
    ing.exclude(file, "Seed", "converted",
                "Seed is not a seed: 1 = general (C4) validation loss -> val_loss, 2 = code "
                "validation loss -> code/ce (ColPret's reading)", len(df))
    ing.exclude(file, "epochs", "converted", "the 'epochs' column is the code percentage", len(df))
    for run_id, group in df.groupby("run_id", sort=True):
        first = group.iloc[0]
        ing.run(run_id=run_id, collection="datablations-code", family="colpret/datablations-code",
                model=first["model"], arch="dec", params=float(first["N"]),
                data=f"c4 + {first['code_pct']}% python", unique_tokens=float(first["U"]),
                paper=PAPERS["datablations"], file=file,
                notes="general (val_loss) and code (code/ce) validation CE in nats; C = 6ND",
                extra={"code_pct": int(first["code_pct"]), "tensorboard": first["model_args"]})


# --------------------------------------------------------------------------------------------
# OPT
# --------------------------------------------------------------------------------------------
def _opt(ing: _Ingest) -> None:
    file = "aggregated_eval/opt_trajectories.csv"
    df = ing.read_csv(file)
    for column in ("steps", "num_token", "flops", "ppl"):
        df[column] = numeric(df[column], file, column)
    if df["steps"].min() < 100 or df["num_token"].max() > 20 or df["flops"].max() > 40:
        raise ValueError(f"{file}: expected linear steps and log10 num_token / flops")
    df["run_id"] = "colpret/opt/OPT-" + df["model_size"]
    df["step"] = df["steps"]
    df["tokens"] = 10.0 ** df["num_token"]
    df["flops"] = 10.0 ** df["flops"]
    ing.add(_melt(df, [("ppl", "val_ppl", "validation", "perplexity", 1.0)]), file)
    ing.exclude(file, "num_token, flops", "converted",
                "published as log10; D = 10**num_token, C = 10**flops (steps are linear)", len(df))

    bfile = "aggregated_eval/opt.csv"
    bench = ing.read_csv(bfile)
    for column in ("steps", "tokens", "flops"):
        bench[column] = numeric(bench[column], bfile, column)
    bench["run_id"] = "colpret/opt/OPT-" + bench["size"]
    bench["step"] = bench["steps"]
    both = bench.merge(df[["run_id", "step", "tokens"]], on=["run_id", "step"], suffixes=("", "_t"))
    rel = float(np.abs(both["tokens"] / both["tokens_t"] - 1).max())
    if rel > 1e-6:
        raise ValueError(f"{bfile}: tokens disagree with {file} (relative difference {rel:.3g})")
    tasks = [c for c in bench.columns if c.startswith("bigbench__")]
    ing.add(_melt(bench, [(c, f"bigbench_{c.removeprefix('bigbench__')}/score", "downstream",
                           "score", 1.0) for c in tasks]), bfile)
    ing.exclude(bfile, "Unnamed: 0, model_name", "dropped", "row index and a copy of size", len(bench))
    for size, group in df.groupby("model_size", sort=True):
        ing.run(run_id=f"colpret/opt/OPT-{size}", collection="opt", family="colpret/opt",
                model=f"OPT-{size}", arch="dec", params=parse_count(size),
                data="OPT corpus (RoBERTa + Pile subset + PushShift.io Reddit)",
                paper=PAPERS["opt"], file=file,
                notes="validation perplexity curve (Training Trajectories) with D and C from log10 "
                      "columns; BIG-bench scores (0-100) from opt.csv at the same steps",
                extra={"tokens_per_step": float(group["tokens"].iloc[-1] / group["step"].iloc[-1])})


# --------------------------------------------------------------------------------------------
# GPT-3 (digitised)
# --------------------------------------------------------------------------------------------
def _parse_sci(text: str) -> float:
    """``"6.0×10−4"`` -> 6e-4 (GPT-3 Table 2.1 learning rates)."""
    mantissa, exponent = str(text).replace("\u2212", "-").split("×10")
    return float(mantissa) * 10.0 ** int(exponent)


def _gpt3(ing: _Ingest) -> None:
    mfile = "raw_data/gpt3/gpt3_metadata.xlsx"
    meta = pd.read_excel(ing.folder / mfile, header=None,
                         names=["name", "params", "n_layers", "d_model", "n_heads", "d_head",
                                "batch", "lr"])
    ing.count(mfile, len(meta))
    meta["key"] = meta["name"].str.split().str[1].str.lower()
    meta = meta.set_index("key")

    file = "raw_data/gpt3/extracted.csv"
    df = ing.read_csv(file)
    for column in ("step", "train_loss", "val_loss"):
        df[column] = numeric(df[column], file, column)
    unknown = sorted(set(df["model"]) - set(meta.index))
    if unknown:
        raise ValueError(f"{file}: models {unknown} not in {mfile}")
    for metric, split in (("train_loss", "train"), ("val_loss", "validation")):
        rows = df[df[metric].notna()]
        merged = rows.groupby(["model", "step"], as_index=False)[metric].mean()
        ing.exclude(file, metric, "deduplicated",
                    "digitised curve repeats x positions: repeated (model, x) points averaged "
                    f"({len(rows)} rows -> {len(merged)} points)", len(rows) - len(merged))
        merged["run_id"] = "colpret/gpt3/GPT-3-" + merged["model"]
        merged["tokens"] = merged["step"] * DIGITISED_TOKEN_UNIT
        merged["step"], merged["flops"] = np.nan, np.nan
        ing.add(_melt(merged, [(metric, metric, split, "nats", 1.0)]), file)
    ing.exclude(file, "step", "converted", "x-axis is billions of tokens: D = x * 1e9", len(df))
    for key in sorted(df["model"].unique()):
        row = meta.loc[key]
        ing.run(run_id=f"colpret/gpt3/GPT-3-{key}", collection="gpt3", family="colpret/gpt3",
                model=str(row["name"]), arch="dec", params=parse_count(row["params"]),
                data="GPT-3 mix (filtered Common Crawl, WebText2, Books1/2, Wikipedia)",
                paper=PAPERS["gpt3"], file=file,
                notes="train and validation loss (nats) digitised from the GPT-3 paper's learning "
                      "curves by ColPret, repeated x positions averaged; N and shapes from Table 2.1 "
                      "(gpt3_metadata.xlsx); C = 6ND",
                extra={"n_layers": int(row["n_layers"]), "d_model": int(row["d_model"]),
                       "n_heads": int(row["n_heads"]), "d_head": int(row["d_head"]),
                       "batch_tokens": parse_count(row["batch"]), "lr": _parse_sci(row["lr"])})


# --------------------------------------------------------------------------------------------
# T5 on the Pile
# --------------------------------------------------------------------------------------------
T5_PARAMS = {"base": 247_586_304, "large": 783_173_632, "xl": 2_849_804_288, "xxl": 11_135_426_560}


def _t5(ing: _Ingest) -> None:
    file = "aggregated_eval/t5_pile.csv"
    df = ing.read_csv(file)
    unknown = sorted(set(df["model_name"]) - set(T5_PARAMS))
    if unknown:
        raise ValueError(f"{file}: unknown model sizes {unknown}")
    for column in ("steps", "val_perplexity", "learning_rate/current"):
        df[column] = numeric(df[column], file, column)
    df["run_id"] = "colpret/t5-pile/pile-t5-" + df["model_name"]
    df["step"] = df["steps"]
    df["tokens"] = df["steps"] * T5_TOKENS_PER_STEP
    df["flops"] = np.nan
    ing.add(_melt(df, [("val_perplexity", "r_denoiser/ppl", "validation", "perplexity", 1.0),
                       ("learning_rate/current", "learning_rate", "train", "lr", 1.0)]), file)
    n = len(df)
    ing.exclude(file, "steps", "converted", f"D = steps x {T5_TOKENS_PER_STEP:.0e} (ColPret)", n)
    ing.exclude(file, "val_perplexity", "flagged",
                "perplexity of the T5X r-denoiser objective on the Pile (1.03-1.84), not a "
                "left-to-right LM perplexity: not comparable with other families", n)
    ing.exclude(file, "accuracy", "dropped", "negative values (T5X summary of a summed quantity)", n)
    ing.exclude(file, "loss, cross_ent_loss, z_loss and their *_per_* variants", "dropped",
                "sums over the batch (1e5-1e9) and per-token variants that go negative: corrupted "
                "summaries, not per-token CE", n)
    ing.exclude(file, "learning_rate", "dropped",
                "interval mean; learning_rate/current (the value at the step) is kept", n)
    ing.exclude(file, "timing/*, effective_batch_size/*, non_padding_fraction/*, config", "dropped",
                "run diagnostics, not performance metrics", n)
    for model in T5_PARAMS:
        ing.run(run_id=f"colpret/t5-pile/pile-t5-{model}", collection="t5-pile",
                family="colpret/t5-pile", model=f"Pile-T5 {model}", arch="enc-dec",
                params=float(T5_PARAMS[model]), data="pile", paper=PAPERS["t5-pile"], file=file,
                notes="r-denoiser validation perplexity (flagged: not LM perplexity) and the "
                      "learning rate; D = steps x 1e6 (ColPret); C = 6ND (enc-dec approximation)")
    for model in T5_PARAMS:
        jfile = f"raw_data/t5_pile/{model}/inference_eval/pile_r_denoiser-metrics.jsonl"
        lines = [json.loads(x) for x in (ing.folder / jfile).read_text().splitlines() if x.strip()]
        ing.count(jfile, len(lines))
        raw = pd.DataFrame(lines)
        last = raw.dropna(subset=["perplexity"]).groupby("step")["perplexity"].last()
        csv = df[df["model_name"] == model].set_index("steps")["val_perplexity"]
        same = int(np.isclose(csv.reindex(last.index), last).sum())
        ing.exclude(jfile, "step, perplexity", "dropped",
                    f"raw source of t5_pile.csv val_perplexity (last value per step after restarts): "
                    f"{same} of {len(last)} steps identical to the CSV", len(lines))


# --------------------------------------------------------------------------------------------
# RedPajama-INCITE (digitised)
# --------------------------------------------------------------------------------------------
def _redpajama(ing: _Ingest) -> None:
    for label in ("2.4B", "6.7B"):
        file = f"raw_data/redPajama/{label}.csv"
        df = ing.read_csv(file, header=None, names=["x", "loss"])
        run_id = f"colpret/redpajama/RedPajama-INCITE-{label}"
        frame = pd.DataFrame({"run_id": run_id, "step": np.nan,
                              "tokens": numeric(df["x"], file, "col 0") * DIGITISED_TOKEN_UNIT,
                              "flops": np.nan, "loss": numeric(df["loss"], file, "col 1")})
        ing.add(_melt(frame, [("loss", "train_loss", "train", "nats", 1.0)]), file)
        ing.exclude(file, "column 0", "converted",
                    "digitised x-axis in billions of tokens: D = x * 1e9", len(df))
        ing.run(run_id=run_id, collection="redpajama", family="colpret/redpajama-incite",
                model=f"RedPajama-INCITE {label}", arch="dec", params=parse_count(label),
                data="RedPajama-Data-1T", paper=PAPERS["redpajama"], file=file,
                notes="train loss (nats) digitised from the RedPajama-INCITE blog; N as labelled by "
                      "ColPret; C = 6ND")


# --------------------------------------------------------------------------------------------
# BiMix data-mixing (pickles)
# --------------------------------------------------------------------------------------------
def _bimix(ing: _Ingest) -> None:
    for corpus in ("Pile", "SlimPajama"):
        pfile = f"raw_data/bimix-law/{corpus}/ppls.pkl"
        rfile = f"raw_data/bimix-law/{corpus}/ratios.pkl"
        losses = _read_safe_pickle(ing.folder / pfile, pfile)
        ratios = _read_safe_pickle(ing.folder / rfile, rfile)
        ing.count(pfile, sum(len(v) for v in losses.values()))
        ing.count(rfile, sum(len(v) for v in ratios.values()))
        for method in sorted(losses):
            table = losses[method]
            run_id = f"colpret/bimix/{corpus}-{method}"
            frame = table.drop(columns=["global_step"]).astype("float64")
            frame["run_id"] = run_id
            frame["step"] = numeric(table["global_step"], pfile, "global_step")
            frame["tokens"] = frame["step"] * BIMIX_TOKENS_PER_STEP
            frame["flops"] = np.nan
            domains = [c for c in table.columns if c not in ("global_step", "avg")]
            specs = [(d, f"{_slug(d)}/ce", "validation", "nats", 1.0) for d in domains]
            specs.append(("avg", "val_loss", "validation", "nats", 1.0))
            ing.add(_melt(frame, specs), pfile)
            weights = {str(k): float(v) for k, v in ratios[method].items()}
            ing.run(run_id=run_id, collection="bimix", family=f"colpret/bimix-{corpus.lower()}",
                    model=f"{corpus} {method} mixture", arch="dec", params=280e6,
                    data=corpus, paper=PAPERS["bimix"], file=pfile,
                    licence="Apache-2.0 (raw_data/bimix-law/LICENSE)",
                    notes="per-domain validation log-loss in nats (the file is named ppls but holds "
                          "losses); val_loss = unweighted mean over domains ('avg'); "
                          "D = global_step x 524,288; N = 280M (ColPret; not in the files); C = 6ND",
                    extra={"mixture_method": method, "domain_weights": weights})
        ing.exclude(pfile, "pickle", "converted",
                    "opcodes checked with pickletools (numpy/pandas globals only) before "
                    "pandas.read_pickle; values are log-losses in nats despite the name; "
                    "D = global_step x 524,288", sum(len(v) for v in losses.values()))
        ing.exclude(rfile, "domain weights", "converted", "stored in runs.extra.domain_weights",
                    sum(len(v) for v in ratios.values()))


# --------------------------------------------------------------------------------------------
# gzip-dependent scaling (results_new.jsonl)
# --------------------------------------------------------------------------------------------
def _gzip(ing: _Ingest) -> None:
    file = "raw_data/gzip/results_new.jsonl"
    records = [json.loads(x) for x in (ing.folder / file).read_text().splitlines() if x.strip()]
    ing.count(file, len(records))
    cols: dict[str, list] = {c: [] for c in ("run_id", "step", "tokens", "metric", "split", "value")}
    n_valid = 0
    for i, rec in enumerate(records):
        dataset = str(rec["dataset_name"]).strip("/")
        ratio = re.fullmatch(r"gzipscale-([0-9.]+)-.*", dataset)
        if not ratio:
            raise ValueError(f"{file}: line {i + 1}: unexpected dataset_name {rec['dataset_name']!r}")
        N, D = parse_count(rec["model_size"]), parse_count(rec["token_ct"])
        run_id = f"colpret/gzip/{dataset}/N{int(N)}-D{int(D)}"
        for metric, split, values in (("train_loss", "train", rec["train_loss"]),
                                      ("val_loss", "validation", rec["valid_loss"])):
            n = len(values)
            position = np.arange(1, n + 1, dtype="float64")
            cols["run_id"] += [run_id] * n
            cols["step"].append(position if split == "train" else np.full(n, np.nan))
            cols["tokens"].append(D * position / n)
            cols["metric"] += [metric] * n
            cols["split"] += [split] * n
            cols["value"].append(np.asarray(values, dtype="float64"))
            n_valid += n if split == "validation" else 0
        ing.run(run_id=run_id, collection="gzip", family=f"colpret/gzip-{ratio.group(1)}",
                model=f"gzip-{ratio.group(1)} N={N:.3g} D={D:.3g}", arch="dec", params=N,
                data=dataset, tokens=D, paper=PAPERS["gzip"], file=file,
                notes="train-loss list = curve, one entry per logged step, placed evenly up to D; "
                      "valid_loss entries placed evenly (flagged); nats; C = 6ND",
                extra={"dataset_gzip_mean": float(rec["dataset_gzip"][0]),
                       "dataset_gzip_std": float(rec["dataset_gzip"][1]),
                       "num_epochs": rec["num_epochs"], "model_stats": rec["model_stats"]})
    frame = pd.DataFrame({c: np.concatenate(v) if c in ("step", "tokens", "value") else v
                          for c, v in cols.items()})
    frame["flops"], frame["unit"], frame["higher_is_better"] = np.nan, "nats", False
    ing.add(frame, file)
    ing.exclude(file, "train_loss list", "converted",
                "entry k of n is placed at D x k / n (evenly spaced logging assumed)", len(records))
    ing.exclude(file, "valid_loss list", "flagged",
                "evaluation positions are not recorded; entry k of n placed at D x k / n, so only "
                "the last (at D) is certain", n_valid)


# --------------------------------------------------------------------------------------------
# ModuleFormer (IBM_MoE.csv) and its spreadsheet ("LLMs - 0-shot.csv")
# --------------------------------------------------------------------------------------------
LM_EVAL_BASELINES = ("GPT2", "GPT3-ada", "Pythia", "Codegen-NL", "GPT-neo", "LLAMA")


def _lm_eval_spec(column: str) -> tuple[str, str, str, str, float]:
    task, kind = column.rsplit(" ", 1)
    task = _slug(task)
    if kind == "ppl":
        split = "validation" if task == "wikitext" else "downstream"
        return column, f"{task}/ppl", split, "perplexity", 1.0
    if kind == "bpb":
        return column, f"{task}/bpb", "validation", "bits", 1.0
    if kind in ("acc", "acc_norm"):
        return column, f"{task}/{kind}", "downstream", "accuracy", 0.01
    raise ValueError(f"unexpected lm-eval column {column!r}")


def _moe_rows(ing: _Ingest) -> pd.DataFrame:
    """IBM_MoE.csv rows as (model, data, tokenizer, tokens_text, params, active, metrics...)."""
    file = "raw_data/IBM_MoE.csv"
    df = ing.read_csv(file)
    blank = df.isna().all(axis=1)
    ing.exclude(file, "blank rows", "dropped", "block separators", int(blank.sum()))
    df = df[~blank].reset_index(drop=True)
    return df.rename(columns={"Model": "model", "data": "corpus", "Tokenizer": "tokenizer",
                              "tokens_seen": "tokens_text", "Params": "params_text",
                              "Effective Params": "active_text"}).assign(_file=file)


def _sheet_rows(ing: _Ingest) -> pd.DataFrame:
    """Parse the two-row-header spreadsheet; unnamed rows belong to the block's named row.

    Within a blank-line-delimited block, a row without a model name belongs to the next named row
    below it, or (when none follows) to the last named row above it.
    """
    file = "aggregated_eval/LLMs - 0-shot.csv"
    raw = pd.read_csv(ing.folder / file, header=None, dtype=str, keep_default_na=False)
    ing.count(file, len(raw) - 2)
    top, sub = raw.iloc[0].tolist(), raw.iloc[1].tolist()
    names, current = [], ""
    for i, (a, b) in enumerate(zip(top, sub)):
        current = a if a or i < 6 else current
        names.append(f"{current} {b}".strip() if b else current)
    body = raw.iloc[2:].reset_index(drop=True)
    body.columns = names
    body = body.replace("", np.nan)
    ids = ["Params", "Effective Params", "Corpus", "Tokenizer"]
    body[ids] = body[ids].replace("?", np.nan)  # the sheet's "unknown"
    blank = body.isna().all(axis=1)
    block = blank.cumsum()
    owner: list[int | None] = [None] * len(body)
    for _, rows in body[~blank].groupby(block[~blank]):
        named = [i for i in rows.index if isinstance(rows.at[i, "Model"], str)]
        for i in rows.index:
            after = [j for j in named if j >= i]
            before = [j for j in named if j <= i]
            owner[i] = after[0] if after else (before[-1] if before else None)
    body["owner"] = owner
    if body.loc[~blank, "owner"].isna().any():
        raise ValueError(f"{file}: a block has no model name")
    body = body[~blank].copy()
    for column in ("Model", "Params", "Effective Params", "Tokenizer"):
        body[column] = body["owner"].map(body[column])
    body = body.rename(columns={"Model": "model", "Corpus": "tokens_text", "Tokenizer": "tokenizer",
                                "Params": "params_text", "Effective Params": "active_text"})
    ing.exclude(file, "blank rows", "dropped", "block separators", int(blank.sum()))
    ing.exclude(file, "Inference time", "dropped", "evaluation wall-clock, not a metric",
                int(body["Inference time"].notna().sum()))
    random = body["model"] == "Random"
    ing.exclude(file, "Random", "dropped", "chance-level reference row, not a model", int(random.sum()))
    body = body[~random].drop(columns=["Inference time"])
    return body.assign(_file=file, corpus=np.nan)


def _row_keys(df: pd.DataFrame, columns: list[str]) -> list[tuple]:
    """Hashable row keys: NaN -> None, floats rounded to 6 decimals."""
    def norm(v):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return None
        return round(float(v), 6) if isinstance(v, (float, np.floating)) else v
    return [tuple(norm(v) for v in row) for row in zip(*(df[c] for c in columns))]


def _moduleformer(ing: _Ingest) -> None:
    moe = _moe_rows(ing)
    sheet = _sheet_rows(ing)
    metrics = [c for c in moe.columns if c not in
               ("model", "corpus", "params_text", "active_text", "tokens_text", "tokenizer", "_file")]
    extra_metrics = sorted(set(sheet.columns) - set(moe.columns) - {"owner"})
    for column in metrics:
        moe[column] = numeric(moe[column], "raw_data/IBM_MoE.csv", column)
    for column in metrics + extra_metrics:
        sheet[column] = numeric(sheet[column], "aggregated_eval/LLMs - 0-shot.csv", column)

    # rows of the spreadsheet that IBM_MoE.csv already has (same model, tokens and scores)
    key = ["tokens_text", "wikitext ppl", "hellaswag acc", "PIQA acc"]
    dup = pd.Series(_row_keys(sheet, key + ["model"]), index=sheet.index).isin(
        set(_row_keys(moe, key + ["model"])))
    loose = pd.Series(_row_keys(sheet, key), index=sheet.index).isin(set(_row_keys(moe, key)))
    if (loose & ~dup).any():
        row = sheet[loose & ~dup].iloc[0]
        raise ValueError(f"LLMs - 0-shot.csv: row for {row['model']} at {row['tokens_text']} matches "
                         "IBM_MoE.csv scores under another model name (block parsing is wrong)")
    ing.exclude("aggregated_eval/LLMs - 0-shot.csv", "rows also in IBM_MoE.csv", "deduplicated",
                "the spreadsheet behind IBM_MoE.csv: identical rows are read from IBM_MoE.csv only",
                int(dup.sum()))
    sheet = sheet[~dup].copy()
    sheet["corpus"] = sheet.groupby("owner")["tokens_text"].transform(
        lambda s: next((t for t in s[::-1] if isinstance(t, str) and not _is_count(t)), np.nan))

    rows = pd.concat([moe, sheet.drop(columns=["owner"])], ignore_index=True)
    has_tokens = rows["tokens_text"].map(_is_count)
    curve_runs = rows.assign(_c=has_tokens).groupby(["model", "_file", "tokenizer", "corpus"],
                                                    dropna=False)["_c"].transform("any")
    final_rows = ~has_tokens & curve_runs
    for file, n in rows[final_rows].groupby("_file").size().items():
        ing.exclude(file, "final rows labelled with a corpus name", "dropped",
                    "the last row of a checkpoint series names the corpus ('Pile') instead of a "
                    "token count, so its D is unknown", int(n))
    rows = rows[~final_rows].copy()
    rows["tokens"] = [parse_count(t) if ok else np.nan
                      for t, ok in zip(rows["tokens_text"], rows["tokens_text"].map(_is_count))]
    rows["N_total"] = rows["params_text"].map(lambda t: parse_count(t) if _is_count(t) else np.nan)
    rows["N_active"] = rows["active_text"].map(lambda t: parse_count(t) if _is_count(t) else np.nan)
    rows["N"] = rows["N_active"].fillna(rows["N_total"])
    baseline = rows["model"].isin(LM_EVAL_BASELINES)
    rows["collection"] = np.where(baseline, "lm-eval-0shot", "moduleformer")
    rows["family"] = np.where(baseline, "colpret/0shot-" + rows["model"].map(_slug),
                              "colpret/moduleformer")
    rows["run_key"] = (rows["model"] + "/" + rows["corpus"].fillna("unknown-corpus").map(_slug) +
                       "-" + rows["tokenizer"].fillna("unknown-tokenizer").map(_slug))
    rows.loc[baseline, "run_key"] = [m if pd.isna(n) else f"{m}-{t}" for m, t, n in zip(
        rows.loc[baseline, "model"], rows.loc[baseline, "params_text"], rows.loc[baseline, "N_total"])]
    rows["run_id"] = "colpret/" + rows["collection"] + "/" + rows["run_key"]
    rows["step"] = np.nan
    rows["flops"] = np.nan
    specs = [_lm_eval_spec(c) for c in metrics + extra_metrics]
    for file, group in rows.groupby("_file"):
        ing.add(_melt(group, [s for s in specs if group[s[0]].notna().any()]), file)
        ing.exclude(file, "accuracies (percent)", "converted", "accuracy % / 100; perplexities and "
                    "bits-per-byte as published", len(group))
    for run_id, group in rows.groupby("run_id", sort=True):
        first = group.iloc[0]
        is_base = first["collection"] == "lm-eval-0shot"
        ing.run(run_id=run_id, collection=first["collection"], family=first["family"],
                model=first["model"], arch="dec" if is_base or first["model"].startswith("GPT") else "moe",
                params=float(first["N"]) if pd.notna(first["N"]) else None,
                data=first["corpus"] if isinstance(first["corpus"], str) else None,
                paper=PAPERS["moduleformer"], file=first["_file"],
                notes=("lm-eval 0-shot scores (accuracy % -> fraction, wikitext ppl/bpb, lambada ppl); "
                       "params = active (effective) parameters when given, else total; C = 6 N_active D"
                       + ("; reference model evaluated by the ModuleFormer authors, D unknown"
                          if is_base else "")),
                extra={"params_total": first["N_total"] if pd.notna(first["N_total"]) else None,
                       "params_active": first["N_active"] if pd.notna(first["N_active"]) else None,
                       "tokenizer": first["tokenizer"] if isinstance(first["tokenizer"], str) else None})


# --------------------------------------------------------------------------------------------
# files left out
# --------------------------------------------------------------------------------------------
def _left_out(ing: _Ingest) -> None:
    file = "raw_data/overtrain/overtrain_downstreams.csv"
    ing.exclude(file, "whole file", "dropped",
                "ColPret's flattening of mlfoundations/scaling, which the 'overtrain' source ingests "
                "from the upstream JSON (losses and 46 downstream tasks); kept out to avoid "
                "duplicate runs", len(ing.read_csv(file)))
    file = "aggregated_eval/graph_extracted/2310.16764_ConvNets_match.csv"
    df = ing.read_csv(file, encoding="utf-8-sig")
    same = (df[df["model"] == "F7"][["x", "y"]].to_numpy() ==
            df[df["model"] == "F7_wide"][["x", "y"]].to_numpy()).all()
    ing.exclude(file, "whole file", "dropped",
                "digitised NFNet points whose x-axis is TPU-v4 core hours (no FLOPs, N or samples) "
                "and whose y-axis label is not in the copy (labels.xlsx was not copied)"
                + ("; F7_wide repeats F7 point for point" if same else ""), len(df))


# --------------------------------------------------------------------------------------------
# assembly
# --------------------------------------------------------------------------------------------
_READERS = (_olmo, _k2, _amber, _mamba, _datablations, _datablations_contour, _datablations_code,
            _opt, _gpt3, _t5, _redpajama, _bimix, _gzip, _moduleformer, _left_out)


def ingest(folder: Path) -> SourceTables:
    """Read every per-source file of the ColPret copy in ``folder`` into store tables.

    Parameters
    ----------
    folder : Path
        ``shared/data/colpret`` (holds ``SOURCE.txt`` and the copied repository paths).

    Returns
    -------
    SourceTables
        ``runs`` (one per training run), ``points`` (one per run x checkpoint x metric, values
        in the unit named by ``points.unit``), ``exclusions`` (every conversion, flag and omission)
        and ``rows_read`` (file -> rows). Missing FLOPs are filled as C = 6 N D with N = runs.params
        and D = points.tokens; points at D = 0 are dropped.
    """
    folder = Path(folder)
    ing = _Ingest(folder)
    for reader in _READERS:
        reader(ing)

    runs = pd.DataFrame(ing.runs)
    points = pd.concat(ing.points, ignore_index=True)
    orphans = sorted(set(points["run_id"]) - set(runs["run_id"]))
    if orphans:
        raise ValueError(f"points reference runs that were not created: {orphans[:3]}")
    params = points["run_id"].map(runs.set_index("run_id")["params"].astype("float64"))

    zero = points["tokens"] == 0
    for file, n in points[zero].groupby("_file").size().items():
        ing.exclude(file, "points at D = 0", "dropped",
                    "initialisation checkpoint; laws are fitted in log D (ColPret drops them too)", int(n))
    points, params = points[~zero], params[~zero]

    fill = points["flops"].isna() & params.notna() & points["tokens"].notna()
    points.loc[fill, "flops"] = 6.0 * params[fill] * points.loc[fill, "tokens"]
    for file, n in points[fill].groupby("_file").size().items():
        ing.exclude(file, "flops", "converted", "no FLOPs published: C = 6 N D", int(n))

    dup = points.duplicated(["run_id", "metric", "step", "tokens"])
    if dup.any():
        row = points[dup].iloc[0]
        raise ValueError(f"duplicate point {row['run_id']} {row['metric']} at D={row['tokens']}")

    final_tokens = points.groupby("run_id")["tokens"].max()
    if "tokens" not in runs:
        runs["tokens"] = np.nan
    runs["tokens"] = runs["tokens"].astype("float64").fillna(runs["run_id"].map(final_tokens))
    if "flops" not in runs:
        runs["flops"] = np.nan
    runs["flops"] = runs["flops"].astype("float64").fillna(
        6.0 * runs["params"].astype("float64") * runs["tokens"])
    runs["extra"] = runs["extra"].map(_clean_extra)

    points = points.drop(columns=["_file"]).sort_values(
        ["run_id", "metric", "tokens", "step"], na_position="last", kind="mergesort")
    ing.tables.runs = make_runs(runs.sort_values("run_id", kind="mergesort"))
    ing.tables.points = make_points(points)
    ing.tables.exclusions.sort(key=lambda e: (e["file"], e["what"], e["action"], e["reason"]))
    ing.tables.rows_read = dict(sorted(ing.tables.rows_read.items()))
    return ing.tables


def _clean_extra(extra: object) -> dict | None:
    """Drop ``None``/NaN entries so the JSON only says what is known."""
    if not isinstance(extra, dict):
        return None
    out = {}
    for key, value in extra.items():
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        out[key] = value.item() if isinstance(value, np.generic) else value
    return out or None
