"""Kinetics inference cost and the allocation of a budget that also pays for serving the model."""
import numpy as np
import pytest

from analysis.allocate import allocate
from analysis.fit import fit_law
from analysis.inference import (KINETICS_INTENSITY, Architecture, Deployment, InferenceError, ShapeRule,
                                allocate_with_inference, kinetics_cost)
from tests._synthetic import sample

# Two documented configurations (config.json of the released checkpoints; P as counted by Kinetics' code).
QWEN3_8B = Architecture(params=8.19e9, n_layers=36, n_heads=32, n_kv_heads=8, head_dim=128, name="Qwen3-8B")
LLAMA2_7B = Architecture(params=6.74e9, n_layers=32, n_heads=32, n_kv_heads=32, head_dim=128, name="Llama-2-7B")


def test_kinetics_cost_qwen3_8b_best_of_8_by_hand():
    # L_in = 1024, L_out = 4096, 8 trials.  n_q d n_l = 32*128*36 = 147,456;  n_kv d n_l = 8*128*36 = 36,864
    # C_comp = [2*8.19e9*4096 + 2*(2*1024 + 4096)*4096*147,456] * 8 = 596,113,467,899,904
    # C_mem  = 2*(2*1024 + 4096*8)*4096*36,864                     =  10,514,079,940,608
    # eFLOPs = C_comp + 562.5 C_mem = 6,510,283,434,491,904;  per token = eFLOPs / (4096*8) = 198,678,083,328
    c = kinetics_cost(QWEN3_8B, 1024, 4096, trials=8)
    assert c.compute == pytest.approx(596_113_467_899_904, rel=1e-9, abs=0)
    assert c.memory == pytest.approx(10_514_079_940_608, rel=1e-9, abs=0)
    assert c.eflops == pytest.approx(6_510_283_434_491_904, rel=1e-9, abs=0)
    assert c.per_token == pytest.approx(198_678_083_328, rel=1e-9, abs=0)
    assert c.intensity == KINETICS_INTENSITY == 562.5


def test_kinetics_cost_llama2_7b_single_trial_by_hand():
    # L_in = 500, L_out = 2000, 1 trial, multi-head attention: n_q d n_l = n_kv d n_l = 32*128*32 = 131,072
    # C_comp = 2*6.74e9*2000 + 2*(1000 + 2000)*2000*131,072 = 28,532,864,000,000
    # C_mem  = 2*(1000 + 2000)*2000*131,072                 =  1,572,864,000,000
    # eFLOPs = 28,532,864,000,000 + 562.5 * 1,572,864,000,000 = 913,268,864,000,000 (456,634,432,000 per token)
    c = kinetics_cost(LLAMA2_7B, 500, 2000)
    assert c.compute == pytest.approx(28_532_864_000_000, rel=1e-9, abs=0)
    assert c.memory == pytest.approx(1_572_864_000_000, rel=1e-9, abs=0)
    assert c.eflops == pytest.approx(913_268_864_000_000, rel=1e-9, abs=0)
    assert c.per_token == pytest.approx(456_634_432_000, rel=1e-9, abs=0)
    # memory traffic dominates a long generation with full multi-head KV cache
    assert c.memory_share == pytest.approx(562.5 * 1_572_864_000_000 / 913_268_864_000_000, rel=1e-12)
    assert c.memory_share > 0.95


def test_grouped_query_attention_and_shared_prompt_cut_memory():
    mha = kinetics_cost(LLAMA2_7B, 4000, 1000, trials=4)
    gqa = kinetics_cost(Architecture(6.74e9, 32, 32, 8, 128), 4000, 1000, trials=4)
    assert gqa.memory == pytest.approx(mha.memory / 4, rel=1e-12)
    assert gqa.compute == mha.compute
    # the prompt's cache is read once per step for all trials: 4 trials cost less than 4 single requests
    one = kinetics_cost(LLAMA2_7B, 4000, 1000, trials=1)
    assert mha.memory < 4 * one.memory and mha.compute == pytest.approx(4 * one.compute, rel=1e-12)


@pytest.mark.parametrize("bad", [dict(prompt_tokens=-1, generated_tokens=10), dict(prompt_tokens=1,
                                 generated_tokens=0), dict(prompt_tokens=1, generated_tokens=float("nan")),
                                 dict(prompt_tokens="many", generated_tokens=10)])
def test_bad_request_shapes_are_refused_with_a_message(bad):
    with pytest.raises(InferenceError) as e:
        kinetics_cost(QWEN3_8B, **bad)
    assert e.value.fix


def test_kv_heads_cannot_exceed_query_heads():
    with pytest.raises(InferenceError, match="n_kv_heads"):
        Architecture(1e9, 16, 8, 16, 64)


def test_shape_rule_reproduces_the_parameter_count():
    a = ShapeRule(aspect=128, head_dim=128, gqa=8).architecture(7e9)
    d_model = a.n_heads * a.head_dim
    assert 12 * a.n_layers * d_model ** 2 == pytest.approx(7e9, rel=1e-12)
    assert d_model / a.n_layers == pytest.approx(128, rel=1e-12)
    assert a.n_heads / a.n_kv_heads == pytest.approx(8, rel=1e-12)


@pytest.fixture(scope="module")
def chin():
    return fit_law(sample("chinchilla", np.random.default_rng(0)), "chinchilla", bootstrap=100)


def test_without_deployment_it_is_the_compute_optimal_split(chin):
    C = 1e22
    a = allocate_with_inference(chin, C, Deployment(tokens=0))
    ref = allocate(chin, C)
    assert a.N_opt == pytest.approx(ref.N_opt, rel=0.01)
    assert a.N_train_only == pytest.approx(ref.N_opt, rel=0.01)
    assert a.inference_compute == 0 and a.train_compute == C


def test_optimal_model_shrinks_as_inference_demand_grows(chin):
    C = 1e23
    Ns, losses = [], []
    for T in (0.0, 1e11, 1e12, 1e13):
        dep = Deployment(tokens=T, prompt_tokens=1000, generated_tokens=1000)
        a = allocate_with_inference(chin, C, dep)
        # the budget identity: k N D + T c(N) = C
        assert 6 * a.N_opt * a.D_opt + T * dep.cost_per_token(a.N_opt) == pytest.approx(C, rel=1e-9)
        Ns.append(a.N_opt)
        losses.append(a.loss)
        assert a.N_train_only == pytest.approx(Ns[0], rel=1e-9)
    assert all(b < a for a, b in zip(Ns, Ns[1:])), Ns
    assert all(b > a for a, b in zip(losses, losses[1:])), losses
    assert Ns[-1] < 0.5 * Ns[0]


def test_intervals_come_from_the_bootstrap(chin):
    a = allocate_with_inference(chin, 1e23, Deployment(tokens=1e12))
    lo, hi = a.ci["N_opt"]
    assert lo < a.N_opt < hi
    d = a.to_dict()
    assert d["deployment"]["tokens"] == 1e12 and 0 < d["inference_share"] < 1


def test_a_law_without_N_and_D_is_refused():
    fit = fit_law(sample("power_c", np.random.default_rng(0)), "power_c", bootstrap=0)
    with pytest.raises(InferenceError, match="N and D"):
        allocate_with_inference(fit, 1e22, Deployment(tokens=1e11))


def test_plain_function_model_and_impossible_budget():
    def loss(N, D):
        return 1.8 + 480 / N ** 0.35 + 2100 / D ** 0.37
    a = allocate_with_inference(loss, 1e22, Deployment(tokens=1e11))
    assert a.ci == {} and a.N_opt < a.N_train_only
    with pytest.raises(InferenceError, match="costs more than"):
        allocate_with_inference(loss, 1e15, Deployment(tokens=1e12))
