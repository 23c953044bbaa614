"""The README's shell recipes run as written, in order, on a fresh copy of the project.

The ```sh blocks of "Set up and run" and "Command line" are parsed and every command is run with bash in a
copy of the project without a store or example files (a fresh clone), with ``$SCALING_DATA_DIR`` pointing at
the published data and no ``$SCALING_STORE``. Only the environment set-up (a venv, ``pip install``: they
need the network, and the suite already runs in that environment) and the long-running server
(``streamlit run``: the browser tests start it) are not run; the test checks that these are the only
commands left out, so a new README command cannot be skipped silently.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("Set up and run", "Command line")
NOT_RUN = {  # command prefix -> why the test does not run it
    "python3 -m venv": "creates the environment the suite already runs in",
    "pip install": "needs the network; the suite runs with the requirements installed",
    "streamlit run": "a server that runs until stopped (tests/test_browser*.py start it)",
}
TIMEOUT = 900


def readme_commands(text: str | None = None) -> list[tuple[str, str]]:
    """(section, command) of every line of the ```sh blocks of :data:`SECTIONS`, in order (comments and
    blank lines dropped)."""
    text = text if text is not None else (ROOT / "README.md").read_text(encoding="utf-8")
    out = []
    for section in re.split(r"^## ", text, flags=re.M)[1:]:
        title = section.splitlines()[0].strip()
        if title not in SECTIONS:
            continue
        for block in re.findall(r"^```sh\n(.*?)^```", section, flags=re.M | re.S):
            for line in block.splitlines():
                line = line.split("  #")[0].strip()
                if line and not line.startswith("#"):
                    out.append((title, line))
    return out


def test_the_readme_names_python_and_a_venv():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = [c for s, c in readme_commands(text) if s == "Set up and run"]
    assert re.search(r"Python 3\.1\d", text)
    assert any("venv" in c for c in setup) and any(c.startswith("pip install") for c in setup)
    assert any("datasets.build" in c for c in setup), "where the data go is part of the set-up"


def _fresh_copy(dest: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", ".git", ".venv", "*.duckdb", "*.duckdb.wal", ".pytest_cache",
                                    ".hypothesis", ".benchmarks", "runs.csv", "recipes.csv", "isoflops.csv", "targets.csv",
                                    "fit.json", "report.html", "screenshots")
    shutil.copytree(ROOT, dest, ignore=ignore)
    return dest


def _run(cmd: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT)


def test_every_readme_command_runs_as_written_on_a_fresh_copy(data_dir, tmp_path):
    project = _fresh_copy(tmp_path / "clone")
    assert not (project / "store.duckdb").exists() and not (project / "runs.csv").exists()
    env = {k: v for k, v in os.environ.items() if k not in ("SCALING_STORE", "PYTHONPATH")}
    env.update(SCALING_DATA_DIR=str(data_dir), SCALING_TIME_BUDGET="60")
    commands = readme_commands()
    assert len(commands) >= 15
    skipped = []
    for section, cmd in commands:
        reason = next((why for prefix, why in NOT_RUN.items() if cmd.startswith(prefix)), None)
        if reason:
            skipped.append(cmd)
            continue
        r = _run(cmd, project, env)
        assert r.returncode == 0, f"[{section}] {cmd}\nexit {r.returncode}\n{r.stderr[-3000:]}\n{r.stdout[-2000:]}"
        assert "Traceback" not in r.stderr, f"{cmd}\n{r.stderr[-3000:]}"
        if "--json" in cmd.split():                  # one JSON object, on stdout or in the file it is sent to
            target = re.search(r">\s*(\S+)\s*$", cmd)
            json.loads((project / target.group(1)).read_text() if target else r.stdout)
    # only the set-up and the server were left out, each once
    assert sorted(p for p in NOT_RUN if any(c.startswith(p) for c in skipped)) == sorted(NOT_RUN), skipped
    assert len(skipped) == len(NOT_RUN), skipped
    for made in ("store.duckdb", "runs.csv", "recipes.csv", "isoflops.csv", "targets.csv", "fit.json", "report.html"):
        assert (project / made).exists(), made
    # the store default resolves from any working directory: $SCALING_STORE unset, run from elsewhere
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = _run("python -m analysis families --json", elsewhere, {**env, "PYTHONPATH": str(project)})
    assert r.returncode == 0, r.stderr
    assert "chinchilla-epoch/chinchilla" in r.stdout


def test_scan_says_how_far_it_got_and_prints_a_readable_table(store_path):
    env = {**os.environ, "SCALING_STORE": str(store_path), "SCALING_BOOTSTRAP": "20"}
    r = subprocess.run(["python", "-m", "analysis", "scan", "--family", "obsscaling/Pythia", "--bootstrap", "20"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    assert "scan: 1/1 families" in r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) >= 3 and "finding(s)" in lines[-1]
    assert max(len(line) for line in lines) <= 160, "the table fits a terminal"
    assert lines[0].split()[:3] == ["family", "metric", "shape"]
