"""Session fixtures shared by every test module.

``data_dir``   the published source data: ``$SCALING_DATA_DIR``, else ``../shared/data`` beside the project.
``store_path`` a store built once per test session from ``data_dir`` into a temporary directory
               (every source whose ingester exists), as a DuckDB file or as a Parquet directory:
               * in the modules of :data:`BOTH_FORMATS` (the store-level tests: every query, the build, the
                 CLI, the app-CLI parity) every test runs twice, ``[duckdb]`` and ``[parquet]``;
               * elsewhere in the format of ``$SCALING_STORE_FORMAT`` (``duckdb`` by default), so
                 ``SCALING_STORE_FORMAT=parquet python -m pytest -m store`` runs every test that reads the
                 store (marker ``store``, added to each test using ``store_path``) on the Parquet store;
                 with the variable set, the :data:`BOTH_FORMATS` modules run in that format only.
``duckdb_store_path`` / ``parquet_store_path`` the two builds behind it (each built once, when first needed).
``small_store_path`` a small real store file (``SMALL_SOURCES``, ~1 s to build), once per session; tests that
               damage or rewrite a store copy it first. Keep these names stable: other test modules use them.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _data_dir() -> Path:
    env = os.environ.get("SCALING_DATA_DIR")
    return Path(env) if env else PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = _data_dir()
    if not path.is_dir():
        if os.environ.get("SCALING_REQUIRE_DATA"):
            pytest.fail(f"source data not found at {path}: CI requires them (set SCALING_DATA_DIR)")
        pytest.skip(f"source data not found at {path} (set SCALING_DATA_DIR)")
    return path


STORE_FORMATS = ("duckdb", "parquet")
BOTH_FORMATS = {"test_store", "test_store_from_tables", "test_build", "test_cli", "test_parity", "test_parquet_store"}


def store_format() -> str | None:
    """``$SCALING_STORE_FORMAT`` (``duckdb`` or ``parquet``), or None when unset."""
    fmt = os.environ.get("SCALING_STORE_FORMAT") or None
    if fmt is not None and fmt not in STORE_FORMATS:
        raise pytest.UsageError(f"SCALING_STORE_FORMAT={fmt!r}: use one of {', '.join(STORE_FORMATS)}")
    return fmt


def pytest_configure(config):
    config.addinivalue_line("markers", "store: the test reads the corpus store (fixture store_path)")
    store_format()


def pytest_generate_tests(metafunc):
    """Both store formats for the store-level modules (one format when $SCALING_STORE_FORMAT is set)."""
    if "store_path" in metafunc.fixturenames and metafunc.module.__name__.rsplit(".", 1)[-1] in BOTH_FORMATS:
        formats = [store_format()] if store_format() else list(STORE_FORMATS)
        metafunc.parametrize("store_path", formats, indirect=True, scope="session")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "store_path" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.store)


@pytest.fixture(scope="session")
def duckdb_store_path(data_dir, tmp_path_factory) -> Path:
    from datasets.build import build

    out = tmp_path_factory.mktemp("store") / "store.duckdb"
    build(data_dir, out)
    return out


@pytest.fixture(scope="session")
def parquet_store_path(data_dir, tmp_path_factory) -> Path:
    from datasets.build import build

    out = tmp_path_factory.mktemp("store") / "parquet"
    build(data_dir, out, format="parquet")
    return out


@pytest.fixture(scope="session")
def store_path(request) -> Path:
    """The corpus store: a DuckDB file or a Parquet directory (see the module docstring)."""
    fmt = getattr(request, "param", None) or store_format() or "duckdb"
    return request.getfixturevalue(f"{fmt}_store_path")


@pytest.fixture(scope="session", autouse=True)
def upload_vault_dir(tmp_path_factory) -> Path:
    """Uploads the app keeps on the server (datasets.upload_vault) go to a temporary folder during tests,
    never the user's cache; servers started by browser tests inherit it."""
    path = Path(os.environ.get("SCALING_UPLOAD_DIR") or tmp_path_factory.mktemp("upload-vault"))
    os.environ["SCALING_UPLOAD_DIR"] = str(path)
    return path


SMALL_SOURCES = ["chinchilla-epoch", "laion-clip-mammut"]


@pytest.fixture(scope="session")
def small_store_path(data_dir, tmp_path_factory) -> Path:
    from datasets.build import build

    out = tmp_path_factory.mktemp("small") / "small.duckdb"
    build(data_dir, out, only=SMALL_SOURCES)
    return out


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line saying how many tests were skipped for want of source data (CI fails instead: SCALING_REQUIRE_DATA)."""
    skipped = terminalreporter.stats.get("skipped", [])
    no_data = [r for r in skipped if "source data not found" in str(getattr(r, "longrepr", ""))]
    if no_data:
        terminalreporter.write_line(
            f"{len(no_data)} of {terminalreporter._numcollected} tests skipped: source data not found at "
            f"{_data_dir()} (set SCALING_DATA_DIR to the folder of published sources, or run .ci/run)", yellow=True)


# ----------------------------------------------------------------------------------------------
# Real-browser fixtures, shared by every browser test module: ONE Playwright (its sync API cannot be
# started twice in a process while the first is alive) and one app server for the corpus store.
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def app_url(store_path, tmp_path_factory):
    from tests.test_browser import MISSING, start_app, stop_app

    if MISSING is not None:
        pytest.fail(f"real-browser tests required (SCALING_REQUIRE_DATA=1) but {MISSING}")
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    proc, url, _ = start_app(store_path, log)
    yield url
    stop_app(proc)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    from tests.test_browser import CHROMIUM, CHROMIUM_ARGS

    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000)
    yield b
    b.close()
    pw.stop()


@pytest.fixture
def page(browser):
    """A page in a fresh context (a new Streamlit session) that records dialogs and page errors."""
    from tests.test_browser import PAGE_TIMEOUT

    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = ctx.new_page()
    pg.set_default_timeout(PAGE_TIMEOUT)
    pg.dialogs = []
    pg.on("dialog", lambda d: (pg.dialogs.append(f"{d.type}: {d.message}"), d.dismiss()))
    yield pg
    ctx.close()
    assert pg.dialogs == [], f"a dialog fired: injected markup ran ({pg.dialogs})"
