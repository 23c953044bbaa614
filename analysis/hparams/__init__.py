"""Hyperparameter laws from learning-rate x batch-size sweeps (StepLaw and the published rules beside it).

The question: which peak learning rate :math:`\\eta` and batch size ``B`` [tokens] for a model of ``N``
parameters trained on ``D`` tokens? From a sweep (several runs per (N, D) cell at different
:math:`(\\eta, B)`), this package finds

* each cell's optimum three ways -- ``argmin``, the authors' 0.25% ``filter``, the convex-``bowl``
  vertex -- with run-level bootstrap intervals (:mod:`.optimum`);
* the laws :math:`\\eta^* = c N^a D^b`, :math:`B^* = d D^g` (and :math:`d N^f D^g`) by least squares in
  logs with bootstrap intervals (:mod:`.scaling`), and Li et al.'s own procedure (:func:`authors_procedure`);
* the loss penalty of moving :math:`\\eta` or ``B`` by x1/4 ... x4 (:mod:`.sensitivity`);
* the loss gap of published rules -- StepLaw, DeepSeek, Porian et al., Kaplan -- (:mod:`.rules`);
* a recommendation at a new (N, D) with intervals and a hull check (:mod:`.recommend`);
* the published-vs-refit table of StepLaw's constants (:mod:`.compare`).

Entry points: :func:`from_store` / :func:`from_table` build the sweep frame, :func:`analyse_sweep`
returns an :class:`HparamsResult` (frozen; ``to_dict()`` is the CLI's JSON). The envelope of a sweep for
loss-law fitting lives in :mod:`analysis.sweep`.
"""
from .analyse import HparamsResult, analyse_sweep, moe_comparison
from .compare import published_vs_refit
from .markdown import to_markdown
from .data import DIVERGED_GAP, SEQ_LEN, HparamsError, cell_table, from_runs, from_store, from_table, sweep_frame, \
    sweep_metric
from .optimum import BOWL_WINDOW, FILTER_GAP, METHODS, CellOptima, CellOptimum, bowl_vertex, cell_optima
from .recommend import Recommendation, in_hull, recommend
from .rules import RULES, STEPLAW, STEPLAW_PUBLISHED, PublishedRule, RuleInputs, RuleScore, get_rule, score_rule, \
    score_rules
from .scaling import PowerLaw, authors_procedure, fit_optimum_laws, fit_power_law, read_authors_bootstrap
from .sensitivity import FACTORS, Sensitivity, factor_label, sensitivity

__all__ = ["HparamsResult", "analyse_sweep", "moe_comparison", "published_vs_refit", "to_markdown",
           "DIVERGED_GAP", "SEQ_LEN", "HparamsError", "cell_table", "from_runs", "from_store", "from_table",
           "sweep_frame", "sweep_metric", "BOWL_WINDOW", "FILTER_GAP", "METHODS", "CellOptima", "CellOptimum",
           "bowl_vertex", "cell_optima", "Recommendation", "in_hull", "recommend", "RULES", "STEPLAW",
           "STEPLAW_PUBLISHED", "PublishedRule", "RuleInputs", "RuleScore", "get_rule", "score_rule", "score_rules",
           "PowerLaw", "authors_procedure", "fit_optimum_laws", "fit_power_law", "read_authors_bootstrap", "FACTORS",
           "Sensitivity", "factor_label", "sensitivity"]
