"""Concurrent sessions (a load benchmark, not a test): many concurrent browser sessions against one real ``streamlit run app.py`` on 127.0.0.1.

    python bench/concurrent_sessions.py [--sessions 1,8] [--seconds 60] [--store FILE] [--boot 30]

One server (the launcher of ``tests/test_browser.py``: a free 127.0.0.1 port, nothing else is contacted),
one Debian chromium driven by playwright (asyncio), N browser contexts = N independent Streamlit sessions,
each looping over a mix of page actions until the time is up:

* **browse**: open ``/Browse`` for a family (rotating over several sources), wait for the curves; check
  that "Runs shown" equals the number of runs the store holds for that family and its default metric.
* **fit**: open ``/Fit`` for ``chinchilla-epoch/chinchilla`` with explicit settings (Chinchilla law, Huber,
  no cut, the five highest-loss runs excluded as in Epoch's replication, a bootstrap count unique to the
  action so every fit is computed, not cached); read E, A, B, alpha, beta from the parameter table and
  compare them with ``python -m analysis fit --store ... --json`` run once with the same settings
  (a *wrong answer* is a relative difference above 1e-4, the table shows 5 significant digits).
* **upload**: open ``/Upload``, upload ``datasets.upload.example_csv()`` renamed and re-labelled for this
  session and action; check the validation report (runs, points kept, rows rejected) against
  ``read_upload`` and that "Uploaded in this session" lists exactly this upload (another session's file
  there is a wrong answer: an isolation failure).

Each level of N reports page actions per second, p50/p95 latency per action kind, errors (exceptions shown
in the page, timeouts, browser errors) and wrong answers (must be 0), with the CPU seconds the server
process spent per action and how busy the whole machine was. The first level is the baseline (N=1 by
default), measured in the same run; ratios are against it. Client (chromium drawing every chart) and
server share this machine's CPUs, so the throughput is a floor for the server alone: the server's CPU
seconds per action say what it could do with the CPUs to itself.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_browser import CHART, CHROMIUM, CHROMIUM_ARGS, start_app, stop_app  # noqa: E402
from ui.navigation import BY_NAME  # noqa: E402

BROWSE, FIT, UPLOAD = BY_NAME["Browse"], BY_NAME["Fit"], BY_NAME["Upload"]

FIT_FAMILY = "chinchilla-epoch/chinchilla"
BROWSE_FAMILIES = ["chinchilla-epoch/chinchilla", "overtrain/rpj", "laion-clip-mammut/clip", "obsscaling/Pythia",
                   "gemstones/hot", "colpret/datablations-c4", "revisiting/lm-val_loss"]
PARAMS = ["E", "A", "B", "alpha", "beta"]
REL_TOL = 1e-4
ACTION_TIMEOUT_MS = 120_000
MIX = ["browse", "fit", "upload"]
SETTLED = '[data-testid="stApp"][data-test-script-state="notRunning"]'
TABLES_JS = """() => Array.from(document.querySelectorAll('[data-testid="stDataFrame"] table')).map(t => ({
    head: Array.from(t.querySelectorAll('thead th')).map(th => th.innerText.trim()),
    rows: Array.from(t.querySelectorAll('tbody tr')).map(tr => Array.from(tr.querySelectorAll('td'))
                                                      .map(td => td.innerText.trim()))}))"""


# ---------------------------------------------------------------------------------------------- expectations
@dataclass
class Expected:
    fit_query: str
    fit_params: dict[str, float]
    browse: dict[str, tuple[str, int]]            # family -> (source, runs shown)
    upload: dict[str, int]                        # Runs, Points kept, Rows rejected


def expectations(store: Path) -> Expected:
    """What the pages must show, computed without the app (the CLI, the store API, the upload reader)."""
    from datasets.store import Store
    from datasets.upload import example_csv, read_upload

    s = Store(store)
    frame = s.fit_frame(FIT_FAMILY, s.default_metric(FIT_FAMILY))
    worst = sorted(frame.nlargest(5, "y")["run"].astype(str))
    cmd = [sys.executable, "-m", "analysis", "fit", "--store", str(store), "--family", FIT_FAMILY, "--law",
           "chinchilla", "--objective", "huber", "--bootstrap", "0", "--json", "--compact"]
    for r in worst:
        cmd += ["--exclude-run", r]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError(f"the CLI fit failed: {p.stderr}")
    params = json.loads(p.stdout)["params"]
    query = [("source", FIT_FAMILY.split("/")[0]), ("family", FIT_FAMILY), ("law", "chinchilla"),
             ("objective", "huber"), ("cut", "none")] + [("exclude", r) for r in worst]
    browse = {}
    fams = set(s.families()["family"])
    for fam in BROWSE_FAMILIES:
        if fam in fams:
            metric = s.default_metric(fam)
            browse[fam] = (fam.split("/")[0], int(s.points(family=fam, metric=metric)["run_id"].nunique()))
    rep = read_upload(example_csv(), filename="example.csv").report
    return Expected(urllib.parse.urlencode(query), {k: float(params[k]) for k in PARAMS}, browse,
                    {"Runs": rep.runs, "Points kept": rep.points_kept, "Rows rejected": rep.n_rejected})


# ---------------------------------------------------------------------------------------------- actions
@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in MIX})
    errors: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    server_cpu: float = 0.0          # CPU seconds the Streamlit server used during the level
    machine_busy: float = 0.0        # share of the machine's CPU time in use (all processes)

    def merge(self, other: "Tally") -> None:
        for k, v in other.latencies.items():
            self.latencies[k].extend(v)
        self.errors += other.errors
        self.wrong += other.wrong


class WrongAnswer(Exception):
    pass


async def _settle(page, title: str) -> None:
    await page.locator("h1").filter(has_text=title).first.wait_for(timeout=ACTION_TIMEOUT_MS)
    await page.locator(SETTLED).wait_for(state="attached", timeout=ACTION_TIMEOUT_MS)
    n = await page.get_by_test_id("stException").count()
    if n:
        text = await page.get_by_test_id("stException").first.inner_text()
        raise RuntimeError(f"exception shown in the page: {text[:300]}")


async def _metric(page, label: str) -> str:
    m = page.get_by_test_id("stMetric").filter(has_text=label).first
    return (await m.get_by_test_id("stMetricValue").inner_text()).strip()


async def browse(page, url: str, exp: Expected, k: int, session: int) -> None:
    fam = list(exp.browse)[(k + session) % len(exp.browse)]
    source, runs = exp.browse[fam]
    await page.goto(f"{url}{BROWSE.url_path}?{urllib.parse.urlencode({'source': source, 'family': fam})}",
                    timeout=ACTION_TIMEOUT_MS)
    await _settle(page, BROWSE.title)
    await page.locator(CHART).first.wait_for(timeout=ACTION_TIMEOUT_MS)
    shown = int((await _metric(page, "Runs shown")).replace(",", ""))
    if shown != runs:
        raise WrongAnswer(f"browse {fam}: Runs shown {shown}, the store has {runs}")


async def fit(page, url: str, exp: Expected, k: int, boot: int) -> None:
    await page.goto(f"{url}{FIT.url_path}?{exp.fit_query}&boot={boot}", timeout=ACTION_TIMEOUT_MS)
    await _settle(page, FIT.title)
    await page.locator('[data-testid="stDataFrame"] table').filter(has_text="alpha").first.wait_for(
        state="attached", timeout=ACTION_TIMEOUT_MS)          # the grid's accessible table is not "visible"
    tables = await page.evaluate(TABLES_JS)
    table = next((t for t in tables if t["head"][:2] == ["parameter", "value"]), None)
    if table is None:
        raise RuntimeError(f"no parameter table among {[t['head'] for t in tables]}")
    shown = {row[0]: float(row[1]) for row in table["rows"] if row and row[0] in PARAMS}
    bad = {p: (shown.get(p), v) for p, v in exp.fit_params.items()
           if p not in shown or abs(shown[p] - v) > REL_TOL * abs(v)}
    if bad:
        raise WrongAnswer(f"fit boot={boot}: page vs CLI {bad}")


async def upload(page, url: str, exp: Expected, k: int, session: int, csv_text: str) -> None:
    name = f"session{session}-upload{k}.csv"
    family = f"family-s{session}-u{k}"
    payload = csv_text.replace("chinchilla-like", family).encode("utf-8")
    await page.goto(f"{url}{UPLOAD.url_path}", timeout=ACTION_TIMEOUT_MS)
    await _settle(page, UPLOAD.title)
    await page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        files=[{"name": name, "mimeType": "text/csv", "buffer": payload}])
    await page.get_by_text("Validation report").wait_for(timeout=ACTION_TIMEOUT_MS)
    await page.get_by_text("Uploaded in this session").wait_for(timeout=ACTION_TIMEOUT_MS)
    await _settle(page, UPLOAD.title)
    got = {m: int((await _metric(page, m)).replace(",", "")) for m in exp.upload}
    if got != exp.upload:
        raise WrongAnswer(f"upload {name}: report {got}, read_upload says {exp.upload}")
    listed, tables = None, []
    for _ in range(100):     # the grids draw their (accessible) tables once scrolled into view
        for grid in await page.get_by_test_id("stDataFrame").all():
            await grid.scroll_into_view_if_needed(timeout=ACTION_TIMEOUT_MS)
        tables = await page.evaluate(TABLES_JS)
        listed = next((t for t in tables if t["head"][:1] == ["file"] and t["rows"]), None)
        if listed is not None:
            break
        await asyncio.sleep(0.1)
    if listed is None:
        raise RuntimeError(f"no 'Uploaded in this session' table among {[t['head'] for t in tables]}")
    files = [row[0] for row in listed["rows"]]
    families = [row[listed["head"].index("families")] for row in listed["rows"]] if "families" in listed["head"] else []
    if files != [name] or (families and families != [f"upload/{family}"]):
        raise WrongAnswer(f"upload {name}: this session lists {files} {families}")


async def session_loop(browser, url: str, exp: Expected, session: int, deadline: float, boots, csv_text: str,
                       tally: Tally) -> None:
    ctx = await browser.new_context(viewport={"width": 1300, "height": 900})
    page = await ctx.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda e: page_errors.append(str(e)))
    try:
        for k in itertools.count():
            if time.perf_counter() >= deadline:
                break
            kind = MIX[(k + session) % len(MIX)]
            t = time.perf_counter()
            try:
                if kind == "browse":
                    await browse(page, url, exp, k, session)
                elif kind == "fit":
                    await fit(page, url, exp, k, next(boots))
                else:
                    await upload(page, url, exp, k, session, csv_text)
                tally.latencies[kind].append(time.perf_counter() - t)
            except WrongAnswer as e:
                tally.wrong.append(str(e))
            except Exception as e:  # noqa: BLE001 - a timeout or a failure in the page is an error, counted
                tally.errors.append(f"session {session} {kind}: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
            if page_errors:
                tally.errors += [f"session {session}: page error {m[:200]}" for m in page_errors]
                page_errors.clear()
    finally:
        await ctx.close()


def _process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, TypeError):
        return 0.0


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU ticks of the whole machine so far (Linux /proc/stat)."""
    try:
        v = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v) - idle, sum(v)
    except (OSError, ValueError, IndexError):
        return 0.0, 0.0


async def level(browser, url: str, exp: Expected, n: int, seconds: float, boots, csv_text: str,
                server_pid: int | None = None) -> tuple[Tally, float]:
    tally = Tally()
    cpu0, (busy0, total0) = _process_cpu(server_pid), _machine_busy()
    t0 = time.perf_counter()
    deadline = t0 + seconds
    parts = [Tally() for _ in range(n)]
    await asyncio.gather(*(session_loop(browser, url, exp, i, deadline, boots, csv_text, parts[i])
                           for i in range(n)))
    wall = time.perf_counter() - t0
    for p in parts:
        tally.merge(p)
    busy1, total1 = _machine_busy()
    tally.server_cpu = _process_cpu(server_pid) - cpu0
    tally.machine_busy = (busy1 - busy0) / max(total1 - total0, 1)
    return tally, wall


async def campaign(url: str, exp: Expected, levels: list[int], seconds: float, boot: int,
                   server_pid: int | None = None) -> list[tuple]:
    from playwright.async_api import async_playwright

    from datasets.upload import example_csv

    csv_text = example_csv()
    boots = itertools.count(boot)        # a new bootstrap count for every fit: computed, never a cached result
    out = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            warm, _ = await level(browser, url, exp, 1, 0.1, boots, csv_text)   # one pass: caches, store, imports
            for _ in range(2):
                w, _ = await level(browser, url, exp, 1, 0.1, boots, csv_text)
                warm.merge(w)
            if warm.errors or warm.wrong:
                print(f"warm-up problems: {warm.errors[:3]} {warm.wrong[:3]}")
            for n in levels:
                tally, wall = await level(browser, url, exp, n, seconds, boots, csv_text, server_pid)
                out.append((n, tally, wall))
                done = sum(len(v) for v in tally.latencies.values())
                print(f"  N={n:<3} {done} actions in {wall:.1f} s, {len(tally.errors)} errors, "
                      f"{len(tally.wrong)} wrong answers", flush=True)
        finally:
            await browser.close()
    return out


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", default="1,8", help="comma-separated concurrent sessions per level; the first is "
                                                      "the baseline (default 1,8)")
    ap.add_argument("--seconds", type=float, default=60.0, help="duration of each level (default 60)")
    ap.add_argument("--store", type=Path, help="store file (default: $SCALING_STORE or ./store.duckdb, built if missing)")
    ap.add_argument("--boot", type=int, default=30, help="first bootstrap count of the fit actions (then +1 each)")
    args = ap.parse_args(argv)
    levels = [int(x) for x in args.sessions.split(",") if x.strip()]
    if not levels or min(levels) < 1:
        ap.error("--sessions needs positive integers")
    if args.store is None:
        from bench._common import store_path
        store = store_path().resolve()
    else:
        store = args.store.resolve()
    t = time.perf_counter()
    exp = expectations(store)
    print(f"concurrent_sessions: store {store}; levels {levels}, {args.seconds:g} s each; machine: {os.cpu_count()} CPUs "
          f"(client and server share them)")
    print(f"expected fit (CLI, {FIT_FAMILY}, 5 highest-loss runs excluded): "
          + ", ".join(f"{k} {v:.6g}" for k, v in exp.fit_params.items())
          + f"; {len(exp.browse)} browse families; expectations in {time.perf_counter() - t:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        proc, url, health = start_app(store, log, {"SCALING_BOOTSTRAP": str(args.boot), "SCALING_TIME_BUDGET": "20"})
        try:
            print(f"server {url} healthy in {health:.1f} s")
            results = asyncio.run(campaign(url, exp, levels, args.seconds, args.boot, proc.pid))
        finally:
            stop_app(proc)
        server_tracebacks = log.read_text(errors="replace").count("Traceback")
    base_rate = None
    header = (f"{'N':>4}{'actions':>9}{'act/s':>8}{'x base':>8}"
              + "".join(f"{k + ' p50/p95 s':>20}" for k in MIX) + f"{'errors':>8}{'wrong':>7}"
              + f"{'server CPU s/act':>18}{'machine busy':>14}")
    print(header)
    failed = False
    for n, tally, wall in results:
        done = sum(len(v) for v in tally.latencies.values())
        rate = done / wall
        base_rate = base_rate or rate
        cells = "".join(f"{f'{_pct(tally.latencies[k], 50):.2f} / {_pct(tally.latencies[k], 95):.2f}':>20}"
                        for k in MIX)
        print(f"{n:>4}{done:>9}{rate:>8.2f}{rate / base_rate:>8.2f}{cells}{len(tally.errors):>8}{len(tally.wrong):>7}"
              f"{tally.server_cpu / max(done, 1):>18.2f}{100 * tally.machine_busy:>13.0f}%")
        for e in (tally.errors[:5] + tally.wrong[:5]):
            print(f"      {e}")
        failed |= bool(tally.wrong)
    print("wrong answers: " + ("NONE" if not failed else "SOME (see above)")
          + f"; tracebacks in the server log: {server_tracebacks}")
    return 1 if failed or server_tracebacks else 0


if __name__ == "__main__":
    sys.exit(main())
