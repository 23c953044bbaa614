"""Property-based fuzzing of every ``python -m analysis`` subcommand (bounded and derandomised for CI).

Whatever the input file (plausible, adversarial, damaged or random bytes from ``tests/upload_strategies.py``,
synthetic runs with hostile names) and whatever the argument values (unknown laws, ``-1``/``nan``/``1e400``
budgets, SQL-injection family and metric names, missing files, directories given as files, path-like
names), the CLI either

* exits 0 and prints valid JSON under ``--json`` (or the report in the asked format, HTML-escaped), or
* exits 1 (a data error) or 2 (a usage error) with exactly one line on stderr, ``error: ...``,

never a traceback, never exit 3 (an internal error), never a hang (an alarm fails an example after
:data:`EXAMPLE_SECONDS`). Most examples call :func:`analysis.cli.main` in-process with captured
stdout/stderr; a few run the real process. ``bench/fuzz_cli.py`` runs the same strategies for a long
campaign and imports :func:`cli_cases`, :class:`Workspace` and :func:`run_and_check` from here.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.cli import build_parser, main
from datasets.upload import example_csv
from tests.upload_strategies import FORMULAS, HOSTILE, upload_inputs

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_SECONDS = 60          # an example taking longer is a hang
SMALL_SOURCES = ["chinchilla-epoch", "laion-clip-mammut", "obsscaling", "overtrain"]

# ---------------------------------------------------------------------------------------------- value pools
# Every flag has a pool of valid values and a pool of hostile ones. A case is "clean" (valid values only, so
# the analyses themselves run on the fuzzed file) or "hostile" (each flag hostile with probability 1/3).
TEXT = [h for h in HOSTILE if "\x00" not in h] + FORMULAS + [
    "x' OR 1=1 --", "x' OR '1'='1", "'; DROP TABLE runs; --", '" OR ""="', "') UNION SELECT * FROM meta --",
    "%", "_", "*", "\\", "", " ", "--json", "-1", "..", "../../etc/passwd", "/dev/zero", "NULL"]
FREE_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=16)
BAD_TEXT = st.sampled_from(TEXT) | FREE_TEXT
BAD_NUMBERS = ["-1", "0", "-0", "nan", "NaN", "inf", "-inf", "1e400", "-1e400", "1e-400", "abc", "", " ", "1,5",
               "0x10", "1_000", "1e308", "9" * 400, "1e", "1e9", "5"]
BAD_INTS = ["-1", "-5", "1e9", "100001", "abc", "2.5", "nan", "", "0x10", "0"]
BAD_SEEDS = ["-1", "4294967296", "abc", "nan", "1.5"]
LAWS = ["chinchilla", "chinchilla", "kaplan", "power_c", "power_n", "power_d", "power_step", "bnsl1",
        "data_constrained", "lr_anneal", "m4_d", "kaplan_c", "auto"]
BAD_LAWS = ["nonsense", "", "Chinchilla", "chinchilla; rm -rf /", "<script>", "auto'--"]
FAMILIES = ["chinchilla-epoch/chinchilla", "laion-clip-mammut/clip", "laion-clip-mammut/mammut",
            "overtrain/rpj", "overtrain/c4_original", "obsscaling/GPT-2", "obsscaling/Amber"]
SCAN_FAMILIES = ["chinchilla-epoch/chinchilla", "laion-clip-mammut/clip", "overtrain/rpj", "obsscaling/Amber"]
FAMILY_METRICS = {"chinchilla-epoch/chinchilla": ["loss"],
                  "laion-clip-mammut/clip": ["imagenet1k/acc1", "ade20k/miou", "train_contrastive_loss"],
                  "laion-clip-mammut/mammut": ["imagenet1k/acc1", "ade20k/miou", "train_caption_loss"],
                  "overtrain/rpj": ["c4_val/loss", "openlm/loss", "hellaswag/acc", "arc_easy/acc"],
                  "overtrain/c4_original": ["c4_val/loss", "hellaswag/acc", "arc_easy/acc"],
                  "obsscaling/GPT-2": ["TruthfulQA", "MMLU", "HellaSwag"], "obsscaling/Amber": ["MMLU"]}
FAMILY_GROUPS = {"laion-clip-mammut/clip": ["laion-clip-mammut/mammut"], "laion-clip-mammut/mammut":
                 ["laion-clip-mammut/clip"], "overtrain/rpj": ["overtrain/c4_original", "overtrain/rw_original"],
                 "overtrain/c4_original": ["overtrain/rpj"]}
CSV_METRICS = ["val_loss", "loss", "loss", "acc"]
METRICS = ["loss", "val_loss", "ade20k/miou", "imagenet1k/acc1", "hellaswag/acc", "arc_easy/acc", "c4_val/loss",
           "openlm/loss", "TruthfulQA", "acc", "lr", "value"]
AXES = ["flops", "params", "tokens", "step", "N", "D", "C"]
BAD_STORES = ["{ws}/missing.duckdb", "{ws}/junk.duckdb", "{ws}/adir", "{ws}/example.csv", "/dev/null", "", "{ws}"]
BAD_FILES = ["{ws}/missing.csv", "{ws}/adir", "{ws}", "/dev/null", "/dev/zero", "/etc/hostname",
             "{ws}/junk.duckdb", "{ws}/fit.json", "", "{ws}/example.csv/x"]
FILES = ["{in}", "{in}", "{in}", "{ws}/example.csv", "{ws}/in/../example.csv"]
FIT_FILES = ["{ws}/fit.json"]
BAD_FIT_FILES = ["{ws}/empty.json", "{ws}/list.json", "{ws}/trunc.json", "{ws}/nolaw.json", "{ws}/example.csv",
                 "{ws}/adir", "{ws}/missing.json", "/dev/null", "{in}"]
OUT_PATHS = ["{ws}/out/report.html", "{ws}/out/fit.json", "{ws}/out/<script>alert(1)</script>.json",
             "{ws}/out/模型 🚀.md", "/dev/null", "{ws}/out/a\nb.json"]
BAD_OUT_PATHS = ["{ws}/adir", "{ws}/missing/dir/x.json", "{ws}", ""]
FILE_NAMES = ["runs.csv", "runs.csv", "runs.txt", "<script>alert(1)</script>.csv", "a b;c,d.csv",
              "x' OR 1=1 --.csv", "=cmd.csv", "模型 🚀.csv", "sub/dir/runs.csv", "sub/../runs2.csv", "-rf.csv",
              "a\nb.csv", ".hidden", "RUNS.CSV", "x" * 200 + ".csv", "runs.parquet"]
HTML_HOSTILE = [h for h in TEXT if "<" in h]


def _pick(draw, values):
    return draw(values if isinstance(values, st.SearchStrategy) else st.sampled_from(values))


def flag(draw, bad: bool, name: str, valid, hostile=None) -> list[str]:
    """``[name, value]`` or ``[name=value]`` (the second lets values starting with '-' through)."""
    use_bad = hostile is not None and bad and draw(st.integers(0, 2)) == 0
    value = _pick(draw, hostile if use_bad else valid)
    return [f"{name}={value}"] if draw(st.integers(0, 3)) == 0 else [name, value]


def maybe(draw, bad: bool, name: str, valid, hostile=None, p: int = 2) -> list[str]:
    """The flag with probability 1/p."""
    return flag(draw, bad, name, valid, hostile) if draw(st.integers(0, p - 1)) == 0 else []


# ---------------------------------------------------------------------------------------------- input files
@st.composite
def synthetic_runs(draw) -> bytes:
    """Runs drawn from Chinchilla's law with noise: usually good enough to fit, sometimes degenerate."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    n_runs = draw(st.integers(1, 6))
    n_ckpt = draw(st.integers(1, 5))
    kind = draw(st.sampled_from(["normal", "normal", "normal", "same_n", "constant", "huge", "tiny"]))
    groups = draw(st.sampled_from([["a", "b"], ["wide", "deep", "x"], [HOSTILE[0], FORMULAS[0]], ["only"]]))
    names = draw(st.lists(st.sampled_from(["r"] + TEXT[:12]), min_size=n_runs, max_size=n_runs))
    with_acc, with_lr = draw(st.booleans()), draw(st.booleans())
    rows = []
    for i in range(n_runs):
        n = {"same_n": 1e8, "huge": 1e30, "tiny": 1.0}.get(kind, 10 ** rng.uniform(6, 10))
        for k in range(1, n_ckpt + 1):
            d = n * 20 * k / n_ckpt if kind != "huge" else 1e300
            loss = 1.7 + 400 / n ** 0.34 + 400 / d ** 0.28 if kind != "constant" else 3.0
            loss *= math.exp(rng.normal(0, 0.01))
            row = {"run": f"{names[i]}-{i}", "method": groups[i % len(groups)], "N": f"{n:.6g}", "D": f"{d:.6g}",
                   "step": str(k * 100), "loss": f"{loss:.5f}"}
            if with_acc:
                row["acc"] = f"{1 / (1 + math.exp(min(3 * (loss - 3), 50))):.4f}"
            if with_lr:
                row["lr"] = f"{3e-4 / k:.3e}"
            rows.append(row)
    return pd.DataFrame(rows).to_csv(index=False).encode("utf-8")


def _as_bytes(case) -> bytes:
    data = case[0]
    return data.encode("utf-8") if isinstance(data, str) else data


def input_files():
    """Bytes of a file given to ``--csv``: the example, synthetic runs, or anything the upload fuzzer makes."""
    return st.one_of(st.just(example_csv().encode("utf-8")), synthetic_runs(), synthetic_runs(),
                     upload_inputs().map(_as_bytes))


# ---------------------------------------------------------------------------------------------- argv
@st.composite
def data_args(draw, bad: bool, multi: bool = False, heavy: bool = False, downstream: bool = False) -> list[str]:
    """--csv FILE or --store FILE --family NAME [...], and usually a metric the data have (when clean).

    Unless ``heavy``, a loss is not drawn as the downstream metric (mapping loss to loss takes seconds)."""
    kind = draw(st.sampled_from(["csv", "csv", "csv", "store", "store"] + (["none", "both"] if bad else [])))
    out: list[str] = []
    metrics = CSV_METRICS
    if kind in ("csv", "both"):
        out += flag(draw, bad, "--csv", FILES, BAD_FILES)
    if kind in ("store", "both"):
        out += flag(draw, bad, "--store", ["{store}"], BAD_STORES)
        family = draw(st.sampled_from(FAMILIES))
        metrics = FAMILY_METRICS[family]
        if downstream and not heavy:
            metrics = [m for m in metrics if "loss" not in m] or metrics
        out += flag(draw, bad, "--family", [family], BAD_TEXT)
        for _ in range(draw(st.integers(1, 2)) if multi else 0):
            out += flag(draw, bad, "--family", FAMILY_GROUPS.get(family, FAMILIES), BAD_TEXT)
    if draw(st.integers(0, 3)):
        out += flag(draw, bad, "--metric", metrics, st.sampled_from(METRICS) | BAD_TEXT)
    if draw(st.integers(0, 4)) == 0:
        out.append("--final-only")
    return out


@st.composite
def fit_args(draw, bad: bool, laws: list[str]) -> list[str]:
    out = maybe(draw, bad, "--law", laws, BAD_LAWS)
    out += maybe(draw, bad, "--objective", ["huber", "mse", "lower"], ["HUBER", "x'--", "", "l2"], 3)
    out += maybe(draw, bad, "--delta", ["1e-3", "0.01", "0.1", "1"], BAD_NUMBERS, 4)
    out += flag(draw, bad, "--bootstrap", ["0", "0", "3", "10", "20"], BAD_INTS)   # always: the default is slow
    out += maybe(draw, bad, "--seed", ["0", "1", "7"], BAD_SEEDS, 4)
    out += maybe(draw, bad, "--min-tokens", ["0", "1e8", "1e9", "1e10"], BAD_NUMBERS, 4)
    out += maybe(draw, bad, "--min-fraction", ["0", "0.1", "0.3", "0.5"], BAD_NUMBERS, 4)
    out += maybe(draw, bad, "--exclude-run", ["upload/my-20m", "my-20m", "upload/r-0"], BAD_TEXT, 4)
    out += maybe(draw, bad, "--y-transform", ["auto", "none", "one_minus"], ["log", "", "AUTO"], 5)
    out += maybe(draw, bad, "--time-budget", ["0.001", "0.01", "1", "30"], BAD_NUMBERS, 5)
    return out


def law_pool(data: list[str], heavy: bool) -> list[str]:
    """Every law when ``heavy``; else neither ``m4_d`` (seconds per fit on a small file) nor, on a store
    family of hundreds of runs, ``auto`` (a back-test of every law)."""
    if heavy:
        return LAWS
    slow = {"m4_d", "auto"} if any(a.startswith("--store") for a in data) else {"m4_d"}
    return [law for law in LAWS if law not in slow]


def _common(draw, bad: bool) -> list[str]:
    out = ["--json"] if draw(st.integers(0, 4)) else []
    if draw(st.integers(0, 3)) == 0:
        out.append("--compact")
    if bad and draw(st.integers(0, 9)) == 0:             # an unknown flag or a stray positional
        out.append(draw(st.sampled_from(["--bogus", "stray", "--json=1", "-x"])))
    return out


@st.composite
def _laws(draw, bad, heavy):
    return ["laws"] + _common(draw, bad)


@st.composite
def _families(draw, bad, heavy):
    return ["families"] + flag(draw, bad, "--store", ["{store}"], BAD_STORES) + _common(draw, bad)


@st.composite
def _fit(draw, bad, heavy):
    d = draw(data_args(bad, heavy=heavy))
    argv = ["fit"] + d + draw(fit_args(bad, law_pool(d, heavy)))
    return argv + maybe(draw, bad, "--out", OUT_PATHS, BAD_OUT_PATHS, 4) + _common(draw, bad)


@st.composite
def _predict(draw, bad, heavy):
    argv = ["predict"] + flag(draw, bad, "--fit", FIT_FILES, BAD_FIT_FILES) + _common(draw, bad)
    return argv + flag(draw, bad, "--csv", ["{ws}/points.csv", "{in}"], BAD_FILES)


@st.composite
def _allocate(draw, bad, heavy):
    d = draw(data_args(bad, heavy=heavy))
    argv = ["allocate"] + d + draw(fit_args(bad, law_pool(d, heavy)))
    if not bad or draw(st.integers(0, 9)):
        argv += flag(draw, bad, "--compute", ["1e18", "1e21", "5.76e23", "1e25", "1e30"], BAD_NUMBERS)
    argv += maybe(draw, bad, "--flops-per-param-token", ["6", "2", "8"], BAD_NUMBERS, 4)
    return argv + maybe(draw, bad, "--unique-tokens", ["1e9", "1e12"], BAD_NUMBERS, 4) + _common(draw, bad)


@st.composite
def _backtest(draw, bad, heavy):
    d = draw(data_args(bad, heavy=heavy))
    argv = ["backtest"] + d + draw(fit_args(bad, law_pool(d, heavy)))
    argv += maybe(draw, bad, "--n-holdout", ["1", "2", "3"], BAD_INTS, 3)
    return argv + maybe(draw, bad, "--tail", ["0.3", "1", "0.05"], BAD_NUMBERS, 3) + _common(draw, bad)


@st.composite
def _report(draw, bad, heavy):
    d = draw(data_args(bad, heavy=heavy))
    argv = ["report"] + d + draw(fit_args(bad, law_pool(d, heavy)))
    argv += maybe(draw, bad, "--format", ["html", "html", "json", "md"], ["pdf", "", "HTML"], 1)
    argv += maybe(draw, bad, "--out", OUT_PATHS, BAD_OUT_PATHS, 2)
    for _ in range(draw(st.integers(0, 2))):
        argv += flag(draw, bad, "--compute", ["1e21", "1e24", "1e30"], BAD_NUMBERS)
    return argv + _common(draw, bad)


@st.composite
def _crossover(draw, bad, heavy):
    argv = ["crossover"] + draw(data_args(bad, multi=True, heavy=heavy))
    argv += maybe(draw, bad, "--group", ["method", "method", "family", "run", "lr", "N"], st.just("nothere") | BAD_TEXT)
    argv += maybe(draw, bad, "--x", AXES, ["z", "", "flops'"], 3)
    argv += maybe(draw, bad, "--law", ["power_c", "power_n", "bnsl1"], BAD_LAWS, 4)
    argv += maybe(draw, bad, "--target", ["1e9", "1e18", "1e21", "1e24"], BAD_NUMBERS, 3)
    argv += flag(draw, bad, "--bootstrap", ["0", "3", "10", "20"], BAD_INTS)
    return argv + maybe(draw, bad, "--seed", ["0", "3"], BAD_SEEDS, 4) + _common(draw, bad)


@st.composite
def _trend(draw, bad, heavy):
    argv = ["trend"] + draw(data_args(bad, heavy=heavy)) + maybe(draw, bad, "--x", AXES, ["z", ""], 3)
    argv += maybe(draw, bad, "--alpha", ["0.01", "0.05", "0.1", "0.5"], BAD_NUMBERS, 3)
    argv += maybe(draw, bad, "--seed", ["0", "3"], BAD_SEEDS, 4)
    return argv + maybe(draw, bad, "--higher-is-better", ["yes", "no"], ["maybe", "", "YES"], 3) + _common(draw, bad)


@st.composite
def _scan(draw, bad, heavy):
    argv = ["scan"] + flag(draw, bad, "--store", ["{store}"], BAD_STORES)
    for _ in range(draw(st.integers(1, 2))):        # at least one family: a whole-store scan takes seconds
        argv += flag(draw, bad, "--family", SCAN_FAMILIES, BAD_TEXT)
    argv += maybe(draw, bad, "--source", ["overtrain", "obsscaling", "laion-clip-mammut"], BAD_TEXT, 3)
    argv += maybe(draw, bad, "--split", ["downstream", "validation", "train"], ["x' OR 1=1 --", "", "%"], 2)
    return argv + maybe(draw, bad, "--alpha", ["0.01", "0.05", "0.1"], BAD_NUMBERS, 3) + _common(draw, bad)


@st.composite
def _downstream(draw, bad, heavy):
    argv = ["downstream"] + draw(data_args(bad, heavy=heavy, downstream=True))
    argv += maybe(draw, bad, "--loss-metric", ["loss", "c4_val/loss", "openlm/loss", "val_loss"], BAD_TEXT, 3)
    return argv + maybe(draw, bad, "--chance", ["0", "0.25", "0.5"], BAD_NUMBERS, 3) + _common(draw, bad)


@st.composite
def _hparams(draw, bad, heavy):
    kind = draw(st.sampled_from(["data", "data", "store"] + (["none", "both"] if bad else [])))
    argv = ["hparams"] + (flag(draw, bad, "--data", FILES, BAD_FILES) if kind in ("data", "both") else [])
    if kind in ("store", "both"):
        argv += flag(draw, bad, "--store", ["{store}"], BAD_STORES) + flag(draw, bad, "--family", FAMILIES, BAD_TEXT)
    argv += maybe(draw, bad, "--cell-method", ["bowl", "filter", "argmin"], ["median", "", "BOWL"], 3)
    argv += maybe(draw, bad, "--batch-unit", ["sequences", "tokens"], ["bytes", ""], 4)
    argv += maybe(draw, bad, "--seq-len", ["2048", "4096"], BAD_NUMBERS, 4)
    argv += flag(draw, bad, "--bootstrap", ["0", "3", "20"], BAD_INTS)
    if draw(st.integers(0, 2)) == 0:
        argv += flag(draw, bad, "--at-params", ["1e8", "1e9"], BAD_NUMBERS)
        argv += maybe(draw, bad, "--at-tokens", ["1e10", "2e11"], BAD_NUMBERS, 1 if not bad else 2)
    return argv + _common(draw, bad)


@st.composite
def _example(draw, bad, heavy):
    argv = ["example"] + maybe(draw, bad, "--kind", ["runs", "recipes", "isoflops", "targets"], BAD_TEXT, 2)
    return argv + maybe(draw, bad, "--out", ["{ws}/example-out.csv"], ["{ws}", "{ws}/adir", "/dev/null"], 2) + _common(draw, bad)


COMMAND_CASES = {"laws": _laws, "example": _example, "families": _families, "fit": _fit, "predict": _predict, "allocate": _allocate,
                 "backtest": _backtest, "report": _report, "crossover": _crossover, "trend": _trend, "scan": _scan,
                 "downstream": _downstream, "hparams": _hparams}
COMMANDS = list(COMMAND_CASES)


@st.composite
def cli_cases(draw, command: str | None = None, heavy: bool = False) -> tuple[list[str], bytes, str]:
    """(argv with ``{ws}``/``{store}``/``{in}`` placeholders, the bytes of ``{in}``, its file name).

    Half the cases are clean (valid flag values: the analyses run on the drawn file or store family),
    half hostile (each flag's value hostile with probability 1/3). ``heavy`` adds the slow combinations
    (``--law auto`` on large store families, a loss as the downstream metric) that CI leaves to the bench.
    """
    command = command or draw(st.sampled_from(COMMANDS))
    bad = draw(st.booleans())
    argv = draw(COMMAND_CASES[command](bad, heavy))
    name = draw(st.sampled_from(FILE_NAMES if bad else FILE_NAMES[:10]))
    data = draw(input_files()) if any("{in}" in a for a in argv) else b""
    if name.endswith(".parquet") and not data.startswith(b"PAR1"):
        name = "runs.csv"
    return argv, data, name


# ---------------------------------------------------------------------------------------------- running
class Hang(BaseException):
    """Raised by the alarm: not an Exception, so the CLI's own handlers cannot swallow it."""


class Workspace:
    """A directory with the files the placeholders name, and the store to query."""

    def __init__(self, root: Path, store: Path):
        self.root, self.store = Path(root), Path(store)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "adir").mkdir(exist_ok=True)
        (self.root / "out").mkdir(exist_ok=True)
        (self.root / "example.csv").write_text(example_csv(), encoding="utf-8")
        (self.root / "junk.duckdb").write_bytes(b"this is not a database\x00" * 500)
        pd.DataFrame({"params": [7e10, 1e9, 0, -1], "tokens": [1.4e12, 2e10, 1e9, 1e9]}).to_csv(
            self.root / "points.csv", index=False)
        rc, _, err = invoke(["fit", "--csv", str(self.root / "example.csv"), "--bootstrap", "20",
                             "--out", str(self.root / "fit.json")])
        assert rc == 0, err
        fit = (self.root / "fit.json").read_text(encoding="utf-8")
        (self.root / "trunc.json").write_text(fit[: len(fit) // 2], encoding="utf-8")
        (self.root / "empty.json").write_text("{}", encoding="utf-8")
        (self.root / "list.json").write_text("[1, 2]", encoding="utf-8")
        (self.root / "nolaw.json").write_text(json.dumps({"law": "nope", "params": {"a": 1}}), encoding="utf-8")

    def resolve(self, argv: list[str], data: bytes, name: str) -> list[str]:
        inputs = self.root / "in"
        shutil.rmtree(inputs, ignore_errors=True)
        shutil.rmtree(self.root / "out", ignore_errors=True)
        (self.root / "out").mkdir()
        path = inputs / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return [a.replace("{ws}", str(self.root)).replace("{store}", str(self.store)).replace("{in}", str(path))
                for a in argv]


def invoke(argv: list[str], seconds: float = EXAMPLE_SECONDS) -> tuple[int, str, str]:
    """``main(argv)`` in-process: (exit code, stdout, stderr); a run longer than ``seconds`` raises Hang."""
    out, err = io.StringIO(), io.StringIO()

    def alarm(signum, frame):
        raise Hang(f"{seconds} s: {argv}")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(int(seconds))
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(argv)
            except SystemExit as e:          # argparse: usage errors (2) and --help (0)
                rc = e.code if isinstance(e.code, int) else 1
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return rc, out.getvalue(), err.getvalue()


def _not_json(constant: str):
    raise AssertionError(f"{constant} in --json output: not JSON")


def check(argv: list[str], rc: int, out: str, err: str) -> str:
    """Assert the CLI contract; return the outcome kind: 'ok', 'data error' or 'usage error'."""
    where = f"argv={argv!r}\nexit {rc}\nstderr={err[-2000:]!r}"
    assert "Traceback" not in err and "Traceback" not in out, where
    assert rc in (0, 1, 2), where
    if rc != 0:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and len(lines[0]) > len("error: "), where
        return "data error" if rc == 1 else "usage error"
    command = argv[0]
    fmt = next((a.split("=", 1)[1] for a in argv if a.startswith("--format=")), None)
    if fmt is None and "--format" in argv:
        fmt = argv[argv.index("--format") + 1]
    fmt = fmt or "html"
    out_file = next((a.split("=", 1)[1] for a in argv if a.startswith("--out=")), None)
    if out_file is None and "--out" in argv:
        out_file = argv[argv.index("--out") + 1]
    if command == "report":
        text = Path(out_file).read_text(encoding="utf-8") if out_file and out_file != "/dev/null" else out
        if out_file == "/dev/null":
            return "ok"
        if fmt == "json":
            assert isinstance(json.loads(text, parse_constant=_not_json), dict), where
        elif fmt == "html":
            assert text.lstrip().lower().startswith(("<!doctype html", "<html")), where
            for h in HTML_HOSTILE:
                assert h not in text, f"unescaped {h!r} in the HTML report\n{where}"
        return "ok"
    if "--json" in argv:
        payload = json.loads(out, parse_constant=_not_json)     # strict: no NaN / Infinity
        assert isinstance(payload, dict), where
    else:
        assert out.strip() or command in ("scan",), where
    if out_file and out_file != "/dev/null" and command == "fit":
        assert isinstance(json.loads(Path(out_file).read_text(encoding="utf-8")), dict), where
    return "ok"


def run_and_check(ws: Workspace, case) -> str:
    argv, data, name = case
    real = ws.resolve(argv, data, name)
    rc, out, err = invoke(real)
    return check(real, rc, out, err)


FUZZ = settings(deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
EXAMPLES = {"laws": 10, "families": 20, "predict": 50, "scan": 30, "report": 30, "downstream": 30}


# ---------------------------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def ws(data_dir, tmp_path_factory) -> Workspace:
    from datasets.build import build

    root = tmp_path_factory.mktemp("cli_fuzz")
    store = root / "small.duckdb"
    build(data_dir, store, only=SMALL_SOURCES)
    return Workspace(root / "ws", store)


def test_every_subcommand_is_fuzzed():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert set(sub.choices) == set(COMMANDS)


def test_the_pools_name_real_families_and_metrics(ws):
    from datasets.store import Store

    s = Store(ws.store)
    fams = set(s.families()["family"])
    assert set(FAMILIES) <= fams and set(SCAN_FAMILIES) <= fams
    metrics = {m for f in FAMILIES for m in s.metrics(f)["metric"]}
    assert len(set(METRICS) & metrics) >= 6


def _fuzz(command: str):
    @settings(FUZZ, max_examples=EXAMPLES.get(command, 40))
    @given(case=cli_cases(command))
    def test(ws, case):
        assert run_and_check(ws, case) in ("ok", "data error", "usage error")
    test.__name__ = f"test_fuzz_{command}"
    return test


for _command in COMMANDS:
    globals()[f"test_fuzz_{_command}"] = _fuzz(_command)


def test_contract_holds_on_hand_picked_hostile_cases(ws):
    """Cases the strategies reach only by luck, with the exact outcome each must have."""
    ex, store = str(ws.root / "example.csv"), str(ws.store)
    cases = [
        (["fit", "--law", "nonsense", "--csv", ex], 2, "invalid choice"),
        (["allocate", "--csv", ex, "--compute", "-1"], 2, "--compute"),
        (["allocate", "--csv", ex, "--compute", "nan"], 2, "--compute"),
        (["allocate", "--csv", ex, "--compute", "1e400"], 2, "--compute"),
        (["fit", "--csv", ex, "--bootstrap", "1e9"], 2, "--bootstrap"),
        (["fit", "--store", store, "--family", "x' OR 1=1 --", "--bootstrap", "0"], 1, "not found"),
        (["fit", "--store", store, "--family", "chinchilla-epoch/chinchilla", "--metric", "l'\"oss", "--bootstrap",
          "0"], 1, "is not in family"),
        (["trend", "--store", store, "--family", "overtrain/rpj", "--metric", "x'); DROP TABLE runs; --"], 1,
         "is not in family"),
        (["crossover", "--store", store, "--family", "a", "--family", "b"], 1, "not found"),
        (["crossover", "--csv", ex, "--group", "lr", "--bootstrap", "0"], 1, "constant within each run"),
        (["fit", "--csv", str(ws.root / "adir")], 1, "holds no runs"),        # an empty folder
        (["fit", "--csv", str(ws.root / "missing.csv")], 1, "no such file"),
        (["predict", "--fit", str(ws.root / "list.json"), "--csv", ex], 1, "is not a fit"),
        (["families", "--store", str(ws.root / "junk.duckdb")], 1, "not a readable DuckDB database"),
        (["families", "--store", store, "--json"], 0, ""),                # DECIMAL sums as JSON numbers
        (["fit", "--csv", ex, "--bootstrap", "0", "--json"], 0, ""),      # the lr series is not a metric choice
    ]
    for argv, want, text in cases:
        rc, out, err = invoke(argv)
        assert check(argv, rc, out, err) and rc == want, (argv, rc, err)
        assert text in err, (argv, err)
    # the store is unchanged by all of this (read-only)
    from datasets.store import Store
    assert Store(store).summary()["n_sources"] == len(SMALL_SOURCES)


def test_limits_are_configured_and_enforced_in_code(ws, tmp_path):
    """The upload limit is in .streamlit/config.toml (the browser refuses bigger files) and again in the
    reader (so the CLI and any caller get it too); row and run limits say what they are."""
    import tomllib

    from datasets.upload import MAX_BYTES, UploadError, read_upload

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["maxUploadSize"] * 1_000_000 == MAX_BYTES
    big = tmp_path / "big.csv"
    with big.open("wb") as f:                      # sparse: refused from its size, never read
        f.truncate(MAX_BYTES + 1)
    for argv in (["fit", "--csv", str(big)], ["predict", "--fit", str(ws.root / "fit.json"), "--csv", str(big)]):
        rc, out, err = invoke(argv, seconds=10)
        assert check(argv, rc, out, err) == "data error" and "limit" in err, err
    with pytest.raises(UploadError, match="above the 0.001 MB limit|limit"):
        read_upload(example_csv().encode(), max_bytes=1000)
    with pytest.raises(UploadError, match="more than 10 rows"):
        read_upload(example_csv(), max_rows=10)
    with pytest.raises(UploadError, match="5 runs, above the limit of 3"):
        read_upload(example_csv(), max_runs=3)


@pytest.mark.parametrize("argv, want", [
    (["fit", "--csv", "{hostile}", "--metric", "loss", "--bootstrap", "5", "--json"], 0),
    (["report", "--csv", "{hostile}", "--metric", "loss", "--bootstrap", "0", "--format", "html"], 0),
    (["allocate", "--csv", "{ws}/example.csv", "--compute", "-1e400"], 2),
    (["families", "--store", "{ws}/junk.duckdb", "--json"], 1),
])
def test_real_process_keeps_the_contract(ws, argv, want):
    """The installed entry point: warnings, exit codes and stderr as a user sees them."""
    hostile = ws.root / "hostile.csv"
    text = (example_csv().replace("my-20m", "<script>alert(1)</script>")
            .replace("chinchilla-like", "<img src=x onerror=alert(1)>").replace("val_loss", "loss")
            .replace("my-50m", "\"=cmd|' /C calc'!A0\""))
    hostile.write_text(text, encoding="utf-8")
    real = [a.replace("{ws}", str(ws.root)).replace("{hostile}", str(hostile)) for a in argv]
    p = subprocess.run([sys.executable, "-m", "analysis", *real], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == want, p.stderr
    assert check(real, p.returncode, p.stdout, p.stderr)
    if want == 0:
        assert p.stderr.count("\n") <= 1, p.stderr     # at most the report's note; no library warnings
        if real[0] == "fit":      # the formula-named run was refused (CSV injection); the others were fitted
            assert json.loads(p.stdout)["n_runs"] == 4
