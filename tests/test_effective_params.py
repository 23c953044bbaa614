"""Which N: non-embedding, active (MoE) and average-over-training parameter counts."""
import numpy as np
import pandas as pd
import pytest

from analysis.effective_params import (CubicSchedule, EffectiveParamsError, active_params, average_params,
                                       mean_sparsity, non_embedding_params, which_n)


def test_cubic_pruning_gives_jin_et_al_average():
    # prune from 25% to 75% of training to a final sparsity of 0.5 (Zhu & Gupta cubic):
    # mean sparsity = 0.5 * (3 * 0.5 + 0) / 4 + 0.5 * 0.25 = 0.3125, so N_bar = 0.6875 N_dense
    sched = CubicSchedule(final=0.5, start=0.25, end=0.75)
    assert mean_sparsity(sched) == pytest.approx(0.3125, abs=1e-12)
    assert average_params(1.0, sched) == pytest.approx(0.6875, abs=1e-9)
    assert average_params(7e9, sched) == pytest.approx(0.6875 * 7e9, rel=1e-9)
    # independently of the closed form: adaptive quadrature of the schedule itself
    assert average_params(1.0, lambda t: sched(t)) == pytest.approx(0.6875, abs=1e-9)


def test_closed_form_agrees_with_quadrature_and_a_logged_schedule():
    sched = CubicSchedule(final=0.8, start=0.1, end=0.6, initial=0.2)
    exact = sched.mean()
    assert mean_sparsity(lambda t: sched(t)) == pytest.approx(exact, abs=1e-10)   # quadrature, no breakpoints
    t = np.linspace(0, 1, 20001)
    assert mean_sparsity((t, sched(t))) == pytest.approx(exact, abs=1e-7)         # trapezoid on a log
    # logged in tokens rather than fractions, unsorted: the same mean
    perm = np.random.default_rng(0).permutation(len(t))
    assert mean_sparsity((t[perm] * 4e11, sched(t)[perm])) == pytest.approx(exact, abs=1e-7)


def test_schedule_shape():
    s = CubicSchedule(final=0.5)
    assert s(0.0) == 0 and s(0.25) == 0 and s(0.75) == pytest.approx(0.5) and s(1.0) == pytest.approx(0.5)
    assert s(0.5) == pytest.approx(0.5 * (1 - 0.5 ** 3))          # halfway through the ramp
    assert np.all(np.diff(s(np.linspace(0, 1, 101))) >= 0)


def test_dense_run_keeps_its_parameters():
    assert average_params(3e9, CubicSchedule(final=0.0)) == 3e9
    assert average_params(np.array([1e9, 2e9]), ([0, 1], [0.5, 0.5])) == pytest.approx([5e8, 1e9])


def test_non_embedding_and_active_counts():
    # GPT-2 small: 124.4M total, V = 50,257, d = 768, tied embeddings -> ~85.8M non-embedding
    assert non_embedding_params(124_439_808, 50_257, 768) == pytest.approx(124_439_808 - 50_257 * 768)
    assert non_embedding_params(2e9, 32_000, 2048, tied=False) == pytest.approx(2e9 - 2 * 32_000 * 2048)
    # Mixtral-like: 46.7B total, ~96% in 8 experts, top-2 -> about 13B active
    assert active_params(46.7e9, 0.96, 8, 2) == pytest.approx(46.7e9 * (0.04 + 0.96 * 2 / 8))


@pytest.mark.parametrize("call", [
    lambda: CubicSchedule(final=1.5),
    lambda: CubicSchedule(final=0.5, start=0.8, end=0.2),
    lambda: mean_sparsity(([0, 0.5, 1], [0, 0.2])),
    lambda: mean_sparsity(([0, 0.5, 1], [0, np.nan, 0.3])),
    lambda: active_params(1e9, 0.5, 4, 8),
    lambda: non_embedding_params(1e6, 50_000, 1024),
])
def test_bad_inputs_say_what_to_do(call):
    with pytest.raises(EffectiveParamsError) as e:
        call()
    assert e.value.fix


def test_which_n_picks_the_column_or_names_the_one_to_add():
    df = pd.DataFrame({"N": [2.15e9, 2.15e9], "Na": [1.88e8, 2.33e8]})
    assert which_n(df, "total").tolist() == [2.15e9, 2.15e9]
    assert which_n(df, "active").tolist() == [1.88e8, 2.33e8]
    with pytest.raises(EffectiveParamsError, match="non-embedding") as e:
        which_n(df, "non_embedding")
    assert "N_non_embedding" in e.value.fix
    with pytest.raises(EffectiveParamsError, match="row 1"):
        which_n(pd.DataFrame({"N": [1e9, "lots"]}), "total")
    with pytest.raises(EffectiveParamsError, match="unknown"):
        which_n(df, "biggest")
