"""Experimental conditions as a lab states them: bath and pipette solutions, junction potentials, passive Cl-,
pump block; turned into the model inputs and the corrections a fit needs. NumPy only, no file I/O.

A condition (a ``[conditions.<label>]`` table, or ``[fixed]`` for every row) may say:

- ``bath = "<solution>"``: Na_o, Cl_o, Ca_o from the solution's ions (K_o always comes from the data).
  A nominally ion-free bath ("Na-free") holds a small unknown residual: ``residual_mM`` (default
  :data:`RESIDUAL_MM`, an assumption stated in the fit).
- ``pipette = "<solution>"`` with ``dialysed = true`` (whole-cell): K_i, Na_i, Cl_i from the pipette.
- ``ljp_mv = "auto" | <mV>``: the liquid-junction potential of the pipette against the bath (stationary
  Nernst-Planck at the condition's temperature; the JPCalc/LJPcalc sign), corrected as
  V_m = V_recorded - LJP before fitting.
- ``cl_i = "passive"``: Cl- is distributed passively (E_Cl = V_m), so it carries no net current and drops
  out of the resting potential. In every condition: the Cl- parameter (``p_cl`` or ``g_cl``) is fixed
  at 0 and not fitted (exact for every model). In some conditions only: permeability models
  (an input ``p_cl``) take vanishing Cl- concentrations there (GHK without Cl- terms, to ~1e-13 mV);
  conductance models cannot switch ``g_cl`` off per condition, and say so.
- ``pump = "blocked"`` (ouabain, K-free, cold): in every condition the pump term is not fitted; a block in
  some conditions only needs a per-condition pump, which the models do not have yet: refused in one line.

Solutions are the study's ``[solutions.<name>]`` recipes or named presets (``vrest solutions``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

RESIDUAL_MM = 0.5
"""Assumed residual of an ion a solution nominally lacks (mM): contamination of salts and water, carry-over."""
CL_VANISHING_MM = 1e-12
"""Cl- concentrations (mM) that make the Cl- terms of a permeability model vanish (passive Cl- in some rows)."""
BATH_IONS = {"na_o": "Na", "cl_o": "Cl", "ca_o": "Ca"}
PIPETTE_IONS = {"k_i": "K", "na_i": "Na", "cl_i": "Cl"}
OPTIONS = ("bath", "pipette", "dialysed", "ljp_mv", "pump", "residual_mM")


@dataclass
class Resolved:
    """One condition's inputs from its solutions, with where each came from, and its corrections."""

    values: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    ljp_mv: float | None = None
    ljp_source: str = ""
    cl_passive: bool = False
    pump_blocked: bool = False


def solution(name: str, recipes: Mapping[str, Mapping], where: str):
    """The :class:`vrest.solutions.Solution` called ``name``: a study recipe, else a preset; ValueError otherwise."""
    from ..solutions import as_solution, solution_presets

    if name in recipes:
        return as_solution(dict(recipes[name]), name)
    if name.strip().lower().replace("-", "_").replace(" ", "_") in solution_presets():
        return as_solution(name)
    known = ", ".join([*recipes, *solution_presets()])
    raise ValueError(f"{where}: unknown solution {name!r}; expected a [solutions.<name>] table or one of: {known}")


def resolve(spec: Mapping, recipes: Mapping[str, Mapping], where: str, temp_k: float) -> Resolved:
    """The inputs and corrections of one condition ``spec`` (its keys as in the module docstring)."""
    from ..solutions import junction_potential

    out = Resolved()
    residual = float(spec.get("residual_mM", RESIDUAL_MM))
    bath = solution(spec["bath"], recipes, f"{where}: bath") if "bath" in spec else None
    pipette = solution(spec["pipette"], recipes, f"{where}: pipette") if "pipette" in spec else None
    if bath is not None:
        for name, ion in BATH_IONS.items():
            c = bath.concentration(ion)
            out.values[name] = c if c > 0 else residual
            out.sources[name] = (f"bath {spec['bath']!r} (recipe)" if c > 0 else
                                 f"bath {spec['bath']!r} has none: ASSUMED residual {residual:g} mM")  # fmt: skip
    if spec.get("dialysed"):
        if pipette is None:
            raise ValueError(f"{where}: dialysed = true needs pipette = \"<solution>\" (whole-cell: the pipette sets "
                             "the intracellular concentrations)")  # fmt: skip
        for name, ion in PIPETTE_IONS.items():
            c = pipette.concentration(ion)
            out.values[name] = c if c > 0 else residual
            out.sources[name] = (f"pipette {spec['pipette']!r} (dialysed)" if c > 0 else
                                 f"pipette {spec['pipette']!r} has none: ASSUMED residual {residual:g} mM")  # fmt: skip
    ljp = spec.get("ljp_mv")
    if ljp == "auto":
        if bath is None or pipette is None:
            raise ValueError(f"{where}: ljp_mv = \"auto\" needs both pipette and bath solutions")
        out.ljp_mv = junction_potential(pipette, bath, temp_k)
        out.ljp_source = (f"stationary Nernst-Planck, pipette {spec['pipette']!r} against bath {spec['bath']!r} at "
                          f"{temp_k - 273.15:g} C")  # fmt: skip
    elif ljp is not None:
        out.ljp_mv, out.ljp_source = float(ljp), "given"
    out.cl_passive = spec.get("cl_i") == "passive"
    out.pump_blocked = spec.get("pump") == "blocked"
    return out


def everywhere(key: str, value: object, labels: list[str], fixed: Mapping, conditions: Mapping) -> bool:
    """Whether every condition's ``key`` (its own, else [fixed]'s) is ``value``."""
    return bool(labels) and all(conditions.get(label, {}).get(key, fixed.get(key)) == value for label in labels)
