"""Shared by the ColPret sub-source readers: conventions, count parsing, a safe pickle reader, the
collecting :class:`Ingest` state and the wide-to-long :func:`melt`.
"""
from __future__ import annotations

import io
import pickletools
import re
from pathlib import Path

import numpy as np
import pandas as pd

from datasets.sources import SourceTables, read_source_txt
from datasets.vocabulary import HIGHER_IS_BETTER

SOURCE = "colpret"

PAPERS = {
    "olmo": "Groeneveld et al. 2024, OLMo, arXiv 2402.00838",
    "llm360": "Liu et al. 2023, LLM360, arXiv 2312.06550",
    "datablations": "Muennighoff et al. 2023, Scaling Data-Constrained Language Models, arXiv 2305.16264",
    "opt": "Xia et al. 2022, Training Trajectories of Language Models Across Scales, arXiv 2212.09803 "
           "(OPT: Zhang et al. 2022, arXiv 2205.01068)",
    "gpt3": "Brown et al. 2020, Language Models are Few-Shot Learners, arXiv 2005.14165",
    "t5-pile": "EleutherAI 2024, Pile-T5 (blog.eleuther.ai/pile-t5)",
    "redpajama": "Together 2023, RedPajama-INCITE (together.ai/blog/redpajama-models-v1)",
    "bimix": "Ge et al. 2024, Data Mixing Made Efficient: A Bivariate Scaling Law, arXiv 2405.14908",
    "gzip": "Pandey 2024, gzip Predicts Data-dependent Scaling Laws, arXiv 2405.16684",
    "moduleformer": "Shen et al. 2023, ModuleFormer, arXiv 2306.04640",
}


# token conventions (see the module docstring)
OLMO_TOKENS_PER_STEP = 4e6
MAMBA_TOKENS, MAMBA_STEPS = 500e9, 176_703
AMBER_TOKENS, AMBER_CHECKPOINTS = 1.25e12, 360
T5_TOKENS_PER_STEP = 1e6
BIMIX_TOKENS_PER_STEP = 512 * 1024
DIGITISED_TOKEN_UNIT = 1e9

_SUFFIX = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}
_COUNT = re.compile(r"\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmbt]?)\s*", re.IGNORECASE)
_PICKLE_STRINGS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE",
                   "SHORT_BINSTRING", "BINSTRING", "STRING"}
_PICKLE_ALLOWED = ("numpy", "pandas")
_PICKLE_ALLOWED_BUILTINS = {("builtins", "slice")}


def parse_count(text: object) -> float:
    """Parse a count such as ``"2.8B"``, ``"125m"``, ``"64B"``, ``"1.25T"`` or ``"4178368"``.

    Suffixes k/m/b/t (any case) multiply by 1e3/1e6/1e9/1e12. Raises ``ValueError`` naming the
    text when it is not a count.
    """
    if isinstance(text, (int, float, np.integer, np.floating)) and not isinstance(text, bool):
        if np.isfinite(text):
            return float(text)
        raise ValueError(f"not a count: {text!r}")
    match = _COUNT.fullmatch(str(text))
    if not match:
        raise ValueError(f"not a count: {text!r}")
    number, suffix = match.groups()
    return float(number) * _SUFFIX.get(suffix.lower(), 1.0)


def is_count(text: object) -> bool:
    try:
        parse_count(text)
    except ValueError:
        return False
    return True


def slug(text: str) -> str:
    return re.sub(r"[^0-9a-z.]+", "_", str(text).lower()).strip("_")


def check_pickle_globals(data: bytes, file: str) -> set[tuple[str, str]]:
    """Return the globals a pickle imports; raise ``ValueError`` unless all are numpy/pandas.

    Walks the opcodes with :mod:`pickletools` (nothing is executed). ``STACK_GLOBAL`` takes module
    and name from the two strings pushed before it (directly or through the memo).
    """
    memo: dict[int, object] = {}
    pushed: list[object] = []
    found: set[tuple[str, str]] = set()
    for op, arg, _ in pickletools.genops(data):
        name = op.name
        if name in _PICKLE_STRINGS:
            pushed.append(arg)
        elif name == "MEMOIZE":
            memo[len(memo)] = pushed[-1] if pushed else None
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[arg] = pushed[-1] if pushed else None
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            pushed.append(memo.get(arg))
        elif name == "STACK_GLOBAL":
            module, attr = (pushed[-2], pushed[-1]) if len(pushed) >= 2 else (None, None)
            if not (isinstance(module, str) and isinstance(attr, str)):
                raise ValueError(f"{file}: cannot resolve a STACK_GLOBAL import; refusing to load")
            found.add((module, attr))
            pushed.append(None)
        elif name in ("GLOBAL", "INST"):
            module, attr = arg.split(" ", 1)
            found.add((module, attr))
            pushed.append(None)
        elif name not in ("PROTO", "FRAME", "STOP"):
            pushed.append(None)
    bad = sorted(g for g in found
                 if g[0].split(".")[0] not in _PICKLE_ALLOWED and g not in _PICKLE_ALLOWED_BUILTINS)
    if bad:
        raise ValueError(f"{file}: pickle imports {bad}; only numpy/pandas objects are allowed")
    return found


def read_safe_pickle(path: Path, file: str):
    data = path.read_bytes()
    check_pickle_globals(data, file)
    return pd.read_pickle(io.BytesIO(data))


class Ingest:
    """Accumulates runs and points for one source folder and records what was read."""

    def __init__(self, folder: Path):
        self.folder = folder
        info = read_source_txt(folder)
        self.repo = info.get("repo")
        self.commit = info.get("commit")
        self.licence = info.get("licence", "").split(". ")[0] or None
        self.tables = SourceTables(runs=pd.DataFrame(), points=pd.DataFrame())
        self.runs: list[dict] = []
        self.points: list[pd.DataFrame] = []

    def exclude(self, file: str, what: str, action: str, reason: str, n_rows: int = 0) -> None:
        self.tables.exclude(file, what, action, reason, n_rows)

    def read_csv(self, file: str, **kwargs) -> pd.DataFrame:
        df = pd.read_csv(self.folder / file, **kwargs)
        self.tables.rows_read[file] = len(df)
        return df

    def count(self, file: str, n_rows: int) -> None:
        self.tables.rows_read[file] = int(n_rows)

    def run(self, **fields) -> None:
        fields.setdefault("source", SOURCE)
        fields.setdefault("repo", self.repo)
        fields.setdefault("commit", self.commit)
        fields.setdefault("licence", self.licence)
        self.runs.append(fields)

    def add(self, frame: pd.DataFrame, file: str) -> None:
        """Add long-form points (run_id, step, tokens, flops, metric, split, unit, value,
        higher_is_better); ``file`` is remembered for per-file exclusion records."""
        self.points.append(frame.assign(_file=file))


def melt(df: pd.DataFrame, specs: list[tuple[str, str, str, str, float]]) -> pd.DataFrame:
    """Wide -> long. ``df`` has run_id, step, tokens, flops and the spec columns.

    Each spec is ``(column, metric, split, unit, scale)``; empty cells are skipped (absent, not
    excluded); ``value = cell * scale``; ``higher_is_better`` follows the unit.
    """
    values = df[[s[0] for s in specs]].to_numpy(dtype="float64") * np.array([s[4] for s in specs])
    rows, which = np.nonzero(~np.isnan(values))
    label = {name: np.array([s[i] for s in specs], dtype=object)
             for i, name in ((1, "metric"), (2, "split"), (3, "unit"))}
    hib = np.array([HIGHER_IS_BETTER.get(s[3]) for s in specs], dtype=object)   # None: lr, other
    out = {c: np.asarray(df[c].to_numpy())[rows] for c in ("run_id", "step", "tokens", "flops")}
    out.update({name: arr[which] for name, arr in label.items()})
    out["value"] = values[rows, which]
    out["higher_is_better"] = hib[which]
    return pd.DataFrame(out)


def band_columns(df: pd.DataFrame) -> tuple[list[str], int]:
    """W&B ``__MIN``/``__MAX`` band columns and how many of their cells differ from the value."""
    band = [c for c in df.columns if c.endswith(("__MIN", "__MAX"))]
    differ = 0
    for col in band:
        base = col[: -len("__MIN")]
        both = df[col].notna() & df[base].notna()
        differ += int((~np.isclose(df.loc[both, col], df.loc[both, base])).sum())
    return band, differ


def band_reason(differ: int) -> str:
    return f"W&B smoothing-band bounds, not measurements; {differ} cells differ from the plotted value"
