"""TensorBoard log directories: one run per folder holding event files, scalars as metrics.

Example (a log directory as PyTorch's ``SummaryWriter``, Hugging Face, Lightning or Keras write it)::

    logs/gpt-125m/events.out.tfevents.1717171717.host.1.0    -> run "gpt-125m"
    logs/gpt-350m/events.out.tfevents.1717171800.host.2.0    -> run "gpt-350m"
    (tags train/loss, eval/loss, lr, ... at each global step)

Records are read with TensorBoard's own reader (:class:`RawEventFileLoader`, which checks every record's
CRC) and parsed with TensorBoard's ``Event`` protocol buffer; no TensorFlow is needed. A scalar is a
``simple_value`` (TF1, PyTorch, tensorboardX) or a one-element tensor of the ``scalars`` plugin (TF2's
``tf.summary.scalar``); histograms, images, text and graphs are skipped (counted in the report).
A folder every run folder sits in (``logs/`` in a ZIP of the log directory) is not part of the run
names. Hyperparameters logged with the ``hparams`` plugin become the run's config, so a logged ``n_params`` or
``tokens`` hyperparameter is its N or D. Several event files in one folder (a resumed run) are one run,
read in file-name order (their names start with the creation time); a step logged again keeps the
last value.

An event file that ends mid-record (the run was still writing, or the copy was cut) keeps its complete
records and the report says where it stopped; a file with a bad checksum stops at that record the same
way; a file with no readable record at all is refused by name. TensorBoard's pure-Python reader checks
CRCs at about 2 us per byte, so event files are limited to :data:`MAX_EVENT_BYTES` in total.
"""
from __future__ import annotations

import struct
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from datasets.formats.archive import shared_folders
from datasets.formats.draft import Draft
from datasets.formats.limits import MAX_EVENT_BYTES, MAX_EVENT_FILES
from datasets.formats.roles import classify
from datasets.formats.series import series_draft
from datasets.upload import UploadError

_FRAME = 16                    # TFRecord framing per record: length (8) + its CRC (4) + data CRC (4)


def is_event_file(path: str) -> bool:
    """TensorBoard's own test: ``tfevents`` in the file name."""
    return "tfevents" in PurePosixPath(path).name


def select(paths: list[str]) -> list[str]:
    return [p for p in paths if is_event_file(p)]


def _scalar(value, plugin: dict[str, str]) -> float | None:
    """A summary value as a float when it is a scalar, else None."""
    from tensorboard.util import tensor_util

    if value.HasField("simple_value"):
        return float(value.simple_value)
    name = value.metadata.plugin_data.plugin_name if value.HasField("metadata") else ""
    if name:
        plugin.setdefault(value.tag, name)
    if plugin.get(value.tag) != "scalars" or not value.HasField("tensor"):
        return None
    arr = tensor_util.make_ndarray(value.tensor)
    return float(arr.reshape(-1)[0]) if arr.size == 1 else None


def _hparams(value) -> dict:
    """``{name: value}`` of an ``hparams`` plugin session-start record (empty for any other record)."""
    try:
        from tensorboard.plugins.hparams import plugin_data_pb2
        data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
    except Exception:  # noqa: BLE001 - an unreadable hparams record is skipped, like any non-scalar
        return {}
    if not data.HasField("session_start_info"):
        return {}
    out = {}
    for k, v in data.session_start_info.hparams.items():
        kind = v.WhichOneof("kind")
        out[k] = None if kind is None else getattr(v, kind)
    return out


def _stop_reason(path: Path, consumed: int, size: int, n: int) -> str:
    """Why reading stopped before the end, from the record framing alone: cut short, or damaged."""
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    with open(path, "rb") as fh:
        fh.seek(consumed)
        head = fh.read(12)
    cut = (f"ends mid-record after {n:,} complete records (cut while being written or copied; byte {consumed:,} "
           f"of {size:,})")
    if len(head) < 12:
        return cut
    (length,) = struct.unpack("<Q", head[:8])
    if masked_crc32c(head[:8]) != struct.unpack("<I", head[8:12])[0]:
        if n == 0:
            return "is not a TensorBoard event file (its first record fails TensorBoard's checksum)"
        return f"is damaged after {n:,} complete records (a record fails its checksum at byte {consumed:,})"
    if consumed + _FRAME + length > size:
        return cut
    return f"is damaged after {n:,} complete records (a record fails its checksum at byte {consumed:,})"


def read_event_file(path: Path, rel: str) -> tuple[list[tuple], dict, int, str | None, int]:
    """Scalars of one event file: ``[(tag, step, value, record)]``, hparams, records read, problem, skipped."""
    from google.protobuf.message import DecodeError
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto import event_pb2

    size = path.stat().st_size
    out: list[tuple] = []
    hparams: dict = {}
    plugin: dict[str, str] = {}
    consumed = n = skipped = 0
    problem = None
    try:
        for raw in RawEventFileLoader(str(path)).Load():
            n += 1
            consumed += len(raw) + _FRAME
            try:
                event = event_pb2.Event.FromString(raw)
            except DecodeError:
                problem = f"record {n} is not a TensorBoard event"
                break
            if not event.HasField("summary"):
                continue
            for value in event.summary.value:
                v = _scalar(value, plugin)
                if v is not None:
                    out.append((value.tag, int(event.step), v, n))
                elif plugin.get(value.tag) == "hparams":
                    hparams.update(_hparams(value))
                else:
                    skipped += 1
    except (OSError, ValueError) as e:
        raise UploadError(f"Cannot read the event file {rel!r}: {e}.", fix="Check the file.") from None
    if problem is None and consumed < size:
        problem = _stop_reason(path, consumed, size, n)
    return out, hparams, n, problem, skipped


def read_tensorboard(root: Path, paths: list[str], *, label: str, column_map=None) -> Draft:
    """Event files ``paths`` under ``root`` -> :class:`Draft`; the run is each file's folder."""
    if not paths:
        raise UploadError(f"No TensorBoard event files (named '*tfevents*') were found in {label!r}.",
                          fix="Point at the log directory that holds the run folders.")
    if len(paths) > MAX_EVENT_FILES:
        raise UploadError(f"{label!r} holds {len(paths):,} event files, above the limit of {MAX_EVENT_FILES:,}.",
                          fix="Upload the log folders of fewer runs at a time.")
    total = sum(root.joinpath(*PurePosixPath(p).parts).stat().st_size for p in paths)
    if total > MAX_EVENT_BYTES:
        raise UploadError(f"The event files in {label!r} hold {total / 1e6:,.1f} MB, above the "
                          f"{MAX_EVENT_BYTES / 1e6:,.0f} MB limit for TensorBoard logs.",
                          fix="Upload fewer runs at a time, or log images and histograms to another folder.")
    rows, runs, warnings, bad = [], {}, [], []
    records = skipped = 0
    fallback = PurePosixPath(label.replace("\\", "/")).stem if label else "run"
    skip = shared_folders(paths)
    for rel in sorted(paths, key=lambda p: (str(PurePosixPath(p).parent), PurePosixPath(p).name)):
        folders = PurePosixPath(rel).parts[:-1]
        kept = folders[skip:] or folders[-1:]          # a lone run folder keeps its own name
        run = "/".join(kept) if kept else fallback
        scalars, hp, n, problem, sk = read_event_file(root.joinpath(*PurePosixPath(rel).parts), rel)
        records += n
        skipped += sk
        if problem:
            if n == 0:
                bad.append(f"{rel!r} {problem}")
                continue
            warnings.append(f"Event file {rel!r} {problem}; the records before it were read.")
        if hp:
            runs.setdefault(run, {}).update(hp)
        else:
            runs.setdefault(run, {})
        rows.extend((run, tag, step, value, rel, rec) for tag, step, value, rec in scalars)
    if bad and not rows:
        raise UploadError(f"No event file could be read: {'; '.join(bad[:3])}.",
                          fix="Upload the event files TensorBoard wrote (named *tfevents*), copied after the runs "
                              "finished writing.")
    if bad:
        warnings.append(f"Skipped {len(bad)} unreadable event file{'s' if len(bad) != 1 else ''}: "
                        f"{'; '.join(bad[:3])}.")
    if not rows:
        raise UploadError(f"The event files in {label!r} hold no scalars ({records:,} records, {skipped:,} "
                          "non-scalar values such as histograms or images).",
                          fix="Log the loss with add_scalar / tf.summary.scalar, then upload the log directory.")
    rec = pd.DataFrame(rows, columns=["run", "name", "step", "value", "file", "row"])
    rec["step"] = rec["step"].astype(np.int64)
    run_table = pd.DataFrame({"run": list(runs), "family": None,
                              "config": [cfg or None for cfg in runs.values()]})
    for field, col in (("N", "params"), ("D", "tokens"), ("C", "flops")):
        vals, froms = [], []
        for cfg in runs.values():
            hit = next(((k, v) for k, v in (cfg or {}).items() if classify(k) == field and isinstance(v, (int, float))
                        and not isinstance(v, bool)), None)
            vals.append(float(hit[1]) if hit else np.nan)
            froms.append(f"hparam {hit[0]!r}" if hit else None)
        if any(f is not None for f in froms):
            run_table[col] = vals
            run_table[col + "_from"] = froms
    d = series_draft(rec, run_table, column_map=column_map, fmt="tensorboard", rows_read=records,
                     files=len(paths), what="tag")
    d.sources["run"] = "event file folders"
    d.sources["step"] = "event step"
    if skipped:
        d.notes.append(f"{skipped:,} non-scalar values (histograms, images, text, graphs) were skipped.")
    d.warnings.extend(warnings)
    d.mapping = {"run": "event file folder", "step": "event step", **{k: v for k, v in d.mapping.items()}}
    return d
