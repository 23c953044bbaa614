"""Upload: read your own runs (CSV or Parquet), see what was read and rejected, map columns, then use them."""
import hashlib
import json

import pandas as pd
import streamlit as st

from datasets.upload import ALIASES, MAX_BYTES, UploadError, example_csv, read_header, read_upload, suggest_mapping
from ui import navigation, output, store
from ui.data import sidebar
from ui.format import escape

navigation.page("Upload")
sidebar()

st.markdown(
    "Upload a CSV or Parquet file of training runs: one row per run and checkpoint (and metric, in the long "
    f"form). Files up to {MAX_BYTES // 1_000_000} MB. Your runs stay in this browser session: they are never "
    "written to the shared store, and they disappear when you close the tab.")
with st.expander("Accepted columns (names are matched ignoring case, spaces, '-', '.' and '_')"):
    st.dataframe(pd.DataFrame([{"field": f, "accepted names": ", ".join(names)} for f, names in ALIASES.items()]),
                 hide_index=True, key="upload_aliases")
    st.caption("Need: a value column and at least one of N (parameters), D (tokens), C (FLOPs). Sizes may use SI "
               "suffixes (125M, 1.3B, 2T). Losses are read as nats unless a unit column says bits or perplexity.")


def _use_example():
    raw = example_csv()
    up = read_upload(raw, filename="example_runs.csv")
    store.add_upload("example_runs.csv", up, raw)
    st.session_state["data"] = "upload"
    st.session_state["ufamily"] = sorted(up.runs["family"].dropna().unique())[0]


e1, e2, _ = st.columns([1, 1, 2])
output.download_text("Download an example file (CSV)", example_csv, "example_runs.csv", "text/csv",
                     key="upload_example", where=e1)
e2.button("Try the example runs", key="upload_try_example", on_click=_use_example, icon=":material/science:",
          help="Five runs drawn from Chinchilla's law with 0.5% noise, loaded as if you had uploaded them.")

AUTO, NONE = "(automatic)", "(not in the file)"


@st.cache_data(show_spinner=False, max_entries=16)
def _read(digest: str, filename: str, column_map_json: str, _raw: bytes):
    """read_upload, cached on the file's digest and the column map; an UploadError is returned, not raised."""
    try:
        return read_upload(_raw, filename=filename, column_map=json.loads(column_map_json) or None)
    except UploadError as e:
        return e


@st.cache_data(show_spinner=False, max_entries=16)
def _header(digest: str, filename: str, _raw: bytes) -> list[str]:
    """The file's column names for the mapping widgets ([] when unreadable: read_upload then says why)."""
    try:
        return read_header(_raw, filename)
    except UploadError:
        return []


generation = st.session_state.setdefault("upload_generation", 0)   # bumped to empty the uploader
file = st.file_uploader("CSV or Parquet file", type=["csv", "tsv", "txt", "parquet", "pq"],
                        key=f"upload_file_{generation}", max_upload_size=MAX_BYTES // 1_000_000)
if file is not None:
    raw = file.getvalue()
    digest = hashlib.sha256(raw).hexdigest()
    columns = _header(digest, file.name, raw)
    suggested = suggest_mapping(columns) if columns else {}
    automatic = _read(digest, file.name, "{}", raw)
    with st.expander("Column mapping", expanded=isinstance(automatic, UploadError)):
        st.caption("Tell the reader which column holds what when the names differ from the accepted ones. "
                   "'(automatic)' keeps the name matching; the suggestion is shown in brackets.")
        column_map = {}
        if suggested:
            def _apply():
                for f, col in suggested.items():
                    st.session_state[f"map_{f}"] = col

            st.button("Apply the suggested mapping", key="upload_apply_suggested", on_click=_apply)
        if columns:
            cols = st.columns(4)
            for i, field in enumerate(ALIASES):
                hint = suggested.get(field)
                choice = cols[i % 4].selectbox(f"{field}" + (f" [{hint}]" if hint else ""), [AUTO, NONE] + columns,
                                               key=f"map_{field}", help=f"Accepted names: {', '.join(ALIASES[field])}")
                if choice == NONE:
                    column_map[field] = None
                elif choice != AUTO:
                    column_map[field] = choice
        else:
            st.caption("The header could not be read; the message below says why.")
    result = _read(digest, file.name, json.dumps(column_map, sort_keys=True), raw) if column_map else automatic

    if isinstance(result, UploadError):
        where = ", ".join(x for x in (f"row {result.row}" if result.row else "",
                                      f"column {result.column!r}" if result.column else "") if x)
        st.error(f"The file could not be read{' (' + escape(where) + ')' if where else ''}: {escape(result.message)}",
                 icon=":material/block:")
        if result.fix:
            st.info(f"What to do: {escape(result.fix)}", icon=":material/info:")
        if suggested and not column_map:
            st.info("Suggested mapping: " + escape(", ".join(f"{k} = {v}" for k, v in suggested.items())) +
                    ". Set it under Column mapping above.", icon=":material/lightbulb:")
    else:
        rep = result.report
        st.subheader("Validation report")
        m = st.columns(5)
        m[0].metric("Rows read", f"{rep.rows_read:,}")
        m[1].metric("Points kept", f"{rep.points_kept:,}")
        m[2].metric("Runs", f"{rep.runs:,}")
        m[3].metric("Families", f"{rep.families:,}")
        m[4].metric("Rows rejected", f"{rep.n_rejected:,}")
        st.caption(escape(f"Format {rep.format}, layout {rep.layout}"
                         + (f", encoding {rep.encoding}" if rep.encoding else "")
                         + (f", delimiter {rep.delimiter!r}" if rep.delimiter else "")))
        mapping = pd.DataFrame([{"field": k, "column": ", ".join(v) if isinstance(v, list) else v}
                                for k, v in rep.mapping.items()])
        left, right = st.columns(2)
        with left:
            st.markdown("**Columns used**")
            st.dataframe(mapping, hide_index=True, key="upload_mapping")
            if rep.ignored_columns:
                st.caption("Ignored columns: " + escape(", ".join(rep.ignored_columns)))
        with right:
            st.markdown("**Assumptions**")
            for d in rep.defaults:
                st.caption(escape(d))
            if not rep.defaults:
                st.caption("None: every field came from the file.")
        output.warn(rep.warnings)
        unused = {f: c for f, c in suggested.items() if c in (rep.ignored_columns or ()) and f not in column_map}
        if unused:
            st.warning("Not used although they look like fields: " +
                       escape(", ".join(f"column '{c}' (suggested for {f})" for f, c in unused.items())) +
                       ". Set them under Column mapping above, or click Apply the suggested mapping.",
                       icon=":material/warning:")
        if rep.n_rejected:
            st.markdown(f"**Rejected rows** ({rep.n_rejected:,}; the first {len(rep.rejected):,} listed; row 1 is the "
                        "first row below the header)")
            st.dataframe(pd.DataFrame(rep.rejected, columns=["row", "column", "reason"]), hide_index=True,
                         key="upload_rejected")
            st.dataframe(pd.DataFrame(list(rep.rejection_counts.items()), columns=["column: reason", "rows"]),
                         hide_index=True, key="upload_reject_counts")
        st.markdown("**Runs read**")
        output.table(result.runs[["run_id", "family", "model", "params", "tokens", "flops"]], "upload_runs")
        store.add_upload(file.name, result, raw)
        families = sorted(result.runs["family"].dropna().unique())

        def _use():
            st.session_state["data"] = "upload"
            st.session_state["ufamily"] = families[0]

        st.success(f"{rep.runs} runs in {rep.families} families are ready for this session.", icon=":material/check_circle:")
        st.button("Analyse these runs", key="upload_use", on_click=_use, type="primary",
                  help="Switches the sidebar to My uploads; every page then works on them.")

if store.uploads():
    st.subheader("Uploaded in this session")
    rows = [{"file": name, "runs": len(u["runs"]), "points": len(u["points"]),
             "families": ", ".join(sorted(u["runs"]["family"].dropna().unique()))} for name, u in store.uploads().items()]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="upload_list")
    remove = st.selectbox("Remove an upload", ["(keep all)"] + list(store.uploads()), key="upload_remove")
    if remove != "(keep all)" and st.button("Remove it", key="upload_remove_btn"):
        store.uploads().pop(remove, None)
        st.session_state["upload_generation"] = generation + 1
        st.rerun()
    for col, name in zip(st.columns(3), ("Browse", "Fit", "Allocate")):
        navigation.link(name, f"Open {name}", where=col)
