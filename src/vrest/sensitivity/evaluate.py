"""Model runs for a sensitivity analysis: V at many input points, failures counted, never dropped.

Closed forms and monotone fixed points go through :func:`vrest.predict`;
multistable models through the model's own solve (:meth:`ForwardModel.solve`:
its ``stable_state`` hook, e.g. the compiled ``rectifying-kir`` kernel, else the
steady-state scan), which also counts the stable states. Every point gets V (mV) or
NaN with a reason, and the number of stable steady states (where there is more
than one, ``branch`` says which is V). A batch that raises is split in halves
until the failing points are isolated, so one bad point costs only itself.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..api import MultipleSteadyStatesWarning, gradient, predict, resolve_inputs
from ..machine import solver_threads
from ..models import CLOSED_FORM, MULTISTABLE, ForwardModel, get_model
from ..models.solver import SolverError

NON_FINITE = "non-finite V"
NO_STABLE_STATE = "no stable steady state"


@dataclass(frozen=True)
class Evaluation:
    """V (mV; NaN where the run failed), stable states per point, failures by reason."""

    v: np.ndarray
    n_stable: np.ndarray
    failures: Counter

    @property
    def n_failed(self) -> int:
        """Points without a V."""
        return int(np.count_nonzero(~np.isfinite(self.v)))

    @property
    def n_multistable(self) -> int:
        """Points with more than one stable steady state."""
        return int(np.count_nonzero(self.n_stable > 1))


def _run(m: ForwardModel, inputs: dict, n: int, preset: str, branch: str) -> tuple[np.ndarray, np.ndarray]:
    """(V, stable-state count) at n points (inputs: flat arrays of length n or scalars); raises on any bad point."""
    if m.kind == MULTISTABLE:
        _, values = resolve_inputs(m, inputs, preset)
        v, count = m.solve(values, branch)
        return np.broadcast_to(v, (n,)).copy(), np.broadcast_to(count, (n,)).copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MultipleSteadyStatesWarning)
        v = predict(m.name, preset=preset, branch=branch, **inputs)
    return np.broadcast_to(v, (n,)).astype(float), np.ones(n, dtype=int)


def _isolated(m: ForwardModel, inputs: dict, n: int, preset: str, branch: str, failures: Counter):
    """:func:`_run`, splitting a batch that raises until each failing point stands alone.

    A point that raised gets V = NaN, a stable-state count of -1 and its error
    message counted in ``failures``.
    """
    try:
        return _run(m, inputs, n, preset, branch)
    except (ValueError, SolverError) as err:
        if n == 1:
            failures[str(err)] += 1
            return np.array([np.nan]), np.array([-1])
        parts = []
        for part, size in ((slice(None, n // 2), n // 2), (slice(n // 2, None), n - n // 2)):
            sub = {k: a[part] if np.ndim(a) else a for k, a in inputs.items()}
            parts.append(_isolated(m, sub, size, preset, branch, failures))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def evaluate(model: str, inputs: dict, *, preset: str, branch: str) -> Evaluation:
    """V of ``model`` at the inputs (arrays of one shape, or scalars), with failures counted."""
    m = get_model(model)
    solver_threads()  # a bad thread setting is an error here, not a failure of every point below
    shape = np.broadcast_shapes(*(np.shape(a) for a in inputs.values()))
    n = int(np.prod(shape))
    flat = {k: np.broadcast_to(a, shape).ravel() if np.ndim(a) else float(a) for k, a in inputs.items()}
    failures: Counter = Counter()
    if n == 0:
        return Evaluation(np.empty(shape), np.empty(shape, int), failures)
    v, count = _isolated(m, flat, n, preset, branch, failures)
    bad = ~np.isfinite(v)
    failures[NON_FINITE] += int(np.count_nonzero(bad & (count > 0)))
    failures[NO_STABLE_STATE] += int(np.count_nonzero(count == 0))
    v[bad] = np.nan
    count[count < 0] = 0
    return Evaluation(v.reshape(shape), count.reshape(shape), +failures)


def gradient_at(model: str, inputs: dict, v: np.ndarray, *, preset: str, branch: str) -> dict[str, np.ndarray]:
    """dV/dx (mV per unit of x) for every input of ``model`` at points where V = ``v`` is known.

    Fixed points use the implicit function theorem at the given state,
    dV/dx = -(dI/dx)/(dI/dV); closed forms their analytic gradient. NaN where ``v`` is NaN.
    """
    m = get_model(model)
    shape = np.shape(v)
    ok = np.isfinite(v)
    out = {}
    if np.any(ok):
        rows = {k: np.broadcast_to(np.asarray(a, float), shape)[ok] for k, a in inputs.items()}
        if m.kind != CLOSED_FORM:
            _, values = resolve_inputs(m, rows, preset)
            grad = m.implicit_gradient(values, v[ok])
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MultipleSteadyStatesWarning)
                grad = gradient(m.name, preset=preset, branch=branch, **rows)
        for name, g in grad.items():
            out[name] = np.full(shape, np.nan)
            out[name][ok] = np.broadcast_to(g, (int(ok.sum()),))
    return out
