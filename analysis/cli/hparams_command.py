"""``python -m analysis hparams``: optimal learning rate and batch size from a sweep, with the published rules.

Usage::

    python -m analysis hparams --store S --family steplaw/dense [--cell-method bowl|filter|argmin]
        [--bootstrap K] [--at-params N --at-tokens D [--at-active-params NA] [--seq-len L]] --json
    python -m analysis hparams --data sweep.csv ...      # columns lr, batch (or bs), N, D, loss

``--json`` prints :meth:`analysis.hparams.HparamsResult.to_dict` plus ``data_source``: ``n_cells``,
``cells`` [{N, D, lr_opt, lr_ci, batch_opt, batch_ci, loss_min, ...}], ``lr_law`` {formula, params
{c, a, b}, ci}, ``batch_law`` {formula, params {d, g}, ci}, ``rules`` [{name, mean_penalty,
max_penalty}], ``sensitivity``, ``recommendation``. Penalties are fractions (0.001 = 0.1%); batch sizes
in tokens; CIs as [lo, hi]. Registered in :mod:`analysis.cli.parser` by :func:`register`.
"""
from __future__ import annotations

import pandas as pd

from analysis import settings
from analysis.cli.errors import CLIError
from analysis.cli.loading import check_file, open_store
from analysis.cli.output import emit
from analysis.hparams import METHODS, SEQ_LEN, analyse_sweep, factor_label, from_store, from_table, sweep_frame

__all__ = ["register", "cmd_hparams"]


def register(add) -> None:
    """Add the ``hparams`` subcommand through the parser's ``add(name, fn, help)``."""
    from analysis.cli.parser import POSITIVE, RESAMPLES, SEED   # here: the parser module imports this one

    p = add("hparams", cmd_hparams, "optimal learning rate and batch size from a lr x batch sweep (StepLaw), "
                                    "with the published rules' loss gaps")
    g = p.add_argument_group("data")
    g.add_argument("--store", help="a store built by `python -m datasets.build` (default: $SCALING_STORE or "
                                   "./store.duckdb)")
    g.add_argument("--family", action="append", help="a sweep family of the store (repeat to pool families, "
                                                     "e.g. the four steplaw/moe-*)")
    g.add_argument("--metric", help="the loss (default: the family's smoothed training loss when published)")
    g.add_argument("--data", help="a sweep as CSV or Parquet: one row per run, columns lr, batch (or bs), N, D, "
                                  "loss [, N_active, seq_len]")
    g.add_argument("--batch-unit", choices=["sequences", "tokens"], default="sequences",
                   help="what a bare `batch` column of --data counts (bs is always sequences)")
    g.add_argument("--seq-len", type=POSITIVE, default=SEQ_LEN, help="tokens per sequence (default %(default)s)")
    a = p.add_argument_group("analysis")
    a.add_argument("--cell-method", choices=list(METHODS), default="bowl",
                   help="how each (N, D) cell's optimum is found (default: the convex-bowl vertex)")
    a.add_argument("--n-basis", choices=["total", "active"], default="total",
                   help="N of an MoE model for the laws and rules: total or active parameters")
    a.add_argument("--bootstrap", type=RESAMPLES, default=settings.BOOTSTRAP,
                   help="run-level resamples within each cell (0 = none; default %(default)s)")
    a.add_argument("--seed", type=SEED, default=settings.SEED)
    r = p.add_argument_group("recommendation")
    r.add_argument("--at-params", type=POSITIVE, help="model size N (parameters; an MoE's total)")
    r.add_argument("--at-tokens", type=POSITIVE, help="training tokens D")
    r.add_argument("--at-active-params", type=POSITIVE, help="active parameters of an MoE model")


def _frame(args) -> tuple[pd.DataFrame, dict]:
    if args.data and (args.store or args.family):
        raise CLIError("give either --data FILE or --store/--family, not both")
    if args.data:
        path = check_file(args.data)
        try:
            raw = pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(path)
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            raise CLIError(f"cannot read {path.name} as a table: {str(exc).splitlines()[0]}",
                           "give a CSV or Parquet file with columns lr, batch (or bs), N, D, loss") from None
        frame = from_table(raw, batch_unit=args.batch_unit, seq_len=args.seq_len)
        return frame, {"kind": "data", "path": str(path)}
    if not args.family:
        raise CLIError("give --data FILE, or --store S --family F (see `python -m analysis families`)")
    store = open_store(args)
    frames = [from_store(store, fam, args.metric) for fam in args.family]
    frame = frames[0] if len(frames) == 1 else sweep_frame(pd.concat(frames, ignore_index=True))
    frame.attrs.update({k: frames[0].attrs.get(k) for k in ("metric", "unit")})
    frame.attrs["family"] = ", ".join(args.family)
    return frame, {"kind": "store", "path": str(store.path), "family": args.family, "metric": frame.attrs["metric"]}


def _text(res) -> str:
    lines = [f"{res.n_cells} cells, {res.n_runs} runs ({res.n_diverged} diverged); cell optimum: {res.method}"]
    for c in res.cells:
        lines.append(f"  N {c.N:.4g}  D {c.D:.4g}: lr* {c.lr_opt:.3g} [{c.lr_ci.lo:.3g}, {c.lr_ci.hi:.3g}]  "
                     f"B* {c.batch_opt:.4g} tokens [{c.batch_ci.lo:.4g}, {c.batch_ci.hi:.4g}]  loss {c.loss_min:.4f}")
    for law in (res.lr_law, res.batch_law):
        if law is not None:
            cis = ", ".join(f"{k} [{i.lo:.4g}, {i.hi:.4g}]" for k, i in law.ci.items() if i.finite)
            lines.append(f"{law.formula}   95% CI: {cis}")
    lines.append("published rules (mean / max loss gap over cells):")
    for r in res.rules:
        lines.append(f"  {r.name:32s} {100 * r.mean_penalty:6.3f}% / {100 * r.max_penalty:6.3f}%")
    s = res.sensitivity
    lines.append("mistuning penalty (median over cells): lr "
                 + ", ".join(f"{factor_label(k)} {100 * v:.2f}%" for k, v in s.lr.items())
                 + "; batch " + ", ".join(f"{factor_label(k)} {100 * v:.2f}%" for k, v in s.batch.items()))
    rec = res.recommendation
    if rec is not None:
        lines.append(f"at N {rec.N:.4g}, D {rec.D:.4g}: lr {rec.lr:.3g} [{rec.lr_ci.lo:.3g}, {rec.lr_ci.hi:.3g}], "
                     f"batch {rec.batch_tokens:.4g} tokens = {rec.batch_sequences:.4g} sequences of {rec.seq_len:g} "
                     f"[{rec.batch_sequences_ci.lo:.4g}, {rec.batch_sequences_ci.hi:.4g}]; {rec.hull}")
    lines.extend(f"warning: {w}" for w in res.warnings)
    return "\n".join(lines)


def cmd_hparams(args) -> None:
    """Run the analysis and print it (see the module docstring)."""
    if (args.at_params is None) != (args.at_tokens is None):
        raise CLIError("--at-params and --at-tokens go together")
    frame, source = _frame(args)
    at = None
    if args.at_params is not None:
        at = {"N": args.at_params, "D": args.at_tokens, "seq_len": args.seq_len, "N_active": args.at_active_params}
    res = analyse_sweep(frame, method=args.cell_method, bootstrap=args.bootstrap, seed=args.seed,
                        n_basis=args.n_basis, at=at)
    emit(args, {**res.to_dict(), "data_source": source}, _text(res))
