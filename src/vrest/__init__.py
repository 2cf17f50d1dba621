"""vrest: resting membrane potential models, derivatives and steady states.

Quick use::

    import vrest
    vrest.predict("ghk", k_o=[2.5, 5.4, 8.0])          # mV, mammalian-neuron preset
    vrest.gradient("rectifying-kir", k_o=5.4)["k_o"]     # dV/dK_o, mV/mM
    vrest.steady_states("rectifying-kir", k_o=3.5)       # every zero of I(V), with stability
"""

from .api import (
    MultipleSteadyStatesWarning,
    gradient,
    nernst,
    nernst_gradient_mv,
    predict,
    resolve_inputs,
    steady_states,
)
from .bistability import bistable_range
from .models import MODELS, ForwardModel, get_model
from .models.solver import SolverError, SteadyStates
from .parameters import PARAMS, OutOfRangeWarning
from .presets import DEFAULT_PRESET, PRESETS, get_preset

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_PRESET",
    "MODELS",
    "PARAMS",
    "PRESETS",
    "ForwardModel",
    "MultipleSteadyStatesWarning",
    "OutOfRangeWarning",
    "SolverError",
    "SteadyStates",
    "bistable_range",
    "get_model",
    "get_preset",
    "gradient",
    "nernst",
    "nernst_gradient_mv",
    "predict",
    "resolve_inputs",
    "steady_states",
]
