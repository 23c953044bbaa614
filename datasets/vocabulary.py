"""The one vocabulary of scale axes and metric units, shared by ``analysis/`` and ``datasets/``.

Scale axes
----------
=======  =================  ===============  ===========================
symbol   store column       unit             title
=======  =================  ===============  ===========================
N        ``params``         parameters       Parameters N
D        ``tokens``         tokens           Tokens D
C        ``flops``          FLOPs            Training compute C (FLOPs)
step     ``step``           steps            Optimiser step
U        ``unique_tokens``  unique tokens    Unique tokens U
=======  =================  ===============  ===========================

:func:`axis` accepts a symbol, a store column or an alias (``"params"``, ``"n"``, ``"compute"``,
``"Unique tokens"`` ...), ignoring case, spaces, ``_``, ``-`` and ``.``.

Metric units
------------
:data:`UNITS` is the store's unit vocabulary (``points.unit``). Losses (:data:`LOSS_UNITS`) are
converted to nats by :func:`to_nats`: ``bits`` x ln 2, ``perplexity`` -> ln(ppl) (the per-token
cross-entropy), ``log10_perplexity`` x ln 10. :data:`BOUNDED_UNITS` live in [0, 1].
:data:`UNIT_ALIASES` maps common spellings (``ppl``, ``acc``, ``bpb`` ...) to a unit.

This module imports only numpy: anything may import it.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

import numpy as np

__all__ = ["Axis", "AXES", "axis", "UNITS", "LOSS_UNITS", "BOUNDED_UNITS", "HIGHER_IS_BETTER",
           "UNIT_ALIASES", "canonical_unit", "is_loss_unit", "to_nats", "name_key"]


def name_key(name: object) -> str:
    """Case-, space-, ``_-.``-insensitive key of a name (``"Num Params"`` -> ``"numparams"``)."""
    return re.sub(r"[\s_\-.]+", "", unicodedata.normalize("NFKC", str(name)).casefold())


@dataclass(frozen=True)
class Axis:
    """One scale axis.

    Attributes
    ----------
    symbol : str
        The letter used in laws and formulas: ``N``, ``D``, ``C``, ``step``, ``U``.
    column : str
        The store column holding it (``runs``/``points``): ``params``, ``tokens``, ``flops``, ...
    unit : str
        The unit word written after a number: ``parameters``, ``tokens``, ``FLOPs``, ...
    title : str
        An axis title for figures: ``Parameters N``, ``Training compute C (FLOPs)``, ...
    label : str
        A short lower-case label for tables and menus: ``parameters N``, ``FLOPs C``, ...
    aliases : tuple of str
        Other names accepted for it (column headers of uploads, CLI arguments), canonical first.
    """

    symbol: str
    column: str
    unit: str
    title: str
    label: str
    aliases: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """Every accepted name: symbol, column, then the aliases."""
        return (self.symbol, self.column, *self.aliases)


AXES: dict[str, Axis] = {a.symbol: a for a in (
    Axis("N", "params", "parameters", "Parameters N", "parameters N",
         ("params", "num_params", "n_params", "parameters", "model_size", "num_parameters", "n_parameters")),
    Axis("D", "tokens", "tokens", "Tokens D", "tokens D",
         ("tokens", "num_tokens", "tokens_seen", "training_tokens", "train_tokens", "n_tokens")),
    Axis("C", "flops", "FLOPs", "Training compute C (FLOPs)", "FLOPs C",
         ("flops", "compute", "training_flops", "train_flops")),
    Axis("step", "step", "steps", "Optimiser step", "steps",
         ("steps", "iteration", "iter", "global_step")),
    Axis("U", "unique_tokens", "unique tokens", "Unique tokens U", "unique tokens U",
         ("unique_tokens",)),
)}
"""Scale axes by symbol, in the order N, D, C, step, U."""

_AXIS_KEYS: dict[str, Axis] = {}
for _a in AXES.values():
    for _n in _a.names:
        _AXIS_KEYS.setdefault(name_key(_n), _a)


def axis(name: str | Axis) -> Axis:
    """The :class:`Axis` named by a symbol, store column or alias (case-, space- and ``_-.``-insensitive).

    Raises
    ------
    ValueError
        When ``name`` names no axis; the message lists the accepted names.
    """
    if isinstance(name, Axis):
        return name
    found = _AXIS_KEYS.get(name_key(name))
    if found is None:
        options = ", ".join(f"{a.symbol} ({a.column})" for a in AXES.values())
        raise ValueError(f"unknown scale axis {str(name)!r}: use one of {options}")
    return found


# ------------------------------------------------------------------------------------------ units
UNITS = ("nats", "bits", "perplexity", "log10_perplexity", "accuracy", "error", "score", "f1", "lr", "other")
"""The store's vocabulary for ``points.unit``."""

LOSS_UNITS = ("nats", "bits", "perplexity", "log10_perplexity")
"""Units of a loss (lower is better); :func:`to_nats` converts each to nats."""

BOUNDED_UNITS = frozenset({"accuracy", "error", "fraction", "f1"})
"""Metrics that live in [0, 1]."""

HIGHER_IS_BETTER: dict[str, bool] = {"accuracy": True, "score": True, "f1": True, "nats": False, "bits": False,
                                     "perplexity": False, "log10_perplexity": False, "error": False}
"""Direction of each unit whose direction is known (``lr`` and ``other`` have none)."""

UNIT_ALIASES: dict[str, str] = {
    "nats": "nats", "nat": "nats", "ce": "nats", "crossentropy": "nats",
    "bits": "bits", "bit": "bits", "bpb": "bits", "bpc": "bits", "bitsperbyte": "bits",
    "perplexity": "perplexity", "ppl": "perplexity",
    "log10perplexity": "log10_perplexity", "log10ppl": "log10_perplexity",
    "accuracy": "accuracy", "acc": "accuracy", "error": "error", "err": "error",
    "score": "score", "f1": "f1", "lr": "lr", "other": "other",
}
"""Spelling (case-, space- and ``_-.``-insensitive key) -> unit of :data:`UNITS`."""

_NATS_FACTOR = {"bits": math.log(2.0), "log10_perplexity": math.log(10.0)}


def canonical_unit(word: object) -> str | None:
    """The unit of :data:`UNITS` that ``word`` spells (``"PPL"`` -> ``"perplexity"``), else ``None``."""
    return UNIT_ALIASES.get(name_key(word))


def is_loss_unit(unit: object) -> bool:
    """Whether ``unit`` is a loss unit (nats, bits, perplexity, log10_perplexity)."""
    return unit in LOSS_UNITS


def to_nats(values, unit: str):
    """Convert loss values to nats: returns ``(values, "nats")``, or ``(values, unit)`` unchanged for
    units that are not a loss.

    ``bits``: x ln 2. ``perplexity``: ln(ppl) (per-token cross-entropy = ln perplexity).
    ``log10_perplexity``: x ln 10. ``nats``: unchanged. Accepts scalars, arrays and Series.
    """
    if unit not in LOSS_UNITS or unit == "nats":
        return values, unit
    if unit == "perplexity":
        return np.log(values), "nats"
    return values * _NATS_FACTOR[unit], "nats"
