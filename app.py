"""The dashboard's server: ``streamlit run app.py`` serves ``home.py`` at ``/`` and each script of ``pages/``
at its own URL (``/Fit``), and warms up at start (:mod:`ui.warmup`).
"""
import streamlit as st

from ui import warmup

app = st.App("home.py", lifespan=warmup.lifespan)
