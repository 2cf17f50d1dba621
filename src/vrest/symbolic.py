"""The forward models inside PyTensor graphs (for PyMC), with exact gradients.

Closed-form models are the same formulas as in NumPy, evaluated on tensors. Steady
states of fixed-point models come from :class:`SteadyStateOp`, which runs the
NumPy solver forward and differentiates by the implicit function theorem,
dV/dx = -(dI/dx)/(dI/dV), with dI/dx obtained by PyTensor from the very same
net-current formula.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.gradient import disconnected_grad
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from .api import MultipleSteadyStatesWarning, call_with, solve_root
from .models import ForwardModel, get_model
from .presets import DEFAULT_PRESET, get_preset


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
        v = disconnected_grad(outputs[0])
        current, slope = call_with(self.model.current, {"v_mv": v, **dict(zip(self.names, inputs, strict=True))})
        weight = disconnected_grad(-output_grads[0] / slope)
        return pytensor.grad((weight * current).sum(), wrt=list(inputs), disconnected_inputs="ignore")


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
    root = SteadyStateOp(m.name, names, branch)(*tensors)
    return root - values["pump_mv"] if "pump_mv" in values else root
