"""Reading users' own runs: formats, aliases, defaults, and one test per kind of bad input."""
from __future__ import annotations

import csv
import gzip
import io
import warnings

import numpy as np
import pandas as pd
import pytest

from datasets.schema import POINT_COLUMNS, RUN_COLUMNS
from datasets.upload import (ALIASES, MAX_NAME, UploadError, example_csv, read_upload,
                             suggest_mapping)

CHINCHILLA = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)   # Hoffmann et al. 2022


def read(text: str | bytes, **kw):
    return read_upload(text.encode() if isinstance(text, str) else text, **kw)


def rejected(up) -> dict[int, tuple[str, str]]:
    return {row: (col, why) for row, col, why in up.report.rejected}


def error(text, **kw) -> UploadError:
    with pytest.raises(UploadError) as exc:
        read(text, **kw)
    assert str(exc.value).strip()
    return exc.value


# ----------------------------------------------------------------------------- valid files

def test_example_round_trips_to_the_law_it_was_drawn_from():
    text = example_csv()
    assert text == example_csv()                     # deterministic
    up = read(text)
    assert list(up.runs.columns) == list(RUN_COLUMNS) and list(up.points.columns) == list(POINT_COLUMNS)
    assert up.report.rows_read == 40 and up.report.runs == 5 and up.report.n_rejected == 0
    assert sorted(up.runs["params"]) == [20e6, 50e6, 125e6, 350e6, 760e6]
    assert set(up.runs["family"]) == {"upload/chinchilla-like"}
    assert "upload/my-125m" in set(up.runs["run_id"])
    assert "C = 6ND for 40 rows (no C column)" in up.report.defaults
    loss = up.points[up.points["metric"] == "val_loss"].merge(up.runs[["run_id", "params"]], on="run_id")
    assert len(loss) == 40 and (loss["unit"] == "nats").all() and (loss["split"] == "validation").all()
    assert not loss["higher_is_better"].any()
    law = (CHINCHILLA["E"] + CHINCHILLA["A"] / loss["params"] ** CHINCHILLA["alpha"]
           + CHINCHILLA["B"] / loss["tokens"] ** CHINCHILLA["beta"])
    assert np.abs(np.log(loss["value"] / law)).max() < 0.02      # 0.5% noise, 4 sd
    np.testing.assert_allclose(loss["flops"], 6 * loss["params"] * loss["tokens"], rtol=1e-12)
    lr = up.points[up.points["metric"] == "lr"]
    assert len(lr) == 40 and (lr["unit"] == "lr").all() and lr["value"].between(3e-5, 3e-4).all()


def test_long_form_with_aliases_and_mixed_case_headers():
    text = ("Model Name,Num-Params,tokens_seen,ITERATION,metric_name,Score,group\n"
            "a,1e8,1e9,100,val_loss,3.5,sweep\n"
            "a,1e8,2e9,200,val_loss,3.2,sweep\n"
            "a,1e8,2e9,200,hellaswag/acc,0.31,sweep\n"
            "b,3e8,2e9,200,val_loss,3.0,sweep\n")
    up = read(text)
    rep = up.report
    assert rep.layout == "long"
    assert rep.mapping == {"run": "Model Name", "family": "group", "N": "Num-Params", "D": "tokens_seen",
                           "step": "ITERATION", "metric": "metric_name", "value": "Score"}
    assert rep.points_kept == 4 and rep.runs == 2
    acc = up.points[up.points["metric"] == "hellaswag/acc"].iloc[0]
    assert acc["unit"] == "accuracy" and bool(acc["higher_is_better"]) is True
    assert set(up.runs["family"]) == {"upload/sweep"}


def test_wide_form_makes_one_metric_per_loss_column_and_infers_splits():
    text = "run,N,step,D,val_loss,train_loss\na,1e8,1,1e9,3.1,3.0\na,1e8,2,2e9,2.9,2.7\n"
    up = read(text)
    assert up.report.layout == "wide" and up.report.mapping["value"] == ["val_loss", "train_loss"]
    by = up.points.set_index(["metric", "step"])
    assert by.loc[("val_loss", 2.0), "value"] == 2.9 and by.loc[("val_loss", 2.0), "split"] == "validation"
    assert by.loc[("train_loss", 1.0), "split"] == "train"


def test_si_suffixes_scientific_notation_and_no_run_column():
    text = "params,tokens,flops,loss\n125M,2.5B,1.875e18,3.3\n125m,5b,,3.1\n1.3B,26B,,2.6\n2T,1T,,1.9\n"
    up = read(text)
    assert sorted(up.runs["params"]) == [125e6, 1.3e9, 2e12]
    assert sorted(up.runs["model"]) == ["N=1.3B", "N=125M", "N=2T"]
    assert "run = one distinct N per family (no run column)" in up.report.defaults
    assert "C = 6ND for 3 rows" in up.report.defaults                  # one C given, three filled
    first = up.points[up.points["tokens"] == 2.5e9].iloc[0]
    assert first["flops"] == 1.875e18
    big = up.points[up.points["tokens"] == 1e12].iloc[0]
    assert big["flops"] == 6 * 2e12 * 1e12


def test_a_size_header_stating_its_unit_scales_the_column():
    """'Params (M)' holds millions and 'Tokens [B]' billions (a researcher's spreadsheet): read as 70e6 parameters
    and 0.35e9 tokens, with a note saying so, not as 70 parameters and a fraction of a token."""
    text = "run,Params (M),Tokens [B],FLOPs (1e21),loss\na,70,0.35,0.147,3.3\nb,160,3.2,3.07,2.9\n"
    up = read(text, column_map={"N": "Params (M)", "D": "Tokens [B]", "C": "FLOPs (1e21)"})
    assert sorted(up.runs["params"]) == [70e6, 160e6]
    assert sorted(up.points["tokens"]) == [0.35e9, 3.2e9]
    assert sorted(up.points["flops"]) == pytest.approx([0.147e21, 3.07e21], rel=1e-12)
    assert "N = 'Params (M)' x 1e+06 (the unit its header states)" in up.report.defaults
    assert not [w for w in up.report.warnings if "below 100" in w]
    unique = read("run,N,Tokens (B),Unique tokens (B),loss\na,1e8,2,0.5,3.3\nb,2e8,4,0.5,2.9\n",
                  column_map={"D": "Tokens (B)", "U": "Unique tokens (B)"})          # D / U stays a repetition count
    assert sorted(unique.points["tokens"] / unique.runs.set_index("run_id").loc[unique.points["run_id"],
                                                                           "unique_tokens"].to_numpy()) == [4.0, 8.0]
    mixed = read("run,Params (M),tokens,loss\na,70,2e9,3.3\nb,1.3B,3e10,2.9\n", column_map={"N": "Params (M)"})
    assert sorted(mixed.runs["params"]) == [70e6, 1.3e9]
    plain = read("run,Params,tokens,loss\na,70,0.35,3.3\nb,160,3.2,2.9\n")   # no unit stated: warned, not guessed
    assert sorted(plain.runs["params"]) == [70, 160]
    assert any("Every D is below 100" in w and "'Tokens (B)'" in w for w in plain.report.warnings)


def test_flops_above_int64_written_as_digits_are_read_as_floats():
    huge = "1" + "0" * 24                                            # 1e24 > 2**63
    text = f"run,N,C,loss\na,1e9,{huge},2.5\nb,2e9,{'9' * 30},2.4\nc,3e9,18446744073709551616,2.3\n"
    assert pd.read_csv(io.StringIO(text))["C"].dtype != np.float64   # why we coerce ourselves
    up = read(text)
    assert up.points["flops"].dtype == np.float64
    assert sorted(up.points["flops"]) == [2.0 ** 64, 1e24, float("9" * 30)]


def test_utf8_bom_utf16_semicolons_decimal_commas_tabs_and_pipes():
    base = "run;N;D;loss\na;125M;2,5e9;3,21\nb;350M;7e9;2,9\n"
    up = read(base.encode("utf-8-sig"))
    assert up.report.encoding == "utf-8-sig" and up.report.delimiter == ";"
    assert up.report.mapping["run"] == "run"                          # BOM not glued to the header
    assert sorted(up.points["value"]) == [2.9, 3.21] and 2.5e9 in set(up.points["tokens"])
    up16 = read(base.encode("utf-16"))
    assert up16.report.encoding == "utf-16"
    pd.testing.assert_frame_equal(up16.points, up.points)
    for d in ("\t", "|"):
        got = read(f"run{d}N{d}loss\na{d}1e8{d}3.0\nb{d}2e8{d}2.9\n")
        assert got.report.delimiter == d and got.report.points_kept == 2


def test_str_path_file_object_and_excel_sep_line(tmp_path):
    text = "sep=;\nrun;N;loss\na;1e8;3.0\n"
    path = tmp_path / "mine.csv"
    path.write_text(text)
    from_path = read_upload(path)
    assert from_path.report.filename == "mine.csv" and from_path.runs["file"].iloc[0] == "mine.csv"
    pd.testing.assert_frame_equal(read_upload(text).points, from_path.points)
    pd.testing.assert_frame_equal(read_upload(io.BytesIO(text.encode())).points, from_path.points)
    assert from_path.report.delimiter == ";"


def test_parquet_round_trips_and_rejects_bad_cells_by_row():
    import pyarrow as pa
    import pyarrow.parquet as pq
    table = pa.table({"run": ["a", "a", "b", "b"], "params": [1e8, 1e8, 3e8, 3e8],
                      "tokens": pa.array([10 ** 9, 2 * 10 ** 9, 10 ** 9, 2 * 10 ** 9], pa.int64()),
                      "loss": pa.array([3.0, 2.8, float("nan"), None], pa.float64())})   # NaN, then null
    buf = io.BytesIO()
    pq.write_table(table, buf)
    up = read_upload(buf.getvalue(), filename="runs.parquet")
    assert up.report.format == "parquet" and up.report.points_kept == 2 and up.report.runs == 1
    assert up.points["tokens"].tolist() == [1e9, 2e9] and up.points["value"].tolist() == [3.0, 2.8]
    assert rejected(up) == {3: ("loss", "not finite (leave the cell empty if the value is missing): 'nan'"),
                            4: ("loss", "value is empty")}
    with pytest.raises(UploadError, match="not a readable Parquet file"):
        read_upload(buf.getvalue()[:60], filename="runs.parquet")
    with pytest.raises(UploadError, match="named like a Parquet file"):
        read_upload(b"run,N,loss\na,1,2\n", filename="runs.parquet")


def test_units_splits_and_higher_is_better_follow_the_unit_column():
    text = ("run,N,metric,value,unit,split\n"
            "a,1e8,wiki,25.0,perplexity,test\n"
            "a,1e8,arc,0.4,acc,downstream\n"
            "a,1e8,c4,1.2,bits,train\n"
            "a,1e8,x,1.0,furlongs,train\n")
    up = read(text)
    p = up.points.set_index("metric")
    assert p.loc["wiki", "unit"] == "perplexity" and p.loc["wiki", "split"] == "validation"
    assert p.loc["arc", "unit"] == "accuracy" and bool(p.loc["arc", "higher_is_better"])
    assert p.loc["c4", "unit"] == "bits" and not bool(p.loc["c4", "higher_is_better"])
    col, why = rejected(up)[4]
    assert col == "unit" and "unknown unit" in why and "furlongs" in why
    assert not any("above 20" in w for w in up.report.warnings)        # perplexity was declared


def test_hostile_names_are_kept_verbatim_as_data():
    names = ["<script>alert(1)</script>", "../../etc/passwd", "'; DROP TABLE runs; --", "模型 🚀", "\u202eevil"]
    rows = "".join(f'"{n.replace(chr(34), chr(34) * 2)}",1e8,{i + 1}e9,3.0\n' for i, n in enumerate(names))
    up = read("run,N,D,loss\n" + rows)
    assert sorted(up.runs["model"]) == sorted(names)
    assert set(up.runs["run_id"]) == {f"upload/{n}" for n in names}


def test_same_run_name_in_two_families_gets_family_in_its_id():
    up = read("family,run,N,loss\nA,small,1e8,3\nB,small,1e8,3.1\nB,big,1e9,2.5\n")
    assert set(up.runs["run_id"]) == {"upload/A/small", "upload/B/small", "upload/big"}


def test_column_map_overrides_and_suggest_mapping():
    cols = ["Model Name", "Params (M)", "Tokens Seen", "final val loss", "notes"]
    assert suggest_mapping(cols) == {"run": "Model Name", "N": "Params (M)", "D": "Tokens Seen",
                                     "value": "final val loss"}
    text = "who,size,final val loss,loss\na,1e8,3.0,9\nb,2e8,2.9,9\n"
    up = read(text, column_map={"run": "who", "N": "size", "value": "final val loss"})
    assert up.report.mapping == {"run": "who", "N": "size", "value": "final val loss"}
    assert up.report.ignored_columns == ("loss",) and sorted(up.points["value"]) == [2.9, 3.0]
    assert read(text, column_map={"run": None, "N": "size", "value": "loss"}).report.runs == 2
    with pytest.raises(UploadError, match="unknown field 'bogus'"):
        read(text, column_map={"bogus": "who"})
    with pytest.raises(UploadError, match="not a column of the file"):
        read(text, column_map={"value": "nope"})


def test_lr_column_in_long_form_gives_one_lr_point_per_checkpoint():
    text = ("run,N,step,metric,value,lr\n"
            "a,1e8,1,val_loss,3.0,1e-3\na,1e8,1,train_loss,2.9,1e-3\n"
            "a,1e8,2,val_loss,2.8,5e-4\na,1e8,2,train_loss,2.7,5e-4\n")
    up = read(text)
    assert up.report.n_rejected == 0
    lr = up.points[up.points["metric"] == "lr"]
    assert lr["value"].tolist() == [1e-3, 5e-4] and (lr["split"] == "train").all()
    assert lr["higher_is_better"].isna().all()


def test_runs_without_run_or_n_column():
    curve = read("tokens,step,loss\n1e9,1,3.0\n2e9,2,2.8\n")
    assert curve.report.runs == 1 and curve.runs["run_id"].tolist() == ["upload/my-runs"]
    table = read("flops,loss\n1e20,3.0\n1e21,2.8\n")
    assert table.runs["run_id"].tolist() == ["upload/row-1", "upload/row-2"]
    assert any("one run per row" in d for d in table.report.defaults)


def test_column_map_may_list_several_value_columns():
    text = "run,N,a,b,c\nx,1e8,1.0,2.0,3.0\n"
    up = read(text, column_map={"value": ["a", "c"]})
    assert sorted(up.points["metric"]) == ["a", "c"] and up.report.ignored_columns == ("b",)
    with pytest.raises(UploadError, match="uses a column twice"):
        read(text, column_map={"value": ["a", "a"]})


def test_aliases_are_disjoint_across_fields():
    seen = {}
    for f, names in ALIASES.items():
        for a in names:
            key = "".join(a.lower().replace("_", "").split())
            assert seen.setdefault(key, f) == f, (a, f, seen[key])


def test_pure_function_of_its_inputs():
    text = example_csv().encode()
    cmap = {"value": "value"}
    filters, limit = list(warnings.filters), csv.field_size_limit()
    a, b = read_upload(text, column_map=cmap), read_upload(text, column_map=cmap)
    pd.testing.assert_frame_equal(a.points, b.points)
    pd.testing.assert_frame_equal(a.runs, b.runs)
    assert a.report == b.report and cmap == {"value": "value"}
    assert warnings.filters == filters and csv.field_size_limit() == limit
    assert a.to_dict()["report"]["points_kept"] == 80


# ----------------------------------------------------------------------------- structural errors

@pytest.mark.parametrize("data, needle", [
    (b"", "empty"),
    (b"  \n\r\n ", "empty"),
    (b"run,N,loss\n", "no data rows"),
    (b"run,N,loss\n\n\n", "no data rows"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    (b"PK\x03\x04\x14\x00\x06\x00", "Excel"),
    (gzip.compress(b"run,N,loss\na,1,2\n"), "gzip"),
    ("run,N,loss\na,1e8,3\n".encode("utf-16-le"), "UTF-16 text without a byte-order mark"),
    (b"run,N,loss\na\x81\x8d,1e8,3\n", "not UTF-8"),
    (b"\xef\xbb\xbfrun,N,loss\na\xff,1e8,3\n", "UTF-8-SIG byte-order mark but is not valid"),
    (b"run N loss\na 1e8 3\n", "single column"),
    (b"run:N:loss\na:1e8:3\n", "single column"),
])
def test_unreadable_files_name_the_problem(data, needle):
    e = error(data)
    assert needle in str(e) and e.fix


def test_windows_1252_is_read_with_a_warning():
    up = read("run,N,loss\nMüller-é,1e8,3\n".encode("cp1252"))
    assert up.report.encoding == "cp1252" and up.runs["model"].iloc[0] == "Müller-é"
    assert any("Windows-1252" in w for w in up.report.warnings)


@pytest.mark.parametrize("header, needle", [
    ("run,loss,N,loss", "columns 2 and 4 are both named 'loss'"),
    ("run,Loss,N,loss", "differ only in case"),
    ("run,N,val loss,val_loss", "differ only in case"),
])
def test_duplicated_headers(header, needle):
    e = error(f"{header}\na,1,1e8,2\n")
    assert needle in e.message and "Rename" in e.fix


def test_missing_value_or_size_column_suggests_a_mapping():
    e = error("run,N,final val loss\na,1e8,3\n")
    assert "No value column" in e.message and "Perhaps the value is 'final val loss'" in e.fix
    e = error("run,epoch_seconds,loss\na,1,3\n")
    assert "No size column" in e.message and "N (params), D (tokens) or C (FLOPs), or at least a step" in e.message
    up = read("run,step,loss\na,1,3\na,2,2.9\n")      # a curve with steps and no size: kept, sizes NULL
    assert up.runs["params"].isna().all() and up.points["tokens"].isna().all() and up.report.n_rejected == 0
    assert any(d.startswith("N, D and C unknown for 1 run ('a')") for d in up.report.defaults)
    e = error("125M,2e9,3.1\n350M,7e9,2.9\n")
    assert "looks like data, not a header" in e.message


def test_limits_on_bytes_rows_and_runs(tmp_path):
    text = "run,N,loss\n" + "".join(f"r{i},{i + 1}e6,3\n" for i in range(10))
    assert "above the 0.0 MB limit" in str(error(text, max_bytes=50))
    path = tmp_path / "big.csv"
    path.write_text(text)
    with pytest.raises(UploadError, match="limit"):
        read_upload(path, max_bytes=50)
    assert "more than 5 rows, the limit" in str(error(text, max_rows=5))
    assert read(text, max_rows=10).report.rows_read == 10
    assert "10 runs, above the limit of 3" in str(error(text, max_runs=3))


def test_ragged_rows_and_unclosed_quotes_name_the_row():
    e = error("run,N,loss\na,1e8,3\nb,2e8,2,9\n")
    assert e.row == 2 and "Row 2 has 4 fields but the header has 3" in e.message
    e = error("run,N,loss\n" + "a,1e8,3\n" * 80 + "b,2e8,2,9\n")            # beyond the sniffed sample
    assert e.row == 81
    e = error('run,N,loss\n"multi\nline",1e8,3\nb,2e8,2,9\n')          # rows, not lines
    assert e.row == 2
    e = error('run,N,loss\na,1e8,3\n"b,2e8,2\n')
    assert e.row == 2 and "never closed" in e.message
    e = error('training_tokens|">x|loss\n')                  # found by bench/fuzz_upload.py
    assert e.row is None and "quote opened in the header" in e.message


# ----------------------------------------------------------------------------- row-level rejections

BAD_ROWS = [
    ("a,abc,1e9,3.0", "N", "not a number: 'abc'"),
    ("a,1e8,1e9,nan", "loss", "not finite"),
    ("a,1e8,inf,3.0", "D", "not finite"),
    ("a,1e8,1e9,-inf", "loss", "not finite"),
    ("a,0,1e9,3.0", "N", "must be > 0: '0'"),
    ("a,1e8,-1e9,3.0", "D", "must be > 0: '-1e9'"),
    ("a,1e8,1e9,", "loss", "value is empty"),
    ("a,1e8,1e9,-0.5", "loss", "a loss in nats cannot be negative"),
    ("=HYPERLINK(1),1e8,1e9,3.0", "run", "starts with '='"),
    ("+cmd,1e8,1e9,3.0", "run", "starts with '+'"),
    ("-x,1e8,1e9,3.0", "run", "starts with '-'"),
    ("@SUM(A1),1e8,1e9,3.0", "run", "starts with '@'"),
    ('"\t=x",1e8,1e9,3.0', "run", "starts with '\\t'"),
    ('"\r=x",1e8,1e9,3.0', "run", "starts with '\\r'"),
    ('"a\nb",1e8,1e9,3.0', "run", "control character U+000A"),
    ("x" * (MAX_NAME + 1) + ",1e8,1e9,3.0", "run", "201 characters long"),
    (",1e8,1e9,3.0", "run", "run is empty"),
    ("a,,,3.0", "N/D", "no size"),
    ("a,1e400,1e9,3.0", "N", "not finite"),
    ("a,1e200,1e200,3.0", "C", "6ND overflows"),
]


@pytest.mark.parametrize("row, column, needle", BAD_ROWS)
def test_bad_row_is_rejected_with_row_and_column(row, column, needle):
    good = "ok,1e8,2e9,2.9\n"
    up = read("run,N,D,loss\n" + good + row + "\n" + good.replace("ok", "ok2"))
    rej = rejected(up)
    assert 2 in rej, up.report.rejected
    assert rej[2][0] == column and needle in rej[2][1], rej[2]
    assert up.report.points_kept == 2 and up.report.n_rejected == 1


def test_negative_step_and_conflicting_n_within_a_run():
    up = read("run,N,step,loss\na,1e8,0,3\na,1e8,-5,2.9\na,2e8,10,2.8\na,,20,2.7\n")
    rej = rejected(up)
    assert rej[2] == ("step", "must be >= 0: '-5'")
    assert rej[3][0] == "N" and "1e+08 on row 1" in rej[3][1]
    assert up.points["step"].tolist() == [0.0, 20.0]                    # empty N filled from the run
    assert up.runs["params"].tolist() == [1e8]


def test_duplicated_points_keep_the_first_and_say_which_row():
    up = read("run,N,step,loss\na,1e8,1,3.0\na,1e8,2,2.9\na,1e8,1,3.5\nb,1e8,1,3.1\n")
    assert rejected(up) == {3: ("loss", "duplicated point (same run, split, metric and checkpoint), "
                                        "first kept: row 1 has it")}
    assert up.points.loc[up.points["step"] == 1, "value"].tolist() == [3.0, 3.1]


def test_rejections_are_counted_beyond_the_listed_ones():
    text = "run,N,loss\n" + "a,x,3\n" * 1500 + "b,1e8,3\n"
    up = read(text)
    assert up.report.n_rejected == 1500 and len(up.report.rejected) == 1000
    assert up.report.rejection_counts == {"N: not a number": 1500}


def test_all_rows_rejected_quotes_the_first_reasons_with_lines():
    e = error("run,N,loss\n\n=a,1e8,3\nb,-1,3\nc,1e8,x\n")
    assert e.row == 2 and e.column == "run"
    assert "row 2 (file line 3), column 'run'" in e.message
    assert "row 3 (file line 4), column 'N': must be > 0" in e.message
    assert "row 4 (file line 5), column 'loss': not a number" in e.message


def test_row_numbers_count_data_rows_below_the_header_and_lines_count_everything():
    up = read("\n\nsep=;\nrun;N;loss\n\na;1e8;3\n\nb;1e8;x\n")
    assert list(rejected(up)) == [4]                 # blank data rows keep their numbers
    e = error("\n\nsep=;\nrun;N;loss\n\na;1e8;y\n")
    assert e.row == 2 and "row 2 (file line 6)" in e.message
    e = error('run,N,loss\n"multi\nline",1e8,3\nb,1e8,x\n')   # a record spans two lines: no line number
    assert "row 2, column 'loss'" in e.message


# ----------------------------------------------------------------------------- unit guards

def test_a_perplexity_column_is_a_value_in_perplexity():
    """'ppl' / 'val_ppl' (as lm-eval and fairseq logs name it) is the value, its unit perplexity (the fits take ln)."""
    for name in ("ppl", "val_ppl", "Perplexity"):
        up = read(f"run,N,D,{name}\na,1e8,2e9,30.5\nb,2e8,4e9,25.1\n")
        assert list(up.points["value"]) == [30.5, 25.1] and set(up.points["unit"]) == {"perplexity"}, name
        assert not up.report.warnings


def test_perplexity_like_loss_and_log10_sizes_warn():
    up = read("run,N,loss\na,8.1,35.2\nb,9.0,28.0\n")
    text = " ".join(up.report.warnings)
    assert "values above 20" in text and "perplexity" in text
    assert "Every N is below 100" in text and "log10" in text
    assert (up.points["unit"] == "nats").all()                         # warned, never converted
