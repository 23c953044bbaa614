"""Folders and ZIP archives as lists of files, read within the limits of :mod:`datasets.formats.limits`.

:func:`list_folder` walks a folder (symbolic links are skipped, never followed; hidden entries such as
MLflow's ``.trash`` and macOS's ``__MACOSX`` / ``._*`` / ``.DS_Store`` are skipped); :func:`list_zip` reads an
archive's central directory. Both stop with an :class:`~datasets.upload.UploadError` past
:data:`~datasets.formats.limits.MAX_ENTRIES` entries. A reader then picks the files it needs and
:func:`materialise` hands them over as a folder on disk: the folder itself, or for an archive a fresh
temporary folder that holds only the picked members and is deleted afterwards.

Archive safety
--------------
* The member count is read from the end-of-central-directory record before the directory is parsed.
* A member whose name is absolute (``/x``, ``C:\\x``) or climbs out (``../x``) rejects the whole archive
  (path traversal); names are normalised (``\\`` -> ``/``) and every destination is checked to lie
  inside the temporary folder before it is written.
* Declared sizes are summed before anything is unpacked, and the bytes actually unpacked are counted
  while unpacking (a header can lie), both against :data:`~datasets.formats.limits.MAX_UNPACKED_BYTES`:
  a ZIP bomb stops at the limit with one message. Nested archives are not opened; symbolic-link members
  are skipped; password-protected archives are refused by name.
* Member names without ZIP's UTF-8 flag are decoded as UTF-8 when they are valid UTF-8 (what macOS and
  Linux tools write), else as CP437 (the ZIP standard's default).
"""
from __future__ import annotations

import io
import os
import stat
import tempfile
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterator

from datasets.formats.limits import MAX_BYTES, MAX_ENTRIES, MAX_FILES, MAX_UNPACKED_BYTES
from datasets.upload import UploadError

_JUNK = frozenset({"__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini"})
_CHUNK = 1 << 20


def _mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


@dataclass(frozen=True)
class Entry:
    """One regular file: its path relative to the folder or archive root (POSIX), and its size in bytes."""

    path: str
    size: int

    @property
    def parts(self) -> tuple[str, ...]:
        return PurePosixPath(self.path).parts

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name


@dataclass
class Listing:
    """The files of a folder or an archive (``kind`` ``"folder"`` or ``"zip"``), and what was skipped."""

    label: str
    kind: str
    entries: list[Entry]
    notes: list[str] = field(default_factory=list)
    root: Path | None = None
    archive: zipfile.ZipFile | None = None
    members: dict[str, zipfile.ZipInfo] = field(default_factory=dict)

    def paths(self) -> list[str]:
        return [e.path for e in self.entries]

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()


def _hidden(part: str) -> bool:
    return part in _JUNK or part.startswith(".")


def list_folder(root: Path, *, max_entries: int = MAX_ENTRIES) -> Listing:
    """The regular files under ``root`` (sorted), walking at most ``max_entries`` entries."""
    root = Path(root)
    if not root.is_dir():
        raise UploadError(f"{str(root)!r} is not a folder.", fix="Pass a folder, a ZIP archive or a file.")
    entries: list[Entry] = []
    links = hidden = 0
    seen = 0
    stack = [(root, "")]
    while stack:
        folder, rel = stack.pop()
        try:
            with os.scandir(folder) as it:
                children = list(it)
        except OSError as e:
            raise UploadError(f"Cannot read the folder {str(folder)!r}: {e.strerror or e}.",
                              fix="Check the path and its permissions.") from None
        for child in children:
            seen += 1
            if seen > max_entries:
                raise UploadError(f"The folder {str(root)!r} holds more than {max_entries:,} files and folders, "
                                  "the limit.", fix="Point at the log folder of the runs you want (not a parent "
                                  "folder holding checkpoints or a whole project), or copy just the logs.")
            if _hidden(child.name):
                hidden += 1
                continue
            if child.is_symlink():
                links += 1
                continue
            path = f"{rel}/{child.name}" if rel else child.name
            if child.is_dir(follow_symlinks=False):
                stack.append((Path(child.path), path))
            elif child.is_file(follow_symlinks=False):
                entries.append(Entry(path, child.stat(follow_symlinks=False).st_size))
    notes = []
    if links:
        notes.append(f"{links:,} symbolic link{'s' if links != 1 else ''} in the folder were skipped (not followed).")
    if hidden:
        notes.append(f"{hidden:,} hidden entr{'ies were' if hidden != 1 else 'y was'} skipped (names starting "
                     "with '.', e.g. MLflow's .trash of deleted runs).")
    entries.sort(key=lambda e: e.path)
    return Listing(label=str(root), kind="folder", entries=entries, notes=notes, root=root)


def is_zip(raw: bytes) -> bool:
    """Whether ``raw`` starts like a ZIP archive (a local file header, or an empty archive)."""
    return raw[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def _member_count(fp) -> int | None:
    """Entries declared by the end-of-central-directory record (ZIP64 aware), read before parsing."""
    end = getattr(zipfile, "_EndRecData", None)
    if end is None:
        return None
    try:
        rec = end(fp)
    except (OSError, zipfile.BadZipFile, ValueError, IndexError):
        return None
    return None if rec is None else int(rec[zipfile._ECD_ENTRIES_TOTAL])


def _member_name(info: zipfile.ZipInfo) -> str:
    name = info.filename
    if not info.flag_bits & 0x800:
        try:
            name = name.encode("cp437").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return name


def _safe_path(name: str) -> str | None:
    """A member name as a relative POSIX path; None for a folder entry; UploadError when it climbs out."""
    n = name.replace("\\", "/")
    parts = n.split("/")
    if n.startswith("/") or (len(n) > 1 and n[1] == ":") or ".." in parts or any(
            ord(c) < 32 for c in n):
        raise UploadError(f"The archive's member {name[:120]!r} points outside the archive (path traversal) "
                          "or has a control character in its name, so the archive was refused.",
                          fix="Zip the log folder again with a standard tool (relative paths only).")
    parts = [p for p in parts if p not in ("", ".")]
    return "/".join(parts) if parts and not n.endswith("/") else None


def list_zip(data: bytes | Path, label: str, *, max_bytes: int = MAX_BYTES,
             max_entries: int = MAX_ENTRIES) -> Listing:
    """The regular-file members of a ZIP archive (its bytes or its path), after the checks above."""
    try:
        if isinstance(data, Path):
            size = data.stat().st_size
            if size > max_bytes:
                raise UploadError(f"The archive {label!r} is {_mb(size)}, above the {_mb(max_bytes)} limit.",
                                  fix="Zip only the runs' logs (no checkpoints), or split it.")
            fp = open(data, "rb")
        else:
            if len(data) > max_bytes:
                raise UploadError(f"The archive {label!r} is {_mb(len(data))}, above the {_mb(max_bytes)} limit.",
                                  fix="Zip only the runs' logs (no checkpoints), or split it.")
            fp = io.BytesIO(data)
    except OSError as e:
        raise UploadError(f"Cannot read {label!r}: {e.strerror or e}.", fix="Check the path.") from None
    declared = _member_count(fp)
    if declared is not None and declared > max_entries:
        fp.close()
        raise UploadError(f"The archive {label!r} has {declared:,} members, above the limit of {max_entries:,}.",
                          fix="Zip only the log folders of the runs you want.")
    try:
        archive = zipfile.ZipFile(fp)
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as e:
        fp.close()
        raise UploadError(f"{label!r} is not a readable ZIP archive ({str(e)[:120] or type(e).__name__}).",
                          fix="Zip the folder again (a plain .zip) and upload that.") from None
    if len(infos) > max_entries:
        archive.close()
        raise UploadError(f"The archive {label!r} has {len(infos):,} members, above the limit of {max_entries:,}.",
                          fix="Zip only the log folders of the runs you want.")
    entries, members, notes = [], {}, []
    links = hidden = dups = 0
    try:
        for info in infos:
            path = _safe_path(_member_name(info))
            if path is None:
                continue
            if any(_hidden(p) for p in path.split("/")):
                hidden += 1
                continue
            if info.flag_bits & 0x1:
                raise UploadError(f"The archive {label!r} is password-protected (member {path!r}).",
                                  fix="Zip the folder again without a password.")
            if stat.S_ISLNK(info.external_attr >> 16):
                links += 1
                continue
            if path in members:
                dups += 1
                continue
            members[path] = info
            entries.append(Entry(path, int(info.file_size)))
    except UploadError:
        archive.close()
        raise
    if links:
        notes.append(f"{links:,} symbolic-link member{'s' if links != 1 else ''} of the archive were skipped.")
    if hidden:
        notes.append(f"{hidden:,} hidden member{'s' if hidden != 1 else ''} (e.g. __MACOSX/, .DS_Store) were skipped.")
    if dups:
        notes.append(f"{dups:,} member{'s' if dups != 1 else ''} repeating an earlier name were skipped "
                     "(the first copy was read).")
    entries.sort(key=lambda e: e.path)
    return Listing(label=label, kind="zip", entries=entries, notes=notes, archive=archive, members=members)


def check_selection(listing: Listing, paths: list[str], *, what: str, max_files: int = MAX_FILES,
                    max_bytes: int = MAX_UNPACKED_BYTES) -> None:
    """Refuse a selection of more than ``max_files`` files or ``max_bytes`` bytes (declared sizes)."""
    if len(paths) > max_files:
        raise UploadError(f"{listing.label!r} holds {len(paths):,} {what}, above the limit of {max_files:,}.",
                          fix="Upload the logs of fewer runs at a time.")
    sizes = {e.path: e.size for e in listing.entries}
    total = sum(sizes[p] for p in paths)
    if total > max_bytes:
        unpacked = " unpack to" if listing.kind == "zip" else " hold"
        raise UploadError(f"The {what} in {listing.label!r}{unpacked} {_mb(total)}, above the {_mb(max_bytes)} "
                          "limit" + (" (a ZIP bomb?)." if listing.kind == "zip" else "."),
                          fix="Upload the logs of fewer runs, without checkpoints or other large files.")


@contextmanager
def materialise(listing: Listing, paths: list[str], *, max_bytes: int = MAX_UNPACKED_BYTES) -> Iterator[Path]:
    """A folder on disk holding ``paths`` (relative): the folder itself, or a temporary copy of the members.

    For an archive, bytes are counted while they are unpacked, so a member whose header understates its
    size stops at ``max_bytes`` in total. The temporary folder is deleted on exit.
    """
    if listing.kind == "folder":
        yield listing.root
        return
    with tempfile.TemporaryDirectory(prefix="scaling-upload-") as tmp:
        base = Path(tmp).resolve()
        written = 0
        for path in paths:
            info = listing.members[path]
            dest = base.joinpath(*path.split("/")).resolve()
            if base not in dest.parents:
                raise UploadError(f"The archive's member {path!r} points outside the archive (path traversal).",
                                  fix="Zip the log folder again with a standard tool (relative paths only).")
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                with listing.archive.open(info) as src, open(dest, "wb") as out:
                    while chunk := src.read(_CHUNK):
                        written += len(chunk)
                        if written > max_bytes:
                            raise UploadError(f"The archive {listing.label!r} unpacks to more than "
                                              f"{_mb(max_bytes)} (a ZIP bomb?); it was not read.",
                                              fix="Upload the logs of fewer runs, without checkpoints or "
                                                  "other large files.")
                        out.write(chunk)
            except UploadError:
                raise
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as e:
                raise UploadError(f"The archive's member {path!r} cannot be unpacked "
                                  f"({str(e)[:120] or type(e).__name__}).",
                                  fix="Zip the folder again (deflate or store compression) and upload that.") from None
        yield base


def shared_folders(paths: list[str]) -> int:
    """How many leading folders every path's folder shares (``logs/a/x``, ``logs/b/y`` -> 1): the wrapper
    folder a ZIP of a log directory adds, which is no part of any run's name."""
    parents = [PurePosixPath(p).parts[:-1] for p in paths]
    if not parents:
        return 0
    n = min(len(p) for p in parents)
    k = 0
    while k < n and all(p[k] == parents[0][k] for p in parents):
        k += 1
    return k

