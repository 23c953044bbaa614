"""The rules that decide what is fitted (analysis/settings.py), on small frames and on the real store."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis import settings


def frame(runs: dict[str, list[float]], y=None, hib=None) -> pd.DataFrame:
    """A fit frame: run -> token counts of its checkpoints."""
    rows = [{"run": r, "N": 1e8 * (i + 1), "D": d, "C": 6e8 * (i + 1) * d, "step": k, "y": 3.0}
            for i, (r, ds) in enumerate(runs.items()) for k, d in enumerate(ds)]
    df = pd.DataFrame(rows)
    if y is not None:
        df["y"] = y
    df.attrs["higher_is_better"] = hib
    return df


def test_early_cut_follows_the_hitchhikers_rule():
    assert settings.default_cut(frame({"a": [1e9], "b": [2e9]}))[:2] == ("none", None)
    assert settings.default_cut(frame({"a": [1e10, 2e11], "b": [5e10, 1e11]}))[:2] == ("tokens", 10e9)
    assert settings.default_cut(frame({"a": [1e9, 2e9], "b": [5e10, 1e11]}))[:2] == ("fraction", 0.1)
    assert settings.cut_bounds("tokens", 1e10) == (1e10, None)
    assert settings.cut_bounds("fraction", 0.1) == (None, 0.1) and settings.cut_bounds("none", None) == (None, None)


def test_one_minus_only_for_higher_is_better_values_in_unit_interval():
    acc = frame({"a": [1e9], "b": [2e9], "c": [3e9]}, y=[0.3, 0.5, 0.7], hib=True)
    assert settings.default_y_transform(acc) == "one_minus"
    assert settings.default_y_transform(acc.assign(y=[30.0, 50.0, 70.0])) == "none"     # a score in percent
    assert settings.default_y_transform(acc, higher_is_better=False) == "none"
    acc.attrs["higher_is_better"] = None
    assert settings.default_y_transform(acc) == "none"


def test_default_law_and_settings():
    assert settings.default_law(["power_c", "chinchilla", "kaplan"]) == "chinchilla"
    assert settings.default_law(["power_c", "power_n"]) == "power_n"
    with pytest.raises(settings.SettingsError, match="no law applies"):
        settings.default_law([])
    f = frame({f"r{i}": [2e10 * (i + 1)] for i in range(6)})
    f["D"] = f["N"] * np.array([5, 40, 10, 80, 20, 60])      # N and D both vary
    s = settings.default_settings(f, flagged_runs=["r2", "elsewhere", "r2"], bootstrap=7)
    assert (s.law, s.objective, s.bootstrap, s.y_transform) == ("chinchilla", "huber", 7, "none")
    assert s.exclude_runs == ("r2",) and (s.min_tokens, s.min_fraction) == (None, None)


def test_loss_units_become_nats():
    assert settings.fitted_unit("perplexity") == settings.fitted_unit("bits") == "nats"
    assert settings.fitted_unit("accuracy") == "accuracy"
    out = settings.as_fitted([math.e, 2.0, 0.5, 1.5], ["perplexity", "bits", "accuracy", "nats"])
    assert out == pytest.approx([1.0, 2 * math.log(2), 0.5, 1.5])


def test_downstream_pairs_match_checkpoints_and_convert_the_loss():
    loss = pd.DataFrame({"run_id": ["a", "a", "b"], "tokens": [1e9, 2e9, 1e9], "step": [1, 2, 1],
                         "value": [20.0, 10.0, 30.0], "unit": "perplexity"})
    task = pd.DataFrame({"run_id": ["a", "a", "b", "b"], "tokens": [1e9, 2e9, 1e9, 5e9], "step": [1, 2, 1, 5],
                         "value": [0.3, 0.4, 0.25, 0.5], "params": [1e8, 1e8, 2e8, 2e8], "model": "m"})
    pairs, key = settings.downstream_pairs(loss, task)
    assert key == ["run_id", "tokens"] and len(pairs) == 3
    assert pairs["loss"].tolist() == pytest.approx(np.log([20.0, 10.0, 30.0]))
    with pytest.raises(settings.SettingsError, match="several units"):
        settings.downstream_pairs(loss.assign(unit=["perplexity", "bits", "bits"]), task)
    assert settings.downstream_holdout("largest", [1e8, 2e8])[0] == "largest"
    assert settings.downstream_holdout("largest", [1e8, 1e8]) == ("best", None)
    assert settings.downstream_holdout("none", [1e8, 2e8]) == ("none", None)


def test_bootstrap_caps_and_higher_is_better():
    assert settings.bootstrap_for("fit", 1000) == 1000 and settings.bootstrap_for("crossover", 1000) == 200
    assert settings.bootstrap_for("trend", 50) == 50
    assert settings.is_higher_better(True) and not settings.is_higher_better(None)
    assert not settings.is_higher_better(float("nan")) and not settings.is_higher_better(pd.NA)


def test_default_loss_metric_is_the_stores_rule_on_losses(small_store_path):
    from datasets.store import Store

    store = Store(small_store_path)
    for family in store.families()["family"]:
        metrics = store.metrics(family)
        chosen = settings.default_loss_metric(metrics)
        if chosen is None:
            assert not metrics["unit"].isin(settings.LOSS_UNITS).any()
            continue
        default = store.default_metric(family)
        if default in set(metrics.loc[metrics["unit"].isin(settings.LOSS_UNITS), "metric"]):
            assert chosen == default, family
