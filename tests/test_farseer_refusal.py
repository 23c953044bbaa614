"""Farseer is an interpolating law (issue 15 item 1): allocation inside the data's N and D range works, outside
it is refused with a message naming the range, in the analysis, the CLI and (through the same error) the pages."""
from __future__ import annotations

import pytest

from analysis.allocate import AllocationRefused, allocate
from analysis.cli.run import main
from analysis.fit import fit_law
from analysis.laws import LAWS, get_law

FAMILY = "chinchilla-epoch/chinchilla"


@pytest.fixture(scope="module")
def epoch(data_dir, tmp_path_factory):
    from datasets.build import build
    from datasets.store import Store

    out = tmp_path_factory.mktemp("farseer") / "epoch.duckdb"
    build(data_dir, out, only=["chinchilla-epoch"])
    store = Store(out)
    frame = store.fit_frame(FAMILY, store.default_metric(FAMILY))
    return out, fit_law(frame, "farseer", bootstrap=0, exclude_runs=tuple(store.flagged_runs(FAMILY)))


def test_only_farseer_is_interpolation_only():
    assert not get_law("farseer").extrapolates
    assert all(law.extrapolates for name, law in LAWS.items() if name != "farseer")


def test_inside_the_data_it_allocates(epoch):
    _, fit = epoch
    a = allocate(fit, 1e21)
    (nlo, nhi), (dlo, dhi) = fit.ranges["N"], fit.ranges["D"]
    assert nlo <= a.N_opt <= nhi and dlo <= a.D_opt <= dhi
    assert a.N_opt * a.D_opt * 6 == pytest.approx(1e21, rel=1e-6)


def test_outside_the_data_it_refuses(epoch):
    _, fit = epoch
    with pytest.raises(AllocationRefused) as e:
        allocate(fit, 1e25)
    assert "outside the data" in e.value.message and "farseer" in e.value.message
    assert e.value.fix and "chinchilla" in e.value.fix


def test_cli_refuses_with_the_range(epoch, capsys):
    path, _ = epoch
    code = main(["allocate", "--store", str(path), "--family", FAMILY, "--law", "farseer", "--compute", "1e25",
                 "--bootstrap", "0", "--json"])
    err = capsys.readouterr().err
    assert code == 1 and "outside the data" in err and "Traceback" not in err
    assert main(["allocate", "--store", str(path), "--family", FAMILY, "--law", "chinchilla", "--compute", "1e25",
                 "--bootstrap", "0", "--json"]) == 0
