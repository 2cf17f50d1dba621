"""Load recordings of V_m (mV) versus extracellular K+ (mM) from CSV files or DataFrames.

:func:`load_recordings` reads a comma-separated file (or a DataFrame), maps its
column names onto the canonical names in :data:`CANONICAL`, checks every value
and its unit, and returns :class:`Recordings`. Every problem is a one-line
:class:`DataError` naming the file and, where it applies, the spreadsheet row
(header = row 1) and the column. The input is only read, never modified.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


class DataError(ValueError):
    """A problem with recordings: one line, ``<file>: row <r>, column <c>: <what>; expected <what>``."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.splitlines()))


CANONICAL = ("K_o_mM", "V_m_mV", "Na_o_mM", "Cl_o_mM", "K_i_mM", "Na_i_mM", "Cl_i_mM", "Ca_o_mM",
             "temperature_C", "cell", "condition", "sem_mV", "sd_mV", "n")
"""Canonical column names of :attr:`Recordings.table`, in table order."""

REQUIRED = ("K_o_mM", "V_m_mV")
_TEXT = ("cell", "condition")
_CONCENTRATIONS = tuple(name for name in CANONICAL if name.endswith("_mM"))
_ERROR_KINDS = ("sem", "sd")

_ION_WORDS = {"K": ("k", "potassium"), "Na": ("na", "sodium"), "Cl": ("cl", "chloride"), "Ca": ("ca", "calcium")}
_SIDE_WORDS = {  # side -> (suffix words, prefix words)
    "o": (("o", "out", "ext", "external", "extracellular", "bath"), ("external", "extracellular")),
    "i": (("i", "in", "int", "internal", "intracellular"), ("internal", "intracellular")),
}


def _ion_synonyms(canonical: str) -> tuple[str, ...]:
    """Normalised spellings of an ion concentration column such as ``K_o_mM``."""
    ion, side, _ = canonical.split("_")
    suffixes, prefixes = _SIDE_WORDS[side]
    words = _ION_WORDS[ion]
    return tuple(w + s for w in words for s in suffixes) + tuple(p + w for w in words for p in prefixes)


_SYNONYMS: dict[str, tuple[str, ...]] = {
    **{name: _ion_synonyms(name) for name in _CONCENTRATIONS},
    "V_m_mV": ("vm", "v", "vmem", "vmembrane", "em", "vrest", "rmp", "membranepotential", "restingpotential",
               "restingmembranepotential"),
    "temperature_C": ("temperature", "temp", "t"),
    "cell": ("cell", "cellid", "fibre", "fiber", "fibreid", "fiberid", "cellorfibreid", "cellorfiberid",
             "recording", "recordingid", "neuron", "neuronid"),
    "condition": ("condition", "cond", "solution", "saline", "group", "treatment"),
    "sem_mV": ("sem", "se", "stderr", "standarderror"),
    "sd_mV": ("sd", "std", "stdev", "stddev", "standarddeviation"),
    "n": ("n", "ncells", "nfibres", "nfibers", "nrecordings", "count"),
}
_UNIT_TOKENS: dict[str, tuple[str, ...]] = {  # unit words allowed after a separator, e.g. "Ko_mM"
    **{name: ("mm", "mmol", "mmoll", "m", "mol") for name in _CONCENTRATIONS},
    "V_m_mV": ("mv", "v"),
    "temperature_C": ("c", "degc", "k"),
    "sem_mV": ("mv", "v"),
    "sd_mV": ("mv", "v"),
}
_LOOKUP = {key: name for name, keys in _SYNONYMS.items() for key in keys}
_ERROR_LIKE = ("err", "error", "errorbar", "errbar", "uncertainty", "sdorsem", "semorsd")
_UNITS = {**{name: "mM" for name in _CONCENTRATIONS}, "V_m_mV": "mV", "temperature_C": "degrees C",
          "sem_mV": "mV", "sd_mV": "mV", "n": "count"}
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_UNIT_SUFFIX = re.compile(r"\s*[(\[][^()\[\]]*[)\]]\s*$")
_SEPARATORS = re.compile(r"[\s_\-.]+")
_V_RANGE_MV = (-200.0, 100.0)
_T_RANGE_C = (-5.0, 50.0)
_KELVIN_LIKE = (250.0, 350.0)


@dataclass(frozen=True, eq=False)
class Recordings:
    """Checked recordings: a canonical table plus where it came from and what was assumed."""

    table: pd.DataFrame
    source: str
    sha256: str
    mapping: dict[str, str]
    extra_columns: tuple[str, ...]
    extras: pd.DataFrame
    notes: tuple[str, ...]

    def describe(self) -> str:
        """A multi-line summary: rows, cells, conditions, K_o levels (mM), column mapping, notes."""
        t = self.table
        lines = [f"{self.source} (sha256 {self.sha256[:12]}): {len(t)} rows"]
        lines.append(f"cells: {t['cell'].nunique()}" if "cell" in t else "cells: not given")
        levels = ", ".join(f"{k:g}" for k in sorted(t["K_o_mM"].unique()))
        lines.append(f"K_o levels (mM): {levels}")
        if "condition" in t:
            groups = t.groupby(["condition", "K_o_mM"], sort=True).size()
            lines.append(f"conditions: {t['condition'].nunique()} ({len(groups)} condition x K_o groups)")
            lines.extend(f"  {c} at K_o {k:g} mM: {n} rows" for (c, k), n in groups.items())
        else:
            lines.append("conditions: not given")
        lines.append("columns: " + ", ".join(f"{c} <- {o!r}" for c, o in self.mapping.items()))
        if self.extra_columns:
            lines.append("extra columns: " + ", ".join(repr(c) for c in self.extra_columns))
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)


def load_recordings(
    source: str | os.PathLike | pd.DataFrame,
    *,
    error_column: str | None = None,
    error_kind: str | None = None,
) -> Recordings:
    """Read and check recordings of V_m (mV) versus K_o (mM), or raise :class:`DataError`.

    ``source`` is a path to a UTF-8 comma-separated file with a header row, or a
    DataFrame (read through its CSV serialisation, row numbers counted from 2).
    ``error_column`` names a column whose kind the file leaves open; it is read as
    ``sem_mV`` or ``sd_mV`` according to ``error_kind`` ("sem" or "sd"), and the
    choice is recorded in ``notes`` as the caller's assumption.
    """
    label, raw, text = _read(source)
    header, rows, notes = _parse_csv(label, text)
    return _checked(label, hashlib.sha256(raw).hexdigest(), header, rows, notes, error_column, error_kind)


def split_recordings(
    source: str | os.PathLike | pd.DataFrame,
    by: str,
    *,
    error_column: str | None = None,
    error_kind: str | None = None,
) -> dict[str, Recordings | DataError]:
    """One :class:`Recordings` per value of column ``by`` (matched case-insensitively).

    Each recording is checked on its own: one with bad values comes back as its
    :class:`DataError` (naming the file, row and column) and leaves the others intact.
    A file that is not a readable table, or lacks ``by`` or a required column, raises.
    Each recording's ``sha256`` is that of the header and its own rows.
    """
    label, _, text = _read(source)
    header, rows, notes = _parse_csv(label, text)
    _map_columns(label, header, error_column, error_kind)  # file-level column problems raise here, once
    at = [i for i, name in enumerate(header) if name.strip().lower() == by.strip().lower()]
    if not at:
        raise DataError(f"--by: {label} has no column {by!r}; columns: {', '.join(header)}")
    groups: dict[str, list[tuple[int, list[str]]]] = {}
    for number, record in rows:
        groups.setdefault(record[at[0]].strip(), []).append((number, record))
    out: dict[str, Recordings | DataError] = {}
    for name, group in groups.items():
        numbers = ", ".join(str(n) for n, _ in group[:5]) + (" ..." if len(group) > 5 else "")
        if not name:
            out[name] = DataError(f"{label}: rows {numbers}: column {header[at[0]]!r} is empty; expected a recording id")
            continue
        lines = "\n".join(",".join(record) for record in [header, *(r for _, r in group)])
        try:
            out[name] = _checked(f"{label} [{header[at[0]]} = {name}]", hashlib.sha256(lines.encode()).hexdigest(),
                                 header, group, list(notes), error_column, error_kind)  # fmt: skip
        except DataError as err:
            out[name] = err
    return out


def _checked(
    label: str,
    sha256: str,
    header: list[str],
    rows: list[tuple[int, list[str]]],
    notes: list[str],
    error_column: str | None,
    error_kind: str | None,
) -> Recordings:
    """Recordings from parsed rows: columns mapped, values read and checked."""
    mapping, extra_columns, map_notes = _map_columns(label, header, error_column, error_kind)
    columns = {name: [row[i] for _, row in rows] for i, name in enumerate(header)}
    row_numbers = [r for r, _ in rows]
    index = pd.Index(row_numbers, dtype="int64", name="row")
    data: dict[str, pd.Series] = {}
    for canonical in CANONICAL:
        if canonical not in mapping:
            continue
        original = mapping[canonical]
        series = _read_column(label, original, canonical, columns[original], row_numbers, index)
        if series is None:
            notes.append(f"column {original!r} ({canonical}) is empty and was dropped")
        else:
            data[canonical] = series
    mapping = {c: o for c, o in mapping.items() if c in data}
    extras = pd.DataFrame({c: pd.Series(columns[c], index=index, dtype=str) for c in extra_columns}, index=index)
    return Recordings(
        table=pd.DataFrame(data, index=index),
        source=label,
        sha256=sha256,
        mapping=mapping,
        extra_columns=extra_columns,
        extras=extras,
        notes=tuple(map_notes + notes),
    )


def _read(source: str | os.PathLike | pd.DataFrame) -> tuple[str, bytes, str]:
    """(label for messages, raw bytes, decoded text) of a file or a DataFrame."""
    if isinstance(source, pd.DataFrame):
        label = "<DataFrame>"
        raw = source.to_csv(index=False, lineterminator="\n").encode("utf-8")
    else:
        label = os.fspath(source)
        raw = _read_bytes(label)
    return label, raw, _decode(label, raw)


def _read_bytes(path: str) -> bytes:
    """The bytes of the file at ``path``; missing, directory or unreadable -> DataError."""
    if not os.path.exists(path):
        raise DataError(f"{path}: file not found; expected a CSV file of recordings")
    if os.path.isdir(path):
        raise DataError(f"{path}: is a directory; expected a CSV file of recordings")
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror}); expected a readable CSV file") from None


def _decode(label: str, raw: bytes) -> str:
    """UTF-8 text (a BOM is allowed) or a DataError saying what the bytes look like."""
    if not raw.strip():
        raise DataError(f"{label}: file is empty; expected a header row and at least one data row")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"{label}: UTF-16 text; expected UTF-8 comma-separated values (re-save as UTF-8 CSV)")
    if raw.startswith(b"PK\x03\x04"):
        raise DataError(f"{label}: a zip archive or Excel workbook, not text; expected CSV (export the sheet as CSV)")
    if b"\x00" in raw:
        offset = raw.index(b"\x00")
        raise DataError(f"{label}: binary file (NUL byte at offset {offset}); expected UTF-8 CSV text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{label}: not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); "
                        "expected UTF-8 comma-separated values (re-save as UTF-8 CSV)") from None
    if not text.strip():
        raise DataError(f"{label}: file is empty; expected a header row and at least one data row")
    _refuse_other_formats(label, text)
    return text


def _refuse_other_formats(label: str, text: str) -> None:
    """DataError for text that is JSON, HTML or XML rather than CSV."""
    head = text.lstrip()
    if head.startswith("<"):
        kind = "XML" if head.startswith("<?xml") else "HTML/XML markup"
        raise DataError(f"{label}: looks like {kind}, not CSV; expected comma-separated values with a header row")
    if head.startswith(("{", "[")):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict | list) or head.startswith("{"):
            raise DataError(f"{label}: looks like JSON, not CSV; expected comma-separated values with a header row")


# --- CSV structure -------------------------------------------------------------------------------


def _parse_csv(label: str, text: str) -> tuple[list[str], list[tuple[int, list[str]]], list[str]]:
    """Header, (row number, fields) of every non-blank data row, and notes; structural errors raise."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[list[str]] = []
    try:
        records.extend(reader)
    except csv.Error as exc:
        raise DataError(f"{label}: row {len(records) + 1}: malformed quoting ({exc}); "
                        "expected values quoted as \"...\" with inner quotes doubled") from None
    header = records[0]
    if not header or all(not h.strip() for h in header):
        raise DataError(f"{label}: row 1: the header row is empty; expected column names in the first row")
    _check_delimiter(label, header)
    _check_header(label, header)
    rows, blank = [], 0
    for number, record in enumerate(records[1:], start=2):
        if all(not field.strip() for field in record):
            blank += 1
            continue
        if len(record) != len(header):
            raise DataError(f"{label}: row {number}: {len(record)} fields but the header has {len(header)}; "
                            "expected one value per column (quote values that contain commas)")
        rows.append((number, record))
    if not rows:
        raise DataError(f"{label}: no data rows; expected at least one row of values below the header")
    notes = [f"{blank} blank row{'s' if blank > 1 else ''} skipped"] if blank else []
    return header, rows, notes


def _check_delimiter(label: str, header: list[str]) -> None:
    """DataError if the header is one field that another delimiter would split."""
    if len(header) == 1:
        for delimiter, shown in ((";", "';'"), ("\t", "tab"), ("|", "'|'")):
            if delimiter in header[0]:
                raise DataError(f"{label}: row 1: use comma-separated values; found {shown} between the "
                                "column names; expected ',' between columns (export as CSV with commas)")


def _check_header(label: str, header: list[str]) -> None:
    """DataError for an empty or duplicated column name."""
    seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        if not name.strip():
            raise DataError(f"{label}: row 1, column {position}: empty column name; "
                            "expected a name for every column (an index column? save without it)")
        if name in seen:
            raise DataError(f"{label}: row 1: duplicate column name {name!r} (columns {seen[name]} and {position}); "
                            "expected unique column names")
        seen[name] = position


# --- column names --------------------------------------------------------------------------------


def _canonical(name: str) -> str | None:
    """The canonical name for a column called ``name``, or None if it is unknown.

    Case, spaces, dashes, dots, underscores, '+' and '[ ]' are ignored, as is a
    trailing unit in brackets or parentheses ("Vm (mV)") or after a separator
    ("Ko_mM").
    """
    stripped = _UNIT_SUFFIX.sub("", name) or name
    tokens = [t for t in _SEPARATORS.split(stripped.lower().replace("+", "").replace("[", "").replace("]", "")) if t]
    key = "".join(tokens)
    if key in _LOOKUP:
        return _LOOKUP[key]
    if len(tokens) > 1:
        found = _LOOKUP.get("".join(tokens[:-1]))
        if found is not None and tokens[-1] in _UNIT_TOKENS.get(found, ()):
            return found
    return None


def _looks_like_error_bar(name: str) -> bool:
    """Whether an unknown column name suggests an error bar of unstated kind (err, error, ...)."""
    tokens = [t for t in _SEPARATORS.split(_UNIT_SUFFIX.sub("", name).lower()) if t]
    if tokens and tokens[-1] in ("mv", "v"):
        tokens = tokens[:-1]
    return "".join(tokens) in _ERROR_LIKE


def _map_columns(
    label: str, header: list[str], error_column: str | None, error_kind: str | None
) -> tuple[dict[str, str], tuple[str, ...], list[str]]:
    """Canonical -> original mapping, unknown columns, and notes; conflicts and gaps raise."""
    mapping: dict[str, str] = {}
    notes: list[str] = []
    assigned = _error_column(label, header, error_column, error_kind)
    extras: list[str] = []
    for name in header:
        canonical = assigned if assigned and name == error_column else _canonical(name)
        if canonical is None:
            extras.append(name)
            continue
        if canonical in mapping:
            raise DataError(f"{label}: row 1: columns {mapping[canonical]!r} and {name!r} both read as {canonical}; "
                            "expected one column per quantity (rename or remove one)")
        mapping[canonical] = name
        if name == error_column:
            notes.append(f"ASSUMPTION: column {name!r} read as {canonical} because the caller passed "
                         f"error_kind={error_kind!r}; the loader cannot tell SD from SEM")
        elif name != canonical:
            notes.append(f"column {name!r} read as {canonical}")
    missing = [c for c in REQUIRED if c not in mapping]
    if missing:
        examples = {"K_o_mM": "Ko, K_o, K_out, [K]o or K_o_mM", "V_m_mV": "Vm, V_m, Vrest, RMP or V_m_mV"}
        found = ", ".join(repr(h) for h in header)
        raise DataError(f"{label}: missing required column {' and '.join(missing)} (found columns: {found}); "
                        f"expected a column named e.g. {'; '.join(examples[m] for m in missing)}")
    if extras:
        notes.append(f"{len(extras)} unknown column{'s' if len(extras) > 1 else ''} kept: {', '.join(extras)}")
    notes.extend(f"column {name!r} may be an error bar of unstated kind; pass error_column={name!r} with "
                 "error_kind='sem' or 'sd' to use it" for name in extras if _looks_like_error_bar(name))
    ordered = {c: mapping[c] for c in CANONICAL if c in mapping}
    return ordered, tuple(extras), notes


def _error_column(label: str, header: list[str], column: str | None, kind: str | None) -> str | None:
    """The canonical name the caller's ``error_column`` is read as (None if not given)."""
    if column is None and kind is None:
        return None
    if column is None or kind is None:
        raise DataError(f"{label}: error_column and error_kind go together; expected both or neither")
    if kind not in _ERROR_KINDS:
        raise DataError(f"{label}: error_kind {kind!r} is not known; expected 'sem' or 'sd'")
    if column not in header:
        found = ", ".join(repr(h) for h in header)
        raise DataError(f"{label}: error_column {column!r} is not a column (found columns: {found}); "
                        "expected one of the file's column names")
    return f"{kind}_mV"


# --- values --------------------------------------------------------------------------------------


def _read_column(
    label: str, original: str, canonical: str, cells: list[str], rows: Sequence[int], index: pd.Index
) -> pd.Series | None:
    """The checked values of one mapped column, or None when an optional column is entirely empty."""
    cells = [c.strip() for c in cells]
    empty = [r for r, c in zip(rows, cells, strict=True) if not c]
    if len(empty) == len(cells) and canonical not in REQUIRED:
        return None
    if empty:
        expected = f"a value in every row (required column {canonical})" if canonical in REQUIRED else (
            f"a value in every row, or the whole column {canonical} left empty")
        raise DataError(f"{label}: row {empty[0]}, column {original!r}: empty cell; expected {expected}")
    if canonical in _TEXT:
        return pd.Series(cells, index=index, dtype=str)
    values = np.array([_number(label, original, canonical, c, r) for c, r in zip(cells, rows, strict=True)])
    _check_values(label, original, canonical, values, rows)
    return pd.Series(values, index=index, dtype="float64")


def _number(label: str, column: str, canonical: str, cell: str, row: int) -> float:
    """A finite decimal number parsed from ``cell``, or DataError naming row and column."""
    if _NUMBER.fullmatch(cell):
        return float(cell)
    hint = " (Unicode minus sign: use '-')" if "\u2212" in cell else ""
    raise DataError(f"{label}: row {row}, column {column!r}: {cell!r} is not a number{hint}; "
                    f"expected a finite number ({_UNITS[canonical]})")


_Fail = Callable[[int, str, str], DataError]
"""Builds the DataError for (position in the column, what is wrong, what was expected)."""


def _check_values(label: str, column: str, canonical: str, values: np.ndarray, rows: Sequence[int]) -> None:
    """Unit and plausibility checks for one numeric column; the first failure raises."""
    def fail(i: int, what: str, expected: str) -> DataError:
        return DataError(f"{label}: row {rows[i]}, column {column!r}: {what}; expected {expected}")

    if canonical == "V_m_mV":
        _check_voltage(label, column, values, fail)
    elif canonical in _CONCENTRATIONS:
        _check_concentration(label, column, canonical, values, fail)
    elif canonical == "temperature_C":
        _check_temperature(values, fail)
    elif canonical in ("sem_mV", "sd_mV"):
        bad = np.flatnonzero(values < 0)
        if bad.size:
            raise fail(bad[0], f"{values[bad[0]]:g} mV is negative", f"{canonical} >= 0 mV")
    elif canonical == "n":
        bad = np.flatnonzero((values < 1) | (values != np.round(values)))
        if bad.size:
            raise fail(bad[0], f"{values[bad[0]]:g} is not a positive integer", "n as a whole number >= 1")


def _check_voltage(label: str, column: str, values: np.ndarray, fail: _Fail) -> None:
    """V_m in mV: refuse volts and values outside -200..+100 mV."""
    if np.all(np.abs(values) < 0.2) and np.any(values != 0):
        raise DataError(f"{label}: column {column!r}: every V_m is within +-0.2 (from {values.min():g} to "
                        f"{values.max():g}); expected mV: looks like volts: multiply by 1000")
    low, high = _V_RANGE_MV
    bad = np.flatnonzero((values < low) | (values > high))
    if bad.size:
        raise fail(bad[0], f"V_m {values[bad[0]]:g} mV is outside {low:g}..{high:+g} mV",
                   "V_m in mV, inside minus outside")


def _check_concentration(label: str, column: str, canonical: str, values: np.ndarray, fail: _Fail) -> None:
    """Concentrations in mM: positive, and K_o not in molar."""
    bad = np.flatnonzero(values <= 0)
    if bad.size:
        ion = canonical.split("_")[0]
        advice = "" if canonical in REQUIRED else (
            f" (give a {ion}-free solution as a small positive residual such as 0.1 mM and say so, "
            f"or leave the column out and state {canonical} in the study's assumptions)")
        raise fail(bad[0], f"{values[bad[0]]:g} mM is not a positive concentration", f"{canonical} > 0 mM{advice}")
    if canonical == "K_o_mM" and values.max() < 0.2:
        raise DataError(f"{label}: column {column!r}: every K_o is below 0.2 (largest {values.max():g}); "
                        "expected mM: looks like molar: multiply by 1000")


def _check_temperature(values: np.ndarray, fail: _Fail) -> None:
    """Temperature in degrees C within -5..50, with a hint for kelvin."""
    low, high = _T_RANGE_C
    bad = np.flatnonzero((values < low) | (values > high))
    if bad.size:
        t = values[bad[0]]
        hint = " (looks like kelvin: subtract 273.15)" if _KELVIN_LIKE[0] <= t <= _KELVIN_LIKE[1] else ""
        raise fail(bad[0], f"{t:g} is outside {low:g}..{high:g} degrees C", f"degrees C{hint}")
