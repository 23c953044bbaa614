"""Hypothesis strategies for uploaded files, and the invariants every outcome must satisfy.

Shared by ``tests/test_upload_fuzz.py`` (a bounded run in CI) and ``bench/fuzz_upload.py`` (a long
campaign). ``upload_inputs()`` draws ``(data, kwargs)`` pairs: plausible files in the long and
wide forms, adversarial text (random delimiters, BOMs and encodings, mixed types, huge numbers,
NaN/inf strings, negative sizes, duplicated headers, formula, HTML, path-like and SQL-ish names,
one-row files), truncated or corrupted bytes, random bytes and small Parquet files.
:func:`check_outcome` runs :func:`datasets.upload.read_upload` and asserts that it either returns
a valid :class:`Upload` or raises :class:`UploadError` with a message.
"""
from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from datasets.schema import POINT_COLUMNS, RUN_COLUMNS, SPLITS, UNITS
from datasets.upload import ALIASES, Upload, UploadError, read_upload

HOSTILE = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "../../etc/passwd",
           "C:\\Windows\\system32", "'; DROP TABLE runs; --", "Robert'); DROP TABLE students;--",
           "模型-1", "émoji 🚀", "\u202eevil", "a\u0301", "ﷺ", "x" * 201, "x" * 200, "a\nb", 'a"b', "a,b",
           "a;b", "a|b", "a\tb", " padded ", "%s%n", "{0}", "${jndi:ldap://x}", "NULL", "None", "0", "1e3"]
FORMULAS = ["=1+2", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)", "\t=x", "\r=x", "=HYPERLINK(\"x\")"]
SPECIAL = ["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "INF", "NA", "N/A", "null", "None", "", " ",
           "1e400", "-1e400", "1e-400", "0", "-0", "0.0", "-1", "1,5", "1.2.3", "0x10", "1_000", "١٢٣",
           "1.3B", "125M", "2T", "7k", "1.5 G", "3P", "-5M", "1e3M", "B", "M1", "9" * 30, "9" * 400,
           "18446744073709551616", "1" + "0" * 24, "True", "1e", "--1", "+1", ".5", "5."]
HEADER_POOL = [a for names in ALIASES.values() for a in names] + [
    "Params", " LOSS ", "num-params", "Model Name", "Tokens Seen", "val loss", "FLOPs", "Step", "", "x",
    "loss", "loss", "run", "N", "notes", "Unnamed: 0", "=cmd", "<b>h</b>", "params (M)", "ppl"]
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "cp1252", "latin-1"]


def _number_text(draw) -> str:
    kind = draw(st.integers(0, 6))
    if kind == 0:
        return repr(draw(st.floats(allow_nan=True, allow_infinity=True)))
    if kind == 1:
        return str(draw(st.integers(-10 ** 30, 10 ** 30)))
    if kind == 2:
        return f"{draw(st.floats(0.001, 1e4)):.4g}{draw(st.sampled_from('kKmMbBgGtTpP'))}"
    if kind == 3:
        return f"{draw(st.floats(1e-3, 1e26)):.6e}"
    if kind == 4:
        return f"{draw(st.floats(0.5, 12)):.4f}"
    if kind == 5:
        return str(draw(st.integers(0, 10 ** 6)))
    return draw(st.sampled_from(SPECIAL))


@st.composite
def cells(draw) -> str:
    kind = draw(st.integers(0, 9))
    if kind <= 4:
        return _number_text(draw)
    if kind == 5:
        return draw(st.sampled_from(HOSTILE))
    if kind == 6:
        return draw(st.sampled_from(FORMULAS))
    if kind == 7:
        return draw(st.sampled_from(SPECIAL))
    return draw(st.text(max_size=12))


def _write(rows: list[list[str]], delimiter: str, newline: str, quote: bool) -> str:
    if quote:
        buf = io.StringIO()
        csv.writer(buf, delimiter=delimiter, lineterminator=newline).writerows(rows)
        return buf.getvalue()
    return "".join(delimiter.join(r) + newline for r in rows)


def _encode(draw, text: str) -> bytes | str:
    enc = draw(st.sampled_from(ENCODINGS + ["str"]))
    if enc == "str":
        return text
    return text.encode(enc, errors="replace")


@st.composite
def plausible_files(draw) -> tuple[bytes | str, dict]:
    """Files that are mostly right: aliases, SI suffixes, long or wide, a few bad cells."""
    n_runs = draw(st.integers(1, 4))
    n_ckpt = draw(st.integers(1, 4))
    run_col = draw(st.sampled_from(["run", "model", "Model Name", None]))
    n_col = draw(st.sampled_from(["N", "params", "Params", "model_size", None]))
    d_col = draw(st.sampled_from(["D", "tokens", "Tokens Seen", None]))
    c_col = draw(st.sampled_from(["C", "flops", None]))
    step_col = draw(st.sampled_from(["step", "iteration", None]))
    long = draw(st.booleans())
    value_cols = ["value"] if long else draw(st.sampled_from([["loss"], ["val_loss", "train_loss"], ["score"]]))
    extra = draw(st.sampled_from([[], ["family"], ["unit"], ["split"], ["lr"], ["stderr"], ["U"]]))
    header = [c for c in (run_col, n_col, d_col, c_col, step_col) if c] + (["metric"] if long else []) \
        + value_cols + extra
    rows = [header]
    for r in range(n_runs):
        n_params = draw(st.sampled_from(["70M", "1.3B", "125m", "2.5e8", "410000000", "6.9B", "12b"]))
        for k in range(n_ckpt):
            row = []
            for c in header:
                if c in (run_col,):
                    row.append(draw(st.sampled_from([f"run-{r}", HOSTILE[r % len(HOSTILE)]])))
                elif c == n_col:
                    row.append(n_params)
                elif c == d_col:
                    row.append(str((k + 1) * 10 ** 9))
                elif c == c_col:
                    row.append(draw(st.sampled_from(["1" + "0" * 24, "6e20", "2.1e22", ""])))
                elif c == step_col:
                    row.append(str(k * 100))
                elif c == "metric":
                    row.append(draw(st.sampled_from(["val_loss", "train_loss", "hellaswag/acc", "ppl"])))
                elif c == "family":
                    row.append(draw(st.sampled_from(["a", "b", "", "<i>f</i>"])))
                elif c == "unit":
                    row.append(draw(st.sampled_from(["nats", "bits", "perplexity", "acc", "", "furlongs"])))
                elif c == "split":
                    row.append(draw(st.sampled_from(["train", "val", "validation", "test", "", "weird"])))
                else:
                    row.append(f"{draw(st.floats(0.5, 12)):.4f}")
            if draw(st.integers(0, 9)) == 0:
                row[draw(st.integers(0, len(row) - 1))] = draw(cells())
            rows.append(row)
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    text = _write(rows, delimiter, draw(st.sampled_from(["\n", "\r\n"])), True)
    return _encode(draw, text), {}


@st.composite
def adversarial_files(draw) -> tuple[bytes | str, dict]:
    """Random headers and cells, random delimiters and quoting, BOMs and encodings."""
    header = draw(st.lists(st.sampled_from(HEADER_POOL) | st.text(max_size=8), min_size=0, max_size=5))
    if draw(st.integers(0, 3)):                    # usually a value and a size column somewhere
        for names in (ALIASES["value"], ALIASES[draw(st.sampled_from(["N", "D", "C"]))]):
            header.insert(draw(st.integers(0, len(header))), draw(st.sampled_from(names)))
    header = header or ["x"]
    width = len(header)
    n_rows = draw(st.integers(0, 6))
    ragged = draw(st.integers(0, 4)) == 0
    rows = [header] + [draw(st.lists(cells(), min_size=max(0, width - ragged), max_size=width + ragged))
                       for _ in range(n_rows)]
    delimiter = draw(st.sampled_from([",", ";", "\t", "|", ":", " "]))
    text = _write(rows, delimiter, draw(st.sampled_from(["\n", "\r\n", "\r"])), draw(st.booleans()))
    if draw(st.booleans()):
        text = draw(st.sampled_from(["", "\n\n", "sep=;\n", "sep=,\r\n", "\ufeff", "  \n"])) + text
    kwargs = {}
    if draw(st.integers(0, 4)) == 0:
        kwargs["column_map"] = draw(st.dictionaries(st.sampled_from(list(ALIASES) + ["bogus"]),
                                                    st.sampled_from(header + [None]), max_size=3))
    if draw(st.integers(0, 6)) == 0:
        kwargs["max_runs"] = draw(st.integers(1, 3))
    return _encode(draw, text), kwargs


@st.composite
def damaged_bytes(draw) -> tuple[bytes, dict]:
    """Valid-looking files cut short or with random bytes spliced in, and plain random bytes."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=200)), {}
    data, kwargs = draw(plausible_files())
    raw = data.encode("utf-8") if isinstance(data, str) else data
    cut = draw(st.integers(0, len(raw)))
    junk = draw(st.binary(max_size=8))
    return raw[:cut] + junk + raw[cut + len(junk):], kwargs


@st.composite
def parquet_files(draw) -> tuple[bytes, dict]:
    """Small Parquet files with text or numeric columns (sometimes truncated)."""
    names = ["loss", draw(st.sampled_from(["N", "tokens", "flops"]))] + draw(
        st.lists(st.sampled_from(["run", "step", "metric", "flops", "x", "unit"]), max_size=3))
    names = list(dict.fromkeys(names))
    n = draw(st.integers(1, 5))
    data = {}
    for c in names:
        if draw(st.booleans()):
            data[c] = pd.Series([draw(cells()) for _ in range(n)], dtype=object)
        else:
            data[c] = pd.Series(draw(st.lists(st.floats(allow_nan=True, allow_infinity=True) | st.none(),
                                              min_size=n, max_size=n)), dtype="float64")
    buf = io.BytesIO()
    pd.DataFrame(data).to_parquet(buf)
    raw = buf.getvalue()
    if draw(st.integers(0, 9)) == 7:                # rarely (Hypothesis favours 0, so not 0)
        raw = raw[:draw(st.integers(len(raw) // 2, len(raw)))]
    return raw, {"filename": "runs.parquet"}


def upload_inputs():
    """Every kind of input, weighted towards files that get far into the reader."""
    return st.one_of(plausible_files(), adversarial_files(), adversarial_files(), damaged_bytes(),
                     parquet_files())


def check_upload(up: Upload) -> None:
    """Assert the invariants of an accepted upload (schema, finiteness, sizes, ids)."""
    runs, points, rep = up.runs, up.points, up.report
    assert list(runs.columns) == list(RUN_COLUMNS)
    assert list(points.columns) == list(POINT_COLUMNS)
    assert len(points) > 0 and len(runs) > 0
    assert rep.points_kept == len(points) and rep.runs == len(runs)
    assert np.isfinite(points["value"].to_numpy(dtype=float)).all()
    for col in ("tokens", "flops"):
        v = points[col].to_numpy(dtype=float)
        assert (np.isnan(v) | (np.isfinite(v) & (v > 0))).all(), col
    st_ = points["step"].to_numpy(dtype=float)
    assert (np.isnan(st_) | (np.isfinite(st_) & (st_ >= 0))).all()
    for col in ("params", "tokens", "flops", "unique_tokens"):
        v = runs[col].to_numpy(dtype=float)
        assert (np.isnan(v) | (np.isfinite(v) & (v > 0))).all(), col
    has_size = ~(np.isnan(points["tokens"].to_numpy(dtype=float)) & np.isnan(points["flops"].to_numpy(dtype=float)))
    params = runs.set_index("run_id")["params"].reindex(points["run_id"]).to_numpy(dtype=float)
    assert (has_size | ~np.isnan(params)).all()
    assert runs["run_id"].is_unique
    assert runs["run_id"].str.startswith("upload/").all() and runs["family"].str.startswith("upload/").all()
    assert (runs["source"] == "upload").all()
    assert set(points["run_id"]) <= set(runs["run_id"])
    assert points["split"].isin(SPLITS).all() and points["unit"].isin(UNITS).all()
    for name in ("model", "family"):
        assert not runs[name].str.match(r"^(upload/)?[=+\-@\t\r]").any()
        assert (runs[name].str.len() <= 200 + len("upload/")).all()
    assert len(rep.rejected) <= rep.n_rejected == sum(rep.rejection_counts.values())
    for row, column, reason in rep.rejected:
        assert row >= 1 and column and reason


def check_outcome(data, kwargs: dict) -> str:
    """Run the reader; return 'accepted' or 'rejected', raising AssertionError on anything else."""
    try:
        up = read_upload(data, **kwargs)
    except UploadError as e:
        assert str(e).strip(), "UploadError without a message"
        assert e.row is None or e.row >= 1
        return "rejected"
    check_upload(up)
    return "accepted"
