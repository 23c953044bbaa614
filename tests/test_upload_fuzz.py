"""Property-based fuzzing of the upload reader (bounded: ~200 examples, derandomised for CI).

Whatever the bytes, :func:`datasets.upload.read_upload` returns a valid Upload (schema columns
exact, values finite, sizes > 0, ids prefixed) or raises UploadError with a message; never any
other exception. ``bench/fuzz_upload.py`` runs the same strategies for a long campaign.
"""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datasets.upload import UploadError, read_upload
from tests.upload_strategies import check_outcome, check_upload, upload_inputs

FUZZ = settings(deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@settings(FUZZ, max_examples=110)
@given(upload_inputs())
def test_any_input_gives_an_upload_or_an_upload_error(case):
    data, kwargs = case
    assert check_outcome(data, kwargs) in ("accepted", "rejected")


SIZES = st.one_of(
    st.floats(min_value=1e-300, max_value=1e300).map(lambda x: (repr(x), x)),
    st.integers(1, 10 ** 40).map(lambda n: (str(n), float(n))),
    st.tuples(st.integers(1, 9999), st.sampled_from([("K", 1e3), ("M", 1e6), ("B", 1e9), ("T", 1e12)]))
    .map(lambda t: (f"{t[0]}{t[1][0]}", t[0] * t[1][1])),
)


@settings(FUZZ, max_examples=30)
@given(st.lists(SIZES, min_size=1, max_size=6, unique_by=lambda t: t[1]))
def test_sizes_are_read_exactly_whatever_their_notation(sizes):
    text = "N,loss\n" + "".join(f"{cell},3.0\n" for cell, _ in sizes)
    up = read_upload(text.encode())
    check_upload(up)
    assert sorted(up.runs["params"]) == sorted(v for _, v in sizes)


@settings(FUZZ, max_examples=30)
@given(n_rows=st.integers(1, 30), bad=st.data(), blanks=st.sets(st.integers(0, 30), max_size=4),
       bad_cell=st.sampled_from(["x", "nan", "-1", "=1", "inf", ""]))
def test_the_reported_row_is_the_bad_row(n_rows, bad, blanks, bad_cell):
    k = bad.draw(st.integers(0, n_rows - 1))
    lines, row_of_bad, row = [], None, 0
    for i in range(n_rows):
        if i in blanks:
            lines.append("")
            row += 1
        row += 1
        is_bad = i == k
        row_of_bad = row if is_bad else row_of_bad
        lines.append(f"r{i},{bad_cell if is_bad else '1e8'},{i + 1}e9,3.0")
    text = "run,N,D,loss\n" + "\n".join(lines) + "\n"
    try:
        up = read_upload(text)
    except UploadError as e:             # the only row was bad
        assert n_rows == 1 and e.row == row_of_bad
        return
    check_upload(up)
    if bad_cell == "":                   # an empty N is missing, not wrong: D is a size
        assert up.report.n_rejected == 0
        return
    assert [r for r, _, _ in up.report.rejected] == [row_of_bad]
    assert up.report.rejected[0][1] == "N"


NAMES = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=30).filter(
    lambda v: v.strip(" ") == v and v[0] not in "=+-@")


@st.composite
def valid_frames(draw) -> pd.DataFrame:
    names = draw(st.lists(NAMES, min_size=1, max_size=4, unique=True))
    rows = []
    for name in names:
        n_params = draw(st.floats(1.0, 1e15))
        for step in draw(st.lists(st.integers(0, 10 ** 7), min_size=1, max_size=4, unique=True)):
            rows.append((name, n_params, draw(st.floats(1.0, 1e15)), step, draw(st.floats(0.0, 50.0))))
    return pd.DataFrame(rows, columns=["run", "N", "D", "step", "loss"])


@settings(FUZZ, max_examples=30)
@given(df=valid_frames(), fmt=st.sampled_from(["csv", "parquet"]), sep=st.sampled_from([",", ";", "\t", "|"]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32", "cp1252"]))
def test_valid_files_round_trip_exactly(df, fmt, sep, encoding):
    if fmt == "parquet":
        buf = io.BytesIO()
        df.to_parquet(buf)
        data = buf.getvalue()
    else:
        text = df.to_csv(sep=sep, index=False)
        try:
            data = text.encode(encoding)
        except UnicodeEncodeError:        # names outside Windows-1252
            data = text.encode("utf-8")
    up = read_upload(data)
    check_upload(up)
    assert up.report.n_rejected == 0, up.report.rejected
    got = up.points.merge(up.runs[["run_id", "model", "params"]], on="run_id")
    want = df.assign(run_id="upload/" + df["run"])
    both = want.merge(got, on=["run_id", "step"], how="outer", indicator=True)
    assert (both["_merge"] == "both").all()
    assert (both["model"] == both["run"]).all()
    np.testing.assert_array_equal(both["params"].to_numpy(float), both["N"].to_numpy(float))
    np.testing.assert_array_equal(both["tokens"].to_numpy(float), both["D"].to_numpy(float))
    np.testing.assert_array_equal(both["value"].to_numpy(float), both["loss"].to_numpy(float))
    np.testing.assert_array_equal(both["flops"].to_numpy(float), 6.0 * both["N"].to_numpy(float) * both["D"].to_numpy(float))
