"""Candidate measurements: what a next experiment would record, and the model inputs of its rows.

A candidate is a bath (the keys of a study's ``[conditions.<name>]``: assumed inputs such as
``na_o``, ``cl_o``, ``k_i``, ``temp_c``, ``k_replaces_na``, ``k_o_reference``) plus the K_o
levels it would record (``k_o_mM``, mM), the replicates per level (``n``) and optionally
``pump_block = true`` (the pump term is 0 in those rows). Inputs a candidate does not set
come from the fit's base condition (its bath, including the rule Na_o + K_o constant when
K+ replaced Na+ there). No file I/O here: :func:`parse_candidates` takes the parsed TOML.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from ..models import get_model
from ..parameters import PUMP_TERMS
from ..study import CONDITION_OPTIONS, Table, condition_values

MAX_REPLICATES = 10_000
EXTRA_KEYS = ("k_o_mM", "n", "pump_block")
"""Keys of a candidate table besides those of a study's ``[conditions.<name>]``."""

NA_FREE_MM = 1.0
"""Residual Na_o (mM) of a nominally Na-free saline in the default candidates."""

LOW_CL_FRACTION = 0.1
"""Cl_o of the default low-Cl candidate, as a fraction of the base bath's Cl_o."""


@dataclass(frozen=True)
class Bath:
    """One fitted condition: its fixed inputs other than K_o, and what was recorded there.

    ``values``: input name -> value (mM, K, ...); ``na_plus_k``: Na_o + K_o (mM) where K+ replaced
    Na+, else None; ``k_o_levels``: the recorded K_o levels (mM); ``per_level``: typical rows per level.
    """

    label: str
    values: Mapping[str, float]
    na_plus_k: float | None
    k_o_levels: tuple[float, ...]
    per_level: int = 1


@dataclass(frozen=True)
class Candidate:
    """A measurement the next experiment could make (see the module docstring)."""

    name: str
    k_o: tuple[float, ...]  # mM
    inputs: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))  # temp_k in K
    n: int = 1
    k_replaces_na: bool | None = None  # None: as in the base condition
    k_o_reference: float | None = None  # mM
    pump_block: bool = False

    def __post_init__(self) -> None:
        k_o = np.asarray(self.k_o, dtype=float)
        if k_o.ndim != 1 or k_o.size == 0 or not np.all(np.isfinite(k_o) & (k_o > 0)):
            raise ValueError(f"candidates.{self.name}: k_o_mM: expected K_o levels > 0 mM, got {list(self.k_o)!r}")
        if isinstance(self.n, bool) or not isinstance(self.n, int) or not 1 <= self.n <= MAX_REPLICATES:
            raise ValueError(f"candidates.{self.name}: n: expected a whole number from 1 to {MAX_REPLICATES}, "
                             f"got {self.n!r}")  # fmt: skip
        object.__setattr__(self, "k_o", tuple(float(k) for k in k_o))
        object.__setattr__(self, "inputs", MappingProxyType(dict(self.inputs)))

    def describe(self) -> str:
        """In words: 'K_o 5 mM, na_o 1 mM, 3 per level'."""
        parts = ["K_o " + ", ".join(f"{k:g}" for k in self.k_o) + " mM"]
        parts += [f"{k} {v:g}" + (" K" if k == "temp_k" else " mM" if k.endswith(("_o", "_i")) else "")
                  for k, v in self.inputs.items()]  # fmt: skip
        if self.k_replaces_na is not None:
            parts.append("K+ replacing Na+" if self.k_replaces_na else "Na_o fixed")
        if self.pump_block:
            parts.append("pump blocked")
        parts.append(f"{self.n} per level")
        return ", ".join(parts)

    def rows(self, base: Bath, model: str, fitted: tuple[str, ...]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """(every fixed input of ``model`` per row, pump-blocked mask per row): each K_o level ``n`` times.

        ValueError (naming the candidate) for an input the model does not take, a fitted one, or Na_o <= 0."""
        m = get_model(model)
        where = f"candidates.{self.name}"
        for key in self.inputs:
            if key not in m.inputs:
                raise ValueError(f"{where}: {key}: not an input of model {model!r}")
            if key in fitted:
                raise ValueError(f"{where}: {key}: fitted by this fit (its value is not the experimenter's to set)")
        if self.pump_block and not set(PUMP_TERMS) & set(fitted):
            raise ValueError(f"{where}: pump_block: the fit has no pump term to block")
        k_o = np.repeat(np.asarray(self.k_o), self.n)
        values = {k: np.full(k_o.size, float(v)) for k, v in base.values.items() if k in m.inputs and k not in fitted}
        values |= {k: np.full(k_o.size, float(v)) for k, v in self.inputs.items()}
        values["k_o"] = k_o
        if "na_o" in m.inputs and "na_o" not in fitted:
            values["na_o"] = self._na_o(base, k_o, where)
        return values, np.full(k_o.size, self.pump_block)

    def _na_o(self, base: Bath, k_o: np.ndarray, where: str) -> np.ndarray:
        """Na_o per row (mM): the candidate's, the base condition's, or by K+ replacing Na+."""
        reference = self.k_o_reference if self.k_o_reference is not None else min(self.k_o)
        if "na_o" in self.inputs:
            na = self.inputs["na_o"] + (reference - k_o if self.k_replaces_na else 0.0)
        elif base.na_plus_k is not None:
            na = base.na_plus_k - (k_o if self.k_replaces_na is not False else reference)
        elif "na_o" in base.values:
            na = base.values["na_o"] + (reference - k_o if self.k_replaces_na else 0.0)
        else:
            raise ValueError(f"{where}: na_o: no value (give na_o)")
        na = np.broadcast_to(np.asarray(na, dtype=float), k_o.shape).copy()
        if np.any(na <= 0):
            raise ValueError(f"{where}: na_o: Na_o would be <= 0 mM at K_o = {k_o[na <= 0][0]:g} mM")
        return na


def parse_candidates(raw: Mapping, where: str) -> list[Candidate]:
    """The candidates of a parsed candidates file (``[candidates.<name>]`` tables); ValueError naming ``where``
    (the file), the table and the key for unknown keys, K_o <= 0, a bad ``n`` or an empty list."""
    Table(raw, where, ("candidates",))
    tables = raw.get("candidates")
    if not isinstance(tables, dict) or not tables:
        raise ValueError(f"{where}: candidates: expected at least one [candidates.<name>] table")
    out = []
    for name, spec in tables.items():
        at = f"{where}: candidates.{name}"
        table = Table(spec, at, (*_condition_keys(), *EXTRA_KEYS))
        if "k_o_mM" not in spec:
            raise ValueError(f"{at}: k_o_mM: required (the K_o levels to record, mM)")
        levels = spec["k_o_mM"] if isinstance(spec["k_o_mM"], list) else [spec["k_o_mM"]]
        if not levels or not all(isinstance(k, int | float) and not isinstance(k, bool) and k > 0 for k in levels):
            raise ValueError(f"{at}: k_o_mM: expected K_o levels > 0 mM (e.g. [2, 5, 10]), got {spec['k_o_mM']!r}")
        n = spec.get("n", 1)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_REPLICATES:
            raise ValueError(f"{at}: n: expected a whole number from 1 to {MAX_REPLICATES}, got {n!r}")
        bath = condition_values({k: v for k, v in spec.items() if k not in EXTRA_KEYS}, at)
        options = {k: bath.pop(k) for k in CONDITION_OPTIONS if k in bath}
        out.append(Candidate(str(name), tuple(float(k) for k in levels), bath, n, options.get("k_replaces_na"),
                             options.get("k_o_reference"), bool(table.flag("pump_block"))))  # fmt: skip
    return out


def _condition_keys() -> tuple[str, ...]:
    """The keys of a study's ``[conditions.<name>]`` table."""
    from ..models import fixable_inputs

    return (*(n for n in fixable_inputs() if n != "temp_k"), "temp_c", "na_o", "cl_o", *CONDITION_OPTIONS)


def default_candidates(base: Bath, fitted: tuple[str, ...]) -> list[Candidate]:
    """The standard next measurements from the fitted bath ``base``: more K_o levels (between, below and above
    the recorded range), and Na-free, low-Cl and pump-block variants at the lowest, median and highest level."""
    levels = np.unique(base.k_o_levels)
    lo, hi, n = float(levels.min()), float(levels.max()), base.per_level
    three = tuple(float(k) for k in np.unique(np.quantile(levels, [0.0, 0.5, 1.0])))
    out = []
    if levels.size >= 2:
        out.append(Candidate("k_o_between", tuple(np.sqrt(levels[:-1] * levels[1:])), n=n))
    out.append(Candidate("k_o_below", (lo / 4, lo / 2), n=n))
    ceiling = base.na_plus_k - NA_FREE_MM if base.na_plus_k is not None else np.inf
    above = tuple(k for k in (2 * hi, 4 * hi) if k < ceiling)
    if above:
        out.append(Candidate("k_o_above", above, n=n))
    out.append(Candidate("na_free", three, {"na_o": NA_FREE_MM}, n=n, k_replaces_na=False))
    if {"p_cl", "g_cl"} & set(fitted) and "cl_o" in base.values:
        out.append(Candidate("low_cl", three, {"cl_o": LOW_CL_FRACTION * base.values["cl_o"]}, n=n))
    if set(PUMP_TERMS) & set(fitted):
        out.append(Candidate("pump_block", three, n=n, pump_block=True))
    return out
