"""Compiled NUTS models, one per model structure and process.

Compiling a PyMC model for nutpie takes seconds; sampling a single cell takes less than
a second. A process that fits many data sets (a batch worker, an SBC study) therefore
compiles each structure (:attr:`ModelData.key`) once and swaps each data set's
``pm.Data`` values and start point into the compiled model. A process that fits one
data set compiles the model with its data frozen in, which compiles about twice as fast.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import warnings

import numpy as np

from .pymc_model import ModelData, build_model

_CACHE: dict[tuple, tuple] = {}
_LOCK = threading.Lock()


def trace_names(model) -> list[str]:
    """Variables kept in the trace: the sampled coordinates (not the per-cell eta) and the named deterministics."""
    names = [v.name for v in model.free_RVs if not v.name.startswith("eta_")]
    return names + [d.name for d in model.deterministics]


def compiled_model(spec: ModelData, reuse: bool = True):
    """A nutpie model for ``spec`` (its data and start point swapped in) and the seconds spent compiling (0 if cached).

    ``reuse=False`` compiles a model with the data frozen in as constants and does not
    cache it: about half the compile time of a model with data containers, for a
    process that fits one data set.
    """
    import nutpie

    t0 = time.perf_counter()
    seconds = 0.0
    with _LOCK:
        entry = _CACHE.get(spec.key) if reuse else None
        if entry is None:
            model = build_model(spec)
            if not reuse:
                from pymc.model.transform.optimization import freeze_dims_and_data

                model = freeze_dims_and_data(model, data=list(spec.values))  # and every dim: static shapes
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # numba object mode for the steady-state solver
                compiled = nutpie.compile_pymc_model(model, var_names=trace_names(model))
            entry = (compiled, _layout(model, compiled.shapes))
            if reuse:
                _CACHE[spec.key] = entry
            seconds = time.perf_counter() - t0
    compiled, layout = entry
    used = {var.name for var in compiled.shared_var_keys}  # containers the log-density does not read are absent
    compiled = compiled.with_data(**{k: v for k, v in spec.values.items() if k in used})
    start = _start_function(compiled.initial_point_func, layout, spec.start)
    return dataclasses.replace(compiled, initial_point_func=start), seconds


def _layout(model, shapes: dict[str, tuple]) -> list[tuple[str, slice]]:
    """Where each free variable sits in the flat (unconstrained) parameter vector (``shapes``: nutpie's)."""
    layout, offset = [], 0
    for rv in model.free_RVs:
        name = model.rvs_to_values[rv].name
        size = int(np.prod(shapes[name], dtype=int))
        layout.append((name, slice(offset, offset + size)))
        offset += size
    return layout


def _start_function(default, layout: list[tuple[str, slice]], start: dict):
    """Initial points: ``start`` plus uniform(-1, 1) jitter (PyMC's), other variables as compiled."""

    def initial_point(seed) -> np.ndarray:
        x = np.array(default(seed), dtype=float, copy=True)
        rng = np.random.default_rng(seed)
        for name, where in layout:
            if name in start:
                x[where] = np.ravel(start[name]) + rng.uniform(-1.0, 1.0, where.stop - where.start)
        return x

    return initial_point
