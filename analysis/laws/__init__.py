"""The scaling laws of the workbench: one :class:`Law` object per law, one file per law family.

=====================  =====================================================================
module                 laws
=====================  =====================================================================
``chinchilla``         ``chinchilla``: E + A/N^alpha + B/D^beta (closed-form compute optimum)
``kaplan``             ``kaplan``: [(Nc/N)^(alphaN/alphaD) + Dc/D]^alphaD
``data_constrained``   ``data_constrained``: Chinchilla in effective N', D' given unique tokens U
``power``              ``power_n/d/c/step``: E + A x^-alpha; ``kaplan_n/d/c``: (Xc/x)^alpha
``bnsl``               ``bnsl1``, ``bnsl2`` (in C), ``bnsl1_n/d/step``: broken power laws
``m4``                 ``m4_d``: the M4 learning-curve law with a plateau
``lr_anneal``          ``lr_anneal``: L0 + A S1^-alpha - C S2 over a learning-rate schedule
``farseer``            ``farseer``: Farseer L(N, D) with an N-dependent data exponent (9 parameters)
``parscale``           ``parscale``: E + (A 1e9 / (N (k ln P + 1)))^alpha for P parallel streams
``utility_decay``      ``utility_decay``: Goyal's y = a n^b + d with b (1/2)^(k/tau) on repetition k
=====================  =====================================================================

Shared pieces: :mod:`~analysis.laws.base` (``Law``, ``Param``, ``Derived``), :mod:`~analysis.laws.maths`
(logsumexp, sums of power terms), :mod:`~analysis.laws.varpro` (variable-projection starts),
:mod:`~analysis.laws.registry` (``LAWS``, ``register``, ``get_law``).

Adding a law: write one file that builds a ``Law`` and calls ``register(...)`` at its bottom, and add
its module name to the import line below (its place there is its place in listings). Everything else
(CLI ``laws`` and ``--law`` choices, back-tests and ``auto``, the Fit page, reports, parameter units,
allocation for a law in N and D) reads the ``Law`` object.
"""
from analysis.laws.base import DIMENSIONLESS, Derived, Law, Param, as_arrays
from analysis.laws.registry import LAWS, get_law, register, unregister

# the built-in families, in listing order; each registers its laws when imported
from analysis.laws import chinchilla, kaplan, data_constrained, power, bnsl, m4, lr_anneal  # noqa: E402,F401,I001
from analysis.laws import farseer, parscale, utility_decay  # noqa: E402,F401,I001
from analysis.laws.lr_anneal import anneal_areas  # noqa: E402

__all__ = ["LAWS", "Law", "Param", "Derived", "DIMENSIONLESS", "get_law", "register", "unregister",
           "as_arrays", "anneal_areas"]
