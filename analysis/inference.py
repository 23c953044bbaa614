"""Inference cost (Kinetics) and compute allocation with a deployment volume.

Cost of generation (Sadhukhan et al. 2025, "Kinetics: Rethinking Test-Time Scaling Laws")
------------------------------------------------------------------------------------------
A request with a prompt of ``L_in`` tokens that generates ``L_out`` tokens in each of ``n_trials``
parallel samples (best-of-n) on a transformer with ``P`` parameters used per token, ``n_layers``
layers, ``n_q`` query heads, ``n_kv`` key/value heads and head dimension ``d_head`` costs

.. math::
    C_\\text{comp} &= \\big[2 P L_\\text{out} + 2 (2 L_\\text{in} + L_\\text{out}) L_\\text{out}\\,
                      n_q d_\\text{head} n_\\text{layers}\\big]\\, n_\\text{trials}  \\quad\\text{(FLOPs)}\\\\
    C_\\text{mem}  &= 2 (2 L_\\text{in} + L_\\text{out} n_\\text{trials}) L_\\text{out}\\,
                      n_{kv} d_\\text{head} n_\\text{layers}  \\quad\\text{(KV-cache elements read)}\\\\
    \\text{eFLOPs} &= C_\\text{comp} + I\\, C_\\text{mem},\\qquad I = 562.5

The first compute term is the linear layers (2 FLOPs per parameter per token); the second is attention
over a context that grows from ``L_in`` to ``L_in + L_out``. The memory term is the KV cache read at every
decoding step: the prompt's cache is shared by the trials, each trial's own cache is not. ``I`` is the
hardware's arithmetic intensity (FLOPs that cost as much time as one memory access: 562.5 for an NVIDIA
B200, the value of the Kinetics code), which turns memory traffic into equivalent FLOPs. The cost per
generated token is ``eFLOPs / (L_out n_trials)``.

Allocation with a deployment volume
-----------------------------------
A model that will generate ``T`` tokens over its life costs, in total,

.. math::
    C_\\text{total} = k N D + T\\, c(N), \\qquad k = 6,

with ``c(N)`` the eFLOPs per generated token of a model of ``N`` parameters. For a total budget the
allocation minimises the fitted loss ``L(N, D)`` along ``D = (C_total - T c(N)) / (k N)``: the larger
``T``, the more a parameter costs, and the smaller the optimal ``N`` (trained on more tokens). With
``T = 0`` it is the ordinary compute-optimal split. To price ``c(N)`` for any ``N`` the architecture
follows a :class:`ShapeRule`: ``N = 12 n_layers d_model^2``, ``d_model = aspect x n_layers``, heads of
``head_dim``, and ``n_kv = n_q / gqa``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from analysis.interval import Interval, percentile_interval
from datasets.errors import WorkbenchError

KINETICS_INTENSITY = 562.5        # B200: FLOPs per memory access of equal time (Kinetics' E_flops)
FLOPS_PER_PARAM_TOKEN = 6.0       # training: forward + backward, C = 6 N D


class InferenceError(WorkbenchError, ValueError):
    """The inference question cannot be answered as posed (message says why, ``fix`` what to change)."""


def _positive(name: str, value, allow_zero: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InferenceError(f"{name} must be a number, got {value!r}", f"enter {name} as a number") from None
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        kind = "non-negative" if allow_zero else "positive"
        raise InferenceError(f"{name} must be a {kind} finite number, got {value!r}", f"enter a {kind} {name}")
    return v


@dataclass(frozen=True)
class Architecture:
    """The shape of a decoder that the Kinetics cost needs.

    Attributes
    ----------
    params : parameters used per generated token ``P`` (active parameters for a mixture of experts).
    n_layers, n_heads, n_kv_heads, head_dim : layers, query heads ``n_q``, key/value heads ``n_kv``
        (grouped-query attention when fewer than ``n_q``) and the dimension of one head.
    name : a label for reports.
    """

    params: float
    n_layers: float
    n_heads: float
    n_kv_heads: float
    head_dim: float
    name: str = ""

    def __post_init__(self):
        for k in ("params", "n_layers", "n_heads", "n_kv_heads", "head_dim"):
            _positive(k, getattr(self, k))
        if self.n_kv_heads > self.n_heads:
            raise InferenceError(f"n_kv_heads ({self.n_kv_heads:g}) cannot exceed n_heads ({self.n_heads:g})",
                                 "grouped-query attention shares each KV head among several query heads")

    @property
    def kv_elements_per_token(self) -> float:
        """Keys and values cached per token: ``2 n_kv d_head n_layers`` elements."""
        return 2.0 * self.n_kv_heads * self.head_dim * self.n_layers

    def to_dict(self) -> dict:
        return {"name": self.name, "params": self.params, "n_layers": self.n_layers, "n_heads": self.n_heads,
                "n_kv_heads": self.n_kv_heads, "head_dim": self.head_dim}


@dataclass(frozen=True)
class InferenceCost:
    """The Kinetics cost of one request (all in FLOPs, except ``memory`` in KV elements read)."""

    compute: float
    memory: float
    intensity: float
    prompt_tokens: float
    generated_tokens: float
    trials: float
    architecture: Architecture

    @property
    def eflops(self) -> float:
        """``C_comp + I C_mem`` (equivalent FLOPs)."""
        return self.compute + self.intensity * self.memory

    @property
    def per_token(self) -> float:
        """eFLOPs per generated token: ``eFLOPs / (L_out n_trials)``."""
        return self.eflops / (self.generated_tokens * self.trials)

    @property
    def memory_share(self) -> float:
        """Share of the eFLOPs that is memory traffic, ``I C_mem / eFLOPs``."""
        return self.intensity * self.memory / self.eflops

    def to_dict(self) -> dict:
        return {"compute_flops": self.compute, "memory_accesses": self.memory, "intensity": self.intensity,
                "eflops": self.eflops, "eflops_per_token": self.per_token, "memory_share": self.memory_share,
                "prompt_tokens": self.prompt_tokens, "generated_tokens": self.generated_tokens,
                "trials": self.trials, "architecture": self.architecture.to_dict()}

    def summary(self) -> str:
        return (f"{self.eflops:.4g} eFLOPs per request ({self.per_token:.4g} per generated token; "
                f"{self.memory_share:.0%} of it KV-cache traffic)")


def kinetics_cost(arch: Architecture, prompt_tokens: float, generated_tokens: float, trials: float = 1,
                  intensity: float = KINETICS_INTENSITY) -> InferenceCost:
    """Compute and memory cost of generating ``generated_tokens`` per trial after a prompt (see module doc).

    Parameters
    ----------
    arch : the model's :class:`Architecture`.
    prompt_tokens : ``L_in`` (tokens, >= 0).
    generated_tokens : ``L_out`` per trial (tokens, > 0).
    trials : ``n_trials`` parallel samples sharing the prompt's KV cache (best-of-n), >= 1.
    intensity : ``I``, FLOPs per memory access of equal time (562.5 for a B200).
    """
    L_in = _positive("prompt_tokens", prompt_tokens, allow_zero=True)
    L_out = _positive("generated_tokens", generated_tokens)
    n = _positive("trials", trials)
    intensity = _positive("intensity", intensity, allow_zero=True)
    attn = arch.n_heads * arch.head_dim * arch.n_layers
    kv = arch.n_kv_heads * arch.head_dim * arch.n_layers
    compute = (2.0 * arch.params * L_out + 2.0 * (2.0 * L_in + L_out) * L_out * attn) * n
    memory = 2.0 * (2.0 * L_in + L_out * n) * L_out * kv
    return InferenceCost(compute, memory, intensity, L_in, L_out, n, arch)


@dataclass(frozen=True)
class ShapeRule:
    """How a model of ``N`` parameters is shaped, to price inference for any ``N``.

    ``N = 12 n_layers d_model^2`` (attention and a 4x MLP per layer), ``d_model = aspect x n_layers``,
    ``n_q = d_model / head_dim``, ``n_kv = n_q / gqa``. The defaults (aspect 128, heads of 128, 8 query
    heads per KV head) are Llama-3-like. Shapes are kept fractional so the cost is smooth in ``N``.
    """

    aspect: float = 128.0
    head_dim: float = 128.0
    gqa: float = 8.0

    def architecture(self, N: float) -> Architecture:
        N = _positive("N", N)
        d_model = (self.aspect * N / 12.0) ** (1.0 / 3.0)
        n_layers = d_model / self.aspect
        n_q = max(d_model / self.head_dim, 1.0)
        return Architecture(N, n_layers, n_q, max(n_q / self.gqa, min(1.0, n_q)), self.head_dim, name=f"N={N:.3g}")

    def to_dict(self) -> dict:
        return {"aspect": self.aspect, "head_dim": self.head_dim, "gqa": self.gqa}


@dataclass(frozen=True)
class Deployment:
    """What the model will serve: ``tokens`` generated over its life, in requests of a given shape.

    Attributes
    ----------
    tokens : generated tokens served in total (``T``).
    prompt_tokens, generated_tokens, trials : the request shape (``L_in``, ``L_out``, ``n_trials``).
    intensity : ``I`` of the serving hardware.
    shape : how the architecture follows ``N``.
    """

    tokens: float
    prompt_tokens: float = 1000.0
    generated_tokens: float = 1000.0
    trials: float = 1.0
    intensity: float = KINETICS_INTENSITY
    shape: ShapeRule = field(default_factory=ShapeRule)

    def __post_init__(self):
        _positive("tokens", self.tokens, allow_zero=True)

    def cost_per_token(self, N: float) -> float:
        """eFLOPs per generated token of a model of ``N`` parameters shaped by :attr:`shape`."""
        c = kinetics_cost(self.shape.architecture(N), self.prompt_tokens, self.generated_tokens, self.trials,
                          self.intensity)
        return c.per_token

    def cost(self, N: float) -> float:
        """Lifetime inference eFLOPs ``T c(N)``."""
        return self.tokens * self.cost_per_token(N)

    def to_dict(self) -> dict:
        return {"tokens": self.tokens, "prompt_tokens": self.prompt_tokens,
                "generated_tokens": self.generated_tokens, "trials": self.trials, "intensity": self.intensity,
                "shape": self.shape.to_dict()}


# ----------------------------------------------------------------------------------------------
# Allocation
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InferenceAllocation:
    """The loss-minimising (N, D) for a total budget that also pays for serving ``deployment``.

    ``ci`` maps ``N_opt``, ``D_opt``, ``tokens_per_param`` to 95% percentile :class:`Interval` s over the
    fit's bootstrap resamples (empty without them).
    ``N_train_only`` is the optimum of the same budget spent on training alone (``T = 0``).
    """

    compute: float
    N_opt: float
    D_opt: float
    loss: float
    train_compute: float
    inference_compute: float
    cost_per_token: float
    N_train_only: float
    ci: dict[str, Interval]
    deployment: Deployment
    flops_per_param_token: float
    notes: tuple[str, ...] = ()

    @property
    def tokens_per_param(self) -> float:
        return self.D_opt / self.N_opt

    @property
    def inference_share(self) -> float:
        return self.inference_compute / self.compute

    def to_dict(self) -> dict:
        return {"compute": self.compute, "N_opt": self.N_opt, "D_opt": self.D_opt, "loss": self.loss,
                "tokens_per_param": self.tokens_per_param, "train_compute": self.train_compute,
                "inference_compute": self.inference_compute, "inference_share": self.inference_share,
                "eflops_per_token": self.cost_per_token, "N_train_only": self.N_train_only,
                "ci": {k: v.to_list() for k, v in self.ci.items()},
                "deployment": self.deployment.to_dict(), "flops_per_param_token": self.flops_per_param_token,
                "notes": list(self.notes)}

    def summary(self) -> str:
        return (f"N* = {self.N_opt:.3g} parameters on D* = {self.D_opt:.3g} tokens "
                f"({self.tokens_per_param:.3g} tokens/parameter); inference takes {self.inference_share:.0%} "
                f"of the {self.compute:.3g} FLOPs; training alone would choose N = {self.N_train_only:.3g}")


def _loss_fns(model) -> tuple[Callable, Callable | None, tuple | None]:
    """(point predict(N, D) -> loss, bootstrap predict(N, D) -> (B, n) or None, N range of the data)."""
    if callable(model) and not hasattr(model, "predict"):
        return (lambda N, D: np.asarray(model(N, D), float)), None, None
    law = getattr(model, "law", None)
    if law is not None and not getattr(law, "allocatable", True):
        raise InferenceError(f"law {getattr(law, 'name', law)} does not model N and D jointly, so it cannot "
                             "split a budget", "fit a law in N and D (chinchilla, farseer ...) first")

    def X(N, D):
        return {"N": N, "D": D, "C": FLOPS_PER_PARAM_TOKEN * N * D, "U": np.full_like(N, np.nan)}

    def point(N, D):
        return np.asarray(model.predict(X(N, D)), float)

    def bootstrap_samples(N, D):
        return np.asarray(model.predict_samples(X(N, D)), float)

    samples = bootstrap_samples if getattr(model, "boot", None) is not None and len(model.boot) else None
    ranges = getattr(model, "ranges", {}) or {}
    return point, samples, ranges.get("N")


def _argmin_refined(logN: np.ndarray, L: np.ndarray) -> np.ndarray:
    """Minimiser over the grid (per row) refined by the vertex of the parabola through its neighbours."""
    L = np.where(np.isfinite(L), L, np.inf)
    j = np.argmin(L, axis=-1)
    at_edge = (j == 0) | (j == L.shape[-1] - 1)
    j = np.clip(j, 1, L.shape[-1] - 2)
    rows = np.arange(L.shape[0])
    y0, y1, y2 = L[rows, j - 1], L[rows, j], L[rows, j + 1]
    with np.errstate(all="ignore"):
        denom = y0 - 2 * y1 + y2
        shift = np.where(np.isfinite(denom) & (denom > 0), 0.5 * (y0 - y2) / denom, 0.0)
    out = logN[j] + np.clip(shift, -1, 1) * (logN[1] - logN[0])
    return np.where(at_edge, np.nan, out)


def allocate_with_inference(model, compute: float, deployment: Deployment, *,
                            flops_per_param_token: float = FLOPS_PER_PARAM_TOKEN, n_grid: int = 800
                            ) -> InferenceAllocation:
    """Split a total budget between training (``k N D``) and serving (``T c(N)``), minimising the loss.

    Parameters
    ----------
    model : a :class:`analysis.fit.FitResult` of a law in N and D (its bootstrap gives the intervals), or
        a function ``predict(N, D) -> loss`` taking arrays.
    compute : total FLOPs (training plus lifetime inference eFLOPs).
    deployment : what the model will serve (:class:`Deployment`).
    flops_per_param_token : ``k`` in the training cost ``k N D``.
    n_grid : grid points over log N.

    Returns
    -------
    InferenceAllocation
    """
    C = _positive("compute", compute)
    k = _positive("flops_per_param_token", flops_per_param_token)
    point, samples, n_range = _loss_fns(model)
    # largest N whose serving cost still leaves something for training
    lo, hi = np.log(1e4), np.log(C / k / 1e3)
    if hi <= lo:
        raise InferenceError(f"a budget of {C:.3g} FLOPs is too small to train any model",
                             "enter the total budget in FLOPs (e.g. 1e23)")
    grid = np.linspace(lo, hi, n_grid)
    N = np.exp(grid)
    # the same budget spent on training only
    l0 = _argmin_refined(grid, point(N, C / (k * N))[None, :])[0]
    serve = np.array([deployment.cost(n) for n in N]) if deployment.tokens > 0 else np.zeros_like(N)
    train = C - serve
    ok = train > 0
    if ok.sum() < 3:
        raise InferenceError(f"serving {deployment.tokens:.3g} tokens costs more than the {C:.3g} FLOP budget "
                             "for any model size", "raise the budget or lower the deployment volume")
    grid, N, serve, train = grid[ok], N[ok], serve[ok], train[ok]
    D = train / (k * N)

    lnN = _argmin_refined(grid, point(N, D)[None, :])
    if not np.isfinite(lnN[0]):
        raise InferenceError("the loss keeps falling at the edge of the searched model sizes: this budget and "
                             "deployment have no interior optimum under the fitted law",
                             "check that the fit is a law in N and D with positive exponents")
    N_opt = float(np.exp(lnN[0]))
    serve_opt = deployment.cost(N_opt) if deployment.tokens > 0 else 0.0
    D_opt = (C - serve_opt) / (k * N_opt)
    loss = float(point(np.array([N_opt]), np.array([D_opt]))[0])
    ci = {}
    if samples is not None:
        Ls = samples(N, D)
        lnb = _argmin_refined(grid, Ls)
        Nb = np.exp(lnb[np.isfinite(lnb)])
        if len(Nb) >= 2:
            Db = np.array([(C - (deployment.cost(n) if deployment.tokens > 0 else 0.0)) / (k * n) for n in Nb])
            ci = {"N_opt": percentile_interval(Nb), "D_opt": percentile_interval(Db),
                  "tokens_per_param": percentile_interval(Db / Nb)}
    notes = []
    if n_range is not None and np.isfinite(n_range[1]) and N_opt > 10 * n_range[1]:
        notes.append(f"N* is {N_opt / n_range[1]:.0f}x the largest model in the data: an extrapolation.")
    if serve_opt > 0.5 * C:
        notes.append(f"serving takes {serve_opt / C:.0%} of the budget: the model is sized for inference, "
                     "not for training.")
    return InferenceAllocation(C, N_opt, float(D_opt), loss, float(C - serve_opt), float(serve_opt),
                               float(deployment.cost_per_token(N_opt)), float(np.exp(l0)), ci, deployment,
                               k, tuple(notes))
