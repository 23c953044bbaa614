"""The fitted-law report: content of the JSON, Markdown and HTML renderings, escaping, offline HTML.

The main fixture fits Chinchilla's law to Epoch's extraction of the Chinchilla runs (five highest-loss
points left out, as Besiroglu et al. 2024 did) and renames two runs to hostile strings, so every check
below also exercises escaping.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import shlex
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from plotly.offline import get_plotlyjs, get_plotlyjs_version

from analysis.allocate import allocate, frontier
from analysis.backtest import backtest
from analysis.fit import fit_law
from analysis.report import build_report, param_unit, reproduce_command
from analysis.laws import get_law
from analysis.trend import trend_shape

HOSTILE_RUN = "<script>alert(1)</script>"
FORMULA_RUN = "=cmd|' /C calc'!A0"
HOSTILE_FAMILY = '<img src=x onerror="alert(2)">'
# Epoch (Besiroglu et al. 2024), Huber delta 1e-3, 240 points: estimates and 95% bootstrap CIs
EPOCH = {"E": (1.817, 1.769, 1.871), "A": (482.0, 285.2, 743.6), "B": (2085.4, 1042.4, 5810.3),
         "alpha": (0.348, 0.317, 0.373), "beta": (0.366, 0.331, 0.415)}


@pytest.fixture(scope="module")
def chinchilla_frame(data_dir) -> pd.DataFrame:
    path = data_dir / "chinchilla-epoch" / "data" / "svg_extracted_data.csv"
    assert path.is_file(), f"{path} not found"
    raw = pd.read_csv(path).sort_values("loss").iloc[:-5].reset_index(drop=True)
    N, C = raw["Model Size"].to_numpy(float), raw["Training FLOP"].to_numpy(float)
    frame = pd.DataFrame({"run": [f"chin{i:03d}" for i in range(len(raw))], "N": N, "D": C / (6 * N), "C": C,
                          "step": np.nan, "y": raw["loss"].to_numpy(float)})
    smallest = frame["N"].nsmallest(2).index          # listed first in the reports' run tables
    frame.loc[smallest[0], "run"] = HOSTILE_RUN
    frame.loc[smallest[1], "run"] = FORMULA_RUN
    return frame


@pytest.fixture(scope="module")
def chinchilla_fit(chinchilla_frame):
    return fit_law(chinchilla_frame, "chinchilla", bootstrap=200, seed=0)


@pytest.fixture(scope="module")
def report(chinchilla_frame, chinchilla_fit):
    bt = backtest(chinchilla_frame, "chinchilla")
    alloc = [allocate(chinchilla_fit, c) for c in (1e21, 1e23, 1e25)]
    kaplan = fit_law(chinchilla_frame, "kaplan", bootstrap=0)
    u = np.log10(np.geomspace(1e8, 1e10, 8))
    trend = trend_shape(10 ** u, 3.0 - 0.2 * u, higher_is_better=False, n_boot=50)
    source = {"kind": "store", "family": HOSTILE_FAMILY, "metric": "loss", "unit": "nats",
              "path": "/data/store <1>.duckdb"}
    return build_report(chinchilla_fit, chinchilla_frame, data_source=source, backtest=bt, allocation=alloc,
                        comparisons=[kaplan], trend=trend)


@pytest.fixture(scope="module")
def html_text(report) -> str:
    return report.to_html()


class _Tags(HTMLParser):
    """Collects every tag with its attributes and the text of inline scripts."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def _parse(text: str) -> _Tags:
    p = _Tags()
    p.feed(text)
    p.close()
    return p


# ------------------------------------------------------------------------------------------ JSON
def test_json_round_trip_and_strict(report):
    text = report.to_json()
    back = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert back == report.to_dict()
    assert json.loads(report.to_json(indent=None)) == back


def test_json_content_of_the_chinchilla_report(report, chinchilla_fit, chinchilla_frame):
    d = report.to_dict()
    assert d["law"]["name"] == "chinchilla" and d["formula"] == "L = E + A/N^alpha + B/D^beta"
    assert set(d["params"]) == set(d["ci"]) == {"E", "A", "B", "alpha", "beta"}
    for name, (lo, hi) in d["ci"].items():
        assert lo < d["params"][name] < hi
        assert d["params"][name] == pytest.approx(chinchilla_fit.params[name], rel=1e-12)
    # the published replication: point estimates inside our CIs, and ours close to theirs
    for name, (est, lo, hi) in EPOCH.items():
        ours_lo, ours_hi = d["ci"][name]
        assert ours_lo <= est <= ours_hi, name
    assert d["params"]["E"] == pytest.approx(1.817, abs=0.03)
    assert d["params"]["alpha"] == pytest.approx(0.348, abs=0.02)
    assert d["params"]["beta"] == pytest.approx(0.366, abs=0.03)
    units = {p["name"]: p["unit"] for p in d["parameters"]}
    assert units["E"] == "nats" and units["alpha"] == units["beta"] == "dimensionless"
    assert "parameters" in units["A"] and "tokens" in units["B"]
    data = d["data"]
    assert data["points"] == 240 and data["runs"] == 240 and data["metric"] == "loss" and data["unit"] == "nats"
    assert data["ranges"]["N"] == pytest.approx([chinchilla_frame["N"].min(), chinchilla_frame["N"].max()])
    assert data["ranges"]["C"][0] == pytest.approx(1.4e18, rel=0.05) and data["ranges"]["C"][1] == pytest.approx(1.3e22, rel=0.05)
    assert 40 <= data["sizes"] <= 240
    assert {r["run"] for r in data["run_table"]} >= {HOSTILE_RUN, FORMULA_RUN}   # JSON keeps raw strings
    assert d["backtest"]["law"] == "chinchilla" and 0 < d["backtest"]["are"] < 0.1
    assert [row["compute"] for row in d["allocation"]] == [1e21, 1e23, 1e25]
    row = d["allocation"][1]
    assert row["N_opt_lo"] < row["N_opt"] < row["N_opt_hi"]
    assert row["h100_hours_at_40pct"] == pytest.approx(1e23 / (3600 * 989e12 * 0.4))
    assert d["comparisons"][0]["law"] == "kaplan" and d["comparisons"][0]["n_params"] == 4
    assert d["analyses"]["trend"]["result"]["shape"] and d["analyses"]["trend"]["summary"]
    assert d["settings"]["bootstrap"] == 200 and d["settings"]["objective"] == "huber"
    assert d["versions"]["numpy"] == np.__version__ and d["versions"]["python"]
    assert d["fit"]["n_boot"] == 200


def test_reproduce_command_quotes_hostile_names(report):
    cmd = report.to_dict()["reproduce"]
    args = shlex.split(cmd)
    assert args[:4] == ["python", "-m", "analysis", "report"]
    assert args[args.index("--family") + 1] == HOSTILE_FAMILY
    assert args[args.index("--store") + 1] == "store <1>.duckdb"      # the file's name, not this machine's path
    assert args[args.index("--law") + 1] == "chinchilla" and args[args.index("--bootstrap") + 1] == "200"
    explicit = build_report(report.fit, report.frame, command="python -m analysis report --csv runs.csv")
    assert explicit.to_dict()["reproduce"] == "python -m analysis report --csv runs.csv"
    assert reproduce_command({"kind": "upload"}, {}) is None
    csv = reproduce_command({"kind": "csv", "path": "my runs.csv", "metric": "val loss"},
                            {"law": "power_c", "exclude_runs": ["a b"], "min_tokens": 1e10})
    assert shlex.split(csv)[4:] == ["--csv", "my runs.csv", "--metric", "val loss", "--law", "power_c",
                                    "--min-tokens", "10000000000.0", "--exclude-run", "a b", "--format", "html",
                                    "--out", "report.html"]


# -------------------------------------------------------------------------------------- Markdown
def test_markdown_tables_and_escaping(report):
    md = report.to_markdown()
    for heading in ("## Law", "## Parameters", "## Warnings", "## Data", "## Back-test",
                    "## Compute-optimal allocation", "## Other laws on the same data", "## Trend", "## Settings",
                    "## Reproduce", "## Versions"):
        assert heading in md
    d = report.to_dict()
    for p in d["parameters"]:
        row = next(line for line in md.splitlines() if line.startswith(f"| {p['name']} |"))
        lo, hi = p["ci_low"], p["ci_high"]
        assert f"[{lo:.4g}, {hi:.4g}]" in row and p["unit"].replace("|", "\\|") in row
    assert "`L = E + A/N^alpha + B/D^beta`" in md
    # the reproduce command sits verbatim in a code fence (Markdown renders no HTML there) ...
    fence = re.search(r"^(`{3,})\n(.*?)\n\1$", md, re.M | re.S)
    assert fence and fence.group(2) == d["reproduce"]
    prose = md.replace(fence.group(0), "")
    # ... and everywhere else strings from data are escaped
    assert HOSTILE_RUN not in prose and "&lt;script&gt;alert(1)&lt;/script&gt;" in prose
    assert "<img" not in prose and "&lt;img src=x" in prose
    row = next(line for line in md.splitlines() if "=cmd" in line)
    cells = re.split(r"(?<!\\)\|", row.strip())[1:-1]
    assert len(cells) == 5, row      # the pipe in the run name does not add a column
    assert d["analyses"]["trend"]["summary"].split(";")[0] in md


# ------------------------------------------------------------------------------------------ HTML
def test_html_is_self_contained(html_text):
    tags = _parse(html_text)
    external = [(t, a) for t, a in tags.tags
                if re.match(r"\s*(https?:)?//", a.get("src") or a.get("href") or "", re.I)
                and t in ("script", "link", "img", "iframe", "source", "embed", "object")]
    assert external == []
    assert not any(t == "link" for t, _ in tags.tags)
    # plotly.js once, compressed: the embedded copy is exactly the bundled plotly.js, and no other script is big
    scripts = dict(zip([a.get("id") for t, a in tags.tags if t == "script"], tags.scripts))
    assert gzip.decompress(base64.b64decode(scripts["plotlyjs-gzip"])).decode() == get_plotlyjs()
    assert [i for i, s in scripts.items() if len(s) > 500_000] == ["plotlyjs-gzip"]
    assert html_text.count('class="plotly-graph-div"') == 3
    assert set(json.loads(scripts["report-figures"])) == {"figure-0", "figure-1", "figure-2"}
    assert "Content-Security-Policy" in html_text and "default-src 'none'" in html_text
    assert "cdn.plot.ly" not in html_text


def test_html_figures_are_each_figures_own_json_strict_and_inert():
    """Each figure is embedded as plotly's JSON of it (serialised once): strict (NaN and infinities as null),
    nothing in a string can close the script, and it parses back to the figure's own JSON."""
    import plotly.graph_objects as go

    from analysis.report.blocks import Figure
    from analysis.report.render_html import _Figures

    figs = [go.Figure(go.Scatter(x=[1, 2, np.nan], y=[3, np.inf, 5], name="</script><b>&amp;")),
            go.Figure(go.Bar(x=["a", "b"], y=[1e300, -0.0]), layout={"height": 300, "title": {"text": "x<y"}})]
    collected = _Figures()
    for fig in figs:
        collected.render(Figure("caption", lambda fig=fig: fig))
    tags = _parse(collected.scripts("cdn"))
    text = tags.scripts[[a.get("id") for t, a in tags.tags if t == "script"].index("report-figures")]
    assert "<" not in text and ">" not in text and "&" not in text
    specs = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert specs == {f"figure-{k}": json.loads(fig.to_json()) for k, fig in enumerate(figs)}
    assert specs["figure-0"]["data"][0]["y"] == [3, None, 5]


def test_html_size_bound(html_text, report):
    """4.9 MB before (plotly.js, 4.8 MB, inlined as is); now ~2.1 MB inline, ~0.2 MB with the CDN."""
    size = len(html_text.encode("utf-8"))
    assert size < 2_400_000, size
    assert size < len(get_plotlyjs()) / 2
    cdn = report.to_html(plotlyjs="cdn")
    assert len(cdn.encode("utf-8")) < 400_000
    sri = "sha256-" + base64.b64encode(hashlib.sha256(get_plotlyjs().encode()).digest()).decode()
    assert f'src="https://cdn.plot.ly/plotly-{get_plotlyjs_version()}.min.js" integrity="{sri}"' in cdn
    assert "script-src 'unsafe-inline' 'unsafe-eval' https://cdn.plot.ly;" in cdn and "plotlyjs-gzip" not in cdn
    with pytest.raises(ValueError, match="plotlyjs"):
        report.to_html(plotlyjs="directory")


def test_a_shared_report_names_the_store_not_its_path(chinchilla_fit, chinchilla_frame, store_path, tmp_path,
                                                      monkeypatch):
    """The store by its file name and content digest; its absolute path nowhere, in any format."""
    from datasets.store import Store

    monkeypatch.setenv("SCALING_STORE", str(tmp_path / "elsewhere.duckdb"))     # not the default store
    absolute = str(Path(store_path).resolve())
    digest = Store(store_path).meta()["input_digest"]
    command = f"python -m analysis report --store {absolute} --family chinchilla-epoch/chinchilla"
    for given in (None, command):
        rep = build_report(chinchilla_fit, chinchilla_frame, command=given,
                           data_source={"kind": "store", "family": "chinchilla-epoch/chinchilla", "metric": "loss",
                                        "unit": "nats", "path": absolute})
        texts = {"html": rep.to_html(plotlyjs="cdn"), "md": rep.to_markdown(), "json": rep.to_json()}
        for fmt, text in texts.items():
            assert absolute not in text and str(Path(absolute).parent) not in text, fmt
            assert digest[:16] in text, fmt
        d = rep.to_dict()
        assert d["data"]["path"] == Path(absolute).name and d["data"]["store_digest"] == digest[:16]
        args = shlex.split(d["reproduce"])
        assert args[args.index("--store") + 1] == Path(absolute).name
    # the default store ($SCALING_STORE) is read without --store: the command runs anywhere, as written
    monkeypatch.setenv("SCALING_STORE", absolute)
    d = build_report(chinchilla_fit, chinchilla_frame, data_source={"kind": "store", "family": "f", "path": absolute,
                                                                     "metric": "loss"}).to_dict()
    assert "--store" not in d["reproduce"] and absolute not in json.dumps(d)
    assert d["data"]["path"] == Path(absolute).name and d["data"]["store_digest"] == digest[:16]


def test_a_url_is_named_as_is_and_a_local_path_by_its_file_name(monkeypatch):
    """URLs (``datasets.store.is_url``: ``scheme://`` first) are public and kept; a local path is redacted even
    when ``://`` occurs inside it."""
    from analysis.report.commands import is_default_store
    from analysis.report.content import path_replacements, public_source

    assert public_source({"kind": "store", "path": "s3://bucket/store/"}) == ({"kind": "store",
                                                                             "path": "s3://bucket/store/"}, {})
    assert path_replacements("https://example.org/runs.csv") == {}
    source, replacements = public_source({"kind": "csv", "path": "/tmp/odd://runs.csv"})
    assert source["path"] == "runs.csv" and replacements["/tmp/odd://runs.csv"] == "runs.csv"
    monkeypatch.setenv("SCALING_STORE", "https://example.org/store/")
    assert is_default_store("https://example.org/store") and not is_default_store("https://example.org/other/")


def test_html_escapes_every_string_from_data(html_text):
    assert HOSTILE_RUN not in html_text and HOSTILE_FAMILY not in html_text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_text
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in html_text
    assert "=cmd|&#x27; /C calc&#x27;!A0" in html_text
    tags = _parse(html_text)
    assert not any(t == "img" for t, _ in tags.tags)
    assert not any(k.startswith("on") for _, attrs in tags.tags for k in attrs)
    # inside script blocks, no sequence can close the script early
    for s in tags.scripts:
        assert "</script" not in s.lower()


def test_html_content_and_embedded_json(report, html_text):
    d = report.to_dict()
    tags = _parse(html_text)
    data = next(s for (t, a), s in zip([x for x in tags.tags if x[0] == "script"], tags.scripts)
                if a.get("id") == "report-data")
    assert json.loads(data) == d
    assert "<h1>Chinchilla L(N, D) fit to &lt;img" in html_text
    assert "L = E + A/N^alpha + B/D^beta" in html_text
    for p in d["parameters"]:
        assert f"<td>{p['name']}</td><td>{p['value']:.4g}</td><td>[{p['ci_low']:.4g}, {p['ci_high']:.4g}]</td>" in html_text
    assert "Back-test" in html_text and "Compute-optimal allocation" in html_text


# ------------------------------------------------------------------------------- other inputs
def test_report_without_bootstrap_frontier_table_and_warnings():
    from tests._synthetic import sample

    frame = sample("chinchilla", np.random.default_rng(1))
    frame = frame[frame["run"].str.endswith("t20")].groupby("run").tail(1)   # D = 20 N: alpha, beta unidentifiable
    fit = fit_law(frame, "chinchilla", bootstrap=0)
    assert fit.warnings
    fr = frontier(fit, [1e20, 1e22])
    rep = build_report(fit, frame, title="synthetic | <b>", allocation=fr,
                       data_source={"kind": "upload", "metric": "val_loss", "unit": "nats"})
    d = json.loads(rep.to_json())
    assert d["title"] == "synthetic | <b>" and d["ci"] == {} and d["reproduce"] is None
    assert d["warnings"] == list(fit.warnings) and len(d["allocation"]) == 2
    assert all(p["ci_low"] is None for p in d["parameters"])
    md = rep.to_markdown()
    assert "# synthetic \\| &lt;b&gt;" in md and "| n/a |" in md
    assert "tokens per parameter barely varies" in md
    html_text = rep.to_html()
    assert "<title>synthetic | &lt;b&gt;</title>" in html_text and 'class="warnings"' in html_text
    assert html_text.count('class="plotly-graph-div"') == 2       # no back-test figure


def test_units_follow_the_law_and_the_transform():
    assert param_unit(get_law("power_c"), "E", "nats") == "nats"
    assert "FLOPs" in param_unit(get_law("power_c"), "A", "nats")
    assert param_unit(get_law("kaplan"), "Nc", "nats") == "parameters"
    assert param_unit(get_law("kaplan_d"), "Dc", "nats") == "tokens"
    assert param_unit(get_law("bnsl1"), "d1", "nats") == "FLOPs"
    assert param_unit(get_law("bnsl1"), "f1", "nats") == "dimensionless"
    from tests._synthetic import sample

    frame = sample("power_c", np.random.default_rng(2))
    frame = frame.assign(y=1.0 - frame["y"] / 10.0)             # an accuracy-like, higher-is-better metric
    fit = fit_law(frame, "power_c", bootstrap=0, y_transform="one_minus")
    d = build_report(fit, frame, data_source={"metric": "acc", "unit": "fraction"}).to_dict()
    assert d["fit"]["y_transform"] == "one_minus"
    assert next(p for p in d["parameters"] if p["name"] == "E")["unit"] == "1 - value (fraction)"


def test_the_fit_figure_reaches_the_largest_budget_of_the_report(report, chinchilla_fit, chinchilla_frame):
    """The report's figure extends to the answer it gives (its allocation reaches 1e25 FLOPs), not only the data."""
    from analysis.report import largest_budget
    assert largest_budget([allocate(chinchilla_fit, c) for c in (1e21, 1e25)]) == 1e25
    fig = next(b for s in report.sections if s.title == "Figures" for b in s.blocks)
    assert "1e+25" in fig.caption
    xs = np.concatenate([np.asarray(t.x, float) for t in fig.draw().data if t.x is not None and len(t.x)])
    assert np.nanmax(xs) >= 1e25 * 0.99
    bare = build_report(chinchilla_fit, chinchilla_frame)
    fig = next(b for s in bare.sections if s.title == "Figures" for b in s.blocks)
    xs = np.concatenate([np.asarray(t.x, float) for t in fig.draw().data if t.x is not None and len(t.x)])
    assert np.nanmax(xs) < 1e24


def test_cli_report_offers_the_cdn_build(tmp_path):
    from analysis.cli.run import main
    from datasets.upload import example_csv
    csv = tmp_path / "runs.csv"
    csv.write_text(example_csv(), encoding="utf-8")
    out = tmp_path / "r.html"
    assert main(["report", "--csv", str(csv), "--bootstrap", "0", "--format", "html", "--plotlyjs", "cdn",
                 "--out", str(out)]) == 0
    assert "cdn.plot.ly" in out.read_text() and out.stat().st_size < 400_000
