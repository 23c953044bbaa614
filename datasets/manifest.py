"""The manifest: every upstream file of every source folder, pinned by commit and sha256.

``datasets/manifest.json`` is generated from the ``SOURCE.txt`` of each source folder (its header gives
repository, commit, licence and paper; its "Files copied" lines give ``repo_path -> local_path bytes blob``)
and the sha256 of the local bytes::

    python -m datasets.manifest --source ../shared/data

The manifest holds metadata only (never data). The build verifies every input file against it and
:mod:`datasets.fetch` downloads the pinned bytes from ``url`` when no local copy exists.

A source whose bytes were taken from a different repository than its provenance (``revisiting``: the
google-research benchmark, copied from IBM/ColPret) says so in its ``Source repository`` line
("bytes copied from OWNER/REPO"); its ``download_repo`` and URLs then point at that repository at the
pinned commit.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote

from datasets.errors import WorkbenchError

MANIFEST_PATH = Path(__file__).with_name("manifest.json")
MANIFEST_VERSION = 1
RAW_URL = "https://raw.githubusercontent.com/{repo}/{commit}/{upstream}"

_FILE_LINE = re.compile(r"^\s+(?P<upstream>\S.*?) -> (?P<path>\S.*?)\s+(?P<bytes>\d+)\s+(?P<blob>[0-9a-f]{40})\s*$")
_HEADER = {"repo": "Source repository:", "commit": "Upstream commit:", "licence": "License:", "paper": "Paper:"}
_COPIED_FROM = re.compile(r"bytes copied from ([\w.-]+/[\w.-]+)")
_REPO = re.compile(r"^[\w.-]+/[\w.-]+$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


class ManifestError(WorkbenchError, ValueError):
    """A source folder or manifest that cannot be read; the message names the file and line."""

    separator = "; "


@dataclass(frozen=True)
class ManifestFile:
    """One pinned upstream file: ``path`` is relative to the source folder, ``upstream`` to the repository."""

    path: str
    upstream: str
    bytes: int
    sha256: str
    git_blob: str
    url: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ManifestSource:
    """One source folder: provenance plus its pinned files (sorted by ``path``)."""

    source: str
    title: str
    repo: str
    download_repo: str
    commit: str
    licence: str
    paper: str
    files: tuple[ManifestFile, ...]

    @property
    def module(self) -> str:
        """Name of the ingester module in :mod:`datasets.sources` (folder name with '-' -> '_')."""
        return self.source.replace("-", "_")

    @property
    def total_bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["files"] = [f.to_dict() for f in self.files]
        return d


@dataclass(frozen=True)
class Manifest:
    """All sources, sorted by name."""

    sources: tuple[ManifestSource, ...]

    def names(self) -> list[str]:
        return [s.source for s in self.sources]

    def get(self, name: str) -> ManifestSource:
        """The source called ``name`` (folder name, or module name with '_' for '-')."""
        for s in self.sources:
            if name in (s.source, s.module):
                return s
        raise ManifestError(f"unknown source {name!r}; the manifest lists: {', '.join(self.names())}")

    def to_dict(self) -> dict:
        return {"manifest_version": MANIFEST_VERSION,
                "generated_by": "python -m datasets.manifest --source <data dir>",
                "sources": [s.to_dict() for s in self.sources]}


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def git_blob_id(path: Path) -> str:
    """Git's object id of a file: sha1 over ``b"blob <size>\\0" + bytes`` (what SOURCE.txt lists)."""
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def raw_url(repo: str, commit: str, upstream: str) -> str:
    """``https://raw.githubusercontent.com/<repo>/<commit>/<upstream>`` with the path percent-encoded."""
    return RAW_URL.format(repo=repo, commit=commit, upstream=quote(upstream))


def parse_source_txt(folder: Path) -> tuple[dict[str, str], list[dict]]:
    """Read a folder's ``SOURCE.txt``: header fields and the "Files copied" lines.

    Returns
    -------
    (header, files): header has repo, download_repo, commit, licence, paper, title;
    files is a list of {upstream, path, bytes, git_blob} in file order.
    """
    txt = folder / "SOURCE.txt"
    if not txt.is_file():
        raise ManifestError(f"{txt}: missing (every source folder needs a SOURCE.txt)")
    header: dict[str, str] = {}
    files: list[dict] = []
    for lineno, line in enumerate(txt.read_text(encoding="utf-8").splitlines(), 1):
        for key, label in _HEADER.items():
            if line.startswith(label) and key not in header:
                value = line[len(label):].strip()
                if key == "repo":
                    copied = _COPIED_FROM.search(value)
                    value = value.split()[0] if value else ""
                    header["download_repo"] = copied.group(1) if copied else value
                elif key == "commit":
                    value = value.split()[0] if value else ""
                header[key] = value
        m = _FILE_LINE.match(line)
        if m:
            files.append(dict(upstream=m["upstream"], path=m["path"], bytes=int(m["bytes"]), git_blob=m["blob"],
                              line=lineno))
    for key in ("repo", "commit", "licence", "paper"):
        if not header.get(key):
            raise ManifestError(f"{txt}: no '{_HEADER[key]}' line")
    if not _REPO.match(header["repo"]) or not _REPO.match(header["download_repo"]):
        raise ManifestError(f"{txt}: repository {header['repo']!r} is not OWNER/NAME")
    if not _COMMIT.match(header["commit"]):
        raise ManifestError(f"{txt}: commit {header['commit']!r} is not a 40-digit hex id")
    if not files:
        raise ManifestError(f"{txt}: no 'repo_path -> local_path bytes blob' lines under 'Files copied'")
    title = re.search(r'"([^"]+)"', header["paper"])
    header["title"] = title.group(1) if title else header["paper"]
    return header, files


def generate(source_dir: Path) -> Manifest:
    """Build the manifest from every ``<source_dir>/<folder>/SOURCE.txt`` and the files' sha256.

    Raises :class:`ManifestError` when a listed file is missing, or its size or git blob id differs from
    SOURCE.txt (so the local bytes are exactly the upstream blob at the pinned commit).
    """
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise ManifestError(f"{source_dir}: not a directory")
    sources = []
    for folder in sorted(p for p in source_dir.iterdir() if p.is_dir() and (p / "SOURCE.txt").is_file()):
        header, listed = parse_source_txt(folder)
        files = []
        for f in listed:
            local = folder / f["path"]
            if not local.is_file():
                raise ManifestError(f"{folder / 'SOURCE.txt'} line {f['line']}: {local} does not exist")
            size = local.stat().st_size
            if size != f["bytes"]:
                raise ManifestError(f"{folder / 'SOURCE.txt'} line {f['line']}: {local} has {size} bytes, "
                                    f"SOURCE.txt says {f['bytes']}")
            blob = git_blob_id(local)
            if blob != f["git_blob"]:
                raise ManifestError(f"{folder / 'SOURCE.txt'} line {f['line']}: {local} has git blob {blob}, "
                                    f"SOURCE.txt says {f['git_blob']}")
            files.append(ManifestFile(path=f["path"], upstream=f["upstream"], bytes=f["bytes"],
                                      sha256=sha256_file(local), git_blob=f["git_blob"],
                                      url=raw_url(header["download_repo"], header["commit"], f["upstream"])))
        sources.append(ManifestSource(source=folder.name, title=header["title"], repo=header["repo"],
                                      download_repo=header["download_repo"], commit=header["commit"],
                                      licence=header["licence"], paper=header["paper"],
                                      files=tuple(sorted(files, key=lambda x: x.path))))
    if not sources:
        raise ManifestError(f"{source_dir}: no source folders (sub-directories with a SOURCE.txt)")
    return Manifest(tuple(sources))


def dumps(manifest: Manifest) -> str:
    """Serialise with one file per line, so a regenerated manifest diffs line by line."""
    d = manifest.to_dict()
    out = ["{", f'  "manifest_version": {d["manifest_version"]},',
           f'  "generated_by": {json.dumps(d["generated_by"])},', '  "sources": [']
    for i, s in enumerate(d["sources"]):
        head = {k: v for k, v in s.items() if k != "files"}
        out.append("    {" + json.dumps(head, ensure_ascii=False)[1:-1] + ', "files": [')
        out.extend("      " + json.dumps(f, ensure_ascii=False) + ("," if j < len(s["files"]) - 1 else "")
                   for j, f in enumerate(s["files"]))
        out.append("    ]}" + ("," if i < len(d["sources"]) - 1 else ""))
    out += ["  ]", "}", ""]
    return "\n".join(out)


def load(path: Path | None = None) -> Manifest:
    """Read ``manifest.json`` (default: the one beside this module)."""
    path = Path(path) if path else MANIFEST_PATH
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path}: missing", "regenerate it with python -m datasets.manifest --source DIR") from None
    except json.JSONDecodeError as e:
        raise ManifestError(f"{path}: not valid JSON ({e})") from None
    if d.get("manifest_version") != MANIFEST_VERSION:
        raise ManifestError(f"{path}: manifest_version {d.get('manifest_version')!r}, expected {MANIFEST_VERSION}")
    try:
        return Manifest(tuple(
            ManifestSource(**{k: v for k, v in s.items() if k != "files"},
                           files=tuple(ManifestFile(**f) for f in s["files"]))
            for s in d["sources"]))
    except (KeyError, TypeError) as e:
        raise ManifestError(f"{path}: malformed entry ({e})") from None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m datasets.manifest", description=__doc__.splitlines()[0])
    ap.add_argument("--source", required=True, type=Path, help="data directory holding one folder per source")
    ap.add_argument("--out", type=Path, default=MANIFEST_PATH, help="where to write (default: %(default)s)")
    ap.add_argument("--check", action="store_true", help="exit 1 if --out differs from what would be written")
    args = ap.parse_args(argv)
    try:
        text = dumps(generate(args.source))
    except ManifestError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.check:
        same = args.out.is_file() and args.out.read_text(encoding="utf-8") == text
        print(f"{args.out}: {'up to date' if same else 'OUT OF DATE'}")
        return 0 if same else 1
    args.out.write_text(text, encoding="utf-8")
    m = load(args.out)
    print(f"wrote {args.out}: {len(m.sources)} sources, {sum(len(s.files) for s in m.sources)} files, "
          f"{sum(s.total_bytes for s in m.sources):,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
