"""Which logged name is what: run name, step, a size (N, D, C, U), a learning rate, a metric, or config.

Experiment trackers log everything as named series (``train/loss``, ``eval/loss``, ``val.loss``,
``trainer/global_step``, ``lr-AdamW``, ``_runtime``) and keep hyperparameters beside them (``n_params``,
``model.d_model``, ``config/lr``). :func:`classify` names the role of one such name; :func:`assign_roles`
settles a whole table's columns (one column per role, the rest metrics or run constants), honouring a
user's ``column_map`` first.

Rules (names are split at ``/`` and ``.``; each segment compared ignoring case, spaces and ``_-``):

* *ignored*: tracker bookkeeping: names starting with ``_`` other than ``_step`` (W&B's ``_runtime``,
  ``_timestamp``, ``_wandb``), ``system/...`` (W&B's GPU and CPU monitors), W&B run-table columns
  (State, Notes, User, Tags, Created, Runtime, Sweep, Hostname, ...), wall times, and ``epoch``;
* *step*: ``global_step`` (any namespace, e.g. ``trainer/global_step``), ``step``, ``_step``,
  ``iteration``, ``iter``; with several, the first in that order (the trainer's own counter before W&B's);
* *N, D, C, U*: the upload aliases (``params``, ``n_params``, ``tokens``, ``tokens_seen``, ``flops`` ...)
  plus ``num_input_tokens_seen`` (Hugging Face), in any namespace except an evaluation one (``eval/``);
* *lr*: ``lr``, ``learning_rate``, ``lr-<optimizer>`` (Lightning), in any namespace: points of unit ``lr``;
* *config*: names under ``config``/``cfg``/``hparams``/``args``, and other columns whose values never
  change within a run and whose name does not look like a metric: run constants (``runs.extra``);
* *metric*: everything else that holds numbers: a name with a metric word (loss, ppl, acc, bpb, f1,
  score, error, ...) or an evaluation/training namespace (``train/``, ``eval/``, ``val.``), or any number
  that changes within a run. The name is kept as written (``eval/loss`` stays ``eval/loss``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from datasets.upload import ALIASES, UploadError
from datasets.upload.cells import unit_from_name
from datasets.vocabulary import name_key

ROLE_FIELDS = ("run", "family", "step", "N", "D", "C", "U", "value", "lr")
"""Fields a ``column_map`` may name for the format readers (``value`` may be a list: the metrics to keep)."""

_IGNORED_KEYS = frozenset({
    "state", "notes", "user", "tags", "created", "createdat", "updatedat", "runtime", "sweep", "hostname",
    "host", "commit", "github", "gitcommit", "gpu", "gpucount", "gputype", "cpucount", "jobtype", "agent",
    "heartbeat", "heartbeatat", "timestamp", "walltime", "time", "relativetime", "relativetimeprocess",
    "relativetimewall", "epoch", "epochs", "status", "starttime", "endtime", "duration", "lifecyclestage",
    "sourcename", "sourcetype", "sourceversion", "entrypointname", "artifacturi", "userid"})
_STEP_ORDER = ("globalstep", "step", "_step", "steps", "iteration", "iter")
_RUN_ORDER = ("name", "runname", "displayname", "run", "runid", "id", "model", "modelname")
_FAMILY_KEYS = ("group", "family", "scaledset", "rungroup")
_EXTRA_SIZE = {"D": ("num_input_tokens_seen", "total_tokens", "consumed_tokens", "tokens_consumed"),
               "N": ("param_count", "n_param", "num_param", "total_params", "model_params")}
SIZE_KEYS = {f: tuple(name_key(a) for a in ALIASES[f] + _EXTRA_SIZE.get(f, ())) for f in ("N", "D", "C", "U")}
_EVAL_SPACES = frozenset({"eval", "evaluation", "val", "valid", "validation", "test", "dev", "downstream"})
_METRIC_SPACES = _EVAL_SPACES | {"train", "training", "metrics", "metric", "loss", "benchmark", "bench"}
_CONFIG_SPACES = frozenset({"config", "cfg", "hparams", "hparam", "hyperparameters", "args", "params"})
_LR_KEYS = frozenset({"lr", "learningrate"})


def segments(name: str) -> list[str]:
    """``"trainer/global_step"`` -> ``["trainer", "global_step"]`` (split at ``/`` and ``.``)."""
    return [s for s in re.split(r"[/.]", str(name)) if s.strip()] or [str(name)]


def _key(segment: str) -> str:
    return "_step" if segment.strip() == "_step" else name_key(segment)


def classify(name: str) -> str:
    """Role of one logged name: ``ignored``, ``step``, ``N``, ``D``, ``C``, ``U``, ``lr``, ``config``, ``metric``.

    ``metric`` means "a metric if it holds numbers"; :func:`assign_roles` turns a ``metric`` whose values
    never change within a run and whose name does not look like a metric into ``config``.
    """
    text = str(name).strip()
    segs = segments(text)
    first, last = _key(segs[0]), _key(segs[-1])
    if text.startswith("_") and text != "_step":
        return "ignored"
    if first in ("system", "sys") and len(segs) > 1:
        return "ignored"
    if name_key(text) in _IGNORED_KEYS or last in ("epoch", "epochs"):
        return "ignored"
    if text == "_step" or last in _STEP_ORDER:
        return "step"
    if last in _LR_KEYS or any(s.casefold().startswith("lr-") for s in segs):
        return "lr"
    if first not in _EVAL_SPACES or len(segs) == 1:
        for f, keys in SIZE_KEYS.items():
            if last in keys or name_key(text) in keys:
                return f
    if first in _CONFIG_SPACES and len(segs) > 1:
        return "config"
    return "metric"


def looks_like_metric(name: str) -> bool:
    """A metric word (loss, ppl, acc, bpb, f1, score, error ...) or a train/eval namespace in the name."""
    segs = segments(name)
    return unit_from_name(str(name)) is not None or (len(segs) > 1 and _key(segs[0]) in _METRIC_SPACES)


@dataclass
class Roles:
    """The columns of a table by role (None / empty when absent), and the columns left out, with why."""

    run: str | None = None
    family: str | None = None
    step: str | None = None
    sizes: dict[str, str] = field(default_factory=dict)     # "N" / "D" / "C" / "U" -> column
    metrics: list[str] = field(default_factory=list)
    lr: list[str] = field(default_factory=list)
    config: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)   # column -> why
    given: set[str] = field(default_factory=set)            # roles set by column_map

    def mapping(self) -> dict[str, str | list[str]]:
        """``{field: column}`` as the report shows it (``value`` lists the metric columns)."""
        out: dict[str, str | list[str]] = {}
        for f in ("run", "family", "step"):
            if getattr(self, f):
                out[f] = getattr(self, f)
        out.update(self.sizes)
        if self.metrics:
            out["value"] = list(self.metrics)
        if self.lr:
            out["lr"] = list(self.lr) if len(self.lr) > 1 else self.lr[0]
        return out


def check_column_map(column_map: Mapping | None, names: Sequence[str], *, where: str) -> dict:
    """Validate a format reader's ``column_map``: known fields, existing names; ``value`` as a list."""
    out: dict = {}
    present = {str(n): str(n) for n in names}
    by_key: dict[str, list[str]] = {}
    for n in names:
        by_key.setdefault(name_key(n), []).append(str(n))
    for key, col in (column_map or {}).items():
        f = next((g for g in ROLE_FIELDS if g == key or name_key(g) == name_key(key)), None)
        if f is None:
            raise UploadError(f"The column mapping has the field {key!r}, which this format does not use.",
                              fix=f"Fields are: {', '.join(ROLE_FIELDS)}.")
        if col is None:
            out[f] = None
            continue
        cols = list(col) if isinstance(col, (list, tuple)) else [col]
        if len(cols) > 1 and f != "value":
            raise UploadError(f"The column mapping maps {f!r} to several names; only 'value' takes several.",
                              fix=f"Map {f!r} to one name.")
        resolved = []
        for c in cols:
            hit = present.get(str(c)) or (by_key.get(name_key(c), [None])[0]
                                          if len(by_key.get(name_key(c), [])) == 1 else None)
            if hit is None:
                shown = ", ".join(repr(n) for n in list(names)[:15]) + (" ..." if len(names) > 15 else "")
                raise UploadError(f"The column mapping maps {f!r} to {str(c)!r}, which is not among the {where}.",
                                  fix=f"Use one of: {shown}.")
            resolved.append(hit)
        out[f] = resolved if f == "value" else resolved[0]
    return out


def assign_roles(columns: Sequence[str], column_map: Mapping | None = None, *, table: bool = True,
                 numeric: Callable[[str], bool] = lambda c: True,
                 varies: Callable[[str], bool] = lambda c: True) -> Roles:
    """Settle the role of every column (or logged name) of one source.

    Parameters
    ----------
    columns : sequence of str
        Column names of a table (W&B export, per-run CSV), or the names a log holds (TensorBoard tags,
        MLflow metric keys).
    column_map : mapping, optional
        ``{field: name}`` (fields :data:`ROLE_FIELDS`; ``None`` switches a field off; ``value`` a list
        keeps only those metrics), applied before the rules.
    table : bool
        True for a table (run / family / step are columns); False for named series of one run.
    numeric, varies : callable
        Whether a column holds numbers, and whether its values change within some run; they decide
        between metric and run constant (config) for names that do not say.
    """
    cmap = check_column_map(column_map, columns, where="columns" if table else "logged names")
    roles = Roles(given={f for f, v in cmap.items() if v is not None})
    taken: set[str] = set()
    for f, col in cmap.items():
        if col is None:
            continue
        if f in ("run", "family", "step"):
            setattr(roles, f, col)
            taken.add(col)
        elif f in ("N", "D", "C", "U"):
            roles.sizes[f] = col
            taken.add(col)
        elif f == "lr":
            roles.lr = [col]
            taken.add(col)
    only = cmap.get("value")
    keys = {c: name_key(c) for c in columns}
    if table:
        for f, order in (("run", _RUN_ORDER), ("family", _FAMILY_KEYS)):
            if f in cmap:
                continue
            cands = sorted((order.index(keys[c]), i, c) for i, c in enumerate(columns)
                           if keys[c] in order and c not in taken)
            if cands:
                setattr(roles, f, cands[0][2])
                taken.add(cands[0][2])
                for _, _, c in cands[1:]:
                    roles.ignored[c] = f"also looks like the {f} name; used {cands[0][2]!r}"
                    taken.add(c)
    steps: list[tuple[int, int, str]] = []
    sizes: dict[str, list[str]] = {}
    for i, c in enumerate(columns):
        if c in taken:
            continue
        if only is not None and c in only:
            roles.metrics.append(c)
            continue
        role = classify(c)
        if only is not None and role in ("metric", "lr"):
            roles.ignored[c] = "not among the metrics chosen in the column mapping (value)"
            continue
        if role == "ignored":
            roles.ignored[c] = "tracker bookkeeping: times, run state, system monitors, epochs"
        elif role == "step":
            if "step" in cmap or not table:
                roles.ignored[c] = "step-like; the step comes from " + (repr(roles.step) if roles.step else "the log")
            else:
                last = "_step" if str(c).strip() == "_step" else _key(segments(c)[-1])
                steps.append((_STEP_ORDER.index(last), i, c))
        elif role in ("N", "D", "C", "U"):
            if role in cmap:
                roles.ignored[c] = f"also looks like {role}; the column mapping chose {roles.sizes.get(role)!r}"
            else:
                sizes.setdefault(role, []).append(c)
        elif role == "lr":
            if "lr" in cmap:
                roles.ignored[c] = "also a learning rate; the column mapping chose another"
            elif not numeric(c):
                roles.ignored[c] = "no numbers"
            elif varies(c):
                roles.lr.append(c)
            else:
                roles.config.append(c)
        elif role == "config":
            roles.config.append(c)
        else:   # metric, unless it is a run constant that does not look like one
            if not numeric(c) and not looks_like_metric(c):
                if varies(c):
                    roles.ignored[c] = "text that changes within a run"
                else:
                    roles.config.append(c)
            elif looks_like_metric(c) or varies(c):
                roles.metrics.append(c)
            else:
                roles.config.append(c)
    if steps:
        steps.sort()
        roles.step = steps[0][2]
        for _, _, c in steps[1:]:
            roles.ignored[c] = f"also a step counter; used {roles.step!r}"
    for f, cols in sizes.items():
        roles.sizes[f] = cols[0]
        for c in cols[1:]:
            roles.ignored[c] = f"also looks like {f}; used {cols[0]!r}"
    return roles
