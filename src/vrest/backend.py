"""Choose the array namespace for a model formula: NumPy or PyTensor.

Every model formula in :mod:`vrest.models` is written once against a namespace
``xp`` that offers ``exp``, ``expm1``, ``log``, ``abs``, ``where``, ``minimum`` and
``maximum``. Called with NumPy arrays it runs vectorised in NumPy; called with
PyTensor variables (inside a PyMC model) it builds a differentiable graph.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np


def is_symbolic(value: object) -> bool:
    """True for a PyTensor variable (checked without importing PyTensor)."""
    return type(value).__module__.startswith("pytensor")


def known_zero(value: object) -> bool:
    """True where ``value`` is zero everywhere and known to be when a graph is built: a number or array of zeros,
    or a PyTensor constant of zeros (a row-constant input folded into the model), never a free variable."""
    if is_symbolic(value):
        data = getattr(value, "data", None)  # a TensorConstant holds its value
        return data is not None and not np.any(data)
    return not np.any(np.asarray(value))


def namespace(*values: object) -> ModuleType:
    """``pytensor.tensor`` if any value is symbolic, else ``numpy``."""
    if any(is_symbolic(v) for v in values):
        import pytensor.tensor as pt

        return pt
    return np
