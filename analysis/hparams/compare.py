"""Published vs refit: StepLaw's constants beside what the released sweep gives.

One row per constant of :math:`\\eta^* = c N^a D^b` and :math:`B^* = d D^g` [tokens]:

* ``published`` -- the paper's values (1.79, -0.713, 0.307, 0.58, 0.571);
* ``released file`` -- the mean of the authors' 1,000 released bootstrap fits (1.797, -0.7129, 0.3075,
  0.5807, 0.5709), when the file is given;
* ``authors' procedure`` -- their code (0.25% filter, pooled OLS, bootstrap mean) run on the released
  cells: the N exponent reproduces (-0.767), the D exponent does not (0.197 vs 0.307);
* ``refit`` -- this workbench's cell method (the bowl by default: B exponent 0.57 [0.54, 0.62]).

``agrees`` says whether the published value lies inside the refit's 95% interval (None when the refit has
no interval, e.g. an exponent the sweep does not determine).
"""
from __future__ import annotations

import math

import pandas as pd

from .rules import STEPLAW_PUBLISHED
from .scaling import PowerLaw

__all__ = ["published_vs_refit"]

ROWS = (("c", "lr", "coefficient of eta* = c N^a D^b"), ("a", "lr", "N exponent of eta*"),
        ("b", "lr", "D exponent of eta*"), ("d", "batch", "coefficient of B* = d D^g (tokens)"),
        ("g", "batch", "D exponent of B*"))


def _value(laws: dict, target: str, name: str) -> float:
    law = laws.get(target)
    return float(law.params[name]) if isinstance(law, PowerLaw) else math.nan


def published_vs_refit(refit_lr: PowerLaw | None, refit_batch: PowerLaw | None, *, method: str = "bowl",
                       authors: tuple[PowerLaw, PowerLaw] | None = None,
                       released: tuple[PowerLaw, PowerLaw] | None = None) -> pd.DataFrame:
    """The comparison table (see the module docstring): columns ``constant``, ``meaning``, ``published``,
    ``released file``, ``authors' procedure``, ``refit (<method>)``, ``refit lo``, ``refit hi``, ``agrees``
    (columns without data are left out)."""
    refit = {"lr": refit_lr, "batch": refit_batch}
    rows = []
    for name, target, meaning in ROWS:
        row = {"constant": name, "meaning": meaning, "published": STEPLAW_PUBLISHED[name]}
        if released is not None:
            row["released file"] = _value({"lr": released[0], "batch": released[1]}, target, name)
        if authors is not None:
            row["authors' procedure"] = _value({"lr": authors[0], "batch": authors[1]}, target, name)
        law = refit[target]
        row[f"refit ({method})"] = _value(refit, target, name)
        ci = law.ci.get(name) if isinstance(law, PowerLaw) else None
        row["refit lo"] = ci.lo if ci is not None else math.nan
        row["refit hi"] = ci.hi if ci is not None else math.nan
        row["agrees"] = ci.contains(STEPLAW_PUBLISHED[name]) if ci is not None and ci.finite else None
        rows.append(row)
    return pd.DataFrame(rows)
