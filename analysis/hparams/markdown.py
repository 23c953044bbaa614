"""A Markdown report of a sweep analysis (the Hyperparameters page's download and ``hparams --format md``).

Sections: data, fitted laws with 95% intervals, published vs refit, per-cell optima, published rules'
loss gaps, mistuning penalties, the recommendation, warnings. Every number carries its unit; penalties
are shown as percentages of the cell's minimum loss. Text from data (family names, warnings) is escaped
for Markdown tables.
"""
from __future__ import annotations

import math

import pandas as pd

from .sensitivity import factor_label

__all__ = ["to_markdown"]


def _num(v, digits: int = 4) -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return "n/a"
    return f"{v:.{digits}g}" if math.isfinite(v) else "n/a"


def _pct(v) -> str:
    try:
        return f"{100 * float(v):.3f}%" if math.isfinite(float(v)) else "n/a"
    except (TypeError, ValueError):
        return "n/a"


def _esc(text) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_esc(c) for c in row) + " |" for row in rows]
    return out + [""]


def to_markdown(result, *, comparison: pd.DataFrame | None = None, title: str = "Hyperparameter laws") -> str:
    """The report of :class:`~analysis.hparams.HparamsResult` ``result`` (``comparison``: the table of
    :func:`~analysis.hparams.published_vs_refit`)."""
    r = result
    lines = [f"# {_esc(title)}", "",
             f"Data: {_esc(r.family or 'uploaded sweep')}, metric {_esc(r.metric or 'loss')} "
             f"({_esc(r.unit or 'n/a')}); "
             f"{r.n_cells} (N, D) cells, {r.n_runs} runs, {r.n_diverged} diverged. Cell optimum: {r.method}; "
             f"{r.bootstrap} run-level bootstrap resamples per cell (seed {r.seed}); N = {r.n_basis} parameters.", "",
             "## Fitted laws", ""]
    rows = []
    for law in (r.lr_law, r.batch_law, r.batch_law_nd):
        if law is None:
            continue
        for name, value in law.params.items():
            ci = law.ci[name]
            rows.append([law.formula, name, _num(value), f"[{_num(ci.lo)}, {_num(ci.hi)}]"])
    lines += _table(["law", "constant", "value", "95% interval"], rows) if rows else ["No law: too few cells.", ""]
    if comparison is not None and len(comparison):
        lines += ["## Published vs refit (StepLaw)", ""]
        cols = [c for c in comparison.columns if c not in ("meaning",)]
        lines += _table(cols, [[_num(v) if isinstance(v, float) else str(v) for v in row]
                               for row in comparison[cols].itertuples(index=False)])
    lines += ["## Optimum per cell", ""]
    lines += _table(["N (parameters)", "D (tokens)", "lr*", "lr* 95%", "B* (tokens)", "B* 95%", "min loss", "runs"],
                    [[_num(c.N), _num(c.D), _num(c.lr_opt, 3), f"[{_num(c.lr_ci.lo, 3)}, {_num(c.lr_ci.hi, 3)}]",
                      _num(c.batch_opt), f"[{_num(c.batch_ci.lo)}, {_num(c.batch_ci.hi)}]", _num(c.loss_min),
                      str(c.n_runs)] for c in r.cells])
    lines += ["## Published rules", "", "Loss of the converged run nearest each rule's (lr, B), above the cell's "
              "minimum (diverged runs excluded).", ""]
    lines += _table(["rule", "mean gap", "worst cell", "cells"],
                    [[s.name, _pct(s.mean_penalty), _pct(s.max_penalty), str(s.n_cells)] for s in r.rules])
    s = r.sensitivity
    lines += ["## Cost of mistuning", "", "Median over cells of the loss penalty when one hyperparameter is moved "
              "by a factor and the other re-optimised.", ""]
    lines += _table(["factor", "learning rate", "batch size"],
                    [[factor_label(k), _pct(s.lr[k]), _pct(s.batch[k])] for k in s.factors])
    rec = r.recommendation
    if rec is not None:
        lines += ["## Recommendation", "",
                  f"At N = {_num(rec.N)} parameters, D = {_num(rec.D)} tokens (sequence length {_num(rec.seq_len)}): "
                  f"learning rate {_num(rec.lr, 3)} [{_num(rec.lr_ci.lo, 3)}, {_num(rec.lr_ci.hi, 3)}], batch "
                  f"{_num(rec.batch_tokens)} tokens = {_num(rec.batch_sequences)} sequences "
                  f"[{_num(rec.batch_sequences_ci.lo)}, {_num(rec.batch_sequences_ci.hi)}]; {_esc(rec.hull)}.", ""]
    if r.warnings:
        lines += ["## Warnings", ""] + [f"- {_esc(w)}" for w in r.warnings] + [""]
    return "\n".join(lines)
