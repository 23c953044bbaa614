"""App/CLI parity: each page's "reproduce from the command line" command gives the numbers the page showed.

Every page with a reproduce command (Fit, Trends, Crossover, Downstream) runs under streamlit.testing
(AppTest) on real store families -- the Fit page on one family of every source, the others on a family of
every source where the analysis applies, including the Downstream page on ``colpret/opt``, whose loss is
published as a perplexity (the page maps from ln(perplexity) in nats; the CLI once fitted the raw values,
a slope of -0.0199 against the page's -0.738). The reports the page offers are captured
(:func:`ui.output.report_downloads`, spied); each command line in a report's "reproduce" section is run
through :func:`analysis.cli.main` in-process (``--json``; ``report`` commands with ``--format json``), and
the CLI's numbers are compared with the page's: the fit (law, parameters, 95% intervals, points and runs
used, the data choices) and the analysis result (crossover, trend, downstream map).

Both sides share :mod:`analysis.settings`, so the comparison is exact up to floating-point noise
(``REL`` / ``ABS``); the bootstrap is small (``BOOT``) through ``SCALING_BOOTSTRAP``, as in the app tests.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import shlex
from pathlib import Path

import pytest

from analysis.cli import main
from ui.navigation import PAGES

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = {p.name: p.script for p in PAGES}
BOOT = 20
TIMEOUT = 300
REL, ABS = 1e-6, 1e-9
# numbers that legitimately differ between two runs of the same computation
VOLATILE = {"seconds", "created", "message", "n_boot_unconverged"}

# one family of every source (its default metric)
FIT_FAMILIES = ["chinchilla-epoch/chinchilla", "colpret/opt", "gemstones/hot", "laion-clip-mammut/mammut",
                "obsscaling/Pythia", "overtrain/rpj", "pythia/pythia-deduped", "revisiting/lm-val_loss",
                "steplaw/dense"]
TRENDS = [("chinchilla-epoch/chinchilla", None), ("colpret/opt", "val_ppl"), ("gemstones/hot", None),
          ("laion-clip-mammut/clip", "imagenet1k/acc1"), ("obsscaling/Pythia", "TruthfulQA"),
          ("overtrain/rpj", "hellaswag/acc"), ("pythia/pythia-deduped", None), ("steplaw/dense", None)]
# every source with a loss and a task metric in one family (chinchilla-epoch, obsscaling, revisiting and
# steplaw publish one kind only, so the page has nothing to map there)
DOWNSTREAM = [("colpret/opt", "bigbench_implicatures/score"), ("gemstones/hot", "arc:easy/acc"),
              ("laion-clip-mammut/mammut", "imagenet1k/acc1"), ("overtrain/rpj", "hellaswag/acc"),
              ("pythia/pythia-deduped", "arc_easy/acc@0shot")]
CROSSOVER = [("laion-clip-mammut/clip", "imagenet1k/acc1", ["laion-clip-mammut/clip", "laion-clip-mammut/mammut"]),
             ("overtrain/rpj", None, ["overtrain/rpj", "overtrain/c4_original"]),
             ("steplaw/dense", None, None)]


@pytest.fixture(scope="module")
def app_env(store_path):
    """The app and the CLI on the session's store, with the same small bootstrap and time budget."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SCALING_STORE", str(store_path))
    mp.setenv("SCALING_BOOTSTRAP", str(BOOT))
    mp.setenv("SCALING_TIME_BUDGET", "60")
    import analysis.settings as settings

    mp.setattr(settings, "BOOTSTRAP", BOOT)
    mp.setattr(settings, "TIME_BUDGET", 60.0)
    yield store_path
    mp.undo()


@pytest.fixture
def reports(monkeypatch):
    """Every report a page offers during the test. The page builds a report only when a download is
    clicked (:func:`ui.output.report_downloads` returns its builder), so the spy builds each one."""
    from ui import output

    made, real = [], output.report_downloads

    def spy(*args, **kwargs):
        build = real(*args, **kwargs)
        made.append(build())
        return build

    monkeypatch.setattr(output, "report_downloads", spy)
    return made


def run_page(page: str, params: dict):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / SCRIPTS["Home"]), default_timeout=TIMEOUT)
    at.switch_page(SCRIPTS[page])
    at.query_params.update({k: v for k, v in params.items() if v is not None})
    at.run()
    assert not at.exception, f"{page} {params}: " + "\n".join(str(e.value) for e in at.exception)
    return at


def cli(command: str, tmp_path: Path) -> dict:
    """Run one reproduce command line in-process and return its JSON."""
    argv = shlex.split(command)
    assert argv[:3] == ["python", "-m", "analysis"], command
    argv = argv[3:]
    if argv[0] == "report":
        out = tmp_path / "report.json"
        argv[argv.index("--format") + 1] = "json"
        argv[argv.index("--out") + 1] = str(out)
    else:
        argv.append("--json")
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        rc = main(argv)
    assert rc == 0, f"{command}\n{stderr.getvalue()}"
    return json.loads(out.read_text(encoding="utf-8") if argv[0] == "report" else stdout.getvalue())


def assert_same(app, cli_value, where: str = "") -> None:
    """Equal structures; numbers within REL / ABS; keys only one side has are not compared."""
    if isinstance(app, dict) and isinstance(cli_value, dict):
        for k in app.keys() & cli_value.keys():
            if k not in VOLATILE:
                assert_same(app[k], cli_value[k], f"{where}.{k}")
    elif isinstance(app, list) and isinstance(cli_value, list):
        assert len(app) == len(cli_value), f"{where}: {len(app)} items on the page, {len(cli_value)} from the CLI"
        for i, (a, b) in enumerate(zip(app, cli_value)):
            assert_same(a, b, f"{where}[{i}]")
    elif isinstance(app, (int, float)) and not isinstance(app, bool) and isinstance(cli_value, (int, float)):
        assert math.isclose(app, cli_value, rel_tol=REL, abs_tol=ABS), f"{where}: page {app!r}, CLI {cli_value!r}"
    else:
        assert app == cli_value, f"{where}: page {app!r}, CLI {cli_value!r}"


FIT_KEYS = ("law", "formula", "params", "ci", "parameters")
DATA_KEYS = ("metric", "unit", "points", "runs", "sizes", "ranges", "converted")
SETTING_KEYS = ("law", "objective", "delta", "bootstrap", "seed", "min_tokens", "min_fraction", "exclude_runs",
                "y_transform", "which_n", "no_envelope")


def check_report(page_report: dict, tmp_path: Path) -> list[str]:
    """Run every command of a page's report; compare the fit (report commands) and the analyses (the
    others). Returns the subcommands run."""
    commands = [c for c in (page_report["reproduce"] or "").splitlines() if c.strip()]
    assert commands, "the page shows no reproduce command"
    ran = []
    for command in commands:
        sub = shlex.split(command)[3]
        out = cli(command, tmp_path)
        ran.append(sub)
        if sub == "report":
            for key in FIT_KEYS:
                assert_same(page_report[key], out[key], key)
            assert_same({k: page_report["fit"][k] for k in ("n_points", "n_runs", "n_boot", "rmse_log", "mare",
                                                              "y_transform", "objective", "delta")},
                        out["fit"], "fit")
            assert_same({k: page_report["data"].get(k) for k in DATA_KEYS}, out["data"], "data")
            assert_same({k: page_report["settings"].get(k) for k in SETTING_KEYS}, out["settings"], "settings")
            if page_report["backtest"] is not None:
                assert_same(page_report["backtest"], out["backtest"], "backtest")
            if page_report.get("allocation"):                          # the same budgets (--compute), warnings
                for key in ("allocation", "allocation_notes"):
                    assert_same(page_report[key], out.get(key), key)
        else:
            entry = page_report["analyses"][sub]
            result = entry[0] if isinstance(entry, list) else entry
            assert_same(result["result"], out, sub)
    return ran


EXPORT = {"export": "true"}     # the export box open: its reports are built when it is (ui.output.export_box)


@pytest.mark.parametrize("family", FIT_FAMILIES)
def test_fit_page_report_command_reproduces_the_fit(app_env, reports, tmp_path, family):
    run_page("Fit", {"source": family.split("/")[0], "family": family, "view": "export"})
    assert reports, "the Fit page built no report"
    assert check_report(reports[-1].to_dict(), tmp_path) == ["report"]


def test_the_fit_report_carries_the_allocation_warnings_the_page_shows(app_env, reports, tmp_path):
    """A target 772x past the data: the page warns about extrapolating the allocation, and so do its report
    (which listed no warning when its table came from a frontier frame) and the command reproducing it."""
    at = run_page("Fit", {"source": "chinchilla-epoch", "family": "chinchilla-epoch/chinchilla", "view": "export",
                          "target": "1e25"})
    shown = [w.value.replace("\\", "")[:60] for w in at.warning]        # the page's warnings, Markdown unescaped
    shown = [s for s in shown if s.startswith(("the budget", "N* (", "D* ("))]       # the allocation's
    assert any(s.startswith("the budget (1e+25) is 772x") for s in shown), shown
    report = reports[-1].to_dict()
    notes = " ".join(report["allocation_notes"])
    assert all(s in notes for s in shown), (shown, notes)
    assert report["reproduce"].count("--compute") == 5
    assert check_report(report, tmp_path) == ["report"]


@pytest.mark.parametrize("family, metric", TRENDS)
def test_trends_page_commands_reproduce_the_verdict_and_the_fit(app_env, reports, tmp_path, family, metric):
    run_page("Trends", {"source": family.split("/")[0], "family": family, "metric": metric, **EXPORT})
    assert reports, "the Trends page built no report"
    assert check_report(reports[-1].to_dict(), tmp_path) == ["report", "trend"]


@pytest.mark.parametrize("family, task", DOWNSTREAM)
def test_downstream_page_commands_reproduce_the_map(app_env, reports, tmp_path, family, task):
    run_page("Downstream", {"source": family.split("/")[0], "family": family, "task": task, **EXPORT})
    assert reports, "the Downstream page built no report"
    content = reports[-1].to_dict()
    assert check_report(content, tmp_path) == ["report", "downstream"]
    if family == "colpret/opt":           # perplexity published: both sides map from ln(ppl) in nats
        result = content["analyses"]["downstream"]["result"]
        assert result["model"] == "linear" and -1.5 < result["params"]["b"] < -0.3, result["params"]


@pytest.mark.parametrize("family, metric, groups", CROSSOVER)
def test_crossover_page_command_reproduces_the_crossing(app_env, reports, tmp_path, family, metric, groups):
    params = {"source": family.split("/")[0], "family": family, "metric": metric, **EXPORT}
    at_params = dict(params, groups=groups) if groups else params
    run_page("Crossover", at_params)
    assert reports, "the Crossover page built no report"
    assert check_report(reports[-1].to_dict(), tmp_path) == ["crossover"]


def test_the_perplexity_loss_is_mapped_in_nats_on_both_sides(app_env, tmp_path):
    """The drift this test file was written for: the CLI fitted raw perplexities (slope -0.0199 on
    colpret/opt) while the page fitted nats (-0.738). Both must map ln(perplexity)."""
    out = cli(f"python -m analysis downstream --store {shlex.quote(str(app_env))} --family colpret/opt "
              "--metric bigbench_implicatures/score --loss-metric val_ppl", tmp_path)
    losses = [h["loss"] for h in out["heldout"]]
    assert all(1.0 < v < 5.0 for v in losses), losses      # ln(ppl) of OPT on its validation set, not ppl ~ 15
    assert out["model"] == "linear" and out["params"]["b"] < -0.3, out["params"]
