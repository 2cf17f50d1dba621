"""Scenarios: which inputs vary (and how), which are fixed, for one model; read from TOML.

A scenario file (bundled presets live in ``vrest/sensitivity/scenarios/*.toml``)::

    name = "my-scenario"        # optional; default: the file name
    title = "..."               # optional
    source = "..."              # where the ranges come from
    model = "ghk"               # optional; the --model flag / model argument wins
    preset = "mammalian_neuron" # preparation for inputs neither varied nor fixed
    extends = "normokalaemia"   # optional: start from a bundled scenario
    k_o_grid = {low = 2.0, high = 8.0, n = 20}   # or a list of K_o (mM): per-K_o indices

    [inputs.k_o]                # names as vrest.PARAMS (temp_c in degrees C is accepted)
    dist = "uniform"            # uniform (low, high), normal (mean, sd),
    low = 2.0                   # truncnorm (mean, sd, low, high), lognormal (median, sigma_log)
    high = 3.5
    source = "..."              # optional, per input
    group = "intracellular"     # optional: inputs of one group form one Sobol factor

    [fixed]
    k_i = 140.0

    [models.rectifying-kir.inputs.g_na]   # inputs and fixed values for one model only
    dist = "uniform"
    ...

Inputs neither varied nor fixed take the model default or the preset value, as in
:func:`vrest.predict`. With ``extends``, the tables of the child replace those of the
parent input by input. Every error names the file and the key.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from types import MappingProxyType

import numpy as np

from ..constants import ZERO_CELSIUS_K
from ..models import MODELS, get_model
from ..parameters import PARAMS, check
from ..presets import DEFAULT_PRESET, get_preset
from .distributions import Distribution, LogNormal, Normal, parse_distribution

ALIASES = {"hypokalemia": "hypokalaemia", "normokalemia": "normokalaemia", "hyperkalemia": "hyperkalaemia"}
"""US spellings of the bundled scenario names."""

TOP_KEYS = ("name", "title", "source", "model", "preset", "extends", "k_o_grid", "inputs", "fixed", "models")
TAIL = 1e-9
"""Unbounded laws must keep their central 1 - 2 TAIL probability inside an input's valid values."""


@dataclass(frozen=True)
class VariedInput:
    """One input drawn from a distribution (name as in vrest.PARAMS, units there)."""

    name: str
    dist: Distribution
    source: str = ""
    group: str = ""

    @property
    def factor(self) -> str:
        """The Sobol factor this input belongs to: its group, or itself."""
        return self.group or self.name


def factor_structure(inputs: tuple[VariedInput, ...]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """(factor name, indices into ``inputs``) in order of first appearance (SALib's group order)."""
    order: dict[str, list[int]] = {}
    for i, x in enumerate(inputs):
        order.setdefault(x.factor, []).append(i)
    return tuple((name, tuple(cols)) for name, cols in order.items())


@dataclass(frozen=True)
class Scenario:
    """Input distributions and constants for one model, with where they come from."""

    name: str
    model: str
    inputs: tuple[VariedInput, ...]
    fixed: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    preset: str = DEFAULT_PRESET
    k_o_grid: tuple[float, ...] = ()
    title: str = ""
    source: str = ""
    origin: str = ""

    def without(self, name: str) -> Scenario:
        """The scenario with input ``name`` no longer varied (e.g. K_o set per level)."""
        return replace(self, inputs=tuple(x for x in self.inputs if x.name != name))

    def describe(self) -> dict:
        """JSON-ready description (distributions with their parameters and sources)."""
        return {
            "name": self.name,
            "title": self.title,
            "source": self.source,
            "origin": self.origin,
            "model": self.model,
            "preset": self.preset,
            "inputs": [
                {"name": x.name, **x.dist.describe(), "group": x.group, "source": x.source} for x in self.inputs
            ],
            "fixed": dict(self.fixed),
            "k_o_grid_mM": list(self.k_o_grid),
        }


def bundled_names() -> list[str]:
    """Names of the bundled scenario presets."""
    return sorted(
        p.name[:-5] for p in resources.files(__package__).joinpath("scenarios").iterdir() if p.name.endswith(".toml")
    )


def _canonical(name: str) -> str:
    key = name.strip().lower().replace("_", "-")
    return ALIASES.get(key, key)


def _bundled_table(name: str, where: str) -> dict:
    key = _canonical(name)
    if key not in bundled_names():
        aliases = ", ".join(ALIASES)
        raise ValueError(f"{where}: expected one of {', '.join(bundled_names())} (or {aliases}), got {name!r}")
    return tomllib.loads(resources.files(__package__).joinpath("scenarios", f"{key}.toml").read_text())


def bundled_scenario(name: str, model: str | None = None) -> Scenario:
    """A bundled scenario preset (US spellings accepted) for ``model`` (default: the file's)."""
    table = _bundled_table(name, "scenario")
    return scenario_from_table(table, model, where=f"scenario {_canonical(name)!r}", default_name=_canonical(name))


def scenario_file(path: str | Path, model: str | None = None) -> Scenario:
    """A scenario from a TOML file; errors name the file and the key."""
    path = Path(path)
    try:
        table = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: no such scenario file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: cannot read the scenario file ({err})") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML ({err})") from None
    return scenario_from_table(table, model, where=str(path), default_name=path.stem)


def _merge(parent: dict, child: dict) -> dict:
    """``child`` over ``parent``: input and fixed tables merge name by name, other keys are replaced."""
    out = {k: v for k, v in parent.items() if k not in ("name", "extends")}
    for key, value in child.items():
        if key in ("inputs", "fixed") and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        elif key == "models" and isinstance(value, dict) and isinstance(out.get(key), dict):
            models = dict(out[key])
            for m, section in value.items():
                models[m] = _merge(models.get(m, {}), section) if isinstance(section, dict) else section
            out[key] = models
        else:
            out[key] = value
    return out


def _resolve_extends(table: dict, where: str, seen: tuple[str, ...] = ()) -> dict:
    """``table`` merged over the bundled scenario it extends (recursively; ``seen``: parents so far)."""
    parent_name = table.get("extends")
    if parent_name is None:
        return table
    if not isinstance(parent_name, str):
        raise ValueError(f"{where}: extends: expected the name of a bundled scenario, got {parent_name!r}")
    if _canonical(parent_name) in seen:
        raise ValueError(f"{where}: extends: {parent_name!r} extends itself (a cycle)")
    parent = _bundled_table(parent_name, f"{where}: extends")
    return _merge(_resolve_extends(parent, where, (*seen, _canonical(parent_name))), table)


def _text(where: str, key: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where}: {key}: expected a string, got {value!r}")
    return value


def scenario_from_table(
    table: dict, model: str | None = None, *, where: str = "scenario", default_name: str = "scenario"
) -> Scenario:
    """A validated :class:`Scenario` from a parsed TOML table; ``model`` overrides its ``model`` key."""
    unknown = sorted(set(table) - set(TOP_KEYS))
    if unknown:
        raise ValueError(f"{where}: {unknown[0]}: unknown key (expected {', '.join(TOP_KEYS)})")
    table = _resolve_extends(table, where)
    model_name = model if model is not None else table.get("model")
    if model_name is None:
        raise ValueError(f'{where}: model: no model given (use --model or model = "..." in the scenario)')
    try:
        m = get_model(_text(where, "model", model_name))
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    raw_inputs, raw_fixed = _for_model(table, m, where)
    inputs = tuple(_varied(key, spec, m, where) for key, spec in raw_inputs.items())
    if not inputs:
        raise ValueError(f"{where}: inputs: no input varies (add an [inputs.<name>] table)")
    fixed = {}
    for key, value in raw_fixed.items():
        name, number = _fixed(key, value, m, where)
        if name in m.inputs:
            fixed[name] = number
    names = [x.name for x in inputs]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"{where}: inputs.{name}: given twice (temp_c and temp_k?)")
        if name in fixed:
            raise ValueError(f"{where}: fixed.{name}: also varied under [inputs.{name}]")
    for x in inputs:
        if x.group and x.group in PARAMS:
            raise ValueError(f"{where}: inputs.{x.name}.group: {x.group!r} is an input name; choose another group name")
    preset = table.get("preset", DEFAULT_PRESET)
    try:
        get_preset(_text(where, "preset", preset))
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    return Scenario(
        name=_text(where, "name", table.get("name", default_name)),
        model=m.name,
        inputs=inputs,
        fixed=MappingProxyType(fixed),
        preset=preset,
        k_o_grid=parse_k_o_grid(table.get("k_o_grid", []), f"{where}: k_o_grid"),
        title=_text(where, "title", table.get("title", "")),
        source=_text(where, "source", table.get("source", "")),
        origin=where,
    )


def _for_model(table: dict, m, where: str) -> tuple[dict, dict]:
    """(input tables, fixed values) for model ``m``: the common ones, overridden by [models.<m>.*]."""
    sections = table.get("models", {})
    if not isinstance(sections, dict):
        raise ValueError(f"{where}: models: expected tables [models.<model>.inputs] / [models.<model>.fixed]")
    for name, section in sections.items():
        try:
            get_model(name)
        except ValueError:
            raise ValueError(f"{where}: models.{name}: not a model (models: {', '.join(MODELS)})") from None
        extra = sorted(set(section) - {"inputs", "fixed"}) if isinstance(section, dict) else ["(not a table)"]
        if extra:
            raise ValueError(f"{where}: models.{name}.{extra[0]}: expected only inputs and fixed tables")
        for kind in ("inputs", "fixed"):  # names in other models' sections must still be real inputs
            for key in _table(section, kind, where):
                _input_name(key, f"{where}: models.{name}.{kind}.{key}")
    own = sections.get(m.name, {})
    inputs = {**_table(table, "inputs", where), **_table(own, "inputs", f"{where}: models.{m.name}")}
    fixed = {**_table(table, "fixed", where), **_table(own, "fixed", f"{where}: models.{m.name}")}
    return inputs, fixed


def _fixed(key: str, value: object, m, where: str) -> tuple[str, float]:
    """(API name, value in API units) of a [fixed] entry; a pump the model takes otherwise may only be 0."""
    here = f"{where}: fixed.{key}"
    name, offset = _input_name(key, here)
    _belongs(name, m, here, allow_zero_only=True)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{here}: expected a number, got {value!r}")
    try:
        check(name, value + offset)
    except ValueError as err:
        raise ValueError(f"{here}: {_after_name(err)}") from None
    if name not in m.inputs and value != 0:
        raise ValueError(f"{here}: model {m.name!r} takes no {name} (only 0)")
    return name, float(value + offset)


def _table(parent: dict, key: str, where: str) -> dict:
    value = parent.get(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"{where}: {key}: expected a table ([{key}] or [{key}.<name>])")
    return value


def _after_name(err: ValueError) -> str:
    """The message of a vrest input error without its leading 'name:'."""
    return str(err).split(":", 1)[-1].strip()


def _input_name(key: str, where: str) -> tuple[str, float]:
    """(API name, offset added to values): temp_c -> (temp_k, 273.15)."""
    if key == "temp_c":
        return "temp_k", ZERO_CELSIUS_K
    if key not in PARAMS:
        raise ValueError(f"{where}: unknown input (known: {', '.join(PARAMS)}, temp_c)")
    return key, 0.0


def _belongs(name: str, m, where: str, allow_zero_only: bool = False) -> None:
    if name in m.inputs or (allow_zero_only and name in m.zero_only):
        return
    raise ValueError(f"{where}: not an input of model {m.name!r} (its inputs: {', '.join(m.inputs)})")


def _varied(key: str, spec: object, m, where: str) -> VariedInput:
    here = f"{where}: inputs.{key}"
    if not isinstance(spec, dict):
        raise ValueError(f'{here}: expected a table with dist = "uniform" and its parameters')
    name, offset = _input_name(key, here)
    _belongs(name, m, here)
    dist = parse_distribution(here, spec)
    if offset:
        try:
            dist = dist.shifted(offset)
        except ValueError:
            raise ValueError(f"{here}: a lognormal in degrees C is not a lognormal in K; vary temp_k instead") from None
    unbounded = isinstance(dist, Normal | LogNormal)
    ends = dist.ppf(np.array([TAIL, 1.0 - TAIL])) if unbounded else np.array([dist.low, dist.high])
    for end in ends:
        try:
            check(name, end)
        except ValueError:
            within = (
                f" inside its {TAIL:g} and {1 - TAIL:g} quantiles (use truncnorm or lognormal)" if unbounded else ""
            )
            raise ValueError(
                f"{here}: {dist.name} reaches {end - offset:g}{within}, but {name} must be {PARAMS[name].kind.value}"
            ) from None
    return VariedInput(
        name, dist, _text(here, "source", spec.get("source", "")), _text(here, "group", spec.get("group", ""))
    )


def parse_k_o_grid(spec: object, where: str) -> tuple[float, ...]:
    """K_o levels (mM, sorted): a list of values or {low, high, n} (n evenly spaced from low to high)."""
    if isinstance(spec, dict):
        extra = sorted(set(spec) - {"low", "high", "n"})
        if extra or not {"low", "high", "n"} <= set(spec):
            raise ValueError(f"{where}: expected a list of K_o (mM) or {{low = ..., high = ..., n = ...}}")
        n = spec["n"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"{where}.n: expected a positive integer, got {n!r}")
        if (
            not isinstance(spec["low"], int | float)
            or not isinstance(spec["high"], int | float)
            or not spec["low"] <= spec["high"]
        ):
            raise ValueError(f"{where}: expected low <= high, got {spec['low']!r} and {spec['high']!r}")
        values = list(np.linspace(spec["low"], spec["high"], n))
    elif isinstance(spec, list | tuple):
        values = list(spec)
    else:
        raise ValueError(f"{where}: expected a list of K_o (mM) or {{low = ..., high = ..., n = ...}}, got {spec!r}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float | np.floating) or not math.isfinite(v) or v <= 0:
            raise ValueError(f"{where}: expected positive, finite K_o values (mM), got {v!r}")
    return tuple(sorted({float(v) for v in values}))
