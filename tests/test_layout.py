"""The architecture holds: the layers import only downwards, no module grows past the size a reader takes in at
once, and the README's Layout section names every package and module of the tree (and nothing that is gone).

Layers, bottom up: ``datasets`` (sources, store, uploads; imports none of the others) -> ``analysis`` (pure
Python: imports ``datasets`` only for data types and the store API; never streamlit) -> ``ui`` (the Streamlit
glue) -> ``home.py`` and ``pages/`` (served by ``app.py``). ``bench/`` and ``tests/`` may import anything.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 420          # "~400 lines": a module a reader takes in at once
FORBIDDEN = {"datasets": {"analysis", "ui", "pages", "streamlit"},
             "analysis": {"ui", "pages", "streamlit"},
             "ui": {"pages"}}


def modules(top: str) -> list[Path]:
    return sorted(p for p in (ROOT / top).rglob("*.py") if "__pycache__" not in p.parts)


def imported(path: Path) -> set[str]:
    """The top-level names of every module ``path`` imports (at any depth: lazy imports count too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_each_layer_imports_only_the_layers_below(layer):
    bad = {str(p.relative_to(ROOT)): sorted(imported(p) & FORBIDDEN[layer]) for p in modules(layer)}
    assert not {k: v for k, v in bad.items() if v}, bad


def test_no_module_outside_tests_is_longer_than_a_reader_takes_in():
    long = {str(p.relative_to(ROOT)): n for top in ("analysis", "datasets", "ui", "pages", "bench")
            for p in modules(top) if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    n_app = {f: len((ROOT / f).read_text(encoding="utf-8").splitlines()) for f in ("app.py", "home.py")}
    assert not long and max(n_app.values()) <= MAX_LINES, (long, n_app)


def _layout_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Layout", 1)[1]
    return re.search(r"```\n(.*?)```", section, flags=re.S).group(1)


def test_the_readme_layout_names_every_package_and_module_of_the_tree():
    block = _layout_block()
    named = set(re.findall(r"[\w./]+", block))
    missing = []
    for top in ("analysis", "datasets", "ui"):
        for p in modules(top):
            rel = p.relative_to(ROOT / top)
            if rel.name in ("__init__.py", "__main__.py"):
                continue
            # a module is named by its file (`fit.py`) or its package (`laws/`, `cli/`) when it lives in one
            head = rel.parts[0]
            if not ({rel.name, rel.stem, f"{head}/", head} & named):
                missing.append(f"{top}/{rel}")
    assert not missing, f"README's Layout does not name: {missing}"


def test_the_readme_layout_names_nothing_that_is_gone():
    block = _layout_block()
    gone = [name for name in re.findall(r"\b([\w]+\.py)\b", block)
            if name not in ("app.py", "home.py")
            and not any((ROOT / top).rglob(name) for top in ("analysis", "datasets", "ui"))]
    assert not gone, gone
