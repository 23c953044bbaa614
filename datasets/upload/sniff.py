"""Stage 1 of the upload reader: bytes -> a table of text cells (:class:`~datasets.upload.table.Table`).

Recognises Parquet, refuses other binary formats by name (ZIP/Excel, gzip, OLE), decodes text (byte-order
mark, strict UTF-8, then Windows-1252 with a warning), honours an Excel ``sep=`` line, sniffs the delimiter
and parses every cell as text. See :mod:`datasets.upload` ("Decisions") for the rules.
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from datasets.upload.errors import CONTROL_RE, DELIMITERS, UploadError, megabytes
from datasets.upload.table import Table, text_column


_FIELDS_RE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_EOF_RE = re.compile(r"EOF inside string starting at row (\d+)")


def read_input(data, filename: str | None, max_bytes: int) -> tuple[bytes | str, str | None]:
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
    elif isinstance(data, str):
        raw = data
    elif isinstance(data, Path):
        filename = filename or data.name
        try:
            size = data.stat().st_size
            if size > max_bytes:
                raise UploadError(f"The file is {megabytes(size)}, above the {megabytes(max_bytes)} limit.",
                                  fix="Upload fewer rows (e.g. fewer checkpoints per run) or raise max_bytes.")
            raw = data.read_bytes()
        except OSError as e:
            raise UploadError(f"Cannot read {str(data)!r}: {e.strerror or e}.",
                              fix="Check the path and the file's permissions.") from None
    elif hasattr(data, "read"):
        filename = filename or getattr(data, "name", None)
        raw = data.read(max_bytes + 1)
        if not isinstance(raw, (bytes, str)):
            raise TypeError("read_upload: file object must return bytes or str")
    else:
        raise TypeError(f"read_upload takes bytes, str, a Path or a binary file, not {type(data).__name__}")
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise UploadError(f"The file is {'over ' if hasattr(data, 'read') else ''}{megabytes(size)}, "
                          f"above the {megabytes(max_bytes)} limit.",
                          fix="Upload fewer rows (e.g. fewer checkpoints per run) or raise max_bytes.")
    return raw, filename


def decode(raw: bytes) -> tuple[str, str, list[str]]:
    """Bytes -> text, the encoding used, and warnings (see the module's Decisions: Encoding)."""
    boms = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"), (b"\xef\xbb\xbf", "utf-8-sig"),
            (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
    for bom, enc in boms:
        if raw.startswith(bom):
            try:
                return raw.decode(enc), enc, []
            except UnicodeDecodeError as e:
                raise UploadError(f"The file starts with a {enc.upper()} byte-order mark but is not valid "
                                  f"{enc.upper()} (byte {e.start}).",
                                  fix="Save it again as 'CSV UTF-8'.") from None
    if b"\x00" in raw:
        head = raw[:4096]
        utf16 = head[1::2].count(0) > len(head) // 4 or head[0::2].count(0) > len(head) // 4
        what = ("looks like UTF-16 text without a byte-order mark" if utf16 else
                "contains NUL bytes, so it is a binary file, not a text CSV")
        raise UploadError(f"The file {what}.",
                          fix="Export your runs as 'CSV UTF-8' (or Parquet) and upload that.")
    try:
        return raw.decode("utf-8"), "utf-8", []
    except UnicodeDecodeError as e:
        first_bad = e.start
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError:
        raise UploadError(f"The file is not UTF-8 (invalid byte at offset {first_bad}) nor Windows-1252 text.",
                          fix="Save it as 'CSV UTF-8' and upload again.") from None
    return text, "cp1252", [f"The file is not UTF-8 (invalid byte at offset {first_bad}); it was read as "
                            "Windows-1252. If names look garbled, save it as 'CSV UTF-8'."]


def count_lines(text: str) -> int:
    n = text.count("\n") + text.count("\r") - text.count("\r\n")
    return n + (1 if text and text[-1] not in "\r\n" else 0)


def sniff(text: str) -> tuple[str, list[str], int]:
    """Choose the delimiter; return it, the header fields and the header's number of lines."""
    sample = text[:65_536]
    best = None
    for rank, d in enumerate(DELIMITERS):
        reader = csv.reader(io.StringIO(sample, newline=""), delimiter=d)
        records, header_lines = [], 0
        try:
            for rec in reader:
                records.append(rec)
                if len(records) == 1:
                    header_lines = reader.line_num
                if len(records) > 50:
                    break
        except csv.Error:
            continue
        if len(text) > len(sample) and len(records) > 2:
            records = records[:-1]               # the sample may cut the last record
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        body = [r for r in records[1:] if r]
        share = sum(len(r) == width for r in body) / len(body) if body else 1.0
        score = (share, width, -rank)
        if best is None or score > best[0]:
            best = (score, d, records, header_lines)
    if best is None:
        first = text.splitlines()[0] if text.splitlines() else ""
        raise UploadError(f"Found a single column (header {first[:80]!r}): the values must be separated "
                          "by commas, semicolons, tabs or '|'.",
                          fix="Export the file as CSV with one of these delimiters, one header row naming "
                              "the columns (e.g. run,N,D,step,loss).")
    _, d, records, header_lines = best
    width = len(records[0])
    for k, rec in enumerate(records[1:], start=1):
        if len(rec) > width:
            raise UploadError(f"Row {k} has {len(rec)} fields but the header has {width} "
                              f"(delimiter {d!r}).", row=k,
                              fix=f"Quote values that contain {d!r} (\"...\"), or add the missing header names.")
    return d, records[0], header_lines


def preamble(text: str) -> tuple[str, int, str | None]:
    """Drop blank lines above the header and an Excel ``sep=`` line: the remaining text, the number of
    file lines dropped, and the delimiter the ``sep=`` line asked for (None without one)."""
    stripped = text.lstrip(" \t\r\n")
    if not stripped:
        raise UploadError("The file is empty.", fix="Upload a CSV with a header row and at least one data row.")
    lead = count_lines(text[:len(text) - len(stripped)])
    lead -= 1 if lead and text[len(text) - len(stripped) - 1] not in "\r\n" else 0
    text = text[len(text) - len(stripped):]
    forced = re.match(r"sep=(.)\r?\n|sep=(.)\r", text)
    if not forced:
        return text, lead, None
    d = forced.group(1) or forced.group(2)
    if d not in DELIMITERS:
        raise UploadError(f"The file's 'sep=' line asks for the delimiter {d!r}.",
                          fix="Use commas, semicolons, tabs or '|'.")
    return text[forced.end():], lead + 1, d


def parse_csv(text: str, encoding: str | None, max_rows: int) -> Table:
    warnings: list[str] = []
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text:
        raise UploadError("The file contains NUL characters, so it is not a text CSV.",
                          fix="Export your runs as 'CSV UTF-8' (or Parquet) and upload that.")
    head = text[:65_536]
    controls = len(CONTROL_RE.findall(head.replace("\t", "").replace("\n", "").replace("\r", "")))
    if head and controls > 0.05 * len(head):
        raise UploadError("The file is mostly control characters, so it is not a text CSV.",
                          fix="Export your runs as 'CSV UTF-8' (or Parquet) and upload that.")
    text, lead, forced = preamble(text)
    delim, header, header_lines = sniff(text)
    if forced and delim != forced:
        warnings.append(f"The file's 'sep={forced}' line was overridden: its rows are separated by {delim!r}.")
    try:
        frame = pd.read_csv(io.StringIO(text), sep=delim, header=0, dtype=str, na_filter=False,
                            skip_blank_lines=False, engine="c", quotechar='"', doublequote=True,
                            nrows=max_rows + 1)
    except pd.errors.EmptyDataError:
        raise UploadError("The file is empty.", fix="Upload a CSV with a header row and data rows.") from None
    except (pd.errors.ParserError, ValueError, OverflowError) as e:
        msg = str(e)
        m = _FIELDS_RE.search(msg)
        if m:
            row = int(m.group(2)) - 1           # pandas counts records, the header being record 1
            raise UploadError(f"Row {row} has {m.group(3)} fields but the header has {m.group(1)} "
                              f"(delimiter {delim!r}).", row=row,
                              fix=f"Quote values that contain {delim!r} (\"...\"), or fix that row.") from None
        m = _EOF_RE.search(msg)
        if m:
            row = int(m.group(1)) or None      # pandas' row 0 is the header
            raise UploadError(f"A quote opened in {f'row {row}' if row else 'the header'} is never closed.",
                              row=row, fix='Close the quote, or double quotes inside quoted values ("").') from None
        raise UploadError(f"The CSV cannot be parsed: {msg.splitlines()[0] if msg else type(e).__name__}.",
                          fix="Export the file again as a plain CSV.") from None
    if not isinstance(frame.index, pd.RangeIndex) or frame.shape[1] != len(header):
        raise UploadError(f"The rows have more fields than the header's {len(header)}.", row=1,
                          fix="Add the missing header names, or quote values that contain "
                              f"{delim!r}.")
    frame.columns = range(frame.shape[1])
    if len(frame) > max_rows:
        raise UploadError(f"The file has more than {max_rows:,} rows, the limit.",
                          fix="Keep fewer checkpoints per run, or raise max_rows.")
    if frame.empty:
        raise UploadError("The file has a header but no data rows.", fix="Add at least one row of data.")
    first = frame[0].str.strip() == ""
    blank = first.to_numpy() & np.logical_and.reduce([(frame[c] == "").to_numpy() for c in frame.columns[1:]]
                                                     or [np.ones(len(frame), bool)])
    exact = count_lines(text) == header_lines + len(frame)
    rownum = np.flatnonzero(~blank) + 1
    if blank.all():
        raise UploadError("The file has a header but no data rows.", fix="Add at least one row of data.")
    frame = frame.loc[~blank].reset_index(drop=True)
    return Table(header=header, frame=frame, rownum=rownum, fmt="csv", encoding=encoding, delimiter=delim,
                  line_offset=lead + header_lines if exact else None, warnings=warnings)


def parse_parquet(raw: bytes, max_rows: int) -> Table:
    import pyarrow.parquet as pq
    try:
        pf = pq.ParquetFile(io.BytesIO(raw))
        n = pf.metadata.num_rows
        if n > max_rows:
            raise UploadError(f"The Parquet file has {n:,} rows, above the limit of {max_rows:,}.",
                              fix="Keep fewer checkpoints per run, or raise max_rows.")
        table = pf.read()
    except UploadError:
        raise
    except Exception as e:  # pyarrow raises many types for corrupt input; all mean "unreadable"
        raise UploadError(f"The file is not a readable Parquet file ({type(e).__name__}: "
                          f"{str(e).splitlines()[0][:200] if str(e) else ''}).",
                          fix="Write it again with pandas.DataFrame.to_parquet or pyarrow, or upload a CSV.") from None
    header = [str(c) for c in table.column_names]
    if table.num_rows == 0:
        raise UploadError("The Parquet file has no rows.", fix="Upload a file with at least one row.")
    frame = pd.DataFrame({i: text_column(col) for i, col in enumerate(table.columns)})
    return Table(header=header, frame=frame, rownum=np.arange(1, len(frame) + 1), fmt="parquet")


def is_parquet(raw: bytes, filename: str | None) -> bool:
    """Whether ``raw`` is a Parquet file; raise :class:`UploadError` for a file named ``.parquet`` that is
    not one, and for ZIP/Excel, gzip and OLE files (named as such)."""
    if raw.startswith(b"PAR1"):
        return True
    suffix = Path(filename).suffix.lower() if filename else ""
    if suffix in (".parquet", ".pq"):
        raise UploadError(f"{filename!r} is named like a Parquet file but does not start with 'PAR1'.",
                          fix="Upload the Parquet file itself, or a CSV.")
    for magic, what in ((b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook?)"),
                        (b"\x1f\x8b", "gzip-compressed"), (b"\xd0\xcf\x11\xe0", "an old Excel .xls workbook")):
        if raw.startswith(magic):
            raise UploadError(f"The file is {what}, not a CSV.",
                              fix="Export the sheet as 'CSV UTF-8' (or decompress it) and upload that.")
    return False


def parse(raw: bytes | str, filename: str | None, max_rows: int) -> Table:
    """Bytes (or CSV text) -> :class:`Table`: Parquet or CSV, decoded and sniffed as described above."""
    if isinstance(raw, str):
        try:
            raw.encode("utf-8")
        except UnicodeEncodeError:
            raise UploadError("The text contains invalid Unicode (unpaired surrogates).",
                              fix="Save the file as 'CSV UTF-8' and upload the bytes.") from None
        if not raw.strip():
            raise UploadError("The file is empty.", fix="Upload a CSV with a header row and data rows.")
        return parse_csv(raw, None, max_rows)
    if not raw.strip():
        raise UploadError("The file is empty.", fix="Upload a CSV with a header row and data rows.")
    if is_parquet(raw, filename):
        return parse_parquet(raw, max_rows)
    text, encoding, warnings = decode(raw)
    table = parse_csv(text, encoding, max_rows)
    table.warnings[:0] = warnings
    return table


_HEAD_BYTES = 1 << 18
_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")   # UTF-16/32: cannot be cut at a b"\n"


def header(raw: bytes, filename: str | None) -> list[str]:
    """The column names of a CSV or Parquet file as :func:`parse` reads them (surrounding spaces stripped),
    reading only the Parquet schema or the first 256 KB of a CSV."""
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise TypeError(f"read_header takes bytes, not {type(raw).__name__}")
    raw = bytes(raw)
    if not raw.strip():
        raise UploadError("The file is empty.", fix="Upload a CSV with a header row and data rows.")
    if is_parquet(raw, filename):
        import pyarrow.parquet as pq
        try:
            names = pq.read_schema(io.BytesIO(raw)).names
        except Exception as e:  # pyarrow raises many types for corrupt input; all mean "unreadable"
            raise UploadError(f"The file is not a readable Parquet file ({type(e).__name__}).",
                              fix="Write it again with pandas.DataFrame.to_parquet or pyarrow, "
                                  "or upload a CSV.") from None
        return [str(c).strip() for c in names]
    if len(raw) > _HEAD_BYTES and not raw.startswith(_WIDE_BOMS):
        cut = raw.rfind(b"\n", 0, _HEAD_BYTES)
        raw = raw[:cut + 1] if cut > 0 else raw
    text, _, _ = decode(raw)
    if text.startswith("\ufeff"):
        text = text[1:]
    text, _, _ = preamble(text)
    return [c.strip() for c in sniff(text)[1]]
