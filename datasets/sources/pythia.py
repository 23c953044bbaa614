"""Ingest ``pythia``: EleutherAI/pythia ``evals/`` (Biderman et al. 2023, arXiv 2304.01373).

Every file is an lm-evaluation-harness output ``{results: {task: {metric, metric_stderr}}, config}``.

Runs
----
One run per trained model: (size, deduped or not, variant). Variants and families:

* standard (``pythia-<size>[-deduped]/{zero,five}-shot``): ``pythia/pythia`` (7 sizes; there is no
  plain 1B folder) and ``pythia/pythia-deduped`` (8 sizes);
* bf16 (``pythia-1b-bf16``): ``pythia/pythia-bf16``;
* batch-size ablations (``pythia-<size>-<b>MtokBS``): ``pythia/bs-<b>M`` (one family per batch size);
* gender-pronoun intervention (``pythia-<size>-deduped/intervention``): ``pythia/intervention`` and
  ``pythia/intervention-long`` (1.4B only), plus ``pythia/intervention-baseline`` (``baseline/``: the
  standard deduped models re-evaluated at the intervention steps);
* OPT and BLOOM (``evals/opt``, ``evals/bloom``; final models only): ``pythia/opt-evals``,
  ``pythia/bloom-evals``.

Points
------
Metric ``"<task>/<metric>@<k>shot"`` with ``k = config.num_fewshot`` (trusted over file names:
``pythia-1b-bf16/zero-shot`` holds files named ``-5shot`` that were run zero-shot). The checkpoint
step is ``config.model_args``' ``revision=step<N>`` (checked against the file name).

* tokens D = step x 2,097,152 (1,024 sequences x 2,048 tokens); the batch-size ablations use their
  own batch: 0.25M = 262,144, 0.5M = 524,288, 1M = 1,048,576 tokens per step.
* N = the exact parameter counts of the Pythia paper's Table 1 (total, embeddings included; same
  for deduped and ablation runs of a size). OPT/BLOOM: nominal count from the model name.
* C = 6 N D. Step 0 (initialisation, D = 0) is dropped, as in ColPret: laws are fitted in log D.
* Units: ``acc``/``acc_norm`` accuracy (higher is better); ``lambada_openai/ppl`` perplexity
  (lower); CrowS-Pairs ``pct_stereotype`` (fraction of stereotyped preferences) and
  ``likelihood_difference`` (mean |log-likelihood difference|), unit score, lower is better.
  Standard errors are the harness' ``*_stderr``.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from datasets.sources import SourceTables
from datasets.sources._common import Provenance, finish

SOURCE = "pythia"
TOKENS_PER_STEP = 1024 * 2048
ABLATION_TOKENS_PER_STEP = {"0.25M": 128 * 2048, "0.5M": 256 * 2048, "1M": 512 * 2048}

#: Pythia paper (Biderman et al. 2023) Table 1: total parameters, embeddings included.
PARAMS = {"70m": 70_426_624, "160m": 162_322_944, "410m": 405_334_016, "1b": 1_011_781_632,
          "1.4b": 1_414_647_808, "2.8b": 2_775_208_960, "6.9b": 6_857_302_016, "12b": 11_846_072_320}

OPT_TOKENS = 180e9      # Zhang et al. 2022 (arXiv 2205.01068): every OPT model saw ~180B tokens
BLOOM_TOKENS = 341e9    # Le Scao et al. 2022 (arXiv 2211.05100) Table 3: 341B for 560M-7.1B (366B: 176B only)
PAPERS = {"opt": "Zhang et al. 2022, OPT: Open Pre-trained Transformer Language Models, arXiv 2205.01068",
          "bloom": "BigScience (Le Scao et al.) 2022, BLOOM, arXiv 2211.05100"}

#: harness metric -> (unit, higher_is_better)
UNITS = {"acc": ("accuracy", True), "acc_norm": ("accuracy", True), "ppl": ("perplexity", False),
         "pct_stereotype": ("score", False), "likelihood_difference": ("score", False)}

_PYTHIA_DIR = re.compile(r"^pythia-(?P<size>[0-9.]+[mb])(?:-(?P<kind>deduped|bf16|(?P<bs>[0-9.]+M)tokBS))?$")
_REVISION = re.compile(r"revision=step(\d+)")
_FILE_STEP = re.compile(r"_step(\d+)\.json$")
_COUNT = re.compile(r"-([0-9.]+)([mb])$")


def _count(name: str) -> float:
    """Nominal parameter count from a model name ending in e.g. ``-1.3b`` or ``-560m`` (``1b1`` -> 1.1b)."""
    m = _COUNT.search(re.sub(r"-(\d+)b(\d)$", r"-\1.\2b", name))
    if not m:
        raise ValueError(f"cannot read a parameter count from {name!r}")
    return float(m.group(1)) * (1e9 if m.group(2) == "b" else 1e6)


def _run_of(path: str, model_args: str) -> dict:
    """Run fields for the Pythia file at local ``path`` (``evals/pythia-v1/<dir>/[<sub>/]<file>``)."""
    parts = path.split("/")
    m = _PYTHIA_DIR.match(parts[2])
    if not m:
        raise ValueError(f"{path}: unexpected folder {parts[2]!r}")
    size, kind, bs = m["size"], m["kind"], m["bs"]
    sub = parts[3] if len(parts) == 5 else ""
    deduped = kind == "deduped"
    data = "the Pile (deduplicated)" if deduped else "the Pile"
    name = f"pythia-{size}" + ("-deduped" if deduped else "")
    tokens_per_step = TOKENS_PER_STEP
    extra: dict = {"tokens_per_step": tokens_per_step}
    if kind == "bf16":
        variant, family = "bf16", "pythia/pythia-bf16"
        extra["precision"] = "bf16"
    elif bs:
        variant, family = f"bs-{bs}", f"pythia/bs-{bs}"
        tokens_per_step = ABLATION_TOKENS_PER_STEP[bs]
        extra = {"tokens_per_step": tokens_per_step, "batch_tokens": bs}
    elif sub == "intervention":
        long = "-long," in model_args + ","
        variant = "intervention-long" if long else "intervention"
        family = f"pythia/{variant}"
        extra["intervention"] = "gender-pronoun (EleutherAI/intervention-pythia-v1.1 checkpoints)"
    elif sub == "baseline":
        variant, family = "intervention-baseline", "pythia/intervention-baseline"
        extra["intervention"] = "none: the standard deduped model re-evaluated at the intervention steps"
    elif sub in ("zero-shot", "five-shot"):
        variant, family = "standard", "pythia/pythia-deduped" if deduped else "pythia/pythia"
    else:
        raise ValueError(f"{path}: unexpected sub-folder {sub!r}")
    run_id = f"pythia/{name}" + ("" if variant == "standard" else f"/{variant}")
    return dict(run_id=run_id, family=family, model=run_id.split("/", 1)[1], collection="pythia-v1",
                size=size, data=data, tokens_per_step=tokens_per_step, extra=extra)


def _values(results: dict) -> list[tuple[str, str, float, float]]:
    """(task, metric, value, stderr) for every metric of a harness ``results`` dict."""
    out = []
    for task, metrics in results.items():
        for key, value in metrics.items():
            if key.endswith("_stderr"):
                continue
            if key not in UNITS:
                raise ValueError(f"unknown harness metric {key!r} for task {task!r}")
            out.append((task, key, float(value), float(metrics.get(f"{key}_stderr", np.nan))))
    return out


def ingest(folder: Path) -> SourceTables:
    """Read every evaluation JSON under ``folder/evals`` into runs and points (see module docstring)."""
    folder = Path(folder)
    prov = Provenance.of(folder)
    tables = SourceTables(runs=pd.DataFrame(), points=pd.DataFrame())
    runs: dict[str, dict] = {}
    rows: list[tuple] = []
    renamed_shots = 0
    for path in prov.files:
        if not path.endswith(".json"):
            raise ValueError(f"{SOURCE}: unexpected file {path}")
        doc = json.loads((folder / path).read_text(encoding="utf-8"))
        config, results = doc["config"], doc["results"]
        shots = int(config["num_fewshot"])
        values = _values(results)
        tables.rows_read[path] = len(values)
        if path.startswith("evals/pythia-v1/"):
            run = _run_of(path, config["model_args"])
            rev = _REVISION.search(config["model_args"])
            file_step = _FILE_STEP.search(path)
            if not rev or not file_step or int(rev.group(1)) != int(file_step.group(1)):
                raise ValueError(f"{path}: checkpoint step in model_args {config['model_args']!r} "
                                 f"does not match the file name")
            step = float(rev.group(1))
            if "-5shot" in path.rsplit("/", 1)[1] and shots != 5:
                renamed_shots += 1
            params = float(PARAMS[run["size"]])
            tokens = step * run["tokens_per_step"]
        else:
            collection = path.split("/")[1]
            model = path.rsplit("/", 1)[1].removesuffix(".json")
            run = dict(run_id=f"pythia/{collection}/{model}", family=f"pythia/{collection}-evals",
                       model=model, collection=collection, extra=None,
                       data="OPT pre-training corpus" if collection == "opt" else "ROOTS")
            step, params = np.nan, _count(model)
            tokens = OPT_TOKENS if collection == "opt" else BLOOM_TOKENS
        rid = run["run_id"]
        if rid not in runs:
            runs[rid] = dict(run_id=rid, collection=run["collection"], family=run["family"], model=run["model"],
                             arch="dec", params=params, data=run["data"], extra=run["extra"],
                             **prov.run_fields(path), _files=[])
        runs[rid]["_files"].append(path)
        flops = 6.0 * params * tokens
        rows.extend((rid, step, tokens, flops, f"{task}/{metric}@{shots}shot", value, stderr, *UNITS[metric])
                    for task, metric, value, stderr in values)

    points = pd.DataFrame(rows, columns=["run_id", "step", "tokens", "flops", "metric", "value", "stderr",
                                         "unit", "higher_is_better"]).assign(split="downstream")
    zero = points["tokens"] == 0
    tables.exclude("evals/pythia-v1", "points at step 0", "dropped",
                   "initialisation checkpoint (D = 0); laws are fitted in log D (ColPret drops them too)",
                   int(zero.sum()))
    points = points[~zero]
    _record_decisions(tables, renamed_shots)
    return finish(tables, prov, _runs_frame(runs, points, prov), points)


def _runs_frame(runs: dict[str, dict], points: pd.DataFrame, prov: Provenance) -> pd.DataFrame:
    """One row per run: final tokens/FLOPs from its points, provenance of its first file, notes."""
    final = points.groupby("run_id").agg(tokens=("tokens", "max"))
    out = []
    for rid, run in runs.items():
        files = sorted(run.pop("_files"))
        upstream = [prov.upstream[f] for f in files]
        run["file"] = upstream[0] if len(upstream) == 1 else os.path.commonpath(upstream) + "/"
        run["tokens"] = float(final.loc[rid, "tokens"])
        run["flops"] = 6.0 * run["params"] * run["tokens"]
        if run["collection"] in PAPERS:
            run["paper"] = PAPERS[run["collection"]] + f" (evaluated in {prov.paper.split(',')[0]})"
            run["notes"] = (f"final model only (no step); D = {run['tokens'] / 1e9:.0f}B tokens taken from the "
                            f"{run['collection'].upper()} paper, not from the evaluation file; N nominal from the "
                            f"model name; C = 6ND")
        else:
            tps = run["extra"]["tokens_per_step"]
            run["notes"] = (f"D = step x {tps:,} tokens per step; N = Pythia paper Table 1 (total params incl. "
                            f"embeddings); C = 6ND; metric suffix @<k>shot from config.num_fewshot; "
                            f"{len(files)} evaluation files")
        out.append(run)
    return pd.DataFrame(out)


def _record_decisions(tables: SourceTables, renamed_shots: int) -> None:
    tables.exclude("evals/pythia-v1", "num_fewshot", "flagged",
                   "shot count taken from config.num_fewshot, not the file name; "
                   f"{renamed_shots} files are named -5shot but were run zero-shot (pythia-1b-bf16/zero-shot)",
                   renamed_shots)
    tables.exclude("evals/pythia-v1", "tokens", "converted",
                   "D = step x 2,097,152 tokens (1,024 x 2,048); batch-size ablations use their own batch "
                   "(0.25M = 262,144, 0.5M = 524,288, 1M = 1,048,576 tokens per step)")
    tables.exclude("evals/pythia-v1", "params", "converted",
                   "N from the Pythia paper's Table 1 (total parameters); not stored in the JSONs")
    tables.exclude("evals/pythia-v1", "flops", "converted", "no FLOPs published: C = 6 N D")
    tables.exclude("evals/pythia-v1/pythia-1b-bf16", "family", "flagged",
                   "there is no plain pythia-1b evaluation folder; the bf16 1B run is kept in its own family "
                   "pythia/pythia-bf16 rather than filling the 1B slot of pythia/pythia")
    tables.exclude("evals/pythia-v1", "baseline folders", "flagged",
                   "baseline/ holds the standard deduped models re-evaluated at the intervention steps; kept as "
                   "separate runs (family pythia/intervention-baseline) so they do not duplicate the zero-shot "
                   "checkpoints of pythia/pythia-deduped")
    tables.exclude("evals/opt", "tokens", "converted",
                   f"final models only; D = {OPT_TOKENS / 1e9:.0f}B tokens from the OPT paper; N nominal from the name")
    tables.exclude("evals/bloom", "tokens", "converted",
                   f"final models only; D = {BLOOM_TOKENS / 1e9:.0f}B tokens (BLOOM paper Table 3 for the "
                   "560M-7.1B models; 366B is the 176B model's figure); N nominal from the name")
