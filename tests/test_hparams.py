"""Hyperparameter laws from sweeps (analysis.hparams) and sweep envelopes (analysis.sweep), issue 14.

Reference values are the issue's, measured on the released StepLaw files (Li et al. 2025,
step-law/steplaw @ 32a8f4cc): the bootstrap file's means, the authors' procedure on the released cells,
the bowl-vertex batch exponent, the published rules' loss gaps, the sensitivity medians, and Chinchilla
on the envelope. Synthetic sweeps with a known optimum law check recovery.
"""
from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.fit import fit_law
from analysis.hparams import (HparamsError, analyse_sweep, authors_procedure, bowl_vertex, cell_optima, from_store,
                              from_table, get_rule, in_hull, moe_comparison, read_authors_bootstrap, score_rule,
                              sensitivity, sweep_frame)
from analysis.sweep import attach_hparams, detect_sweep, envelope, sweep_warning

MOE = ["steplaw/moe-1in8", "steplaw/moe-1in89", "steplaw/moe-2in88", "steplaw/moe-3in8"]


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def steplaw_store(data_dir, tmp_path_factory):
    from datasets.build import build
    from datasets.store import Store

    out = tmp_path_factory.mktemp("steplaw") / "steplaw.duckdb"
    build(data_dir, out, only=["steplaw"])
    return Store(out)


@pytest.fixture(scope="module")
def dense(steplaw_store):
    return from_store(steplaw_store, "steplaw/dense")


@pytest.fixture(scope="module")
def moe(steplaw_store):
    return sweep_frame(pd.concat([from_store(steplaw_store, f) for f in MOE], ignore_index=True))


@pytest.fixture(scope="module")
def bowl(dense):
    return analyse_sweep(dense, method="bowl", bootstrap=1000, seed=0, at={"N": 5e8, "D": 3e10})


# ------------------------------------------------------------------ the data
def test_dense_sweep_frame(dense):
    assert dense.attrs["metric"] == "train_loss_smoothed"   # what the authors fit; the raw loss is one batch
    assert len(dense) == 1911 and dense["cell"].nunique() == 17
    assert int(dense["diverged"].sum()) == 181              # the "181 diverged with loss > 4 nats"
    assert set(dense.loc[dense["diverged"], "run"]) == set(dense.loc[dense["loss"] > 4, "run"])
    assert np.allclose(dense["batch"] / dense["seq_len"], np.round(dense["batch"] / 2048))
    assert dense["N"].nunique() == 5 and dense["N"].min() == pytest.approx(214.7e6, rel=1e-3)
    # DeepSeek's M = 6 N + 6 n_layer d_model l_seq: 6.3% above 6N for StepLaw's shapes
    assert np.all((dense["M"] / (6 * dense["N"])).between(1.05, 1.07))


def test_moe_sweep_frame(moe):
    assert moe["cell"].nunique() == 16 and len(moe) == 708
    assert moe["N"].between(2.14e9, 2.16e9).all()
    assert moe["N_active"].between(0.18e9, 1.25e9).all()


# ------------------------------------------------------------------ the published laws
def test_bootstrap_file_means(data_dir):
    lr, bs = read_authors_bootstrap(data_dir / "steplaw" / "data" / "1004_fitted_lr_bs_scaling_model_parameters.csv")
    assert lr.params["c"] == pytest.approx(1.797, abs=0.005)
    assert lr.params["a"] == pytest.approx(-0.7129, abs=0.001)
    assert lr.params["b"] == pytest.approx(0.3075, abs=0.001)
    assert bs.params["d"] == pytest.approx(0.5807, abs=0.005)
    assert bs.params["g"] == pytest.approx(0.5709, abs=0.001)
    assert lr.ci["a"].contains(-0.713) and bs.ci["g"].contains(0.571)
    assert len(lr.boot) == 1000


def test_authors_procedure_on_released_cells(dense):
    lr, bs = authors_procedure(dense, bootstrap=1000, seed=0)
    # the N exponent reproduces the paper's sign and size, the D exponent does not (0.197 vs 0.307)
    assert lr.params["a"] == pytest.approx(-0.767, abs=0.005)
    assert lr.params["b"] == pytest.approx(0.197, abs=0.005)
    assert not lr.ci["b"].contains(0.307)
    assert lr.estimate == "bootstrap mean"
    ols, _ = authors_procedure(dense, bootstrap=0)          # the plain regression agrees
    assert ols.params["a"] == pytest.approx(-0.767, abs=0.005) and ols.params["b"] == pytest.approx(0.197, abs=0.005)
    # the same regression through the cell-level API: "filter" optima weighted by their runs
    filt = analyse_sweep(dense, method="filter", bootstrap=0)
    assert filt.lr_law.params["a"] == pytest.approx(ols.params["a"], abs=1e-9)
    assert filt.lr_law.params["b"] == pytest.approx(ols.params["b"], abs=1e-9)


def test_bowl_vertex_batch_exponent(bowl):
    assert bowl.n_cells == 17
    g = bowl.batch_law.params["g"]
    assert g == pytest.approx(0.57, abs=0.02)
    assert bowl.batch_law.ci["g"].contains(0.571)
    assert bowl.batch_law.ci["g"].width < 0.15
    assert all(c.fallback_share < 0.05 for c in bowl.cells)   # every cell has a convex bowl
    for c in bowl.cells:                                       # the optimum sits inside its interval
        assert c.lr_ci.lo <= c.lr_opt <= c.lr_ci.hi and c.batch_ci.lo <= c.batch_opt <= c.batch_ci.hi
        assert c.loss_at_opt <= c.loss_min + 1e-12


def test_three_cell_methods_agree_on_batch_scaling(dense):
    for method in ("argmin", "filter"):
        res = analyse_sweep(dense, method=method, bootstrap=200, seed=1)
        assert res.batch_law.params["g"] == pytest.approx(0.57, abs=0.08)
        assert -0.85 < res.lr_law.params["a"] < -0.6


# ------------------------------------------------------------------ rules, sensitivity, MoE
def test_published_rule_gaps_on_dense(bowl):
    gaps = {r.key: r for r in bowl.rules}
    assert gaps["steplaw"].n_cells == 17
    assert gaps["steplaw"].mean_penalty == pytest.approx(0.00096, abs=0.0002)
    assert gaps["deepseek"].mean_penalty == pytest.approx(0.0085, abs=0.001)
    assert gaps["porian"].mean_penalty == pytest.approx(0.0074, abs=0.001)
    assert gaps["steplaw"].max_penalty < gaps["deepseek"].max_penalty
    for r in bowl.rules:
        assert 0 <= r.mean_penalty <= r.max_penalty


def test_rule_scoring_uses_nearest_converged_run(dense):
    score = score_rule(dense, get_rule("steplaw"))
    table = score.table()
    for _, row in table.iterrows():
        cell = dense[(dense["N"] == row["N"]) & (dense["D"] == row["D"]) & ~dense["diverged"]]
        dist = np.hypot(np.log(cell["lr"] / row["lr_rule"]), np.log(cell["batch"] / row["batch_rule"]))
        assert dist.min() == pytest.approx(math.hypot(math.log(row["lr_run"] / row["lr_rule"]),
                                                      math.log(row["batch_run"] / row["batch_rule"])))


def test_moe_total_vs_active(moe):
    cmp = moe_comparison(moe)
    assert cmp["total"].n_cells == cmp["active"].n_cells == 16
    assert cmp["total"].mean_penalty == pytest.approx(0.0016, abs=0.0002)
    assert cmp["active"].mean_penalty == pytest.approx(0.0100, abs=0.001)


def test_sensitivity_medians(dense):
    sens = sensitivity(dense)
    assert sens.lr[2.0] == pytest.approx(0.0070, abs=0.0015)
    assert sens.lr[0.5] == pytest.approx(0.0025, abs=0.001)
    assert sens.lr[4.0] > sens.lr[2.0] and sens.lr[0.25] > sens.lr[0.5]    # penalties grow with the move
    assert sens.batch[4.0] > sens.batch[2.0]
    assert sens.n_cells[("lr", 0.5)] == 17
    assert set(sens.to_dict()["lr"]) == {"x1/4", "x1/2", "x2", "x4"}


# ------------------------------------------------------------------ recommendation and contract
def test_recommendation_inside_and_outside_hull(bowl):
    rec = bowl.recommendation
    assert rec.inside_hull and not rec.warnings
    assert rec.lr == pytest.approx(bowl.lr_law.params["c"] * 5e8 ** bowl.lr_law.params["a"]
                                   * 3e10 ** bowl.lr_law.params["b"])
    assert rec.lr_ci.lo < rec.lr < rec.lr_ci.hi and rec.batch_tokens_ci.lo < rec.batch_tokens < rec.batch_tokens_ci.hi
    assert rec.batch_sequences == pytest.approx(rec.batch_tokens / 2048)
    assert {name for name, *_ in rec.rules} == {"StepLaw", "DeepSeek LLM", "Porian et al."}
    far = bowl.recommend(7e9, 2e12, seq_len=4096)
    assert not far.inside_hull and "extrapolates" in far.warnings[0]
    assert far.batch_sequences == pytest.approx(far.batch_tokens / 4096)
    with pytest.raises(HparamsError, match="D"):
        bowl.recommend(5e8, -1.0)


def test_in_hull_degenerate_shapes():
    square = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    assert in_hull(square, [0.5, 0.5]) and not in_hull(square, [1.5, 0.5])
    line = np.array([[0, 0], [1, 1], [2, 2]], float)
    assert in_hull(line, [1.5, 1.5]) and not in_hull(line, [1.5, 1.0]) and not in_hull(line, [3, 3])
    assert in_hull(np.array([[1.0, 2.0]]), [1.0, 2.0]) and not in_hull(np.array([[1.0, 2.0]]), [1.0, 2.1])


def test_json_contract(bowl):
    d = json.loads(json.dumps(bowl.to_dict(), allow_nan=False))
    assert d["n_cells"] == 17 and len(d["cells"]) == 17
    for key in ("N", "D", "lr_opt", "lr_ci", "batch_opt", "batch_ci", "loss_min"):
        assert key in d["cells"][0]
    assert len(d["cells"][0]["lr_ci"]) == 2
    assert set(d["lr_law"]["params"]) == {"c", "a", "b"} and set(d["lr_law"]["ci"]) == {"c", "a", "b"}
    assert set(d["batch_law"]["params"]) == {"d", "g"} and d["batch_law"]["unit"] == "tokens"
    assert "formula" in d["lr_law"] and "D^" in d["batch_law"]["formula"]
    assert [r["name"] for r in d["rules"]][:3] == ["StepLaw", "DeepSeek LLM", "Porian et al."]
    assert all({"name", "mean_penalty", "max_penalty"} <= set(r) for r in d["rules"])
    assert 0 < d["rules"][0]["mean_penalty"] < 0.01          # a fraction, not a percentage
    assert d["sensitivity"]["lr"]["x2"] > 0 and d["recommendation"]["inside_hull"] is True


def test_single_n_sweep_leaves_n_exponent_out(steplaw_store):
    one = from_store(steplaw_store, "steplaw/moe-1in8")
    res = analyse_sweep(one, bootstrap=100)
    assert res.n_cells == 4
    assert math.isnan(res.lr_law.params["a"]) and math.isfinite(res.lr_law.params["b"])
    assert any("exponent a is not identified" in w for w in res.warnings)
    assert res.lr_law.predict(N=2.15e9, D=5e9) > 0
    assert res.recommend(2.2e9, 5e9).inside_hull                # within 5% of the one N swept
    assert not res.recommend(4e9, 5e9).inside_hull and not res.recommend(2.15e9, 1e11).inside_hull


# ------------------------------------------------------------------ envelope for loss-law fits
def test_envelope_chinchilla_on_steplaw_dense(steplaw_store):
    frame = steplaw_store.fit_frame("steplaw/dense", "train_loss_smoothed")
    frame.attrs["family"] = "steplaw/dense"
    frame = attach_hparams(frame, steplaw_store.runs(family="steplaw/dense"))
    info = detect_sweep(frame)
    assert info.is_sweep and info.n_sweep_cells == 17 and info.varies == ("lr", "batch")
    warning = sweep_warning(frame, info)
    assert warning and "steplaw/dense" in warning and "envelope" in warning
    env = envelope(frame)
    assert env["run"].nunique() == 17 and env.attrs["envelope"]["n_runs_before"] == 1911
    assert any("E" in w and "5 model sizes" in w for w in env.attrs["envelope"]["warnings"])
    fit = fit_law(env, "chinchilla", bootstrap=0)
    assert 0.10 <= fit.params["alpha"] <= 0.16 and 0.25 <= fit.params["beta"] <= 0.35
    assert fit.params["E"] > 0.1                               # off its 1e-6 bound
    everything = fit_law(frame, "chinchilla", bootstrap=0)     # every run, mistuned and diverged ones included
    assert not (0.10 <= everything.params["alpha"] <= 0.16 and 0.25 <= everything.params["beta"] <= 0.35)
    bowl_env = envelope(frame, "bowl")
    assert len(bowl_env) == 17 and (bowl_env["y"].to_numpy() <= env.sort_values("N")["y"].max()).all()
    assert bowl_env["run"].str.endswith("#bowl").sum() == 17


def _ladder(n_sizes=4, steps=5):
    rows = []
    for i, n in enumerate(np.geomspace(1e7, 1e9, n_sizes)):
        for d in np.geomspace(1e9, 2e10, steps):
            rows.append({"run": f"r{i}", "N": n, "D": d, "C": 6 * n * d, "step": d / 1e6,
                         "y": 1.7 + 400 / n ** 0.34 + 400 / d ** 0.28, "group": "ladder"})
    return pd.DataFrame(rows)


def test_envelope_leaves_a_ladder_alone():
    ladder = _ladder()
    info = detect_sweep(ladder)
    assert not info.is_sweep and sweep_warning(ladder) is None
    out = envelope(ladder)
    assert len(out) == len(ladder) and out.attrs["envelope"]["n_runs_after"] == 4


def test_envelope_keeps_every_checkpoint_of_the_best_run():
    base = _ladder()
    worse = base.assign(run=base["run"] + "-hot", y=base["y"] * 1.05, lr=3e-3)
    frame = pd.concat([base.assign(lr=1e-3), worse], ignore_index=True)
    assert detect_sweep(frame).is_sweep and detect_sweep(frame).varies == ("lr",)
    out = envelope(frame)
    assert sorted(out["run"].unique()) == ["r0", "r1", "r2", "r3"] and len(out) == len(base)
    bowl = envelope(frame.assign(batch=1e6), "bowl")       # the bowl takes each run's final row itself
    assert sorted(bowl["run"]) == ["r0", "r1", "r2", "r3"] and np.allclose(bowl["D"], 2e10)   # 2 runs: no bowl
    hib = envelope(frame.assign(y=1 / frame["y"]), higher_is_better=True)   # highest is best
    assert set(hib["run"]) == {"r0", "r1", "r2", "r3"}


def test_unrecorded_differences_are_not_reduced():
    base = _ladder(steps=1)
    frame = pd.concat([base.assign(run=base["run"] + f"-mix{k}", y=base["y"] + 0.01 * k) for k in range(4)])
    info = detect_sweep(frame)
    assert not info.is_sweep and info.n_shared_cells == 4
    assert len(envelope(frame)) == len(frame)


# ------------------------------------------------------------------ synthetic sweeps
def synthetic_sweep(c=2.0, a=-0.7, b=0.3, d=None, g=0.57, *, noise=0.0, seed=0, cells=None):
    """Loss L = L*(N, D) + 0.01 (ln lr - ln lr*)^2 + 0.006 (ln B - ln B*)^2 + 0.002 (ln lr - ln lr*)(ln B - ln B*)
    with lr* = c N^a D^b and B* = d D^g tokens, on a sqrt(2) lr grid x factor-2 batch grid around the optimum;
    runs with lr > 8 lr* diverge (loss 7). ``d`` defaults to B*(1e10 tokens) = 1M tokens."""
    d = 1e6 / 1e10 ** g if d is None else d
    rng = np.random.default_rng(seed)
    cells = cells or [(n, dd) for n in (1e8, 3e8, 1e9) for dd in (n * 20, n * 60, n * 200)]
    rows = []
    for n, dd in cells:
        lstar, bstar = c * n ** a * dd ** b, d * dd ** g
        lmin = 1.8 + 300 / n ** 0.3 + 300 / dd ** 0.3
        lrs = lstar * np.sqrt(2.0) ** np.arange(-6, 7) * np.exp(rng.uniform(-0.17, 0.17))
        bss = np.maximum(1, np.round(bstar * 2.0 ** np.arange(-3, 4) * np.exp(rng.uniform(-0.35, 0.35)) / 2048)) * 2048
        for lr in lrs:
            for bs in bss:
                u, v = math.log(lr / lstar), math.log(bs / bstar)
                loss = lmin + 0.01 * u * u + 0.006 * v * v + 0.002 * u * v
                loss *= 1 + noise * rng.standard_normal()
                rows.append({"N": n, "D": dd, "lr": lr, "batch": bs, "loss": 7.0 if lr > 8 * lstar else loss})
    return sweep_frame(pd.DataFrame(rows))


def test_synthetic_law_recovered_by_the_bowl():
    frame = synthetic_sweep(d=0.5, noise=0.0005, seed=3)
    res = analyse_sweep(frame, bootstrap=300, seed=0)
    assert res.n_cells == 9 and res.n_diverged > 0
    lr, bs = res.lr_law, res.batch_law
    assert lr.params["a"] == pytest.approx(-0.7, abs=0.05) and lr.params["b"] == pytest.approx(0.3, abs=0.05)
    assert bs.params["g"] == pytest.approx(0.57, abs=0.05)
    assert lr.ci["a"].contains(-0.7) and lr.ci["b"].contains(0.3) and bs.ci["g"].contains(0.57)
    rec = res.recommend(5e8, 5e10)
    assert rec.inside_hull
    assert rec.lr == pytest.approx(2.0 * 5e8 ** -0.7 * 5e10 ** 0.3, rel=0.15)
    assert rec.batch_tokens == pytest.approx(0.5 * 5e10 ** 0.57, rel=0.15)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=st.floats(-1.0, -0.3), b=st.floats(0.0, 0.5), g=st.floats(0.3, 0.8), seed=st.integers(0, 10_000))
def test_synthetic_exponents_recovered(a, b, g, seed):
    frame = synthetic_sweep(a=a, b=b, g=g, noise=0.0, seed=seed)
    res = analyse_sweep(frame, bootstrap=0)
    assert res.lr_law.params["a"] == pytest.approx(a, abs=0.03)
    assert res.lr_law.params["b"] == pytest.approx(b, abs=0.03)
    assert res.batch_law.params["g"] == pytest.approx(g, abs=0.03)


def test_bowl_vertex_exact_on_a_quadratic():
    lr = np.repeat(np.geomspace(1e-4, 1e-2, 7), 5)
    bs = np.tile(np.geomspace(1e5, 1e7, 5), 7)
    loss = 2.0 + 0.01 * np.log(lr / 1.3e-3) ** 2 + 0.004 * np.log(bs / 7e5) ** 2
    lr_opt, bs_opt, l_opt = bowl_vertex(lr, bs, loss, window=1.0)
    assert lr_opt == pytest.approx(1.3e-3, rel=1e-6) and bs_opt == pytest.approx(7e5, rel=1e-6)
    assert l_opt == pytest.approx(2.0, abs=1e-9)
    assert bowl_vertex(lr[:5], bs[:5], loss[:5]) is None     # one learning rate: no bowl


def test_bowl_falls_back_and_warns_on_a_thin_cell():
    frame = sweep_frame(pd.DataFrame({"N": 1e8, "D": 2e9, "lr": [1e-3, 2e-3, 4e-3], "batch": [2.6e5] * 3,
                                      "loss": [2.5, 2.4, 2.45]}))
    cells = cell_optima(frame, "bowl", bootstrap=50).cells
    assert cells[0].lr_opt == pytest.approx(2e-3) and cells[0].fallback_share == 1.0
    assert any("no convex bowl" in w for w in cells[0].warnings)
    res = analyse_sweep(frame, bootstrap=0)
    assert res.lr_law is None and any("lr law" in w for w in res.warnings)
    with pytest.raises(HparamsError, match="too few cells"):
        res.recommend(1e8, 2e9)


def test_edge_optimum_is_flagged():
    frame = sweep_frame(pd.DataFrame({"N": 1e8, "D": 2e9, "lr": [1e-3, 2e-3, 4e-3] * 2,
                                      "batch": [2.6e5] * 3 + [5.2e5] * 3, "loss": [2.6, 2.5, 2.4, 2.65, 2.55, 2.45]}))
    cell = cell_optima(frame, "argmin", bootstrap=0).cells[0]
    assert any("largest one swept" in w for w in cell.warnings)


# ------------------------------------------------------------------ uploads
def test_upload_table_aliases_and_units():
    raw = pd.DataFrame({"Learning_Rate": [1e-3, 2e-3], "bs": [128, 256], "params": [1e8, 1e8],
                        "tokens": [2e9, 2e9], "Loss": [2.5, 2.4]})
    frame = from_table(raw)
    assert list(frame["batch"]) == [128 * 2048, 256 * 2048] and list(frame["lr"]) == [1e-3, 2e-3]
    tokens = from_table(raw.rename(columns={"bs": "batch"}), batch_unit="tokens")
    assert list(tokens["batch"]) == [128, 256]
    seq = from_table(raw.assign(seq_len=4096))
    assert list(seq["batch"]) == [128 * 4096, 256 * 4096]


@pytest.mark.parametrize("column, value, message", [
    ("lr", "fast", "row 2, column 'lr'"),
    ("N", -5, "row 2, column 'N'"),
    ("D", float("inf"), "row 2, column 'D'"),
    ("loss", "<script>", "row 2, column 'loss'"),
])
def test_upload_bad_cell_names_row_and_column(column, value, message):
    raw = pd.DataFrame({"lr": [1e-3, 2e-3], "batch": [128, 256], "N": [1e8, 1e8], "D": [2e9, 2e9],
                        "loss": [2.5, 2.4]}).astype(object)
    raw.loc[1, column] = value
    with pytest.raises(HparamsError, match=message):
        from_table(raw)


def test_upload_missing_column_and_diverged_runs():
    with pytest.raises(HparamsError, match="batch or bs"):
        from_table(pd.DataFrame({"lr": [1e-3], "N": [1e8], "D": [2e9], "loss": [2.5]}))
    frame = from_table(pd.DataFrame({"lr": [1e-3, 2e-3, 4e-3], "bs": [128] * 3, "N": [1e8] * 3, "D": [2e9] * 3,
                                     "loss": [2.5, "nan", 9.0]}))
    assert frame["diverged"].tolist() == [False, True, True]
    with pytest.raises(HparamsError, match="diverged"):
        from_table(pd.DataFrame({"lr": [1e-3], "bs": [128], "N": [1e8], "D": [2e9], "loss": [float("nan")]}))


def test_store_family_without_hparams_is_refused(small_store_path):
    from datasets.store import Store

    with pytest.raises(HparamsError, match="learning rate and batch"):
        from_store(Store(small_store_path), "chinchilla-epoch/chinchilla")
    with pytest.raises(HparamsError, match="no runs"):
        from_store(Store(small_store_path), "no/such-family")


# ------------------------------------------------------------------ published vs refit, figures
def test_published_vs_refit_table(bowl, dense, data_dir):
    from analysis.hparams import published_vs_refit

    released = read_authors_bootstrap(data_dir / "steplaw" / "data" / "1004_fitted_lr_bs_scaling_model_parameters.csv")
    table = published_vs_refit(bowl.lr_law, bowl.batch_law, authors=authors_procedure(dense, bootstrap=200),
                               released=released).set_index("constant")
    assert list(table.index) == ["c", "a", "b", "d", "g"]
    assert table.loc["g", "released file"] == pytest.approx(0.5709, abs=0.001)
    assert table.loc["b", "authors' procedure"] == pytest.approx(0.197, abs=0.01)
    assert bool(table.loc["g", "agrees"]) and table.loc["g", "refit lo"] < 0.571 < table.loc["g", "refit hi"]
    assert not bool(table.loc["b", "agrees"])            # the published D exponent of eta* is not reproduced


def test_figures(bowl, dense):
    from analysis.figures.hparams import (heatmap_figure, law_figure, law_residual_figure, rules_figure,
                                          sensitivity_figure, slices_figure)

    cell = int(dense.loc[dense["diverged"], "cell"].iloc[0])
    opt = bowl.optima.of(cell)
    rules = [(s.name, s.cells[cell][2], s.cells[cell][3], s.cells[cell][-1]) for s in bowl.rules]
    heat = heatmap_figure(dense, cell, optimum=opt, rules=rules)
    names = [t.name for t in heat.data]
    assert [t.contours.start for t in heat.data if t.type == "contour"] == [0.25, 0.5, 1.0, 2.0]
    diverged = next(t for t in heat.data if t.name == "diverged")
    assert len(diverged.x) == int(dense.loc[dense["cell"] == cell, "diverged"].sum())
    assert any(n.startswith("StepLaw: +") for n in names) and "optimum (bowl)" in names
    assert np.nanmin(heat.data[0].z) == 0.0                 # the best run is 0% above the minimum
    slices = slices_figure(dense, cell, optimum=opt)
    assert len(slices.data) == 2 and min(slices.data[0].y) == pytest.approx(opt.loss_min)
    lr_fig = law_figure(bowl, "lr")
    assert sum(t.mode == "markers" for t in lr_fig.data) == 5    # one marker trace per model size
    assert lr_fig.layout.yaxis.type == "log" and "Tokens D" in lr_fig.layout.xaxis.title.text
    assert "tokens" in law_figure(bowl, "batch").layout.yaxis.title.text
    assert len(law_residual_figure(bowl.lr_law, bowl.cells).data[0].y) == 17
    bars = rules_figure(bowl.rules)
    assert bars.data[0].y[0] == pytest.approx(100 * bowl.rules[0].mean_penalty)
    sens = sensitivity_figure(bowl.sensitivity)
    assert list(sens.data[0].x) == [0.25, 0.5, 1.0, 2.0, 4.0] and sens.data[0].y[2] == 0.0


def test_markdown_report(bowl, dense):
    from analysis.hparams import published_vs_refit, to_markdown

    table = published_vs_refit(bowl.lr_law, bowl.batch_law, authors=authors_procedure(dense, bootstrap=100))
    md = to_markdown(bowl, comparison=table)
    assert md.startswith("# Hyperparameter laws") and "steplaw/dense" in md
    assert bowl.batch_law.formula in md and "| StepLaw | 0.096% |" in md
    assert md.count("\n| 2.147e+08 |") == 4                  # one row per cell of the smallest model
    assert "## Recommendation" in md and "inside the swept cells" in md
    renamed = dense.copy()
    renamed.attrs["family"] = "a|b<script>"
    assert "a\\|b&lt;script>" in to_markdown(analyse_sweep(renamed, bootstrap=0))


# ------------------------------------------------------------------ CLI: python -m analysis hparams
def _cli(capsys, *argv):
    from analysis.cli.run import main

    code = main(["hparams", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_json_contract(steplaw_store, capsys):
    code, out, err = _cli(capsys, "--store", str(steplaw_store.path), "--family", "steplaw/dense", "--bootstrap", "200",
                          "--at-params", "5e8", "--at-tokens", "3e10", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["n_cells"] == 17 and len(d["cells"]) == 17
    assert {"N", "D", "lr_opt", "lr_ci", "batch_opt", "batch_ci", "loss_min"} <= set(d["cells"][0])
    assert set(d["lr_law"]["params"]) == {"c", "a", "b"} and set(d["batch_law"]["params"]) == {"d", "g"}
    assert d["batch_law"]["params"]["g"] == pytest.approx(0.569, abs=0.01)
    assert {r["name"] for r in d["rules"]} >= {"StepLaw", "DeepSeek LLM", "Porian et al."}
    assert d["rules"][0]["mean_penalty"] == pytest.approx(0.00096, abs=0.0002)
    assert d["sensitivity"]["lr"]["x2"] == pytest.approx(0.0070, abs=0.0015)
    assert d["recommendation"]["inside_hull"] is True and d["recommendation"]["batch_tokens"] > 1e5
    assert d["data_source"]["family"] == ["steplaw/dense"] and d["metric"] == "train_loss_smoothed"


def test_cli_filter_method_and_text(steplaw_store, capsys):
    code, out, _ = _cli(capsys, "--store", str(steplaw_store.path), "--family", "steplaw/dense",
                        "--cell-method", "filter", "--bootstrap", "0")
    assert code == 0 and "eta* = " in out and "D^0.197" in out and "StepLaw" in out


def test_cli_uploaded_sweep_and_errors(tmp_path, capsys):
    frame = synthetic_sweep(d=0.5, noise=0.0005, seed=3)
    raw = pd.DataFrame({"lr": frame["lr"], "bs": frame["batch"] / 2048, "N": frame["N"], "D": frame["D"],
                        "loss": frame["loss"]})
    path = tmp_path / "sweep.csv"
    raw.to_csv(path, index=False)
    code, out, err = _cli(capsys, "--data", str(path), "--bootstrap", "100", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["lr_law"]["params"]["a"] == pytest.approx(-0.7, abs=0.05)
    assert d["data_source"]["kind"] == "data"
    raw.drop(columns="loss").to_csv(path, index=False)
    code, _, err = _cli(capsys, "--data", str(path))
    assert code == 1 and err.startswith("error: ") and "loss" in err and err.count("\n") == 1
    code, _, err = _cli(capsys, "--data", str(tmp_path / "missing.csv"))
    assert code == 1 and "no such file" in err
    code, _, err = _cli(capsys, "--data", str(path), "--at-params", "1e9")
    assert code == 1 and "--at-tokens" in err
    with pytest.raises(SystemExit):                              # usage errors exit 2 through argparse
        _cli(capsys, "--data", str(path), "--cell-method", "median")


# ------------------------------------------------------------------ the page (AppTest; the browser cold link is in
# tests/test_browser.py, parametrised over ui.navigation.PAGES)
@pytest.fixture(scope="module")
def page_env(steplaw_store):
    import sys

    mp = pytest.MonkeyPatch()
    mp.setenv("SCALING_STORE", str(steplaw_store.path))
    mp.setenv("SCALING_BOOTSTRAP", "50")
    if "analysis.settings" in sys.modules:
        mp.setattr(sys.modules["analysis.settings"], "BOOTSTRAP", 50)
    yield
    mp.undo()


def _page(params: dict):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    root = Path(__file__).resolve().parents[1]
    at = AppTest.from_file(str(root / "home.py"), default_timeout=300)
    at.switch_page(str(root / "pages" / "8_Hyperparameters.py"))
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [str(e.value) for e in at.exception]
    return at


def test_page_dense_sweep(page_env):
    at = _page({"source": "steplaw", "family": "steplaw/dense", "hN": "5e8", "hD": "3e10",   # opens the calculator
                "export": "true"})                                                       # and the export box
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["(N, D) cells"] == "17" and metrics["StepLaw's mean loss gap"] == "0.096%"
    assert metrics["B*: exponent of D"] == "0.569" and any("D^0.5691" in m.value for m in at.markdown)
    said = [w.value for w in at.warning if "D exponent of eta" in w.value]       # the D exponent, said plainly
    assert said and "0.307" in said[0]
    assert float(re.search(r"procedure on these runs gives ([0-9.]+)", said[0]).group(1)) == pytest.approx(0.197,
                                                                                                             abs=0.005)
    assert any("inside the swept cells" in s.value for s in at.success)
    assert not at.get("vega_lite_chart")                # the tabs are lazy: only the calculator ran
    charts = {tab: _page({"source": "steplaw", "family": "steplaw/dense", "htab": tab}) for tab in
              ("Laws", "Cells", "Published rules")}
    assert [len(t.get("vega_lite_chart")) for t in charts.values()] == [4, 2, 2]
    assert not any(t.get("plotly_chart") for t in charts.values())       # every chart in Vega-Lite
    assert any("python -m analysis hparams" in c.value and "--family steplaw/dense" in c.value for c in at.code)


def test_page_moe_pool_and_url_state(page_env):
    at = _page({"source": "steplaw", "family": MOE[0], "hpool": MOE[1:], "hmethod": "filter", "htab": "MoE"})
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["(N, D) cells"] == "16"
    assert metrics["StepLaw with N = total"] == "0.159%" and metrics["StepLaw with N = active"] == "1.001%"
    assert at.radio(key="hmethod").value == "filter" and list(at.query_params["hpool"]) == MOE[1:]


def test_page_unchanged_rerun_is_a_cache_hit(page_env, monkeypatch):
    import analysis.hparams as hp_api

    calls, real = [], hp_api.analyse_sweep

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    at = _page({"source": "steplaw", "family": "steplaw/dense", "hboot": "30"})
    monkeypatch.setattr(hp_api, "analyse_sweep", spy)
    at.run()
    assert not at.exception and calls == []
    at.radio(key="hmethod").set_value("argmin").run()          # a changed setting is computed
    assert not at.exception and calls == [1]


def test_page_and_cli_agree(page_env, capsys):
    import shlex

    at = _page({"source": "steplaw", "family": "steplaw/dense", "hmethod": "filter", "export": "true"})
    command = next(c.value for c in at.code if "python -m analysis hparams" in c.value)
    argv = shlex.split(command)[3:]
    assert argv[0] == "hparams" and "--bootstrap" in argv
    code, out, err = _cli(capsys, *argv[1:])
    assert code == 0, err
    d = json.loads(out)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["B*: exponent of D"] == f"{d['batch_law']['params']['g']:.3f}"
    assert metrics["StepLaw's mean loss gap"] == f"{100 * d['rules'][0]['mean_penalty']:.3f}%"
    assert d["method"] == "filter" and d["bootstrap"] == 50
