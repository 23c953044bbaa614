"""An uploaded ParScale table (column P or its aliases parallel / num_parallel / streams) reaches the fit frame
and fits through the CLI and the Fit page (issue 15 item 2); the losses are the paper's Stack-V2-Python facts
(tests/test_law_parscale.py), with its tolerances: k = 0.394 +- 0.01, alpha = 0.189 +- 0.005."""
from __future__ import annotations

import json

import pytest

from analysis.cli.run import main
from datasets.store import Store
from datasets.upload import read_upload
from tests.test_law_parscale import PARAMS, STACK_LOSS


def _csv(streams_column: str) -> str:
    lines = [f"model,params,{streams_column},loss"]
    lines += [f"P{P}-{i},{n},{P},{STACK_LOSS[P][i]}" for P in PARAMS for i, n in enumerate(PARAMS[P])]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("column", ["P", "parallel", "num_parallel", "streams"])
def test_streams_column_reaches_the_fit_frame(column):
    up = read_upload(_csv(column).encode(), filename="parscale.csv")
    store = Store.from_upload(up)
    family = store.families()["family"].iloc[0]
    frame = store.fit_frame(family, store.default_metric(family))
    assert sorted(frame["P"].unique()) == [1.0, 2.0, 4.0, 8.0] and len(frame) == 24
    by_run = frame.set_index("run")["P"]
    assert all(by_run[r] == float(r.split("/")[-1].split("-")[0][1:]) for r in by_run.index)


def test_a_bad_streams_cell_names_its_row_and_column():
    text = _csv("streams").replace("P2-3,1577522690,2,", "P2-3,1577522690,zero,")
    up = read_upload(text.encode(), filename="parscale.csv")
    assert len(up.runs) == 23 and up.report.mapping["P"] == "streams"
    row, column, why = up.report.rejected[0]
    assert column == "streams" and "zero" in why and row == 10       # data row 10 (P2-3)


def test_cli_fits_parscale_from_the_upload(tmp_path, capsys):
    path = tmp_path / "parscale.csv"
    path.write_text(_csv("num_parallel"), encoding="utf-8")
    assert main(["fit", "--data", str(path), "--law", "parscale", "--bootstrap", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert abs(out["params"]["k"] - 0.394) <= 0.01 and abs(out["params"]["alpha"] - 0.189) <= 0.005


def test_fit_page_fits_parscale_on_the_upload(monkeypatch, tmp_path):
    from analysis import settings
    from tests.test_app_pages import run_page, table

    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setenv("SCALING_STORE", str(tmp_path / "none.duckdb"))     # no corpus: uploads only
    monkeypatch.setenv("SCALING_DATA_DIR", str(empty))
    monkeypatch.setattr(settings, "BOOTSTRAP", 0)
    up = read_upload(_csv("P").encode(), filename="parscale.csv")
    uploads = {"parscale.csv": {"runs": up.runs, "points": up.points, "report": up.report, "filename": "parscale.csv",
                                "digest": "parscale"}}
    at = run_page("Fit", {"data": "upload", "law": "parscale", "boot": "0", "settings": "true"}, {"uploads": uploads})
    assert not at.exception, at.exception
    assert at.selectbox(key="law").value == "parscale"
    params = table(at, "parameter", "value").set_index("parameter")["value"]
    assert abs(float(params["k"]) - 0.394) <= 0.01 and abs(float(params["alpha"]) - 0.189) <= 0.005
