"""MLflow tracking folders (``mlruns/``), read from MLflow's file layout, without MLflow installed.

The layout MLflow's file store writes (``mlflow.set_tracking_uri("file:./mlruns")``)::

    mlruns/<experiment id>/meta.yaml                      name: scaling, ...
    mlruns/<experiment id>/<run id>/meta.yaml             run_name, lifecycle_stage, ...
    mlruns/<experiment id>/<run id>/metrics/eval/loss     "<timestamp ms> <value> <step>" per line
    mlruns/<experiment id>/<run id>/params/n_params       the value as text
    mlruns/<experiment id>/<run id>/tags/mlflow.runName   the run's name

Each run is a run (named by its ``mlflow.runName`` tag, else ``run_name``, else its id; the id is
accepted in ``run_info`` too), each metric file a metric (``eval/loss`` from ``metrics/eval/loss``),
its lines the points (a malformed line is rejected with the file and line), each experiment a family.
Params are the run's config; a param named like a size (``n_params``, ``tokens``, ``flops``) is its N,
D or C. Deleted runs (``lifecycle_stage: deleted``) and the ``.trash`` folder are skipped, and so are
MLflow 3's logged-model folders (``<experiment>/models/``), whose metrics are copies of the runs'.

Why the file layout and not the ``mlflow`` client: the client needs ``mlflow-skinny`` (4 MB wheel,
~70 MB installed with its 17 dependencies: databricks-sdk, fastapi, opentelemetry, ...) or ``mlflow``
(45 packages including scikit-learn, matplotlib, SQLAlchemy), only to read small text files whose
format is fixed by MLflow's ``FileStore``; reading them directly needs PyYAML alone. The tests write
the folder with MLflow's own client (a test dependency) and read it back here.

A run folder whose ``metrics/`` is missing or empty is named in a warning (copied without its metric
files?); when no run has any metric file the folder is refused with that message, naming MLflow 3.7+'s
SQLite store (``mlflow.db``, where newer MLflow keeps metrics by default; read by
:mod:`datasets.formats.mlflow_db`) as the likely place.
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath

import pandas as pd

from datasets.formats.draft import Draft
from datasets.formats.roles import classify
from datasets.formats.series import series_draft
from datasets.upload import UploadError

_PARTS = ("metrics", "params", "tags")
_MAX_META = 64_000        # bytes of a meta.yaml / param / tag file read


def split_path(path: str) -> tuple[str, str, str] | None:
    """``<run dir>/<metrics|params|tags>/<key>`` -> (run dir, part, key), else None."""
    parts = PurePosixPath(path).parts
    for i in range(len(parts) - 2, 0, -1):
        if parts[i] in _PARTS:
            return "/".join(parts[:i]), parts[i], "/".join(parts[i + 1:])
    return None


def looks_like(paths: list[str]) -> bool:
    """Whether ``paths`` hold an MLflow file store: a ``meta.yaml`` beside ``metrics/`` or ``params/``."""
    metas = {str(PurePosixPath(p).parent) for p in paths if PurePosixPath(p).name == "meta.yaml"}
    return any((s := split_path(p)) is not None and s[0] in metas for p in paths) or any(
        PurePosixPath(p).name == "meta.yaml" and PurePosixPath(p).parent.name not in ("", ".")
        and str(PurePosixPath(p).parent.parent) in metas for p in paths)


def select(paths: list[str]) -> list[str]:
    """The files the reader needs: every ``meta.yaml``, metric and param files, the runName tag."""
    metas = {str(PurePosixPath(p).parent) for p in paths if PurePosixPath(p).name == "meta.yaml"}
    out = []
    for p in paths:
        pp = PurePosixPath(p)
        if pp.name == "meta.yaml":
            out.append(p)
            continue
        s = split_path(p)
        if s is None:
            continue
        run_dir, part, key = s
        parent = str(PurePosixPath(run_dir).parent)
        if PurePosixPath(run_dir).parent.name == "models":
            continue                                  # MLflow 3 logged models, not runs
        if run_dir not in metas and parent not in metas:
            continue
        if part in ("metrics", "params") or key == "mlflow.runName":
            out.append(p)
    return out


def _read_text(path: Path, limit: int = _MAX_META) -> str:
    with open(path, "rb") as fh:
        raw = fh.read(limit)
    return raw.decode("utf-8", errors="replace")


def _meta(path: Path) -> dict:
    import yaml

    try:
        data = yaml.safe_load(_read_text(path))
    except (yaml.YAMLError, OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def run_row(name: str, family: str | None, run_id: str, params: dict[str, str]) -> dict:
    """One run's row of ``Draft.runs``: params as config, a size-named param (``n_params`` ...) as its size."""
    row = {"run": name, "family": family, "alias": run_id, "config": params or None}
    for field, col in (("N", "params"), ("D", "tokens"), ("C", "flops")):
        hit = next(((k, v) for k, v in params.items() if classify(k) == field), None)
        if hit:
            row[col], row[col + "_from"] = hit[1], f"param {hit[0]!r}"
    return row


def read_mlflow(root: Path, paths: list[str], *, label: str, column_map=None) -> Draft:
    """An MLflow file store under ``root`` (files ``paths`` from :func:`select`) -> :class:`Draft`."""
    metas = {str(PurePosixPath(p).parent): _meta(root.joinpath(*PurePosixPath(p).parts))
             for p in paths if PurePosixPath(p).name == "meta.yaml"}
    files: dict[str, dict[str, dict[str, str]]] = {}
    for p in paths:
        s = split_path(p)
        if s is not None:
            files.setdefault(s[0], {}).setdefault(s[1], {})[s[2]] = p
    run_dirs = sorted(set(files) | {d for d, m in metas.items() if "run_id" in m or "run_uuid" in m})
    run_dirs = [d for d in run_dirs if PurePosixPath(d).parent.name != "models"]
    if not run_dirs:
        raise UploadError(f"No MLflow runs were found in {label!r}.",
                          fix="Upload the tracking folder itself (mlruns/, holding <experiment>/<run>/meta.yaml).")
    notes, warnings = [], []
    deleted, no_metrics, no_meta = [], [], []
    rows, run_rows = [], []
    lines_read = 0
    names_seen: dict[str, int] = {}
    for d in run_dirs:
        meta = metas.get(d)
        run_id = str((meta or {}).get("run_id") or (meta or {}).get("run_uuid") or PurePosixPath(d).name)
        if meta is None:
            no_meta.append(d)
            meta = {}
        if str(meta.get("lifecycle_stage", "active")) == "deleted":
            deleted.append(d)
            continue
        parts = files.get(d, {})
        tag = parts.get("tags", {}).get("mlflow.runName")
        name = _read_text(root.joinpath(*PurePosixPath(tag).parts)).strip() if tag else ""
        name = name or str(meta.get("run_name") or "").strip() or run_id
        exp_dir = str(PurePosixPath(d).parent)
        exp = metas.get(exp_dir, {})
        family = str(exp.get("name") or (PurePosixPath(exp_dir).name if exp_dir not in ("", ".") else "")) or None
        names_seen[name] = names_seen.get(name, 0) + 1
        if names_seen[name] > 1:               # MLflow allows repeated run names; runs here need their own
            name = f"{name}-{run_id[:8]}"
        metrics = parts.get("metrics", {})
        if not metrics:
            no_metrics.append(name)
        params = {}
        for k, p in sorted(parts.get("params", {}).items()):
            params[k] = _read_text(root.joinpath(*PurePosixPath(p).parts)).strip()
        run_rows.append(run_row(name, family, run_id, params))
        for k, p in sorted(metrics.items()):
            path = root.joinpath(*PurePosixPath(p).parts)
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError as e:
                warnings.append(f"Cannot read the metric file {p!r}: {e.strerror or e}; skipped.")
                continue
            for ln, line in enumerate(text.splitlines(), start=1):
                if not line.strip():
                    continue
                lines_read += 1
                f = line.split()
                if len(f) in (2, 3, 5):
                    value, step = f[1], (f[2] if len(f) >= 3 else "0")
                else:
                    value, step = line.strip()[:60], ""
                rows.append((name, k, step, value, p, ln))
    if deleted:
        notes.append(f"{len(deleted)} deleted run{'s' if len(deleted) != 1 else ''} were skipped.")
    if no_meta:
        warnings.append(f"{len(no_meta)} run folder{'s' if len(no_meta) != 1 else ''} without meta.yaml "
                        f"({', '.join(map(repr, no_meta[:3]))}) were read with the folder name as the run id.")
    if not rows:
        raise UploadError(f"No metric history was found in the MLflow folder {label!r}: "
                          f"{len(no_metrics)} run{'s' if len(no_metrics) != 1 else ''} "
                          f"({', '.join(map(repr, no_metrics[:5]))}) have no metric files under metrics/.",
                          fix="Copy the whole mlruns folder (each run's metrics/ holds its histories). MLflow "
                              "3.7 and later keep metrics in mlflow.db (SQLite) by default: upload that file.")
    if no_metrics:
        warnings.append(f"{len(no_metrics)} run{'s' if len(no_metrics) != 1 else ''} "
                        f"({', '.join(map(repr, no_metrics[:5]))}) have no metric files (metrics/ missing or "
                        "empty: copied without them?); they have no points.")
    rec = pd.DataFrame(rows, columns=["run", "name", "step", "value", "file", "row"])
    runs = pd.DataFrame(run_rows)
    d = series_draft(rec, runs, column_map=column_map, fmt="mlflow", rows_read=lines_read,
                     files=sum(len(v.get("metrics", {})) for v in files.values()), what="metric key")
    d.sources["run"] = "run names (mlflow.runName)"
    d.sources["step"] = "metric file step"
    d.notes.extend(notes)
    d.warnings.extend(warnings)
    d.mapping = {"run": "mlflow.runName", "family": "experiment name", "step": "metric step",
                 **{k: v for k, v in d.mapping.items()}}
    return d
