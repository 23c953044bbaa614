"""``python -m analysis``: the workbench's analyses from the command line, mirroring the app.

Every command reads runs either from a CSV/Parquet file in the upload format (``--csv FILE``) or from
the store (``--store FILE --family NAME [--metric M]``), and prints a plain-text summary or, with
``--json``, one JSON object (the flags and keys are a contract other tools rely on). Defaults are the
app's (:mod:`analysis.settings`): the same law, early-checkpoint cut, flagged runs, ``1 - value`` rule,
loss units (nats) and bootstrap counts, so a page's "reproduce" command gives the page's numbers.
Errors print one line to stderr and exit non-zero, without a traceback.

Commands: laws, families, fit, predict, allocate, backtest, report, crossover, trend, scan, downstream,
hparams (and the batch commands of :mod:`~analysis.cli.batch_commands`); ``--help`` lists them all.

Modules: :mod:`~analysis.cli.parser` (flags; defaults from :mod:`analysis.settings`),
:mod:`~analysis.cli.data_options` and :mod:`~analysis.cli.loading` (files and the store: the only reader
of data in ``analysis/``), :mod:`~analysis.cli.fitting` (fit settings from flags + the app's defaults),
``*_command(s)`` modules (one function per command), :mod:`~analysis.cli.output` (JSON / text),
:mod:`~analysis.cli.errors`, :mod:`~analysis.cli.run` (:func:`main`).
"""
from analysis.cli.errors import EXIT_DATA, EXIT_INTERNAL, EXIT_USAGE, CLIError
from analysis.cli.parser import build_parser
from analysis.cli.run import main

__all__ = ["main", "build_parser", "CLIError", "EXIT_DATA", "EXIT_USAGE", "EXIT_INTERNAL"]
