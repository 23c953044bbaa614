"""Download the manifest's pinned upstream files into a local cache, verified by sha256.

Each file lands at ``<dest>/<source>/<path>`` (the same layout as ``shared/data``), so the cache can be
passed to the build as ``--source``. Downloads are

* verified: the sha256 of the bytes must equal the manifest's, else :class:`FetchError` names the file,
  the expected and the actual digest, and nothing is kept;
* atomic per file: bytes go to ``<file>.part`` and are renamed into place only once verified;
* resumable: files already present with the right sha256 are skipped, and an interrupted ``.part`` is
  continued with an HTTP ``Range`` request when the server honours it (else downloaded again).

Each fetched source folder also gets a ``SOURCE.txt`` written from the manifest's provenance fields, so
ingesters that read it (:func:`datasets.sources.read_source_txt`) see the same repository, commit, licence
and paper as with the original folder.

Only the standard library is used (``urllib``). ``url_template`` replaces the manifest's URLs (tests
serve a local directory; mirrors work the same way); it is formatted with ``source``, ``path``,
``upstream``, ``repo`` and ``commit`` (``path`` and ``upstream`` percent-encoded).
"""
from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import quote

from datasets import manifest as mf
from datasets.errors import WorkbenchError

Progress = Callable[[float, str], None]
_CHUNK = 1 << 16


class FetchError(WorkbenchError, RuntimeError):
    """A file could not be downloaded or failed verification; the message names it, ``fix`` says what to do."""

    separator = "; "


@dataclass(frozen=True)
class FetchReport:
    """What :func:`fetch` did: files downloaded, files already present, bytes transferred."""

    dest: str
    downloaded: int
    skipped: int
    bytes: int

    def to_dict(self) -> dict:
        return asdict(self)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/scaling-workbench/data`` (``~/.cache/...`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "scaling-workbench" / "data"


def file_url(source: mf.ManifestSource, f: mf.ManifestFile, url_template: str | None = None) -> str:
    """The URL of one file: the manifest's, or ``url_template`` formatted with the file's fields."""
    if url_template is None:
        return f.url
    return url_template.format(source=quote(source.source), path=quote(f.path), upstream=quote(f.upstream),
                               repo=source.download_repo, commit=source.commit)


def _download(url: str, part: Path, f: mf.ManifestFile, timeout: float) -> int:
    """Write ``url`` to ``part`` (continuing a partial file when the server allows); return bytes received."""
    have = part.stat().st_size if part.exists() else 0
    if have >= f.bytes:  # a complete-length .part that failed verification earlier: start again
        part.unlink()
        have = 0
    req = urllib.request.Request(url, headers={"User-Agent": "scaling-workbench-fetch/1"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    received = 0
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        append = have > 0 and resp.status == 206
        with open(part, "ab" if append else "wb") as out:
            size = have if append else 0
            while block := resp.read(_CHUNK):
                size += len(block)
                received += len(block)
                if size > f.bytes:
                    raise FetchError(f"{url}: server sent more than the manifest's {f.bytes} bytes",
                                     "check the URL template points at the pinned files")
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
    return received


def fetch_file(source: mf.ManifestSource, f: mf.ManifestFile, dest: Path, *, url_template: str | None = None,
               timeout: float = 60.0, retries: int = 2) -> int | None:
    """Fetch one file into ``dest/<source>/<path>``; return bytes downloaded (None when already present).

    Raises
    ------
    FetchError
        On network failure after ``retries`` retries, or when the sha256 of the bytes differs from the
        manifest (the partial file is deleted, the message gives expected and actual digests).
    """
    target = dest / source.source / f.path
    if target.is_file() and target.stat().st_size == f.bytes and mf.sha256_file(target) == f.sha256:
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    url = file_url(source, f, url_template)
    received, last = 0, None
    for _ in range(retries + 1):
        try:
            received += _download(url, part, f, timeout)
            last = None
            break
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            last = e
    if last is not None:
        reason = getattr(last, "reason", None) or last
        raise FetchError(f"{source.source}/{f.path}: download from {url} failed: {reason}",
                         "check the network connection and retry, or set SCALING_DATA_DIR to a local copy of the data")
    actual = mf.sha256_file(part)
    if actual != f.sha256:
        part.unlink(missing_ok=True)
        raise FetchError(f"{source.source}/{f.path}: sha256 mismatch (expected {f.sha256}, got {actual}) "
                         f"for {url}; the file was not kept",
                         "retry later; if it persists, the upstream file changed: use a local copy (SCALING_DATA_DIR)")
    os.replace(part, target)
    return received


def write_source_txt(source: mf.ManifestSource, folder: Path) -> None:
    """Write the provenance header of ``SOURCE.txt`` (the lines :func:`read_source_txt` parses) and the
    file list, from the manifest."""
    lines = [f"Dataset folder: {source.source}/ (fetched by datasets.fetch from the manifest)",
             f"Source repository: {source.repo}",
             f"Upstream commit: {source.commit}",
             f"Paper: {source.paper}",
             f"License: {source.licence}",
             "",
             f"Total: {len(source.files)} files, {source.total_bytes} bytes",
             "Files copied (repo path -> local path, bytes, git blob id):"]
    lines += [f"  {f.upstream} -> {f.path}  {f.bytes}  {f.git_blob}" for f in source.files]
    if source.download_repo != source.repo:
        lines[1] += f"  (bytes copied from {source.download_repo})"
    tmp = folder / "SOURCE.txt.part"
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, folder / "SOURCE.txt")


def fetch(dest: Path | None = None, *, only: list[str] | None = None, manifest: mf.Manifest | None = None,
          url_template: str | None = None, timeout: float = 60.0, progress: Progress | None = None) -> FetchReport:
    """Download every manifest file (or those of the sources in ``only``) into ``dest``.

    ``progress(fraction, message)`` is called after each file with the fraction of manifest bytes done.
    """
    manifest = manifest or mf.load()
    dest = Path(dest) if dest else default_cache_dir()
    sources = [manifest.get(n) for n in only] if only else list(manifest.sources)
    total = sum(s.total_bytes for s in sources) or 1
    done = downloaded = skipped = got = 0
    for s in sources:
        folder = dest / s.source
        folder.mkdir(parents=True, exist_ok=True)
        for f in s.files:
            n = fetch_file(s, f, dest, url_template=url_template, timeout=timeout)
            if n is None:
                skipped += 1
            else:
                downloaded += 1
                got += n
            done += f.bytes
            if progress:
                progress(done / total, f"{s.source}/{f.path}")
        if not (folder / "SOURCE.txt").is_file():
            write_source_txt(s, folder)
    return FetchReport(dest=str(dest), downloaded=downloaded, skipped=skipped, bytes=got)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m datasets.fetch", description=__doc__.splitlines()[0])
    ap.add_argument("--dest", type=Path, default=None, help=f"cache directory (default: {default_cache_dir()})")
    ap.add_argument("--only", nargs="+", metavar="SRC", help="fetch only these sources")
    ap.add_argument("--url-template", help="e.g. http://mirror/{source}/{path} instead of the manifest's URLs")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default: %(default)s)")
    args = ap.parse_args(argv)

    def show(frac: float, msg: str) -> None:
        print(f"\r[{frac:6.1%}] {msg[:90]:<90}", end="", flush=True)
    try:
        rep = fetch(args.dest, only=args.only, url_template=args.url_template, timeout=args.timeout, progress=show)
    except (FetchError, mf.ManifestError) as e:
        print(f"\nerror: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: completed files are kept, partial ones resume next time", file=sys.stderr)
        return 130
    print(f"\n{rep.dest}: {rep.downloaded} files downloaded ({rep.bytes:,} bytes), {rep.skipped} already present")
    return 0


if __name__ == "__main__":
    sys.exit(main())
