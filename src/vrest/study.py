"""The study file, read once into a typed, validated :class:`Study`; and the fit settings it defines.

A study file (TOML) names the data, the model(s) and every assumption of a fit, and
optionally a ``[sensitivity]`` table for ``vrest run``::

    data = "../recordings.csv"          # paths are relative to the study file
    model = "ghk"                       # `vrest fit --study`; `models = [...]` for `vrest run`
    preset = "cardiac_myocyte"
    seed = 0
    uncertain = ["k_i"]
    [data_options]   error_column, error_kind, columns (canonical name -> header)
    [fixed]          any fixable model input (temp_c in degrees C), k_replaces_na, k_o_reference, and the
                     condition options bath, pipette, dialysed, ljp_mv ("auto", mV or {mean, sd}),
                     zeroed_in, reference ("agcl" or an agar bridge's solution),
                     cl_i = "passive", pump = "blocked", pump_scale, scale = {p_cl = 0, ...},
                     permeant = {gluconate = 0.1}, activities, measured_activities
                     (see vrest.inference.conditions)
    [conditions.<label>]   the same keys, for rows of one condition
    [solutions.<name>]     a recipe: salts or ions in mM (NaCl = 205, KCl = 5.4, ...), ph, titrated_with
    [priors.<name>]  median/log_sd (log-scale parameters) or mean/sd, for a parameter one of the study's
                     models fits (a fit of any model takes the priors of its own parameters)
    [sensitivity]    model, scenarios, n, seed, k_o_grid, second_order, posterior

Every key is checked for type and range when the file is read, with a one-line error
naming the file, the table and the key (unknown keys get the nearest valid name), so
nothing is written and no sampler starts on a bad file. Temperatures become kelvin
here and in :func:`kelvin` only. An ``out`` path may not climb out of the study's
folder (``../``): ``vrest run --force`` must never reach a folder the study does not own.
"""

from __future__ import annotations

import difflib
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .constants import ZERO_CELSIUS_K
from .inference.choices import DESIGN_MINIMA, HIERARCHY, LIKELIHOODS, SAMPLER_LIMITS
from .inference.conditions import OPTIONS as SOLUTION_OPTIONS
from .inference.priors import prior_names
from .models import fixable_inputs
from .models.modifiers import SCALABLE
from .parameters import PARAMS
from .presets import DEFAULT_PRESET, PRESETS
from .seeding import MAX_SEED
from .sensitivity.sampling import MAX_N, MIN_N

LIMITS = {**SAMPLER_LIMITS, "seed": (0, MAX_SEED), "n": (MIN_N, MAX_N)}
"""Inclusive ranges of the whole-number settings (flags and study keys alike): the sampler's, nutpie's 64-bit
seeds, and the Sobol' base samples that fit in memory."""

ERROR_KINDS = ("sem", "sd")
CONDITION_OPTIONS = ("k_replaces_na", "k_o_reference")


@dataclass(frozen=True)
class SensitivityPlan:
    """The ``[sensitivity]`` table of a study (``vrest run``)."""

    model: str | None = None
    scenarios: tuple[str, ...] = ("hypokalaemia", "normokalaemia", "hyperkalaemia")
    n: int = 1024
    seed: int | None = None
    k_o_grid: tuple[float, ...] | None = None
    second_order: bool = False
    posterior: bool = True


@dataclass(frozen=True)
class DesignPlan:
    """The ``[design]`` table of a study (``vrest run`` ends with the next-experiment advice)."""

    candidates: Path | None = None
    targets: tuple[str, ...] | None = None
    choose: int = 1
    seed: int | None = None
    exact: int = 3
    outer: int = 500
    draws: int = 1000


@dataclass(frozen=True)
class Study:
    """A study file's contents, checked; ``None`` where the file is silent (the flag or default applies)."""

    path: Path | None = None
    data: Path | None = None
    model: str | None = None
    models: tuple[str, ...] = ()
    preset: str | None = None
    seed: int | None = None
    likelihood: str | None = None
    no_pump: bool | None = None
    uncertain: tuple[str, ...] | None = None
    hierarchical: str | None = None
    error_column: str | None = None
    error_kind: str | None = None
    columns: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    fixed: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))  # temp_k in K
    conditions: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    priors: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: MappingProxyType({}))
    g_tot_ns: float | None = None
    chains: int | None = None
    draws: int | None = None
    tune: int | None = None
    sensitivity: SensitivityPlan | None = None
    out: Path | None = None
    solutions: Mapping[str, Mapping] = field(default_factory=lambda: MappingProxyType({}))
    traces: tuple[Path, ...] = ()
    epochs: Path | None = None
    extract: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    design: DesignPlan | None = None

    def data_options(self) -> dict:
        """Keyword arguments of :func:`vrest.data.load_recordings` from ``[data_options]``."""
        options = {"error_column": self.error_column, "error_kind": self.error_kind}
        return options | ({"columns": dict(self.columns)} if self.columns else {})


def fittable_models() -> list[str]:
    """Names of the models that can be fitted (those whose registry record names fitted parameters)."""
    from .models import MODELS

    return [m.name for m in MODELS.values() if m.fitted]


def _named(model: str | None, models: tuple[str, ...]) -> list[str]:
    """The models a study names (its ``model`` and ``models``); its priors are checked against these."""
    return [m for m in (model, *models) if m]


def _check_priors_fitted(priors: Table, named: list[str]) -> None:
    """Each ``[priors.<name>]`` must be a parameter one of the study's ``named`` models fits (a fit of any model takes
    the priors of its own parameters: :func:`fit_settings`). Unchecked when the study names no model."""
    for key in priors.values if named else ():
        if not any(key in prior_names(m) for m in named):
            raise ValueError(f"{priors.at(key)}: {key!r} is not fitted by any of the study's models ({', '.join(named)})")


def kelvin(temp_c: float, where: str) -> float:
    """Degrees C -> K; ValueError naming ``where`` at or below absolute zero."""
    if not math.isfinite(temp_c) or temp_c <= -ZERO_CELSIUS_K:
        raise ValueError(f"{where}: expected a temperature above -273.15 C, got {temp_c:g}")
    return float(temp_c) + ZERO_CELSIUS_K


def whole(value: object, where: str, name: str) -> int:
    """``value`` as an int within :data:`LIMITS` [name]; ValueError naming ``where`` otherwise (1.5, "4", True refused)."""
    lo, hi = LIMITS[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}: expected a whole number from {lo} to {hi}, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{where}: expected a whole number from {lo} to {hi}, got {value}")
    return value


class Table:
    """One TOML table being read: typed getters with one-line errors naming file, table and key."""

    def __init__(self, values: object, where: str, allowed: tuple[str, ...] | set[str]) -> None:
        if not isinstance(values, dict):
            raise ValueError(f"{where}: expected a table, got {_kind(values)}")
        self.values, self.where = values, where
        for key in values:
            if key not in allowed:
                near = difflib.get_close_matches(key, list(allowed), n=1)
                hint = f"; did you mean {near[0]!r}?" if near else f"; expected one of {', '.join(sorted(allowed))}"
                raise ValueError(f"{where}: unknown key {key!r}{hint}")

    def at(self, key: str) -> str:
        return f"{self.where}: {key}"

    def text(self, key: str, choices: tuple[str, ...] | None = None) -> str | None:
        value = self.values.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{self.at(key)}: expected a text, got {_kind(value)}")
        if choices is not None and value not in choices:
            raise ValueError(f"{self.at(key)}: expected one of {', '.join(choices)}, got {value!r}")
        return value

    def flag(self, key: str) -> bool | None:
        value = self.values.get(key)
        if value is not None and not isinstance(value, bool):
            raise ValueError(f"{self.at(key)}: expected true or false (no quotes), got {value!r}")
        return value

    def number(self, key: str, positive: bool = False) -> float | None:
        value = self.values.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError(f"{self.at(key)}: expected a finite number, got {value!r}")
        if positive and value <= 0:
            raise ValueError(f"{self.at(key)}: expected a positive number, got {value!r}")
        return float(value)

    def whole(self, key: str, limit: str | None = None) -> int | None:
        value = self.values.get(key)
        return None if value is None else whole(value, self.at(key), limit or key)

    def texts(self, key: str) -> tuple[str, ...] | None:
        value = self.values.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ValueError(f"{self.at(key)}: expected a list of texts, got {value!r}")
        return tuple(value)


def _kind(value: object) -> str:
    return {dict: "a table", list: "a list", str: "a text", bool: "true/false"}.get(type(value), repr(value))


TOP_KEYS = ("data", "model", "models", "preset", "seed", "likelihood", "no_pump", "uncertain", "hierarchical",
            "data_options", "fixed", "conditions", "priors", "g_tot_ns", "chains", "draws", "tune", "sensitivity",
            "out", "solutions", "traces", "epochs", "extract", "design")  # fmt: skip


def load_study(path: str | Path) -> Study:
    """Read and check the study file at ``path`` (ValueError, one line, naming the file and key)."""
    path = Path(path)
    name = str(path)
    if not path.is_file():
        raise ValueError(f"--study: {name}: no such file" if not path.exists() else f"--study: {name}: not a file")
    try:
        raw = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"--study: {name} is not valid TOML ({err})") from None
    top = Table(raw, name, TOP_KEYS)
    models = top.texts("models") or ()
    fittable = fittable_models()
    for model in (top.text("model"), *models):
        if model is not None and model not in fittable:
            raise ValueError(f"{name}: model: expected one of {', '.join(fittable)}, got {model!r}")
    options = Table(raw.get("data_options", {}), f"{name}: data_options", ("error_column", "error_kind", "columns"))
    columns = Table(options.values.get("columns", {}), f"{name}: data_options.columns",
                     ("K_o_mM", "V_m_mV", "cell", "condition", "sem_mV", "sd_mV", "n", "K_i_mM", "Na_o_mM", "Na_i_mM",
                      "Cl_o_mM", "Cl_i_mM", "Ca_o_mM", "temperature_C", "order"))  # fmt: skip
    for key in columns.values:
        columns.text(key)
    priors = Table(raw.get("priors", {}), f"{name}: priors", {*PARAMS, "sigma_mv"})
    for key, spec in priors.values.items():
        prior = Table(spec, f"{name}: priors.{key}", ("median", "log_sd", "mean", "sd"))
        for k in prior.values:
            prior.number(k, positive=k != "mean")
    _check_priors_fitted(priors, _named(top.text("model"), models))
    given = raw.get("conditions", {})
    conditions = Table(given, f"{name}: conditions", set(given) if isinstance(given, dict) else set())
    solutions = _solutions(raw.get("solutions", {}), f"{name}: solutions")
    return Study(
        path=path,
        data=_path(top, "data", path, escape=True),
        model=top.text("model"),
        models=models,
        preset=top.text("preset", tuple(PRESETS)),
        seed=top.whole("seed"),
        likelihood=top.text("likelihood", LIKELIHOODS),
        no_pump=top.flag("no_pump"),
        uncertain=_uncertain(top),
        hierarchical=top.text("hierarchical", HIERARCHY),
        error_column=options.text("error_column"),
        error_kind=options.text("error_kind", ERROR_KINDS),
        columns=MappingProxyType(dict(columns.values)),
        fixed=MappingProxyType(condition_values(raw.get("fixed", {}), f"{name}: fixed", solutions)),
        conditions=MappingProxyType({label: MappingProxyType(condition_values(v, f"{name}: conditions.{label}", solutions))
                                     for label, v in conditions.values.items()}),  # fmt: skip
        solutions=MappingProxyType(solutions),
        traces=_traces(top, path),
        epochs=_path(top, "epochs", path, escape=True),
        extract=MappingProxyType(_extract(raw.get("extract", {}), f"{name}: extract")),
        design=_design(raw["design"], f"{name}: design", path) if "design" in raw else None,
        priors=MappingProxyType({k: MappingProxyType(dict(v)) for k, v in priors.values.items()}),
        g_tot_ns=top.number("g_tot_ns", positive=True),
        chains=top.whole("chains"),
        draws=top.whole("draws"),
        tune=top.whole("tune"),
        sensitivity=_sensitivity(raw["sensitivity"], f"{name}: sensitivity") if "sensitivity" in raw else None,
        out=_path(top, "out", path, escape=False),
    )


def _path(top: Table, key: str, study: Path, escape: bool) -> Path | None:
    """A path key, relative to the study file's folder; ``escape=False``: it may not climb out of that folder."""
    text = top.text(key)
    if text is None:
        return None
    given = Path(text)
    if not escape and not given.is_absolute() and ".." in given.parts:
        raise ValueError(f"{top.at(key)}: {text!r} climbs out of the study's folder; give a path inside it "
                         "(or --out on the command line)")  # fmt: skip
    return given if given.is_absolute() else Path(os.path.normpath(study.parent / given))


def _traces(top: Table, study: Path) -> tuple[Path, ...]:
    """``traces``: paths or glob patterns relative to the study file, each matching at least one file."""
    patterns = top.texts("traces") or ()
    found: list[Path] = []
    for pattern in patterns:
        base = Path(pattern) if Path(pattern).is_absolute() else study.parent / pattern
        matches = sorted(base.parent.glob(base.name)) if any(c in base.name for c in "*?[") else [base]
        matches = [m for m in matches if m.is_file()]
        if not matches:
            raise ValueError(f"{top.at('traces')}: {pattern!r} matches no file (relative to {study.parent})")
        found += [Path(os.path.normpath(m)) for m in matches]
    return tuple(found)


def _extract(values: object, where: str) -> dict:
    t = Table(values, where, ("settle_s", "max_drift", "channel", "include_unsettled"))
    out: dict[str, Any] = {}
    for key in t.values:
        out[key] = (t.flag(key) if key == "include_unsettled" else t.text(key) if key == "channel"
                    else t.number(key, positive=True))  # fmt: skip
    return out


def _design(values: object, where: str, study: Path) -> DesignPlan:
    t = Table(values, where, ("candidates", "targets", "choose", "seed", "exact", "outer", "draws"))
    defaults = DesignPlan()
    counts = {}
    for key, lo in DESIGN_MINIMA.items():
        value = t.values.get(key, getattr(defaults, key))
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            raise ValueError(f"{t.at(key)}: expected a whole number >= {lo}, got {value!r}")
        counts[key] = value
    return DesignPlan(candidates=_path(t, "candidates", study, escape=True), targets=t.texts("targets"),
                      seed=t.whole("seed"), **counts)  # fmt: skip


def _uncertain(top: Table) -> tuple[str, ...] | None:
    names = top.texts("uncertain")
    for n in names or ():
        if n not in PARAMS:
            near = difflib.get_close_matches(n, list(PARAMS), n=1)
            raise ValueError(f"{top.at('uncertain')}: unknown input {n!r}" + (f"; did you mean {near[0]!r}?" if near else ""))
    return names


def condition_values(values: object, where: str, solutions: Mapping[str, Any] | None = None) -> dict:
    """A [fixed] or [conditions.x] table: fixable inputs (temp_c -> temp_k), k_replaces_na, k_o_reference, and
    the condition options (bath, pipette, dialysed, ljp_mv = "auto" | mV | {mean, sd}, zeroed_in, reference =
    "agcl" | "<bridge solution>", cl_i = "passive",
    pump = "blocked", pump_scale, scale = {input = factor}, pump_activation, residual_mM, permeant = {ion = r},
    activities,
    measured_activities = {k_i = mM})."""
    allowed = {*(n for n in fixable_inputs() if n != "temp_k"), "temp_c", "na_o", "cl_o", *CONDITION_OPTIONS,
               *SOLUTION_OPTIONS}  # fmt: skip
    if isinstance(values, dict):
        for key in values:
            if key in FITTED_HERE:
                raise ValueError(f"{where}: {key!r} is fitted; a condition cannot set its value, only scale it "
                                 f"(scale = {{ {key} = 0.5 }}; 0 blocks it; pump = \"blocked\" for the pump)")  # fmt: skip
    table = Table(values, where, allowed)
    out: dict[str, Any] = {}
    for key, value in table.values.items():
        if key in ("k_replaces_na", "dialysed"):
            out[key] = table.flag(key)
        elif key == "temp_c":
            out["temp_k"] = kelvin(table.number(key), table.at(key))
        elif key in ("bath", "pipette", "zeroed_in") or (key == "reference" and value != "agcl"):
            out[key] = table.text(key)
            _check_solution(out[key], solutions or {}, table.at(key))
        elif key == "reference":
            out[key] = value
        elif key in ("k_i", "na_i") and value == "passive":
            raise ValueError(f"{table.at(key)}: \"passive\" is supported for Cl- only: a K+ (or Na+) distribution "
                             "in Donnan equilibrium sets V_m by the cell's fixed anions, which no vrest model has; give "
                             f"{key} in mM, or fit it as uncertain (uncertain = [\"{key}\"])")  # fmt: skip
        elif key == "cl_i" and isinstance(value, str):
            out[key] = table.text(key, ("passive",))
        elif key == "pump":
            out[key] = table.text(key, ("blocked",))
        elif key == "ljp_mv":
            out[key] = _ljp(value, table.at(key))
        elif key == "scale":
            out[key] = _scales(value, table.at(key))
        elif key == "pump_scale":
            out[key] = _factor(value, table.at(key))
        elif key == "pump_activation":
            if isinstance(value, dict):
                sub = Table(value, table.at(key), ("k_half", "na_half", "k_ref", "na_ref"))
                out[key] = {k: sub.number(k, positive=True) for k in sub.values}
            else:
                out[key] = table.flag(key)
        elif key == "activities":
            out[key] = table.flag(key)
        elif key == "permeant":
            out[key] = _permeant(value, table.at(key))
        elif key == "measured_activities":
            sub = Table(value, table.at(key), ("k_i", "na_i", "cl_i", "ca_i"))
            out[key] = {k: sub.number(k, positive=True) for k in sub.values}
        else:
            out[key] = table.number(key, positive=key != "v_half")
    return out


FITTED_HERE = ("pump_mv", "i_pump", "p_na", "p_cl", "g_na", "g_cl")


def _ljp(value: object, where: str) -> str | float | dict:
    """ljp_mv: "auto", a number (mV), or {mean = "auto" | mV, sd = mV} (uncertain: a fitted nuisance)."""
    if value == "auto":
        return value
    if isinstance(value, dict):
        table = Table(value, where, ("mean", "sd"))
        if "mean" not in value or "sd" not in value:
            raise ValueError(f"{where}: an uncertain junction potential needs both mean (\"auto\" or mV) and sd (mV)")
        mean = "auto" if value["mean"] == "auto" else table.number("mean")
        return {"mean": mean, "sd": table.number("sd", positive=True)}
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{where}: expected \"auto\", a number (mV) or {{mean = ..., sd = ...}}, got {_kind(value)}")
    return float(value)


def _scales(value: object, where: str) -> dict[str, float]:
    """scale = {input = factor}: per-condition factors of permeabilities, conductances or the pump (0 blocks)."""
    table = Table(value, where, SCALABLE)
    return {key: _factor(table.values[key], table.at(key)) for key in table.values}


def _permeant(value: object, where: str) -> dict[str, float]:
    """permeant = {ion = r}: substitutes that permeate, r relative to Cl- (anions) or Na+ (cations)."""
    from .solutions import get_ion

    if not isinstance(value, dict) or not value:
        raise ValueError(f"{where}: expected a table {{ion = permeability relative to Cl- or Na+}}, got {_kind(value)}")
    out = {}
    for name, r in value.items():
        try:
            ion = get_ion(name)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        if abs(ion.z) != 1:
            raise ValueError(f"{where}.{name}: valence {ion.z:+d}; only monovalent substitutes are supported")
        out[ion.name] = _factor(r, f"{where}.{name}")
    return out


def _factor(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{where}: expected a factor >= 0 (0 blocks, 1 leaves it as elsewhere), got {value!r}")
    return float(value)


def _check_solution(name: str, solutions: Mapping[str, Any], where: str) -> None:
    from .inference.conditions import solution

    solution(name, solutions, where)


def _solutions(values: object, where: str) -> dict[str, dict]:
    """[solutions.<name>] recipes (salts or ions in mM, and ph / titrated_with), each checked."""
    from .solutions import make_solution

    table = Table(values, where, set(values) if isinstance(values, dict) else set())
    out = {}
    for name, recipe in table.values.items():
        if not isinstance(recipe, dict):
            raise ValueError(f"{where}.{name}: expected a table of salts or ions in mM, got {_kind(recipe)}")
        try:
            imbalance = make_solution(recipe, name).neutrality_message()
        except ValueError as err:
            raise ValueError(f"{where}.{err}") from None
        if imbalance:
            raise ValueError(f"{where}.{name}: {imbalance}")
        out[name] = dict(recipe)
    return out


def _sensitivity(values: object, where: str) -> SensitivityPlan:
    t = Table(values, where, ("model", "scenarios", "n", "seed", "k_o_grid", "second_order", "posterior"))
    grid = t.values.get("k_o_grid")
    if grid is not None and (not isinstance(grid, list) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in grid)):  # fmt: skip
        raise ValueError(f"{t.at('k_o_grid')}: expected a list of K_o values in mM (e.g. [2, 4, 8]), got {grid!r}")
    defaults = SensitivityPlan()
    return SensitivityPlan(
        model=t.text("model"),
        scenarios=t.texts("scenarios") or defaults.scenarios,
        n=t.whole("n") or defaults.n,
        seed=t.whole("seed"),
        k_o_grid=None if grid is None else tuple(float(v) for v in grid),
        second_order=bool(t.flag("second_order")),
        posterior=t.flag("posterior") is not False,
    )


def fit_settings(study: Study | None, model: str, **overrides: Any):
    """:class:`~vrest.inference.fit.FitSettings` for ``model`` from the study, with ``overrides`` (flags) winning.

    ``overrides``: any FitSettings field (None: not given); ``fixed`` is merged over the
    study's ``[fixed]`` (temp_k in K); ``k_replaces_na=True`` sets it for every row.
    """
    from .inference.fit import FitSettings

    study = study or Study()
    given = {k: v for k, v in overrides.items() if v is not None}
    fixed = dict(study.fixed) | given.pop("fixed", {})
    if given.pop("k_replaces_na", False):
        fixed["k_replaces_na"] = True
    named = _named(study.model, study.models)
    pick = lambda key, default: given.pop(key) if key in given else (
        getattr(study, key) if getattr(study, key) is not None else default)  # fmt: skip
    settings = FitSettings(
        model=model,
        seed=pick("seed", 0),
        preset=pick("preset", DEFAULT_PRESET),
        chains=pick("chains", 4),
        draws=pick("draws", None),
        tune=pick("tune", 1000),
        likelihood=pick("likelihood", "normal"),
        no_pump=bool(pick("no_pump", False)),
        fixed=fixed,
        conditions={k: dict(v) for k, v in study.conditions.items()},
        solutions={k: dict(v) for k, v in study.solutions.items()},
        uncertain=tuple(pick("uncertain", ())),
        priors={k: dict(v) for k, v in study.priors.items() if k in prior_names(model) or not named},
        hierarchical=pick("hierarchical", "auto"),
        g_tot_ns=pick("g_tot_ns", None),
        **given,
    )
    return settings
