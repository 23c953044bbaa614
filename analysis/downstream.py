"""Map a loss to a downstream metric, say when the map fails, and chain it with a fitted loss law.

Forms
-----
All three are fitted by least squares in metric units (an accuracy, an error rate ...). ``L`` is the loss
(nats), ``s = +1`` for higher-is-better metrics and ``-1`` otherwise.

* ``exponential`` (Gadre et al. 2024): ``Err = c - k * exp(-gamma * L)`` for an error,
  ``Acc = c + k * exp(-gamma * L)`` for an accuracy (k, gamma > 0): the metric improves
  exponentially as the loss falls and tends to ``c`` as ``L -> inf``. Variable projection over a
  gamma grid (``c, k`` are then linear), polished by ``scipy.optimize.least_squares``.
* ``sigmoid`` (AI2 model ladders, Bhagia et al. 2024; ObsScaling's floor): ``y = chance + (limit - chance)
  / (1 + exp(k * (L - L0)))`` with k > 0: the chance level at high loss, the ``limit`` at low loss and the
  midpoint ``L0``. When ``chance`` (the task's random baseline) is given the floor is fixed there; for
  metrics in [0, 1] the limit is bounded by 1 (accuracy) or 0 (error).
* ``linear``: ``y = a + b * L``, the baseline.

Choice and back-test
--------------------
The data are split into a fit part and a held-out part (``heldout``): ``"largest"`` holds out the
``heldout_sizes`` largest distinct ``scale`` values (e.g. the biggest models; leave-largest-out);
``"best"`` holds out the ``heldout_fraction`` lowest-loss observations (fit on the higher-loss part, test
on the best models); a boolean array gives the split directly; ``"none"`` uses no held-out set and picks
by AICc. Each form is fitted on the fit part and scored by the mean held-out relative error
``mean |y_hat - y| / |y|``; the form with the lowest error is chosen, and that error is the reported
``heldout_rel_error`` (being the minimum over three forms, it is slightly optimistic; all three are
reported). The chosen form is then refitted on all data, with a run-level bootstrap of its parameters
for prediction bands.

When the metric does not map (``maps = False``; ``reason`` says which, first match wins)
-------------------------------------------------------------------------------------------
1. **near chance**: the best observation is less than ``chance_margin`` (default 5 points) better than the
   task's random baseline ``chance``.
2. **wrong direction**: Kendall's tau between loss and goodness (s * y) is significantly positive: the
   metric gets worse as the loss falls.
3. **emergent jump**: on the fit part the metric shows no significant trend with loss (Kendall p >= alpha),
   yet over all data it does and the held-out models beat the best fitted one by more than the fit part's
   whole range: the models used for fitting sit before the jump, so no map fitted on them can predict it.
4. **noise above signal**: no significant Kendall trend over all data, or the chosen map explains less
   than half the variance (R^2 < 0.5).
5. **does not extrapolate**: held-out relative error above ``max_rel_error`` (default 10%).

Chaining (:func:`predict_downstream`)
-------------------------------------
The loss law's bootstrap predictions at X (``FitResult.predict_samples``) are pushed through the map's
bootstrap parameters (resample b with resample b, cycling the shorter list); the median and the
percentile interval of the result are returned, so both the loss-law and the map uncertainty are in the
band.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from analysis.downstream_forms import (FORMS, N_PARAMS, PARAM_NAMES, DownstreamError, evaluate, evaluate_batch,  # noqa: F401
                                      fit_form, formula)
from analysis.jsonable import number




# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MapFit:
    """One form fitted on the fit part, scored on the held-out part."""

    form: str
    params: dict[str, float]
    heldout_rel_error: float
    heldout_max_rel_error: float
    rmse_fit: float

    def to_dict(self) -> dict:
        return {"form": self.form, "params": dict(self.params), "heldout_rel_error": number(self.heldout_rel_error),
                "heldout_max_rel_error": number(self.heldout_max_rel_error), "rmse_fit": number(self.rmse_fit)}


@dataclass(frozen=True, eq=False)
class DownstreamResult:
    """A loss-to-metric map with its back-test and the verdict on whether the metric maps at all.

    ``model`` is the chosen form, ``params`` its parameters refitted on all data, ``boot`` their run-level
    bootstrap (rows in :data:`PARAM_NAMES` order). ``forms`` holds every form's fit-part fit and held-out
    score. ``heldout`` lists the held-out observations with their predictions.
    """

    model: str | None
    formula: str | None
    params: dict[str, float]
    heldout_rel_error: float
    maps: bool
    reason: str
    forms: dict[str, MapFit]
    higher_is_better: bool
    chance: float | None
    n: int
    n_fit: int
    n_heldout: int
    protocol: str
    heldout: tuple[dict, ...]
    r2: float
    tau: float
    tau_p: float
    loss_range: tuple[float, float]
    metric_range: tuple[float, float]
    boot: np.ndarray | None = field(default=None, repr=False)
    notes: tuple[str, ...] = ()

    def predict(self, loss) -> np.ndarray:
        """The metric at ``loss`` under the chosen map (metric units)."""
        if self.model is None:
            raise DownstreamError(f"no map could be fitted: {self.reason}")
        return evaluate(self.model, self.params, loss, self.higher_is_better)

    def to_dict(self) -> dict:
        return {"model": self.model, "formula": self.formula, "params": dict(self.params),
                "heldout_rel_error": number(self.heldout_rel_error), "maps": bool(self.maps), "reason": self.reason,
                "forms": {k: v.to_dict() for k, v in self.forms.items()},
                "higher_is_better": bool(self.higher_is_better), "chance": number(self.chance), "n": self.n,
                "n_fit": self.n_fit, "n_heldout": self.n_heldout, "protocol": self.protocol,
                "heldout": [dict(h) for h in self.heldout], "r2": number(self.r2), "tau": number(self.tau),
                "tau_p": number(self.tau_p), "loss_range": [number(v) for v in self.loss_range],
                "metric_range": [number(v) for v in self.metric_range],
                "n_boot": 0 if self.boot is None else int(len(self.boot)), "notes": list(self.notes)}

    def summary(self) -> str:
        if self.model is None:
            return f"Does not map: {self.reason}."
        err = "" if not np.isfinite(self.heldout_rel_error) else \
            f", held-out relative error {self.heldout_rel_error:.1%} on {_count(self.n_heldout, 'observation')}"
        head = "Maps" if self.maps else "Does not map"
        return f"{head}: {self.reason}. Chosen form {self.formula}{err}; R^2 = {self.r2:.2f} over {_count(self.n, 'observation')}."


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


# ----------------------------------------------------------------------------------------------
# Main entry
# ----------------------------------------------------------------------------------------------
def _split(heldout, L, scale, heldout_sizes, heldout_fraction):
    n = len(L)
    if isinstance(heldout, str):
        if heldout == "none":
            return np.zeros(n, bool), "no held-out set (form chosen by AICc)"
        if heldout == "largest" and scale is not None:
            sizes = np.unique(scale)
            k = int(heldout_sizes)
            if not 1 <= k < len(sizes):
                raise DownstreamError(f"heldout_sizes must be between 1 and {len(sizes) - 1} "
                                      f"(there are {len(sizes)} distinct scales), got {heldout_sizes}")
            cut = sizes[-k]
            return scale >= cut, f"leave-largest-out: the {k} largest scale(s) (>= {cut:.3g}) held out"
        if heldout in ("largest", "best"):
            m = max(1, int(round(heldout_fraction * n)))
            order = np.argsort(L, kind="mergesort")
            mask = np.zeros(n, bool)
            mask[order[:m]] = True
            return mask, f"fit on the higher-loss part, {m} lowest-loss observation(s) held out"
        raise DownstreamError(f"heldout must be 'largest', 'best', 'none' or a boolean array, got {heldout!r}")
    mask = np.asarray(heldout, dtype=bool).reshape(-1)
    if len(mask) != n:
        raise DownstreamError(f"heldout mask has {len(mask)} entries for {n} observations")
    return mask, f"{int(mask.sum())} observation(s) held out as given"


def _rel_errors(pred, y):
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.abs(pred - y) / np.abs(y)
    return r


def map_downstream(loss, metric, *, runs=None, chance: float | None = None, higher_is_better: bool = True,
                   heldout="largest", scale=None, heldout_sizes: int = 1, heldout_fraction: float = 0.2,
                   forms=FORMS, chance_margin: float = 0.05, max_rel_error: float = 0.10, alpha: float = 0.05,
                   bootstrap: int = 200, seed: int = 0) -> DownstreamResult:
    """Fit loss -> metric maps, back-test them, and decide whether the metric maps.

    Parameters
    ----------
    loss : array of losses (nats), one per observation (model / checkpoint).
    metric : array of the downstream metric (accuracy or error, metric units), same length.
    runs : run ids (the bootstrap resampling unit); default: every observation is its own run.
    chance : the task's random-baseline value in metric units (e.g. 0.25 accuracy for 4-way multiple
        choice, or 0.75 error); fixes the sigmoid's floor and enables the near-chance check.
    higher_is_better : True for accuracies, False for errors.
    heldout : "largest" (needs ``scale``; else behaves as "best"), "best", "none" or a boolean mask.
    scale : model size or compute per observation, for ``heldout="largest"``.
    heldout_sizes : how many of the largest distinct scales to hold out.
    heldout_fraction : share of lowest-loss observations held out by "best".
    forms : which forms to try (subset of :data:`FORMS`).
    chance_margin, max_rel_error, alpha : thresholds of the "does not map" checks (module docstring).
    bootstrap, seed : run-level bootstrap of the chosen map refitted on all data (0 for none).

    Returns
    -------
    DownstreamResult
    """
    from scipy import stats          # on use: scipy's submodules cost the app's start-up
    L = np.asarray(loss, dtype=float).reshape(-1)
    y = np.asarray(metric, dtype=float).reshape(-1)
    if L.shape != y.shape:
        raise DownstreamError(f"loss and metric must have the same length (got {len(L)} and {len(y)})")
    for name, arr in (("loss", L), ("metric", y)):
        bad = np.flatnonzero(~np.isfinite(arr))
        if len(bad):
            raise DownstreamError(f"{name} is missing or not finite at row {int(bad[0])}")
    if scale is not None:
        scale = np.asarray(scale, dtype=float).reshape(-1)
        if scale.shape != L.shape:
            raise DownstreamError(f"scale has {len(scale)} entries for {len(L)} observations")
    runs = np.arange(len(L)).astype(str) if runs is None else np.asarray(runs).astype(str).reshape(-1)
    if len(runs) != len(L):
        raise DownstreamError(f"runs has {len(runs)} entries for {len(L)} observations")
    unknown = set(forms) - set(FORMS)
    if unknown:
        raise DownstreamError(f"unknown form(s) {', '.join(sorted(unknown))}; choose from {', '.join(FORMS)}")
    n = len(L)
    if n < 4:
        raise DownstreamError(f"need at least 4 observations to map loss to a metric, got {n}")
    s = 1.0 if higher_is_better else -1.0
    unit_bounded = bool(np.all((y >= 0) & (y <= 1)))
    mask, protocol = _split(heldout, L, scale, heldout_sizes, heldout_fraction)
    fit_idx, ho_idx = np.flatnonzero(~mask), np.flatnonzero(mask)
    notes = []

    # every form on the fit part, scored on the held-out part
    fitted: dict[str, MapFit] = {}
    w_fit = np.ones(len(fit_idx))
    for form in forms:
        out = fit_form(form, L[fit_idx], y[fit_idx], w_fit, s, chance, unit_bounded)
        if out is None:
            notes.append(f"the {form} form could not be fitted on the fit part")
            continue
        params = out[0]
        pred_fit = evaluate(form, params, L[fit_idx], higher_is_better)
        rmse = float(np.sqrt(np.mean((pred_fit - y[fit_idx]) ** 2)))
        if len(ho_idx):
            rel = _rel_errors(evaluate(form, params, L[ho_idx], higher_is_better), y[ho_idx])
            mre, mx = float(np.mean(rel)), float(np.max(rel))
        else:
            mre = mx = np.nan
        fitted[form] = MapFit(form, params, mre, mx, rmse)

    tau, tau_p = stats.kendalltau(-L, s * y)
    tau, tau_p = (0.0, 1.0) if not np.isfinite(tau) else (float(tau), float(tau_p))
    lr = (float(L.min()), float(L.max()))
    mr = (float(y.min()), float(y.max()))
    if not fitted:
        return DownstreamResult(None, None, {}, np.nan, False, "no form could be fitted to these data", {},
                                bool(higher_is_better), chance, n, len(fit_idx), len(ho_idx), protocol, (),
                                np.nan, tau, tau_p, lr, mr, None, tuple(notes))

    if len(ho_idx):
        chosen = min(fitted, key=lambda f: (np.nan_to_num(fitted[f].heldout_rel_error, nan=np.inf), FORMS.index(f)))
    else:
        def aicc(f):
            k, m = N_PARAMS[f], len(fit_idx)
            rss = max(fitted[f].rmse_fit ** 2 * m, 1e-300)
            return m * np.log(rss / m) + 2 * k + (2 * k * (k + 1) / (m - k - 1) if m - k - 1 > 0 else np.inf)
        chosen = min(fitted, key=aicc)

    # refit the chosen form on all data, bootstrap by run
    all_fit = fit_form(chosen, L, y, np.ones(n), s, chance, unit_bounded)
    if all_fit is None:
        all_params, start = fitted[chosen].params, None
        notes.append(f"the {chosen} form could not be refitted on all data; the fit-part parameters are used")
    else:
        all_params, start = all_fit
    pred_all = evaluate(chosen, all_params, L, higher_is_better)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = float(1 - np.sum((y - pred_all) ** 2) / ss_tot) if ss_tot > 0 else np.nan
    boot = _bootstrap(chosen, L, y, runs, s, chance, unit_bounded, start, bootstrap, seed) if bootstrap else None

    ho_pred = evaluate(chosen, fitted[chosen].params, L[ho_idx], higher_is_better) if len(ho_idx) else []
    held = tuple({"run": runs[i], "loss": float(L[i]), "metric": float(y[i]), "predicted": float(p),
                  "rel_error": float(_rel_errors(np.array([p]), np.array([y[i]]))[0])}
                 for i, p in zip(ho_idx, ho_pred))
    mre = fitted[chosen].heldout_rel_error
    maps, reason = _verdict(L, y, s, chance, fit_idx, ho_idx, tau, tau_p, r2, mre, chance_margin, max_rel_error,
                            alpha, chosen)
    return DownstreamResult(chosen, formula(chosen, higher_is_better), all_params, mre, maps, reason, fitted,
                            bool(higher_is_better), chance, n, len(fit_idx), len(ho_idx), protocol, held, r2,
                            tau, tau_p, lr, mr, boot, tuple(notes))


def _verdict(L, y, s, chance, fit_idx, ho_idx, tau, tau_p, r2, mre, chance_margin, max_rel_error, alpha, chosen):
    from scipy import stats          # on use: scipy's submodules cost the app's start-up
    g = s * y
    if chance is not None:
        headroom = float(np.max(g) - s * chance)
        if headroom < chance_margin:
            best = float(s * np.max(g))
            return False, (f"near chance: the best observation ({best:.3g}) is only {headroom:+.3g} better than "
                           f"the random baseline {chance:.3g} (margin {chance_margin:g})")
    if tau_p < alpha and tau < 0:
        return False, f"wrong direction: the metric gets worse as the loss falls (Kendall tau {-tau:.2f}, p = {tau_p:.2g})"
    if len(ho_idx) and len(fit_idx) >= 3:
        t_fit, p_fit = stats.kendalltau(-L[fit_idx], g[fit_idx])
        p_fit = 1.0 if not np.isfinite(p_fit) else float(p_fit)
        fit_range = float(np.ptp(g[fit_idx]))
        jump = float(np.max(g[ho_idx]) - np.max(g[fit_idx]))
        if p_fit >= alpha and tau_p < alpha and jump > fit_range:
            return False, (f"emergent jump: no trend with loss on the fitted models (p = {p_fit:.2g}), then the "
                           f"held-out models jump by {jump:.3g}, more than the fitted models' whole range "
                           f"({fit_range:.3g})")
    if tau_p >= alpha:
        return False, f"noise above signal: no significant trend with loss (Kendall p = {tau_p:.2g})"
    if np.isfinite(r2) and r2 < 0.5:
        return False, f"noise above signal: the map explains only {max(r2, 0):.0%} of the variance"
    if np.isinf(mre):
        return False, "does not extrapolate: a held-out observation is 0, where no relative error is defined"
    if not np.isnan(mre) and mre > max_rel_error:
        return False, (f"does not extrapolate: held-out relative error {mre:.1%} exceeds {max_rel_error:.0%}")
    tail = f", held-out relative error {mre:.1%}" if np.isfinite(mre) else ""
    return True, f"the {chosen} map fits (R^2 = {r2:.2f}{tail})"


def _bootstrap(form, L, y, runs, s, chance, unit_bounded, start, n_boot, seed) -> np.ndarray | None:
    """Refit ``form`` on run-level resamples (integer weights), warm-started at the full-data fit."""
    uniq, inv = np.unique(runs, return_inverse=True)
    if len(uniq) < 2:
        return None
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(len(uniq), np.full(len(uniq), 1.0 / len(uniq)), size=n_boot)
    rows = []
    names = PARAM_NAMES[form]
    for c in counts:
        w = c[inv].astype(float)
        out = fit_form(form, L, y, w, s, chance, unit_bounded, start)
        if out is not None:
            rows.append([out[0][k] for k in names])
    return np.array(rows, dtype=float) if rows else None


def predict_downstream(result: DownstreamResult, loss_fit, X, level: float = 0.95):
    """Metric predicted at scale ``X`` by chaining a fitted loss law with the loss-to-metric map.

    Parameters
    ----------
    result : a :class:`DownstreamResult` (its chosen map and bootstrap).
    loss_fit : an :class:`analysis.fit.FitResult` for the same loss the map was fitted on.
    X : DataFrame or dict with the loss law's variables (e.g. ``{"C": [1e22]}`` or N and D).
    level : width of the percentile band.

    Returns
    -------
    (median, lo, hi) : arrays (one entry per row of X) in metric units.
    """
    if result.model is None:
        raise DownstreamError(f"no map to chain: {result.reason}")
    if loss_fit.boot is not None and len(loss_fit.boot):
        Ls = np.asarray(loss_fit.predict_samples(X), dtype=float)
    else:
        Ls = np.asarray(loss_fit.predict(X), dtype=float)[None, :]
    names = PARAM_NAMES[result.model]
    P = result.boot if result.boot is not None and len(result.boot) else \
        np.array([[result.params[k] for k in names]])
    B = max(len(Ls), len(P))
    idx = np.arange(B)
    Ls_b, P_b = Ls[idx % len(Ls)], P[idx % len(P)]
    samples = evaluate_batch(result.model, P_b, Ls_b, result.higher_is_better)
    q = (1 - level) / 2
    med = np.nanmedian(samples, axis=0)
    lo, hi = np.nanquantile(samples, [q, 1 - q], axis=0)
    return med, lo, hi
