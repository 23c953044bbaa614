"""Readers for the formats researchers export (datasets.formats): each built with its real writer (TensorBoard's
event writer, MLflow's client on a local folder) or from W&B's documented export layouts, read back, and
every kind of bad input answered with one UploadError message."""
from __future__ import annotations

import io
import json
import os
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datasets.formats import FORMATS, read_any, sniff
from datasets.formats import archive, limits
from datasets.upload import UploadError, read_upload

# ----------------------------------------------------------------------------- W&B

WANDB_HISTORY = """Name,_step,_runtime,_timestamp,train/loss,eval/loss,params,tokens
gpt-125m,100,61.2,1717171717,3.91,,125000000,2500000000
gpt-125m,200,122.0,1717171778,3.52,3.60,125000000,2500000000
gpt-125m,300,183.0,1717171839,3.31,,125000000,2500000000
gpt-350m,100,61.2,1717171717,3.71,,350000000,7000000000
gpt-350m,200,122.0,1717171778,3.22,3.30,350000000,7000000000
gpt-350m,300,183.0,1717171839,3.01,3.05,350000000,7000000000
"""


def _points(up, metric):
    p = up.points[up.points["metric"] == metric]
    return {(r.split("/")[-1], s): v for r, s, v in zip(p["run_id"], p["step"], p["value"])}


def test_wandb_history_is_read_without_mapping():
    up = read_any(WANDB_HISTORY.encode(), filename="wandb_export.csv")
    rep = up.report
    assert rep.format == "wandb" and sniff(WANDB_HISTORY.encode(), "wandb_export.csv") == "wandb"
    assert _points(up, "train/loss")[("gpt-125m", 300.0)] == pytest.approx(3.31)
    assert _points(up, "eval/loss") == {("gpt-125m", 200.0): 3.60, ("gpt-350m", 200.0): 3.30,
                                        ("gpt-350m", 300.0): 3.05}
    assert rep.n_rejected == 0 and rep.points_kept == 9          # 6 train + 3 eval; empty eval cells not rejected
    assert any("not logged" in d and "eval/loss 3 of 6" in d for d in rep.defaults)
    assert set(rep.ignored_columns) == {"_runtime", "_timestamp"}
    runs = up.runs.set_index("model")
    assert runs.loc["gpt-350m", "params"] == 350e6 and runs.loc["gpt-350m", "tokens"] == 7e9
    assert any(d.startswith("N (parameters): given: column 'params'") for d in rep.defaults)
    assert set(up.points.loc[up.points["metric"] == "eval/loss", "split"]) == {"validation"}
    assert set(up.points.loc[up.points["metric"] == "train/loss", "split"]) == {"train"}


def test_wandb_dot_names_run_column_variants_config_and_trainer_step():
    csv = ("run_name,_step,trainer/global_step,train/loss,val.loss,lr,batch_size,optimizer,config.n_params\n"
           "a,0,1000,3.0,,0.0003,256,adamw,1.5e8\n"
           "a,1,2000,2.8,2.9,0.0002,256,adamw,1.5e8\n"
           "b,0,1000,2.9,,0.0003,512,adamw,4e8\n"
           "b,1,2000,2.7,2.75,0.0002,512,adamw,4e8\n")
    up = read_any(csv.encode(), filename="history.csv")
    rep = up.report
    assert rep.mapping["run"] == "run_name" and rep.mapping["step"] == "trainer/global_step"
    assert "_step" in rep.ignored_columns
    assert _points(up, "val.loss") == {("a", 2000.0): 2.9, ("b", 2000.0): 2.75}
    lr = up.points[up.points["metric"] == "lr"]
    assert len(lr) == 4 and set(lr["unit"]) == {"lr"} and set(lr["split"]) == {"train"}
    runs = up.runs.set_index("model")
    assert runs.loc["b", "params"] == 4e8                              # config.n_params is N
    extra = json.loads(runs.loc["b", "extra"])
    assert extra["config"] == {"batch_size": 512, "optimizer": "adamw"}
    assert extra["sizes"]["N"] == "given: column 'config.n_params'"
    for name in ("Name", "run"):
        other = read_any(csv.replace("run_name", name).encode(), filename="h.csv")
        assert other.report.mapping["run"] == name and other.report.runs == 2


def test_wandb_runs_table_export_one_row_per_run():
    csv = ("Name,State,Notes,User,Tags,Created,Runtime,Sweep,params,tokens,eval/loss,_step\n"
           "gpt-125m,finished,,alice,,2024-05-31T10:00:00,3600,,125M,2.5B,3.05,5000\n"
           "gpt-350m,finished,-,alice,big,2024-05-31T11:00:00,7200,,350M,7B,2.81,5000\n")
    up = read_any(csv.encode(), filename="runs.csv")
    assert up.report.runs == 2 and up.report.n_rejected == 0
    assert {"State", "User", "Created", "Runtime"} <= set(up.report.ignored_columns)
    assert up.runs.set_index("model").loc["gpt-125m", "params"] == 125e6
    assert _points(up, "eval/loss")[("gpt-350m", 5000.0)] == pytest.approx(2.81)


def test_wandb_rejected_cell_names_the_file_row_and_column():
    bad = WANDB_HISTORY.replace("3.01,3.05", "3.01,abc").replace("3.22,3.30", "nan,3.30")
    up = read_any(bad.encode(), filename="wandb_export.csv")
    assert up.report.n_rejected == 2
    assert [(r, c) for r, c, _ in up.report.rejected] == [(5, "train/loss"), (6, "eval/loss")]
    assert "not a number: 'abc'" in up.report.rejected[1][2]
    assert up.report.rejection_counts == {"train/loss: not finite (leave the cell empty if the value is missing)": 1,
                                          "eval/loss: not a number": 1}


WANDB_CHART = ("Step,gpt-125m - eval/loss,gpt-125m - eval/loss__MIN,gpt-125m - eval/loss__MAX,"
               "gpt-350m - eval/loss,gpt-350m - eval/loss__MIN,gpt-350m - eval/loss__MAX\n"
               "1000,3.60,3.58,3.61,3.31,3.30,3.33\n"
               "2000,3.40,3.39,3.42,,,\n"
               "3000,3.30,3.29,3.31,3.01,3.00,3.02\n")


def test_wandb_chart_export_with_run_info_sizes():
    assert sniff(WANDB_CHART.encode(), "chart.csv") == "wandb-chart"
    info = pd.DataFrame({"run": ["gpt-125m", "gpt-350m"], "params": ["125M", "350M"],
                         "tokens_per_step": [524288, 524288]})
    up = read_any(WANDB_CHART.encode(), filename="chart.csv", run_info=info)
    assert up.report.format == "wandb-chart" and up.report.n_rejected == 0
    assert _points(up, "eval/loss") == {("gpt-125m", 1000.0): 3.60, ("gpt-125m", 2000.0): 3.40,
                                        ("gpt-125m", 3000.0): 3.30, ("gpt-350m", 1000.0): 3.31,
                                        ("gpt-350m", 3000.0): 3.01}
    assert len(up.report.ignored_columns) == 4                        # the __MIN / __MAX columns
    p = up.points.set_index(["run_id", "step"])
    assert p.loc[("upload/gpt-350m", 3000.0), "tokens"] == 3000 * 524288
    assert any(d.startswith("D (tokens): derived: step x 524,288 (run_info tokens_per_step)")
               for d in up.report.defaults)
    assert any(d.startswith("N (parameters): given: run_info") for d in up.report.defaults)


def test_chart_export_over_wall_time_is_refused():
    csv = "Wall Time,a - loss\n1717171717,3.0\n"
    with pytest.raises(UploadError, match="x axis is 'Wall Time'"):
        read_any(csv.encode(), filename="chart.csv")


def test_plain_csv_goes_through_todays_reader_unchanged():
    csv = b"run,N,D,loss\na,1e8,2e9,3.1\nb,4e8,8e9,2.8\n"
    assert sniff(csv, "runs.csv") == "csv"
    ours, today = read_any(csv, filename="runs.csv"), read_upload(csv, filename="runs.csv")
    pd.testing.assert_frame_equal(ours.points, today.points)
    assert ours.report == today.report


# ----------------------------------------------------------------------------- run_info and tokens_per_step

def test_run_info_file_sizes_and_problems(tmp_path):
    csv = "Name,_step,train/loss\na,10,3.0\na,20,2.9\nb,10,2.8\n"
    info = tmp_path / "run_info.csv"
    info.write_text("run,params,tokens\na,125M,2.5B\nb,350M,7B\nghost,1B,20B\n")
    up = read_any(csv.encode(), filename="h.csv", run_info=info)
    runs = up.runs.set_index("model")
    assert runs.loc["a", "params"] == 125e6 and runs.loc["b", "tokens"] == 7e9
    assert any("run_info names 1 run not in the data ('ghost')" in w for w in up.report.warnings)
    assert any("run total on every checkpoint" in d for d in up.report.defaults)
    derived = read_any(csv.encode(), filename="h.csv", tokens_per_step=1000)
    assert derived.points.set_index(["run_id", "step"]).loc[("upload/a", 20.0), "tokens"] == 20_000
    info.write_text("run,params\na,lots\n")
    with pytest.raises(UploadError, match=r"run_info row 1, column 'params': 'lots' is not a positive number"):
        read_any(csv.encode(), filename="h.csv", run_info=info)
    with pytest.raises(UploadError, match="tokens_per_step must be a positive number"):
        read_any(csv.encode(), filename="h.csv", tokens_per_step=-5)


def test_runs_without_any_size_say_how_to_give_them():
    csv = "Name,_step,train/loss\na,10,3.0\na,20,2.9\n"
    try:
        up = read_any(csv.encode(), filename="h.csv")
    except UploadError as e:                 # the upload reader requires a size on every row
        assert "run_info" in str(e) and "tokens_per_step" in str(e)
    else:                                    # ... or keeps size-less curves and says so
        assert any(d.startswith("N (parameters): unknown for 1 run ('a')") for d in up.report.defaults)
        assert any("run_info" in w for w in up.report.warnings)


# ----------------------------------------------------------------------------- TensorBoard

def _write_events(folder: Path, scalars: dict[int, dict[str, float]], *, tensor: bool = False, hparams=None):
    """An event file written by TensorBoard's own writer: simple_value scalars (PyTorch, TF1) or TF2-style
    one-element tensors of the scalars plugin, and optionally an hparams session record."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.plugins.scalar.summary_v2 import scalar_pb
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    w = EventFileWriter(str(folder))
    if hparams:
        from tensorboard.plugins.hparams.summary_v2 import hparams_pb
        w.add_event(event_pb2.Event(step=0, wall_time=time.time(), summary=hparams_pb(hparams)))
    for step, values in scalars.items():
        if tensor:
            summary = summary_pb2.Summary(value=[v for tag, x in values.items() for v in scalar_pb(tag, x).value])
        else:
            summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=t, simple_value=x)
                                                 for t, x in values.items()])
        w.add_event(event_pb2.Event(step=step, wall_time=time.time(), summary=summary))
    w.close()
    return sorted(folder.glob("*tfevents*"))[-1]


def _curve(n_params: float, step: int) -> float:
    return float(np.float32(1.8 + 400.0 / n_params ** 0.34 + 300.0 / (step * 524288.0) ** 0.28))


@pytest.fixture
def logdir(tmp_path):
    root = tmp_path / "logs"
    for name, n in (("gpt-125m", 125e6), ("gpt-350m", 350e6)):
        _write_events(root / name, {s: {"train/loss": _curve(n, s), "lr": 3e-4, **(
            {"eval/loss": _curve(n, s) + 0.05} if s % 500 == 0 else {})} for s in range(100, 1100, 100)},
            tensor=name == "gpt-350m")      # one run as PyTorch writes scalars, one as TF2 does
    return root


def test_tensorboard_logdir_reads_back(logdir):
    assert sniff(logdir) == "tensorboard"
    info = pd.DataFrame({"run": ["gpt-125m", "gpt-350m"], "params": [125e6, 350e6]})
    up = read_any(logdir, run_info=info, tokens_per_step=524288)
    rep = up.report
    assert rep.format == "tensorboard" and rep.runs == 2 and rep.n_rejected == 0
    train = _points(up, "train/loss")
    assert len(train) == 20
    for name, n in (("gpt-125m", 125e6), ("gpt-350m", 350e6)):
        for s in range(100, 1100, 100):
            assert train[(name, float(s))] == pytest.approx(_curve(n, s), rel=1e-6)
    assert set(_points(up, "eval/loss")) == {(r, s) for r in ("gpt-125m", "gpt-350m") for s in (500.0, 1000.0)}
    assert set(up.points.loc[up.points["metric"] == "lr", "unit"]) == {"lr"}
    p = up.points.set_index(["run_id", "metric", "step"])
    assert p.loc[("upload/gpt-125m", "train/loss", 700.0), "tokens"] == 700 * 524288
    assert up.runs.set_index("model").loc["gpt-350m", "params"] == 350e6


def test_tensorboard_zip_reads_the_same(logdir, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in logdir.rglob("*"):
            if f.is_file():
                zf.write(f, f"logs/{f.relative_to(logdir).as_posix()}")
    raw = buf.getvalue()
    assert sniff(raw, "logs.zip") == "tensorboard"
    a = read_any(logdir, tokens_per_step=524288)
    b = read_any(raw, filename="logs.zip", tokens_per_step=524288)
    assert sorted(b.runs["model"]) == ["gpt-125m", "gpt-350m"]           # the zip's logs/ folder is no part
    assert _points(a, "train/loss") == _points(b, "train/loss")


def test_tensorboard_hparams_resumed_run_and_single_event_file(tmp_path):
    run = tmp_path / "logs" / "run-a"
    first = _write_events(run, {s: {"loss": 4.0 - s / 1000} for s in (100, 200, 300)},
                          hparams={"n_params": 1.25e8, "tokens_per_step": 4096.0, "optimizer": "adamw"})
    time.sleep(1.1)                                     # event file names carry the creation second
    _write_events(run, {s: {"loss": 3.0 - s / 1000} for s in (200, 300, 400)})   # resumed from step 100
    up = read_any(tmp_path / "logs")
    got = _points(up, "loss")
    assert got == {("run-a", 100.0): pytest.approx(3.9), ("run-a", 200.0): pytest.approx(2.8),
                   ("run-a", 300.0): pytest.approx(2.7), ("run-a", 400.0): pytest.approx(2.6)}
    assert any("2 repeated" in n for n in up.report.defaults)
    runs = up.runs.set_index("model")
    assert runs.loc["run-a", "params"] == 1.25e8
    assert json.loads(runs.loc["run-a", "extra"])["sizes"]["D"] == "derived: step x 4,096 (config 'tokens_per_step')"
    one = read_any(first.read_bytes(), filename=first.name)
    assert one.report.format == "tensorboard" and len(one.points[one.points["metric"] == "loss"]) == 3


def test_truncated_event_file_keeps_complete_records(logdir):
    f = next((logdir / "gpt-125m").glob("*tfevents*"))
    raw = f.read_bytes()
    f.write_bytes(raw[:-7])                             # cut inside the last record
    up = read_any(logdir, tokens_per_step=524288)
    warn = [w for w in up.report.warnings if "ends mid-record" in w]
    assert len(warn) == 1 and "gpt-125m" in warn[0] and "after 10 complete records" in warn[0]
    assert len(_points(up, "train/loss")) == 19          # the last step of gpt-125m is lost, nothing else


def test_garbage_event_file_is_refused_by_name(tmp_path):
    (tmp_path / "logs" / "x").mkdir(parents=True)
    (tmp_path / "logs" / "x" / "events.out.tfevents.1.host").write_bytes(b"not an event file at all" * 10)
    with pytest.raises(UploadError, match=r"No event file could be read: 'x/events.out.tfevents.1.host' is not a "
                                          "TensorBoard event file"):
        read_any(tmp_path / "logs")


def test_thousands_of_tiny_event_files_are_refused(tmp_path):
    one = _write_events(tmp_path / "seed", {1: {"loss": 1.0}})
    root = tmp_path / "many"
    for i in range(limits.MAX_EVENT_FILES + 1):
        d = root / f"r{i}"
        d.mkdir(parents=True)
        shutil.copy(one, d / one.name)
    t = time.perf_counter()
    with pytest.raises(UploadError, match=f"{limits.MAX_EVENT_FILES + 1:,} event files, above the limit of "
                                          f"{limits.MAX_EVENT_FILES:,}"):
        read_any(root)
    assert time.perf_counter() - t < 5                  # refused from the listing, not after reading


# ----------------------------------------------------------------------------- MLflow

@pytest.fixture
def mlruns(tmp_path, monkeypatch):
    """A tracking folder written by MLflow's own client (its file store)."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.tracking import MlflowClient

    root = tmp_path / "mlruns"
    client = MlflowClient(tracking_uri=root.as_uri())
    exp = client.create_experiment("chinchilla-repro")
    ids = {}
    for name, n in (("gpt-125m", 125e6), ("gpt-350m", 350e6)):
        run = client.create_run(exp, run_name=name)
        ids[name] = run.info.run_id
        client.log_param(run.info.run_id, "n_params", str(int(n)))
        client.log_param(run.info.run_id, "batch_tokens", "524288")
        for s in range(100, 600, 100):
            client.log_metric(run.info.run_id, "eval/loss", _curve(n, s), step=s)
            client.log_metric(run.info.run_id, "train_loss", _curve(n, s) - 0.02, step=s)
        client.set_terminated(run.info.run_id)
    gone = client.create_run(exp, run_name="deleted")
    client.log_metric(gone.info.run_id, "eval/loss", 9.0, step=1)
    client.delete_run(gone.info.run_id)
    return root, ids


def test_mlflow_folder_written_by_mlflow_reads_back(mlruns):
    root, ids = mlruns
    assert sniff(root) == "mlflow"
    up = read_any(root)
    rep = up.report
    assert rep.format == "mlflow" and rep.runs == 2 and rep.n_rejected == 0
    ev = _points(up, "eval/loss")
    assert len(ev) == 10 and ev[("gpt-350m", 300.0)] == pytest.approx(_curve(350e6, 300))
    runs = up.runs.set_index("model")
    assert set(runs["family"]) == {"upload/chinchilla-repro"}
    assert runs.loc["gpt-125m", "params"] == 125e6
    p = up.points.set_index(["run_id", "metric", "step"])
    assert p.loc[("upload/gpt-125m", "eval/loss", 400.0), "tokens"] == 400 * 524288
    assert any(d.startswith("N (parameters): given: param 'n_params' for 2 runs") for d in rep.defaults)
    assert any("deleted run" in d for d in rep.defaults)
    info = pd.DataFrame({"run": [ids["gpt-350m"]], "params": [999e6]})      # a run id works in run_info
    up2 = read_any(root, run_info=info)
    assert any("gpt-350m" in w and "run_info says 9.99e+08" in w for w in up2.report.warnings)


def test_mlflow_zip_missing_metric_file_and_bad_line(mlruns, tmp_path):
    root, ids = mlruns
    exp_dir = next(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != "0")
    shutil.rmtree(exp_dir / ids["gpt-125m"] / "metrics")                  # copied without its metric files
    bad = exp_dir / ids["gpt-350m"] / "metrics" / "train_loss"
    bad.write_text(bad.read_text() + "1717171717 oops 600\n")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in root.rglob("*"):
            if f.is_file():
                zf.write(f, f"mlruns/{f.relative_to(root).as_posix()}")
    up = read_any(buf.getvalue(), filename="mlruns.zip")
    assert up.report.runs == 1
    assert any("'gpt-125m'" in w and "no metric files" in w for w in up.report.warnings)
    (row, column, why), = up.report.rejected
    assert row == 6 and column.startswith("train_loss (mlruns/") and column.endswith("metrics/train_loss)")
    assert "not a number" in why
    shutil.rmtree(exp_dir / ids["gpt-350m"] / "metrics")
    with pytest.raises(UploadError, match="No metric history was found in the MLflow folder") as e:
        read_any(root)
    assert "mlflow.db" in str(e.value)


# ----------------------------------------------------------------------------- per-run files

def test_folder_of_per_run_files_and_encodings(tmp_path):
    root = tmp_path / "runs"
    (root / "sweep-b").mkdir(parents=True)
    (root / "gpt-125m.csv").write_text("step,tokens,train/loss,val_loss\n100,5e7,3.9,4.0\n200,1e8,3.5,3.6\n")
    pd.DataFrame({"step": [100, 200], "tokens": [1e8, 2e8], "val_loss": [3.5, 3.2]}).to_parquet(
        root / "gpt-350m.parquet")
    (root / "sweep-b" / "lr3e-4.csv").write_bytes("step,tokens,val_loss,note\n100,5e7,3.8,café\n".encode("cp1252"))
    assert sniff(root) == "runfiles"
    up = read_any(root)
    runs = up.runs.set_index("model")
    assert sorted(runs.index) == ["gpt-125m", "gpt-350m", "lr3e-4"]
    assert runs.loc["lr3e-4", "family"] == "upload/sweep-b"
    assert _points(up, "val_loss")[("gpt-350m", 200.0)] == 3.2
    assert any(w.startswith("sweep-b/lr3e-4.csv:") and "Windows-1252" in w for w in up.report.warnings)
    assert json.loads(runs.loc["lr3e-4", "extra"])["config"] == {"note": "café"}
    (root / "mixed.csv").write_bytes("step,tokens,val_loss,note\n1,5e7,3.8,naïve\n".encode()
                                     + "2,6e7,3.7,café\n".encode("cp1252"))
    with pytest.raises(UploadError, match=r"'mixed.csv' mixes encodings: it holds UTF-8 text, but byte \d+ \(line 3"):
        read_any(root)


# ----------------------------------------------------------------------------- archives and limits

def _zip(members: dict[str, bytes], **kw) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, **kw) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_zip_bomb_is_refused_before_unpacking():
    """A bomb declares a huge uncompressed size in the central directory (here 4 GB for a tiny member):
    refused from the declared sizes, before a byte is unpacked."""
    bomb = bytearray(_zip({"runs/a.csv": b"step,tokens,loss\n" + b"0" * 100_000, "runs/b.csv": b"x"}))
    central = bomb.index(b"PK\x01\x02")
    bomb[central + 24:central + 28] = (4_000_000_000).to_bytes(4, "little")
    assert len(bomb) < 2_000
    with pytest.raises(UploadError, match="unpack to 4,000.0 MB, above the 200.0 MB limit \\(a ZIP bomb\\?\\)"):
        read_any(bytes(bomb), filename="bomb.zip")


def test_unpacking_counts_real_bytes_not_headers(tmp_path):
    raw = _zip({"a.csv": b"x" * 10_000})
    listing = archive.list_zip(raw, "a.zip")
    with pytest.raises(UploadError, match="unpacks to more than"):
        with archive.materialise(listing, ["a.csv"], max_bytes=1_000):
            pass
    with archive.materialise(listing, ["a.csv"]) as root:
        assert (root / "a.csv").stat().st_size == 10_000 and str(root).startswith(str(Path(os.path.realpath(
            __import__("tempfile").gettempdir()))))
    assert not root.exists()                                       # the temporary folder is gone


@pytest.mark.parametrize("name", ["../evil.csv", "/etc/evil.csv", "C:\\evil.csv", "runs/../../evil.csv"])
def test_path_traversal_is_refused(name):
    raw = _zip({"runs/a.csv": b"step,tokens,loss\n1,2,3\n", name: b"step,tokens,loss\n1,2,3\n"})
    with pytest.raises(UploadError, match="points outside the archive \\(path traversal\\)"):
        read_any(raw, filename="x.zip")


def test_member_count_password_and_not_a_zip():
    many = _zip({f"r{i}.csv": b"step,tokens,loss\n1,2,3\n" for i in range(30)})
    with pytest.raises(UploadError, match="has 30 members, above the limit of 20"):
        archive.list_zip(many, "many.zip", max_entries=20)
    locked = bytearray(_zip({"runs/a.csv": b"step,tokens,loss\n1,2,3\n"}))
    central = locked.index(b"PK\x01\x02")
    locked[6] |= 0x1                                                   # the encryption flag, as a
    locked[central + 8] |= 0x1                                         # password-protecting zip sets it
    with pytest.raises(UploadError, match="password-protected"):
        read_any(bytes(locked), filename="locked.zip")
    with pytest.raises(UploadError, match="not a readable ZIP archive"):
        read_any(b"PK\x03\x04" + b"\x00" * 100, filename="broken.zip")


def test_folder_walk_limit_and_unknown_content(tmp_path, monkeypatch):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.md").write_text("hello")
    with pytest.raises(UploadError, match="holds no runs in a known format \\(files: 'notes/readme.md'\\)"):
        read_any(tmp_path)
    for i in range(30):
        (tmp_path / "notes" / f"{i}.md").write_text("x")
    with pytest.raises(UploadError, match="more than 20 files and folders"):
        archive.list_folder(tmp_path, max_entries=20)
    with pytest.raises(UploadError, match="No such file or folder"):
        read_any(tmp_path / "missing")


def test_formats_and_limits_are_described():
    assert {"wandb", "wandb-chart", "tensorboard", "mlflow", "runfiles", "csv"} <= set(FORMATS)
    lines = limits.describe_limits()
    assert "200 MB read from a folder or unpacked from an archive" in lines
    assert f"{limits.MAX_EVENT_FILES:,} event files (TensorBoard)" in lines


# ----------------------------------------------------------------------------- hostile input, property-based

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_NAMES = st.sampled_from(["x.csv", "x.zip", "events.out.tfevents.1.h", "x.parquet", "wandb_export.csv", None])
_MEMBER = st.one_of(st.sampled_from(["a.csv", "r/b.csv", "logs/run/events.out.tfevents.1.h", "mlruns/1/meta.yaml",
                                     "mlruns/1/r/meta.yaml", "mlruns/1/r/metrics/loss", "../x.csv", "/abs.csv",
                                     "dir/", "__MACOSX/._a.csv"]),
                    st.text(min_size=1, max_size=20))
_BODY = st.one_of(st.binary(max_size=300), st.sampled_from([WANDB_HISTORY.encode(), WANDB_CHART.encode(),
                                                            b"1717171717 3.5 100\n", b"name: e\n", b"run_id: r\n"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.one_of(st.binary(max_size=400), _BODY), name=_NAMES)
def test_any_bytes_give_an_upload_or_one_upload_error(raw, name):
    try:
        up = read_any(raw, filename=name)
    except UploadError as e:
        assert e.message and "Traceback" not in str(e)
    else:
        assert up.report.points_kept == len(up.points) > 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(members=st.dictionaries(_MEMBER, _BODY, min_size=1, max_size=5))
def test_any_zip_gives_an_upload_or_one_upload_error(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, body in members.items():
            try:
                zf.writestr(name, body)
            except (ValueError, UnicodeEncodeError, IndexError):     # names zipfile itself cannot write
                pass
    try:
        up = read_any(buf.getvalue(), filename="upload.zip")
    except UploadError as e:
        assert e.message
    else:
        assert len(up.points) > 0


# ----------------------------------------------------------------------------- options (CLI / form)

def test_column_pairs_strict_and_summary():
    from datasets.formats import check_strict, column_map_from_pairs, rejection_summary

    assert column_map_from_pairs(["n=n_params", "value=eval/loss", "value=a=b", "U=none"]) == {
        "N": "n_params", "value": ["eval/loss", "a=b"], "U": None}
    assert column_map_from_pairs([]) is None
    for bad, why in (("params", "is not ROLE=NAME"), ("size=x", "unknown role 'size'")):
        with pytest.raises(UploadError, match=why):
            column_map_from_pairs([bad])
    with pytest.raises(UploadError, match="role 'N' twice"):
        column_map_from_pairs(["N=a", "N=b"])
    up = read_any(WANDB_HISTORY.replace("3.01,3.05", "3.01,abc").encode(), filename="wandb_export.csv",
                  column_map=column_map_from_pairs(["value=eval/loss"]))
    assert set(up.points["metric"]) == {"eval/loss"}
    assert rejection_summary(up.report) == ("1 value rejected in wandb_export.csv (row 6, column 'eval/loss': "
                                            "not a number: 'abc').")
    with pytest.raises(UploadError, match="Strict reading: 1 value rejected"):
        check_strict(up)
    clean = read_any(WANDB_HISTORY.encode(), filename="wandb_export.csv")
    assert check_strict(clean) is clean and rejection_summary(clean.report) is None


# ----------------------------------------------------------------------------- MLflow's SQLite store

def test_mlflow_db_written_by_mlflow_reads_back(tmp_path):
    """MLflow 3.7+ logs to mlflow.db by default; its own client writes the database here."""
    from mlflow.tracking import MlflowClient

    db = tmp_path / "mlflow.db"
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    exp = client.create_experiment("chinchilla-repro")
    for name, n in (("gpt-125m", 125e6), ("gpt-350m", 350e6)):
        run = client.create_run(exp, run_name=name)
        client.log_param(run.info.run_id, "n_params", str(int(n)))
        for s in (100, 200, 300):
            client.log_metric(run.info.run_id, "eval/loss", _curve(n, s), step=s)
        if n > 2e8:
            client.log_metric(run.info.run_id, "eval/loss", float("nan"), step=400)
    raw = db.read_bytes()
    assert sniff(raw, "mlflow.db") == "mlflow" and sniff(db) == "mlflow"
    up = read_any(raw, filename="mlflow.db", tokens_per_step=524288)
    assert up.report.format == "mlflow" and up.report.runs == 2
    assert _points(up, "eval/loss")[("gpt-350m", 200.0)] == pytest.approx(_curve(350e6, 200))
    assert set(up.runs["family"]) == {"upload/chinchilla-repro"}
    assert up.runs.set_index("model").loc["gpt-125m", "params"] == 125e6
    (row, column, why), = up.report.rejected                           # the NaN, with its metrics row
    assert column == "eval/loss" and why.startswith("not finite") and row > 0
    folder = tmp_path / "project"                                       # mlflow.db beside an artifacts-only mlruns/
    (folder / "mlruns" / "1").mkdir(parents=True)
    shutil.copy(db, folder / "mlflow.db")
    assert read_any(folder, tokens_per_step=524288).report.runs == 2


def test_sqlite_that_is_not_mlflow_or_hides_a_view_is_refused(tmp_path):
    import sqlite3

    plain = tmp_path / "other.db"
    with sqlite3.connect(plain) as con:
        con.execute("CREATE TABLE t (x)")
    with pytest.raises(UploadError, match="SQLite database, but not MLflow's tracking store"):
        read_any(plain)
    sneaky = tmp_path / "sneaky.db"
    with sqlite3.connect(sneaky) as con:
        for t in ("experiments", "runs", "params", "tags"):
            con.execute(f"CREATE TABLE {t} (x)")
        con.execute("CREATE VIEW metrics AS WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c) "
                    "SELECT i FROM c")
    with pytest.raises(UploadError, match="not MLflow's tracking store"):
        read_any(sneaky.read_bytes(), filename="mlflow.db", format="mlflow")
