"""The forward models inside PyTensor graphs (for PyMC), with exact gradients.

Closed-form models are the same formulas as in NumPy, evaluated on tensors. Steady
states come from the model's ``symbolic_state`` hook or, by default, from
:class:`SteadyStateOp`, which runs the model's NumPy solver forward (in Python, in
Numba's object mode inside a compiled log-density). The ``rectifying-kir`` hook uses
:class:`KirStateOp`, whose forward pass is the compiled kernel of
:mod:`vrest.models.kir_kernel`, called from compiled code without Python. Both
differentiate by the implicit function theorem, dV/dx = -(dI/dx)/(dI/dV), with dI/dx
obtained by PyTensor from the very same net-current formula.

Inside a Numba-compiled function both give NaN where no state is found, never an
exception: an exception raised in object mode inside the compiled log-density's C
callback is not cleared by that callback's ``try``; it leaks out, the callback
reports wrong values (a log-density of 0) and the sampler stays there, printing
IndexErrors without end (issue 16: a hierarchical ``rectifying-ghk`` fit, whose
per-cell pump currents of both signs in one solve raised TypeError).
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType, disconnected_grad
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.graph.replace import clone_replace
from pytensor.link.numba.dispatch.basic import (
    generate_fallback_impl,
    numba_funcify,
    register_funcify_default_op_cache_key,
)

from . import cache as disk_cache
from .api import MultipleSteadyStatesWarning, solve_root
from .models import BRANCH_VOLTAGES, ForwardModel, call_with, get_model, modifiers
from .models.kir_states import branch_margins, kir_branches_of_terms, kir_state_of_terms
from .models.rectifying import kir_curvature, kir_net_current, y2_residual
from .models.solver import check_branch
from .presets import DEFAULT_PRESET, get_preset


def _implicit_pullback(current_and_slope, inputs: list, v, output_grad, mask=None) -> list:
    """Gradients of V with respect to ``inputs`` where I(V; inputs) = 0, by the implicit
    function theorem: dV/dx = -(dI/dx)/(dI/dV); ``current_and_slope(v, xs)`` gives
    (I, dI/dV). The partials are taken on stand-ins for the inputs (an input may itself be
    computed from another, e.g. E_lin from g_lin, whose total derivative would count twice).
    With a boolean ``mask``, only the points where it holds contribute (V solves another
    equation elsewhere, where dI/dV may vanish)."""
    stand_ins = [x.type() for x in inputs]
    current, slope = current_and_slope(disconnected_grad(v), stand_ins)
    if mask is None:
        weight = disconnected_grad(-output_grad / slope)
    else:
        weight = disconnected_grad(pt.where(mask, -output_grad / pt.where(mask, slope, 1.0), 0.0))
    partials = pytensor.grad((weight * current).sum(), wrt=stand_ins, disconnected_inputs="ignore")
    return clone_replace(partials, replace=dict(zip(stand_ins, inputs, strict=True)))


class SteadyStateOp(Op):
    """Zero of a model's net current as a differentiable PyTensor operation.

    Inputs are the model's named inputs (already broadcast to one shape), in the
    order of ``names``; the output is V (mV) before any ``pump_mv`` offset. Run by
    PyTensor in Python it raises where no state is found (SolverError, ValueError);
    inside a Numba-compiled function it gives NaN instead of any exception.
    """

    __props__ = ("model_name", "names", "branch")

    def __init__(self, model_name: str, names: tuple[str, ...], branch: str = "hyperpolarized"):
        self.model_name = model_name
        self.names = names
        self.branch = branch

    @property
    def model(self) -> ForwardModel:
        return get_model(self.model_name)

    def make_node(self, *inputs) -> Apply:
        inputs = [pt.as_tensor_variable(x, dtype="float64") for x in inputs]
        return Apply(self, inputs, [inputs[0].type()])

    def perform(self, node, inputs, output_storage) -> None:
        values = dict(zip(self.names, inputs, strict=True))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MultipleSteadyStatesWarning)
            root = solve_root(self.model, values, self.branch)
        output_storage[0][0] = np.asarray(root, dtype="float64")

    def perform_or_nan(self, node, inputs, output_storage) -> None:
        """:meth:`perform`, with V = NaN everywhere instead of any exception (no state found, or
        a failure of the solver itself): in compiled code no exception may leave object mode."""
        try:
            with np.errstate(all="ignore"):
                self.perform(node, inputs, output_storage)
        except Exception:  # noqa: BLE001 - see the module docstring
            shape = np.broadcast_shapes(*(np.shape(x) for x in inputs))
            output_storage[0][0] = np.full(shape, np.nan)

    def pullback(self, inputs, outputs, output_grads):
        def current_and_slope(v, xs):
            return call_with(self.model.current, {"v_mv": v, **dict(zip(self.names, xs, strict=True))})

        return _implicit_pullback(current_and_slope, list(inputs), outputs[0], output_grads[0])


class _NanOnFailure:
    """A :class:`SteadyStateOp` as Numba's object-mode fallback runs it: NaN, not an exception."""

    def __init__(self, op: SteadyStateOp):
        self.op = op
        self.perform = op.perform_or_nan

    def __str__(self) -> str:
        return str(self.op)


@numba_funcify.register(SteadyStateOp)
def _steady_state_in_numba(op, node=None, **kwargs):
    """SteadyStateOp in a Numba-compiled function: its NumPy solver in object mode (not cached),
    giving NaN where no state is found, so the log-density is NaN there (a rejected point)."""
    return generate_fallback_impl(_NanOnFailure(op), node, **kwargs)


class KirStateOp(Op):
    """The requested stable state (mV) of ``rectifying-kir`` from its lumped terms (e_k,
    g_max, g_lin, e_lin, i_pump, v_half, k_slope; broadcast to one shape; g_lin > 0), as a
    differentiable PyTensor operation. Run by PyTensor in Python, it raises SolverError
    where no state is found; inside a Numba-compiled function it gives NaN there."""

    __props__ = ("branch",)

    def __init__(self, branch: str = "hyperpolarized"):
        check_branch(branch)
        self.branch = branch

    def make_node(self, *terms) -> Apply:
        terms = [pt.as_tensor_variable(x, dtype="float64") for x in terms]
        return Apply(self, terms, [terms[0].type()])

    def perform(self, node, inputs, output_storage) -> None:
        output_storage[0][0] = kir_state_of_terms(list(inputs), self.branch)

    def pullback(self, inputs, outputs, output_grads):
        return _implicit_pullback(lambda v, xs: kir_net_current(v, *xs), list(inputs), outputs[0], output_grads[0])


@cache
def _flat_jit():
    """A compiled function giving a contiguous 1-d view (or copy) of an array, read-only or writable alike (a
    Numba list of a mix of both does not type)."""
    import numba

    return numba.njit(lambda a: np.ascontiguousarray(a).ravel())


@register_funcify_default_op_cache_key(KirStateOp)
def _kir_state_in_numba(op, node=None, **kwargs):
    """KirStateOp in a Numba-compiled function: the kernel called directly (no Python, no
    GIL). The cache-key salt changes with vrest's source (the kernel's own cache key)."""
    import numba

    from .models.kir_kernel import CACHE_KEY, solve_points

    depolarized = op.branch == "depolarized"
    _flat = _flat_jit()

    @numba.njit
    def kir_state(e_k, g_max, g_lin, e_lin, i_pump, v_half, k_slope):
        v, count = np.empty(e_k.size), np.empty(e_k.size, np.int64)
        solve_points(_flat(e_k), _flat(g_max), _flat(g_lin), _flat(e_lin), _flat(i_pump), _flat(v_half),
                     _flat(k_slope), depolarized, v, count)  # fmt: skip
        return v.reshape(e_k.shape)

    return kir_state, int(CACHE_KEY[:12], 16)


class GhkLeakNewtonOp(Op):
    """The Newton iterate u* = V/V_T of ``rectifying-ghk``'s steady state from (a_in, a_out, c) (broadcast to one
    shape): :func:`vrest.models.ghk_leak_kernel.newton_points`. Not differentiated: the model's graph takes one
    exact Newton step from u* (see :func:`vrest.models.rectifying.rectifying_ghk_symbolic_state`). Inside a
    Numba-compiled function the kernel runs without Python."""

    __props__ = ()

    def make_node(self, *terms) -> Apply:
        terms = [pt.as_tensor_variable(x, dtype="float64") for x in terms]
        return Apply(self, terms, [terms[0].type()])

    def perform(self, node, inputs, output_storage) -> None:
        from .models.ghk_leak_kernel import CACHE_KEY, KIND, newton_points

        disk_cache.mark_kernel(CACHE_KEY, KIND)
        flat = [np.ascontiguousarray(a, dtype=float).ravel() for a in np.broadcast_arrays(*inputs)]
        u = np.empty(flat[0].size)
        newton_points(*flat, u)
        output_storage[0][0] = u.reshape(np.shape(inputs[0]))

    def connection_pattern(self, node) -> list:
        return [[False] for _ in node.inputs]

    def pullback(self, inputs, outputs, output_grads):
        return [DisconnectedType()() for _ in inputs]


@register_funcify_default_op_cache_key(GhkLeakNewtonOp)
def _ghk_leak_newton_in_numba(op, node=None, **kwargs):
    """GhkLeakNewtonOp in a Numba-compiled function: the kernel called directly (no Python, no GIL)."""
    import numba

    from .models.ghk_leak_kernel import CACHE_KEY, KIND, newton_points

    disk_cache.mark_kernel(CACHE_KEY, KIND)
    _flat = _flat_jit()

    @numba.njit
    def ghk_leak_newton(a_in, a_out, c):
        u = np.empty(a_in.size)
        newton_points(_flat(a_in), _flat(a_out), _flat(c), u)
        return u.reshape(a_in.shape)

    return ghk_leak_newton, int(CACHE_KEY[:12], 16)


class KirBranchesOp(Op):
    """Both ghost-continued branches of ``rectifying-kir`` and the extrema of its net current, from
    its lumped terms (as :class:`KirStateOp`): outputs (V_lower, V_upper, A, B) in mV, see
    :func:`vrest.models.kir_states.kir_branches_of_terms`. Each output is differentiated by the
    implicit function theorem on the equation it solves at each point: I = 0 for a stable state,
    I' = 0 for an extremum (a ghost of a folded I), and y2's equation for the inflection E_K + y2 (the
    ghost where I has no fold). Inside a Numba-compiled function the kernel runs without Python."""

    __props__ = ()

    def make_node(self, *terms) -> Apply:
        terms = [pt.as_tensor_variable(x, dtype="float64") for x in terms]
        return Apply(self, terms, [terms[0].type() for _ in range(4)])

    def perform(self, node, inputs, output_storage) -> None:
        for storage, value in zip(output_storage, kir_branches_of_terms(list(inputs)), strict=True):
            storage[0] = value

    def pullback(self, inputs, outputs, output_grads):
        lower, upper, a, b = outputs
        g_lower, g_upper, g_a, g_b = (pt.zeros_like(o) if isinstance(g.type, DisconnectedType) else g
                                      for g, o in zip(output_grads, outputs, strict=True))  # fmt: skip
        terms = list(inputs)
        margin_lower, margin_upper = branch_margins(a, b, tuple(terms))
        has_lower, has_upper, folded = margin_lower > 0, margin_upper > 0, b > a
        g_a = g_a + pt.where(has_lower, 0.0, g_lower)  # a ghost is its extremum
        g_b = g_b + pt.where(has_upper, 0.0, g_upper)

        def state(v, xs):
            return kir_net_current(v, *xs)

        def extremum(v, xs):
            return kir_net_current(v, *xs)[1], kir_curvature(v, xs[0], xs[1], xs[5], xs[6])

        def inflection(v, xs):
            return y2_residual(v - xs[0], xs[5], xs[6])

        parts = [
            _implicit_pullback(state, terms, lower, g_lower, has_lower),
            _implicit_pullback(state, terms, upper, g_upper, has_upper),
            _implicit_pullback(extremum, terms, a, g_a, folded),
            _implicit_pullback(extremum, terms, b, g_b, folded),
            _implicit_pullback(inflection, terms, a, g_a + g_b, ~folded),  # a = b there
        ]
        return [sum(p[j] for p in parts) for j in range(len(terms))]


@register_funcify_default_op_cache_key(KirBranchesOp)
def _kir_branches_in_numba(op, node=None, **kwargs):
    """KirBranchesOp in a Numba-compiled function: the kernel called directly (no Python, no GIL)."""
    import numba

    from .models.kir_kernel import CACHE_KEY, branch_points

    _flat = _flat_jit()

    @numba.njit
    def kir_branches(e_k, g_max, g_lin, e_lin, i_pump, v_half, k_slope):
        n = e_k.size
        lower, upper, a, b = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
        branch_points(_flat(e_k), _flat(g_max), _flat(g_lin), _flat(e_lin), _flat(i_pump), _flat(v_half),
                      _flat(k_slope), lower, upper, a, b)  # fmt: skip
        shape = e_k.shape
        return lower.reshape(shape), upper.reshape(shape), a.reshape(shape), b.reshape(shape)

    return kir_branches, int(CACHE_KEY[:12], 16) + 1


def symbolic_voltage(model: str, *, preset: str = DEFAULT_PRESET, branch: str = "hyperpolarized", **inputs):
    """V (mV) of ``model`` as a PyTensor expression of the given inputs (tensors or numbers).

    Inputs not given come from the model defaults and the preset, as in
    :func:`vrest.predict`; per-row modifiers (:mod:`vrest.models.modifiers`) are applied as there.
    """
    m, values, shift = _resolve(model, preset, inputs)
    return _state_voltage(m, values, branch) + shift


def symbolic_branches(model: str, *, preset: str = DEFAULT_PRESET, **inputs) -> dict:
    """Both ghost-continued branches of a multistable ``model`` (its record's ``symbolic_branches``) as
    PyTensor expressions of the given inputs (as :func:`symbolic_voltage`, modifiers included):
    {"lower", "upper": V (mV); "ghost_lower", "ghost_upper": their ghosts (mV); "margin_lower", "margin_upper":
    existence margins (mV)}."""
    m, values, shift = _resolve(model, preset, inputs)
    if m.symbolic_branches is None:
        raise ValueError(f"model: {m.name!r} has no branches (not a multistable model)")
    tensors = pt.broadcast_arrays(*(pt.as_tensor_variable(v, dtype="float64") for v in values.values()))
    out = m.symbolic_branches(dict(zip(values, tensors, strict=True)))
    return out | {b: out[b] + shift for b in BRANCH_VOLTAGES}


def symbolic_leak(model: str, *, preset: str = DEFAULT_PRESET, **inputs) -> tuple:
    """(g_lin, e_lin) of a model's linear leak (its record's ``leak``) as PyTensor expressions of the given inputs
    (as :func:`symbolic_voltage`, scales applied)."""
    m, values, _ = _resolve(model, preset, inputs)
    return m.leak({k: pt.as_tensor_variable(v, dtype="float64") for k, v in values.items()})


def _resolve(model: str, preset: str, inputs: dict) -> tuple[ForwardModel, dict, object]:
    """(the model, its inputs: given, else its defaults, else the preset's, with the per-row scales applied;
    the additive offset of V in mV), unvalidated (tensors allowed)."""
    m = get_model(model)
    inputs, scales, offsets = modifiers.split(m.inputs, inputs)
    unknown = sorted(set(inputs) - set(m.inputs))
    if unknown:
        raise ValueError(f"{unknown[0]}: not an input of model {m.name!r}")
    base = {**get_preset(preset).values(), **m.defaults}
    values = {n: inputs.get(n, base.get(n)) for n in m.inputs if inputs.get(n, base.get(n)) is not None}
    return m, modifiers.scaled(values, scales), modifiers.offset(offsets)


def _state_voltage(m, values: dict, branch: str):
    """V (mV) of model ``m`` at ``values`` (every input given), as a PyTensor expression."""
    if not m.needs_solver(values):
        return call_with(m.voltage, {k: pt.as_tensor_variable(v, dtype="float64") for k, v in values.items()})
    names = tuple(values)
    tensors = pt.broadcast_arrays(*(pt.as_tensor_variable(values[n], dtype="float64") for n in names))
    if m.symbolic_state is not None:
        root = m.symbolic_state(dict(zip(names, tensors, strict=True)), branch)
    else:
        root = SteadyStateOp(m.name, names, branch)(*tensors)
    return root - values["pump_mv"] if "pump_mv" in values else root
