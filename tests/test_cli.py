"""``python -m analysis``: the JSON contract of every command, and one-line errors."""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tests.test_fit_epoch import EPOCH

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def cli(*args, ok=True):
    p = subprocess.run([sys.executable, "-m", "analysis", *map(str, args)], cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
    if ok:
        assert p.returncode == 0, p.stderr
    return p


def cli_json(*args):
    return json.loads(cli(*args, "--json").stdout)


@pytest.fixture(scope="module")
def epoch_csv(tmp_path_factory, data_dir):
    raw = pd.read_csv(data_dir / "chinchilla-epoch" / "data" / "svg_extracted_data.csv")
    df = pd.DataFrame({"run": [f"r{i}" for i in range(len(raw))], "params": raw["Model Size"],
                       "flops": raw["Training FLOP"], "loss": raw["loss"]})
    df = df.sort_values("loss").iloc[:-5]
    df["tokens"] = df["flops"] / (6 * df["params"])
    path = tmp_path_factory.mktemp("cli") / "epoch.csv"
    df.to_csv(path, index=False)
    return path


def test_laws_lists_the_registry():
    laws = {d["name"]: d for d in cli_json("laws")["laws"]}
    assert {"chinchilla", "kaplan", "data_constrained", "power_c", "bnsl1", "lr_anneal"} <= set(laws)
    assert [p["name"] for p in laws["chinchilla"]["parameters"]] == ["E", "A", "B", "alpha", "beta"]


def test_fit_json_contract_reproduces_epoch(epoch_csv):
    out = cli_json("fit", "--csv", epoch_csv, "--law", "chinchilla", "--bootstrap", 200, "--seed", 1)
    assert {"law", "params", "ci", "n_points", "n_runs", "success", "warnings"} <= set(out)
    assert out["n_points"] == 240 and out["n_runs"] == 240 and out["success"]
    for k, v in EPOCH.items():
        assert out["params"][k] == pytest.approx(v, rel=0.05)
        lo, hi = out["ci"][k]
        assert lo < out["params"][k] < hi


def test_fit_out_then_predict_with_band(epoch_csv, tmp_path):
    fit_path = tmp_path / "fit.json"
    cli("fit", "--csv", epoch_csv, "--bootstrap", 100, "--out", fit_path)
    pts = tmp_path / "pts.csv"
    pd.DataFrame({"params": [7e10, 1e9], "tokens": [1.4e12, 2e10]}).to_csv(pts, index=False)
    out = cli_json("predict", "--fit", fit_path, "--csv", pts)
    rows = out["predictions"]
    assert len(rows) == 2 and all(r["y_lo"] <= r["y_pred"] <= r["y_hi"] for r in rows)
    assert 1.8 < rows[0]["y_pred"] < 2.1


def test_allocate_contract(epoch_csv):
    out = cli_json("allocate", "--csv", epoch_csv, "--compute", "5.76e23", "--bootstrap", 100)
    assert {"compute", "N_opt", "D_opt", "tokens_per_param", "loss", "ci"} <= set(out)
    assert 4e10 < out["N_opt"] < 1.2e11 and out["compute"] == 5.76e23
    assert out["ci"]["N_opt"][0] < out["N_opt"] < out["ci"]["N_opt"][1]


def test_backtest_contract(epoch_csv):
    out = cli_json("backtest", "--csv", epoch_csv, "--law", "chinchilla")
    assert {"are", "log_rmse", "heldout"} <= set(out)
    assert 0 < out["are"] < 0.05 and len(out["heldout"]) >= 1


def test_auto_says_what_it_chose_and_why(epoch_csv):
    out = cli_json("fit", "--csv", epoch_csv, "--law", "auto", "--bootstrap", 0)
    assert out["law"] == out["auto"]["law"] and "held-out" in out["auto"]["reason"]


def test_store_family_input(store_path):
    out = cli_json("fit", "--store", store_path, "--family", "chinchilla-epoch/chinchilla", "--bootstrap", 50)
    assert out["n_points"] == 240 and out["data"]["kind"] == "store"      # Epoch's 5 flagged outliers left out


@pytest.mark.parametrize("args, message", [
    (("fit", "--csv", "/nonexistent/runs.csv"), "no such file"),
    (("fit", "--law", "chinchilla"), "give the data"),
    (("allocate", "--csv", "{csv}", "--law", "power_c", "--compute", "1e21", "--bootstrap", "0"), "cannot split"),
    (("fit", "--csv", "{bad}"), ""),
])
def test_errors_are_one_line_without_traceback(args, message, epoch_csv, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\x00\x01binary\xff")
    args = [a.format(csv=epoch_csv, bad=bad) for a in args]
    p = cli(*args, ok=False)
    assert p.returncode == 1
    assert "Traceback" not in p.stderr and p.stderr.startswith("error:")
    assert len(p.stderr.strip().splitlines()) == 1
    assert message in p.stderr


def test_trend_contract_on_obsscaling(store_path):
    out = cli_json("trend", "--store", store_path, "--family", "obsscaling/Pythia", "--metric", "TruthfulQA",
                   "--final-only")
    assert {"shape", "p_value", "turning_point"} <= set(out)
    assert out["shape"] == "inverse" and out["p_value"] < 0.01


def test_crossover_contract_on_laion(store_path):
    out = cli_json("crossover", "--store", store_path, "--family", "laion-clip-mammut/clip",
                   "--family", "laion-clip-mammut/mammut", "--metric", "ade20k/miou", "--x", "flops",
                   "--bootstrap", 100, "--target", "1e21")
    assert {"crossover_x", "ci", "p_cross", "better_at_target"} <= set(out)
    assert out["crossover_x"] is not None and out["ci"][0] < out["crossover_x"] < out["ci"][1]
    assert out["better_at_target"]["laion-clip-mammut/mammut"] > 0.5


def test_crossover_from_a_csv_group_column(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    # "wide" is better at small compute, "deep" at large: they cross near 1e19 FLOPs
    for g, (E, A, a) in {"wide": (2.0, 5.0, 0.10), "deep": (1.5, 400.0, 0.15)}.items():
        for i, C in enumerate(np.geomspace(1e17, 1e21, 8)):
            rows.append({"run": f"{g}-{i}", "method": g, "flops": C, "params": C ** 0.5 / 6,
                         "loss": (E + A * C ** -a) * np.exp(rng.normal(0, 0.003))})
    path = tmp_path / "groups.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    out = cli_json("crossover", "--csv", path, "--group", "method", "--x", "flops", "--bootstrap", 100)
    assert set(out["groups"]) == {"wide", "deep"} and out["p_cross"] > 0.9
    assert 1e17 < out["crossover_x"] < 1e21


def test_downstream_contract_on_overtrain(store_path):
    out = cli_json("downstream", "--store", store_path, "--family", "overtrain/c4_original",
                   "--metric", "hellaswag/acc")
    assert {"model", "heldout_rel_error", "maps"} <= set(out)
    assert out["maps"] is True and out["heldout_rel_error"] < 0.1
    assert out["chance"] == 0.25                     # the source's published baseline, as the app defaults to
    given = cli_json("downstream", "--store", store_path, "--family", "overtrain/c4_original",
                     "--metric", "hellaswag/acc", "--chance", 0.1)
    assert given["chance"] == 0.1


@pytest.mark.parametrize("fmt, marker", [("md", "| alpha |"), ("json", '"law": "chinchilla"'), ("html", "<html")])
def test_report_formats(epoch_csv, tmp_path, fmt, marker):
    out = tmp_path / f"report.{fmt}"
    cli("report", "--csv", epoch_csv, "--bootstrap", 50, "--format", fmt, "--out", out)
    text = out.read_text(encoding="utf-8")
    assert marker in text and "python -m analysis report" in text


def test_report_with_auto_law_and_several_budgets(epoch_csv, tmp_path):
    """The budgets of the allocation table (--compute, repeated, as the app's reproduce commands write them)
    with --law auto: the law is chosen at the largest budget (it failed comparing a list with a number)."""
    out = tmp_path / "report.json"
    cli("report", "--csv", epoch_csv, "--law", "auto", "--compute", "1e22", "--compute", "1e24", "--bootstrap", 20,
        "--format", "json", "--out", out)
    report = json.loads(out.read_text(encoding="utf-8"))
    assert [row["compute"] for row in report["allocation"]] == [1e22, 1e24]


def test_report_keeps_the_budgets_an_interpolation_only_law_can_allocate(store_path, tmp_path):
    """Farseer is not extrapolated: the report's table keeps the default budgets inside the data and says why
    the others are missing (the whole report failed)."""
    out = tmp_path / "report.json"
    p = cli("report", "--store", store_path, "--family", "chinchilla-epoch/chinchilla", "--law", "farseer",
            "--bootstrap", 10, "--format", "json", "--out", out)
    computes = [row["compute"] for row in json.loads(out.read_text(encoding="utf-8"))["allocation"]]
    assert computes and max(computes) < 1e23
    assert "note: no allocation at 1e+23 FLOPs (farseer is fitted for interpolation only" in p.stderr


def test_store_fits_leave_out_the_flagged_runs_as_the_app_does(store_path):
    out = cli_json("fit", "--store", store_path, "--family", "chinchilla-epoch/chinchilla", "--bootstrap", 0)
    assert out["n_points"] == 240 and len(out["settings"]["exclude_runs"]) == 5
    assert abs(out["params"]["alpha"] - EPOCH["alpha"]) < 0.01
    kept = cli_json("fit", "--store", store_path, "--family", "chinchilla-epoch/chinchilla", "--bootstrap", 0,
                    "--keep-flagged")
    assert kept["n_points"] == 245 and not kept["settings"]["exclude_runs"]
    # what the app's report command writes: the whole exclusion list, flagged runs not added again
    one = cli_json("fit", "--store", store_path, "--family", "chinchilla-epoch/chinchilla", "--bootstrap", 0,
                   "--keep-flagged", "--exclude-run", "chinchilla-epoch/row001")
    assert one["n_points"] == 244
