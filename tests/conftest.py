"""Session fixtures shared by every test module.

``data_dir``   the published source data: ``$SCALING_DATA_DIR``, else ``../shared/data`` beside the project.
``store_path`` a store built once per test session from ``data_dir`` into a temporary directory
               (every source whose ingester exists).
``small_store_path`` a small real store (``SMALL_SOURCES``, ~1 s to build), once per session; tests that
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


@pytest.fixture(scope="session")
def store_path(data_dir, tmp_path_factory) -> Path:
    from datasets.build import build

    out = tmp_path_factory.mktemp("store") / "store.duckdb"
    build(data_dir, out)
    return out


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
