"""The CLI's data flags (issue 12): ``--data PATH`` in any format (``--csv`` alias), ``--column ROLE=NAME``,
``--metric``, ``--run-info``, ``--tokens-per-step``, ``--strict``, on every command that reads runs; and
nothing dropped without a word (rejected rows in the JSON ``warnings`` and on stderr).

Data are written by the real writers (TensorBoard's EventFileWriter) or in W&B's documented export layout,
drawn from known laws, so the fitted parameters are checked against the truth."""
from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
READERS = ("fit", "allocate", "backtest", "report", "crossover", "trend", "downstream")
DATA_FLAGS = ("--data", "--csv", "--column", "--run-info", "--tokens-per-step", "--strict", "--metric")

# Chinchilla-like truth (Hoffmann et al.'s published fit, E shifted): L = E + A/N^alpha + B/D^beta
TRUE = {"E": 1.8, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def law(N, D):
    return TRUE["E"] + TRUE["A"] / N ** TRUE["alpha"] + TRUE["B"] / D ** TRUE["beta"]


def run(*argv) -> tuple[int, str, str]:
    """``python -m analysis ARGV`` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as e:                      # usage errors: argparse exits (code 2)
            rc = e.code
    return rc, out.getvalue(), err.getvalue()


def run_json(*argv) -> dict:
    rc, out, err = run(*argv, "--json")
    assert rc == 0, err
    return json.loads(out)


# ----------------------------------------------------------------------------------------------- data
SIZES = (20e6, 50e6, 100e6, 200e6, 400e6, 800e6)


@pytest.fixture(scope="module")
def wandb_export(tmp_path_factory) -> Path:
    """A W&B history export as the UI writes it: Name, _step, _runtime, _timestamp, slash-named metrics,
    eval/loss logged every other step (empty cells elsewhere), sizes as run constants."""
    rows = ["Name,_step,_runtime,_timestamp,train/loss,eval/loss,params,tokens"]
    rng = np.random.default_rng(0)
    for n in SIZES:
        for s in range(1, 11):
            D = s * 2e8 * (n / 20e6) ** 0.5
            L = law(n, D)
            ev = f"{L * 1.01:.6f}" if s % 2 == 0 else ""
            rows.append(f"gpt-{int(n / 1e6)}m,{s * 1000},{s * 60.0},{1717171717 + s * 60},"
                        f"{L * np.exp(rng.normal(0, 0.003)):.6f},{ev},{int(n)},{int(D)}")
    path = tmp_path_factory.mktemp("wandb") / "wandb_export.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def write_events(folder: Path, scalars: dict[int, dict[str, float]]) -> None:
    """One run's event file, written by TensorBoard's own writer (simple_value scalars, as PyTorch logs)."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    w = EventFileWriter(str(folder))
    for step, values in scalars.items():
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=t, simple_value=x)
                                             for t, x in values.items()])
        w.add_event(event_pb2.Event(step=step, wall_time=time.time(), summary=summary))
    w.close()


STEP_TRUE = {"E": 2.0, "A": 5.0, "alpha": 0.3}
TPS = 524288.0            # tokens per step


@pytest.fixture(scope="module")
def logdir(tmp_path_factory) -> Path:
    """A TensorBoard log directory of 3 runs that logged no size at all: train/loss and lr over steps."""
    root = tmp_path_factory.mktemp("tb") / "logs"
    for name in ("run-a", "run-b", "run-c"):
        write_events(root / name, {s: {"train/loss": STEP_TRUE["E"] + STEP_TRUE["A"] * s ** -STEP_TRUE["alpha"],
                                       "lr": 3e-4} for s in range(100, 5100, 100)})
    return root


@pytest.fixture(scope="module")
def sized_logdir(tmp_path_factory) -> tuple[Path, Path]:
    """TensorBoard runs of 5 sizes drawn from the Chinchilla-like law at D = step x TPS, and the run_info
    file that gives their N (not logged)."""
    base = tmp_path_factory.mktemp("tbsized")
    root = base / "logs"
    info = ["run,params"]
    for n in (30e6, 60e6, 120e6, 250e6, 500e6):
        name = f"m{int(n / 1e6)}"
        write_events(root / name, {s: {"eval/loss": law(n, s * TPS)} for s in range(200, 6200, 200)})
        info.append(f"{name},{n / 1e6:g}M")
    (base / "run_info.csv").write_text("\n".join(info) + "\n", encoding="utf-8")
    return root, base / "run_info.csv"


@pytest.fixture(scope="module")
def bad_csv(tmp_path_factory) -> Path:
    """Two families x 8 sizes x 3 checkpoints of loss and accuracy from known laws, plus three bad rows:
    a negative parameter count, a nan/inf row and a text cell in a number column."""
    rows = []
    for fam, shift in (("wide", 0.0), ("deep", 0.05)):
        for i, n in enumerate(np.geomspace(20e6, 2e9, 8)):
            for k, tpp in enumerate((5, 10, 20)):
                D = tpp * n
                L = law(n, D) + shift * (1 - i / 7) - shift * 0.5
                rows.append({"run": f"{fam}-{i}", "family": fam, "params": f"{n:.6g}", "tokens": f"{D:.6g}",
                             "loss": f"{L:.6f}", "acc": f"{1 / (1 + np.exp(3 * (L - 3))):.6f}"})
    df = pd.DataFrame(rows)
    bad = pd.DataFrame([
        {"run": "neg", "family": "wide", "params": "-125000000", "tokens": "2.5e9", "loss": "3.0", "acc": "0.5"},
        {"run": "nanrow", "family": "wide", "params": "nan", "tokens": "inf", "loss": "nan", "acc": "inf"},
        {"run": "text", "family": "deep", "params": "1.3e8", "tokens": "2.6e9", "loss": "three", "acc": "0.5"},
    ])
    df = pd.concat([df.iloc[:5], bad.iloc[:1], df.iloc[5:20], bad.iloc[1:2], df.iloc[20:], bad.iloc[2:]],
                   ignore_index=True)
    path = tmp_path_factory.mktemp("bad") / "runs.csv"
    df.to_csv(path, index=False)
    return path


def rows_of_bad(path: Path) -> dict[str, int]:
    """Data row (1 = first row below the header) of each bad run."""
    runs = pd.read_csv(path, dtype=str)["run"].tolist()
    return {r: runs.index(r) + 1 for r in ("neg", "nanrow", "text")}


# ----------------------------------------------------------------------------------------------- contracts
def test_wandb_export_contract_as_written(wandb_export):
    """`fit --data wandb_export.csv --metric eval/loss --law chinchilla --json`, exactly as written."""
    p = subprocess.run([sys.executable, "-m", "analysis", "fit", "--data", "wandb_export.csv", "--metric", "eval/loss",
                        "--law", "chinchilla", "--json"], cwd=wandb_export.parent, capture_output=True, text=True,
                       timeout=900, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["law"] == "chinchilla" and out["data"]["metric"] == "eval/loss" and out["data"]["format"] == "wandb"
    assert out["n_runs"] == 6 and out["data"]["read"]["n_rejected"] == 0   # empty eval cells are "not logged"
    assert not any("rejected" in w for w in out["warnings"])
    # eval/loss = 1.01 x the law: E and the prefactors scale by 1.01, the exponents stay
    assert out["params"]["alpha"] == pytest.approx(TRUE["alpha"], abs=0.01)
    assert out["params"]["beta"] == pytest.approx(TRUE["beta"], abs=0.01)
    assert out["params"]["E"] == pytest.approx(1.01 * TRUE["E"], rel=0.01)
    lo, hi = out["ci"]["alpha"]
    assert lo <= out["params"]["alpha"] <= hi


def test_tensorboard_logdir_without_sizes_contract_as_written(logdir):
    """`fit --data LOGDIR --metric train/loss --law power_step --json`: a run with no logged size reads
    (sizes NULL, said in the report) and fits over steps."""
    p = subprocess.run([sys.executable, "-m", "analysis", "fit", "--data", logdir.name, "--metric", "train/loss",
                        "--law", "power_step", "--json"], cwd=logdir.parent, capture_output=True, text=True,
                       timeout=900, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["data"]["format"] == "tensorboard" and out["n_runs"] == 3
    for k, v in STEP_TRUE.items():
        assert out["params"][k] == pytest.approx(v, rel=0.01), k
    defaults = out["data"]["read"]["defaults"]
    assert "N (parameters): unknown for 3 runs ('run-a', 'run-b', 'run-c')" in defaults
    assert any(d.startswith("D (tokens): unknown") for d in defaults)
    assert any(w.startswith("No size (N or D) for 3 runs") for w in out["warnings"])
    # the learning-rate series is not a metric to analyse: without --metric the loss is the only candidate
    assert run_json("fit", "--data", logdir, "--law", "power_step", "--bootstrap", 0)["data"]["metric"] == "train/loss"


def test_csv_alias_zip_and_folder_read_the_same(wandb_export, logdir, tmp_path):
    a = run_json("fit", "--data", wandb_export, "--metric", "eval/loss", "--law", "chinchilla", "--bootstrap", 0)
    b = run_json("fit", "--csv", wandb_export, "--metric", "eval/loss", "--law", "chinchilla", "--bootstrap", 0)
    assert a["params"] == b["params"]
    archive = tmp_path / "logs.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in logdir.rglob("*"):
            if f.is_file():
                zf.write(f, f"logs/{f.relative_to(logdir).as_posix()}")
    folder = run_json("fit", "--data", logdir, "--metric", "train/loss", "--law", "power_step", "--bootstrap", 0)
    zipped = run_json("fit", "--data", archive, "--metric", "train/loss", "--law", "power_step", "--bootstrap", 0)
    assert zipped["data"]["format"] == "tensorboard"
    assert zipped["params"] == pytest.approx(folder["params"], rel=1e-9)
    assert zipped["n_points"] == folder["n_points"]


def test_run_info_and_tokens_per_step_give_the_sizes(sized_logdir):
    root, info = sized_logdir
    out = run_json("fit", "--data", root, "--run-info", info, "--tokens-per-step", int(TPS), "--metric", "eval/loss",
                   "--law", "chinchilla", "--bootstrap", 0, "--min-fraction", 0)
    for k in ("alpha", "beta"):
        assert out["params"][k] == pytest.approx(TRUE[k], abs=0.01), k
    assert out["params"]["E"] == pytest.approx(TRUE["E"], rel=0.01)
    defaults = out["data"]["read"]["defaults"]
    assert "N (parameters): given: run_info for 5 runs" in defaults
    assert f"D (tokens): derived: step x {int(TPS):,} (tokens_per_step) for 5 runs" in defaults
    from analysis.report.commands import cli_command                 # a page's reproduce line keeps them

    line = cli_command("fit", out["data"])
    assert f"--run-info {info}" in line and f"--tokens-per-step {int(TPS)}" in line
    # without them there are no sizes: a law over N and D cannot be fitted, and the error says why
    rc, _, err = run("fit", "--data", root, "--metric", "eval/loss", "--law", "chinchilla", "--bootstrap", 0)
    assert rc == 1 and err.startswith("error: only 0 usable points") and len(err.strip().splitlines()) == 1, err
    out = run_json("fit", "--data", root, "--metric", "eval/loss", "--law", "power_step", "--bootstrap", 0)
    assert any(w.startswith("No size (N or D) for 5 runs") and "run_info" in w for w in out["warnings"])


def test_column_roles_keep_several_metrics_and_metric_picks(tmp_path):
    rows = ["size_params,seen_tokens,ce_train,ce_heldout,note"]
    for n in SIZES:
        for tpp in (5, 10, 20):
            D = tpp * n
            rows.append(f"{n:.6g},{D:.6g},{law(n, D) - 0.02:.6f},{law(n, D):.6f},x")
    path = tmp_path / "odd_names.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    rc, _, err = run("fit", "--data", path, "--law", "chinchilla", "--bootstrap", 0)
    assert rc == 1 and "No value column" in err and "--column value=NAME" in err    # names not recognised ...
    flags = ["--column", "N=size_params", "--column", "D=seen_tokens", "--column", "value=ce_train",
             "--column", "value=ce_heldout"]
    rc, _, err = run("fit", "--data", path, *flags, "--law", "chinchilla", "--bootstrap", 0)
    assert rc == 1 and "several metrics; choose one with --metric (ce_heldout, ce_train)" in err   # ... both kept
    out = run_json("fit", "--data", path, *flags, "--metric", "ce_heldout", "--law", "chinchilla", "--bootstrap", 0,
                   "--min-fraction", 0)
    assert out["params"]["alpha"] == pytest.approx(TRUE["alpha"], abs=0.01)
    assert out["n_points"] == 18 and out["data"]["metric"] == "ce_heldout"


@pytest.mark.parametrize("command", READERS)
def test_rejected_rows_are_reported_by_every_command(command, bad_csv, tmp_path):
    """One negative parameter count, one nan/inf row, one text cell in a number column: exit 0 with the
    rows named in the JSON warnings (and on stderr in text mode); --strict makes them an error."""
    args = {"fit": ["--law", "chinchilla", "--metric", "loss", "--bootstrap", 0],
            "allocate": ["--compute", "1e21", "--metric", "loss", "--bootstrap", 0],
            "backtest": ["--law", "chinchilla", "--metric", "loss"],
            "report": ["--metric", "loss", "--bootstrap", 0, "--format", "json", "--out", tmp_path / "r.json"],
            "crossover": ["--group", "family", "--x", "params", "--metric", "loss", "--bootstrap", 0],
            "trend": ["--metric", "loss", "--x", "params", "--final-only", "--bootstrap", 0],
            "downstream": ["--column", "value=loss", "--column", "value=acc", "--metric", "acc", "--loss-metric",
                           "loss", "--bootstrap", 0, "--heldout", "none"],
            }[command]
    rows = rows_of_bad(bad_csv)
    expect = [f"row {rows['neg']}, column 'params': must be > 0: '-125000000'",
              f"row {rows['nanrow']}, column 'params': not finite",
              f"row {rows['text']}, column 'loss': not a number: 'three'"]

    rc, out, err = run(command, "--data", bad_csv, *args)              # text mode: stderr says it
    assert rc == 0, err
    warning = [ln for ln in err.splitlines() if ln.startswith("warning:") and "rejected in runs.csv" in ln]
    assert len(warning) == 1, err
    assert warning[0].startswith("warning: 3 values rejected in runs.csv (")
    for e in expect:
        assert e in warning[0]

    if command == "report":                                          # the report's JSON carries the rows
        rep = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
        read = rep["data"]["source_details"]["read"]
        assert read["n_rejected"] == 3 and [r[0] for r in read["rejected"]] == sorted(rows.values())
    else:
        data = run_json(command, "--data", bad_csv, *args)
        summary = [w for w in data["warnings"] if "rejected in runs.csv" in w]
        assert len(summary) == 1 and summary[0].startswith("3 values rejected"), data["warnings"]
        for e in expect:
            assert e in summary[0]

    rc, out, err = run(command, "--data", bad_csv, *args, "--strict")
    assert rc == 1 and out == ""
    assert err.startswith("error: Strict reading: 3 values rejected in runs.csv") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_every_command_that_reads_runs_takes_the_data_flags():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name in READERS:
        flags = {o for a in sub.choices[name]._actions for o in a.option_strings}
        assert set(DATA_FLAGS) <= flags, (name, set(DATA_FLAGS) - flags)


@pytest.mark.parametrize("argv, exit_code, needle", [
    (["fit", "--data", "/nonexistent/runs"], 1, "no such file or folder: /nonexistent/runs"),
    (["fit", "--data", "{csv}", "--column", "params"], 1, "--column 'params' is not ROLE=NAME"),
    (["fit", "--data", "{csv}", "--column", "size=params"], 1, "unknown role 'size'"),
    (["fit", "--data", "{csv}", "--column", "N=nope"], 1, "'nope', which is not a column"),
    (["fit", "--data", "{csv}", "--run-info", "/nonexistent/info.csv"], 1, "Cannot read the run_info file"),
    (["fit", "--data", "{csv}", "--tokens-per-step", "-4"], 2, "a positive finite number expected"),
    (["crossover", "--data", "{csv}", "--group", "family", "--column", "family=run"], 1, "disagree"),
])
def test_bad_data_flags_are_one_line_errors(argv, exit_code, needle, bad_csv):
    rc, out, err = run(*[a.format(csv=bad_csv) for a in argv])
    assert rc == exit_code and out == "", err
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
