"""Every number in the dashboard's tables is drawn readably: no raw digits (Kaplan's N_c = 8.8e13 as
88000000000000), no value rounded away (3e-4 as 0.0003), whatever the page (AppTest).

AppTest does not draw a table; :func:`drawn` models how Streamlit's frontend writes a cell for the
column's configured format (``streamlit/static/.../formatNumber.js`` and its sprintf): the default is
numbro with up to 4 decimals and no exponent, printf ``%g`` goes through a JavaScript number (so
``%.5g`` of 8.8e13 is written 88000000000000), ``%e`` is ``toExponential``. Whatever the format, a
number column writes a value past 2^53 (every double from 9.007e15 up is an integer) as its raw digits,
with an error marker: ``NumberColumn.getCell`` rejects integers that are not "safe" (FLOPs are).
"""
from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from datasets.upload import example_csv
from ui.format import MAX_SAFE_INTEGER          # JavaScript's Number.MAX_SAFE_INTEGER
from tests.test_app_pages import ROOT, TIMEOUT, app_env, run_page  # noqa: F401  (app_env is a fixture)

RAW_DIGITS = re.compile(r"\d{7,}")


def _js_string(x: float) -> str:
    """JavaScript's String(number): the shortest round-trip digits, without an exponent from 1e-6 to 1e21."""
    if x == 0 or not 1e-6 <= abs(x) < 1e21:
        return repr(x) if x else "0"
    return np.format_float_positional(x, trim="-")


def drawn(x: float, fmt: str | None) -> str:
    """The text Streamlit's dataframe shows for ``x`` under NumberColumn ``format=fmt``."""
    if float(x).is_integer() and abs(x) > MAX_SAFE_INTEGER:
        return _js_string(float(x))                    # an error cell: String(value), the format unused
    if fmt in (None, ""):
        exp = int(f"{x:e}".split("e")[1])
        mantissa = 4 if x == 0 or abs(x) >= 1e-4 else abs(exp)
        text = f"{x:.{mantissa}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    if fmt == "localized":
        return f"{x:,.{0 if x == round(x) else 3}f}"
    if fmt == "percent":
        return f"{100 * x:.2f}%"
    m = re.fullmatch(r"%\.(\d+)([efgd])", fmt)
    assert m, f"a format this test does not model: {fmt}"
    digits, kind = int(m.group(1)), m.group(2)
    if kind == "e":
        return f"{x:.{digits}e}"
    if kind == "f":
        return f"{x:.{digits}f}"
    if kind == "d":
        return str(int(x))
    return _js_string(float(f"{x:.{digits}e}"))        # toPrecision, then back through a JS number


def _value_of(text: str) -> float:
    text = text.replace(",", "")
    return float(text[:-1]) / 100 if text.endswith("%") else float(text)


def unreadable(x: float, fmt: str | None) -> str | None:
    """Why ``x`` drawn with ``fmt`` is not readable (None when it is)."""
    text = drawn(x, fmt)
    if RAW_DIGITS.search(text):
        return f"{x!r} drawn as raw digits {text!r}"
    if x != 0 and not math.isclose(_value_of(text), x, rel_tol=0.02):
        return f"{x!r} drawn as {text!r} (precision lost)"
    return None


@pytest.mark.parametrize("x, fmt, text", [
    (8.8e13, None, "88000000000000"), (8.8e13, "%.5g", "88000000000000"), (8.8e13, "%.3e", "8.800e+13"),
    (0.348, None, "0.348"), (2085.4, None, "2085.4"), (3e-4, None, "0.0003"), (243000, "localized", "243,000"),
    (1e24, "%.4g", "1e+24"), (6.986e17, "%.3e", "698600000000000000"), (9e15, "%.3e", "9.000e+15"),
])
def test_the_model_of_streamlit_drawing(x, fmt, text):
    assert drawn(x, fmt) == text


def test_the_check_catches_raw_digits_and_lost_precision():
    assert unreadable(8.8e13, "%.5g") and unreadable(8.8e13, None) and unreadable(3.4e-4, None)
    assert not unreadable(8.8e13, "%.3e") and not unreadable(0.348, None) and not unreadable(3.4e-4, "%.3e")
    assert unreadable(6.986e17, "%.3e")                # FLOPs: past 2^53 whatever the format


def _problems(at, where: str) -> list[str]:
    """Every unreadable cell of every table on the page (the first per column)."""
    problems = []
    for df in at.dataframe:
        config = json.loads(df.proto.columns or "{}")
        value = df.value
        for col in value.columns:
            if value[col].dtype.kind not in "fiu":
                continue
            conf = config.get(str(col)) or config.get(f"col:{col}") or {}
            fmt = (conf.get("type_config") or {}).get("format")
            for x in value[col].dropna():
                why = unreadable(float(x), fmt)
                if why:
                    problems.append(f"{where}, column {col!r}: {why} (format {fmt!r})")
                    break
    return problems


VIEWS = [
    ("Home", {}, {"home_families_open": True, "home_values_open": True,   # families' size ranges, the tables
                  "home_sources_open": True}),
    ("Fit", {"law": "kaplan"}, {}),                                # Nc, Dc ~ 1e13
    ("Fit", {"view": "compare", "compare": "law", "law2": "kaplan"}, {}),
    ("Fit", {"view": "backtest"}, {}),
    ("Browse", {}, {}),
    ("Allocate", {}, {"alloc_table_open": True}),                  # the frontier table (drawn when opened)
    ("Crossover", {}, {}),
    ("Downstream", {}, {}),
    ("Hyperparameters", {}, {}),                                   # lr ~ 1e-3, batch ~ 1e6 tokens
]


TEXT_KINDS = ("markdown", "caption", "metric", "info", "warning", "error", "success", "subheader", "header", "title",
              "text", "expander")
WIDGET_KINDS = ("selectbox", "number_input", "slider", "select_slider", "radio", "text_input", "toggle", "checkbox",
                "multiselect")
RAW_IN_TEXT = re.compile(r"(?<![\w.#-])\d{7,}(?!\w)")        # 7+ digits standing alone (not 1e+24, not an id)


def _raw_texts(at) -> list[str]:
    """Every number of 7+ digits in the page's text, metrics, labels and help (code blocks aside: an
    example file's contents are shown as they are)."""
    found = []
    for t in at.table:             # static tables (ui.output.table(static=True)): their headers and cells are text
        for text in [*map(str, t.value.columns), *t.value.astype(str).to_numpy().ravel()]:
            found += [f"table: {text}" for m in RAW_IN_TEXT.finditer(text)]
    for kind in TEXT_KINDS + WIDGET_KINDS:
        for el in at.get(kind):
            for attr in ("value", "label", "body", "help"):
                text = getattr(el, attr, None)
                if isinstance(text, str):
                    found += [f"{kind}.{attr}: ...{text[max(0, m.start() - 50):m.end() + 20]}..."
                              for m in RAW_IN_TEXT.finditer(text)]
    return found


def test_the_text_check_catches_raw_digits():
    assert RAW_IN_TEXT.search("compute 698618368146855400 FLOPs") and RAW_IN_TEXT.search("N = 88000000000000")
    assert not any(RAW_IN_TEXT.search(t) for t in ("1.2e+21 FLOPs", "70M parameters", "row047", "#1234567a", "2,300"))


@pytest.mark.parametrize("page, params, session", VIEWS, ids=[f"{p}-{'-'.join(q.values()) or 'first'}"
                                                              for p, q, _ in VIEWS])
def test_every_table_number_is_readable(app_env, page, params, session):  # noqa: F811
    """Tables by the model of Streamlit's drawing; text, metrics, labels and help by the raw-digit check."""
    at = run_page(page, params, session)
    # a table (data grid or static) at least, and one per opened expander
    assert len(at.dataframe) + len(at.table) >= max(1, len(session)), f"{page}: a table is missing"
    assert _problems(at, page) == []
    assert _raw_texts(at) == []


def test_a_static_parameter_table_keeps_each_parameter_at_its_own_scale(app_env):  # noqa: F811
    """bnsl1's break point d1 is a FLOP count past 2^53, beside coefficients near 1: a data grid would rescale
    the whole column (a = 1.784e-18 in units of 1e18); the static table is text and writes each value as it is."""
    at = run_page("Fit", {"law": "bnsl1", "boot": "20"})
    params = next(t.value for t in at.table if "a" in set(t.value.iloc[:, 0].astype(str)))
    assert not any("1e18" in str(c) for c in params.columns), list(params.columns)
    by_name = params.set_index(params.columns[0])
    a = float(str(by_name.loc["a"].iloc[0]).split()[0])
    d1 = float(str(by_name.loc["d1"].iloc[0]).split()[0])
    assert 0.5 < a < 10 and d1 > 1e15, (a, d1)


def test_the_upload_report_draws_flops_readably(app_env):  # noqa: F811
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "home.py"), default_timeout=TIMEOUT)
    at.switch_page("pages/4_Upload.py")
    at.run()
    at.file_uploader(key="upload_file_0").upload("runs.csv", example_csv().encode(), "text/csv").run()
    assert not at.exception, [e.value for e in at.exception]
    runs = next(d for d in at.dataframe if "flops" in d.value.columns)
    header = json.loads(runs.proto.columns)["flops"]["label"]
    assert header == "FLOPs C (× 1e18)"        # the example's FLOPs pass 2^53: shown in units of 1e18
    assert runs.value["flops"].max() > 1 and runs.value["flops"].max() < 1e9
    assert _problems(at, "Upload") == []


def test_a_value_and_its_bounds_share_one_scale():
    """D_opt below 2^53 and its upper bound past it: all three shown in units of 1e18, headers saying so."""
    from streamlit.testing.v1 import AppTest

    def script():
        import pandas as pd

        from ui import output
        output.table(pd.DataFrame({"D_opt": [8e15, 1e12], "D_opt_lo": [5e15, 9e11], "D_opt_hi": [2e16, 2e12],
                                   "loss": [2.0, 3.0]}), "t")

    at = AppTest.from_function(script, default_timeout=TIMEOUT).run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0]
    config = json.loads(table.proto.columns)
    assert [config[c]["label"] for c in ("D_opt", "D_opt_lo", "D_opt_hi")] == [
        "D* (1e18 tokens)", "D* (1e18 tokens) 95% low", "D* (1e18 tokens) 95% high"]
    assert table.value["D_opt"].tolist() == [8e15 / 1e18, 1e12 / 1e18]
    assert table.value["loss"].tolist() == [2.0, 3.0] and "loss" not in config
    assert _problems(at, "table") == []
