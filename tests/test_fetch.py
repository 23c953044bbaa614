"""The fetcher against a local HTTP server serving the source data: verified, atomic, resumable."""
from __future__ import annotations

import functools
import importlib.util
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from datasets import fetch
from datasets import manifest as mf
from datasets.sources import read_source_txt

SOURCES = ["chinchilla-epoch", "steplaw"]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _RangeHandler(_Quiet):
    """Honours ``Range: bytes=N-`` (the stdlib handler ignores it) and records what it was asked."""

    requests: list = []

    def send_head(self):
        rng = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        type(self).requests.append((self.path, rng))
        if not rng or not path.is_file():
            return super().send_head()
        start = int(rng.split("=")[1].rstrip("-"))
        data = path.read_bytes()[start:]
        self.send_response(206)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        fh = open(path, "rb")
        fh.seek(start)
        return fh


def _serve(directory: Path, handler=_Quiet):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/{{source}}/{{path}}"


@pytest.fixture
def served(data_dir):
    server, template = _serve(data_dir)
    yield template
    server.shutdown()
    server.server_close()


def test_fetch_downloads_and_verifies(served, tmp_path, data_dir):
    m = mf.load()
    seen = []
    rep = fetch.fetch(tmp_path, only=SOURCES, url_template=served, timeout=10,
                      progress=lambda f, msg: seen.append(f))
    n = sum(len(m.get(s).files) for s in SOURCES)
    assert (rep.downloaded, rep.skipped) == (n, 0)
    assert rep.bytes == sum(m.get(s).total_bytes for s in SOURCES)
    for s in SOURCES:
        for f in m.get(s).files:
            assert mf.sha256_file(tmp_path / s / f.path) == f.sha256
        assert read_source_txt(tmp_path / s) == read_source_txt(data_dir / s)
    assert seen and seen[-1] == pytest.approx(1.0) and seen == sorted(seen)
    assert not list(tmp_path.rglob("*.part"))

    again = fetch.fetch(tmp_path, only=SOURCES, url_template=served)
    assert (again.downloaded, again.skipped, again.bytes) == (0, n, 0)


def test_fetched_folder_has_the_same_manifest(served, tmp_path):
    fetch.fetch(tmp_path, only=["revisiting"], url_template=served)
    header, files = mf.parse_source_txt(tmp_path / "revisiting")
    src = mf.load().get("revisiting")
    assert (header["repo"], header["download_repo"], header["commit"]) == (src.repo, "IBM/ColPret", src.commit)
    assert [f["path"] for f in files] == [f.path for f in src.files]


def test_partial_file_is_resumed_with_a_range_request(data_dir, tmp_path):
    _RangeHandler.requests = []
    server, template = _serve(data_dir, _RangeHandler)
    try:
        src = mf.load().get("steplaw")
        f = max(src.files, key=lambda x: x.bytes)
        target = tmp_path / "steplaw" / f.path
        target.parent.mkdir(parents=True)
        half = f.bytes // 2
        Path(str(target) + ".part").write_bytes((data_dir / "steplaw" / f.path).read_bytes()[:half])
        got = fetch.fetch_file(src, f, tmp_path, url_template=template)
    finally:
        server.shutdown()
        server.server_close()
    assert got == f.bytes - half
    assert (f"/steplaw/{f.path}", f"bytes={half}-") in _RangeHandler.requests
    assert mf.sha256_file(target) == f.sha256


def test_stale_partial_file_without_range_support_is_restarted(served, tmp_path):
    src = mf.load().get("chinchilla-epoch")
    f = src.files[0]
    target = tmp_path / src.source / f.path
    target.parent.mkdir(parents=True)
    Path(str(target) + ".part").write_bytes(b"garbage")
    assert fetch.fetch_file(src, f, tmp_path, url_template=served) == f.bytes
    assert mf.sha256_file(target) == f.sha256


def test_corrupted_served_file_is_rejected(data_dir, tmp_path):
    served_dir = tmp_path / "served"
    shutil.copytree(data_dir / "chinchilla-epoch", served_dir / "chinchilla-epoch")
    bad = served_dir / "chinchilla-epoch" / "data" / "svg_extracted_data.csv"
    raw = bytearray(bad.read_bytes())
    raw[-2] ^= 0x01
    bad.write_bytes(bytes(raw))
    server, template = _serve(served_dir)
    try:
        with pytest.raises(fetch.FetchError) as err:
            fetch.fetch(tmp_path / "cache", only=["chinchilla-epoch"], url_template=template)
    finally:
        server.shutdown()
        server.server_close()
    msg = str(err.value)
    expected = mf.load().get("chinchilla-epoch").files[0].sha256
    assert "chinchilla-epoch/data/svg_extracted_data.csv" in msg
    assert expected in msg and mf.sha256_file(bad) in msg
    assert not list((tmp_path / "cache").rglob("svg_extracted_data.csv*")), "unverified bytes were kept"


def test_unreachable_server_is_a_clear_error(tmp_path):
    server, template = _serve(tmp_path)
    server.shutdown()
    server.server_close()
    with pytest.raises(fetch.FetchError, match="chinchilla-epoch/data/svg_extracted_data.csv: download from"):
        fetch.fetch(tmp_path / "cache", only=["chinchilla-epoch"], url_template=template, timeout=2)


def test_default_urls_are_pinned_raw_github_urls():
    m = mf.load()
    for s in m.sources:
        for f in s.files:
            assert f.url.startswith(f"https://raw.githubusercontent.com/{s.download_repo}/{s.commit}/")
    assert m.get("revisiting").download_repo == "IBM/ColPret"
    assert m.get("revisiting").repo == "google-research/google-research"
    spaced = [f for f in m.get("colpret").files if " " in f.path][0]
    assert "%20" in spaced.url and " " not in spaced.url


def test_manifest_matches_the_data(data_dir):
    assert mf.dumps(mf.generate(data_dir)) == mf.MANIFEST_PATH.read_text(encoding="utf-8")


def test_ensure_store_downloads_when_no_data_dir_exists(served, tmp_path, monkeypatch):
    from datasets import build as builder
    from datasets import store as st
    from datasets.store import locate as store_locate

    assert importlib.util.find_spec("datasets.sources.chinchilla_epoch")
    real_fetch, real_build = fetch.fetch, builder.build
    monkeypatch.setattr(store_locate, "_data_dir", lambda: None)
    monkeypatch.setattr(fetch, "default_cache_dir", lambda: tmp_path / "cache")
    monkeypatch.setattr(fetch, "fetch", functools.partial(real_fetch, only=["chinchilla-epoch"], url_template=served))
    monkeypatch.setattr(builder, "build", functools.partial(real_build, only=["chinchilla-epoch"]))
    monkeypatch.setenv("SCALING_STORE", str(tmp_path / "auto.duckdb"))
    seen = []
    path = st.ensure_store(progress=lambda f, m: seen.append((f, m)))
    assert path == tmp_path / "auto.duckdb"
    assert st.Store(path).sources()["source"].tolist() == ["chinchilla-epoch"]
    assert (tmp_path / "cache" / "chinchilla-epoch" / "data" / "svg_extracted_data.csv").is_file()
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert any(m.startswith("downloading") for _, m in seen)
