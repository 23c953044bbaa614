"""read_frame: an in-memory table goes through the same column, cell and build stages as an uploaded file."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from datasets.schema import POINT_COLUMNS, RUN_COLUMNS
from datasets.upload import UploadError, example_csv, read_frame, read_upload


def _same_upload(a, b) -> None:
    pd.testing.assert_frame_equal(a.runs.drop(columns="file"), b.runs.drop(columns="file"))
    pd.testing.assert_frame_equal(a.points, b.points)
    ra, rb = a.report.to_dict(), b.report.to_dict()
    for key in ("filename", "format", "encoding", "delimiter"):
        ra.pop(key), rb.pop(key)
    assert ra == rb


def test_text_cells_read_exactly_like_the_file():
    text = example_csv()
    as_text = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    _same_upload(read_frame(as_text, filename="x.csv"), read_upload(text, filename="x.csv"))


def test_numeric_columns_read_like_the_file():
    text = example_csv()
    numeric = pd.read_csv(io.StringIO(text))             # N is text ("20M"), D, step, value and lr are numbers
    assert pd.api.types.is_float_dtype(numeric["value"]) and pd.api.types.is_integer_dtype(numeric["D"])
    up = read_frame(numeric, filename="wandb-export")
    _same_upload(up, read_upload(text))
    assert up.report.format == "dataframe" and up.report.filename == "wandb-export"
    assert list(up.runs.columns) == list(RUN_COLUMNS) and list(up.points.columns) == list(POINT_COLUMNS)
    assert set(up.runs["file"]) == {"wandb-export"}
    assert read_frame(numeric, format="wandb").report.format == "wandb"


def test_nan_cells_are_missing_and_infinities_are_rejected():
    """A W&B export logs metrics at different steps: NaN means 'not logged here', not a bad value."""
    df = pd.DataFrame({
        "run": ["a", "a", "a", "b", "b", "b"],
        "params": [1e8, 1e8, np.nan, 4e8, 4e8, 4e8],           # N filled from the run
        "tokens": [1e9, 2e9, 3e9, 1e9, 2e9, 3e9],
        "step": [1, 2, 3, 1, 2, 3],
        "val_loss": [3.5, np.nan, 3.1, 3.2, 3.0, np.inf],
        "train_loss": [np.nan, 3.3, 3.2, np.nan, 3.1, 2.9],
    })
    up = read_frame(df)
    rep = up.report
    assert rep.layout == "wide" and rep.rows_read == 6 and rep.runs == 2
    assert rep.mapping["value"] == ["val_loss", "train_loss"]
    pts = up.points.set_index(["run_id", "metric", "step"])["value"]
    assert pts.loc[("upload/a", "val_loss", 3.0)] == 3.1
    assert ("upload/a", "val_loss", 2.0) not in pts.index and ("upload/a", "train_loss", 1.0) not in pts.index
    assert len(up.points) == 8                                 # 12 cells - 3 NaN (missing) - 1 inf (rejected)
    n = up.runs.set_index("run_id")["params"]
    assert n["upload/a"] == 1e8 and n["upload/b"] == 4e8
    empties = [r for r in rep.rejected if r[2] == "value is empty"]
    assert [(r[0], r[1]) for r in empties] == [(1, "train_loss"), (2, "val_loss"), (4, "train_loss")]
    assert (6, "val_loss", "not finite (leave the cell empty if the value is missing): 'inf'") in rep.rejected


def test_a_rejected_row_is_reported_with_its_row_and_column():
    df = pd.DataFrame({"run": ["a", "a", "b", "=cmd()"], "N": ["125M", "125M", "1.3B", "2B"],
                       "D": [1e9, 2e9, 1e9, 1e9], "loss": ["3.2", "three", "2.9", "2.5"]})
    up = read_frame(df)
    rows = {r[0]: r for r in up.report.rejected}
    assert rows[2][1] == "loss" and rows[2][2] == "not a number: 'three'"
    assert rows[4][1] == "run" and "CSV injection" in rows[4][2]
    assert up.report.n_rejected == 2 and len(up.points) == 2 and up.report.runs == 2
    assert up.report.rejection_counts == {"loss: not a number": 1, "run: name rejected": 1}


def test_huge_integers_and_si_text_are_numbers():
    df = pd.DataFrame({"model": ["x", "y"], "params": [np.int64(7_000_000_000), np.int64(70_000_000_000)],
                       "flops": ["1.2e23", "8e24"], "tokens": ["1T", "2.5T"], "loss": [2.1, 1.9]})
    up = read_frame(df)
    assert up.runs["params"].tolist() == [7e9, 7e10]
    assert up.points["flops"].tolist() == [1.2e23, 8e24] and up.points["tokens"].tolist() == [1e12, 2.5e12]


def test_structural_problems_raise():
    with pytest.raises(UploadError, match="no rows"):
        read_frame(pd.DataFrame({"N": [], "loss": []}))
    with pytest.raises(UploadError, match="no columns"):
        read_frame(pd.DataFrame(index=range(3)))
    with pytest.raises(UploadError, match="No size column"):
        read_frame(pd.DataFrame({"run": ["a"], "loss": [2.0]}))
    with pytest.raises(UploadError, match="Duplicated header"):
        read_frame(pd.DataFrame([[1e6, 1e6, 2.0]], columns=["N", "n", "loss"]))
    with pytest.raises(UploadError, match="above the limit of 2"):
        read_frame(pd.DataFrame({"N": [1e6] * 3, "loss": [2.0] * 3}), max_rows=2)
    with pytest.raises(UploadError, match="Every row was rejected") as e:
        read_frame(pd.DataFrame({"N": [1e6, 2e6], "loss": [np.inf, -np.inf]}))
    assert e.value.row == 1 and e.value.column == "loss"
    with pytest.raises(TypeError):
        read_frame([{"N": 1e6, "loss": 2.0}])


def test_column_map_and_the_index():
    df = pd.DataFrame({"size": [1e8, 2e8], "final ppl": [20.0, 15.0]}, index=pd.Index(["r1", "r2"], name="run"))
    up = read_frame(df.reset_index(), column_map={"N": "size", "value": "final ppl"})
    assert sorted(up.runs["model"]) == ["r1", "r2"]
    assert up.points["unit"].tolist() == ["perplexity", "perplexity"]
    assert read_frame(df, column_map={"N": "size", "value": "final ppl"}).report.runs == 2   # index ignored
