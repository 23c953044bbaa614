"""The one list of pages, and the page frame every script starts with.

:data:`PAGES` is read by ``home.py`` and ``pages/*`` (through :func:`page`), by the tests and by the
benchmarks: a page is added here and as a script in ``pages/``, nowhere else. Streamlit's own page
list is hidden (``.streamlit/config.toml``); ``pages/`` still gives each page a clean URL such as
``/Fit`` that works as a cold deep link (``st.navigation`` would break that).
"""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

APP = "Scaling-law workbench"


@dataclass(frozen=True)
class Page:
    """One page: ``name`` is its sidebar label and URL path (``/Fit``), ``script`` its file relative to
    the project root, ``icon`` a Material Symbol (drawn by Streamlit's own font), ``summary`` what it
    does (the home page's links), ``title`` its heading."""

    name: str
    script: str
    icon: str
    summary: str
    title: str

    @property
    def url_path(self) -> str:
        """The path of the page's URL: ``""`` for the home page, else ``/<name>``."""
        return "" if self.script == "home.py" else f"/{self.name}"


PAGES: tuple[Page, ...] = (
    Page("Home", "home.py", ":material/home:", "the corpus and a reference fit", APP),
    Page("Browse", "pages/1_Browse.py", ":material/search:", "curves and provenance", "Browse runs"),
    Page("Fit", "pages/2_Fit.py", ":material/show_chart:", "laws with bootstrap CIs", "Fit a scaling law"),
    Page("Allocate", "pages/3_Allocate.py", ":material/calculate:", "N*, D* for a budget",
         "Allocate a compute budget"),
    Page("Upload", "pages/4_Upload.py", ":material/upload_file:", "your own runs", "Upload your runs"),
    Page("Crossover", "pages/5_Crossover.py", ":material/compare_arrows:", "where curves cross",
         "Crossover between families"),
    Page("Trends", "pages/6_Trends.py", ":material/trending_down:", "inverse and U shapes",
         "Inverse and U-shaped trends"),
    Page("Downstream", "pages/7_Downstream.py", ":material/target:", "loss to task metrics",
         "From loss to downstream metrics"),
    Page("Hyperparameters", "pages/8_Hyperparameters.py", ":material/tune:", "optimal lr and batch size",
         "Hyperparameter laws"),
)
BY_NAME: dict[str, Page] = {p.name: p for p in PAGES}
# the sidebar's starting width in pixels (Streamlit's default 300 cuts off family names such as
# "revisiting/bb-linguistic_mappings_1shot"); the user can still drag it, and narrow screens collapse it
SIDEBAR_WIDTH = 420
CURRENT, ENTERED = "_page", "_page_entered"        # session_state: the page running, and whether it was just entered


def just_entered() -> bool:
    """Whether this run is the page's first since the session opened it (cold open or from another page)."""
    return bool(st.session_state.get(ENTERED, True))


def page(name: str) -> Page:
    """Start page ``name``: configure it, draw the page list at the top of the sidebar and the heading.

    Must be the first Streamlit call of every page script.
    """
    this = BY_NAME[name]
    st.set_page_config(page_title=f"{name} · {APP}", page_icon=this.icon, layout="wide",
                       initial_sidebar_state=SIDEBAR_WIDTH)
    ss = st.session_state
    ss[ENTERED] = ss.get(CURRENT) != name        # first run of this page since another page (or a cold open)
    ss[CURRENT] = name
    for p in PAGES:
        st.sidebar.page_link(p.script, label=p.name, icon=p.icon)
    st.sidebar.divider()
    st.title(this.title)
    return this


def link(name: str, label: str | None = None, where=None) -> None:
    """A link to page ``name`` (label: the page's name)."""
    p = BY_NAME[name]
    (where or st).page_link(p.script, label=label or p.name, icon=p.icon)


def page_links() -> None:
    """Links to every other page with what it does (home page), two to a row: in four columns of a wide page
    beside the sidebar the labels were cut off ("Browse: curves and prover")."""
    cols = st.columns(2)
    for i, p in enumerate(PAGES[1:]):
        cols[i % 2].page_link(p.script, label=f"{p.name}: {p.summary}", icon=p.icon)
