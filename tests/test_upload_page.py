"""The Upload page (issue 12): every format (a file, a zip of TensorBoard logs / MLflow / per-run CSVs), the
multi-value mapping (several metric columns kept, none silently dropped), the run-info table and tokens per
step for runs that log no size, and the limits stated on the page. AppTest sessions, real readers."""
from __future__ import annotations

import io
import sys
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from datasets.formats import FORMATS, describe_limits
from ui.upload_form import EXAMPLES, changed_run_info

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 180


@pytest.fixture
def page(small_store_path, tmp_path, monkeypatch):
    monkeypatch.setenv("SCALING_STORE", str(small_store_path))
    monkeypatch.setenv("SCALING_BOOTSTRAP", "10")
    monkeypatch.setenv("SCALING_UPLOAD_DIR", str(tmp_path / "vault"))
    if "analysis.settings" in sys.modules:
        monkeypatch.setattr(sys.modules["analysis.settings"], "BOOTSTRAP", 10)

    def open_page():
        from streamlit.testing.v1 import AppTest

        at = AppTest.from_file(str(ROOT / "home.py"), default_timeout=TIMEOUT)
        at.switch_page("pages/4_Upload.py")
        at.run()
        assert not at.exception
        return at
    return open_page


def upload(at, name: str, payload: bytes):
    at.file_uploader(key="upload_file_0").upload(name, payload, "application/octet-stream").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def kept(at, name: str):
    return at.session_state["uploads"][name]


def text(at) -> str:
    return " ".join(x.value for x in [*at.caption, *at.markdown, *at.warning, *at.code]).replace("\\", "")


def events(folder: Path, scalars: dict[int, dict[str, float]]) -> None:
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    w = EventFileWriter(str(folder))
    for step, values in scalars.items():
        w.add_event(event_pb2.Event(step=step, wall_time=time.time(), summary=summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag=t, simple_value=x) for t, x in values.items()])))
    w.close()


def zipped(root: Path, prefix: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(root.rglob("*")):
            if f.is_file():
                zf.write(f, f"{prefix}/{f.relative_to(root).as_posix()}")
    return buf.getvalue()


# ----------------------------------------------------------------------------------------------- the page
def test_formats_and_limits_are_stated(page):
    at = page()
    shown = text(at)
    for fmt, what in FORMATS.items():
        assert what.replace("\\", "") in shown, fmt
        assert EXAMPLES[fmt][1] in [c.value for c in at.code]
        assert len(EXAMPLES[fmt][1].splitlines()) == 3, fmt                   # a three-line example each
    assert "50 MB in one uploaded file or archive" in shown and "2,000,000 points" in shown
    for line in describe_limits():
        assert line in shown
    assert "kept on this server for 24 h" in shown.lower() and "100 MB per link" in shown


def test_wandb_export_keeps_every_metric_without_mapping(page):
    csv = ("Name,_step,_runtime,_timestamp,train/loss,eval/loss,params,tokens\n"
           "gpt-125m,100,61.2,1717171717,3.91,,125000000,2500000000\n"
           "gpt-125m,200,122.0,1717171778,3.52,3.60,125000000,2500000000\n"
           "gpt-350m,100,61.2,1717171717,3.71,,350000000,7000000000\n"
           "gpt-350m,200,122.0,1717171778,3.22,3.30,350000000,7000000000\n")
    at = upload(page(), "wandb_export.csv", csv.encode())
    assert metric(at, "Rows rejected") == "0" and metric(at, "Points kept") == "6"
    assert set(kept(at, "wandb_export.csv")["points"]["metric"]) == {"train/loss", "eval/loss"}
    assert at.multiselect(key="map_value").value == ["train/loss", "eval/loss"]
    assert "W&B history" in text(at)


def test_several_metric_columns_are_kept_not_silently_dropped(page):
    rows = ["run,params,tokens,loss,acc,notes"]
    for i, n in enumerate((20e6, 50e6, 125e6, 350e6)):
        rows.append(f"r{i},{n:g},{20 * n:g},{1.8 + 400 / n ** 0.34:.4f},{0.3 + 0.1 * i:.2f},ok")
    at = upload(page(), "runs.csv", ("\n".join(rows) + "\n").encode())
    assert set(kept(at, "runs.csv")["points"]["metric"]) == {"loss"}
    assert any("Not read: acc, notes" in w.value.replace("\\", "") for w in at.warning)   # said, not silent
    at.button(key="map_keep_ignored").click().run()                     # one click keeps them as metrics
    assert not at.exception
    at.multiselect(key="map_value").set_value(["loss", "acc"]).run()
    assert not at.exception and not at.error
    points = kept(at, "runs.csv")["points"]
    assert set(points["metric"]) == {"loss", "acc"}
    assert points.loc[points["metric"] == "acc", "value"].tolist() == pytest.approx([0.3, 0.4, 0.5, 0.6])
    assert metric(at, "Points kept") == "8"


def test_tensorboard_zip_without_sizes_then_tokens_per_step(page, tmp_path):
    root = tmp_path / "logs"
    for name, a in (("run-a", 1.0), ("run-b", 1.3)):
        events(root / name, {s: {"train/loss": 2.0 + a * s ** -0.3, "lr": 3e-4} for s in range(100, 1100, 100)})
    at = upload(page(), "logs.zip", zipped(root, "logs"))
    assert metric(at, "Runs") == "2" and metric(at, "Points kept") == "40"        # 20 losses, 20 lr values
    assert "TensorBoard log directory" in text(at)
    assert "N (parameters): unknown for 2 runs ('run-a', 'run-b')" in text(at)
    assert any("No size (N or D) for 2 runs" in w.value.replace("\\", "") for w in at.warning)
    up = kept(at, "logs.zip")
    assert up["runs"]["params"].isna().all() and up["points"]["tokens"].isna().all()
    tps = next(n for n in at.number_input if n.key.startswith("tps_"))
    tps.set_value(4096.0).run()
    assert not at.exception and not at.error
    pts = kept(at, "logs.zip")["points"]
    loss = pts[pts["metric"] == "train/loss"]
    assert (loss["tokens"] == loss["step"] * 4096).all()
    assert "D (tokens): derived: step x 4,096 (tokens_per_step) for 2 runs" in text(at)


def test_mlflow_and_per_run_csv_zips(page, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    for name, n in (("gpt-20m", 20e6), ("gpt-50m", 50e6), ("gpt-125m", 125e6)):
        (runs / f"{name}.csv").write_text("step,params,tokens,loss\n" + "".join(
            f"{s},{n:g},{s * 1e6:g},{1.8 + 400 / n ** 0.34 + 400 / (s * 1e6) ** 0.28:.5f}\n" for s in (1000, 2000)))
    at = upload(page(), "runs.zip", zipped(runs, "runs"))
    assert metric(at, "Runs") == "3" and sorted(kept(at, "runs.zip")["runs"]["model"]) == ["gpt-125m", "gpt-20m",
                                                                                          "gpt-50m"]
    # MLflow's file layout, as its file store writes it (mlruns/<experiment>/<run>/...)
    ml = tmp_path / "mlruns"
    exp = ml / "1"
    exp.mkdir(parents=True)
    (exp / "meta.yaml").write_text("experiment_id: '1'\nname: scaling\nlifecycle_stage: active\n")
    for rid, n in (("a1", 20e6), ("b2", 50e6), ("c3", 125e6)):
        d = exp / rid
        (d / "metrics").mkdir(parents=True)
        (d / "params").mkdir()
        (d / "tags").mkdir()
        (d / "meta.yaml").write_text(f"run_id: {rid}\nexperiment_id: '1'\nstatus: 3\nlifecycle_stage: active\n")
        (d / "tags" / "mlflow.runName").write_text(f"m-{rid}")
        (d / "params" / "n_params").write_text(f"{n:g}")
        (d / "metrics" / "loss").write_text("".join(f"17171717{s} {2 + 1 / s:.5f} {s}\n" for s in (1, 2, 3)))
    at = upload(page(), "mlruns.zip", zipped(ml, "mlruns"))
    assert "MLflow" in text(at) and metric(at, "Runs") == "3"
    assert sorted(kept(at, "mlruns.zip")["runs"]["params"]) == [20e6, 50e6, 125e6]


def test_a_file_that_cannot_be_read_says_why(page):
    at = page()
    at.file_uploader(key="upload_file_0").upload("notes.zip", b"PK\x05\x06" + b"\x00" * 18, "application/zip").run()
    assert not at.exception and at.error and "The file could not be read" in at.error[0].value
    assert not at.session_state["uploads"]


# ----------------------------------------------------------------------------------------------- run-info table
def test_run_info_table_sends_only_what_the_user_changed():
    prefill = pd.DataFrame({"run": ["a", "b", "c"], "params": ["1.25e+08", "", ""], "tokens": ["", "", ""],
                            "tokens_per_step": ["", "", ""]})
    assert changed_run_info(prefill, prefill.copy()) is None
    edited = prefill.copy()
    edited.loc[1, "params"] = " 350M "
    edited.loc[2, "tokens"] = "7B"
    edited.loc[2, "tokens_per_step"] = None
    out = changed_run_info(prefill, edited)
    assert out.to_dict("records") == [{"run": "b", "params": "350M", "tokens": "", "tokens_per_step": ""},
                                      {"run": "c", "params": "", "tokens": "7B", "tokens_per_step": ""}]
    from datasets.formats import read_run_info

    info = read_run_info(out)                          # what the reader makes of it
    assert info["params"].tolist()[0] == 350e6 and info["tokens"].tolist()[1] == 7e9
