"""Solution epochs of a recording: from the user's epoch table, the file's own epochs table, or its tags.

Order of preference, per file: rows of the epoch table (``--epochs FILE.csv``) naming
the file; else the file's NWB epochs/intervals table (a ``solution``/``condition`` or
``K_o_mM`` column); else its ABF tags. Every epoch needs K_o (mM), given directly or
through a named solution of the ``solutions`` mapping (solution name -> concentrations
in vrest's column names, e.g. ``{"high-K": {"K_o_mM": 40, "Na_o_mM": 105}}``); with a
mapping, an unknown solution name is an error.

Tag comments (forgiving, case-insensitive; parts separated by ``,`` ``;`` ``|`` or
``and``), see :func:`classify_tag`:

- ``solution: NAME`` (or ``sol``, ``saline``, ``bath``, ``condition``, with ``:`` or ``=``),
  or a bare NAME of the ``solutions`` mapping: that solution;
- an ion and an amount in either order: ``K 20``, ``K=20``, ``K+: 20 mM``, ``[K+]o = 20``,
  ``20 mM K``, ``20K``, ``0.5 mM Ca2+``; ions K, Na, Cl, Ca (or potassium, sodium,
  chloride, calcium), amounts in mM (default), uM or nM; a salt such as ``KCl`` is not
  an ion and is not read;
- ``Na-free``, ``Na free``, ``0 Na``: that ion at 0 mM.

A tag states what changed: concentrations it does not give carry over from the
previous solution tag. Tags without solution information are reported and ignored:
acquisition markers (``Clampex start acquisition``, ``Clampex end (1)``), digital
outputs (``Digital Outputs => 00000001``), file paths, and any other text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..data import CANONICAL, _canonical
from .readers import FileEpoch, Tag

QUANTITIES = tuple(c for c in CANONICAL if c.endswith("_mM")) + ("temperature_C",)
"""Numeric columns an epoch may carry (vrest fit's names): concentrations in mM and the temperature in C."""

_ION_COLUMN = {"k": "K_o_mM", "potassium": "K_o_mM", "na": "Na_o_mM", "sodium": "Na_o_mM",
               "cl": "Cl_o_mM", "chloride": "Cl_o_mM", "ca": "Ca_o_mM", "calcium": "Ca_o_mM"}  # fmt: skip
_ION = r"\[?(?P<ion{n}>k|na|cl|ca|potassium|sodium|chloride|calcium)(?:\s*(?:2\+|\+\+|\+|-|\u207a|2\u207a|\u207b))?\]?(?:\s*(?:_?o|out|ext))?"
_NUM = r"(?P<num{n}>\d+(?:\.\d*)?|\.\d+)"
_UNIT = r"(?:\s*(?P<unit{n}>mm|mmol(?:/l)?|um|umol(?:/l)?|nm|nmol(?:/l)?|m)\b)?"
_AMOUNT = re.compile(
    rf"(?<![a-z0-9.])(?:{_ION.format(n=1)}\s*[:=]?\s*{_NUM.format(n=1)}{_UNIT.format(n=1)}"
    rf"|{_NUM.format(n=2)}{_UNIT.format(n=2)}\s*{_ION.format(n=2)}"
    rf"|(?P<ion3>k|na|cl|ca|potassium|sodium|chloride|calcium)\s*[- ]?\s*free)(?![a-z])")
_NAMED = re.compile(r"^\s*(?:solution|sol|saline|bath|condition)\s*[:=]\s*(?P<name>.+?)\s*$", re.IGNORECASE)
_SCALE = {"mm": 1.0, "mmol": 1.0, "mmol/l": 1.0, "um": 1e-3, "umol": 1e-3, "umol/l": 1e-3,
          "nm": 1e-6, "nmol": 1e-6, "nmol/l": 1e-6}  # fmt: skip
_MARKERS = (
    ("acquisition marker", re.compile(r"\b(clampex|axoscope|pclamp|clampfit)\b|\bacquisition\b"
                                      r"|^\s*(start|stop|end|pause|resume)(ed)?\b", re.IGNORECASE)),
    ("digital output", re.compile(r"\bdigital\s*out|\bDO\s*\d\b|=>\s*[01]{4,}", re.IGNORECASE)),
    ("file path", re.compile(r"[a-z]:\\|\\\\|(^|\s)/\S+/|\.(abf|nwb|dat|atf|csv|txt|h5)\b", re.IGNORECASE)),
)


@dataclass(frozen=True)
class Solution:
    """What one epoch source says about the bath: a name (or None) and concentrations in vrest's column names."""

    name: str | None = None
    values: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Epoch:
    """A solution epoch: [start_s, stop_s) in s (stop None: until the next epoch or the end), its bath, its cell."""

    start_s: float
    stop_s: float | None
    solution: Solution
    cell: str | None
    source: str


@dataclass(frozen=True)
class TagReading:
    """A tag as read: its time (s), text, kind (``solution`` or what it was recognised as) and solution."""

    tag: Tag
    kind: str
    solution: Solution | None = None

    def describe(self) -> dict:
        """JSON-ready."""
        return {"time_s": self.tag.time_s, "text": self.tag.text, "kind": self.kind}


def _lookup(solutions: Mapping[str, Mapping[str, float]] | None, name: str) -> str | None:
    """The key of ``solutions`` that ``name`` names (exactly, else ignoring case and spaces), or None."""
    if not solutions:
        return None
    if name in solutions:
        return name
    key = re.sub(r"\s+", "", name).lower()
    return next((k for k in solutions if re.sub(r"\s+", "", k).lower() == key), None)


def named_solution(name: str, solutions: Mapping[str, Mapping[str, float]] | None, where: str) -> Solution:
    """The solution called ``name``: its concentrations from ``solutions`` (an unknown name is an error there)."""
    if not solutions:
        return Solution(name, {})
    key = _lookup(solutions, name)
    if key is None:
        raise ValueError(f"{where}: unknown solution {name!r}; expected one of the study's solutions: "
                         f"{', '.join(sorted(solutions))}")  # fmt: skip
    return Solution(key, check_values(dict(solutions[key]), f"{where}: solution {key!r}"))


def check_values(values: Mapping[str, object], where: str) -> dict[str, float]:
    """Concentrations (mM, 0-1000) and temperature (C) as floats under vrest's column names, or ValueError."""
    out: dict[str, float] = {}
    for column, value in values.items():
        if column not in QUANTITIES:
            raise ValueError(f"{where}: {column!r} is not a quantity vrest fits; expected one of {', '.join(QUANTITIES)}")
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"{where}: {column} is {value!r}; expected a number") from None
        low, high = (-5.0, 50.0) if column == "temperature_C" else (0.0, 1000.0)
        if not (math.isfinite(number) and low <= number <= high):
            raise ValueError(f"{where}: {column} is {number:g}; expected a number from {low:g} to {high:g}")
        out[column] = number
    return out


def parse_solution_text(text: str, solutions: Mapping[str, Mapping[str, float]] | None = None,
                        where: str = "tag") -> Solution | None:  # fmt: skip
    """The solution a comment states (see the module docstring), or None when it states none."""
    clean = text.replace("\u00b5", "u").replace("\u03bc", "u").strip()
    named = _NAMED.match(clean)
    if named:
        base = named_solution(named["name"], solutions, where)
        amounts = _amounts(named["name"], where) if not solutions else {}
        return Solution(base.name, {**base.values, **amounts})
    if _lookup(solutions, clean) is not None:
        return named_solution(clean, solutions, where)
    amounts = _amounts(clean, where)
    return Solution(None, amounts) if amounts else None


def _amounts(text: str, where: str) -> dict[str, float]:
    """Ion amounts (mM) written in ``text``."""
    out: dict[str, float] = {}
    for part in re.split(r"[,;|&]|\band\b", text.lower()):
        for m in _AMOUNT.finditer(part):
            if m["ion3"]:
                ion, value = m["ion3"], 0.0
            else:
                n = 1 if m["ion1"] else 2
                unit = (m[f"unit{n}"] or "mm").lower()
                if unit == "m":
                    raise ValueError(f"{where} {text!r}: an amount in M (molar); expected mM, uM or nM")
                ion, value = m[f"ion{n}"], float(m[f"num{n}"]) * _SCALE[unit]
            out[_ION_COLUMN[ion]] = value
    return out


def classify_tag(tag: Tag, solutions: Mapping[str, Mapping[str, float]] | None = None) -> TagReading:
    """A tag read as a solution change, or recognised as carrying none (acquisition marker, digital output, ...)."""
    for kind, pattern in _MARKERS:
        if pattern.search(tag.text):
            return TagReading(tag, kind)
    solution = parse_solution_text(tag.text, solutions, f"tag at {tag.time_s:g} s")
    return TagReading(tag, "solution", solution) if solution is not None else TagReading(tag, "no solution information")


def tag_epochs(readings: Sequence[TagReading]) -> list[Epoch]:
    """One epoch per solution tag, from the tag to the next one; unstated concentrations carry over."""
    epochs: list[Epoch] = []
    values: dict[str, float] = {}
    for r in sorted((r for r in readings if r.solution is not None), key=lambda r: r.tag.time_s):
        values = {**values, **r.solution.values}
        epochs.append(Epoch(r.tag.time_s, None, Solution(r.solution.name, dict(values)), None,
                            f"tag at {r.tag.time_s:g} s {r.tag.text!r}"))  # fmt: skip
    return epochs


# --------------------------------------------------------------------------- epoch tables

def _column_role(name: str) -> str | None:
    """What an epoch-table column holds: file, start_s, stop_s, solution, condition, cell, a quantity, or None."""
    key = re.sub(r"[\s_\-.]+", "", name).lower()
    roles = {"file": "file", "filename": "file", "trace": "file", "recording": "file", "path": "file",
             "starts": "start_s", "start": "start_s", "starttime": "start_s", "stops": "stop_s", "stop": "stop_s",
             "stoptime": "stop_s", "solution": "solution", "saline": "solution", "condition": "condition",
             "cell": "cell", "cellid": "cell", "note": "note", "notes": "note", "comment": "note", "comments": "note"}  # fmt: skip
    if key in roles:
        return roles[key]
    canonical = _canonical(name)
    return canonical if canonical in QUANTITIES else None


def _empty(cell: object) -> bool:
    return cell is None or (isinstance(cell, float) and math.isnan(cell)) or str(cell).strip().lower() in ("", "nan", "none")


def row_epoch(values: Mapping[str, object], start: float, stop: float | None, where: str,
              solutions: Mapping[str, Mapping[str, float]] | None) -> Epoch:  # fmt: skip
    """An epoch from one table row (``values``: column -> cell), its solution resolved and checked."""
    roles = {c: _column_role(c) for c in values}
    text = {role: str(values[c]).strip() for c, role in roles.items() if role and not _empty(values[c])}
    solution = named_solution(text["solution"], solutions, where) if "solution" in text else Solution()
    given = check_values({role: values[c] for c, role in roles.items() if role in QUANTITIES and not _empty(values[c])},
                         where)  # fmt: skip
    for column, value in given.items():
        if column in solution.values and abs(solution.values[column] - value) > 1e-9 * max(1.0, abs(value)):
            raise ValueError(f"{where}: {column} is {value:g} but solution {solution.name!r} has "
                             f"{solution.values[column]:g}; expected them to agree (or one of them left empty)")  # fmt: skip
    name = text.get("condition", solution.name)
    return Epoch(start, stop, Solution(name, {**solution.values, **given}), text.get("cell"), where)


def read_epoch_table(path: str | Path, solutions: Mapping[str, Mapping[str, float]] | None = None
                     ) -> dict[str, list[Epoch]]:  # fmt: skip
    """The user's epoch CSV: file (as written in the table) -> its epochs, each checked (one-line ValueError)."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=True)
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a readable epoch table ({' '.join(str(err).split())}); expected a CSV with "
                         "columns file, start_s, [stop_s], solution or condition, K_o_mM, ...") from None  # fmt: skip
    roles = {c: _column_role(c) for c in frame.columns}
    unknown = [c for c, r in roles.items() if r is None]
    if unknown:
        raise ValueError(f"{path}: column {unknown[0]!r} is not known; expected file, start_s, stop_s, solution, "
                         f"condition, cell, note or a quantity ({', '.join(QUANTITIES)})")  # fmt: skip
    for needed in ("file", "start_s"):
        if needed not in roles.values():
            raise ValueError(f"{path}: no {needed} column; expected columns file, start_s, [stop_s], solution or "
                             "condition, K_o_mM, ...")  # fmt: skip
    by_role = {r: c for c, r in roles.items()}
    out: dict[str, list[Epoch]] = {}
    for i, row in enumerate(frame.to_dict("records")):
        where = f"{path}: row {i + 2}"
        file = str(row[by_role["file"]]).strip()
        if not file:
            raise ValueError(f"{where}: empty file cell; expected the name of a trace")
        start = _seconds(row[by_role["start_s"]], f"{where}, column start_s")
        stop_cell = row.get(by_role.get("stop_s", ""), "")
        stop = None if _empty(stop_cell) else _seconds(stop_cell, f"{where}, column stop_s")
        values = {c: v for c, v in row.items() if roles[c] not in ("file", "start_s", "stop_s", "note")}
        out.setdefault(file, []).append(row_epoch(values, start, stop, where, solutions))
    return out


def _seconds(cell: object, where: str) -> float:
    try:
        value = float(str(cell).strip())
    except ValueError:
        raise ValueError(f"{where}: {cell!r} is not a number; expected a time in s") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{where}: {value:g}; expected a time in s, 0 or more")
    return value


def file_epochs(rows: Sequence[FileEpoch], solutions: Mapping[str, Mapping[str, float]] | None,
                label: str) -> list[Epoch]:  # fmt: skip
    """Epochs from the file's own table (NWB epochs/intervals), its unknown columns ignored."""
    return [row_epoch({c: v for c, v in r.values.items() if _column_role(c) not in (None, "file", "note")},
                      r.start_s, r.stop_s, f"{label}: {r.source}", solutions) for r in rows]  # fmt: skip


def resolved(epochs: Sequence[Epoch], duration_s: float, start_s: float, rate_hz: float, label: str) -> list[Epoch]:
    """Epochs sorted, each with its stop (the next start, or the end), checked against the recording and each other."""
    end = start_s + duration_s
    slack = 1.0 / rate_hz
    ordered = sorted(epochs, key=lambda e: e.start_s)
    out: list[Epoch] = []
    for i, e in enumerate(ordered):
        stop = e.stop_s if e.stop_s is not None else (ordered[i + 1].start_s if i + 1 < len(ordered) else end)
        if e.start_s < start_s - slack or e.start_s >= end:
            raise ValueError(f"{label}: epoch at {e.start_s:g} s ({e.source}) starts outside the recording "
                             f"({start_s:g} to {end:g} s); expected a start within it")  # fmt: skip
        if stop > end + slack:
            raise ValueError(f"{label}: epoch {e.start_s:g} to {stop:g} s ({e.source}) ends after the recording "
                             f"(which ends at {end:g} s); expected a stop within it")  # fmt: skip
        if stop <= e.start_s:
            raise ValueError(f"{label}: epoch at {e.start_s:g} s ({e.source}) stops at {stop:g} s; expected a stop "
                             "after its start")  # fmt: skip
        if i + 1 < len(ordered) and stop > ordered[i + 1].start_s + 1e-9:
            raise ValueError(f"{label}: overlapping epochs: {e.start_s:g} to {stop:g} s ({e.source}) and the one "
                             f"starting at {ordered[i + 1].start_s:g} s ({ordered[i + 1].source}); expected epochs "
                             "that do not overlap")  # fmt: skip
        if "K_o_mM" not in e.solution.values:
            raise ValueError(f"{label}: epoch at {e.start_s:g} s ({e.source}) has no K_o_mM; expected a K+ "
                             "concentration (a K_o_mM value, a solution of the study, or a tag such as 'K 20')")  # fmt: skip
        out.append(Epoch(e.start_s, min(stop, end), e.solution, e.cell, e.source))
    return out
