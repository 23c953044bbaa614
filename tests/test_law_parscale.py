"""ParScale (Chen et al. 2025): the parallel scaling law on the paper's Stack-V2-Python losses."""
import numpy as np
import pandas as pd
import pytest

from analysis.fit import fit_law
from analysis.laws import get_law
from analysis.laws.parscale import equivalent_params

# Facts from the paper's reference code (parametric_fit.py): non-embedding parameters of the six sizes for
# P = 1, 2, 4, 8 streams (the aggregation adds a few parameters per stream) and the Stack-V2-Python losses.
PARAMS = {1: [535813376, 693753856, 1088376320, 1571472384, 2774773760, 4353203200],
          2: [538195842, 696738818, 1092762882, 1577522690, 2784937986, 4368529922],
          4: [540577412, 699722756, 1097148164, 1583571460, 2795100164, 4383854084],
          8: [545340552, 705690632, 1105918728, 1595669000, 2815424520, 4414502408]}
STACK_LOSS = {1: [1.1722, 1.1496, 1.1131, 1.0817, 1.0451, 1.0213],
              2: [1.1507, 1.1262, 1.0940, 1.0623, 1.0244, 1.0025],
              4: [1.1354, 1.1124, 1.0808, 1.0490, 1.0126, 0.9906],
              8: [1.1231, 1.0997, 1.0688, 1.0383, 1.0016, 0.9794]}


@pytest.fixture(scope="module")
def stack():
    rows = [{"run": f"P{P}-{i}", "N": float(n), "P": float(P), "y": STACK_LOSS[P][i]}
            for P in PARAMS for i, n in enumerate(PARAMS[P])]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def fit(stack):
    return fit_law(stack, "parscale", bootstrap=300, seed=0)


def test_paper_constants_are_reproduced(fit):
    # Chen et al.: k = 0.3943, alpha = 0.1891 on Stack-V2-Python (Huber 1e-3 on log residuals)
    assert fit.n_points == 24 and fit.success
    assert fit.params["k"] == pytest.approx(0.394, abs=0.01)
    assert fit.params["alpha"] == pytest.approx(0.189, abs=0.005)
    assert fit.mare < 0.002


def test_loss_and_equivalent_parameters_at_2_8b_with_4_streams(fit):
    L = fit.predict({"N": np.array([2.8e9]), "P": np.array([4.0])})[0]
    assert L == pytest.approx(1.0155, abs=0.001)
    # P = 4 streams on 2.8B parameters act like one stream on 2.8B (1 + k ln 4) = 4.33B
    N_eq, lo, hi = fit.derived(lambda p: float(equivalent_params(p, 2.8e9, 4.0)))
    assert N_eq == pytest.approx(4.33e9, rel=0.01)
    assert lo < N_eq < hi and hi / lo < 1.5
    one_stream = fit.predict({"N": np.array([N_eq]), "P": np.array([1.0])})[0]
    assert one_stream == pytest.approx(L, rel=1e-9)


def test_eight_streams_are_predicted_from_four(stack):
    train, test = stack[stack["P"] <= 4], stack[stack["P"] == 8]
    f = fit_law(train, "parscale", bootstrap=0)
    mape = float(np.mean(np.abs(f.predict(test) - test["y"]) / test["y"]))
    print(f"P = 8 held out from P <= 4: MAPE {mape:.3%}")
    assert mape < 0.004


def test_one_stream_is_a_saturating_power_law_in_N():
    law = get_law("parscale")
    p = {"E": 0.7, "A": 0.01, "alpha": 0.2, "k": 0.4}
    N = np.geomspace(1e8, 1e10, 7)
    np.testing.assert_allclose(law.predict(p, {"N": N, "P": np.ones(7)}), 0.7 + (0.01 * 1e9 / N) ** 0.2, rtol=1e-12)
    more = law.predict(p, {"N": N, "P": np.full(7, 8.0)})
    assert np.all(more < law.predict(p, {"N": N, "P": np.ones(7)}))


def test_missing_streams_column_is_named(stack):
    from analysis.fit import FitError
    with pytest.raises(FitError, match="P"):
        fit_law(stack.drop(columns="P"), "parscale", bootstrap=0)
