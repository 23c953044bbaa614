"""Uploads that survive a reload: the session's uploads kept on the server under a token in the URL.

The first upload of a session makes a token (:meth:`datasets.upload_vault.UploadVault.create`: 256 random
bits) and puts it in the URL as ``?uploads=<token>``; every page re-publishes it, so a reload, a copied
link or a bookmark finds the uploads again (:func:`sync` loads them into the new session). The token is
the only key: another token, or none, sees nothing. A link whose token is unknown, expired or malformed
says so (:func:`notice`) and offers the Upload page; a malformed token never reaches the disk.

* :func:`sync` -- called by :func:`ui.store.uploads` on every run: URL token -> session, or session token
  -> URL (navigation drops query parameters); idempotent and cheap when nothing changed;
* :func:`add` -- keep an upload in the session and on the server (only when its content changed);
* :func:`remove` / :func:`delete_all` -- the Upload page's delete buttons;
* :func:`status` -- the token, its expiry, bytes used and the quota, for the page.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import streamlit as st

from datasets.upload import Upload
from datasets.upload_vault import UploadVault, VaultError
from ui import navigation
from ui.format import escape

PARAM = "uploads"              # URL query parameter holding the token
_TOKEN = "_uploads_token"      # session_state: this session's token (None before the first upload)
_SAVED = "_uploads_saved"      # session_state: {name: digest} of the uploads kept under the token
_NOTICE = "_uploads_notice"    # session_state: (kind, message, fix) when the URL's token could not be used
_ERROR = "_uploads_error"      # session_state: why the last upload could not be kept on the server
_BUSY = "_uploads_syncing"     # session_state: re-entrancy guard (restoring calls ui.store.add_upload)


@dataclass(frozen=True)
class Status:
    """What the Upload page says about the kept uploads."""

    token: str | None
    expires: float | None            # epoch seconds
    used: int                        # bytes kept under the token
    quota: int                       # bytes allowed per token
    ttl_hours: float


def vault() -> UploadVault:
    """The vault (root, lifetime and quota from the environment; see :mod:`datasets.upload_vault`)."""
    return UploadVault()


def token() -> str | None:
    """This session's token (None before its first kept upload)."""
    return st.session_state.get(_TOKEN)


def sync() -> None:
    """Make the URL, the session and the vault agree (see the module docstring)."""
    ss = st.session_state
    if ss.get(_BUSY):
        return
    url = st.query_params.get(PARAM)
    mine = ss.get(_TOKEN)
    if url is not None and url != mine:
        ss[_BUSY] = True
        try:
            _open(url)
        finally:
            ss[_BUSY] = False
    elif mine and url is None:
        st.query_params[PARAM] = mine


def _open(url_token: str) -> None:
    """Load the uploads of the URL's token into this session (replacing the session's own)."""
    from ui import store

    ss = st.session_state
    try:
        kept = vault().load(url_token)
    except VaultError as e:
        ss[_NOTICE] = (e.kind, e.message, e.fix)
        mine = ss.get(_TOKEN)
        if mine:
            st.query_params[PARAM] = mine
        else:
            st.query_params.pop(PARAM, None)
        return
    except OSError as e:
        ss[_NOTICE] = ("damaged", f"The uploads of this link could not be read ({e.strerror or e}).",
                       "Reload the page; if it persists, upload the runs again.")
        st.query_params.pop(PARAM, None)
        return
    store.uploads().clear()
    ss[_TOKEN] = url_token
    ss[_SAVED] = {}
    for name, (upload, _) in kept.items():
        store.add_upload(name, upload, b"")
        ss[_SAVED][name] = store.uploads()[name]["digest"]
    ss.pop(_NOTICE, None)


def notice() -> None:
    """Say why the link's uploads could not be opened (unknown, expired, malformed), with the Upload page."""
    found = st.session_state.get(_NOTICE)
    if not found:
        return
    kind, message, fix = found
    st.warning(escape(message) + (f" {escape(fix)}" if fix else ""), icon=":material/link_off:")
    navigation.link("Upload", "Go to Upload")


def add(name: str, upload: Upload, raw: bytes | str) -> None:
    """Keep ``upload`` for this session (:func:`ui.store.add_upload`) and on the server under the
    session's token (made on the first upload); skipped when the same content is already kept.
    When it cannot be kept on the server (quota, disk), it stays in the session and :func:`save_error`
    says why."""
    from ui import store

    ss = st.session_state
    store.add_upload(name, upload, raw)
    digest = store.uploads()[name]["digest"]
    saved = ss.setdefault(_SAVED, {})
    if saved.get(name) == digest and ss.get(_TOKEN):
        return
    v = vault()
    try:
        tok = ss.get(_TOKEN)
        if tok is None or v.status(tok) != "active":
            tok = v.create()
            ss[_TOKEN], saved = tok, {}
            ss[_SAVED] = saved
            for other, entry in store.uploads().items():   # a new token keeps every upload of the session
                if other != name:
                    v.put(tok, other, Upload(entry["runs"], entry["points"], entry["report"]),
                          digest=entry["digest"])
                    saved[other] = entry["digest"]
        v.put(tok, name, upload, digest=digest)
        saved[name] = digest
        ss.pop(_ERROR, None)
        ss.pop(_NOTICE, None)
        st.query_params[PARAM] = tok
    except (VaultError, OSError) as e:
        ss[_ERROR] = (getattr(e, "message", None) or str(e), getattr(e, "fix", None))


def replaced(name: str, upload: Upload) -> dict[str, int]:
    """``{other upload: runs}`` whose run ids ``upload`` shares: the analyses take those runs from the last
    upload (:func:`ui.store._upload_store`), so a re-upload of a corrected file replaces its runs."""
    from ui import store

    mine = set(upload.runs["run_id"])
    counts = {other: len(mine & set(u["runs"]["run_id"])) for other, u in store.uploads().items() if other != name}
    return {other: k for other, k in counts.items() if k}


def save_error() -> tuple[str, str | None] | None:
    """``(message, fix)`` when the last upload could not be kept on the server, else None."""
    return st.session_state.get(_ERROR)


def remove(name: str) -> None:
    """Delete one upload from the session and the server."""
    from ui import store

    store.uploads().pop(name, None)
    st.session_state.setdefault(_SAVED, {}).pop(name, None)
    tok = token()
    if tok:
        try:
            vault().delete(tok, name)
        except (VaultError, OSError):
            pass                     # expired or gone already: nothing left to delete


def delete_all() -> None:
    """Delete every upload of the session from the server and the session; the link stops working."""
    from ui import store

    tok = token()
    if tok:
        try:
            vault().destroy(tok)
        except (VaultError, OSError):
            pass
    store.uploads().clear()
    for k in (_TOKEN, _SAVED, _ERROR, _NOTICE):
        st.session_state.pop(k, None)
    st.query_params.pop(PARAM, None)


def status() -> Status:
    """The session's token, when it expires, the bytes kept and the quota."""
    v = vault()
    tok = token()
    expires, used = None, 0
    if tok:
        try:
            expires, used = v.expires(tok), v.usage(tok)
        except (VaultError, OSError):
            pass
    return Status(tok, expires, used, v.quota, v.ttl / 3600.0)


def expiry_text(expires: float | None) -> str:
    """``"2025-06-01 14:03 UTC (in 23.9 h)"``."""
    if expires is None:
        return "unknown"
    left = max(0.0, expires - time.time()) / 3600.0
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(expires)) + f" (in {left:.1f} h)"
