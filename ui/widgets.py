"""Widgets whose value lives in the URL, so a copied link reproduces the view.

Each widget is seeded, before it is drawn, from (in order) its current value, the URL parameter named
after its ``key``, its value on another page of this session, then its default; a candidate that is
not valid (an unknown option, a number out of range, a hostile string) is skipped. After drawing, the
value is written back to the URL, or removed from it when it equals the default.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
import streamlit as st

from ui import navigation
from ui.format import escape, finite, quantity, scale_options, url_value

_MEM = "_remembered_"          # session_state prefix: the value a widget had when last drawn
_NONE = ""                     # URL value of an emptied multiselect whose default is not empty
_PARSE_ERRORS = (KeyError, ValueError, TypeError, OverflowError)   # OverflowError: int(float("inf"))


def _seed(key: str, default, valid: Callable[[Any], bool], parse: Callable[[str], Any], multi: bool = False) -> None:
    """Set ``st.session_state[key]`` before its widget is drawn: current value, URL, remembered, default."""
    ss = st.session_state
    cands = [ss[key]] if key in ss else []
    raw = st.query_params.get_all(key) if multi else ([st.query_params[key]] if key in st.query_params else [])
    if raw:
        try:
            cands.append([parse(r) for r in raw if r != _NONE] if multi else parse(raw[0]))
            usable = _holds(valid, cands[-1])
        except _PARSE_ERRORS:
            usable = False
        if not usable and key not in ss and navigation.just_entered():   # an opened link the page cannot show
            # (only on entering the page: a widget drawn again after a hidden tab keeps a stale URL value)
            shown = ", ".join(raw)
            st.toast(f"This link's {escape(key)} ({escape(shown if len(shown) <= 60 else shown[:57] + '...')}) is not "
                     "available here, so the page shows its default: choose another value on the page.",
                     icon=":material/link_off:")
    if _MEM + key in ss:
        cands.append(ss[_MEM + key])
    for c in cands:
        if _holds(valid, c):
            ss[key] = c
            return
    ss[key] = default


def _holds(valid: Callable[[Any], bool], value) -> bool:
    try:
        return bool(valid(value))
    except (TypeError, ValueError):
        return False


def _publish(key: str, value, default) -> None:
    """Write a widget's value to the URL (removed when it equals the default) and remember it."""
    st.session_state[_MEM + key] = value
    qp = st.query_params
    if isinstance(value, (list, tuple)):
        enc = [url_value(v) for v in value] or ([_NONE] if default else [])
        if list(value) == list(default or []) or not enc:
            qp.pop(key, None)
        elif qp.get_all(key) != enc:
            qp[key] = enc
    elif value is None or value == default:
        qp.pop(key, None)
    elif qp.get(key) != url_value(value):
        qp[key] = url_value(value)


class Hidden:
    """Where the widgets of a closed box go (``where=HIDDEN``): :func:`select`, :func:`multiselect`,
    :func:`number` and :func:`toggle` resolve their value as when drawn (the current value, the URL, the
    remembered value, the default) and write it to the URL, but send nothing to the browser. A message about
    the data (``info``, ``warning``) still shows, on the page where the box is; layout (``columns``,
    ``expander``) gives more of the same, and a ``caption`` (a control's explanation) is dropped.

    Why: a browser draws every element Streamlit sends, a closed expander's content included, before the
    page's first chart (:mod:`bench.bench_pages`); settings built only when their box is open
    (``st.expander(..., on_change="rerun")``) cost nothing until then, and give the same values either way."""

    def _value(self, label, *args, key: str, **kw):
        return st.session_state[key]

    selectbox = multiselect = number_input = toggle = _value

    def columns(self, spec, **kw) -> list["Hidden"]:
        return [self] * (spec if isinstance(spec, int) else len(spec))

    def expander(self, *args, **kw) -> "Hidden":
        return self

    def __enter__(self) -> "Hidden":
        return self

    def __exit__(self, *exc) -> bool:
        return False

    def caption(self, *args, **kw) -> None:
        return None

    def info(self, *args, **kw):
        return st.info(*args, **kw)

    def warning(self, *args, **kw):
        return st.warning(*args, **kw)


HIDDEN = Hidden()


def forget(*keys: str) -> None:
    """Drop the URL parameters of widgets this view does not show."""
    for k in keys:
        st.query_params.pop(k, None)


def reset(*keys: str) -> None:
    """Return widgets to their defaults: their value, remembered value and URL parameter are dropped
    (usable in an ``on_click`` callback, e.g. a "show all" button)."""
    ss = st.session_state
    for k in keys:
        for name in (k, _MEM + k):
            if name in ss:
                del ss[name]
        st.query_params.pop(k, None)


def reset_when(parent, *keys: str) -> bool:
    """Reset the widgets ``keys`` (see :func:`reset`) when ``parent`` -- the value their valid range depends
    on, e.g. the family whose sizes a size filter spans -- differs from its value at the last run. A
    cold deep link keeps its parameters (there is no last value yet). Returns True when it reset them."""
    ss, mark = st.session_state, "_parent_" + "|".join(keys)
    before, ss[mark] = ss.get(mark, parent), parent
    if before == parent:
        return False
    reset(*keys)
    return True


def _choice(widget: str, label: str, options: Sequence, key: str, default, where, kw: dict):
    options = list(options)
    default = default if default in options else options[0]
    lookup = {url_value(o): o for o in options}
    _seed(key, default, lambda v: v in options, lambda r: lookup[r])
    value = getattr(where or st, widget)(label, options, key=key, **kw)
    _publish(key, value, default)
    return value


def select(label: str, options: Sequence, *, key: str, default=None, where=None, **kw):
    """``st.selectbox`` whose value lives in the URL as ``?key=value`` (None when there are no options)."""
    return _choice("selectbox", label, options, key, default, where, kw) if len(options) else None


def radio(label: str, options: Sequence, *, key: str, default=None, where=None, **kw):
    """``st.radio`` whose value lives in the URL."""
    return _choice("radio", label, options, key, default, where, kw)


def multiselect(label: str, options: Sequence, *, key: str, default: Sequence = (), where=None, **kw) -> list:
    """``st.multiselect`` whose values live in the URL as repeated ``?key=a&key=b``."""
    options = list(options)
    default = [d for d in default if d in options]
    lookup = {url_value(o): o for o in options}
    _seed(key, list(default), lambda v: isinstance(v, list) and all(x in options for x in v),
          lambda r: lookup[r], multi=True)
    value = list((where or st).multiselect(label, options, key=key, **kw))
    _publish(key, value, default)
    return value


def number(label: str, *, key: str, default: float, min_value: float | None = None, max_value: float | None = None,
           step: float | None = None, where=None, integer: bool = False, **kw):
    """``st.number_input`` whose value lives in the URL (a URL value out of range falls back to the default)."""
    cast = int if integer else float

    def valid(v):
        return finite(v) and (min_value is None or v >= min_value) and (max_value is None or v <= max_value)

    _seed(key, cast(default), valid, lambda r: cast(float(r)))
    st.session_state[key] = cast(st.session_state[key])
    bounds = {k: None if v is None else cast(v) for k, v in
              (("min_value", min_value), ("max_value", max_value), ("step", step))}
    value = (where or st).number_input(label, key=key, **bounds, **kw)
    _publish(key, value, cast(default))
    return value


def toggle(label: str, *, key: str, default: bool = False, where=None, **kw) -> bool:
    """``st.toggle`` whose value lives in the URL as ``1`` / ``0``."""
    flags = {"1": True, "0": False, "true": True, "false": False}
    _seed(key, bool(default), lambda v: isinstance(v, bool), lambda r: flags[r.lower()])
    value = bool((where or st).toggle(label, key=key, **kw))
    _publish(key, value, bool(default))
    return value


def _log_scale(lo: float, hi: float) -> tuple[list[float], Callable[[Any], float], Callable[[str], float]]:
    """The options of a log slider, ``nearest(value)`` and a URL parser that snaps to the nearest option."""
    options = scale_options(lo, hi)
    arr = np.log10(np.array(options))

    def nearest(v) -> float:
        return options[int(np.argmin(np.abs(arr - math.log10(float(v)))))]

    def parse(r: str) -> float:
        v = float(r)
        if not (v > 0 and math.isfinite(v)):
            raise ValueError(r)
        return nearest(v)

    return options, nearest, parse


def scale(label: str, *, key: str, lo: float, hi: float, default: float, unit: str, where=None, **kw) -> float:
    """A log-scale ``st.select_slider`` over :func:`ui.format.scale_options`; a URL value snaps to the
    nearest option. ``unit`` labels the values (``FLOPs``, ``parameters`` ...)."""
    options, nearest, parse = _log_scale(lo, hi)
    default = nearest(default)
    current = st.session_state.get(key)
    if current not in options and finite(current) and current > 0:
        st.session_state[key] = nearest(current)
    _seed(key, default, lambda v: v in options, parse)
    value = (where or st).select_slider(label, options, key=key, format_func=lambda v: quantity(v, unit, 2), **kw)
    _publish(key, value, default)
    return float(value)


def scale_range(label: str, *, key: str, lo: float, hi: float, unit: str, where=None, **kw) -> tuple[float, float]:
    """A log-scale range ``st.select_slider`` (URL: ``?key=lo&key=hi``); the default is the full range."""
    options, _, parse = _log_scale(lo, hi)
    full = [options[0], options[-1]]
    if isinstance(st.session_state.get(key), tuple):
        st.session_state[key] = list(st.session_state[key])
    _seed(key, full, lambda v: isinstance(v, list) and len(v) == 2 and all(x in options for x in v) and v[0] <= v[1],
          parse, multi=True)
    st.session_state[key] = tuple(st.session_state[key])
    value = (where or st).select_slider(label, options, key=key, format_func=lambda v: quantity(v, unit, 2), **kw)
    _publish(key, list(value), full)
    return float(value[0]), float(value[1])


def scale_with_number(label: str, *, key: str, lo: float, hi: float, default: float, unit: str, where=None,
                      help: str | None = None) -> float:
    """A log slider and a number input showing one value (URL ``?key=``): either can be used."""
    c_slider, c_number = (where or st).columns([3, 1])
    value = number(f"{label} ({unit})", key=key, default=default, min_value=lo, max_value=hi, where=c_number,
                   format="%.3e", help=help)
    options, nearest, _ = _log_scale(lo, hi)
    st.session_state[f"{key}__slider"] = nearest(value)

    def _from_slider():
        st.session_state[key] = float(st.session_state[f"{key}__slider"])

    c_slider.select_slider(label, options, key=f"{key}__slider", format_func=lambda v: quantity(v, unit, 2),
                           on_change=_from_slider, help=help)
    return float(value)
