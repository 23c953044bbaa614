"""``allocate``: the compute-optimal split, by Approach 3 (the fitted law, default) or Approach 2 (IsoFLOP minima).

JSON contract (both approaches): ``approach``, ``exponents`` = ``{"a": {"value", "ci"}, "b": {"value", "ci"}}``
(N* ~ C^a, D* ~ C^b, 95% intervals), ``warnings``, ``notes``, ``data``.

* ``--approach 3``: plus ``fit`` (the fitted law) and, with ``--compute``, the allocation at that budget as
  before (``compute``, ``N_opt``, ``D_opt``, ``tokens_per_param``, ``loss`` and ``ci`` as ``[lo, hi]``,
  ``gpu_hours_h100_40pct``).
* ``--approach 2``: plus ``minima`` (``compute``, ``N_opt``, ``D_opt``, ``loss``, ``flag`` per budget),
  ``coefficients`` and, with ``--compute``, ``N_opt`` / ``D_opt`` as ``{"value", "ci"}``
  (:class:`analysis.approach2.Approach2Result`).
"""
from __future__ import annotations

from analysis.allocate import allocate, flops_to_gpu_hours, optimum_exponents
from analysis.approach2 import approach2
from analysis.cli import fitting
from analysis.cli.errors import CLIError
from analysis.cli.loading import load_frame
from analysis.cli.output import emit
from analysis.diagnostics import unique
from analysis.fit_result import message_sections
from analysis.prepare import select_rows


def _approach2(args) -> None:
    frame, data_source = load_frame(args)
    kwargs = fitting.fit_kwargs(args, frame, data_source)
    rows, notes = select_rows(frame, exclude_runs=kwargs["exclude_runs"], min_tpp=kwargs.get("min_tpp"),
                              max_tpp=kwargs.get("max_tpp"), max_loss=kwargs.get("max_loss"))
    if kwargs.get("y_transform") == "one_minus":
        raise CLIError("Approach 2 needs a loss (lower is better) at each budget; this metric is higher-is-better",
                       "use --approach 3, or choose a loss with --metric")
    result = approach2(rows, compute=args.compute, bootstrap=args.bootstrap, seed=args.seed,
                       flops_per_param_token=args.flops_per_param_token)
    payload = result.to_dict()
    payload["notes"] = unique([*notes, *payload["notes"]])
    payload["data"] = data_source
    if args.compute:
        payload["gpu_hours_h100_40pct"] = flops_to_gpu_hours(args.compute)
    emit(args, payload, result.summary())


def _approach3(args) -> None:
    result, _, data_source, choice, _ = fitting.fit(args, allocatable_only=True)
    exps = optimum_exponents(result, args.compute, flops_per_param_token=args.flops_per_param_token,
                             unique_tokens=args.unique_tokens)
    payload = {"approach": 3, "exponents": exps.to_dict(), "law": result.law.name}
    lines = [f"[[Approach 3]] {result.law.title}: {result.law.formula} ({result.n_boot} bootstrap resamples)",
             f"    a (N* ~ C^a) = {exps.a:.4f}" + _ci(exps.ci.get("a"), ".4f"),
             f"    b (D* ~ C^b) = {exps.b:.4f}" + _ci(exps.ci.get("b"), ".4f"),
             f"    ({exps.method})"]
    warnings = list(result.warnings)
    notes = list(result.notes)
    if args.compute:
        a = allocate(result, args.compute, flops_per_param_token=args.flops_per_param_token,
                     unique_tokens=args.unique_tokens)
        payload.update(a.to_dict())
        payload["gpu_hours_h100_40pct"] = flops_to_gpu_hours(args.compute)
        unit = data_source.get("unit") or ""
        lines += [f"budget {a.compute:.4g} FLOPs ({payload['gpu_hours_h100_40pct']:.4g} H100-hours at 40% utilisation)",
                  f"N*  = {a.N_opt:.4g} parameters{_ci(a.ci.get('N_opt'))}",
                  f"D*  = {a.D_opt:.4g} tokens{_ci(a.ci.get('D_opt'))}",
                  f"D*/N* = {a.tokens_per_param:.3g} tokens per parameter{_ci(a.ci.get('tokens_per_param'))}",
                  f"loss at the optimum = {a.loss:.4g} {unit}{_ci(a.ci.get('loss'))}"]
        warnings += a.warnings
        notes += a.notes
    payload["warnings"], payload["notes"] = unique(warnings), unique(notes)
    payload["fit"] = result.to_dict()
    payload["data"] = data_source
    if choice:
        payload["auto"] = choice
        lines.append(f"[[auto]] {choice['reason']}")
    lines += message_sections(payload["warnings"], payload["notes"])
    emit(args, payload, "\n".join(lines))


def _ci(ci, fmt: str = ".4g") -> str:
    return f" [{ci[0]:{fmt}}, {ci[1]:{fmt}}]" if ci is not None and getattr(ci, "finite", True) else ""


def cmd_allocate(args) -> None:
    """``python -m analysis allocate [--approach 2|3] [--compute C]``."""
    if args.approach == 2:
        if args.unique_tokens:
            raise CLIError("--unique-tokens needs a law that prices repeated data (Approach 3 with "
                           "--law data_constrained); Approach 2 reads the optimum off the runs")
        _approach2(args)
    else:
        _approach3(args)
