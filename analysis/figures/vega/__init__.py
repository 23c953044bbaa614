"""A plotly figure of :mod:`analysis.figures` as a Vega-Lite specification, for the dashboard.

Why: a new browser tab evaluates Streamlit's 4.7 MB plotly.js bundle before it draws the first plotly
chart (1.6-2.4 s on this machine, measured with ``bench/bench_first_chart.py``), while its Vega-Lite
bundle draws the same chart in 0.47x the time. The figure builders stay the one description of every
chart (the HTML report still draws them with plotly); :func:`to_vega_lite` translates what they use:

* ``Scatter`` / ``Scattergl`` traces (markers, lines, text, ``fill="toself"`` bands of
  :func:`~analysis.figures.style.band_trace`, ``error_x`` / ``error_y``, a numeric marker colour with a
  colour bar), ``Bar`` traces (horizontal with ``base``, grouped), ``Heatmap`` and ``Contour`` traces
  (iso-lines by marching squares);
* log / linear / category axes, reversed axes, explicit ranges, ``tickvals`` / ``ticktext``;
* ``add_vline`` / ``add_hline`` / ``add_vrect`` shapes and their labels; notes placed on the paper;
* one row of subplots (``make_subplots(rows=1, cols=k)``) as small multiples, two to a row.

A single-panel chart zooms (wheel) and pans (drag) as plotly's did; double-click resets it.

Hover templates become tooltips: ``"N %{customdata[1]:.3s} params"`` is a tooltip row titled
``N (params)`` whose value Vega formats with the same d3 format plotly used (a line's tooltips sit on
transparent points: a line is one path). Each trace's layer carries the trace's name as its
``description`` (see :func:`series`) and on each of its marks (their ARIA label). Legend entries are one
shared colour scale over the traces' names (a ``series`` field each layer computes). A figure using
anything else, or holding a value the translation cannot place, gives ``None`` (never an exception):
draw it with plotly.

Modules: :mod:`.chart` (the whole chart), :mod:`.traces`, :mod:`.grids`, :mod:`.decorations`,
:mod:`.axes`, :mod:`.legend`, :mod:`.tooltips`, :mod:`.props` and :mod:`.common`.
"""
from analysis.figures.vega.chart import series, to_vega_lite
from analysis.figures.vega.common import Unsupported
from analysis.figures.vega.grids import iso_segments

__all__ = ["to_vega_lite", "series", "iso_segments", "Unsupported"]
