"""From validated recordings and assumptions to per-row model inputs (the design).

Every model input that is not fitted gets a value for every row, from (first that
applies) the data column, the row's condition in the study file, the global
settings (flags or the study's ``[fixed]``), the model's default, or the preset.
Each value not read from the data is recorded as an assumption.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..constants import celsius_to_kelvin
from ..models import get_model
from ..parameters import PARAMS, check
from ..presets import get_preset

DATA_COLUMNS = {
    "k_o": "K_o_mM",
    "na_o": "Na_o_mM",
    "cl_o": "Cl_o_mM",
    "k_i": "K_i_mM",
    "na_i": "Na_i_mM",
    "cl_i": "Cl_i_mM",
    "ca_o": "Ca_o_mM",
    "temp_k": "temperature_C",
}


@dataclass
class Design:
    """Per-row inputs of one fit."""

    model: str
    inputs: dict[str, np.ndarray]  # every non-fitted model input, one value per row
    v_obs: np.ndarray  # mV
    sem: np.ndarray  # mV, known measurement error of each row (0 where none)
    condition: np.ndarray  # str per row
    cell: np.ndarray | None  # str per row, or None
    assumptions: list[dict] = field(default_factory=list)
    na_plus_k: dict[str, float] = field(default_factory=dict)  # condition -> Na_o + K_o (mM) where K+ replaced Na+
    ljp_mv: dict[str, float] = field(default_factory=dict)  # condition -> junction potential subtracted from V_m
    ljp_sd_mv: float = 0.0  # the largest sd of an uncertain junction potential (0: none; see conditions)
    order: np.ndarray | None = None  # per row, the order (or time) each cell's solutions were applied, or None

    @property
    def n_rows(self) -> int:
        return self.v_obs.size

    def with_rows(self, extra: dict[str, np.ndarray], condition: str) -> Design:
        """A copy with extra rows (inputs given as arrays of equal length) and no observations; inputs not given
        are the first row's, per-row modifiers (``*_scale``) 1: a new recording in the same setup, nothing blocked."""
        n = len(next(iter(extra.values())))
        inputs = {k: np.concatenate([v, np.broadcast_to(extra.get(k, 1.0 if k.endswith("_scale") else v[0]), (n,))])
                  for k, v in self.inputs.items()}  # fmt: skip
        return Design(
            self.model,
            inputs,
            np.concatenate([self.v_obs, np.full(n, np.nan)]),
            np.concatenate([self.sem, np.zeros(n)]),
            np.concatenate([self.condition, np.full(n, condition)]),
            None if self.cell is None else np.concatenate([self.cell, np.full(n, condition)]),
            self.assumptions,
            self.na_plus_k,
            self.ljp_mv,
            self.ljp_sd_mv,
            None if self.order is None else np.concatenate([self.order, np.full(n, np.inf)]),
        )


def build_design(
    recordings,
    model: str,
    fitted: list[str],
    *,
    preset: str,
    settings: dict | None = None,
    conditions: dict[str, dict] | None = None,
    solutions: Mapping[str, Mapping] | None = None,
) -> Design:
    """Per-row inputs for ``model`` from ``recordings`` (a :class:`vrest.data.Recordings`).

    ``settings``: global fixed values by input name (``temp_k`` in K), including the
    option ``k_replaces_na`` (K+ raised by replacing Na+: Na_o = (Na_o + K_o)_assumed - K_o)
    and the condition options of :mod:`.conditions` (bath, pipette, dialysed, ljp_mv, cl_i =
    "passive", pump = "blocked", pump_scale, scale) for every row. ``conditions``: per-condition overrides of the
    same kind, keyed by condition label. ``solutions``: the study's recipes by name.
    Explicit numbers win over values from solutions, which win over model defaults and the preset.
    """
    m = get_model(model)
    table: pd.DataFrame = recordings.table
    n = len(table)
    settings = dict(settings or {})
    conditions = conditions or {}
    labels = table["condition"].astype(str).to_numpy() if "condition" in table else np.full(n, "all")
    unknown = sorted(set(conditions) - set(labels))
    if unknown:
        raise ValueError(f"conditions: {unknown[0]!r} does not occur in the data (conditions: {', '.join(sorted(set(labels)))})")
    preset_values = get_preset(preset).values()
    resolved = {str(label): _resolve(str(label), settings, conditions.get(label, {}), solutions or {}, preset_values)
                for label in np.unique(labels)}  # fmt: skip
    assumptions: list[dict] = []
    inputs: dict[str, np.ndarray] = {}
    for name in m.inputs:
        if name in fitted:
            continue
        column = DATA_COLUMNS.get(name)
        if column and column in table:
            values = table[column].to_numpy(float, copy=True)
            inputs[name] = celsius_to_kelvin(values) if name == "temp_k" else values
            continue
        per_row = np.empty(n)
        for label in np.unique(labels):
            rows = labels == label
            value, source = _assumed(name, conditions.get(label, {}), settings, resolved[str(label)], m.defaults,
                                     preset_values, preset)  # fmt: skip
            if value is None:
                if name in m.optional:
                    break
                raise ValueError(f"{name}: no value for model {model!r}; give it in the data, a flag or the study file")
            per_row[rows] = value
            own = name in conditions.get(label, {}) or (name in resolved[str(label)].values and len(resolved) > 1)
            scope = f"condition {str(label)!r}" if own else "all rows"
            assumptions.append({"input": name, "value": value, "unit": PARAMS[name].unit, "source": source, "applies_to": scope})
        else:
            inputs[name] = per_row
    na_plus_k = _apply_k_replaces_na(inputs, table, labels, settings, conditions, assumptions)
    _apply_permeants_and_activities(inputs, labels, resolved, assumptions)
    _apply_passive_and_block(m, inputs, labels, resolved, assumptions)
    _apply_scales(m, inputs, fitted, labels, resolved, assumptions)
    _apply_pump_activation(m, inputs, fitted, labels, resolved, assumptions)
    for name, values in inputs.items():
        check(name, values)
    sem = _measurement_error(table)
    cell = table["cell"].astype(str).to_numpy() if "cell" in table else None
    v_obs = table["V_m_mV"].to_numpy(float).copy()
    ljp = {label: r.ljp_mv for label, r in resolved.items() if r.ljp_mv is not None}
    for label, value in ljp.items():
        v_obs[labels == label] -= value
        sd = resolved[label].ljp_sd_mv
        assumptions.append({"input": "ljp_mv", "value": round(value, 4) if not sd else f"{value:.4g} +/- {sd:g}",
                            "unit": "mV", "applies_to": f"condition {label!r}",
                            "source": f"liquid-junction potential ({resolved[label].ljp_source}); V_m = V_recorded - LJP"
                                      + ("; uncertain: its error is fitted (ljp_error_mv)" if sd else "")})  # fmt: skip
    ljp_sd = max((r.ljp_sd_mv for r in resolved.values()), default=0.0)
    if ljp_sd > 0:
        inputs["ljp_error_mv_scale"] = np.zeros(n)
        for label, r in resolved.items():
            inputs["ljp_error_mv_scale"][labels == label] = r.ljp_sd_mv / ljp_sd
    order = table["order"].to_numpy(float) if "order" in table else None
    return Design(model, inputs, v_obs, sem, labels, cell, _dedupe(assumptions), na_plus_k, ljp, ljp_sd, order)


def _resolve(label: str, settings: dict, condition: dict, solutions: Mapping, preset_values: dict):
    """The condition options of :mod:`.conditions` for the rows of ``label`` (the condition's own over [fixed])."""
    from .conditions import OPTIONS, resolve

    keys = (*OPTIONS, "cl_i")
    spec = {k: v for k, v in settings.items() if k in keys} | {k: v for k, v in condition.items() if k in keys}
    if spec.get("cl_i") != "passive":
        spec.pop("cl_i", None)
    temp_k = float(condition.get("temp_k", settings.get("temp_k", preset_values["temp_k"])))
    where = f"conditions.{label}" if any(k in condition for k in keys) else "fixed"
    return resolve(spec, solutions, where, temp_k)


def _apply_passive_and_block(m, inputs: dict, labels: np.ndarray, resolved: dict, assumptions: list[dict]) -> None:
    """Passive Cl- and pump block on the rows whose condition says so (rules in :mod:`.conditions`)."""
    from .conditions import CL_VANISHING_MM

    passive: list[str] = []
    for label, r in resolved.items():
        rows = labels == label
        where = f"condition {label!r}"
        if r.cl_passive:
            cl_param = next((p for p in ("p_cl", "g_cl") if p in m.inputs), None)
            off = cl_param in inputs and not np.any(inputs[cl_param][rows])  # the Cl- term is already off (0)
            if not off and cl_param == "p_cl" and "cl_o" in inputs and "cl_i" in inputs:
                inputs["cl_o"][rows] = inputs["cl_i"][rows] = CL_VANISHING_MM
            if off or (cl_param == "p_cl" and "cl_i" in inputs):
                passive.append(label)
            else:
                raise ValueError(f"cl_i: 'passive' in {where} only: model {m.name!r} has a Cl- conductance that cannot "
                                 "be switched off per condition; make Cl- passive in every condition (the Cl- term is "
                                 "then left out exactly) or use a permeability model (ghk, mullins-noda, "
                                 "rectifying-ghk)")  # fmt: skip
        if r.pump_blocked and "pump_ratio" in inputs:
            inputs["pump_ratio"][rows] = 1.0
            assumptions.append({"input": "pump_ratio", "value": 1.0, "unit": "1", "applies_to": where,
                                "source": "pump blocked: no electrogenic coupling (ratio 1)"})  # fmt: skip
    scopes = ["all rows"] if passive and len(passive) == len(resolved) else [f"condition {x!r}" for x in passive]
    assumptions[:] = [a for a in assumptions if not (a["input"] == "cl_i" and a["applies_to"] in
                                                     (*scopes, "all rows" if scopes == ["all rows"] else None))]  # fmt: skip
    assumptions.extend({"input": "cl_i", "value": "passive", "unit": "", "applies_to": scope,
                        "source": "Cl- distributed passively (E_Cl = V_m): no net Cl- current, so Cl- drops out of V_m"}
                       for scope in scopes)  # fmt: skip


def _apply_permeants_and_activities(inputs: dict, labels: np.ndarray, resolved: dict, assumptions: list[dict]) -> None:
    """Permeant substitutes counted as the ion of their pathway, then activities in place of concentrations, then
    measured activities as given (rules in :mod:`.conditions`)."""
    for label, r in resolved.items():
        rows, where = labels == label, f"condition {label!r}"
        if r.cl_passive and {"cl_o", "cl_i"} & set(r.added):
            raise ValueError(f"permeant: an anion substitute in {where} needs the Cl- pathway, which cl_i = "
                             "\"passive\" takes out of V_m; give cl_i as a number there, or leave the substitute "
                             "impermeant")  # fmt: skip
        for name, mm in r.added.items():
            if name in inputs and mm > 0:
                inputs[name][rows] = inputs[name][rows] + mm
                assumptions.append({"input": name, "value": f"+ {mm:.4g}", "unit": "mM", "applies_to": where,
                                    "source": "permeant substitutes, as r x their concentration"})  # fmt: skip
        for name, gamma in r.activity.items():
            if name in inputs and name not in r.measured:
                inputs[name][rows] = inputs[name][rows] * gamma
        if r.activity:
            shown = ", ".join(f"{k} {v:.3f}" for k, v in r.activity.items() if k in inputs)
            assumptions.append({"input": "activities", "value": shown, "unit": "1", "applies_to": where,
                                "source": "Davies activity coefficients at the solutions' ionic strengths (inside: the "
                                          "dialysing pipette's, else the bath's, ASSUMED isotonic)"})  # fmt: skip
        for name, value in r.measured.items():
            if name in inputs:
                inputs[name][rows] = value
                assumptions.append({"input": name, "value": value, "unit": "mM", "applies_to": where,
                                    "source": "measured intracellular activity"})  # fmt: skip


def _apply_scales(m, inputs: dict, fitted: list[str], labels: np.ndarray, resolved: dict,
                  assumptions: list[dict]) -> None:  # fmt: skip
    """A condition's scale of an input (a blocked pump: 0): a fixed one is multiplied on its rows; a fitted one gets
    the per-row modifier ``<name>_scale`` (:mod:`vrest.models.modifiers`). "pump" is the model's pump term."""
    from ..parameters import PUMP_TERMS

    for label, r in resolved.items():
        rows, where = labels == label, f"condition {label!r}"
        scales = r.scales | ({"pump": 0.0} if r.pump_blocked and "pump_ratio" not in inputs else {})
        for key, factor in scales.items():
            name = next((p for p in PUMP_TERMS if p in m.inputs), None) if key == "pump" else key
            if name is None or name not in m.inputs:
                what = "pump term" if key == "pump" else f"input {key!r}"
                raise ValueError(f"{where}: scale of {key}: model {m.name!r} has no {what} (inputs: "
                                 f"{', '.join(m.inputs)})")  # fmt: skip
            _multiply_rows(inputs, name, name in fitted, rows, factor)
            reason = "blocked" if factor == 0 else f"scaled by {factor:g}"
            assumptions.append({"input": name, "value": f"x {factor:g}", "unit": "", "applies_to": where,
                                "source": f"{name} {reason} in this condition" + (", shared and fitted elsewhere"
                                                                                  if name in fitted else "")})  # fmt: skip


def _multiply_rows(inputs: dict, name: str, fitted: bool, rows: np.ndarray, factor) -> None:
    """``name`` times ``factor`` on ``rows``: a fixed input's values, or a fitted parameter's per-row modifier
    ``<name>_scale`` (:mod:`vrest.models.modifiers`; 1 on the other rows)."""
    if fitted:
        inputs.setdefault(f"{name}_scale", np.ones(rows.size))[rows] *= factor
    elif name in inputs:
        inputs[name][rows] = inputs[name][rows] * factor


def _apply_pump_activation(m, inputs: dict, fitted: list[str], labels: np.ndarray, resolved: dict,
                           assumptions: list[dict]) -> None:  # fmt: skip
    """The pump term times its K_o and Na_i activation on the rows of conditions that ask (:mod:`.conditions`)."""
    from ..parameters import PUMP_TERMS
    from .conditions import pump_activation

    for label, r in resolved.items():
        if r.pump_activation is None:
            continue
        rows, where = labels == label, f"condition {label!r}"
        name = next((p for p in PUMP_TERMS if p in m.inputs and (p in fitted or np.any(inputs.get(p, 0)))), None)
        if name is None or "pump_ratio" in m.inputs:
            raise ValueError(f"{where}: pump_activation needs a pump term (pump_mv or i_pump) that model {m.name!r} "
                             "fits or is given; the pump coupling ratio of mullins-noda has no K_o activation")  # fmt: skip
        na_i = inputs["na_i"][rows] if "na_i" in inputs else np.full(rows.sum(), r.pump_activation["na_ref"])
        factor = pump_activation(inputs["k_o"][rows], na_i, r.pump_activation)
        _multiply_rows(inputs, name, name in fitted, rows, factor)
        c = r.pump_activation
        assumptions.append({"input": name, "value": f"x {factor.min():.3g}-{factor.max():.3g}", "unit": "",
                            "applies_to": where,
                            "source": f"pump activated by K_o/(K_o + {c['k_half']:g}) and 1/(1 + ({c['na_half']:g}/Na_i)"
                                      f"^1.5), relative to K_o {c['k_ref']:g}, Na_i {c['na_ref']:g} mM (Luo & Rudy 1994)"})  # fmt: skip


def _assumed(name, condition: dict, settings: dict, resolved, defaults, preset_values: dict, preset: str):
    if isinstance(condition.get(name), int | float) and not isinstance(condition.get(name), bool):
        return float(condition[name]), "study file (condition)"
    if isinstance(settings.get(name), int | float) and not isinstance(settings.get(name), bool):
        return float(settings[name]), "flag or study file"
    if name in resolved.values:
        return float(resolved.values[name]), resolved.sources[name]
    if name in defaults:
        return float(defaults[name]), "model default"
    if name in preset_values:
        return float(preset_values[name]), f"preset {preset}"
    return None, ""


def _apply_k_replaces_na(inputs, table, labels, settings, conditions, assumptions) -> dict[str, float]:
    """Na_o = (Na_o + K_o)_reference - K_o on rows whose condition (or the study) says K replaces Na.

    The reference K_o is ``k_o_reference`` (condition, else study/flag), else the lowest K_o of the
    condition; Na_o as assumed is its value there. The condition's Na_o assumption is replaced by one
    line stating the rule and the reference. Returns condition -> Na_o + K_o (mM).
    """
    totals: dict[str, float] = {}
    if "na_o" not in inputs or "Na_o_mM" in table or "K_o_mM" not in table:
        return totals
    for label in np.unique(labels):
        flag = conditions.get(label, {}).get("k_replaces_na", settings.get("k_replaces_na", False))
        if not flag:
            continue
        rows = labels == label
        k_o = table["K_o_mM"].to_numpy(float)[rows]
        given = conditions.get(label, {}).get("k_o_reference", settings.get("k_o_reference"))
        reference_k = float(k_o.min() if given is None else given)
        na_ref = float(inputs["na_o"][rows][0])
        na = inputs["na_o"][rows] + reference_k - k_o
        if np.any(na <= 0):
            raise ValueError(f"k_replaces_na: Na_o would be <= 0 at K_o = {k_o[na <= 0][0]:g} mM (condition {label!r})")
        inputs["na_o"][rows] = na
        totals[str(label)] = total = na_ref + reference_k
        scope = f"condition {str(label)!r}"
        old = next((a for a in assumptions if a["input"] == "na_o" and a["applies_to"] in (scope, "all rows")), None)
        origin = f"{old['source']}" if old else "data"
        reference = "the lowest K_o recorded; set k_o_reference to change it" if given is None else "k_o_reference"
        assumptions[:] = [a for a in assumptions if not (a["input"] == "na_o" and a["applies_to"] == scope)]
        assumptions.append({"input": "na_o", "value": f"{total:g} - K_o", "unit": "mM",
                            "source": f"K+ raised by replacing Na+ (k_replaces_na): Na_o = {na_ref:g} mM ({origin}) at "
                                      f"K_o = {reference_k:g} mM ({reference})",
                            "applies_to": scope})  # fmt: skip
    if totals and len(totals) == len(np.unique(labels)):  # every condition: the preset's Na_o applies nowhere as such
        assumptions[:] = [a for a in assumptions if not (a["input"] == "na_o" and a["applies_to"] == "all rows")]
    return totals


def _measurement_error(table: pd.DataFrame) -> np.ndarray:
    """Known error of each row's mean (mV): sem_mV, or sd_mV / sqrt(n); 0 for single measurements."""
    if "sem_mV" in table:
        return table["sem_mV"].to_numpy(float)
    if "sd_mV" in table:
        n = table["n"].to_numpy(float) if "n" in table else np.ones(len(table))
        return table["sd_mV"].to_numpy(float) / np.sqrt(n)
    return np.zeros(len(table))


def _dedupe(assumptions: list[dict]) -> list[dict]:
    seen, out = set(), []
    for a in assumptions:
        key = (a["input"], str(a["value"]), a["applies_to"])
        if key not in seen:
            seen.add(key)
            out.append(a)
    return out
