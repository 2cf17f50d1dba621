"""Load recordings of V_m (mV) versus extracellular K+ (mM) from CSV files or DataFrames.

:func:`load_recordings` reads a comma-separated file (or a DataFrame), maps its
column names onto the canonical names in :data:`CANONICAL` (or as the caller's
``columns`` says), reads the unit of each column from its header (``K_o (uM)``,
``V_m (V)``, ...), converts it to mM / mV, checks every value against physiological
limits, and returns :class:`Recordings`. Every problem is a one-line
:class:`DataError` naming the file and, where it applies, the row and the column.

Rows are counted as a person counts the lines of the file: the first line of the
file is row 1 (so with nothing above it the header is row 1 and the first data row
is row 2; ``#`` comment lines above the header keep their numbers too). A row is
named by the line it starts on. The input is only read, never modified.
:func:`check_fittable` refuses a data set too small to fit.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd


class DataError(ValueError):
    """A problem with recordings: one line, ``<file>: row <r>, column <c>: <what>; expected <what>``."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.splitlines()))


MAX_FILE_BYTES = 200 * 1024 * 1024
"""Largest file :func:`load_recordings` reads: 200 MiB, checked before reading.

A table of V_m against K_o is a few kB; even a batch of a hundred thousand
recordings with long notes stays below 100 MB. A bigger file is almost surely not
a table of recordings (a raw trace, an archive, a disk image) and would be read
whole into memory (the loader hashes and parses the whole file), so it is refused
with a one-line error instead.
"""

CANONICAL = ("K_o_mM", "V_m_mV", "Na_o_mM", "Cl_o_mM", "K_i_mM", "Na_i_mM", "Cl_i_mM", "Ca_o_mM",
             "temperature_C", "cell", "condition", "sem_mV", "sd_mV", "n", "order")
"""Canonical column names of :attr:`Recordings.table`, in table order."""

REQUIRED = ("K_o_mM", "V_m_mV")
_TEXT = ("cell", "condition")
_CONCENTRATIONS = tuple(name for name in CANONICAL if name.endswith("_mM"))
_VOLTAGES = ("V_m_mV", "sem_mV", "sd_mV")
_ERROR_KINDS = ("sem", "sd")

_ION_WORDS = {"K": ("k", "potassium"), "Na": ("na", "sodium"), "Cl": ("cl", "chloride"), "Ca": ("ca", "calcium")}
_SIDE_WORDS = {  # side -> (suffix words, prefix words)
    "o": (("o", "out", "ext", "external", "extracellular", "bath"), ("external", "extracellular", "bath")),
    "i": (("i", "in", "int", "internal", "intracellular"), ("internal", "intracellular")),
}
_BARE_ION = {"K_o_mM"}
"""Concentrations that a bare ion name means ("K (mM)", "[K+]", "potassium"): the ion varied in
these recordings is extracellular K+; a bare Na, Cl or Ca stays ambiguous (bath or pipette?)."""
_CONC_WORDS = ("", "conc", "concentration")
_BARE_WORDS = frozenset(w for name in _BARE_ION for w in _ION_WORDS[name.split("_")[0]])


def _ion_synonyms(canonical: str) -> tuple[str, ...]:
    """Normalised spellings of an ion concentration column such as ``K_o_mM``."""
    ion, side, _ = canonical.split("_")
    suffixes, prefixes = _SIDE_WORDS[side]
    words = _ION_WORDS[ion]
    names = [w + s for w in words for s in suffixes] + [p + w for w in words for p in prefixes]
    if canonical in _BARE_ION:
        names += words
    return tuple(n + c for n in names for c in _CONC_WORDS)


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
    "order": ("order", "sequence", "seq", "step", "time", "timemin", "times", "clock"),
}
_LOOKUP = {key: name for name, keys in _SYNONYMS.items() for key in keys}
_ERROR_LIKE = ("err", "error", "errorbar", "errbar", "uncertainty", "sdorsem", "semorsd")
_UNITS = {**{name: "mM" for name in _CONCENTRATIONS}, "V_m_mV": "mV", "temperature_C": "degrees C",
          "sem_mV": "mV", "sd_mV": "mV", "n": "count", "order": "an order or a time"}
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_UNIT_SUFFIX = re.compile(r"\s*[(\[][^()\[\]]*[)\]]\s*$")
_SEPARATORS = re.compile(r"[\s_\-.]+")
_V_RANGE_MV = (-200.0, 100.0)
"""Plausible V_m: no resting potential lies beyond E_K (about -190 mV even at 0.1 mM K_o, 37 C), and
none far above the most positive reversal potential (E_Na or E_Ca, below +100 mV in physiological salines)."""
_CONC_MAX_MM = 1000.0
"""Largest plausible concentration: 1 M, well above any physiological saline or cytoplasm (< 600 mM)."""
_T_RANGE_C = (-5.0, 50.0)
_KELVIN_LIKE = (250.0, 350.0)
_ERROR_MAX_MV = 100.0
"""Largest plausible SEM or SD of V_m: a third of the whole plausible V_m range."""
_N_MAX = 1_000_000
_VOLT_LIKE_BELOW = 0.5
"""A V_m magnitude below this in a column read as mV looks like volts."""
_TENS_OF_MV = 5.0
"""Median |V_m| (mV) of the other rows above which a volt-like row is refused as a mixed unit."""


# --- units ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Unit:
    """A column's unit as read from its header: values * multiply / divide are in the canonical unit."""

    shown: str
    multiply: float = 1.0
    divide: float = 1.0
    kelvin: bool = False

    @property
    def converts(self) -> bool:
        return self.multiply != 1.0 or self.divide != 1.0

    def apply(self, values: np.ndarray) -> np.ndarray:
        out = values
        with np.errstate(over="ignore"):  # an overflow to inf is then refused by the range checks
            if self.multiply != 1.0:
                out = out * self.multiply
            if self.divide != 1.0:
                out = out / self.divide
        return out

    def describe(self, canonical_unit: str) -> str:
        how = f"x {self.multiply:g}" if self.multiply != 1.0 else f"/ {self.divide:g}"
        return f"converted from {self.shown} to {canonical_unit} (values {how})"


_MOLAR = _Unit("M")
"""Refused: see :func:`_unit_for`."""


def _concentration_units() -> dict[str, _Unit]:
    out: dict[str, _Unit] = {}
    for prefix, word, unit in (("m", "milli", _Unit("mM")), ("u", "micro", _Unit("uM", divide=1e3)),
                               ("n", "nano", _Unit("nM", divide=1e6)), ("", "", _MOLAR)):  # fmt: skip
        for form in ("m", "mol", "mol/l", "moll-1", "moll", "mol/liter", "mol/litre", "mol/dm3", "moldm-3"):
            out[prefix + form] = unit
        out[word + "molar"] = unit
    return out


_UNIT_TABLES: dict[str, dict[str, _Unit]] = {
    "concentration": _concentration_units(),
    "voltage": {"mv": _Unit("mV"), "millivolt": _Unit("mV"), "millivolts": _Unit("mV"),
                "v": _Unit("V", multiply=1e3), "volt": _Unit("V", multiply=1e3), "volts": _Unit("V", multiply=1e3)},
    "temperature": {"c": _Unit("C"), "degc": _Unit("C"), "degreesc": _Unit("C"), "celsius": _Unit("C"),
                    "k": _Unit("K", kelvin=True), "kelvin": _Unit("K", kelvin=True)},
}
_UNIT_CHOICES = {"concentration": "mM, uM (or µM) or nM", "voltage": "mV or V", "temperature": "C (degrees Celsius)"}


def _unit_kind(canonical: str) -> str | None:
    if canonical in _CONCENTRATIONS:
        return "concentration"
    if canonical in _VOLTAGES:
        return "voltage"
    if canonical == "temperature_C":
        return "temperature"
    return None  # text columns and n: a bracket after the name is a remark, not a unit


def _unit_key(text: str) -> str:
    """A unit written in a header, normalised: lower case, no spaces, µ/μ as u, no degree sign or dots."""
    key = text.strip().replace("\u00b5", "u").replace("\u03bc", "u").replace("\u00b0", "").lower()
    key = re.sub(r"[\s.\u00b7*]+", "", key).replace("^", "").replace("\u207b\u00b9", "-1")
    return key


def _is_unit_token(canonical: str, token: str) -> bool:
    kind = _unit_kind(canonical)
    return kind is not None and _unit_key(token) in _UNIT_TABLES[kind]


# --- the result ----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Recordings:
    """Checked recordings: a canonical table plus where it came from and what was assumed.

    ``mapping`` is canonical name -> the file's header; ``conversions`` is canonical name ->
    how its values were converted to the canonical unit (e.g. ``"converted from uM to mM
    (values / 1000)"``), for the columns that were converted.
    """

    table: pd.DataFrame
    source: str
    sha256: str
    mapping: dict[str, str]
    extra_columns: tuple[str, ...]
    extras: pd.DataFrame
    notes: tuple[str, ...]
    conversions: dict[str, str] = field(default_factory=dict)

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
        lines.append("columns: " + ", ".join(
            f"{c} <- {o!r}" + (f" ({self.conversions[c]})" if c in self.conversions else "")
            for c, o in self.mapping.items()))
        if self.extra_columns:
            lines.append("extra columns: " + ", ".join(repr(c) for c in self.extra_columns))
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)


def load_recordings(
    source: str | os.PathLike | pd.DataFrame,
    *,
    error_column: str | None = None,
    error_kind: str | None = None,
    columns: Mapping[str, str] | None = None,
) -> Recordings:
    """Read and check recordings of V_m (mV) versus K_o (mM), or raise :class:`DataError`.

    ``source`` is a path to a UTF-8 comma-separated file with a header row, or a
    DataFrame (read through its CSV serialisation, row numbers counted from 2).
    Blank lines and ``#`` comment lines above the header are skipped (and noted); a
    trailing comma on every line (an unnamed, empty last column, as Excel writes) is
    dropped (and noted). A file must be a regular file of at most :data:`MAX_FILE_BYTES`.

    ``error_column`` names a column whose kind the file leaves open; it is read as
    ``sem_mV`` or ``sd_mV`` according to ``error_kind`` ("sem" or "sd"), and the
    choice is recorded in ``notes`` as the caller's assumption.

    ``columns`` maps canonical names (:data:`CANONICAL`, e.g. ``"K_o_mM"``) to the file's
    header text (e.g. ``"K+ (mM)"``), for headers the loader does not recognise or to
    choose between candidates; the other columns are still recognised by name. A header
    recognised as a canonical name that ``columns`` gives to another header is kept as an
    extra column (noted).

    Units in a header, ``(mM)``, ``(uM)``/``(µM)``/``[uM]``, ``(nM)``, ``(mV)``, ``(V)`` (or
    after a separator, ``Ko_uM``), are converted to mM / mV and the conversion is
    recorded in ``conversions`` and ``notes``. Molar ``(M)`` is refused rather than
    converted: a ``(M)`` written for ``(mM)`` would make a 0.1-0.9 mM column look like
    100-900 mM, inside every plausibility limit. A header without a unit is read in the
    canonical unit and its values checked for the signs of another unit (volts, molar).
    """
    label, raw, text = _read(source)
    parsed = _parse_csv(label, text)
    return _checked(label, hashlib.sha256(raw).hexdigest(), parsed, list(parsed.notes), error_column, error_kind,
                    columns)  # fmt: skip


def split_recordings(
    source: str | os.PathLike | pd.DataFrame,
    by: str,
    *,
    error_column: str | None = None,
    error_kind: str | None = None,
    columns: Mapping[str, str] | None = None,
) -> dict[str, Recordings | DataError]:
    """One :class:`Recordings` per value of column ``by``.

    ``by`` is a header of the file (matched case-insensitively, e.g. ``"Cell ID"``) or the
    canonical name that header is read as (``"cell"``), or a spelling that would be read
    as it (``"fibre"``). Options as in :func:`load_recordings`.

    Each recording is checked on its own: one with bad values comes back as its
    :class:`DataError`, naming the file, the recording and every refused row (and why),
    and leaves the others intact. A file that is not a readable table, or lacks ``by`` or
    a required column, raises. Each recording's ``sha256`` is that of the header and its
    own rows.
    """
    label, _, text = _read(source)
    parsed = _parse_csv(label, text)
    header = parsed.header
    mapping, _, _, _ = _map_columns(label, parsed, error_column, error_kind, columns)  # file-level problems raise
    at = _by_column(label, header, mapping, by)
    groups: dict[str, list[tuple[int, list[str]]]] = {}
    for number, record in parsed.rows:
        groups.setdefault(record[at].strip(), []).append((number, record))
    try:  # the usual case, a clean file: checked once, then split (fast for many recordings)
        whole = _checked(label, "", parsed, list(parsed.notes), error_column, error_kind, columns)
    except DataError:
        whole = None  # each recording is checked on its own, so the bad ones are named and the others kept
    if whole is not None:  # rows sorted by recording once, each recording a contiguous slice (cheap views)
        owner = pd.Series({number: record[at].strip() for number, record in parsed.rows})[whole.table.index].to_numpy()
        order = np.argsort(owner, kind="stable")
        table, extras = whole.table.iloc[order], whole.extras.iloc[order]
        names, starts = np.unique(owner[order], return_index=True)
        rows_of = {n: slice(a, b) for n, a, b in zip(names, starts, [*starts[1:], owner.size], strict=True)}
    out: dict[str, Recordings | DataError] = {}
    for name, group in groups.items():
        where = f"{label} [{header[at]} = {name}]"
        if not name:
            numbers = _row_list([n for n, _ in group])
            out[name] = DataError(f"{label}: {numbers}, column {header[at]!r}: empty; expected a recording id")
            continue
        sha256 = hashlib.sha256("\n".join(",".join(record) for record in [header, *(r for _, r in group)]).encode())
        if whole is not None:
            if name not in rows_of:
                out[name] = DataError(f"{where}: every row is marked excluded")
                continue
            take = rows_of[name]
            out[name] = replace(whole, table=table.iloc[take], extras=extras.iloc[take], source=where,
                                sha256=sha256.hexdigest())  # fmt: skip
            continue
        part = _Parsed(header, group, parsed.notes, parsed.header_row)
        try:
            out[name] = _checked(where, sha256.hexdigest(), part, list(parsed.notes), error_column, error_kind, columns)
        except DataError as err:
            out[name] = err
    return out


def _by_column(label: str, header: list[str], mapping: dict[str, str], by: object) -> int:
    """Position of the column ``by`` names: a header, or the canonical name a header is read as."""
    if not isinstance(by, str) or not by.strip():
        raise DataError(f"--by: {label}: {by!r} is not a column name; expected one of: {', '.join(header)}")
    wanted = by.strip().lower()
    for position, name in enumerate(header):
        if name.strip().lower() == wanted:
            return position
    canonical = next((c for c in CANONICAL if c.lower() == wanted), None) or _canonical(by)
    if canonical in mapping:
        return header.index(mapping[canonical])
    raise DataError(f"--by: {label} has no column {by!r}; columns: {', '.join(header)}")


def check_fittable(recordings: Recordings, n_parameters: int) -> None:
    """Refuse, with a one-line :class:`DataError` naming the file, recordings too small to fit.

    ``n_parameters`` is the number of fitted parameters of the model's mean curve (the
    residual sd, also fitted, is counted here, not by the caller). The rule is the least a
    fit can use, not what makes it well determined:

    1. At least ``n_parameters + 1`` rows with a finite V_m (and K_o): one observation per
       fitted quantity, the residual sd included. With fewer, the data cannot say anything
       about the scatter once the curve is placed (one row and NUTS fails outright).
    2. With two or more parameters, at least two distinct *design points*: rows that differ
       in K_o or in another per-row input (another concentration column, temperature, or the
       condition label, which may carry its own composition). However many rows share one
       design point, they determine one number, the mean V_m there, which cannot fix two
       parameters. One parameter can be fitted at a single design point.

    Weaker identifiability (say three parameters from two K_o levels) is left to the priors
    and to the fit's diagnostics.
    """
    source = getattr(recordings, "source", "<recordings>")
    if isinstance(n_parameters, bool) or not isinstance(n_parameters, int | np.integer) or n_parameters < 1:
        raise DataError(f"{source}: n_parameters {n_parameters!r} is not a count of fitted parameters; "
                        "expected a whole number >= 1")
    table = getattr(recordings, "table", None)
    if not isinstance(table, pd.DataFrame) or not set(REQUIRED) <= set(table.columns):
        raise DataError(f"{source}: not a table of recordings; expected Recordings from load_recordings")
    n_parameters = int(n_parameters)
    v_m = pd.to_numeric(table["V_m_mV"], errors="coerce").to_numpy(float)
    k_o = pd.to_numeric(table["K_o_mM"], errors="coerce").to_numpy(float)
    usable = np.isfinite(v_m) & np.isfinite(k_o)
    n_rows = int(usable.sum())
    column = recordings.mapping.get("V_m_mV", "V_m_mV") if isinstance(getattr(recordings, "mapping", None), dict) \
        else "V_m_mV"  # fmt: skip
    if n_rows < n_parameters + 1:
        raise DataError(f"{source}: column {column!r}: {n_rows} row{'s' if n_rows != 1 else ''} with a finite V_m, "
                        f"too few to fit {n_parameters} parameter{'s' if n_parameters > 1 else ''} and the residual "
                        f"sd; expected at least {n_parameters + 1} rows")
    if n_parameters >= 2:
        inputs = [c for c in CANONICAL if c in table.columns and c not in ("V_m_mV", "cell", "sem_mV", "sd_mV", "n", "order")]
        points = table.loc[usable, inputs].drop_duplicates()
        if len(points) < 2:
            at = ", ".join(f"{c} {v:g}" if isinstance(v, float) else f"{c} {v}" for c, v in points.iloc[0].items())
            raise DataError(f"{source}: all {n_rows} rows are at one design point ({at}), which determines only the "
                            f"mean V_m there; expected at least two K_o levels (or conditions or compositions) to fit "
                            f"{n_parameters} parameters")


@dataclass(frozen=True)
class _Parsed:
    """A parsed CSV: header, (row number, fields) of every non-blank data row, notes, header row number."""

    header: list[str]
    rows: list[tuple[int, list[str]]]
    notes: tuple[str, ...]
    header_row: int


def _checked(
    label: str,
    sha256: str,
    parsed: _Parsed,
    notes: list[str],
    error_column: str | None,
    error_kind: str | None,
    columns: Mapping[str, str] | None,
) -> Recordings:
    """Recordings from parsed rows: columns mapped, values read and checked (every failing column reported)."""
    header, rows = parsed.header, parsed.rows
    mapping, extra_columns, map_notes, units = _map_columns(label, parsed, error_column, error_kind, columns)
    cells = {name: [row[i] for _, row in rows] for i, name in enumerate(header)}
    row_numbers = [r for r, _ in rows]
    index = pd.Index(row_numbers, dtype="int64", name="row")
    data: dict[str, pd.Series] = {}
    errors: list[DataError] = []
    for canonical in CANONICAL:
        if canonical not in mapping:
            continue
        original = mapping[canonical]
        try:
            series = _read_column(label, original, canonical, cells[original], row_numbers, index, units[canonical])
        except DataError as err:
            errors.append(err)
            continue
        if series is None:
            notes.append(f"column {original!r} ({canonical}) is empty and was dropped")
        else:
            data[canonical] = series
    if errors:
        raise _combined(label, errors)
    mapping = {c: o for c, o in mapping.items() if c in data}
    conversions = {c: units[c].describe(_UNITS[c]) for c in mapping if units[c].converts}
    extras = pd.DataFrame({c: pd.Series(cells[c], index=index, dtype=str) for c in extra_columns}, index=index)
    table = pd.DataFrame(data, index=index)
    table, extras = _drop_excluded(table, extras, notes)
    return Recordings(
        table=table,
        source=label,
        sha256=sha256,
        mapping=mapping,
        extra_columns=extra_columns,
        extras=extras,
        notes=tuple(map_notes + notes),
        conversions=conversions,
    )


EXCLUDED_TRUE = ("true", "1", "yes")


def _drop_excluded(table: pd.DataFrame, extras: pd.DataFrame, notes: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Leave out rows whose ``excluded`` column is true (e.g. epochs ``vrest extract`` found unsettled), with a note
    naming them and their ``flags``."""
    column = next((c for c in extras.columns if c.strip().lower() == "excluded"), None)
    if column is None:
        return table, extras
    out = extras[column].str.strip().str.lower().isin(EXCLUDED_TRUE)
    if not out.any():
        return table, extras
    flags = next((c for c in extras.columns if c.strip().lower() == "flags"), None)
    why = "; ".join(f"row {r}" + (f" ({extras.at[r, flags]})" if flags else "") for r in extras.index[out])
    notes.append(f"{int(out.sum())} row(s) marked excluded were left out: {why}")
    return table[~out.to_numpy()], extras[~out.to_numpy()]


def _combined(label: str, errors: list[DataError], shown: int = 4) -> DataError:
    """One DataError from the errors of several columns: the first in full, the others after ' | '."""
    if len(errors) == 1:
        return errors[0]
    prefix = f"{label}: "
    parts = [str(e).removeprefix(prefix) for e in errors]
    more = f" | and {len(parts) - shown} more columns with problems" if len(parts) > shown else ""
    return DataError(prefix + " | ".join(parts[:shown]) + more)


def _row_list(numbers: Sequence[int], shown: int = 8) -> str:
    """'row 5' or 'rows 5, 7, 9' (the first few, then how many more)."""
    if len(numbers) == 1:
        return f"row {numbers[0]}"
    more = f" and {len(numbers) - shown} more" if len(numbers) > shown else ""
    return "rows " + ", ".join(str(n) for n in numbers[:shown]) + more


# --- reading -------------------------------------------------------------------------------------


def _read(source: str | os.PathLike | pd.DataFrame) -> tuple[str, bytes, str]:
    """(label for messages, raw bytes, decoded text) of a file or a DataFrame."""
    if isinstance(source, pd.DataFrame):
        label = "<DataFrame>"
        try:
            raw = source.to_csv(index=False, lineterminator="\n").encode("utf-8")
        except (ValueError, TypeError, UnicodeError) as exc:
            raise DataError(f"{label}: cannot be written as CSV ({exc}); expected a table of values") from None
    else:
        try:
            label = os.fsdecode(os.fspath(source))
        except TypeError:
            raise DataError(f"{source!r}: not a path or a DataFrame; expected the path of a CSV file of recordings "
                            "or a pandas DataFrame") from None
        raw = _read_bytes(label)
    return label, raw, _decode(label, raw)


_FILE_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))  # fmt: skip


def _not_regular(path: str, mode: int) -> DataError | None:
    """The DataError for a path that is not a regular file (checked before it is opened), or None."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return DataError(f"{path}: is a directory; expected a CSV file of recordings")
    kind = next((what for test, what in _FILE_KINDS if test(mode)), "not a regular file")
    return DataError(f"{path}: is {kind}, not a regular file; expected a CSV file of recordings (nothing was read)")


def _too_big(path: str, size: int) -> DataError | None:
    if size <= MAX_FILE_BYTES:
        return None
    return DataError(f"{path}: {size:,} bytes, above the limit of {MAX_FILE_BYTES:,} bytes "
                     f"({MAX_FILE_BYTES / 2**20:g} MiB, vrest.data.MAX_FILE_BYTES); expected a CSV table of "
                     "recordings (nothing was read)")


def _read_bytes(path: str) -> bytes:
    """The bytes of the regular file at ``path``; anything else is a DataError before it is read.

    The type and size are checked with ``os.stat`` before opening (a FIFO would block an
    ``open`` for reading, /dev/zero never ends), then again on the opened descriptor
    (opened non-blocking) in case the path changed in between.
    """
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise DataError(f"{path}: file not found; expected a CSV file of recordings") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot be examined ({exc.strerror}); expected a readable CSV file") from None
    except ValueError as exc:  # e.g. an embedded NUL byte in the path
        raise DataError(f"{path!r}: not a usable path ({exc}); expected the path of a CSV file") from None
    problem = _not_regular(path, info.st_mode) or _too_big(path, info.st_size)
    if problem:
        raise problem
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror}); expected a readable CSV file") from None
    try:
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            problem = _not_regular(path, info.st_mode) or _too_big(path, info.st_size)
            if problem:
                raise problem
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror}); expected a readable CSV file") from None
    problem = _too_big(path, len(raw))
    if problem:
        raise problem
    return raw


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
    head = _without_preamble(text)[0].lstrip()
    if head.startswith("<"):
        kind = "XML" if head.startswith("<?xml") else "HTML/XML markup"
        raise DataError(f"{label}: looks like {kind}, not CSV; expected comma-separated values with a header row")
    if head.startswith(("{", "[")):
        try:
            parsed = json.loads(head)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict | list) or head.startswith("{"):
            raise DataError(f"{label}: looks like JSON, not CSV; expected comma-separated values with a header row")


# --- CSV structure -------------------------------------------------------------------------------


def _without_preamble(text: str) -> tuple[str, int, int]:
    """(the text from the header on, '#' comment lines skipped, blank lines skipped) above the header.

    A blank line is one of nothing but spaces and commas (an empty spreadsheet row); a comment
    line is one whose first non-space character is '#'.
    """
    stream = io.StringIO(text, newline="")
    start = comments = blanks = 0
    while True:
        line = stream.readline()
        if not line:
            break
        stripped = line.strip()
        if stripped.startswith("#"):
            comments += 1
        elif not stripped.replace(",", "").strip():
            blanks += 1
        else:
            break
        start += len(line)
    return text[start:], comments, blanks


def _parse_csv(label: str, text: str) -> _Parsed:
    """Header, (row number, fields) of every non-blank data row, and notes; structural errors raise."""
    body, comments, blanks = _without_preamble(text)
    first = comments + blanks + 1  # the line number of the header
    if not body.strip():
        raise DataError(f"{label}: no header row: all {first - 1} lines are '#' comments or blank; "
                        "expected a header row of column names and data rows below it")
    reader = csv.reader(io.StringIO(body, newline=""), strict=True)
    records: list[tuple[int, list[str]]] = []
    consumed = 0  # lines the reader has consumed: the next record starts on line first + consumed
    try:
        for record in reader:
            records.append((first + consumed, record))
            consumed = reader.line_num
    except csv.Error as exc:
        row = first + consumed
        if "field larger than field limit" in str(exc):
            raise DataError(f"{label}: row {row}: a field longer than {csv.field_size_limit()} characters; "
                            "expected a table of short values (an unclosed quote?)") from None
        raise DataError(f"{label}: row {row}: malformed quoting ({exc}); "
                        "expected values quoted as \"...\" with inner quotes doubled") from None
    notes = []
    if comments or blanks:
        kinds = [f"{n} {what} line{'s' if n > 1 else ''}" for n, what in ((comments, "'#' comment"),
                                                                           (blanks, "blank")) if n]  # fmt: skip
        notes.append(f"{first - 1} line{'s' if first > 2 else ''} above the header skipped ({', '.join(kinds)})")
    header_row, header = records[0]
    if not header or all(not h.strip() for h in header):
        raise DataError(f"{label}: row {header_row}: the header row is empty; expected column names in the first row")
    _check_delimiter(label, header, header_row)
    width = len(header)
    while width > 1 and not header[width - 1].strip():
        width -= 1
    unnamed = len(header) - width
    _check_header(label, header[:width], header_row)
    if comments and all(_NUMBER.fullmatch(h.strip()) for h in header[:width]):
        raise DataError(f"{label}: row {header_row}: the header is all numbers ({', '.join(header[:width])}) after "
                        f"{comments} '#' comment line{'s' if comments > 1 else ''}; expected column names "
                        "(was the header itself commented out?)")
    rows, blank, trimmed = [], 0, 0
    for number, record in records[1:]:
        if all(not field.strip() for field in record):
            blank += 1
            continue
        if len(record) > width:
            filled = [i for i in range(width, len(record)) if record[i].strip()]
            if filled and filled[0] < len(header):
                at = filled[0]
                raise DataError(f"{label}: row {number}, column {at + 1}: {record[at]!r} under a column without a "
                                "name; expected a name in the header for every column that holds values")
            if not filled:
                trimmed += len(record) > len(header)
                record = record[:width]
        if len(record) != width:
            hint = (" (a '#' comment? comment lines are read only above the header)"
                    if record and record[0].lstrip().startswith("#") else " (quote values that contain commas)")
            raise DataError(f"{label}: row {number}: {len(record)} fields but the header has {width}; "
                            f"expected one value per column{hint}")
        rows.append((number, record))
    if not rows:
        raise DataError(f"{label}: no data rows; expected at least one row of values below the header")
    if blank:
        notes.append(f"{blank} blank row{'s' if blank > 1 else ''} skipped")
    if unnamed:
        notes.append(f"{unnamed} empty unnamed last column{'s' if unnamed > 1 else ''} dropped "
                     "(a trailing comma on each line, as Excel writes)")
    if trimmed:
        notes.append(f"empty trailing field{'s' if trimmed > 1 else ''} beyond the header dropped on "
                     f"{trimmed} row{'s' if trimmed > 1 else ''} (a trailing comma)")
    return _Parsed(header[:width], rows, tuple(notes), header_row)


def _check_delimiter(label: str, header: list[str], row: int) -> None:
    """DataError if the header is one field that another delimiter would split."""
    named = [h for h in header if h.strip()]
    if len(named) == 1:
        for delimiter, shown in ((";", "';'"), ("\t", "tab"), ("|", "'|'")):
            if delimiter in named[0]:
                raise DataError(f"{label}: row {row}: use comma-separated values; found {shown} between the "
                                "column names; expected ',' between columns (export as CSV with commas)")


def _check_header(label: str, header: list[str], row: int) -> None:
    """DataError for an empty or duplicated column name."""
    seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        if not name.strip():
            raise DataError(f"{label}: row {row}, column {position}: empty column name; "
                            "expected a name for every column (an index column? save without it)")
        if name in seen:
            raise DataError(f"{label}: row {row}: duplicate column name {name!r} (columns {seen[name]} and "
                            f"{position}); expected unique column names")
        seen[name] = position


# --- column names --------------------------------------------------------------------------------


def _split_unit(name: str) -> tuple[str, str | None]:
    """(name without a trailing bracketed part, the text inside the brackets or None)."""
    match = _UNIT_SUFFIX.search(name)
    if match and name[: match.start()].strip():
        return name[: match.start()], match.group(0).strip()[1:-1]
    return name, None


def _tokens(name: str) -> list[str]:
    return [t for t in _SEPARATORS.split(name.lower().replace("+", "").replace("[", "").replace("]", "")) if t]


def _resolve(name: str) -> tuple[str | None, tuple[str, ...]]:
    """(canonical name or None, the units the header states: in brackets and/or after a separator)."""
    base, bracket = _split_unit(name)
    units = (bracket,) if bracket is not None else ()
    tokens = _tokens(base)
    key = "".join(tokens)
    if key in _LOOKUP:
        return _LOOKUP[key], units
    if len(tokens) > 1:
        stem = "".join(tokens[:-1])
        found = _LOOKUP.get(stem)
        if found is not None and _is_unit_token(found, tokens[-1]) and not (
                stem in _BARE_WORDS and _unit_key(tokens[-1]) in ("m", "mol")):  # K_m, K_M: not K_o in molar
            return found, (tokens[-1], *units)
    return None, ()


def _canonical(name: str) -> str | None:
    """The canonical name for a column called ``name``, or None if it is unknown.

    Case, spaces, dashes, dots, underscores, '+' and '[ ]' are ignored, as is a
    trailing unit in brackets or parentheses ("Vm (mV)") or after a separator
    ("Ko_mM"); the unit is read separately (:func:`_unit_for`).
    """
    return _resolve(name)[0]


def _stated_units(name: str, canonical: str) -> tuple[str, ...]:
    """The units a header the caller mapped to ``canonical`` states (bracket, or a unit after a separator)."""
    found, units = _resolve(name)
    if found == canonical:
        return units
    base, bracket = _split_unit(name)
    tokens = _tokens(base)
    token = (tokens[-1],) if len(tokens) > 1 and _is_unit_token(canonical, tokens[-1]) else ()
    return token + ((bracket,) if bracket is not None else ())


def _unit_for(label: str, row: int, name: str, canonical: str, stated: tuple[str, ...]) -> _Unit:
    """The unit of column ``name`` (read as ``canonical``) from its header, or a DataError.

    A header without a unit is read in the canonical unit. An unknown unit, two different
    units, or a unit of another quantity is refused; so is molar, see :func:`load_recordings`.
    """
    kind = _unit_kind(canonical)
    if kind is None or not stated:
        return _Unit(_UNITS.get(canonical, ""))
    table = _UNIT_TABLES[kind]
    found = []
    for text in stated:
        unit = table.get(_unit_key(text))
        if unit is None:
            raise DataError(f"{label}: row {row}, column {name!r}: unit {text!r} is not a unit of {canonical} the "
                            f"loader reads; expected {_UNIT_CHOICES[kind]} in the header (or no unit: "
                            f"{_UNITS[canonical]}), or map the column with columns=")
        found.append(unit)
    if len({u.shown for u in found}) > 1:
        raise DataError(f"{label}: row {row}, column {name!r}: the header states two units "
                        f"({' and '.join(u.shown for u in found)}); expected one unit")
    unit = found[0]
    if unit is _MOLAR:
        raise DataError(f"{label}: row {row}, column {name!r}: unit M (molar) is not converted (an (M) written for "
                        "(mM) would pass every check); expected mM, uM or nM: if the values are molar, the column "
                        "looks like molar: multiply by 1000 and label the header (mM); if they are mM, fix the label")
    return unit


def _looks_like_error_bar(name: str) -> bool:
    """Whether an unknown column name suggests an error bar of unstated kind (err, error, ...)."""
    tokens = [t for t in _SEPARATORS.split(_UNIT_SUFFIX.sub("", name).lower()) if t]
    if tokens and tokens[-1] in ("mv", "v"):
        tokens = tokens[:-1]
    return "".join(tokens) in _ERROR_LIKE


def _explicit_columns(label: str, header: list[str], row: int, columns: Mapping[str, str] | None) -> dict[str, str]:
    """The caller's ``columns`` checked against the header: canonical name -> header."""
    if columns is None:
        return {}
    if not isinstance(columns, Mapping):
        raise DataError(f"{label}: columns is a {type(columns).__name__}; expected a mapping of canonical names to "
                        "the file's headers, e.g. {'K_o_mM': 'K+ (mM)'}")
    found = ", ".join(repr(h) for h in header)
    out: dict[str, str] = {}
    for canonical, name in columns.items():
        if canonical not in CANONICAL:
            raise DataError(f"{label}: columns: {canonical!r} is not a canonical column name; expected one of "
                            f"{', '.join(CANONICAL)}")
        if not isinstance(name, str):
            raise DataError(f"{label}: columns: {canonical} is mapped to {name!r}; expected a header of the file "
                            f"as text (found columns: {found})")
        match = name if name in header else next(
            (h for h in header if h.strip().lower() == name.strip().lower()), None)  # fmt: skip
        if match is None:
            raise DataError(f"{label}: row {row}: columns maps {canonical} to {name!r}, which is not a header of the "
                            f"file (found columns: {found}); expected one of the file's column names")
        other = next((c for c, h in out.items() if h == match), None)
        if other is not None:
            raise DataError(f"{label}: row {row}: columns maps both {other} and {canonical} to {match!r}; "
                            "expected one header per canonical name")
        out[canonical] = match
    return out


def _map_columns(
    label: str,
    parsed: _Parsed,
    error_column: str | None,
    error_kind: str | None,
    columns: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], tuple[str, ...], list[str], dict[str, _Unit]]:
    """Canonical -> original mapping, unknown columns, notes, and units; conflicts and gaps raise."""
    header, row = parsed.header, parsed.header_row
    explicit = _explicit_columns(label, header, row, columns)
    by_header = {h: c for c, h in explicit.items()}
    assigned = _error_column(label, header, error_column, error_kind)
    mapping: dict[str, str] = {}
    notes: list[str] = []
    note_at: dict[str, int] = {}  # canonical -> its mapping note (a conversion is added to it)
    extras: list[str] = []
    for name in header:
        if name in by_header:
            canonical = by_header[name]
            if assigned and name == error_column and canonical != assigned:
                raise DataError(f"{label}: row {row}: column {name!r} is mapped to {canonical} by columns and read "
                                f"as {assigned} by error_column; expected one reading")
        elif assigned and name == error_column:
            canonical = assigned
        else:
            canonical = _canonical(name)
            if canonical in explicit:
                extras.append(name)
                notes.append(f"column {name!r} would be read as {canonical}, but columns maps {canonical} to "
                             f"{explicit[canonical]!r}: kept as an extra column")
                continue
        if canonical is None:
            extras.append(name)
            continue
        if canonical in mapping:
            raise DataError(f"{label}: row {row}: columns {mapping[canonical]!r} and {name!r} both read as "
                            f"{canonical}; expected one column per quantity (rename or remove one, or choose "
                            "with columns=)")
        mapping[canonical] = name
        before = len(notes)
        if name == error_column and name not in by_header:
            notes.append(f"ASSUMPTION: column {name!r} read as {canonical} because the caller passed "
                         f"error_kind={error_kind!r}; the loader cannot tell SD from SEM")
        elif name in by_header:
            notes.append(f"column {name!r} read as {canonical} (given by columns=)")
        elif name != canonical:
            notes.append(f"column {name!r} read as {canonical}")
        if len(notes) > before:
            note_at[canonical] = before
    missing = [c for c in REQUIRED if c not in mapping]
    if missing:
        examples = {"K_o_mM": "Ko, K_o, K+ (mM), [K+]o or K_o_mM", "V_m_mV": "Vm, V_m, Vrest, RMP or V_m_mV"}
        found = ", ".join(repr(h) for h in header)
        raise DataError(f"{label}: missing required column {' and '.join(missing)} (found columns: {found}); "
                        f"expected a column named e.g. {'; '.join(examples[m] for m in missing)}, "
                        "or map one with columns=")
    units: dict[str, _Unit] = {}
    for canonical, name in mapping.items():
        stated = _stated_units(name, canonical) if name in by_header or name == error_column else _resolve(name)[1]
        units[canonical] = unit = _unit_for(label, row, name, canonical, stated)
        if unit.converts:
            if canonical in note_at:
                notes[note_at[canonical]] += f", {unit.describe(_UNITS[canonical])}"
            else:
                notes.append(f"column {name!r} ({canonical}) {unit.describe(_UNITS[canonical])}")
    if extras:
        notes.append(f"{len(extras)} unknown column{'s' if len(extras) > 1 else ''} kept: {', '.join(extras)}")
    notes.extend(f"column {name!r} may be an error bar of unstated kind; pass error_column={name!r} with "
                 "error_kind='sem' or 'sd' to use it" for name in extras if _looks_like_error_bar(name))
    ordered = {c: mapping[c] for c in CANONICAL if c in mapping}
    return ordered, tuple(extras), notes, units


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
    label: str, original: str, canonical: str, cells: list[str], rows: Sequence[int], index: pd.Index,
    unit: _Unit | None = None,
) -> pd.Series | None:
    """The checked values of one mapped column (in the canonical unit), or None when an optional column is empty."""
    unit = unit or _Unit(_UNITS.get(canonical, ""))
    cells = [c.strip() for c in cells]
    empty = [r for r, c in zip(rows, cells, strict=True) if not c]
    if len(empty) == len(cells) and canonical not in REQUIRED:
        return None
    if empty:
        expected = f"a value in every row (required column {canonical})" if canonical in REQUIRED else (
            f"a value in every row, or the whole column {canonical} left empty")
        raise DataError(f"{label}: row {empty[0]}, column {original!r}: empty cell; expected {expected}"
                        + _also(empty))
    if canonical in _TEXT:
        return pd.Series(cells, index=index, dtype=str)
    values = np.array([_number(c) for c in cells], dtype=float)
    bad = np.flatnonzero(np.isnan(values))
    if bad.size:
        cell = cells[bad[0]]
        hint = " (Unicode minus sign: use '-')" if "\u2212" in cell else (
            " (too large for a number)" if _NUMBER.fullmatch(cell) else "")
        error = DataError(f"{label}: row {rows[bad[0]]}, column {original!r}: {cell!r} is not a number{hint}; "
                          f"expected a finite number ({unit.shown or _UNITS[canonical]})"
                          + _also([rows[i] for i in bad]))  # fmt: skip
        good = np.flatnonzero(~np.isnan(values))
        try:  # the other rows' problems too, so that one message names every refused row
            if good.size:
                _check_values(label, original, canonical, values[good], [rows[i] for i in good], unit)
        except DataError as more:
            raise _combined(label, [error, more]) from None
        raise error
    values = _check_values(label, original, canonical, values, rows, unit)
    return pd.Series(values, index=index, dtype="float64")


def _also(rows: Sequence[int]) -> str:
    """' (same in rows 5, 9)' for the rows after the first with the same problem, or ''."""
    return f" (same in {_row_list(list(rows[1:]))})" if len(rows) > 1 else ""


def _number(cell: str) -> float:
    """A finite decimal number parsed from ``cell``, or NaN."""
    if _NUMBER.fullmatch(cell):
        value = float(cell)
        if np.isfinite(value):
            return value
    return float("nan")


_Fail = Callable[[np.ndarray, str, str], DataError]
"""Builds the DataError for (positions in the column, what is wrong with the first, what was expected)."""


def _check_values(
    label: str, column: str, canonical: str, raw: np.ndarray, rows: Sequence[int], unit: _Unit
) -> np.ndarray:
    """Unit and plausibility checks for one numeric column; returns the values in the canonical unit."""
    def fail(at: np.ndarray, what: str, expected: str) -> DataError:
        at = np.atleast_1d(at)
        return DataError(f"{label}: row {rows[at[0]]}, column {column!r}: {what}; expected {expected}"
                         + _also([rows[i] for i in at]))

    values = unit.apply(raw)
    if canonical == "V_m_mV":
        _check_voltage(label, column, raw, values, unit, fail)
    elif canonical in _CONCENTRATIONS:
        _check_concentration(label, column, canonical, raw, values, unit, fail)
    elif canonical == "temperature_C":
        _check_temperature(values, unit, fail)
    elif canonical in ("sem_mV", "sd_mV"):
        bad = np.flatnonzero(values < 0)
        if bad.size:
            raise fail(bad, f"{values[bad[0]]:g} mV is negative", f"{canonical} >= 0 mV")
        bad = np.flatnonzero(values > _ERROR_MAX_MV)
        if bad.size:
            raise fail(bad, f"{values[bad[0]]:g} mV is implausibly large for an error bar of V_m",
                       f"{canonical} <= {_ERROR_MAX_MV:g} mV (in mV, not uV)")
    elif canonical == "n":
        bad = np.flatnonzero((values < 1) | (values != np.round(values)) | (values > _N_MAX))
        if bad.size:
            raise fail(bad, f"{values[bad[0]]:g} is not a positive integer up to {_N_MAX:,}",
                       "n as a whole number >= 1")
    return values


def _check_voltage(label: str, column: str, raw: np.ndarray, values: np.ndarray, unit: _Unit, fail: _Fail) -> None:
    """V_m in mV: refuse volts in a column read as mV, mV in a column read as V, and values outside -200..+100 mV.

    In a column read as mV, every |V_m| below 0.5 (not all zero) is a column in volts; a
    single row in volts among rows of tens of mV is a non-zero |V_m| below 0.5 whose value
    in volts (x 1000) is a plausible V_m, while the other rows have a median |V_m| of at
    least 5 mV. (-0.3 is kept as mV: -300 mV is no V_m.)
    """
    low, high = _V_RANGE_MV
    if unit.multiply == 1.0:
        small = np.abs(raw) < _VOLT_LIKE_BELOW
        if np.all(small) and np.any(raw != 0):
            raise DataError(f"{label}: column {column!r}: every V_m is within +-{_VOLT_LIKE_BELOW:g} (from "
                            f"{raw.min():g} to {raw.max():g}); expected mV: looks like volts: multiply by 1000, "
                            "or label the header 'V_m (V)'")
        in_volts = np.where(small, raw, 0.0) * 1e3
        volt_like = small & (raw != 0) & (in_volts >= low) & (in_volts <= high)
        if volt_like.any():
            typical = float(np.median(np.abs(raw[~volt_like])))
            if typical >= _TENS_OF_MV:
                bad = np.flatnonzero(volt_like)
                raise fail(bad, f"V_m {raw[bad[0]]:g} looks like volts among values in mV (median |V_m| of the "
                                f"other rows {typical:g} mV)",
                           "every row in one unit, mV (mixed units in one column?): multiply this value by 1000")
    else:
        mv_like = np.abs(raw) >= 1.0
        if mv_like.any():
            bad = np.flatnonzero(mv_like)
            raise fail(bad, f"V_m {raw[bad[0]]:g} V is {values[bad[0]]:g} mV: looks like mV in a column labelled "
                            f"{unit.shown}", f"V_m in volts in a ({unit.shown}) column; label the header (mV) if "
                                             "the values are mV (mixed units in one column?)")
    bad = np.flatnonzero((values < low) | (values > high))
    if bad.size:
        raise fail(bad, f"V_m {_shown(raw, values, bad[0], unit, 'mV')} is outside {low:g}..{high:+g} mV",
                   "V_m in mV, inside minus outside")


def _shown(raw: np.ndarray, values: np.ndarray, i: int, unit: _Unit, canonical_unit: str) -> str:
    """'5 mM', or '5000 uM (5 mM)' for a converted value."""
    if not unit.converts:
        return f"{values[i]:g} {canonical_unit}"
    return f"{raw[i]:g} {unit.shown} ({values[i]:g} {canonical_unit})"


def _check_concentration(
    label: str, column: str, canonical: str, raw: np.ndarray, values: np.ndarray, unit: _Unit, fail: _Fail
) -> None:
    """Concentrations in mM: positive, at most 1000 mM, and K_o not in molar."""
    bad = np.flatnonzero(values <= 0)
    if bad.size:
        ion = canonical.split("_")[0]
        advice = "" if canonical in REQUIRED else (
            f" (give a {ion}-free solution as a small positive residual such as 0.1 mM and say so, "
            f"or leave the column out and state {canonical} in the study's assumptions)")
        raise fail(bad, f"{_shown(raw, values, bad[0], unit, 'mM')} is not a positive concentration",
                   f"{canonical} > 0 mM{advice}")
    bad = np.flatnonzero(values > _CONC_MAX_MM)
    if bad.size:
        raise fail(bad, f"{_shown(raw, values, bad[0], unit, 'mM')} is above {_CONC_MAX_MM:g} mM, no physiological "
                        "concentration", f"{canonical} in mM, 0 < {canonical} <= {_CONC_MAX_MM:g} "
                                         "(uM or nM values need the unit in the header, e.g. 'K_o (uM)')")
    if canonical == "K_o_mM" and values.max() < 0.2:
        if unit.converts:
            raise DataError(f"{label}: column {column!r}: every K_o is below 0.2 mM after converting from "
                            f"{unit.shown} (largest {raw.max():g} {unit.shown}); expected K_o in mM: check the "
                            "unit in the header")
        raise DataError(f"{label}: column {column!r}: every K_o is below 0.2 (largest {values.max():g}); "
                        "expected mM: looks like molar: multiply by 1000")


def _check_temperature(values: np.ndarray, unit: _Unit, fail: _Fail) -> None:
    """Temperature in degrees C within -5..50, with a hint for kelvin."""
    if unit.kelvin:
        raise fail(np.zeros(1, dtype=int), f"{values[0]:g} is in kelvin (the header says K)",
                   "degrees C: subtract 273.15 and label the header (C)")
    low, high = _T_RANGE_C
    bad = np.flatnonzero((values < low) | (values > high))
    if bad.size:
        t = values[bad[0]]
        hint = " (looks like kelvin: subtract 273.15)" if _KELVIN_LIKE[0] <= t <= _KELVIN_LIKE[1] else ""
        raise fail(bad, f"{t:g} is outside {low:g}..{high:g} degrees C", f"degrees C{hint}")
