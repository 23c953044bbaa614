"""Compute-optimal allocation: closed form, numerical optimum, frontier, IsoFLOPs, planned runs."""
import numpy as np
import pytest

from analysis.allocate import (allocate, flops_to_gpu_hours, frontier, gpu_hours_to_flops, isoflop,
                               optimum_exponents, plan_cost)
from analysis.fit import fit_law
from tests._synthetic import TRUE, sample


@pytest.fixture(scope="module")
def chin():
    return fit_law(sample("chinchilla", np.random.default_rng(0)), "chinchilla", bootstrap=200)


def test_closed_form_is_the_minimum_of_the_isoflop_curve(chin):
    C = 1e23
    a = allocate(chin, C)
    N = np.geomspace(a.N_opt / 30, a.N_opt * 30, 2001)
    curve = isoflop(chin, C, N)
    best = curve.loc[curve["loss"].idxmin()]
    assert best["N"] == pytest.approx(a.N_opt, rel=0.01)
    assert a.loss == pytest.approx(best["loss"], rel=1e-6)
    assert a.N_opt * a.D_opt * 6 == pytest.approx(C, rel=1e-9)
    assert {"loss_lo", "loss_hi"} <= set(curve.columns)


def test_closed_form_matches_the_true_law():
    # exact parameters: N* = G (C/6)^(b/(a+b)) with G = (alpha A / (beta B))^(1/(alpha+beta))
    t = TRUE["chinchilla"]
    C = 1e24
    G = (t["alpha"] * t["A"] / (t["beta"] * t["B"])) ** (1 / (t["alpha"] + t["beta"]))
    N_true = G * (C / 6) ** (t["beta"] / (t["alpha"] + t["beta"]))
    fit = fit_law(sample("chinchilla", np.random.default_rng(1), noise=0.001), "chinchilla", bootstrap=0)
    assert allocate(fit, C).N_opt == pytest.approx(N_true, rel=0.15)


def test_numerical_optimum_agrees_with_closed_form_for_equivalent_law(chin):
    # the data-constrained law with unlimited unique data is Chinchilla: same optimum
    df = sample("chinchilla", np.random.default_rng(0)).assign(U=np.nan)
    dc = fit_law(df, "data_constrained", bootstrap=0)
    a, b = allocate(chin, 1e22), allocate(dc, 1e22)
    assert b.method.startswith("numerical") and a.method == "closed form"
    assert b.N_opt == pytest.approx(a.N_opt, rel=0.1)


def test_unique_token_budget_costs_loss_and_moves_the_optimum():
    # Muennighoff et al.: repeated tokens lose value more slowly (R_D* = 15.4) than excess parameters
    # (R_N* = 5.3), so with scarce data the optimum repeats data rather than growing the model.
    df = sample("data_constrained", np.random.default_rng(0))
    dc = fit_law(df, "data_constrained", bootstrap=0)
    free = allocate(dc, 1e22)
    scarce = allocate(dc, 1e22, unique_tokens=free.D_opt / 20)
    assert scarce.loss > free.loss
    assert abs(np.log(scarce.N_opt / free.N_opt)) > 0.05
    assert scarce.D_opt / scarce.unique_tokens > 5
    assert any("epochs" in n for n in scarce.notes)


def test_frontier_is_monotone_with_intervals(chin):
    fr = frontier(chin, np.geomspace(1e20, 1e25, 6))
    assert np.all(np.diff(fr["N_opt"]) > 0) and np.all(np.diff(fr["loss"]) < 0)
    assert np.all(fr["N_opt_lo"] <= fr["N_opt"]) and np.all(fr["N_opt"] <= fr["N_opt_hi"])


def test_plan_cost_of_an_oversized_model(chin):
    a = allocate(chin, 1e23)
    same = plan_cost(chin, a.N_opt, a.D_opt)
    assert same.multiplier == pytest.approx(1.0, abs=0.01)
    big = plan_cost(chin, a.N_opt * 10, a.D_opt / 10)
    assert big.multiplier > 1.5 and big.loss > big.optimal_loss
    assert "less" in big.summary()


def test_one_dimensional_laws_cannot_allocate():
    fit = fit_law(sample("power_c", np.random.default_rng(0)), "power_c", bootstrap=0)
    with pytest.raises(ValueError, match="cannot split a budget"):
        allocate(fit, 1e21)


def test_gpu_hour_conversion_round_trips():
    assert flops_to_gpu_hours(gpu_hours_to_flops(1234.5)) == pytest.approx(1234.5)
    assert gpu_hours_to_flops(1.0) == pytest.approx(3600 * 989e12 * 0.4)


def test_approach_three_exponents_are_beta_over_alpha_plus_beta_with_intervals(chin):
    e = optimum_exponents(chin)
    t = TRUE["chinchilla"]
    assert e.a == pytest.approx(chin.params["beta"] / (chin.params["alpha"] + chin.params["beta"]), rel=1e-12)
    assert e.a + e.b == pytest.approx(1.0)
    # on 0.5% noise the recovered exponent is within 0.02 of the truth (its bootstrap interval is ~0.01 wide)
    assert e.a == pytest.approx(t["beta"] / (t["alpha"] + t["beta"]), abs=0.02)
    assert e.ci["a"].lo < e.a < e.ci["a"].hi and e.ci["b"].lo < e.b < e.ci["b"].hi
    assert e.to_dict()["a"]["ci"] == e.ci["a"].to_list()


def test_numerical_exponents_match_the_closed_form_for_an_equivalent_law(chin):
    # data_constrained without a unique-token limit is Chinchilla: its numerical slope d ln N*/d ln C at
    # any budget is its own beta/(alpha+beta) (the grid refinement is good to ~1e-3)
    df = sample("chinchilla", np.random.default_rng(0)).assign(U=np.nan)
    dc = fit_law(df, "data_constrained", bootstrap=50)
    e = optimum_exponents(dc, 1e22)
    assert e.method.startswith("local slopes")
    assert e.a == pytest.approx(dc.params["beta"] / (dc.params["alpha"] + dc.params["beta"]), abs=2e-3)
    assert e.ci["a"].finite


def test_allocation_warns_about_extrapolation_and_an_undetermined_split(chin):
    near = allocate(chin, 1e22)
    assert not [w for w in near.warnings if "largest compute" in w]
    far = allocate(chin, 1e26)
    top = 6 * (chin.data["N"] * chin.data["D"]).max()
    msg = next(w for w in far.warnings if "largest compute" in w)
    assert f"{1e26 / top:,.0f}x" in msg and far.to_dict()["warnings"] == list(far.warnings)
