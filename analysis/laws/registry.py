"""The law registry: every law the workbench knows, by name, in listing order.

A law joins by :func:`register` (the built-in families call it at the bottom of their files; a user's
law the same way), and from then on the CLI (``laws``, ``fit --law``), back-tests and ``auto``, the
Fit page, reports and (for a law in N and D) allocation offer it.
"""
from __future__ import annotations

from analysis.laws.base import Law

LAWS: dict[str, Law] = {}
"""Registered laws by name, in registration order (the order of ``laws`` listings and ``auto`` candidates)."""


def register(*laws: Law, replace: bool = False) -> Law:
    """Add ``laws`` to the registry; returns the last one (so ``LAW = register(Law(...))`` reads well).

    Raises ``ValueError`` when another law of the same name is registered (unless ``replace``).
    """
    for law in laws:
        if not isinstance(law, Law):
            raise TypeError(f"register() takes Law objects, not {type(law).__name__}")
        old = LAWS.get(law.name)
        if old is not None and old is not law and not replace:
            raise ValueError(f"a law named {law.name!r} is already registered; choose another name "
                             "or pass replace=True")
        LAWS[law.name] = law
    return laws[-1]


def unregister(name: str) -> Law | None:
    """Remove the law called ``name`` (for tests and plugins); returns it, or None if it was not registered."""
    return LAWS.pop(name, None)


def get_law(law: str | Law) -> Law:
    """The law called ``law`` (a ``Law`` is returned as is); ``KeyError`` listing the known names otherwise."""
    if isinstance(law, Law):
        return law
    try:
        return LAWS[law]
    except KeyError:
        raise KeyError(f"unknown law {law!r}; known laws: {', '.join(sorted(LAWS))}") from None
