"""A small, realistic example upload (the Upload page's "try it" file and the tests' fixture).
"""
from __future__ import annotations

import numpy as np


def example_csv() -> str:
    """A small, realistic upload in the long form (deterministic: the same text on every call).

    Five runs of family ``chinchilla-like`` with N = 20M, 50M, 125M, 350M and 760M parameters
    (written with SI suffixes), each trained on 20 tokens per parameter in batches of 2**19 tokens,
    with the validation loss in nats at 8 evenly spaced checkpoints drawn from Chinchilla's law
    L(N, D) = E + A / N**alpha + B / D**beta with the published E = 1.69, A = 406.4, B = 410.7,
    alpha = 0.34, beta = 0.28 (Hoffmann et al. 2022, Approach 3), times log-normal noise of
    0.5% (seed 0), and the cosine learning rate (3e-4 -> 3e-5) at each checkpoint. There is no
    FLOPs column, so :func:`read_upload` fills C = 6ND and says so.
    """
    E, A, B, alpha, beta = 1.69, 406.4, 410.7, 0.34, 0.28
    batch = 2 ** 19
    rng = np.random.default_rng(0)
    lines = ["run,family,N,D,step,metric,value,unit,lr"]
    for label, n_params in (("20M", 20e6), ("50M", 50e6), ("125M", 125e6), ("350M", 350e6), ("760M", 760e6)):
        total = int(np.ceil(20 * n_params / batch))
        for k in range(1, 9):
            step = total * k // 8
            tokens = step * batch
            loss = (E + A / n_params ** alpha + B / tokens ** beta) * np.exp(rng.normal(0.0, 0.005))
            lr = 3e-5 + 0.5 * (3e-4 - 3e-5) * (1 + np.cos(np.pi * step / total))
            lines.append(f"my-{label.lower()},chinchilla-like,{label},{tokens},{step},val_loss,{loss:.4f},nats,{lr:.3e}")
    return "\n".join(lines) + "\n"
