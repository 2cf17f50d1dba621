"""Validated NumPy entry points: predict, gradient, steady states, bistable range.

Inputs are keyword arguments named as in :mod:`vrest.parameters` (mM, K, mV, nS,
pA); anything not given comes from the model's defaults and the preparation
preset. Every function broadcasts its inputs (any NumPy shapes) and raises
``ValueError`` naming the offending argument on bad input.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable

import numpy as np

from .models import ForwardModel, get_model
from .models.nernst import nernst_gradient, nernst_mv
from .models.solver import SteadyStates, all_zeros, check_branch, solve_increasing
from .parameters import PARAMS, check, check_valence
from .presets import DEFAULT_PRESET, get_preset


class MultipleSteadyStatesWarning(UserWarning):
    """More than one stable steady state exists; the solver reports which it returned."""


def resolve_inputs(model: str | ForwardModel, inputs: dict, preset: str = DEFAULT_PRESET) -> tuple[ForwardModel, dict]:
    """(model, validated float arrays for every model input): given > model default > preset."""
    m = get_model(model) if isinstance(model, str) else model
    unknown = sorted(set(inputs) - set(m.inputs) - set(m.zero_only))
    if unknown:
        raise ValueError(f"{unknown[0]}: not an input of model {m.name!r} (inputs: {', '.join(m.inputs)})")
    for name in m.zero_only:
        if name in inputs and np.any(check(name, inputs[name]) != 0):
            other = "i_pump" if name == "pump_mv" else "pump_mv"
            raise ValueError(f"{name}: model {m.name!r} takes the pump as {other}, so {name} must be 0")
    base = {**get_preset(preset).values(), **m.defaults}
    values = {}
    for name in m.inputs:
        if name in inputs and inputs[name] is not None:
            values[name] = check(name, inputs[name])
        elif name in base:
            values[name] = np.asarray(base[name], dtype=float)
        elif name not in m.optional:
            raise ValueError(f"{name}: required by model {m.name!r} ({PARAMS[name].unit})")
    return m, values


def nernst(c_out, c_in, z: int = 1, temp_k=310.15) -> np.ndarray:
    """Nernst potential (mV) of an ion of valence ``z``; concentrations in mM, T in K."""
    check_valence(z)
    return nernst_mv(check("c_out", c_out), check("c_in", c_in), z, check("temp_k", temp_k))


def call_with(fn: Callable, values: dict):
    """Call ``fn`` with the entries of ``values`` that it takes as parameters."""
    params = inspect.signature(fn).parameters
    return fn(**{k: v for k, v in values.items() if k in params})


def solve_root(m: ForwardModel, values: dict, branch: str = "hyperpolarized") -> np.ndarray:
    """Zero (mV) of the model's net current (before any pump_mv offset); one per input point."""
    if m.newton_setup is not None:
        return solve_increasing(m.newton_setup, values)
    check_branch(branch)
    if m.stable_state is not None and np.all(values["g_na"] + values["g_cl"] > 0):
        v, n_stable = m.stable_state(values, branch)
        _warn_if_several(m, np.asarray(n_stable), branch)
        return v
    lo, hi, step = m.bounds(**values)
    return _pick_branch(m, all_zeros(m.current, values, lo, hi, step), branch)


def _warn_if_several(m: ForwardModel, n_stable: np.ndarray, branch: str) -> None:
    multi = n_stable > 1
    if np.any(multi):
        warnings.warn(
            f"{m.name}: {int(multi.sum())} of {multi.size} points have more than one stable steady state; "
            f"returning the most {branch} one (see steady_states() for all)",
            MultipleSteadyStatesWarning,
            stacklevel=4,
        )


def _pick_branch(m: ForwardModel, states: SteadyStates, branch: str) -> np.ndarray:
    v = np.where(states.stable, states.v_mv, np.nan)
    if np.any(states.n_stable == 0):
        raise ValueError(f"model {m.name!r}: no stable steady state for some inputs")
    _warn_if_several(m, states.n_stable, branch)
    return np.nanmin(v, axis=-1) if branch == "hyperpolarized" else np.nanmax(v, axis=-1)


def predict(model: str, *, preset: str = DEFAULT_PRESET, branch: str = "hyperpolarized", **inputs) -> np.ndarray:
    """Resting potential V (mV) of ``model`` at the (broadcast) inputs.

    For models with several stable steady states the ``branch`` chooses which one
    is returned ("hyperpolarized" or "depolarized"), with a
    :class:`MultipleSteadyStatesWarning` where there is a choice.
    """
    m, values = resolve_inputs(model, inputs, preset)
    if m.needs_solver(values):
        return solve_root(m, values, branch) - values.get("pump_mv", 0.0)
    return np.asarray(call_with(m.voltage, values), dtype=float)


def gradient(model: str, *, preset: str = DEFAULT_PRESET, branch: str = "hyperpolarized", **inputs) -> dict[str, np.ndarray]:
    """dV/dx (mV per unit of x) for every named input x of ``model``, at the broadcast inputs.

    Closed-form models use their analytic derivatives; fixed points use the
    implicit function theorem dV/dx = -(dI/dx)/(dI/dV) at the returned state.
    """
    m, values = resolve_inputs(model, inputs, preset)
    shape = np.broadcast_shapes(*(np.shape(v) for v in values.values()))
    if m.needs_solver(values):
        grad = _implicit_gradient(m, values, solve_root(m, values, branch))
    else:
        grad = call_with(m.gradient, values)
        if m.partials is not None and set(m.inputs) - set(grad):  # GHK: the Ca2+ inputs at p_ca = 0
            root = call_with(m.voltage, values) + values.get("pump_mv", 0.0)
            grad = {**_implicit_gradient(m, values, root), **grad}
    return {name: np.broadcast_to(np.asarray(grad[name], float), shape).copy() for name in m.inputs if name in grad}


def _implicit_gradient(m: ForwardModel, values: dict, root: np.ndarray) -> dict:
    """dV/dx = -(dI/dx)/(dI/dV) at the zero ``root`` of the net current; pump_mv shifts V by -1."""
    p = m.partials(root, **values)
    grad = {name: -p[name] / p["v"] for name in m.inputs if name in p}
    if "pump_mv" in values:
        grad["pump_mv"] = -1.0
    return grad


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
