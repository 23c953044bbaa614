"""Stage 4 of the upload reader: a mapped table of text cells -> runs, points and the report.

Runs are told apart by the run column, else one distinct N per family, else one curve per family (a step
column), else one run per row; N and U must be constant within a run; C defaults to 6ND. The guards at
the end warn about values that look like another unit than the one assumed.
"""
from __future__ import annotations

import json

from collections import Counter

import numpy as np
import pandas as pd

from datasets.schema import SPLITS
from datasets.sources import make_points, make_runs
from datasets.upload.cells import SPLIT_ALIASES, has_si_suffix, header_scale, parse_names, parse_numbers, si_label
from datasets.upload.columns import SIZE_FIELDS
from datasets.upload.errors import DEFAULT_FAMILY, SOURCE, UploadError, quote_cell
from datasets.upload.points import dedup, lr_block, normalise, value_block
from datasets.upload.rejections import Rejections, cell_quote, check_numeric
from datasets.upload.report import Upload, UploadReport
from datasets.upload.table import Table
from datasets.vocabulary import HIGHER_IS_BETTER, UNIT_ALIASES, UNITS


def run_constant(rej: Rejections, codes: np.ndarray, vals: np.ndarray, column: str, label: str) -> np.ndarray:
    """Check that ``vals`` is constant within each run; fill missing cells from the run's first value."""
    present = ~np.isnan(vals) & rej.alive
    pos = np.flatnonzero(present)
    ref_pos = np.full(codes.max() + 1 if len(codes) else 0, -1)
    if len(pos):
        first = pd.Series(pos).groupby(codes[pos], sort=False).first()
        ref_pos[first.index.to_numpy()] = first.to_numpy()
    rp = ref_pos[codes]
    ref = np.where(rp >= 0, vals[np.maximum(rp, 0)], np.nan)
    differ = present & ~np.isclose(vals, ref, rtol=1e-9, atol=0.0)
    rownum = rej.table.rownum
    rej.row(differ, column, f"{label} differs within the run",
            lambda i: f": {vals[i]:.6g} here, {ref[i]:.6g} on row {rownum[rp[i]]}")
    return np.where(np.isnan(vals), ref, vals)


def build_upload(table: Table, mapping: dict[str, list[int]], *, filename: str | None, max_runs: int) -> Upload:
    frame, header = table.frame, table.header
    n = len(frame)
    rej = Rejections(table)
    defaults: list[str] = []
    warnings = list(table.warnings)
    col = {f: frame[idx[0]] for f, idx in mapping.items() if f != "value"}
    name_of = {f: header[idx[0]] for f, idx in mapping.items() if f != "value"}
    decimal_comma = table.delimiter == ";"

    # text fields: run, family, metric, unit, split
    names = {}
    for f in ("run", "family", "metric", "unit", "split"):
        if f in col:
            clean, problem = parse_names(col[f])
            rej.row(pd.notna(problem), name_of[f], "name rejected",
                    lambda i, p=problem, s=col[f]: f": {quote_cell(s.iat[i])} {p[i]}")
            names[f] = clean
    if "run" in names:
        rej.row(pd.isna(names["run"]), name_of["run"], "run is empty")
    if "metric" in names:
        rej.row(pd.isna(names["metric"]), name_of["metric"], "metric is empty")
    units = normalise(rej, names, "unit", UNIT_ALIASES, name_of, UNITS)
    splits = normalise(rej, names, "split", SPLIT_ALIASES, name_of, SPLITS)

    # numeric fields shared by the row
    nums = {}
    for f in ("N", "D", "C", "step", "U", "P"):
        if f in col:
            vals, _, status = parse_numbers(col[f], si=True, decimal_comma=decimal_comma)
            check_numeric(rej, col[f], name_of[f], status)
            if f in (*SIZE_FIELDS, "U") and (scale := header_scale(name_of[f])):     # sizes and unique tokens
                vals = np.where(has_si_suffix(col[f]), vals, vals * scale)    # '70M' keeps its own suffix
                defaults.append(f"{f} = {name_of[f]!r} x {scale:g} (the unit its header states)")
            if f == "step":
                rej.row(vals < 0, name_of[f], "must be >= 0", cell_quote(col[f]))
            else:
                rej.row(vals <= 0, name_of[f], "must be > 0", cell_quote(col[f]))
            nums[f] = vals
    nan = np.full(n, np.nan)
    N, D, C, step, U = (nums.get(f, nan) for f in ("N", "D", "C", "step", "U"))

    # runs
    family = names.get("family")
    fam_missing = np.zeros(n, bool) if family is None else pd.isna(family)
    if family is None:
        family = np.full(n, DEFAULT_FAMILY, object)
        defaults.append(f"family = {DEFAULT_FAMILY!r} (no family column)")
    elif (fam_missing & rej.alive).any():
        family = np.where(fam_missing, DEFAULT_FAMILY, family)
        defaults.append(f"family = {DEFAULT_FAMILY!r} for {int((fam_missing & rej.alive).sum()):,} rows "
                        "with an empty family cell")
    fam_codes, _ = pd.factorize(pd.Series(family, dtype=object))
    if "run" in names:
        run_codes, _ = pd.factorize(pd.Series(names["run"], dtype=object))
        key = fam_codes.astype(np.int64) * (run_codes.max() + 2) + run_codes
        run_name = names["run"]
        rule = "one run per distinct (family, run)"
    elif "N" in nums:
        rej.row(np.isnan(N), name_of["N"], "N is empty and there is no run column to tell runs apart")
        n_codes, n_uniques = pd.factorize(N)
        key = fam_codes.astype(np.int64) * (len(n_uniques) + 2) + n_codes
        labels = [f"N={si_label(v)}" for v in n_uniques]
        clash = Counter(labels)
        labels = [lab if clash[lab] == 1 else f"N={v!r}" for v, lab in zip(n_uniques, labels)]
        run_name = np.array(labels + [""], object)[n_codes]
        rule = "run = one distinct N per family (no run column)"
    elif "step" in nums:
        key = fam_codes.astype(np.int64)
        run_name = family
        rule = "run = one training curve per family (no run or N column, but a step column)"
    else:
        key = np.arange(n, dtype=np.int64)
        run_name = np.char.add("row-", table.rownum.astype(str)).astype(object)
        rule = "run = one run per row (no run, N or step column): add a run column if rows share runs"
    if "run" not in names:
        defaults.append(rule)
    codes, _ = pd.factorize(key)
    n_runs = len(np.unique(codes[rej.alive]))
    if n_runs > max_runs:
        raise UploadError(f"The file has {n_runs:,} runs, above the limit of {max_runs:,} ({rule}).",
                          fix="Upload fewer runs at a time, check the run column, or raise max_runs.")
    if "N" in nums:
        N = run_constant(rej, codes, N, name_of["N"], "N")
    if "U" in nums:
        U = run_constant(rej, codes, U, name_of["U"], "U")
    P = run_constant(rej, codes, nums["P"], name_of["P"], "P") if "P" in nums else None   # parallel streams
    # a row needs a scale: a size, or a step (a training curve whose sizes were not logged: kept, sizes NULL)
    no_size = np.isnan(N) & np.isnan(D) & np.isnan(C)
    rej.row(no_size & np.isnan(step), "/".join(name_of[f] for f in (*SIZE_FIELDS, "step") if f in name_of),
            "no size: N, D and C are all empty" + (" and so is the step" if "step" in nums else ""))
    with np.errstate(over="ignore", invalid="ignore"):
        six_nd = 6.0 * N * D
    fill = np.isnan(C) & ~np.isnan(six_nd)
    rej.row(fill & ~np.isfinite(six_nd), name_of.get("C", "C"), "C = 6ND overflows (N or D far too large)")
    fill &= rej.alive
    C = np.where(fill, six_nd, C)
    if fill.any():
        defaults.append(f"C = 6ND for {int(fill.sum()):,} rows" + ("" if "C" in nums else " (no C column)"))

    # points: one block per value column, then the learning rate
    value_idx = mapping["value"]
    stderr = None
    if "stderr" in col:
        if len(value_idx) == 1:
            e_vals, _, e_status = parse_numbers(col["stderr"], si=False, decimal_comma=decimal_comma)
            stderr = (e_vals, e_status, name_of["stderr"])
        else:
            warnings.append(f"Column {name_of['stderr']!r} was ignored: with several value columns it is "
                            "unclear which it belongs to.")
    blocks = [value_block(rej, table, j, names, units, splits, stderr, defaults, warnings,
                           only=len(value_idx) == 1, long="metric" in names) for j in value_idx]
    if "lr" in col:
        blocks.append(lr_block(rej, col["lr"], name_of["lr"], decimal_comma))
    pts = {k: np.concatenate([blk[k] for blk in blocks]) for k in blocks[0]}
    pts = dedup(rej, pts, codes, step, D)

    detail, n_rejected, counts = rej.summary()
    if not len(pts["pos"]):
        first = "; ".join(f"{table.where(r)}, column {c!r}: {why}" for r, c, why in detail[:3])
        raise UploadError(f"Every row was rejected ({n_rejected:,} problem{'s' if n_rejected != 1 else ''}). "
                          f"First: {first}.", row=detail[0][0] if detail else None,
                          column=detail[0][1] if detail else None,
                          fix="Fix these cells (see the upload format notes) and upload again.")
    pos = pts["pos"]
    kept, first_pos, pcode = np.unique(codes[pos], return_index=True, return_inverse=True)
    run_pos = pos[first_pos]
    fam = np.asarray(family, object)[run_pos]
    rname = np.asarray(run_name, object)[run_pos]
    families_of: dict[str, set] = {}
    for r, f in zip(rname, fam):
        families_of.setdefault(r, set()).add(f)
    ids = unique_ids([f"upload/{f}/{r}" if len(families_of[r]) > 1 else f"upload/{r}" for r, f in zip(rname, fam)])
    Dp, Cp = D[pos], C[pos]
    with np.errstate(invalid="ignore"):
        run_D = pd.Series(Dp).groupby(pcode).max().reindex(range(len(kept))).to_numpy()
        run_C = pd.Series(Cp).groupby(pcode).max().reindex(range(len(kept))).to_numpy()
    note = "uploaded by the user" + "".join(f"; {d}" for d in defaults if not d.startswith(("split", "unit")))
    sizeless = _sizeless_runs(N[run_pos], run_D, run_C, rname)
    if sizeless:
        defaults.append(sizeless)
    runs = make_runs(pd.DataFrame({
        "run_id": ids, "source": SOURCE, "collection": None, "family": [f"upload/{f}" for f in fam],
        "model": rname, "arch": None, "params": N[run_pos], "data": None, "tokens": run_D, "flops": run_C,
        "unique_tokens": U[run_pos], "seed": None, "paper": None, "repo": None, "commit": None,
        "file": filename, "licence": None, "notes": note,
        "extra": None if P is None else [None if np.isnan(v) else json.dumps({"P": float(v)}) for v in P[run_pos]]}))
    unit = pd.Categorical(pts["unit"])
    hib = np.array([HIGHER_IS_BETTER.get(u) for u in unit.categories] + [None], object)[unit.codes]
    points = make_points(pd.DataFrame({
        "run_id": pd.Categorical.from_codes(pcode, categories=ids), "step": step[pos], "tokens": Dp,
        "flops": Cp, "metric": pd.Categorical(pts["metric"]), "split": pd.Categorical(pts["split"]),
        "unit": unit, "value": pts["value"], "stderr": pts["stderr"],
        "higher_is_better": pd.array(hib, dtype="boolean")}))
    guards(points, N[run_pos], pts["defaulted_unit"], warnings)
    mapping_used = {f: ([header[i] for i in idx] if f == "value" and len(idx) > 1 else header[idx[0]])
                    for f, idx in mapping.items()}
    used = {i for idx in mapping.values() for i in idx}
    report = UploadReport(
        filename=filename, format=table.fmt, encoding=table.encoding, delimiter=table.delimiter,
        layout="long" if "metric" in names else "wide", rows_read=n, points_kept=len(points), runs=len(runs),
        families=int(runs["family"].nunique()), mapping=mapping_used,
        ignored_columns=tuple(h for i, h in enumerate(header) if i not in used),
        defaults=tuple(defaults), rejected=detail, n_rejected=n_rejected, rejection_counts=counts,
        warnings=tuple(warnings))
    return Upload(runs=runs, points=points, report=report)


def _sizeless_runs(N: np.ndarray, D: np.ndarray, C: np.ndarray, names: np.ndarray) -> str | None:
    """The report line for runs with steps but no N, D or C at all (None when every run has a size)."""
    none = np.isnan(N) & np.isnan(D) & np.isnan(C)
    if not none.any():
        return None
    shown = [str(x) for x in names[none][:6]]
    more = f" and {int(none.sum()) - 6} more" if none.sum() > 6 else ""
    return (f"N, D and C unknown for {int(none.sum()):,} run{'s' if none.sum() != 1 else ''} "
            f"({', '.join(map(repr, shown))}{more}): kept as training curves over steps (sizes NULL); "
            "laws over steps fit them, laws over N, D or C leave them out")


def unique_ids(ids: list[str]) -> list[str]:
    """Make run ids unique by appending ``~2``, ``~3`` ... to later repeats."""
    taken = set(ids)
    out, used = [], set()
    for i in ids:
        new, k = i, 1
        while new in used or (new != i and new in taken):
            k += 1
            new = f"{i}~{k}"
        used.add(new)
        out.append(new)
    return out


def guards(points: pd.DataFrame, run_N: np.ndarray, defaulted_unit: np.ndarray, warnings: list[str]) -> None:
    """Warn about values that look like another unit than the one assumed."""
    high = points[defaulted_unit & (points["unit"] == "nats").to_numpy(dtype=bool, na_value=False)
                  & (points["value"].to_numpy() > 20)]
    for metric, grp in high.groupby("metric"):
        warnings.append(f"Metric {metric!r} has {len(grp):,} values above 20 (max {grp['value'].max():.4g}), "
                        "high for a loss in nats: if these are perplexities, add a unit column saying "
                        "'perplexity' (converted with ln when fitting); if bits, say 'bits'.")
    for label, vals in (("N", run_N), ("D", points["tokens"].to_numpy(dtype=float)),
                        ("C", points["flops"].to_numpy(dtype=float))):
        v = vals[~np.isnan(vals)]
        if len(v) and v.max() < 100:
            warnings.append(f"Every {label} is below 100 (max {v.max():.4g}): if these are millions or billions, "
                            f"say so in the header (e.g. 'Params (M)', 'Tokens (B)') or write SI suffixes such as "
                            f"'125M'; if log10 sizes, write 10**{label}.")
