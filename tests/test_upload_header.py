"""read_header: the column names the Upload page offers, read exactly as read_upload reads the file."""
from __future__ import annotations

import io

import pandas as pd
import pytest

from datasets.upload import UploadError, example_csv, read_header, read_upload


def test_header_of_the_example_matches_the_report():
    raw = example_csv().encode()
    assert read_header(raw, "example.csv") == ["run", "family", "N", "D", "step", "metric", "value", "unit", "lr"]
    mapped = read_upload(raw, filename="example.csv").report.mapping
    assert set(mapped.values()) <= set(read_header(raw, "example.csv"))


@pytest.mark.parametrize("raw, expected", [
    ("sep=;\nModel ; Params (M);val loss\na;125;3.1\n".encode(), ["Model", "Params (M)", "val loss"]),
    ("\n\n  run\tN\tloss\nx\t1\t2\n".encode(), ["run", "N", "loss"]),
    ("run|N|loss\nx|1|2\n".encode("utf-16"), ["run", "N", "loss"]),                    # BOM decides
    ("\ufeffrun,N,Verlust (Nats)\nx,1,2\n".encode("utf-8"), ["run", "N", "Verlust (Nats)"]),
    ("run,N,Größe\nx,1,2\n".encode("cp1252"), ["run", "N", "Größe"]),                  # Excel's Windows CSV
    ('"run, name",N,loss\n"a, b",1,2\n'.encode(), ["run, name", "N", "loss"]),
])
def test_encodings_delimiters_and_preambles(raw, expected):
    assert read_header(raw, "f.csv") == expected


def test_parquet_reads_only_the_schema():
    buf = io.BytesIO()
    pd.DataFrame({"run": ["a"], "Params": [1e6], "val_loss": [3.0]}).to_parquet(buf)
    assert read_header(buf.getvalue(), "runs.parquet") == ["run", "Params", "val_loss"]
    assert read_header(buf.getvalue(), None) == ["run", "Params", "val_loss"]     # the magic bytes decide


def test_a_large_file_is_read_from_its_head_only():
    rows = "".join(f"r{i},{i + 1}e6,{3 + i % 7}.25,é\n" for i in range(60_000))
    raw = ("run,N,loss,note\n" + rows).encode()
    assert len(raw) > 1_000_000
    assert read_header(raw, "big.csv") == ["run", "N", "loss", "note"]


@pytest.mark.parametrize("raw, filename, needle", [
    (b"", "f.csv", "empty"),
    (b"   \n\n", "f.csv", "empty"),
    (b"PK\x03\x04rest", "book.xlsx", "ZIP"),
    (b"\x1f\x8b\x08rest", "f.csv.gz", "gzip"),
    (b"just,one\x00binary", "f.csv", "NUL"),
    (b"loss\n1\n2\n", "f.csv", "single column"),
    (b"not parquet", "f.parquet", "Parquet"),
    (b"PAR1 truncated junk", "f.parquet", "Parquet"),
])
def test_unreadable_files_raise_the_readers_error(raw, filename, needle):
    with pytest.raises(UploadError) as e:
        read_header(raw, filename)
    assert needle.lower() in str(e.value).lower() and e.value.fix
    with pytest.raises(UploadError):
        read_upload(raw, filename=filename)


def test_only_bytes_are_accepted():
    with pytest.raises(TypeError):
        read_header("run,N,loss\n", "f.csv")
