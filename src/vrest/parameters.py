"""Named model inputs: every input has a name, a unit, a meaning and a valid range.

The names are the API keyword arguments and, with ``_`` replaced by ``-``, the CLI
flags (``k_o`` -> ``--k-o``). Temperature is ``temp_k`` (kelvin) inside the
package; the CLI and data files take degrees Celsius. A new model's new inputs are
added with :func:`register_parameter`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from enum import Enum

import numpy as np

from .constants import ZERO_CELSIUS_K


class Kind(Enum):
    """What values an input may take."""

    CONCENTRATION = "positive and finite"
    NON_NEGATIVE = "non-negative and finite"
    POSITIVE = "positive and finite"  # noqa: PIE796 - an alias of CONCENTRATION: the same check
    REAL = "finite"
    TEMPERATURE = "a temperature above 0 K"
    AT_LEAST_ONE = "finite and >= 1"


@dataclass(frozen=True)
class Param:
    """One named model input."""

    name: str
    unit: str
    kind: Kind
    doc: str

    @property
    def flag(self) -> str:
        """The command-line flag for this input."""
        if self.name == "temp_k":
            return "--temp-c"
        return "--" + self.name.replace("_", "-")


def _p(name: str, unit: str, kind: Kind, doc: str) -> Param:
    return Param(name, unit, kind, doc)


C, NN = Kind.CONCENTRATION, Kind.NON_NEGATIVE
PARAMS: dict[str, Param] = {
    p.name: p
    for p in (
        _p("c_out", "mM", C, "extracellular concentration of the ion"),
        _p("c_in", "mM", C, "intracellular concentration of the ion"),
        _p("k_o", "mM", C, "extracellular K+ concentration"),
        _p("k_i", "mM", C, "intracellular K+ concentration"),
        _p("na_o", "mM", C, "extracellular Na+ concentration"),
        _p("na_i", "mM", C, "intracellular Na+ concentration"),
        _p("cl_o", "mM", C, "extracellular Cl- concentration"),
        _p("cl_i", "mM", C, "intracellular Cl- concentration"),
        _p("ca_o", "mM", C, "extracellular Ca2+ concentration"),
        _p("ca_i", "mM", C, "intracellular (free) Ca2+ concentration"),
        _p("temp_k", "K", Kind.TEMPERATURE, "absolute temperature"),
        _p("p_na", "1", NN, "permeability ratio P_Na/P_K"),
        _p("p_cl", "1", NN, "permeability ratio P_Cl/P_K"),
        _p("p_ca", "1", NN, "permeability ratio P_Ca/P_K"),
        _p("pump_mv", "mV", Kind.REAL, "electrogenic pump offset: V = V_passive - pump_mv"),
        _p("pump_ratio", "1", Kind.AT_LEAST_ONE, "Na+/K+ pump coupling ratio r (3 Na : 2 K -> 1.5)"),
        _p("g_k", "nS", NN, "K+ conductance (relative units allowed: only ratios matter without a pump current)"),
        _p("g_na", "nS", NN, "Na+ conductance"),
        _p("g_cl", "nS", NN, "Cl- conductance"),
        _p("g_tot", "nS", Kind.POSITIVE, "total membrane conductance the pump current flows through (default: g_k+g_na+g_cl)"),
        _p("i_pump", "pA", Kind.REAL, "outward pump current (same units as g x mV: pA with g in nS)"),
        _p("perm_k", "pA/mM", Kind.POSITIVE, "K+ permeability as P_K x area x F: the GHK current scale"),
        _p("v_half", "mV", Kind.REAL, "inward rectifier: half-block voltage relative to E_K"),
        _p("k_slope", "mV", Kind.POSITIVE, "inward rectifier: slope factor of the block"),
        _p("k_ref", "mM", C, "inward rectifier: reference K_o of the conductance"),
        _p("kir_n", "1", NN, "inward rectifier: exponent of the (K_o/K_ref)^n conductance dependence"),
        _p("ljp_error_mv", "mV", Kind.REAL, "error of an uncertain liquid-junction potential's assumed mean (fitted)"),
    )
}

PUMP_TERMS = ("pump_mv", "i_pump")
"""The two forms of the electrogenic pump: an offset (mV) and a current (pA); a model takes one."""


def register_parameter(name: str, unit: str, kind: Kind, doc: str) -> Param:
    """Add the input ``name`` (e.g. a new model's parameter; ``unit`` as printed, ``kind`` its
    valid values) to :data:`PARAMS`; ValueError if it exists or is not a lower-case identifier."""
    if not (name.isidentifier() and name.islower()):
        raise ValueError(f"parameter: expected a lower-case identifier, got {name!r}")
    if name in PARAMS:
        raise ValueError(f"{name}: already a parameter ({PARAMS[name].doc})")
    if not isinstance(kind, Kind):
        raise ValueError(f"{name}: kind must be a vrest.parameters.Kind, got {kind!r}")
    PARAMS[name] = Param(name, unit, kind, doc)
    return PARAMS[name]


_LOWER_LIMITS = {  # kind -> (lowest allowed value, whether the limit itself is excluded)
    Kind.CONCENTRATION: (0.0, True),
    Kind.POSITIVE: (0.0, True),
    Kind.NON_NEGATIVE: (0.0, False),
    Kind.REAL: (-np.inf, False),
    Kind.TEMPERATURE: (0.0, True),
    Kind.AT_LEAST_ONE: (1.0, False),
}

TEMP_WARN_C = (0.0, 45.0)
"""Outside this range (degrees Celsius) a temperature is accepted with a warning."""


class OutOfRangeWarning(UserWarning):
    """An input is valid but outside the physiological-experimental range."""


def check(name: str, value: object) -> np.ndarray:
    """Return ``value`` as a float array, or raise ``ValueError`` naming the input.

    Temperatures outside 0-45 degrees C give an :class:`OutOfRangeWarning`. ``<input>_scale`` (a per-row
    modifier, :mod:`vrest.models.modifiers`) is a non-negative number.
    """
    param = PARAMS.get(name) or Param(name, "1", NN, f"per-row scale of {name.removesuffix('_scale')}")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a number ({param.unit}), got {value!r}") from None
    low, high = (float(np.min(arr)), float(np.max(arr))) if arr.size else (1.0, 1.0)
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"{name}: expected {param.kind.value} values ({param.unit}), got a non-finite value")
    limit, strict = _LOWER_LIMITS[param.kind]
    if low < limit or (strict and low == limit):
        raise ValueError(f"{name}: expected {param.kind.value} values ({param.unit}), got {low:g}")
    if param.kind is Kind.TEMPERATURE:
        outside = [t for t in (low, high) if not TEMP_WARN_C[0] <= t - ZERO_CELSIUS_K <= TEMP_WARN_C[1]]
        if outside:
            warnings.warn(
                f"{name}: {outside[0] - ZERO_CELSIUS_K:.1f} degrees C is outside the "
                f"physiological-experimental range {TEMP_WARN_C[0]:g}-{TEMP_WARN_C[1]:g} C",
                OutOfRangeWarning,
                stacklevel=3,
            )
    return arr


def check_valence(z: object) -> int:
    """A non-zero integer valence, or ``ValueError``."""
    try:
        zi = int(z)
    except (TypeError, ValueError):
        raise ValueError(f"z: expected a non-zero integer valence, got {z!r}") from None
    if zi != z or zi == 0:
        raise ValueError(f"z: expected a non-zero integer valence, got {z!r}")
    return zi
