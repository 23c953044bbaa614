"""Which N (issue 15 item 3): the Fit and Allocate pages and the CLI fit a law in total, non-embedding, active
(MoE) or average-over-training parameters, offered only where the family records that count; the report says
which N was used. StepLaw's MoE families record the active count (``Na``) for every run; the dense family does not.
"""
from __future__ import annotations

import json

import pytest

from analysis import settings
from analysis.cli.run import main
from analysis.effective_params import attach_counts, families_with

MOE = "steplaw/moe-2in88"


@pytest.fixture(scope="module")
def steplaw_path(data_dir, tmp_path_factory):
    from datasets.build import build

    out = tmp_path_factory.mktemp("which_n") / "steplaw.duckdb"
    build(data_dir, out, only=["steplaw"])
    return out


@pytest.fixture(scope="module")
def store(steplaw_path):
    from datasets.store import Store
    return Store(steplaw_path)


def test_only_recorded_counts_are_offered(store):
    having = families_with(store.runs())
    assert having["active"] == sorted(f for f in store.families()["family"] if f.startswith("steplaw/moe-"))
    assert having["non_embedding"] == [] and having["average"] == []
    moe = attach_counts(store.fit_frame(MOE, "train_loss_smoothed"), store.runs(family=MOE))
    assert settings.n_choices(moe) == ["total", "active"]
    dense = attach_counts(store.fit_frame("steplaw/dense", "train_loss_smoothed"), store.runs(family="steplaw/dense"))
    assert settings.n_choices(dense) == ["total"]
    with pytest.raises(settings.SettingsError, match="active"):
        settings.with_which_n(dense, "active")
    active = settings.with_which_n(moe, "active")
    assert active.attrs["which_n"] == "active" and (active["N"] < moe["N"]).all()
    assert (active["N"] == moe["N_active"]).all() and (active["C"] == moe["C"]).all()


def test_cli_fits_in_active_parameters_and_the_report_says_so(steplaw_path, tmp_path, capsys):
    base = ["fit", "--store", str(steplaw_path), "--family", MOE, "--law", "power_n", "--bootstrap", "0", "--json"]
    assert main(base) == 0
    total = json.loads(capsys.readouterr().out)
    assert main(base + ["--which-n", "active"]) == 0
    active = json.loads(capsys.readouterr().out)
    assert active["data"]["which_n"] == "active" and total["data"]["which_n"] == "total"
    assert active["ranges"]["N"][1] < total["ranges"]["N"][0]          # every active count below the total
    assert main(["fit", "--store", str(steplaw_path), "--family", "steplaw/dense", "--which-n", "active",
                 "--bootstrap", "0", "--json"]) == 1
    assert "active" in capsys.readouterr().err
    out = tmp_path / "r.json"
    assert main(["report", "--store", str(steplaw_path), "--family", MOE, "--law", "power_n", "--bootstrap", "0",
                 "--which-n", "active", "--format", "json", "--out", str(out)]) == 0
    text = out.read_text()
    assert '"which_n": "active"' in text and "--which-n active" in text


def test_fit_page_offers_active_for_moe_only(steplaw_path, monkeypatch):
    from tests.test_app_pages import run_page

    monkeypatch.setenv("SCALING_STORE", str(steplaw_path))
    monkeypatch.setattr(settings, "BOOTSTRAP", 0)
    params = {"data": "corpus", "source": "steplaw", "family": MOE, "boot": "0", "settings": "true"}
    at = run_page("Fit", params)
    assert not at.exception, at.exception
    box = at.selectbox(key="which_n")
    assert list(box.options) == ["total", "active (MoE)"] and box.value == "total"
    box.set_value("active").run()
    assert not at.exception, at.exception
    assert at.query_params.get("which_n") in ("active", ["active"])
    dense = run_page("Fit", {"data": "corpus", "source": "steplaw", "family": "steplaw/dense", "boot": "0",
                             "law": "chinchilla", "settings": "true"})
    assert not dense.exception
    d = dense.selectbox(key="which_n")
    assert list(d.options) == ["total"] and d.disabled and MOE in d.help
    al = run_page("Allocate", {"data": "corpus", "source": "steplaw", "family": MOE, "boot": "0", "settings": "true"})
    assert not al.exception     # one N per MoE family: the selector is there, allocation is refused with why
    assert list(al.selectbox(key="which_n").options) == ["total", "active (MoE)"]
    assert any("vary both" in w.value for w in al.warning)
