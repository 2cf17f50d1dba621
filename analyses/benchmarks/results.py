"""What every benchmark script here shares: the machine line, and printing and recording its results.

RESULTS.md is a table of the current figures, one row per benchmark (a script, or a case of
one); what came before is kept in history/<year>.md. With ``--write`` a script puts its
rows into the table and appends to history/<this year>.md its full output and the rows
those replaced.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
HISTORY = HERE / "history"
HEADER = (
    "| benchmark | what is compared | date | machine | vrest | plain alternative | ratio |",
    "|---|---|---|---|---:|---:|---:|",
)


@dataclass(frozen=True)
class Row:
    """One row of RESULTS.md's table; ``benchmark`` is its key (the script, with the case if it has several)."""

    benchmark: str
    compared: str
    vrest: str  # figure with its unit
    plain: str
    ratio: float  # how many times better vrest's figure is (a higher rate or a shorter time)

    def line(self, date: str, where: str) -> str:
        cells = (self.benchmark, self.compared, date, where, self.vrest, self.plain, f"{self.ratio:.2g}x")
        return "| " + " | ".join(cells) + " |"


def best_time(fn, repeat: int) -> float:
    """The shortest of ``repeat`` wall times (s) of ``fn()``."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def machine() -> str:
    """CPU model, core count, Python and NumPy versions."""
    lines = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.processor())
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy {np.__version__}"


def load() -> str:
    """The 1-minute load average, as a phrase."""
    return f"load {os.getloadavg()[0]:.1f}"


def _key(line: str) -> str:
    """The benchmark cell of a table row."""
    return line.strip("| ").split(" | ", 1)[0]


def put_rows(rows: list[Row], date: str, where: str) -> list[str]:
    """Put ``rows`` into RESULTS.md's table (replacing those with the same benchmark, else at its end);
    returns the lines replaced."""
    lines = RESULTS.read_text().splitlines()
    start = lines.index(HEADER[0]) + 2
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    table = {_key(line): line for line in lines[start:end]}
    replaced = [table[row.benchmark] for row in rows if row.benchmark in table]
    table |= {row.benchmark: row.line(date, where) for row in rows}
    lines[start:end] = table.values()
    RESULTS.write_text("\n".join(lines) + "\n")
    return replaced


def publish(script: str, lines: list[str], rows: list[Row], write: bool) -> None:
    """Print a benchmark's full output and its table rows; with ``write``, put the rows into RESULTS.md and append
    the output and the rows they replace to history/<year>.md."""
    today, where = dt.date.today(), f"{machine()}; {load()}"
    body = "\n".join(lines).strip("\n")
    print("\n".join([body, "", *HEADER, *(row.line(today.isoformat(), where) for row in rows)]))
    if not write:
        return
    replaced = put_rows(rows, today.isoformat(), where)
    entry = [f"## {script}, {today.isoformat()} - {where}", "", body, "", "Rows of RESULTS.md this run replaced:", ""]
    entry += [*HEADER, *replaced] if replaced else ["(none)"]
    HISTORY.mkdir(exist_ok=True)
    path = HISTORY / f"{today.year}.md"
    previous = path.read_text().rstrip("\n") + "\n\n" if path.exists() else f"# Benchmark history, {today.year}\n\n"
    path.write_text(previous + "\n".join(entry).rstrip("\n") + "\n")
