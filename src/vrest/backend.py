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


def namespace(*values: object) -> ModuleType:
    """``pytensor.tensor`` if any value is symbolic, else ``numpy``."""
    if any(is_symbolic(v) for v in values):
        import pytensor.tensor as pt

        return pt
    return np
