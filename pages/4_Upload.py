"""Upload: read your own runs in any format, see what was read and rejected, map columns, give sizes, use them.

The uploads are kept on the server under a private token in the URL (ui.uploads), so a reload finds them.
"""
import hashlib
import json

import pandas as pd
import streamlit as st

from datasets.formats import FORMATS, read_any, sniff
from datasets.upload import MAX_BYTES, UploadError, example_csv, read_header, read_upload, suggest_mapping
from ui import navigation, output, store, upload_form, uploads
from ui.data import plural, sidebar
from ui.format import code

navigation.page("Upload")
sidebar()
status = uploads.status()

st.markdown(
    "Upload your training runs as you have them: a CSV or Parquet table, a W&B export, a TensorBoard log "
    "directory, an MLflow tracking folder (zipped) or `mlflow.db`, or a zip of one CSV per run. Every analysis "
    f"then works on them. They are kept on this server for {status.ttl_hours:g} h under a private link (this "
    "page's URL), never in the shared store, and you can delete them below at any time.")
upload_form.formats_help()
upload_form.limits_help(status.ttl_hours, status.quota)


def _use_example():
    raw = example_csv()
    up = read_upload(raw, filename="example_runs.csv")
    uploads.add("example_runs.csv", up, raw)
    st.session_state["data"] = "upload"
    st.session_state["ufamily"] = sorted(up.runs["family"].dropna().unique())[0]


e1, e2, _ = st.columns([1, 1, 2])
output.download_text("Download an example file (CSV)", example_csv, "example_runs.csv", "text/csv",
                     key="upload_example", where=e1)
e2.button("Try the example runs", key="upload_try_example", on_click=_use_example, icon=":material/science:",
          help="Five runs drawn from Chinchilla's law with 0.5% noise, loaded as if you had uploaded them.")


@st.cache_data(show_spinner=False, max_entries=16)
def _read(digest: str, filename: str, options_json: str, _raw: bytes):
    """read_any with the page's options, cached on the file's digest and the options; an UploadError is
    returned, not raised."""
    opts = json.loads(options_json)
    info = pd.DataFrame(opts["run_info"]) if opts.get("run_info") else None
    try:
        return read_any(_raw, filename=filename, column_map=opts.get("column_map") or None, run_info=info,
                        tokens_per_step=opts.get("tokens_per_step"))
    except UploadError as e:
        return e


@st.cache_data(show_spinner=False, max_entries=16)
def _sniff(digest: str, filename: str, _raw: bytes) -> tuple[str | None, list[str]]:
    """The file's format and, for a table, its column names (None / [] when unreadable: the read says why)."""
    try:
        fmt = sniff(_raw, filename)
    except UploadError:
        return None, []
    if fmt not in upload_form.TABLE_FORMATS:
        return fmt, []
    try:
        return fmt, read_header(_raw, filename)
    except UploadError:
        return fmt, []


generation = st.session_state.setdefault("upload_generation", 0)   # bumped to empty the uploader
file = st.file_uploader("Runs: a file, or a .zip of a folder (" + ", ".join(FORMATS) + ")", type=None,
                        key=f"upload_file_{generation}", max_upload_size=MAX_BYTES // 1_000_000,
                        help="CSV, TSV, Parquet, a W&B export, a TensorBoard event file, mlflow.db, or a .zip of a "
                             "TensorBoard log directory, an MLflow mlruns/ folder or a folder of per-run files.")
if file is not None:
    raw = file.getvalue()
    digest = hashlib.sha256(raw).hexdigest()
    fmt, header = _sniff(digest, file.name, raw)
    suggested = suggest_mapping(header) if fmt in ("csv", "parquet") and header else {}
    automatic = _read(digest, file.name, "{}", raw)
    with st.expander("Column mapping", expanded=isinstance(automatic, UploadError) or bool(
            not isinstance(automatic, UploadError) and automatic.report.ignored_columns)):
        st.caption("Which column (or logged name) holds what, when the names differ from the accepted ones; "
                   "'(automatic)' keeps the name matching, the suggestion is shown in brackets.")
        column_map = upload_form.mapping(digest, fmt or "csv", header, automatic, suggested)
    info, tps = upload_form.run_info(digest, automatic)
    options = {"column_map": column_map, "run_info": info.to_dict("records") if info is not None else None,
               "tokens_per_step": tps}
    chosen = {k: v for k, v in options.items() if v}
    result = _read(digest, file.name, json.dumps(chosen, sort_keys=True), raw) if chosen else automatic

    if isinstance(result, UploadError):
        upload_form.show_error(result, suggested, bool(column_map))
    else:
        upload_form.show_report(result)
        for other, k in uploads.replaced(file.name, result).items():
            st.warning(f"{plural(k, 'run')} of this file {'has' if k == 1 else 'have'} the family and run names of "
                       f"runs in {code(other)}: "
                       "the analyses use this file's (the last upload of a run wins). To keep both, add a family "
                       "column or rename the runs, and upload again.", icon=":material/swap_horiz:")
        uploads.add(file.name, result, raw)
        failed = uploads.save_error()
        if failed:
            st.warning(f"Kept for this browser session only, not on the server: {failed[0]}"
                       + (f" {failed[1]}" if failed[1] else ""), icon=":material/cloud_off:")
        families = sorted(result.runs["family"].dropna().unique())

        def _use():
            st.session_state["data"] = "upload"
            st.session_state["ufamily"] = families[0]

        n_runs, n_fams = result.report.runs, result.report.families
        st.success(f"{n_runs:,} run{'s' * (n_runs != 1)} in {n_fams:,} famil{'ies' if n_fams != 1 else 'y'} "
                   "are ready." if n_runs != 1 else "1 run in 1 family is ready.",
                   icon=":material/check_circle:")
        st.button("Analyse these runs", key="upload_use", on_click=_use, type="primary",
                  help="Switches the sidebar to My uploads; every page then works on them.")

kept = store.uploads()
if kept:
    upload_form.kept_list(kept)
    for col, name in zip(st.columns(3), ("Browse", "Fit", "Allocate")):
        navigation.link(name, f"Open {name}", where=col)
