"""ui.format: numbers with units, Markdown escaping, URL values, slider scales, parameter tables (no Streamlit)."""
from __future__ import annotations

import math
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ui.format import (MAX_SAFE_INTEGER, SCIENTIFIC, code, escape, finite, interval, number_format, parameter_table,
                       quantity, scale_options, scaled_header, slug, table_scale, url_value)


def test_importing_format_does_not_import_streamlit():
    out = subprocess.run([sys.executable, "-c", "import sys, ui.format; print('streamlit' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("value, unit, kwargs, text", [
    (70e6, "params", {}, "70M parameters"),
    (70e6, "parameters", {}, "70M parameters"),
    (562e6, "params", {"digits": 2}, "562M parameters"),
    (1.3e12, "tokens", {}, "1.3T tokens"),
    (999.0, "steps", {}, "999 steps"),
    (1.2e21, "FLOPs", {}, "1.2e21 FLOPs"),
    (5.76e23, "FLOPs", {}, "5.76e23 FLOPs"),
    (2345.6, "GPU-hours", {}, "2,346 GPU-hours"),
    (12.34, "GPU-hours", {}, "12.3 GPU-hours"),
    (1.8172, "nats", {}, "1.817 nats"),
    (0.125, "%", {}, "12.50%"),
    (0.5, None, {}, "0.5"),
    (70e6, "params", {"short": True}, "70M"),
    (1.2e21, "FLOPs", {"short": True}, "1.2e21"),
    (1.8172, "nats", {"short": True}, "1.817"),
])
def test_quantity_writes_the_unit(value, unit, kwargs, text):
    assert quantity(value, unit, **kwargs) == text


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), None, "abc", True])
def test_quantity_of_a_non_number_is_na(bad):
    assert quantity(bad, "nats") == "n/a" and not finite(bad)


def test_interval_writes_the_unit_once():
    assert interval((1e9, 2e9), "params") == "95% CI 1B to 2B parameters"
    assert interval((1.7, 1.9), "nats") == "95% CI 1.7 to 1.9 nats"
    assert interval((1e21, 1e22), "FLOPs") == "95% CI 1e21 to 1e22 FLOPs"
    for missing in (None, (), (float("nan"), 1.0)):
        assert interval(missing, "nats").startswith("no interval")


def test_escape_neutralises_every_markdown_special():
    raw = "**bold** <b>x</b> [link](http://e) $x$ :red[y] `c` # h | t ~s~"
    text = escape(raw)
    assert re.search(r"(?<!\\)[*<>\[\]()$:`#|~]", text) is None
    assert text.replace("\\", "") == raw.replace("\\", "")
    assert code("a`b\nc") == "`a'b c`"


@given(st.text(max_size=60))
def test_escape_keeps_the_text(raw):
    assert re.sub(r"\\(.)", r"\1", escape(raw)) == raw


def test_slug_is_a_safe_file_name():
    assert slug("chinchilla-epoch/chinchilla_val loss") == "chinchilla-epoch_chinchilla_val_loss"
    assert slug("../../etc/passwd") == ".._.._etc_passwd"
    assert slug("///") == "data" and len(slug("x" * 500)) == 80


@pytest.mark.parametrize("value, text", [(True, "1"), (False, "0"), (np.bool_(True), "1"), (5.76e23, "5.76e23"),
                                          (1e9, "1e9"), (0.3, "0.3"), (12345.0, "12345"), (2.5e-5, "2.5e-5"),
                                          (0.0, "0"), (float("inf"), "inf"), ("kaplan", "kaplan"), (200, "200")])
def test_url_value_is_short_and_exact(value, text):
    assert url_value(value) == text


@given(st.floats(min_value=-1e300, max_value=1e300, allow_nan=False))
def test_url_value_round_trips_floats_to_ten_digits(v):
    assert math.isclose(float(url_value(v)), v, rel_tol=1e-9, abs_tol=0.0)


def test_scale_options_are_round_values_covering_the_range():
    assert scale_options(1e18, 1e19) == [1e18, 1.8e18, 3.2e18, 5.6e18, 1e19]
    opts = scale_options(3e7, 2e11)
    assert opts[0] <= 3e7 and opts[-1] >= 2e11 and opts == sorted(opts)
    assert all(float(f"{o:.2g}") == o for o in opts)


def test_parameter_table_lists_values_intervals_and_units():
    from analysis.fit import fit_law
    from tests._synthetic import sample

    frame = sample("chinchilla", np.random.default_rng(0))
    fit = fit_law(frame, "chinchilla", bootstrap=20)
    table = parameter_table(fit, "nats")
    assert list(table["parameter"]) == ["E", "A", "B", "alpha", "beta"]
    assert list(table.columns) == ["parameter", "value", "95% CI low", "95% CI high", "unit", "meaning"]
    rows = table.set_index("parameter")
    assert rows.loc["E", "unit"] == "nats" and rows.loc["alpha", "unit"] == "dimensionless"
    assert (rows["95% CI low"] <= rows["value"]).all() and (rows["value"] <= rows["95% CI high"]).all()
    no_boot = parameter_table(fit_law(frame, "chinchilla", bootstrap=0), "nats")
    assert no_boot["95% CI low"].isna().all() and isinstance(no_boot, pd.DataFrame)


@pytest.mark.parametrize("values, fmt", [
    ([0.0947, 8.8e13, 5.4e13], SCIENTIFIC),          # Kaplan's alpha and N_c, D_c: never raw digits
    ([1.2e21, 3.4e22], SCIENTIFIC),                  # FLOPs
    ([3e-4, 1e-3], SCIENTIFIC),                      # learning rates: not rounded to 0.0003
    ([1.817, 482.0, 2085.4, 0.348], None),           # Streamlit's default draws these well
    ([0.0, 0.5], None),
    ([float("nan"), None], None),
    (np.array([243_000, 12], dtype=np.int64), "localized"),   # 243,000
    (np.array([4, 17], dtype=np.int64), None),
    (np.array([True, False]), None),
])
def test_number_format_of_a_column(values, fmt):
    assert number_format(values) == fmt


@pytest.mark.parametrize("values, k", [
    ([1e15, 9e15], 0), ([float(MAX_SAFE_INTEGER)], 0), ([np.nan, 1e3], 0), ([], 0),
    ([6.986e17, 1e26], 18), ([-2e16], 18), ([1e34], 21), ([1e38, np.inf], 24),
])
def test_table_scale_brings_every_value_under_two_to_the_53(values, k):
    assert table_scale(values) == k
    finite_ = [abs(v) for v in values if np.isfinite(v)]
    assert all(v / 10.0 ** k <= MAX_SAFE_INTEGER for v in finite_)


@given(st.lists(st.floats(min_value=-1e300, max_value=1e300, allow_nan=False), max_size=20))
def test_a_scaled_column_is_never_an_unsafe_integer(values):
    k = table_scale(values)
    assert all(not (v / 10.0 ** k).is_integer() or abs(v / 10.0 ** k) <= MAX_SAFE_INTEGER for v in values)


def test_scaled_header_puts_the_scale_into_the_unit():
    assert scaled_header("compute (FLOPs)", 18) == "compute (1e18 FLOPs)"
    assert scaled_header("compute (FLOPs) 95% low", 18) == "compute (1e18 FLOPs) 95% low"
    assert scaled_header("FLOPs C", 18) == "FLOPs C (× 1e18)"
    assert scaled_header("compute (FLOPs)", 0) == "compute (FLOPs)"
    assert scaled_header("Hoffmann et al. (2022)", 18) == "Hoffmann et al. (2022) (× 1e18)"
    assert scaled_header("gap (%)", 18) == "gap (%) (× 1e18)"
