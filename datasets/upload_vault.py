"""Server-side keeping of uploads, so a browser reload (or a link opened later) finds them again.

A session's uploads are kept under a *token*: 43 URL-safe characters from :func:`secrets.token_urlsafe`
(256 random bits), carried in the page's URL (``?uploads=<token>``). The token is the only key: nothing
a user sends becomes a path, and one token's uploads can never be read through another token.

Layout (``root`` = ``$SCALING_UPLOAD_DIR``, else ``$XDG_CACHE_HOME/scaling-workbench/uploads``, else
``~/.cache/scaling-workbench/uploads``)::

    root/<sha256(token)[:40]>/      one folder per token, named by a digest: a directory listing of the
        index.json                  cache does not reveal usable tokens
        <random hex>/               one folder per upload: runs.parquet, points.parquet, report.json

``index.json`` ``{"version", "created", "expires", "seq", "uploads": {name: {"dir", "saved", "bytes",
"digest", "seq"}}}`` is the commit point: an upload's folder is written completely under a temporary name,
renamed into place, and only then named in a new index written to a temporary file and renamed over the
old one (:func:`os.replace`, atomic on POSIX). A crash at any point leaves the previous index and its
uploads intact (a half-written folder is never named and is swept later). Writers of one token take an
exclusive lock (two tabs of one link); readers never lock.

Limits (environment, read when a :class:`UploadVault` is made):

==============================  =========  ====================================================
variable                        default    what it bounds
==============================  =========  ====================================================
``SCALING_UPLOAD_TTL_HOURS``    24         a token's uploads are deleted this long after its
                                           last upload (expired tokens are swept on each upload)
``SCALING_UPLOAD_QUOTA_MB``     100        stored bytes per token (Parquet tables + report)
``SCALING_UPLOAD_TOTAL_MB``     5000       stored bytes of all tokens together
==============================  =========  ====================================================

Every problem is a :class:`VaultError` (a :class:`~datasets.errors.WorkbenchError`: a message and
what to do) with a ``kind``: ``malformed`` (not a token this vault could have made), ``unknown`` (no
such token: never made, deleted or swept), ``expired``, ``quota``, ``full``, ``damaged``.

How the files are written and read (atomic index, fsync, the writer lock) is
:mod:`datasets.upload_vault_files`; this module holds the policy: tokens, expiry, quotas, sweeping.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from datasets.upload.report import Upload
from datasets.upload_vault_files import (VaultError, mtime, read_entry, read_index, remove_folder, write_entry,
                                         write_index, writer_lock)

__all__ = ["UploadVault", "VaultEntry", "VaultError", "default_root", "TOKEN_BYTES", "TOKEN_RE", "MAX_NAME"]

TOKEN_BYTES = 32                                   # secrets.token_urlsafe(32): 43 characters, 256 bits
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")
MAX_NAME = 300                                     # characters in an upload's name (a file name)
_STALE_TMP = 3600.0                                # s after which an unnamed temporary folder is swept


@dataclass(frozen=True)
class VaultEntry:
    """One kept upload: its ``name`` (the file name shown on the page), when it was saved (epoch
    seconds), its stored ``bytes``, the caller's ``digest`` of its content, and when it expires."""

    name: str
    saved: float
    bytes: int
    digest: str
    expires: float

    def to_dict(self) -> dict:
        return {"name": self.name, "saved": self.saved, "bytes": self.bytes, "digest": self.digest,
                "expires": self.expires}


def default_root() -> Path:
    """``$SCALING_UPLOAD_DIR``, else the user's cache folder + ``scaling-workbench/uploads``."""
    env = os.environ.get("SCALING_UPLOAD_DIR")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "scaling-workbench" / "uploads"


def _env_number(name: str, default: float) -> float:
    text = os.environ.get(name)
    if text is None or not text.strip():
        return default
    try:
        value = float(text)
    except ValueError:
        raise VaultError(f"${name} is {text!r}, not a number.", f"Set {name} to a positive number.",
                         kind="config") from None
    if not value > 0 or value != value or value == float("inf"):
        raise VaultError(f"${name} is {text!r}; it must be a positive number.",
                         f"Set {name} to a positive number.", kind="config")
    return value


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


class UploadVault:
    """Uploads kept on the server under unguessable tokens (see the module docstring).

    Parameters
    ----------
    root : path, optional
        Where to keep them (default :func:`default_root`); created when missing.
    ttl_hours, quota_mb, total_mb : float, optional
        Lifetime after a token's last upload, bytes per token, bytes in all (defaults from the
        environment: 24 h, 100 MB, 5,000 MB).
    clock : callable, optional
        Seconds since the epoch (tests pass a fake clock).
    """

    def __init__(self, root: str | Path | None = None, *, ttl_hours: float | None = None,
                 quota_mb: float | None = None, total_mb: float | None = None,
                 clock: Callable[[], float] = time.time):
        self.root = Path(root) if root is not None else default_root()
        self.ttl = 3600.0 * (ttl_hours if ttl_hours is not None else _env_number("SCALING_UPLOAD_TTL_HOURS", 24.0))
        self.quota = int(1e6 * (quota_mb if quota_mb is not None else _env_number("SCALING_UPLOAD_QUOTA_MB", 100.0)))
        self.total = int(1e6 * (total_mb if total_mb is not None else _env_number("SCALING_UPLOAD_TOTAL_MB", 5000.0)))
        self.clock = clock

    # ------------------------------------------------------------------------------------------ tokens
    @staticmethod
    def valid_token(token: object) -> bool:
        """Whether ``token`` has the form of a token this vault makes (43 URL-safe characters)."""
        return isinstance(token, str) and TOKEN_RE.fullmatch(token) is not None

    def _folder(self, token: str) -> Path:
        if not self.valid_token(token):
            raise VaultError("This link's upload token is malformed: it is not a token the workbench makes.",
                             "Open the Upload page and upload the runs again.", kind="malformed")
        return self.root / hashlib.sha256(token.encode("ascii")).hexdigest()[:40]

    def create(self) -> str:
        """A new token with no uploads yet (its folder and index are written at once)."""
        self.root.mkdir(parents=True, exist_ok=True)
        while True:
            token = secrets.token_urlsafe(TOKEN_BYTES)
            folder = self._folder(token)
            try:
                folder.mkdir()
            except FileExistsError:              # 2^-256: never, but never reuse a folder either
                continue
            now = self.clock()
            write_index(folder, {"version": 1, "created": now, "expires": now + self.ttl, "uploads": {}})
            return token

    def status(self, token: object) -> str:
        """``"active"``, ``"expired"``, ``"unknown"`` or ``"malformed"`` (an expired token is deleted)."""
        try:
            self._index(token)
        except VaultError as e:
            return e.kind
        return "active"

    def expires(self, token: str) -> float:
        """When ``token``'s uploads will be deleted (epoch seconds)."""
        return float(self._index(token)["expires"])

    # ------------------------------------------------------------------------------------------ reading
    def _index(self, token: object) -> dict:
        folder = self._folder(token)               # raises on a malformed token before touching the disk
        data = read_index(folder)
        if data is None:
            raise VaultError("No uploads are kept under this link: it is wrong, or they were deleted or expired.",
                             "Open the Upload page and upload the runs again.", kind="unknown")
        if float(data.get("expires", 0)) <= self.clock():
            remove_folder(folder)
            raise VaultError(f"The uploads of this link have expired (uploads are kept {self.ttl / 3600:g} h "
                             "after the last one).", "Open the Upload page and upload the runs again.",
                             kind="expired")
        return data

    def entries(self, token: str) -> list[VaultEntry]:
        """The uploads kept under ``token``, oldest first."""
        data = self._index(token)
        return [VaultEntry(name, float(e["saved"]), int(e["bytes"]), str(e["digest"]), float(data["expires"]))
                for name, e in sorted(data["uploads"].items(), key=lambda kv: (kv[1]["saved"], kv[1].get("seq", 0)))]

    def usage(self, token: str) -> int:
        """Bytes stored under ``token``."""
        return sum(e.bytes for e in self.entries(token))

    def get(self, token: str, name: str) -> Upload:
        """The upload ``name`` kept under ``token``, as it was put (runs, points, report)."""
        data = self._index(token)
        entry = data["uploads"].get(name)
        if entry is None:
            raise VaultError(f"No upload named {name!r} is kept under this link.",
                             "Choose one of the uploads listed on the Upload page.", kind="unknown")
        return read_entry(self._folder(token) / entry["dir"])

    def load(self, token: str) -> dict[str, tuple[Upload, VaultEntry]]:
        """Every upload kept under ``token``: ``{name: (Upload, VaultEntry)}``, oldest first."""
        out = {}
        for e in self.entries(token):
            try:
                out[e.name] = (self.get(token, e.name), e)
            except VaultError as err:
                if err.kind != "unknown":          # deleted by another tab meanwhile: skip it
                    raise
        return out

    # ------------------------------------------------------------------------------------------ writing
    def put(self, token: str, name: str, upload: Upload, *, digest: str = "") -> VaultEntry:
        """Keep ``upload`` under ``token`` as ``name`` (replacing an upload of that name); returns its entry.

        Raises :class:`VaultError` ``quota`` when the token's uploads would exceed the quota, ``full``
        when the vault's total would, and ``unknown`` / ``expired`` / ``malformed`` for such tokens.
        """
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            raise VaultError(f"An upload's name must be 1 to {MAX_NAME} characters.", "Rename the file.",
                             kind="name")
        folder = self._folder(token)
        self._index(token)
        self.purge()
        with writer_lock(folder):
            data = self._index(token)
            tmp = folder / f".tmp-{secrets.token_hex(8)}"
            tmp.mkdir()
            try:
                size = write_entry(tmp, upload)
                old = data["uploads"].get(name)
                used = sum(int(e["bytes"]) for n, e in data["uploads"].items() if n != name)
                if used + size > self.quota:
                    raise VaultError(f"{name!r} needs {_mb(size)}; with the {_mb(used)} kept under this link that "
                                     f"is above the {_mb(self.quota)} quota per link.",
                                     "Delete uploads you no longer need on the Upload page, or upload fewer runs.",
                                     kind="quota")
                if self._total_bytes() + size - (int(old["bytes"]) if old else 0) > self.total:
                    raise VaultError("The server's space for uploads is full.",
                                     "Try again later, or analyse the runs with the command line "
                                     "(python -m analysis fit --data FILE).", kind="full")
                entry_dir = secrets.token_hex(16)
                os.rename(tmp, folder / entry_dir)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            now = self.clock()
            data["seq"] = int(data.get("seq", 0)) + 1          # upload order (saved times may tie)
            data["uploads"][name] = {"dir": entry_dir, "saved": now, "bytes": size, "digest": str(digest),
                                     "seq": data["seq"]}
            data["expires"] = now + self.ttl
            write_index(folder, data)
            if old:
                shutil.rmtree(folder / old["dir"], ignore_errors=True)
        return VaultEntry(name, now, size, str(digest), data["expires"])

    def delete(self, token: str, name: str) -> bool:
        """Delete the upload ``name`` of ``token``; False when there was none."""
        folder = self._folder(token)
        with writer_lock(folder):
            data = self._index(token)
            entry = data["uploads"].pop(name, None)
            if entry is None:
                return False
            write_index(folder, data)
        shutil.rmtree(folder / entry["dir"], ignore_errors=True)
        return True

    def destroy(self, token: str) -> None:
        """Delete every upload of ``token`` and the token itself (the link stops working)."""
        folder = self._folder(token)
        if folder.exists():
            remove_folder(folder)

    def purge(self) -> int:
        """Delete expired tokens and stale temporary folders; returns the number of tokens deleted."""
        if not self.root.is_dir():
            return 0
        now, n = self.clock(), 0
        stale = time.time() - _STALE_TMP             # file times are real times, whatever the clock says
        for folder in self.root.iterdir():
            if folder.name.startswith(".trash-") and mtime(folder) < stale:
                shutil.rmtree(folder, ignore_errors=True)      # a delete interrupted after its rename
            if not folder.is_dir() or not re.fullmatch(r"[0-9a-f]{40}", folder.name):
                continue
            try:
                data = read_index(folder)
            except VaultError:
                data = None
            if data is None:
                if mtime(folder) < stale:                  # damaged, or a create() that never finished
                    remove_folder(folder)
                    n += 1
                continue
            if float(data.get("expires", 0)) <= now:
                remove_folder(folder)
                n += 1
                continue
            named = {e["dir"] for e in data["uploads"].values()}
            for sub in folder.iterdir():
                if sub.is_dir() and sub.name not in named and mtime(sub) < stale:
                    shutil.rmtree(sub, ignore_errors=True)
        return n

    # ------------------------------------------------------------------------------------------ helpers
    def _total_bytes(self) -> int:
        total = 0
        for folder in self.root.iterdir():
            try:
                data = read_index(folder) if folder.is_dir() else None
            except VaultError:
                data = None
            if data:
                total += sum(int(e["bytes"]) for e in data["uploads"].values())
        return total
