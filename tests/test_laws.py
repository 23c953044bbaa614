"""The law registry: analytic Jacobians, formulas, units, derived variables, recovery of known parameters."""
import json

import numpy as np
import pandas as pd
import pytest

from analysis.fit import fit_law
from analysis.laws import LAWS, anneal_areas, get_law
from tests._synthetic import TRUE, sample


@pytest.mark.parametrize("name", sorted(LAWS))
def test_analytic_jacobian_matches_finite_differences(name):
    law = get_law(name)
    rng = np.random.default_rng(1)
    X = {"N": 10 ** rng.uniform(7, 10, 25), "D": 10 ** rng.uniform(9, 12, 25), "C": 10 ** rng.uniform(18, 23, 25),
         "step": rng.uniform(10, 5000, 25), "U": 10 ** rng.uniform(8, 10, 25),
         "S1": rng.uniform(1, 500, 25), "S2": rng.uniform(0, 2, 25), "P": rng.choice([1.0, 2.0, 4.0, 8.0], 25)}
    theta = law.to_internal(np.array([TRUE[name][p] for p in law.param_names]))[None, :]
    J = law.jac(theta, X)[0]
    h = 1e-6
    for k in range(theta.shape[1]):
        e = np.zeros_like(theta)
        e[0, k] = h
        num = (law.logpred(theta + e, X)[0] - law.logpred(theta - e, X)[0]) / (2 * h)
        np.testing.assert_allclose(J[:, k], num, rtol=1e-5, atol=1e-7, err_msg=f"{name}: d/d{law.param_names[k]}")


def test_every_law_describes_itself():
    for name, law in LAWS.items():
        d = law.describe()
        assert d["name"] == name and d["formula"] and d["latex"] and d["variables"]
        assert [p["name"] for p in d["parameters"]] == list(law.param_names)


@pytest.mark.parametrize("name", sorted(LAWS))
def test_every_parameter_says_its_unit(name):
    """Units come from the law's own templates: a level in the metric's unit, a coefficient in that unit
    times a power of a scale unit, exponents dimensionless; never an unfilled placeholder."""
    law = get_law(name)
    for p in law.params:
        unit = law.param_unit(p.name, "nats")
        assert unit and unit != "see formula" and "{" not in unit, (name, p.name, unit)
    assert json.loads(json.dumps(law.describe("nats")))["name"] == name
    assert law.required and law.x_axis


def test_units_follow_the_metric_and_the_axes():
    assert get_law("chinchilla").param_unit("A", "nats") == "nats x (parameters)^alpha"
    assert get_law("chinchilla").param_unit("B", "bits") == "bits x (tokens)^beta"
    assert get_law("power_step").param_unit("A", None) == "y units x (steps)^alpha"
    assert get_law("m4_d").param_unit("alpha", "error") == "dimensionless"          # a shape, not a scale
    assert get_law("lr_anneal").param_unit("C", "nats") == "nats per unit of annealing area"


def test_derived_variables_are_computed_per_run_from_their_inputs():
    law = get_law("lr_anneal")
    assert law.required == ("step", "lr") and law.x_axis == "step" and law.per_run
    df = pd.DataFrame({"run": ["a"] * 3 + ["b"] * 3, "step": [10.0, 20.0, 30.0] * 2,
                       "lr": [1.0, 1.0, np.nan, 1.0, 0.5, 0.5]})
    out = law.add_derived(df)
    assert list(out.index) == [0, 1, 3, 4, 5]                      # the row without an LR is dropped
    np.testing.assert_allclose(out.loc[[0, 1], "S1"], [10.0, 20.0])
    S1, S2 = anneal_areas(df.loc[3:, "step"], df.loc[3:, "lr"])
    np.testing.assert_allclose(out.loc[[3, 4, 5], "S1"], S1)
    with pytest.raises(KeyError, match="learning-rate schedule"):
        law.add_derived(df.drop(columns="lr"))


def test_unknown_law_lists_the_known_ones():
    with pytest.raises(KeyError, match="chinchilla"):
        get_law("chinchila")


# Parameters each law's synthetic fit must recover, with relative tolerances (0.5% noise).
RECOVER = {
    "chinchilla": {"E": 0.02, "alpha": 0.05, "beta": 0.05},
    "kaplan": {"alphaN": 0.05, "alphaD": 0.05},
    "data_constrained": {"E": 0.03, "alpha": 0.1, "beta": 0.1, "R_D*": 0.5},
    "power_c": {"E": 0.03, "alpha": 0.1},
    "power_d": {"E": 0.02, "alpha": 0.08},
    "power_n": {"E": 0.02, "alpha": 0.08},
    "power_step": {"E": 0.03, "alpha": 0.1},
    "kaplan_c": {"alpha": 0.03},
    "kaplan_n": {"alpha": 0.03},
    "kaplan_d": {"alpha": 0.03},
    "lr_anneal": {"L0": 0.05, "alpha": 0.15, "C": 0.15},
    "m4_d": {"E": 0.02, "c": 0.05, "alpha": 0.15},
    "parscale": {"E": 0.05, "alpha": 0.1, "k": 0.1},
    "utility_decay": {"b": 0.1, "tau": 0.2},
}


@pytest.mark.parametrize("name", sorted(LAWS))
def test_synthetic_data_are_recovered(name):
    rng = np.random.default_rng(7)
    df = sample(name, rng)
    res = fit_law(df, name, bootstrap=0)
    assert res.success
    law = get_law(name)
    truth = law.predict(TRUE[name], {v: df[v] for v in law.variables} if name != "lr_anneal" else
                        dict(zip(("S1", "S2"), anneal_areas(df["step"], df["lr"], df["run"]))))
    fitted = res.predict(df) if name != "lr_anneal" else None
    if fitted is not None:
        # the fitted curve must track the noiseless truth far better than the noise level
        assert np.sqrt(np.mean(np.log(fitted / truth) ** 2)) < 0.004, name
    assert res.rmse_log < 0.008
    for p, tol in RECOVER.get(name, {}).items():
        assert res.params[p] == pytest.approx(TRUE[name][p], rel=tol), (name, p, res.params)


def test_anneal_areas_constant_schedule():
    step = np.array([10.0, 100.0, 1000.0])
    S1, S2 = anneal_areas(step, np.full(3, 2e-4))
    np.testing.assert_allclose(S1, 2e-4 * step)
    np.testing.assert_allclose(S2, 0.0, atol=1e-18)


def test_anneal_areas_step_decay_accumulates_momentum():
    step = np.arange(1, 2001, dtype=float)
    lr = np.where(step <= 1000, 1.0, 0.5)
    S1, S2 = anneal_areas(step, lr)
    assert S1[-1] == pytest.approx(1000 + 0.5 * 1000)
    # one drop of 0.5 at step 1001: m_i = 0.5 * 0.999^(i - 1001), so S2 -> 0.5 * (1 - 0.999^1000) / 0.001
    assert S2[-1] == pytest.approx(0.5 * (1 - 0.999 ** 1000) / 0.001, rel=1e-9)
    assert S2[999] == 0.0


def test_m4_solves_its_implicit_equation():
    """M4's prediction satisfies (y - E) / (L0 - y)^alpha = beta x^-c, and alpha = 0 is E + beta x^-c."""
    law = get_law("m4_d")
    x = np.geomspace(1e5, 1e11, 40)
    for alpha in (0.3, 1.0, 2.5):
        p = {"E": 0.2, "B": 0.75, "beta": 3e3, "c": 0.5, "alpha": alpha}
        y = law.predict(p, {"D": x})
        L0 = p["E"] + p["B"]
        assert np.all((y > p["E"]) & (y < L0))
        np.testing.assert_allclose((y - p["E"]) / (L0 - y) ** alpha, p["beta"] * x ** -p["c"], rtol=1e-9)
    low = x[x > 1e9]   # where beta x^-c < B the alpha = 0 law is the plain saturating power law
    np.testing.assert_allclose(law.predict({"E": 0.2, "B": 0.75, "beta": 3e3, "c": 0.5, "alpha": 0.0}, {"D": low}),
                               0.2 + 3e3 * low ** -0.5, rtol=1e-9)
