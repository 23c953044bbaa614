"""The stores behind the dashboard: the published corpus and the session's uploads, one query API.

* :func:`corpus` opens the corpus store once per process (the shared read-only DuckDB connection of
  :mod:`datasets.store`) and, on a first start without one, builds it under a progress bar; when that
  fails the app still runs, says what to do, and uploads work.
* :func:`uploads_store` turns the session's uploads (``st.session_state`` only, never the shared
  file) into an in-memory :class:`~datasets.store.Store` with the same views and queries.
* :func:`query` runs a cached ``Store`` query, keyed on the store's content key (the corpus file's
  identity, or the digest of the uploaded tables) and the arguments: a rebuilt store or a changed
  upload is re-read, an unchanged rerun is a cache hit.
"""
from __future__ import annotations

import hashlib
import os
import time

import pandas as pd
import streamlit as st

from datasets import store as store_api
from datasets.store import Store, StoreError
from ui import navigation
from ui.format import escape

RETRY_SECONDS = 60.0           # a failed store build is retried at most this often
UPLOADS = "uploads"            # st.session_state key: {name: {"runs", "points", "report", "filename", "digest"}}


# ---------------------------------------------------------------------------------------------- corpus
def _signature(path) -> tuple:
    if store_api.is_url(str(path)):   # a Parquet store on object storage: queries are keyed on its meta (Store.key)
        return (str(path),)
    s = os.stat(path)
    return (s.st_ino, s.st_size, s.st_mtime_ns)


@st.cache_resource(show_spinner=False, max_entries=4)
def _open(path: str, signature: tuple) -> Store:
    return Store(path)


def _open_at(path) -> Store:
    """The store at ``path``, opened once per file identity (a rebuilt file is opened again)."""
    return _open(str(path), _signature(path))


@st.cache_resource(show_spinner=False)
def _build_failures() -> dict:
    return {}


def retry_build() -> None:
    """Forget the remembered build failures, so the next run tries to build the store again."""
    _build_failures().clear()


def unavailable(err: StoreError, age: float | None = None) -> None:
    """Say that the corpus cannot be used, why, what to do, and that uploads still work. ``age``: seconds
    since the failed build attempt this message repeats (failures are remembered for RETRY_SECONDS)."""
    st.error(f"The published corpus is not available: {escape(err.message)}", icon=":material/block:")
    st.info(f"What to do: {escape(err.fix)}. If the published source data live elsewhere, point "
            "`SCALING_DATA_DIR` at their folder (or `SCALING_STORE` at a built store) and restart "
            "`streamlit run app.py`. Meanwhile you can upload your own runs (CSV or Parquet) on the "
            "Upload page and use every analysis on them.", icon=":material/info:")
    if age is not None:
        st.caption(f"This is the result of a build attempt {age:.0f} s ago; the app tries again "
                   f"{max(RETRY_SECONDS - age, 0):.0f} s from now, or now with the button.")
        st.button("Retry building the store now", key="store_retry", on_click=retry_build,
                  icon=":material/refresh:")
    navigation.link("Upload", "Go to Upload")


def open_built() -> Store | None:
    """The corpus store when it is built and opens, else None (never builds, never draws: the server's
    start-up warm-up, :mod:`ui.warmup`, opens it before the first page asks). A missing, outdated, locked
    or unreadable store is None here; the page that opens it says why."""
    try:
        return _open_at(store_api.locate_store())
    except (OSError, StoreError):
        return None


def corpus(quiet: bool = False) -> Store | None:
    """The corpus store, built on first start (with a progress bar) when missing
    or out of date. None when it cannot be opened or built, after saying why and what to do (unless
    ``quiet``: the sidebar has said it already)."""
    report = (lambda err, age=None: None) if quiet else unavailable
    path = store_api.locate_store()
    try:
        return _open_at(path)
    except FileNotFoundError:
        pass
    except StoreError as e:
        if e.kind not in ("missing", "old_schema"):
            report(e)
            return None
    failures = _build_failures()
    failed = failures.get(str(path))
    if failed is not None and time.time() - failed[0] < RETRY_SECONDS:
        report(failed[1], time.time() - failed[0])
        return None
    bar = st.progress(0.0, text="First start: building the corpus store from the published data ...")
    try:
        store_api.ensure_store(progress=lambda f, m: bar.progress(min(max(float(f), 0.0), 1.0),
                                                                  text=f"Building the corpus store: {m}"))
        result = _open_at(path)
    except (StoreError, OSError) as e:
        err = e if isinstance(e, StoreError) else StoreError(f"the store at {path} could not be opened ({e})",
                                                             f"check the file and rebuild: {store_api.build_command(path)}")
        failures[str(path)] = (time.time(), err)
        bar.empty()
        report(err)
        return None
    bar.empty()
    failures.pop(str(path), None)
    return result


# ---------------------------------------------------------------------------------------------- uploads
def uploads() -> dict:
    """The session's uploads: {name: {"runs", "points", "report", "filename", "digest"}} (first brought in
    line with the uploads kept on the server under the URL's token: :func:`ui.uploads.sync`)."""
    from ui import uploads as kept      # here: ui.uploads restores through add_upload
    kept.sync()
    return st.session_state.setdefault(UPLOADS, {})


def add_upload(name: str, upload, raw: bytes | str) -> None:
    """Keep an :class:`datasets.upload.Upload` of file ``name`` for this session (never written to the
    shared store). Its digest covers the bytes and the tables as read (a column mapping changes the
    tables, not the bytes)."""
    h = hashlib.sha256(raw if isinstance(raw, bytes) else raw.encode("utf-8"))
    for table in (upload.runs, upload.points):
        h.update(pd.util.hash_pandas_object(table.astype("string"), index=False).to_numpy().tobytes())
    kept = uploads()
    kept.pop(name, None)                # a file brought in again is the last upload: its runs win
    kept[name] = {"runs": upload.runs, "points": upload.points, "report": upload.report,
                  "filename": name, "digest": h.hexdigest()[:16]}


@st.cache_resource(show_spinner=False, max_entries=32)
def _upload_store(digest: str, _uploads: dict) -> Store:
    """The session's uploads in one in-memory store; a run id in several uploads is the last one's (its
    run row and its points: the uploads' checkpoints are never mixed)."""
    tables = list(_uploads.values())
    owner = {run: i for i, u in enumerate(tables) for run in u["runs"]["run_id"]}
    runs, points = ([u[t][u[t]["run_id"].map(owner) == i] for i, u in enumerate(tables)] for t in ("runs", "points"))
    return Store.from_tables(pd.concat(runs, ignore_index=True), pd.concat(points, ignore_index=True))


def uploads_store() -> Store | None:
    """An in-memory store (:meth:`~datasets.store.Store.from_tables`) of every upload of this session,
    None without uploads."""
    ups = uploads()
    if not ups:
        return None
    # in upload order, which decides the runs several uploads share
    digest = hashlib.sha256("|".join(f"{k}:{u['digest']}" for k, u in ups.items()).encode("utf-8"))
    try:
        return _upload_store(digest.hexdigest()[:16], ups)
    except (ValueError, StoreError) as e:
        st.error(f"Your uploads cannot be used together: {escape(e)}", icon=":material/block:")
        st.info("What to do: remove one of them on the Upload page, or upload them with distinct run names.",
                icon=":material/info:")
        return None


# ---------------------------------------------------------------------------------------------- queries
@st.cache_data(show_spinner=False, max_entries=512)
def _query(key: str, method: str, args: tuple, kwargs: tuple, _store: Store):
    return getattr(_store, method)(*args, **dict(kwargs))


def query(store: Store, method: str, *args, **kwargs):
    """``store.<method>(*args, **kwargs)``, cached on the store's content key (:attr:`Store.key`: the
    file's identity, or the digest of in-memory tables) and the arguments.

    A store that fails mid-query (a file damaged while the app runs) ends the page with the same message
    and fix as at start, never a traceback."""
    try:
        return _query(store.key, method, args, tuple(sorted(kwargs.items())), store)
    except StoreError as err:
        unavailable(err)
        st.stop()
