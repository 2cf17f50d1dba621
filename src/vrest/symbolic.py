"""The forward models inside PyTensor graphs (for PyMC), with exact gradients.

Closed-form models are the same formulas as in NumPy, evaluated on tensors. Steady
states of fixed-point models come from :class:`SteadyStateOp`, which runs the
NumPy solver forward (in Python, also inside a Numba-compiled log-density), or,
for ``rectifying-kir``, from :class:`KirStateOp`, whose forward pass is the compiled
kernel of :mod:`vrest.models.kir_kernel`, called from compiled code without Python.
Both differentiate by the implicit function theorem, dV/dx = -(dI/dx)/(dI/dV), with
dI/dx obtained by PyTensor from the very same net-current formula.
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
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

from .api import MultipleSteadyStatesWarning, call_with, solve_root
from .models import ForwardModel, get_model
from .models.kir_states import LUMPED_INPUTS, kir_state_of_terms
from .models.rectifying import kir_lumped_terms, kir_net_current
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
    order of ``names``; the output is V (mV) before any ``pump_mv`` offset.
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

    def pullback(self, inputs, outputs, output_grads):
        def current_and_slope(v, xs):
            return call_with(self.model.current, {"v_mv": v, **dict(zip(self.names, xs, strict=True))})

        return _implicit_pullback(current_and_slope, list(inputs), outputs[0], output_grads[0])


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
    :func:`vrest.predict`.
    """
    m = get_model(model)
    unknown = sorted(set(inputs) - set(m.inputs))
    if unknown:
        raise ValueError(f"{unknown[0]}: not an input of model {m.name!r}")
    base = {**get_preset(preset).values(), **m.defaults}
    values = {n: inputs.get(n, base.get(n)) for n in m.inputs if inputs.get(n, base.get(n)) is not None}
    p_ca = values.get("p_ca", 0.0)
    if m.voltage is not None and not (isinstance(p_ca, pt.Variable) or np.any(np.asarray(p_ca) != 0)):
        return call_with(m.voltage, {k: pt.as_tensor_variable(v, dtype="float64") for k, v in values.items()})
    names = tuple(values)
    tensors = pt.broadcast_arrays(*(pt.as_tensor_variable(values[n], dtype="float64") for n in names))
    if m.name == "rectifying-kir":
        named = dict(zip(names, tensors, strict=True))
        lumped = kir_lumped_terms(**{k: named[k] for k in LUMPED_INPUTS})
        root = KirStateOp(branch)(*lumped, named["i_pump"], named["v_half"], named["k_slope"])
    else:
        root = SteadyStateOp(m.name, names, branch)(*tensors)
    return root - values["pump_mv"] if "pump_mv" in values else root
