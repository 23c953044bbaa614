"""The data a page works on: the sidebar's choice of store, family and metric, as a :class:`Data` handle.

The published corpus and the session's uploads are both a :class:`~datasets.store.Store` (the uploads
an in-memory one, :func:`ui.store.uploads_store`), so every page reads both through the same cached
queries; only the sidebar's widget keys differ (``family`` / ``ufamily``, ``metric`` / ``umetric``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import pandas as pd
import streamlit as st

from analysis.settings import fit_metric, fitted_unit, is_higher_better
from datasets import store as store_api
from datasets.store import Store
from ui import navigation, store as stores, uploads as kept_uploads
from ui.compute import AnalysisError
from ui.format import escape
from ui.widgets import radio, select

REFERENCE_SOURCE = "chinchilla-epoch"      # the home page fits (and the sidebar shows first) this source's family


@dataclass(frozen=True, eq=False)
class Data:
    """A family of one store (the corpus, or the session's uploads in memory) and a metric: everything a
    page reads goes through here, as cached queries (:func:`ui.store.query`)."""

    store: Store
    family: str
    metric: str | None = None
    source: str | None = None

    @property
    def path(self) -> Path | None:
        """The store file (command lines reproduce from it); None for uploads."""
        return self.store.path

    def _query(self, method: str, *args, **kwargs):
        return stores.query(self.store, method, *args, **kwargs)

    def with_family(self, family: str, metric: str | None = None) -> "Data":
        """The same store's ``family`` (and ``metric``, default this one)."""
        return replace(self, family=family, metric=metric or self.metric)

    def families(self) -> pd.DataFrame:
        """The families of this family's source (``family_summary`` rows)."""
        return self._query("families", source=self.source)

    def metrics(self) -> pd.DataFrame:
        """The family's metrics, most-measured first (metric, split, unit, higher_is_better, n_runs ...)."""
        return self._query("metrics", self.family)

    def default_metric(self) -> str | None:
        """The metric to show first: a validation loss, else a train loss, else the most-measured one; its
        published smoothed version when there is one (:func:`analysis.settings.fit_metric`, as the CLI)."""
        return fit_metric(list(dict.fromkeys(self.metrics()["metric"])), self._query("default_metric", self.family))

    def _metric_row(self, metric: str | None) -> pd.Series | None:
        m = self.metrics()
        rows = m[m["metric"] == (metric or self.metric)]
        return None if rows.empty else rows.iloc[0]

    def unit(self, metric: str | None = None) -> str | None:
        """The metric's unit as fitted (:func:`analysis.settings.fitted_unit`: losses in nats)."""
        row = self._metric_row(metric)
        return None if row is None else fitted_unit(row["unit"])

    def higher_is_better(self, metric: str | None = None) -> bool:
        """Whether higher values of the metric are better (False when unknown)."""
        row = self._metric_row(metric)
        return row is not None and is_higher_better(row["higher_is_better"])

    def runs(self) -> pd.DataFrame:
        return self._query("runs", family=self.family)

    def flagged_runs(self) -> list[str]:
        """Runs the source flags as outliers (fits leave them out by default)."""
        return self._query("flagged_runs", self.family)

    def points(self, metric: str | None = None, final_only: bool = False) -> pd.DataFrame:
        return self._query("points", family=self.family, metric=metric or self.metric, final_only=final_only)

    def source_points(self, final_only: bool = False) -> pd.DataFrame:
        """Every metric of every family of the source."""
        return self._query("points", family=list(self.families()["family"]), final_only=final_only)

    def metric_across_families(self, metric: str | None = None) -> pd.DataFrame:
        """The final point of the metric for every run of every family of the store that measured it."""
        return self._query("metric_across_families", metric or self.metric)

    def chance_level(self, metric: str | None = None) -> float | None:
        """The task's published random baseline (metric units), None when unknown."""
        return self._query("chance_level", self.source, metric or self.metric) if self.source else None

    def frame(self, metric: str | None = None, final_only: bool = False) -> pd.DataFrame:
        """The canonical fit frame (losses in nats). Raises AnalysisError when the metric cannot be used."""
        try:
            return self._query("fit_frame", self.family, metric or self.metric, final_only=final_only)
        except ValueError as e:
            raise AnalysisError(str(e)) from None

    def provenance(self) -> pd.DataFrame:
        """Distinct (paper, repo, commit, licence) of the family's runs."""
        r = self.runs()
        return r[[c for c in ("paper", "repo", "commit", "licence") if c in r]].drop_duplicates().reset_index(drop=True)

    def describe(self, family=None) -> dict:
        """What a report (and its command line) needs to name the data; ``family`` may name several groups."""
        d = {"kind": "store" if self.path else "upload", "family": family or self.family, "metric": self.metric,
             "unit": self.unit()}
        return d | ({"path": str(self.path)} if self.path else {})


def on(store: Store, family: str, metric: str | None = None) -> Data:
    """A :class:`Data` handle on ``family`` of ``store`` (outside the sidebar's choice)."""
    fams = stores.query(store, "families")
    source = fams.loc[fams["family"] == family, "source"]
    return Data(store, family, metric, str(source.iloc[0]) if len(source) else None)


def reference_family(store: Store, fallback: bool = False) -> str | None:
    """The family the home page fits (and the sidebar shows first): the Epoch/Chinchilla points when the
    store has them; else, with ``fallback``, the family with the most runs."""
    fams = stores.query(store, "families")
    ref = fams[fams["source"] == REFERENCE_SOURCE]
    if len(ref):
        return str(ref.sort_values("n_runs", ascending=False).iloc[0]["family"])
    if not fallback or fams.empty:
        return None
    return str(fams.sort_values(["n_runs", "family"], ascending=[False, True]).iloc[0]["family"])


def example(label: str, state: dict, key: str) -> None:
    """A button that switches the view to a worked example on the corpus: it sets the widgets' values
    (``state``: widget key -> value) before the rerun, and the URL follows. Not drawn without a corpus."""
    def apply():
        st.session_state["data"] = "corpus"
        st.session_state.update(state)

    if stores.corpus(quiet=True) is not None:
        st.button(label, key=key, on_click=apply, icon=":material/lightbulb:")


# ---------------------------------------------------------------------------------------------- the sidebar
@dataclass(frozen=True)
class _Chooser:
    """The sidebar's widgets for one kind of store (their keys are the URL parameters)."""

    label: str
    source_key: str | None
    family_key: str
    metric_key: str
    family_label: str
    missing: str


CHOOSERS = {"corpus": _Chooser("Published corpus", "source", "family", "metric", "Family",
                               "The corpus is unavailable (see the message on the page). Choose My uploads instead."),
            "upload": _Chooser("My uploads", None, "ufamily", "umetric", "Uploaded family",
                               "No uploaded runs in this session yet.")}


def _metric_label(m: pd.DataFrame) -> tuple[Callable[[str], str], Callable[[str], str]]:
    """For the metric selector: a short label (``loss (nats)``) and the details shown under it
    (``validation split; 23 runs``), so a long metric name is not cut off in the sidebar."""
    units: dict = {}
    splits: dict = {}
    runs: dict = {}
    for metric, unit, split, n in zip(m["metric"], m["unit"], m["split"], m["n_runs"]):   # one pass, no groupby
        units.setdefault(metric, {})[str(unit)] = None
        splits.setdefault(metric, {})[str(split)] = None
        runs[metric] = max(runs.get(metric, 0), int(n))
    label = {k: f"{k} ({', '.join(units[k])})" for k in units}
    details = {k: f"{', '.join(splits[k])} split; {plural(runs[k], 'run')}" for k in units}
    return (lambda metric: label.get(metric, str(metric))), (lambda metric: details.get(metric, ""))


def plural(n: int, word: str) -> str:
    """``1 run``, ``5 runs``."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


_DATA_KEYS = ("data", "source", "family", "metric", "ufamily", "umetric")


def _current(key: str):
    """A sidebar widget's value before it is drawn: this run's, else the one remembered from another page."""
    ss = st.session_state
    return ss[key] if key in ss else ss.get("_remembered_" + key)


def _wants_example(store: Store | None, example: dict, suits: Callable[[Data], bool] | None) -> str | None:
    """Why the page should open on its ``example`` instead of the sidebar's choice (None: keep the choice).

    Only on the page's first run (cold open or arrival from another page) and when the URL names no data:
    the untouched default (the reference family) gives way, and so does a choice the page cannot use
    (``suits`` False); a choice that suits the page is kept."""
    if store is None or not navigation.just_entered():
        return None
    if any(k in st.query_params for k in (*_DATA_KEYS, *example)):
        return None
    fams = stores.query(store, "families")
    if example.get("family") not in set(fams["family"]) or _current("data") == "upload":
        return None
    family, metric = _current("family"), _current("metric")
    if family is None or family not in set(fams["family"]):
        return "default"
    default_metric = stores.query(store, "default_metric", family)
    if family == reference_family(store, fallback=True) and metric in (None, default_metric):
        return "default"
    if suits is not None:
        try:
            fit_for_page = suits(on(store, family, metric or default_metric))
        except (AnalysisError, ValueError, KeyError):
            fit_for_page = False
        if not fit_for_page:
            return family
    return None


def sidebar(*, with_metric: bool = True, example: dict | None = None,
            suits: Callable[[Data], bool] | None = None) -> Data | None:
    """The shared data chooser: store (corpus or uploads), source, family, metric. Returns None (after
    saying what to do) when there is nothing to show.

    ``example`` (widget key -> value, e.g. source, family, metric and page widgets) is what the page shows
    on a first visit without URL parameters, unless the user's sidebar choice ``suits`` the page."""
    sb = st.sidebar
    sb.header("Data")
    available = {"corpus": stores.corpus(), "upload": stores.uploads_store()}
    why = _wants_example(available["corpus"], example, suits) if example else None
    if why is not None:
        st.session_state.update({"data": "corpus", **example})
        if why != "default":
            st.info(f"The sidebar's family {escape(why)} does not suit this page, so it opens on an example: "
                    f"{escape(example.get('family'))} ({escape(example.get('metric'))}). Choose any family in the "
                    "sidebar.", icon=":material/lightbulb:")
    kept_uploads.notice()        # a link whose uploads are unknown, expired or malformed says so
    choice = radio("Data", list(CHOOSERS), key="data", where=sb, horizontal=True,
                   default="corpus" if available["corpus"] is not None or available["upload"] is None else "upload",
                   format_func=lambda k: CHOOSERS[k].label,
                   help="Published runs from the store, or the runs you uploaded in this session "
                        "(kept in your session only).")
    store, chooser = available[choice], CHOOSERS[choice]
    if store is None:
        sb.info(chooser.missing)
        navigation.link("Upload", "Upload runs", where=sb)
        return None
    fams = stores.query(store, "families")
    if fams.empty:
        sb.warning("The store holds no families: rebuild it with " + store_api.build_command(store.path))
        return None
    fallback = reference_family(store, fallback=True)
    if example and chooser.source_key and example.get("family") in set(fams["family"]):
        fallback = example["family"]      # the page's own default: its example (a URL without data shows it)
    if chooser.source_key:
        titles = stores.query(store, "sources").set_index("source")["title"].fillna("").to_dict()
        source = select("Source", sorted(fams["source"].unique()), key=chooser.source_key, where=sb,
                        default=str(fams.loc[fams["family"] == fallback, "source"].iloc[0]),
                        help="A published paper or repository of training runs (its title below).")
        if titles.get(source):                 # the title wraps under the selector instead of being cut off
            sb.caption(escape(titles[source]))
        fams = fams[fams["source"] == source]
    counts = dict(zip(fams["family"], fams["n_runs"]))
    if fallback not in counts:          # another source's family: this source's largest (the likeliest to fit)
        fallback = max(sorted(counts), key=counts.get)
    family = select(chooser.family_label, sorted(fams["family"]), key=chooser.family_key, default=fallback, where=sb,
                    format_func=lambda f: f"{f}  ({plural(counts.get(f, 0), 'run')})",
                    help="A scaling family: one recipe trained at several sizes.")
    data = on(store, family)
    if not with_metric:
        return data
    m = data.metrics()
    if m.empty:
        sb.warning("This family has no measurements: choose another family.")
        return None
    default_metric = data.default_metric()
    if example and family == example.get("family") and example.get("metric") in set(m["metric"]):
        default_metric = example["metric"]
    label, details = _metric_label(m)
    metric = select("Metric", list(dict.fromkeys(m["metric"])), key=chooser.metric_key, where=sb,
                    default=default_metric, format_func=label,
                    help="Unit in brackets; the split and number of runs below. Losses in bits or perplexity are "
                         "converted to nats for fitting.")
    data = replace(data, metric=metric)
    unit = data.unit()
    converted = unit == "nats" and m.loc[m["metric"] == metric, "unit"].iloc[0] != "nats"
    sb.caption(f"Unit: {escape(unit or 'not given')}" + (" (converted to nats)" if converted else "")
               + f" · {escape(details(metric))}")
    with sb.expander("Provenance", key="provenance_open", on_change="rerun") as box:
        if box.open:        # drawn when opened (a closed expander's content is still drawn, on every page)
            prov = data.provenance()
            for r in prov.head(5).itertuples(index=False):
                st.caption(" · ".join(escape(v) for v in r if isinstance(v, str) and v))
            if prov.empty:
                st.caption("No provenance recorded for this family.")
    return data
