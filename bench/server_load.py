"""Server load (a benchmark, not a test): many lightweight clients speaking Streamlit's own protocol.

    python bench/server_load.py [--sessions 1,10,25,50] [--seconds 30] [--max-actions 400] [--store FILE]
                                [--boot 200] [--json FILE]

One real ``streamlit run app.py`` on 127.0.0.1 (the launcher of ``tests/test_browser.py``; nothing else is
contacted) and N concurrent client sessions in one asyncio process. A client
(:mod:`bench.streamlit_client`) is what the browser's JavaScript does on the wire, without a browser: the
XSRF cookie, a websocket, ``BackMsg`` protobufs out and ``ForwardMsg`` protobufs in, uploads as the
uploader makes them. So the numbers are the server's (script runs, caches, protobuf and Arrow
serialisation, the websocket), not a browser's drawing: one client costs a few ms of CPU per action
(printed below).

Each session loops until the level's time is up or the level's action count is reached, each action in a
new tab (a new Streamlit session opened from a shared URL, closed when the answer is read):

* **browse** ``/Browse`` for a family (rotating over sources): "Runs shown" and "Points shown" must equal
  what the store API says for that family and its default metric;
* **fit** ``/Fit`` on Epoch's Chinchilla points, Chinchilla law, Huber, no cut, the flagged runs excluded,
  and a bootstrap count unique to the action (so every fit is computed, never a cached result): the
  parameter table (the page's static table) must equal ``python -m analysis allocate --json``'s fitted
  parameters to the digits it shows (:func:`bench.load_references.same`);
* **allocate** ``/Allocate`` with the same settings and one of several budgets: N*, D* and tokens per
  parameter as the page shows them must equal the CLI's answer for that budget, formatted alike;
* **upload** ``/Upload`` then the example CSV, renamed per session and action: the validation report must
  equal ``read_upload``'s, and the page's list of uploads must hold exactly this file (another session's
  file there is a wrong answer: an isolation failure).

An error is an exception or ``st.error`` in the page, a refused connection or upload, or a timeout; a wrong
answer is a page that ran but showed a number different from the reference. Per level: actions per second,
p50/p95 latency per action kind and their ratio to the first level's (the single-session baseline,
measured in the same run), errors, wrong answers, server CPU seconds per action and how busy the machine
was (the clients, the server and anything else running share its CPUs).
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load_references import BUDGETS, FIT_FAMILY, Expected, WrongAnswer, expectations, same  # noqa: E402
from bench.streamlit_client import CHARTS, PageRun, ProtocolError, Session  # noqa: E402
from tests.test_browser import start_app, stop_app  # noqa: E402

MIX = ("browse", "fit", "allocate", "upload")
ACTION_TIMEOUT = 180.0                     # s for one action (connect to settled page)


def _qs(params: dict[str, list[str]], **extra) -> str:
    return urllib.parse.urlencode([(k, v) for k, vs in params.items() for v in vs] +
                                  [(k, str(v)) for k, v in extra.items()])


def _count(text: str) -> int:
    return int(text.replace(",", ""))


# ---------------------------------------------------------------------------------------------- actions
async def browse(tab: Session, exp: Expected, k: int, session: int) -> PageRun:
    fam = list(exp.browse)[(k + session) % len(exp.browse)]
    source, runs, points = exp.browse[fam]
    run = await tab.open("Browse", _qs({"source": [source], "family": [fam]}))
    run.check()
    shown = (_count(run.metric("Runs shown")), _count(run.metric("Points shown")))
    if shown != (runs, points):
        raise WrongAnswer(f"browse {fam}: runs, points shown {shown}; the store has {(runs, points)}")
    if not run.of(*CHARTS):
        raise ProtocolError(f"browse {fam}: no chart")
    return run


async def fit(tab: Session, exp: Expected, k: int, boot: int) -> PageRun:
    run = await tab.open("Fit", _qs(exp.fit_query, boot=boot))
    run.check()
    table = next((t for t in run.tables() if list(t.columns[:2]) == ["parameter", "value"]), None)
    if table is None:
        raise ProtocolError(f"fit boot={boot}: no parameter table")
    shown = dict(zip(table["parameter"], table["value"]))
    bad = {p: (shown.get(p), v) for p, v in exp.fit_params.items() if p not in shown or not same(shown[p], v)}
    if bad:
        raise WrongAnswer(f"fit boot={boot}: page vs CLI {bad}")
    return run


async def allocate(tab: Session, exp: Expected, k: int, session: int) -> PageRun:
    budget = BUDGETS[(k + session) % len(BUDGETS)]
    run = await tab.open("Allocate", _qs(exp.fit_query, budget=repr(budget)))
    run.check()
    shown = {label: run.metric(label) for label in exp.allocations[budget]}
    if shown != exp.allocations[budget]:
        raise WrongAnswer(f"allocate {budget:g}: page {shown}, CLI {exp.allocations[budget]}")
    return run


async def upload(tab: Session, exp: Expected, k: int, session: int) -> PageRun:
    name, family = f"session{session}-upload{k}.csv", f"family-s{session}-u{k}"
    payload = exp.csv_text.replace("chinchilla-like", family).encode()
    first = await tab.open("Upload")
    first.check()
    uploader = first.of("file_uploader")
    if not uploader:
        raise ProtocolError("no file uploader on the Upload page")
    info = await tab.upload_file(name, payload)
    from streamlit.proto.WidgetStates_pb2 import WidgetState

    state = WidgetState(id=uploader[0].id)
    state.file_uploader_state_value.uploaded_file_info.add().CopyFrom(info)
    run = await tab.rerun([state])
    run.check()
    got = {m: _count(run.metric(m)) for m in exp.upload}
    if got != exp.upload:
        raise WrongAnswer(f"upload {name}: report {got}, read_upload says {exp.upload}")
    listed = next((t for t in run.tables() if list(t.columns[:1]) == ["file"]), None)
    if listed is None:
        raise ProtocolError(f"upload {name}: no list of uploads among "
                            f"{[list(t.columns) for t in run.tables()]}")
    if list(listed["file"]) != [name] or list(listed["families"]) != [f"upload/{family}"]:
        raise WrongAnswer(f"upload {name}: this session lists {list(listed['file'])} {list(listed['families'])}")
    run.seconds += first.seconds
    run.received += first.received
    return run


# ---------------------------------------------------------------------------------------------- levels
@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in MIX})
    received: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    wall: float = 0.0
    server_cpu: float = 0.0          # CPU seconds the Streamlit server used during the level
    client_cpu: float = 0.0          # CPU seconds this process (all the clients) used during the level
    machine_busy: float = 0.0        # share of the machine's CPU time in use (all processes)

    @property
    def done(self) -> int:
        return sum(len(v) for v in self.latencies.values())


async def session_loop(host: str, port: int, exp: Expected, session: int, deadline: float, budget: itertools.count,
                       boots: itertools.count, tally: Tally) -> None:
    for k in itertools.count():
        if time.perf_counter() >= deadline or next(budget) < 0:
            return
        kind = MIX[(k + session) % len(MIX)]
        tab = Session(host, port)
        t = time.perf_counter()
        try:
            async with asyncio.timeout(ACTION_TIMEOUT):
                if kind == "browse":
                    run = await browse(tab, exp, k, session)
                elif kind == "fit":
                    run = await fit(tab, exp, k, next(boots))
                elif kind == "allocate":
                    run = await allocate(tab, exp, k, session)
                else:
                    run = await upload(tab, exp, k, session)
            tally.latencies[kind].append(time.perf_counter() - t)
            tally.received.append(run.received)
        except WrongAnswer as e:
            tally.wrong.append(str(e))
        except Exception as e:  # noqa: BLE001 - a refusal, a timeout or a failure in the page: counted, reported
            first_line = str(e).splitlines()[0][:200] if str(e) else ""
            tally.errors.append(f"session {session} {kind}: {type(e).__name__}: {first_line}")
        finally:
            try:
                await tab.close()
            except Exception:  # noqa: BLE001 - closing a broken socket
                pass


def _process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, TypeError):
        return 0.0


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU ticks of the whole machine so far (Linux /proc/stat)."""
    try:
        v = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v) - idle, sum(v)
    except (OSError, ValueError, IndexError):
        return 0.0, 0.0


async def level(host: str, port: int, exp: Expected, n: int, seconds: float, max_actions: int,
                boots: itertools.count, server_pid: int | None = None) -> Tally:
    """``n`` concurrent sessions for ``seconds`` (started actions finish) or ``max_actions`` actions."""
    tally = Tally()
    cpu0, me0, (busy0, total0) = _process_cpu(server_pid), _self_cpu(), _machine_busy()
    t0 = time.perf_counter()
    budget = itertools.count(max_actions - 1, -1)           # shared: the level stops after max_actions
    await asyncio.gather(*(session_loop(host, port, exp, i, t0 + seconds, budget, boots, tally) for i in range(n)))
    tally.wall = time.perf_counter() - t0
    busy1, total1 = _machine_busy()
    tally.server_cpu = _process_cpu(server_pid) - cpu0
    tally.client_cpu = _self_cpu() - me0
    tally.machine_busy = (busy1 - busy0) / max(total1 - total0, 1)
    return tally


def _pct(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def campaign(host: str, port: int, exp: Expected, levels: list[int], seconds: float, max_actions: int,
                   boot: int, server_pid: int | None) -> list[tuple[int, Tally]]:
    boots = itertools.count(boot)          # a new bootstrap count for every fit: computed, never a cached result
    warm = await level(host, port, exp, 1, ACTION_TIMEOUT * len(MIX), len(MIX), boots)   # one of each: imports, caches
    if warm.errors or warm.wrong:
        print(f"warm-up problems: {warm.errors[:3]} {warm.wrong[:3]}", flush=True)
    out = []
    for n in levels:
        tally = await level(host, port, exp, n, seconds, max_actions, boots, server_pid)
        out.append((n, tally))
        print(f"  N={n:<3} {tally.done} actions in {tally.wall:.1f} s, {len(tally.errors)} errors, "
              f"{len(tally.wrong)} wrong answers", flush=True)
    return out


def report(results: list[tuple[int, Tally]]) -> list[dict]:
    base = results[0][1]
    print(f"{'N':>4}{'actions':>9}{'act/s':>7}{'x base':>7}"
          + "".join(f"{k + ' p50/p95 s (p95 x base)':>34}" for k in MIX)
          + f"{'errors':>7}{'wrong':>6}{'server CPU s/act':>17}{'client CPU s/act':>17}{'KB/act':>8}{'busy':>6}")
    rows = []
    for n, t in results:
        rate = t.done / t.wall
        cells = ""
        row = {"sessions": n, "actions": t.done, "seconds": round(t.wall, 2), "actions_per_s": round(rate, 3),
               "errors": t.errors, "wrong": t.wrong, "server_cpu_per_action": t.server_cpu / max(t.done, 1),
               "client_cpu_per_action": t.client_cpu / max(t.done, 1), "machine_busy": t.machine_busy}
        for k in MIX:
            p50, p95, b95 = _pct(t.latencies[k], 50), _pct(t.latencies[k], 95), _pct(base.latencies[k], 95)
            cells += f"{f'{p50:.2f} / {p95:.2f} ({p95 / b95:.1f}x)':>34}"
            row[k] = {"n": len(t.latencies[k]), "p50": p50, "p95": p95, "p95_vs_base": p95 / b95}
        kb = statistics.mean(t.received) / 1e3 if t.received else float("nan")
        print(f"{n:>4}{t.done:>9}{rate:>7.2f}{rate / (base.done / base.wall):>7.2f}{cells}{len(t.errors):>7}"
              f"{len(t.wrong):>6}{t.server_cpu / max(t.done, 1):>17.2f}{t.client_cpu / max(t.done, 1):>17.3f}"
              f"{kb:>8.0f}{100 * t.machine_busy:>5.0f}%")
        for e in t.errors[:5] + t.wrong[:5]:
            print(f"      {e}")
        rows.append(row)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", default="1,10,25,50",
                    help="comma-separated concurrent sessions per level; the first is the baseline "
                         "(default 1,10,25,50)")
    ap.add_argument("--seconds", type=float, default=30.0, help="time of each level: no action starts after it")
    ap.add_argument("--max-actions", type=int, default=400, help="at most this many actions per level")
    ap.add_argument("--store", type=Path,
                    help="store file (default: $SCALING_STORE or ./store.duckdb, built if missing)")
    ap.add_argument("--boot", type=int, default=200, help="bootstrap resamples of the first fit action (then +1 each)")
    ap.add_argument("--json", type=Path, help="also write the results to this JSON file")
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
    print(f"server_load: store {store}; levels {levels}, {args.seconds:g} s or {args.max_actions} actions each; "
          f"{os.cpu_count()} CPUs shared by the server, the clients and the rest of the machine")
    print(f"reference (CLI, {FIT_FAMILY}, flagged runs excluded): "
          + ", ".join(f"{k} {v:.6g}" for k, v in exp.fit_params.items())
          + f"; {len(exp.browse)} browse families; {len(exp.allocations)} budgets; "
            f"references in {time.perf_counter() - t:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        proc, url, health = start_app(store, log, {"SCALING_BOOTSTRAP": str(args.boot), "SCALING_TIME_BUDGET": "20"})
        try:
            parts = urllib.parse.urlsplit(url)
            print(f"server {url} healthy in {health:.1f} s", flush=True)
            results = asyncio.run(campaign(parts.hostname, parts.port, exp, levels, args.seconds, args.max_actions,
                                           args.boot, proc.pid))
        finally:
            stop_app(proc)
        server_tracebacks = log.read_text(errors="replace").count("Traceback")
    rows = report(results)
    wrong = sum(len(t.wrong) for _, t in results)
    errors = sum(len(t.errors) for _, t in results)
    print(f"errors: {errors}; wrong answers: {wrong}; tracebacks in the server log: {server_tracebacks}")
    if args.json:
        args.json.write_text(json.dumps({"levels": rows, "tracebacks": server_tracebacks}, indent=1, default=str))
    return 1 if wrong or errors or server_tracebacks else 0


if __name__ == "__main__":
    sys.exit(main())
