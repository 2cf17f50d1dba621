"""Experimental conditions as a lab states them: bath and pipette solutions, junction potentials, passive Cl-,
pump block; turned into the model inputs and the corrections a fit needs. NumPy only, no file I/O.

A condition (a ``[conditions.<label>]`` table, or ``[fixed]`` for every row) may say:

- ``bath = "<solution>"``: Na_o, Cl_o, Ca_o from the solution's ions (K_o always comes from the data).
  A nominally ion-free bath ("Na-free") holds a small unknown residual: ``residual_mM`` (default
  :data:`RESIDUAL_MM`, an assumption stated in the fit).
- ``pipette = "<solution>"`` with ``dialysed = true`` (whole-cell): K_i, Na_i, Cl_i from the pipette.
- ``ljp_mv = "auto" | <mV> | {mean = "auto" | <mV>, sd = <mV>}``: the liquid-junction potential of the pipette
  against the bath (stationary Nernst-Planck at the condition's temperature; the JPCalc/LJPcalc sign), corrected
  as V_m = V_recorded - LJP before fitting. With an sd the LJP is uncertain: the rows are corrected with the mean
  and a fitted nuisance ``ljp_error_mv`` (prior Normal(0, sd)) is added to the model on them, so the posterior
  carries the LJP's uncertainty (:mod:`vrest.models.modifiers`). Conditions with uncertain LJPs share that one
  error, weighted by their sds: the error of a junction-potential calculation is common to similar solutions.
- ``zeroed_in = "<solution>"``: the bath the amplifier was zeroed in (pipette in the bath, before the seal), when
  the bath was changed afterwards: ``ljp_mv = "auto"`` is then the pipette against that solution (the junction
  nulled at zeroing, gone after break-in), not against the condition's bath.
- ``reference = "agcl" | "<solution>"``: the reference electrode, so that its change between the zeroing bath and
  the condition's bath is corrected (Barry & Lynch 1991): an Ag/AgCl pellet in the bath shifts by
  R = RT/F ln(Cl_bath/Cl_zeroing) (a low-Cl- bath reads tens of mV too negative); an agar bridge of that solution
  (e.g. "kcl_3m") by the change of its junction with the bath. With the amplifier zeroed in B0,
  V_m = V_recorded - LJP(pipette, B0) - (R(bath) - R(B0)). Without ``reference`` no reference change is applied
  (a bridge whose junction does not change, or no bath change).
- ``cl_i = "passive"``: Cl- is distributed passively (E_Cl = V_m), so it carries no net current and drops
  out of the resting potential. In every condition: the Cl- parameter (``p_cl`` or ``g_cl``) is fixed
  at 0 and not fitted (exact for every model). In some conditions only: permeability models
  (an input ``p_cl``) take vanishing Cl- concentrations there (GHK without Cl- terms, to ~1e-13 mV);
  conductance models cannot switch ``g_cl`` off per condition, and say so.
- ``pump = "blocked"`` (ouabain, K-free, cold): in every condition, the pump term is not fitted; in some, the
  one fitted pump is scaled by 0 on their rows (a pump coupling ratio is set to 1). ``pump_scale = x``: partial
  block (x of the fitted pump).
- ``scale = {<input> = x}``: any permeability ratio, conductance or pump term of the model times x on the
  condition's rows (0 blocks it: Ba2+ on g_k, a Cl- channel blocker), shared with the other conditions
  otherwise (:data:`vrest.models.modifiers.SCALABLE`).

- ``pump_activation = true | {k_half, na_half, k_ref, na_ref}``: the pump term follows the Na+/K+ pump's
  activation by external K+ and internal Na+, K_o/(K_o + k_half) / (1 + (na_half/Na_i)^1.5) (Luo & Rudy 1994:
  k_half 1.5 mM, na_half 10 mM; K_0.5 for external K+ near 1.5 mM in ventricular myocytes, Nakao & Gadsby 1989),
  relative to its value at k_ref (5.4 mM) and na_ref (10 mM): the fitted pump is the pump there, and at 0.1 mM K_o
  it is 8 % of it. The voltage dependence of the pump is not modelled.
- ``permeant = {<ion> = r}``: a substitute that permeates (gluconate, propionate, aspartate, HCO3- through Cl-
  channels; Li+, NMDG+, choline+ through the Na+ pathway) with permeability r relative to the ion of its charge
  (Cl- for a monovalent anion, Na+ for a monovalent cation), from the literature. Its concentrations in the
  condition's solutions (bath; pipette when dialysed) count as r x [X] of that ion: P_Cl [Cl] + P_X [X] =
  P_Cl ([Cl] + r [X]), exact in GHK terms, and the same mixture's reversal potential (the bi-ionic GHK
  formula) in a Nernst or chord term.
- ``activities = true``: ion activities (Davies, at the bath's ionic strength outside and the pipette's inside
  when dialysed, else the bath's: an ASSUMPTION of an isotonic cell) in place of concentrations in every
  Nernst and GHK term, K_o from the data included. ``measured_activities = {k_i = 105}``: intracellular
  activities measured (ion-selective microelectrodes), used as they are.

Solutions are the study's ``[solutions.<name>]`` recipes or named presets (``vrest solutions``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

RESIDUAL_MM = 0.5
"""Assumed residual of an ion a solution nominally lacks (mM): contamination of salts and water, carry-over."""
CL_VANISHING_MM = 1e-12
"""Cl- concentrations (mM) that make the Cl- terms of a permeability model vanish (passive Cl- in some rows)."""
BATH_IONS = {"na_o": "Na", "cl_o": "Cl", "ca_o": "Ca"}
PIPETTE_IONS = {"k_i": "K", "na_i": "Na", "cl_i": "Cl"}
OPTIONS = ("bath", "pipette", "dialysed", "ljp_mv", "zeroed_in", "reference", "pump", "pump_scale", "scale",
           "pump_activation", "residual_mM", "permeant", "activities", "measured_activities")
PUMP_ACTIVATION = {"k_half": 1.5, "na_half": 10.0, "k_ref": 5.4, "na_ref": 10.0}
"""Na+/K+ pump activation constants (mM): Luo C.H. & Rudy Y. (1994) Circ. Res. 74:1071 (K_m,Ko 1.5, K_m,Nai 10,
Hill 1.5 for Na_i); the reference point at which the fitted pump term applies."""
NA_HILL = 1.5
CARRIER = {1: "na", -1: "cl"}
"""The ion whose pathway a permeant substitute of this valence shares."""
ION_VALENCE = {"k": 1, "na": 1, "cl": -1, "ca": 2}


@dataclass
class Resolved:
    """One condition's inputs from its solutions, with where each came from, and its corrections."""

    values: dict[str, float] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    ljp_mv: float | None = None
    ljp_sd_mv: float = 0.0  # > 0: uncertain, a fitted nuisance
    ljp_source: str = ""
    cl_passive: bool = False
    pump_blocked: bool = False
    scales: dict[str, float] = field(default_factory=dict)  # input (or "pump": the model's pump term) -> factor
    added: dict[str, float] = field(default_factory=dict)  # input -> mM of permeant substitutes counted as it
    activity: dict[str, float] = field(default_factory=dict)  # input -> activity coefficient (activities = true)
    measured: dict[str, float] = field(default_factory=dict)  # input -> measured activity (mM)
    pump_activation: dict[str, float] | None = None  # PUMP_ACTIVATION's keys, or None: a constant pump


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
    if isinstance(ljp, Mapping):
        ljp, out.ljp_sd_mv = ljp["mean"], float(ljp["sd"])
    zeroed = solution(spec["zeroed_in"], recipes, f"{where}: zeroed_in") if "zeroed_in" in spec else None
    against, against_name = (zeroed, spec.get("zeroed_in")) if zeroed is not None else (bath, spec.get("bath"))
    if ljp == "auto":
        if against is None or pipette is None:
            raise ValueError(f"{where}: ljp_mv = \"auto\" needs the pipette and the bath (or zeroed_in) solutions")
        out.ljp_mv = junction_potential(pipette, against, temp_k)
        out.ljp_source = (f"stationary Nernst-Planck, pipette {spec['pipette']!r} against "
                          f"{'the zeroing bath' if zeroed is not None else 'bath'} {against_name!r} at "
                          f"{temp_k - 273.15:g} C")  # fmt: skip
    elif ljp is not None:
        out.ljp_mv, out.ljp_source = float(ljp), "given"
    if "reference" in spec:
        shift, how = _reference_shift(spec["reference"], bath, zeroed, spec, recipes, where, temp_k)
        out.ljp_mv = (out.ljp_mv or 0.0) + shift
        out.ljp_source = "; ".join(filter(None, [out.ljp_source, how]))
    out.cl_passive = spec.get("cl_i") == "passive"
    out.pump_blocked = spec.get("pump") == "blocked"
    out.scales = dict(spec.get("scale", {}))
    if "pump_scale" in spec:
        out.scales["pump"] = float(spec["pump_scale"])
    inside = pipette if spec.get("dialysed") else None
    if spec.get("permeant"):
        out.added = _permeants(spec["permeant"], bath, inside, where)
    if spec.get("activities"):
        out.activity = _coefficients(bath, inside, where, temp_k)
    out.measured = dict(spec.get("measured_activities", {}))
    activation = spec.get("pump_activation")
    if activation:
        out.pump_activation = PUMP_ACTIVATION | (activation if isinstance(activation, Mapping) else {})
    return out


def pump_activation(k_o, na_i, constants: Mapping[str, float]):
    """The pump's activation at K_o and Na_i (mM) relative to that at the reference point (see PUMP_ACTIVATION)."""

    def act(k, na):
        return k / (k + constants["k_half"]) / (1.0 + (constants["na_half"] / na) ** NA_HILL)

    return act(k_o, na_i) / act(constants["k_ref"], constants["na_ref"])


def _reference_shift(reference: str, bath, zeroed, spec: Mapping, recipes: Mapping, where: str,
                     temp_k: float) -> tuple[float, str]:  # fmt: skip
    """(R(bath) - R(zeroing bath) in mV, in words): the change of the reference electrode's potential when the
    bath is changed after zeroing (module docstring)."""
    from ..constants import thermal_voltage_mv
    from ..solutions import junction_potential

    if bath is None or zeroed is None:
        raise ValueError(f"{where}: reference needs bath and zeroed_in (the bath the amplifier was zeroed in)")
    if reference == "agcl":
        cl, cl0 = (max(s.concentration("Cl"), float(spec.get("residual_mM", RESIDUAL_MM))) for s in (bath, zeroed))
        shift = float(thermal_voltage_mv(temp_k) * math.log(cl / cl0))
        return shift, (f"Ag/AgCl reference in the bath: {shift:+.2f} mV from Cl- {cl0:g} -> {cl:g} mM "
                       "(RT/F ln(Cl_bath/Cl_zeroing))")  # fmt: skip
    bridge = solution(reference, recipes, f"{where}: reference")
    shift = junction_potential(bridge, bath, temp_k) - junction_potential(bridge, zeroed, temp_k)
    return shift, f"{reference!r} agar bridge: its junction with the bath changed by {shift:+.2f} mV since zeroing"


def _permeants(permeant: Mapping[str, float], bath, inside, where: str) -> dict[str, float]:
    """Input -> mM of the ``permeant`` substitutes (ion -> r) counted as the ion of their pathway."""
    from ..solutions import get_ion

    if bath is None and inside is None:
        raise ValueError(f"{where}: permeant needs the condition's solutions (bath, or a dialysing pipette)")
    added: dict[str, float] = {}
    for name, r in permeant.items():
        ion = get_ion(name)
        if ion.z not in CARRIER:
            raise ValueError(f"{where}: permeant {name!r} has valence {ion.z:+d}; only monovalent substitutes (through "
                             "the Na+ or Cl- pathway) are supported")  # fmt: skip
        for side, solution in (("o", bath), ("i", inside)):
            if solution is not None:
                key = f"{CARRIER[ion.z]}_{side}"
                added[key] = added.get(key, 0.0) + r * solution.concentration(ion.name)
    return added


def _coefficients(bath, inside, where: str, temp_k: float) -> dict[str, float]:
    """Input -> Davies activity coefficient outside (bath) and inside (the dialysing pipette, else the bath)."""
    from ..solutions import davies_gamma

    if bath is None:
        raise ValueError(f"{where}: activities = true needs bath = \"<solution>\" (its ionic strength)")
    out = {}
    for side, solution in (("o", bath), ("i", inside if inside is not None else bath)):
        for ion, z in ION_VALENCE.items():
            out[f"{ion}_{side}"] = float(davies_gamma(z, solution.ionic_strength_mm, temp_k))
    return out


def everywhere(key: str, value: object, labels: list[str], fixed: Mapping, conditions: Mapping) -> bool:
    """Whether every condition's ``key`` (its own, else [fixed]'s) is ``value``."""
    return bool(labels) and all(conditions.get(label, {}).get(key, fixed.get(key)) == value for label in labels)
