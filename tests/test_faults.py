"""Faults of the store, as the app (streamlit.testing AppTest) and the CLI meet them, and proof that no data are lost.

For a store that is missing (no data to build it), corrupt (junk bytes, a truncated copy, flipped bytes),
from an older schema version, or locked by a writer, the app starts, says what is wrong naming the file,
and gives the command that rebuilds it (``python -m datasets.build ... --out <that file>``); the Upload
page keeps working; and the file on disk is byte-identical afterwards. The documented automatic path
(an old store is rebuilt when the data are at hand) replaces the file atomically. A build killed with
SIGKILL in the middle of writing leaves the previous store byte-identical and usable.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from datasets.schema import SCHEMA_VERSION
from datasets.store import Store, StoreError
from datasets.upload import example_csv
from tests.conftest import SMALL_SOURCES

ROOT = Path(__file__).resolve().parents[1]
SOURCES = SMALL_SOURCES
TIMEOUT = 120


@pytest.fixture(scope="module")
def small_store(small_store_path) -> Path:
    return small_store_path


@pytest.fixture
def app(monkeypatch, tmp_path):
    """Run pages against SCALING_STORE / SCALING_DATA_DIR set per test (an empty data dir unless told)."""
    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("SCALING_DATA_DIR", str(empty))
    monkeypatch.setenv("SCALING_BOOTSTRAP", "20")
    monkeypatch.setenv("SCALING_TIME_BUDGET", "5")
    if "analysis.settings" in sys.modules:     # the default is read once, at import
        monkeypatch.setattr(sys.modules["analysis.settings"], "BOOTSTRAP", 20)

    def run(store: Path, page: str = "home.py", upload: bool = False):
        from streamlit.testing.v1 import AppTest

        monkeypatch.setenv("SCALING_STORE", str(store))
        at = AppTest.from_file(str(ROOT / "home.py"), default_timeout=TIMEOUT)
        if page != "home.py":
            at.switch_page(page)
        at.run()
        assert not at.exception, "\n".join(str(e.value) for e in at.exception)
        if upload:
            at.file_uploader(key="upload_file_0").upload("runs.csv", example_csv().encode("utf-8"), "text/csv").run()
            assert not at.exception, "\n".join(str(e.value) for e in at.exception)
        return at
    return run


def plain(text: str) -> str:
    """Markdown shown by the app, without its backslash escapes."""
    return re.sub(r"\\(.)", r"\1", text)


def messages(at) -> str:
    return "\n".join(plain(e.value) for kind in ("error", "warning", "info") for e in getattr(at, kind))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_says_what_and_how(at, store: Path, *words: str) -> None:
    """The page names the file, says what is wrong, and gives the command that rebuilds that file."""
    text = messages(at)
    assert at.error, f"no error shown:\n{text}"
    assert str(store) in plain(at.error[0].value), text
    for w in words:
        assert w in text, f"{w!r} not in:\n{text}"
    assert f"python -m datasets.build --source {os.environ['SCALING_DATA_DIR']} --out {store}" in text, text
    assert "Upload" in text                                      # and what can be done meanwhile


def upload_works(at) -> None:
    runs = [m.value for m in at.metric if m.label == "Runs"]
    assert runs == ["5"], [(m.label, m.value) for m in at.metric]


def no_temporary_files(directory: Path) -> None:
    left = [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]
    assert not left, f"temporary files left behind: {left}"


# ---------------------------------------------------------------------------------------------- missing
def test_missing_store_without_data(app, tmp_path):
    store = tmp_path / "store.duckdb"
    at = app(store)
    assert_says_what_and_how(at, store, "not available", "holds none of the source folders")
    fit = app(store, "pages/2_Fit.py")
    assert fit.error and str(store) in plain(fit.error[0].value)
    assert not fit.get("vega_lite_chart") and not fit.get("plotly_chart")
    upload_works(app(store, "pages/4_Upload.py", upload=True))
    assert not store.exists(), "a failed build must not leave a store behind"
    no_temporary_files(tmp_path)


# ---------------------------------------------------------------------------------------------- corrupt
def _junk(path: Path, small_store: Path) -> None:
    path.write_bytes(b"this is not a database\n" * 4000)


def _truncated(path: Path, small_store: Path) -> None:
    data = small_store.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])


def _flipped(path: Path, small_store: Path) -> None:
    """64 bytes inverted inside the points table's data (found by trying offsets on a copy)."""
    data = small_store.read_bytes()
    for off in range(len(data) - 262144, 12288, -131072):
        bad = bytearray(data)
        bad[off:off + 64] = bytes(b ^ 0xFF for b in bad[off:off + 64])
        path.write_bytes(bytes(bad))
        try:
            Store(path)
        except StoreError as e:
            if e.kind == "corrupt":
                return
    pytest.fail("no offset in the data blocks made the copy unreadable")


@pytest.mark.parametrize("damage, words", [(_junk, ["not a readable DuckDB database"]),
                                           (_truncated, ["damaged", "truncated"]),
                                           (_flipped, ["damaged"])])
def test_corrupt_store_is_reported_and_left_alone(app, tmp_path, small_store, damage, words):
    store = tmp_path / "store.duckdb"
    damage(store, small_store)
    before = digest(store)
    with pytest.raises(StoreError) as e:
        Store(store)
    assert e.value.kind == "corrupt"
    for page in ("home.py", "pages/1_Browse.py", "pages/2_Fit.py"):
        at = app(store, page)
        assert_says_what_and_how(at, store, "not available", "delete it and rebuild", *words)
    upload_works(app(store, "pages/4_Upload.py", upload=True))
    assert digest(store) == before, "the app must not touch a damaged store (it may be someone's data)"
    no_temporary_files(tmp_path)


# ---------------------------------------------------------------------------------------------- old schema
def _old_copy(small_store: Path, path: Path, version: str = "0") -> None:
    shutil.copy(small_store, path)
    con = duckdb.connect(str(path))
    con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", [version])
    con.execute("CHECKPOINT")
    con.close()


def test_old_schema_without_data_is_reported_and_kept(app, tmp_path, small_store):
    store = tmp_path / "store.duckdb"
    _old_copy(small_store, store)
    before = digest(store)
    with pytest.raises(StoreError) as e:
        Store(store)
    assert e.value.kind == "old_schema" and f"needs {SCHEMA_VERSION}" in e.value.message
    at = app(store)
    assert_says_what_and_how(at, store, f"schema version 0, this code needs {SCHEMA_VERSION}",
                             "building the store", "failed")
    upload_works(app(store, "pages/4_Upload.py", upload=True))
    assert digest(store) == before
    no_temporary_files(tmp_path)


def test_old_schema_with_data_is_rebuilt_atomically(app, tmp_path, small_store, monkeypatch):
    """The documented path: data at hand, so the app rebuilds the store (here a quick stand-in build that
    writes a temporary file and renames it, as the real one does) and shows the corpus."""
    from datasets import build as builder

    store = tmp_path / "store.duckdb"
    _old_copy(small_store, store)
    old_inode = store.stat().st_ino
    calls = []

    def quick_build(source_dir, out, progress=None, **kw):
        calls.append(Path(source_dir))
        tmp = Path(out).with_name(f".{Path(out).name}.{os.getpid()}.tmp")
        shutil.copy(small_store, tmp)
        os.replace(tmp, out)
    monkeypatch.setattr(builder, "build", quick_build)
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("SCALING_DATA_DIR", str(data))
    at = app(store)
    assert calls == [data]
    assert not at.error, messages(at)
    assert [m.value for m in at.metric if m.label == "Sources"] == [str(len(SOURCES))]
    assert Store(store).meta()["schema_version"] == str(SCHEMA_VERSION)
    assert digest(store) == digest(small_store) and store.stat().st_ino != old_inode   # replaced, not edited
    no_temporary_files(tmp_path)


# ---------------------------------------------------------------------------------------------- locked
def test_locked_store_is_reported_then_used_once_released(app, tmp_path, small_store):
    store = tmp_path / "store.duckdb"
    shutil.copy(small_store, store)
    before = digest(store)
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time\n"
                               f"con = duckdb.connect({str(store)!r})\nprint('ready', flush=True)\ntime.sleep(120)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        for page in ("home.py", "pages/2_Fit.py"):
            at = app(store, page)
            text = messages(at)
            assert at.error and str(store) in plain(at.error[0].value), text
            assert "locked by another process" in text and "wait for that process" in text, text
        upload_works(app(store, "pages/4_Upload.py", upload=True))
    finally:
        holder.kill()
        holder.wait()
    assert digest(store) == before
    at = app(store)                       # no restart needed: the next run opens the released store
    assert not at.error, messages(at)
    assert [m.value for m in at.metric if m.label == "Sources"] == [str(len(SOURCES))]
    assert digest(store) == before


# ---------------------------------------------------------------------------------------------- the CLI
@pytest.mark.parametrize("fault", ["missing", "junk", "truncated", "old", "directory"])
def test_cli_names_the_file_and_the_fix_in_one_line(tmp_path, small_store, fault):
    from tests.test_cli_fuzz import invoke

    store = tmp_path / "store.duckdb"
    if fault == "junk":
        _junk(store, small_store)
    elif fault == "truncated":
        _truncated(store, small_store)
    elif fault == "old":
        _old_copy(small_store, store)
    elif fault == "directory":
        store.mkdir()
    before = digest(store) if store.is_file() else None
    rc, out, err = invoke(["families", "--store", str(store), "--json"])
    assert rc == 1 and out == "" and len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: ") and str(store) in err, err
    if fault != "directory":
        assert f"--out {store}" in err, err
    assert (digest(store) if store.is_file() else None) == before


# ---------------------------------------------------------------------------------------------- killed build
def test_build_killed_mid_write_leaves_the_previous_store(tmp_path, small_store, data_dir):
    """SIGKILL (no handler can run) while the new file is being written: the old store is untouched."""
    store = tmp_path / "store.duckdb"
    shutil.copy(small_store, store)
    before = digest(store)
    # the real `python -m datasets.build`, slowed down while it writes so the kill lands mid-write
    code = ("import sys, time\nfrom datasets import build as b\nfrom datasets.store import write as w\n"
            "real = w._insert\ndef slow(*a, **k):\n    time.sleep(0.3)\n    return real(*a, **k)\n"
            "w._insert = slow\nsys.exit(b.main(sys.argv[1:]))\n")
    proc = subprocess.Popen([sys.executable, "-c", code, "--source", str(data_dir), "--out", str(store),
                             "--only", *SOURCES], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tmp = tmp_path / f".store.duckdb.{proc.pid}.tmp"
    deadline = time.monotonic() + 60
    while not (tmp.exists() and tmp.stat().st_size > 0):
        assert proc.poll() is None, "the build ended before it started writing"
        assert time.monotonic() < deadline, "the build never started writing"
        time.sleep(0.02)
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert digest(store) == before, "the previous store changed"
    s = Store(store)
    assert s.summary()["n_sources"] == len(SOURCES) and len(s.fit_frame("chinchilla-epoch/chinchilla", "loss")) > 200
    assert tmp.exists()                                   # a SIGKILLed process cannot clean up after itself ...
    # ... and the next build still succeeds, replacing the store atomically
    p = subprocess.run([sys.executable, "-m", "datasets.build", "--source", str(data_dir), "--out", str(store),
                        "--only", *SOURCES], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert Store(store).summary() == s.summary()
    assert not tmp.exists(), "the next build removes the dead build's temporary file"
    assert "left by an interrupted build" in p.stdout + p.stderr
