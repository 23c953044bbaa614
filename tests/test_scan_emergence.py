"""``python -m analysis scan --emergence`` (issue 15 item 4): the PassUntil shape of every bounded
higher-is-better task metric of the scanned families, beside the non-monotone trends, with the chance floor
from the store."""
from __future__ import annotations

import json

import pytest

from analysis.cli.run import main

FAMILY = "colpret/0shot-pythia"


@pytest.fixture(scope="module")
def colpret(data_dir, tmp_path_factory):
    from datasets.build import build

    out = tmp_path_factory.mktemp("emergence") / "colpret.duckdb"
    build(data_dir, out, only=["colpret"])
    return out


def test_scan_lists_emergence_shapes(colpret, capsys):
    assert main(["scan", "--store", str(colpret), "--family", FAMILY, "--emergence", "--bootstrap", "99",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    shapes = out["emergence"]
    assert "findings" in out and len(shapes) >= 5
    assert {s["family"] for s in shapes} == {FAMILY}
    assert all(s["shape"] in ("linear", "accelerated", "sub-scaling", "no improvement") for s in shapes)
    assert any(s["shape"] == "linear" for s in shapes)
    assert all(0.0 <= (s["chance"] or 0.0) < 1.0 and s["n_sizes"] >= 3 for s in shapes)
    assert main(["scan", "--store", str(colpret), "--family", FAMILY, "--bootstrap", "99", "--json"]) == 0
    assert "emergence" not in json.loads(capsys.readouterr().out)          # only when asked
