"""Plotly figures of the workbench: pure functions from data and results to ``plotly.graph_objects.Figure``.

The dashboard (``ui`` and ``pages/``) and the HTML report (:mod:`analysis.report`) draw every chart
with these builders, so a chart shows the same in the app and in an exported report: the report with
plotly, the dashboard through :mod:`~analysis.figures.vega`, which translates a figure to Vega-Lite (a
new browser tab then needs no plotly.js). Nothing here imports streamlit. One module per page:
:mod:`~analysis.figures.browse`, :mod:`~analysis.figures.fit`, :mod:`~analysis.figures.allocate`,
:mod:`~analysis.figures.compare` (crossover, trends, downstream), :mod:`~analysis.figures.hparams`, and
the shared look in :mod:`~analysis.figures.style`.

Conventions
-----------
* Scale axes (parameters N, tokens D, FLOPs C, steps) are logarithmic; every axis title names its unit.
* Losses are drawn on a log y axis (the fits are in log space); bounded metrics (accuracy, error) on a
  linear one.
* Bands are pointwise 95% percentile intervals over the run-level bootstrap resamples of a fit.
* Text from data (run, family and metric names) only ever reaches plotly as data (``customdata``,
  trace names), never inside a hover *template*.
* :func:`plot_config` gives the plotly modebar configuration (the PNG file name of the camera button), for a
  figure the dashboard draws with plotly because :mod:`~analysis.figures.vega` does not translate it.
"""
from analysis.figures.allocate import frontier_figure, isoflop_figure
from analysis.figures.browse import corpus_figure, coverage_figure, curves_figure
from analysis.figures.compare import crossover_data_figure, crossover_figure, downstream_figure, trend_figure
from analysis.figures.fit import (backtest_figure, comparison_figure, fit_figure, fit_rows,
                                  parameter_comparison_figure, residual_figure)
from analysis.figures.style import CLIPPED_NOTE, axis_title, metric_title, plot_config, sci, si, vmark

__all__ = ["frontier_figure", "isoflop_figure", "corpus_figure", "coverage_figure", "curves_figure",
           "crossover_data_figure", "crossover_figure", "downstream_figure", "trend_figure", "backtest_figure",
           "comparison_figure", "fit_figure", "fit_rows", "parameter_comparison_figure", "residual_figure",
           "CLIPPED_NOTE", "axis_title", "metric_title", "plot_config", "sci", "si", "vmark"]
