"""The Upload page's parts: formats and limits, the column mapping, the run-info table, the read report,
and the list of uploads kept on the server.

Every reader option the page offers is one the command line has (``--column ROLE=NAME``, ``--run-info``,
``--tokens-per-step``): :func:`mapping` returns a ``column_map`` and :func:`run_info` a table, both
passed to :func:`datasets.formats.read_any` as they would be from the flags.
"""
from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from datasets.formats import FORMATS, describe_limits
from datasets.formats.roles import ROLE_FIELDS
from datasets.upload import ALIASES, Upload, UploadError
from ui import output, uploads
from ui.format import escape

AUTO, NONE = "(automatic)", "(not in the file)"
_MAPPING_FOR = "_upload_mapping_for"                 # session_state: the digest the map_* widgets belong to
TABLE_FORMATS = ("csv", "parquet", "wandb")          # formats whose columns a user can map one by one
EXAMPLES: dict[str, tuple[str, str]] = {
    "csv": ("runs.csv", "run,params,tokens,loss\ngpt-125m,125M,2.5B,3.31\ngpt-350m,350M,7B,3.02"),
    "parquet": ("runs.parquet", "the same columns as the CSV, e.g. written by\n"
                                "df = pd.read_csv('runs.csv')\ndf.to_parquet('runs.parquet')"),
    "wandb": ("wandb_export.csv", "Name,_step,_runtime,train/loss,eval/loss,params,tokens\n"
                                  "gpt-125m,1000,61.2,3.91,,125000000,524288000\n"
                                  "gpt-125m,2000,122.0,3.52,3.60,125000000,1048576000"),
    "wandb-chart": ("chart.csv", "Step,gpt-125m - eval/loss,gpt-125m - eval/loss__MIN,gpt-125m - eval/loss__MAX\n"
                                 "1000,3.60,3.58,3.61\n2000,3.31,3.29,3.33"),
    "tensorboard": ("logs.zip", "logs/gpt-125m/events.out.tfevents.1717171717.host.1.0\n"
                                "logs/gpt-350m/events.out.tfevents.1717171800.host.2.0\n"
                                "zip -r logs.zip logs/      (or upload one event file)"),
    "mlflow": ("mlruns.zip", "mlruns/1/meta.yaml                       name: scaling\n"
                             "mlruns/1/<run id>/metrics/eval/loss      1717171717000 3.60 1000\n"
                             "zip -r mlruns.zip mlruns/  (or upload mlflow.db)"),
    "runfiles": ("runs.zip", "runs/gpt-125m.csv         step,tokens,train/loss\n"
                             "runs/gpt-350m.csv         (run = file name)\n"
                             "zip -r runs.zip runs/"),
}
"""Format -> (file to upload, a three-line example), shown on the page (and in the README)."""


def formats_help() -> None:
    """What the page reads: every format with an example, and the accepted column names."""
    with st.expander("Formats (each with an example)"):
        for fmt, what in FORMATS.items():
            name, example = EXAMPLES[fmt]
            st.markdown(f"**{escape(what)}**: upload `{name}`")
            st.code(example, language="text")
    with st.expander("Accepted column names (matched ignoring case, spaces, '-', '.' and '_')"):
        st.dataframe(pd.DataFrame([{"field": f, "accepted names": ", ".join(n)} for f, n in ALIASES.items()]),
                     hide_index=True, key="upload_aliases")
        st.caption("Need: a value column and a scale: N (parameters), D (tokens), C (FLOPs), or at least a step "
                   "(a training curve without sizes fits the step laws; give sizes below to fit the others). "
                   "Sizes may use SI suffixes (125M, 1.3B, 2T). Losses are read as nats unless a unit column "
                   "says bits or perplexity.")


def limits_help(ttl_hours: float, quota: int) -> None:
    """The limits, stated (reader limits from :mod:`datasets.formats.limits`, and the server's keeping)."""
    lines = describe_limits()
    st.caption(f"Limits: {escape(lines[0])}; {escape(lines[1])}; {escape(lines[6])}; {escape(lines[7])}. "
               f"Uploads are kept on this server for {ttl_hours:g} h after your last upload, up to "
               f"{quota / 1e6:,.0f} MB per link.")
    with st.expander("All limits"):
        st.markdown("\n".join(f"- {escape(x)}" for x in lines) +
                    f"\n- kept {ttl_hours:g} h after the last upload, then deleted"
                    f"\n- {quota / 1e6:,.0f} MB kept per link (Parquet tables of the runs as read)")


def _names(fmt: str, header: list[str], automatic) -> list[str]:
    """The names a user may map: a table's columns, or the logged names a folder format found."""
    if fmt in TABLE_FORMATS:
        return header
    if isinstance(automatic, UploadError):
        return []
    found = list(dict.fromkeys(map(str, automatic.points["metric"].unique())))
    return found + [c for c in automatic.report.ignored_columns if c not in found]


def _as_list(v) -> list[str]:
    return [] if v is None else list(v) if isinstance(v, (list, tuple)) else [v]


def mapping(digest: str, fmt: str, header: list[str], automatic, suggested: dict) -> dict:
    """The column mapping widgets; returns a ``column_map`` with what the user changed (``{}``: automatic).

    Metrics to keep is a multiselect (``value`` may name several columns: each is kept as a metric);
    the other roles one selectbox each. For folder formats (TensorBoard, MLflow, per-run files) only the
    metrics to keep are chosen here; sizes come from the run-info table.
    """
    names = _names(fmt, header, automatic)
    auto_values = [] if isinstance(automatic, UploadError) else \
        [v for v in _as_list(automatic.report.mapping.get("value")) if v in names]
    column_map: dict = {}
    if not names:
        st.caption("The names could not be read; the message below says why.")
        return column_map
    if st.session_state.get(_MAPPING_FOR) != digest:      # another file starts from its own mapping
        for k in [k for k in st.session_state if str(k).startswith("map_")]:
            del st.session_state[k]
        st.session_state[_MAPPING_FOR] = digest
    key = "map_value"
    if key not in st.session_state or not set(st.session_state[key]) <= set(names):
        st.session_state[key] = auto_values
    ignored = [] if isinstance(automatic, UploadError) else \
        [c for c in automatic.report.ignored_columns if c in names and c not in auto_values]
    values = st.multiselect("Metrics to keep (value): each becomes a metric", names, key=key,
                            help="Every column (or logged name) chosen here is kept as a metric; pick the one to "
                                 "analyse in the sidebar. Command line: --column value=NAME, repeated.")
    if ignored:
        def _keep_all():
            st.session_state[key] = list(dict.fromkeys([*st.session_state[key], *ignored]))

        st.button(f"Also keep {', '.join(ignored[:4])}{' ...' if len(ignored) > 4 else ''} as metrics",
                  key="map_keep_ignored", on_click=_keep_all)
    if sorted(values) != sorted(auto_values) and values:
        column_map["value"] = list(values)
    if fmt not in TABLE_FORMATS:
        return column_map
    fields = [f for f in (ALIASES if fmt != "wandb" else ROLE_FIELDS) if f != "value"]
    if suggested:
        def _apply():
            for f, col in suggested.items():
                if f == "value":
                    if col not in st.session_state.get(key, []):
                        st.session_state[key] = [*st.session_state.get(key, []), col]
                elif f in fields:
                    st.session_state[f"map_{f}"] = col

        st.button("Apply the suggested mapping", key="upload_apply_suggested", on_click=_apply)
    cols = st.columns(4)
    for i, field in enumerate(fields):
        hint = suggested.get(field)
        choice = cols[i % 4].selectbox(f"{field}" + (f" [{hint}]" if hint else ""), [AUTO, NONE] + header,
                                       key=f"map_{field}",
                                       help=f"Accepted names: {', '.join(ALIASES.get(field, (field,)))}. "
                                            f"Command line: --column {field}=NAME.")
        if choice == NONE:
            column_map[field] = None
        elif choice != AUTO:
            column_map[field] = choice
    return column_map


# ---------------------------------------------------------------------------------------------- run info
RUN_INFO_COLUMNS = ("run", "params", "tokens", "tokens_per_step")


def _cell(v) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{float(v):.6g}"


def run_info(digest: str, automatic) -> tuple[pd.DataFrame | None, float | None]:
    """The run-info table (N, D, tokens per step per run) and the tokens per step for every run.

    Prefilled with the sizes read from the file; returns only the cells the user changed or filled
    (``run_info`` for :func:`datasets.formats.read_any`), and the global tokens per step (None for none).
    """
    if isinstance(automatic, UploadError):
        return None, None
    runs = automatic.runs
    prefill = pd.DataFrame({"run": runs["model"].astype(str), "params": [_cell(v) for v in runs["params"]],
                            "tokens": [_cell(v) for v in runs["tokens"]], "tokens_per_step": ""})
    missing = int((runs["params"].isna() | runs["tokens"].isna()).sum())
    lacks = " or ".join(k for k, col in (("N", "params"), ("D", "tokens")) if runs[col].isna().any())
    title = f"Sizes per run (N, D): {missing} run{'s' * (missing != 1)} without {lacks}" if missing else \
        "Sizes per run (N, D)"
    with st.expander(title, expanded=bool(missing)):
        st.caption("Parameters N and tokens D of each run, where the file does not log them (SI suffixes such as "
                   "125M or 2.5B are fine). Tokens per step gives D = step x tokens per step at every checkpoint. "
                   "Command line: --run-info FILE (columns run, params, tokens, tokens_per_step) and "
                   "--tokens-per-step N.")
        tps = st.number_input("Tokens per step for every run (batch size x sequence length; 0 = not given)",
                              min_value=0.0, value=0.0, step=1024.0, format="%.0f", key=f"tps_{digest[:12]}")
        edited = st.data_editor(prefill, key=f"runinfo_{digest[:12]}", hide_index=True, num_rows="fixed",
                                disabled=["run"],
                                column_config={c: st.column_config.TextColumn(c) for c in RUN_INFO_COLUMNS})
    return changed_run_info(prefill, edited), (float(tps) if tps and tps > 0 else None)


def changed_run_info(prefill: pd.DataFrame, edited: pd.DataFrame) -> pd.DataFrame | None:
    """The rows of the run-info table the user filled or changed (only those cells; the others empty), as
    ``run_info`` for the reader; None when nothing changed. Rows are matched by position (the run column
    is not editable)."""
    changed = []
    for (_, old), (_, new) in zip(prefill.iterrows(), edited.iterrows()):
        row = {"run": old["run"]}
        for c in RUN_INFO_COLUMNS[1:]:
            cell = new.get(c)
            text = "" if cell is None or (isinstance(cell, float) and math.isnan(cell)) else str(cell).strip()
            if text and text != str(old.get(c, "")).strip():
                row[c] = text
        if len(row) > 1:
            changed.append(row)
    return pd.DataFrame([{c: row.get(c, "") for c in RUN_INFO_COLUMNS} for row in changed]) if changed else None


# ---------------------------------------------------------------------------------------------- report
def show_error(err: UploadError, suggested: dict, mapped: bool) -> None:
    where = ", ".join(x for x in (f"row {err.row}" if err.row else "",
                                  f"column {err.column!r}" if err.column else "") if x)
    st.error(f"The file could not be read{' (' + escape(where) + ')' if where else ''}: {escape(err.message)}",
             icon=":material/block:")
    if err.fix:
        st.info(f"What to do: {escape(err.fix)}", icon=":material/info:")
    if suggested and not mapped:
        st.info("Suggested mapping: " + escape(", ".join(f"{k} = {v}" for k, v in suggested.items())) +
                ". Set it under Column mapping above.", icon=":material/lightbulb:")


def show_report(up: Upload) -> None:
    """What was read, assumed and rejected (rows and columns of the source), and the runs."""
    rep = up.report
    st.subheader("Validation report")
    m = st.columns(5)
    m[0].metric("Rows read", f"{rep.rows_read:,}")
    m[1].metric("Points kept", f"{rep.points_kept:,}")
    m[2].metric("Runs", f"{rep.runs:,}")
    m[3].metric("Families", f"{rep.families:,}")
    m[4].metric("Rows rejected", f"{rep.n_rejected:,}")
    st.caption(escape(f"Format: {FORMATS.get(rep.format, rep.format)}; layout {rep.layout}"
                      + (f", encoding {rep.encoding}" if rep.encoding else "")
                      + (f", delimiter {rep.delimiter!r}" if rep.delimiter else "")))
    left, right = st.columns(2)
    with left:
        st.markdown("**Columns used**")
        st.dataframe(pd.DataFrame([{"field": k, "column": ", ".join(v) if isinstance(v, list) else v}
                                   for k, v in rep.mapping.items()]), hide_index=True, key="upload_mapping")
        if rep.ignored_columns:
            st.caption("Ignored columns: " + escape(", ".join(rep.ignored_columns)))
    with right:
        st.markdown("**Assumptions**")
        for d in rep.defaults:
            st.caption(escape(d))
        if not rep.defaults:
            st.caption("None: every field came from the file.")
    if rep.ignored_columns and rep.format in ("csv", "parquet"):       # the trackers' readers say why per name
        st.warning("Not read: " + escape(", ".join(rep.ignored_columns)) + ". To keep a column as a metric, add it "
                   "under Metrics to keep (Column mapping above).", icon=":material/visibility_off:")
    output.warn(rep.warnings)
    if rep.n_rejected:
        st.markdown(f"**Rejected** ({rep.n_rejected:,}; the first {len(rep.rejected):,} listed; row 1 is the first "
                    "row below the header)")
        output.table(pd.DataFrame(rep.rejected, columns=["row", "column", "reason"]), "upload_rejected")
        output.table(pd.DataFrame(list(rep.rejection_counts.items()), columns=["column: reason", "rows"]),
                     "upload_reject_counts")
    st.markdown("**Runs read**")
    output.table(up.runs[["run_id", "family", "model", "params", "tokens", "flops"]], "upload_runs")


# ---------------------------------------------------------------------------------------------- kept uploads
def kept_list(kept: dict) -> None:
    """The session's uploads, where they are kept and until when, with delete buttons."""
    status = uploads.status()
    st.subheader("Your uploads")
    if status.token:
        st.caption(f"Kept on this server until {escape(uploads.expiry_text(status.expires))} under the private link "
                   f"in your address bar ({status.used / 1e6:,.2f} of {status.quota / 1e6:,.0f} MB): a reload or the "
                   "link opens them again; anyone you give the link to can open them too.")
    else:
        st.caption("Kept in this browser session only.")
    rows = [{"file": name, "runs": len(u["runs"]), "points": len(u["points"]),
             "families": ", ".join(sorted(u["runs"]["family"].dropna().unique()))} for name, u in kept.items()]
    output.table(pd.DataFrame(rows), "upload_list")
    c = st.columns([3, 1, 2])
    remove = c[0].selectbox("Delete an upload", list(kept), key="upload_remove", label_visibility="collapsed")
    if c[1].button("Delete", key="upload_remove_btn", icon=":material/delete:",
                   help="Delete this upload from the session and the server"):
        uploads.remove(remove)
        st.session_state["upload_generation"] = st.session_state.get("upload_generation", 0) + 1
        st.rerun()
    if status.token and c[2].button("Delete all my uploads from the server", key="upload_delete_all",
                                  icon=":material/delete_forever:", help="The link stops working at once."):
        uploads.delete_all()
        st.session_state["upload_generation"] = st.session_state.get("upload_generation", 0) + 1
        st.rerun()
