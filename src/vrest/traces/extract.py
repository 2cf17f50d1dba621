"""Traces in, a table of resting potentials per solution epoch out (one row per epoch), many files in parallel."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .epochs import QUANTITIES, Epoch, classify_tag, file_epochs, read_epoch_table, resolved, tag_epochs
from .readers import open_trace
from .steady import (
    EXCLUDING_FLAGS,
    MAX_DRIFT_MV_PER_MIN,
    SETTLE_MAX_FRACTION,
    SETTLE_S,
    SPIKE_RULE,
    UNCERTAINTY_RULE,
    Steady,
    steady_state,
)

COLUMNS = ("file", "cell", "epoch", "condition", "K_o_mM", "V_m_mV", "sem_mV", "window_start_s", "window_stop_s",
           "drift_mV_per_min", "spikes_removed", "n_samples", "flags", "excluded", "epoch_start_s", "epoch_stop_s",
           "noise_sd_mV", "source")  # fmt: skip
"""Columns of the output table, in order (any other concentrations follow K_o_mM)."""


@dataclass(frozen=True)
class Options:
    """How every file is extracted (times in s, drift in mV/min)."""

    channel: str | int | None = None
    settle_s: float = SETTLE_S
    max_drift: float = MAX_DRIFT_MV_PER_MIN
    include_unsettled: bool = False
    solutions: Mapping[str, Mapping[str, float]] | None = None
    figures: bool = False


@dataclass(frozen=True)
class FileJob:
    """One trace to extract: its path, its cell name, its epochs from the user's table (or None) and the options."""

    path: str
    cell: str
    epochs: tuple[Epoch, ...] | None
    options: Options


@dataclass
class FileResult:
    """One trace's rows, what was read from it, its figure (PNG bytes, or None) and timings (s)."""

    rows: list[dict]
    record: dict
    figure: bytes | None = None
    timings: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Extraction:
    """Every file's result: the table, the settings record, figures (name -> PNG bytes), tag reports."""

    table: pd.DataFrame
    settings: dict
    figures: dict[str, bytes]


def extract_file(job: FileJob) -> FileResult:
    """Read one trace and extract the steady state of each of its solution epochs (ValueError naming the file)."""
    o = job.options
    t_start = time.perf_counter()
    with open_trace(job.path, o.channel) as trace:
        readings = [classify_tag(tag, o.solutions) for tag in trace.tags]
        if job.epochs:
            epochs, source = list(job.epochs), "epoch table"
        elif trace.file_epochs:
            epochs, source = file_epochs(trace.file_epochs, o.solutions, job.path), "NWB epochs table"
        else:
            epochs, source = tag_epochs(readings), "tags"
        if not epochs:
            seen = "; ".join(f"{r.tag.time_s:g} s {r.tag.text!r} ({r.kind})" for r in readings) or "none"
            raise ValueError(f"{job.path}: no solution epochs (tags: {seen}); expected rows for this file in an epoch "
                             "table (--epochs FILE.csv), an NWB epochs table with solution or K_o_mM columns, or tags "
                             "such as 'K 20'")  # fmt: skip
        epochs = resolved(epochs, trace.duration_s, trace.start_s, trace.rate_hz, job.path)
        rows, steady, windows, per_epoch = [], [], [], []
        for k, e in enumerate(epochs, start=1):
            t0 = time.perf_counter()
            stop = float(e.stop_s)
            settle = min(o.settle_s, SETTLE_MAX_FRACTION * (stop - e.start_s))
            i0, i1 = trace.index(e.start_s + settle), trace.index(stop)
            v = trace.read(i0, i1)
            first = trace.start_s + i0 / trace.rate_hz
            result = steady_state(v, trace.rate_hz, (first, first + v.size / trace.rate_hz), max_drift=o.max_drift,
                                  resolution_mv=trace.resolution_mv)  # fmt: skip
            per_epoch.append(time.perf_counter() - t0)
            flags = (*result.flags, "settle_capped") if settle < o.settle_s else result.flags
            steady.append(result)
            windows.append((first, first + v.size / trace.rate_hz))
            rows.append(_row(job, k, e, result, flags, windows[-1], o.include_unsettled))
        figure = None
        if o.figures:
            from .figures import trace_figure  # matplotlib only when figures are drawn

            figure = trace_figure(trace, epochs, steady, windows, rows, readings)
        record = {**trace.describe(), "file": job.path, "cell": job.cell, "epoch_source": source,
                  "tags": [r.describe() for r in readings]}  # fmt: skip
    timings = {"total_s": time.perf_counter() - t_start, "max_epoch_s": max(per_epoch),
               "mean_epoch_s": float(np.mean(per_epoch))}  # fmt: skip
    return FileResult(rows, record, figure, timings)


def _row(job: FileJob, k: int, e: Epoch, r: Steady, flags: tuple[str, ...], window: tuple[float, float],
         include_unsettled: bool) -> dict:  # fmt: skip
    excluding = [f for f in flags if f in EXCLUDING_FLAGS and not (f == "unsettled" and include_unsettled)]
    return {"file": job.path, "cell": e.cell or job.cell, "epoch": k, "condition": e.solution.name,
            **{q: e.solution.values[q] for q in QUANTITIES if q in e.solution.values},
            "V_m_mV": r.v_mv, "sem_mV": r.sem_mv, "window_start_s": window[0], "window_stop_s": window[1],
            "drift_mV_per_min": r.drift_mv_per_min, "spikes_removed": len(r.spikes), "n_samples": r.n_samples,
            "flags": ";".join(flags), "excluded": bool(excluding), "epoch_start_s": e.start_s,
            "epoch_stop_s": e.stop_s, "noise_sd_mV": r.noise_sd_mv, "source": e.source}  # fmt: skip


def _cells(paths: Sequence[str]) -> list[str]:
    """A cell name per trace: its file stem, or the path as given where two traces share a stem."""
    stems = [Path(p).stem for p in paths]
    return [s if stems.count(s) == 1 else str(p) for s, p in zip(stems, paths, strict=True)]


def _match(table: dict[str, list[Epoch]], paths: Sequence[str], table_path: Path) -> dict[str, tuple[Epoch, ...]]:
    """The epoch table's rows per trace: a row's file is the trace's path as given, its path relative to the
    table's folder, or (without a folder) its file name."""
    out: dict[str, list[Epoch]] = {}
    for key, epochs in table.items():
        ref = Path(key)
        hits = [p for p in paths if key == p or (table_path.parent / ref).resolve() == Path(p).resolve()
                or ref.resolve() == Path(p).resolve() or (ref.name == key and Path(p).name == key)]  # fmt: skip
        if not hits:
            raise ValueError(f"{table_path}: file {key!r} is not among the traces ({', '.join(paths)}); expected "
                             "the name or path of a trace given on the command line")  # fmt: skip
        if len(hits) > 1:
            raise ValueError(f"{table_path}: file {key!r} matches several traces ({', '.join(hits)}); expected a "
                             "path that names one")  # fmt: skip
        out.setdefault(hits[0], []).extend(epochs)
    return {p: tuple(e) for p, e in out.items()}


def check_options(settle_s: float, max_drift: float) -> None:
    """--settle-s >= 0 and --max-drift > 0, or ValueError."""
    if not (np.isfinite(settle_s) and settle_s >= 0):
        raise ValueError(f"--settle-s: expected a time in s, 0 or more, got {settle_s:g}")
    if not (np.isfinite(max_drift) and max_drift > 0):
        raise ValueError(f"--max-drift: expected a positive drift limit in mV/min, got {max_drift:g}")


def extract_files(paths: Sequence[str | Path], *, epochs: str | Path | None = None, channel: str | int | None = None,
            settle_s: float = SETTLE_S, max_drift: float = MAX_DRIFT_MV_PER_MIN,
            solutions: Mapping[str, Mapping[str, float]] | None = None, include_unsettled: bool = False,
            figures: bool = False, scheduler: str | None = "none", workers: int | None = None) -> Extraction:  # fmt: skip
    """Every trace's epochs extracted (in parallel on :func:`vrest.parallel.run_jobs`); any file's problem is a
    one-line ValueError, raised after all files were tried (nothing is written here)."""
    from ..parallel import Failure, run_jobs

    check_options(settle_s, max_drift)
    names = [str(p) for p in paths]
    if not names:
        raise ValueError("TRACE: expected at least one ABF or NWB file")
    if len(set(names)) < len(names):
        raise ValueError(f"TRACE: {next(n for n in names if names.count(n) > 1)} is given twice; expected each trace once")
    table = _match(read_epoch_table(epochs, solutions), names, Path(epochs)) if epochs is not None else {}
    options = Options(channel, float(settle_s), float(max_drift), include_unsettled,
                      {k: dict(v) for k, v in solutions.items()} if solutions else None, figures)  # fmt: skip
    jobs = {n: FileJob(n, cell, table.get(n), options) for n, cell in zip(names, _cells(names), strict=True)}
    results: dict[str, FileResult | Failure] = {}
    run_jobs(extract_file, jobs, results.__setitem__, scheduler=scheduler, workers=workers, what="extract")
    failed = [n for n in names if isinstance(results[n], Failure)]
    if failed:
        more = f" (and {len(failed) - 1} more file(s) failed)" if len(failed) > 1 else ""
        raise ValueError(f"{results[failed[0]].reason}{more}")
    done = [results[n] for n in names]
    frame = _table([r.rows for r in done])
    settings = {"generator": "vrest extract", "settle_s": float(settle_s), "settle_max_fraction": SETTLE_MAX_FRACTION,
                "max_drift_mV_per_min": float(max_drift), "include_unsettled": include_unsettled,
                "channel": channel, "epochs": str(epochs) if epochs is not None else None,
                "solutions": options.solutions, "spike_rule": SPIKE_RULE, "uncertainty": UNCERTAINTY_RULE,
                "excluded": f"rows flagged {', '.join(EXCLUDING_FLAGS)} (unsettled kept with include_unsettled)",
                "files": [{**r.record, "seconds": r.timings} for r in done]}  # fmt: skip
    pictures = {_figure_name(r.record["file"], i): r.figure for i, r in enumerate(done) if r.figure is not None}
    return Extraction(frame, settings, pictures)


def _figure_name(path: str, index: int) -> str:
    return f"{index + 1:03d}_{Path(path).stem}.png"


def _table(per_file: Sequence[list[dict]]) -> pd.DataFrame:
    """One table of every file's rows; columns every row can fill (a quantity given for some epochs only is refused)."""
    rows = [r for rows in per_file for r in rows]
    for q in QUANTITIES:
        have = [r for r in rows if q in r]
        if have and len(have) < len(rows):
            lacking = next(r for r in rows if q not in r)
            raise ValueError(f"{lacking['file']}: epoch {lacking['epoch']} has no {q} while {have[0]['file']} epoch "
                             f"{have[0]['epoch']} has one; expected {q} for every epoch or for none")  # fmt: skip
    named = any(r["condition"] for r in rows)
    for r in rows:
        r["condition"] = r["condition"] or ("unnamed" if named else "")
    quantities = [q for q in QUANTITIES if rows and q in rows[0] and q != "K_o_mM"]
    order = [*COLUMNS[:5], *quantities, *COLUMNS[5:]]
    return pd.DataFrame(rows, columns=order)


def check_loadable(table: pd.DataFrame) -> None:
    """The table loads with :func:`vrest.data.load_recordings` (ValueError with its one-line reason otherwise)."""
    from ..data import DataError, load_recordings

    try:
        load_recordings(table)
    except DataError as err:
        raise ValueError(f"the extracted table would not load as recordings: {err}") from None
