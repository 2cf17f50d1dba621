"""Validated NumPy entry points: predict, gradient, branches, steady states, bistable range.

Inputs are keyword arguments named as in :mod:`vrest.parameters` (mM, K, mV, nS,
pA); anything not given comes from the model's defaults and the preparation
preset. Every function broadcasts its inputs (any NumPy shapes) and raises
``ValueError`` naming the offending argument on bad input.
"""

from __future__ import annotations

import warnings

import numpy as np

from .models import BRANCH_VOLTAGES, ForwardModel, call_with, get_model, modifiers
from .models.nernst import nernst_gradient, nernst_mv
from .models.solver import SteadyStates, all_zeros
from .parameters import PARAMS, PUMP_TERMS, check, check_valence
from .presets import DEFAULT_PRESET, get_preset


class MultipleSteadyStatesWarning(UserWarning):
    """More than one stable steady state exists; the solver reports which it returned."""


def resolve_inputs(model: str | ForwardModel, inputs: dict, preset: str = DEFAULT_PRESET) -> tuple[ForwardModel, dict]:
    """(model, validated float arrays for every model input): given > model default > preset.

    Per-row modifiers (:mod:`vrest.models.modifiers`) are accepted: scales are applied, offsets left out."""
    return _resolve(model, inputs, preset)[:2]


def _resolve(model: str | ForwardModel, inputs: dict, preset: str) -> tuple[ForwardModel, dict, dict, dict]:
    """:func:`resolve_inputs`, and the checked scales and the offsets of the modifiers (:func:`modifiers.split`)."""
    m = get_model(model) if isinstance(model, str) else model
    inputs, scales, offsets = modifiers.split(m.inputs, inputs)
    scales = {name: check(f"{name}{modifiers.SUFFIX}", scale) for name, scale in scales.items()}
    unknown = sorted(set(inputs) - set(m.inputs) - set(m.zero_only))
    if unknown:
        raise ValueError(f"{unknown[0]}: not an input of model {m.name!r} (inputs: {', '.join(m.inputs)})")
    for name in m.zero_only:
        if name in inputs and np.any(check(name, inputs[name]) != 0):
            other = [p for p in PUMP_TERMS if p != name and p in m.inputs]
            how = f"takes the pump as {other[0]}" if name in PUMP_TERMS and other else "does not use it"
            raise ValueError(f"{name}: model {m.name!r} {how}, so {name} must be 0")
    base = {**get_preset(preset).values(), **m.defaults}
    values = {}
    for name in m.inputs:
        if name in inputs and inputs[name] is not None:
            values[name] = check(name, inputs[name])
        elif name in base:
            values[name] = np.asarray(base[name], dtype=float)
        elif name not in m.optional:
            raise ValueError(f"{name}: required by model {m.name!r} ({PARAMS[name].unit})")
    return m, modifiers.scaled(values, scales), scales, offsets


def nernst(c_out, c_in, z: int = 1, temp_k=310.15) -> np.ndarray:
    """Nernst potential (mV) of an ion of valence ``z``; concentrations in mM, T in K."""
    check_valence(z)
    return nernst_mv(check("c_out", c_out), check("c_in", c_in), z, check("temp_k", temp_k))


def solve_root(m: ForwardModel, values: dict, branch: str = "hyperpolarized") -> np.ndarray:
    """Zero (mV) of the model's net current (before any pump_mv offset); one per input point.

    ValueError where no state is stable; a :class:`MultipleSteadyStatesWarning` where
    ``branch`` chose between several."""
    v, n_stable = m.solve(values, branch)
    if np.any(n_stable == 0):
        raise ValueError(f"model {m.name!r}: no stable steady state for some inputs")
    multi = np.asarray(n_stable) > 1
    if np.any(multi):
        warnings.warn(
            f"{m.name}: {int(multi.sum())} of {multi.size} points have more than one stable steady state; "
            f"returning the most {branch} one (see steady_states() for all)",
            MultipleSteadyStatesWarning,
            stacklevel=3,
        )
    return v


def predict(model: str, *, preset: str = DEFAULT_PRESET, branch: str = "hyperpolarized", **inputs) -> np.ndarray:
    """Resting potential V (mV) of ``model`` at the (broadcast) inputs.

    For models with several stable steady states the ``branch`` chooses which one
    is returned ("hyperpolarized" or "depolarized"), with a
    :class:`MultipleSteadyStatesWarning` where there is a choice.
    """
    m, values, _, offsets = _resolve(model, inputs, preset)
    shift = modifiers.offset(offsets)
    if m.needs_solver(values):
        return solve_root(m, values, branch) - values.get("pump_mv", 0.0) + shift
    return np.asarray(call_with(m.voltage, values), dtype=float) + shift


def gradient(model: str, *, preset: str = DEFAULT_PRESET, branch: str = "hyperpolarized", **inputs) -> dict[str, np.ndarray]:
    """dV/dx (mV per unit of x) for every named input x of ``model`` (and every offset modifier given), at the
    broadcast inputs.

    Closed-form models use their analytic derivatives; fixed points use the
    implicit function theorem dV/dx = -(dI/dx)/(dI/dV) at the returned state.
    """
    m, values, scales, offsets = _resolve(model, inputs, preset)
    shape = np.broadcast_shapes(*(np.shape(v) for v in values.values()), *(np.shape(w) for _, w in offsets.values()))
    if m.needs_solver(values):
        grad = m.implicit_gradient(values, solve_root(m, values, branch))
    else:
        grad = call_with(m.gradient, values)
        if m.partials is not None and set(m.inputs) - set(grad):  # inputs the closed form leaves out
            root = call_with(m.voltage, values) + values.get("pump_mv", 0.0)
            grad = {**m.implicit_gradient(values, root), **grad}
    grad = modifiers.chain(grad, scales, offsets)
    return {name: np.broadcast_to(np.asarray(grad[name], float), shape).copy()
            for name in (*m.inputs, *offsets) if name in grad}  # fmt: skip


def branches(model: str, *, preset: str = DEFAULT_PRESET, **inputs) -> dict[str, np.ndarray]:
    """Both branches of a multistable model at the (broadcast) inputs: {"lower", "upper": V (mV) of the
    hyperpolarized and depolarized stable state, each continued past the saddle-node where it vanishes by its
    ghost; "ghost_lower", "ghost_upper": V (mV) of those ghosts, the extrema of the net current where each state
    meets its saddle; "margin_lower", "margin_upper": mV, positive exactly where that state exists}. ValueError
    for a model without branches (see the model record's ``branches``)."""
    m, values, _, offsets = _resolve(model, inputs, preset)
    if m.branches is None:
        raise ValueError(f"model: {m.name!r} has no branches (not a multistable model)")
    shape = np.broadcast_shapes(*(np.shape(v) for v in values.values()))
    out = m.branches({k: np.broadcast_to(v, shape) for k, v in values.items()})
    shift = modifiers.offset(offsets)
    return out | {b: out[b] + shift for b in BRANCH_VOLTAGES}


def nernst_gradient_mv(c_out, c_in, z: int = 1, temp_k=310.15) -> dict[str, np.ndarray]:
    """dE/dc_out = RT/(z F c_out), dE/dc_in and dE/dT (mV per mM, mV per K)."""
    check_valence(z)
    return nernst_gradient(check("c_out", c_out), check("c_in", c_in), z, check("temp_k", temp_k))


def steady_states(
    model: str, *, preset: str = DEFAULT_PRESET, v_min: float = -200.0, v_max: float = 100.0, step: float = 1.0, **inputs
) -> SteadyStates:
    """Every zero of the net current on [v_min, v_max] mV, each with its stability."""
    m, values = resolve_inputs(model, inputs, preset)
    if m.current is None:
        raise ValueError(f"model: {m.name!r} has a closed form; steady states need a fixed-point model")
    return all_zeros(m.current, values, v_min, v_max, step)
