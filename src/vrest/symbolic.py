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

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.gradient import disconnected_grad
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.graph.replace import clone_replace
from pytensor.link.numba.dispatch.basic import (
    generate_fallback_impl,
    numba_funcify,
    register_funcify_default_op_cache_key,
)

from .api import MultipleSteadyStatesWarning, solve_root
from .models import ForwardModel, call_with, get_model, modifiers
from .models.kir_states import kir_state_of_terms
from .models.rectifying import kir_net_current
from .models.solver import check_branch
from .presets import DEFAULT_PRESET, get_preset


def _implicit_pullback(current_and_slope, inputs: list, v, output_grad) -> list:
    """Gradients of V with respect to ``inputs`` where I(V; inputs) = 0, by the implicit
    function theorem: dV/dx = -(dI/dx)/(dI/dV); ``current_and_slope(v, xs)`` gives
    (I, dI/dV). The partials are taken on stand-ins for the inputs (an input may itself be
    computed from another, e.g. E_lin from g_lin, whose total derivative would count twice)."""
    stand_ins = [x.type() for x in inputs]
    current, slope = current_and_slope(disconnected_grad(v), stand_ins)
    weight = disconnected_grad(-output_grad / slope)
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


@register_funcify_default_op_cache_key(KirStateOp)
def _kir_state_in_numba(op, node=None, **kwargs):
    """KirStateOp in a Numba-compiled function: the kernel called directly (no Python, no
    GIL). The cache-key salt changes with vrest's source (the kernel's own cache key)."""
    import numba

    from .models.kir_kernel import CACHE_KEY, solve_points

    depolarized = op.branch == "depolarized"

    @numba.njit
    def kir_state(e_k, g_max, g_lin, e_lin, i_pump, v_half, k_slope):
        v, count = np.empty(e_k.size), np.empty(e_k.size, np.int64)
        terms = [np.ascontiguousarray(a).ravel() for a in (e_k, g_max, g_lin, e_lin, i_pump, v_half, k_slope)]
        solve_points(terms[0], terms[1], terms[2], terms[3], terms[4], terms[5], terms[6], depolarized, v, count)
        return v.reshape(e_k.shape)

    return kir_state, int(CACHE_KEY[:12], 16)


def symbolic_voltage(model: str, *, preset: str = DEFAULT_PRESET, branch: str = "hyperpolarized", **inputs):
    """V (mV) of ``model`` as a PyTensor expression of the given inputs (tensors or numbers).

    Inputs not given come from the model defaults and the preset, as in
    :func:`vrest.predict`; per-row modifiers (:mod:`vrest.models.modifiers`) are applied as there.
    """
    m = get_model(model)
    inputs, scales, offsets = modifiers.split(m.inputs, inputs)
    unknown = sorted(set(inputs) - set(m.inputs))
    if unknown:
        raise ValueError(f"{unknown[0]}: not an input of model {m.name!r}")
    base = {**get_preset(preset).values(), **m.defaults}
    values = {n: inputs.get(n, base.get(n)) for n in m.inputs if inputs.get(n, base.get(n)) is not None}
    return _state_voltage(m, modifiers.scaled(values, scales), branch) + modifiers.offset(offsets)


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
