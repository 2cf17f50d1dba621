"""Bistable [K+]_o range of a fixed-point model: where two stable steady states coexist.

The bounds are saddle-node (fold) points, where a stable and the unstable state
merge. They are located by bisection in K_o on the number of stable states, which
:func:`vrest.models.solver.all_zeros` counts exactly up to the fold because it
splits every grid cell at the extremum of I(V).
"""

from __future__ import annotations

import numpy as np

from .api import resolve_inputs
from .models.solver import all_zeros
from .presets import DEFAULT_PRESET

K_O_TOL_REL = 1e-9


def _n_stable(m, values: dict, k_o: np.ndarray, v_min: float, v_max: float, step: float) -> np.ndarray:
    return all_zeros(m.current, {**values, "k_o": k_o}, v_min, v_max, step).n_stable


def bistable_range(
    model: str,
    k_o_min: float = 0.5,
    k_o_max: float = 20.0,
    *,
    preset: str = DEFAULT_PRESET,
    n_scan: int = 200,
    v_min: float = -200.0,
    v_max: float = 100.0,
    step: float = 1.0,
    **inputs,
) -> list[tuple[float, float]]:
    """Intervals (K_o low, K_o high) in mM where >= 2 stable states exist, within [k_o_min, k_o_max].

    Scalar inputs only (other than K_o). An interval that reaches a scan end is
    reported with that end as its bound.
    """
    if not 0 < k_o_min < k_o_max:
        raise ValueError(f"k_o range: expected 0 < k_o_min < k_o_max, got {k_o_min:g}..{k_o_max:g} mM")
    m, values = resolve_inputs(model, {**inputs, "k_o": k_o_min}, preset)
    if m.current is None or m.newton_setup is not None:
        return []  # closed-form and monotone models have a single steady state
    if any(np.size(v) != 1 for v in values.values()):
        raise ValueError("bistable_range: inputs other than k_o must be scalars")
    values = {k: float(v) for k, v in values.items() if k != "k_o"}
    grid = np.geomspace(k_o_min, k_o_max, n_scan)
    multi = _n_stable(m, values, grid, v_min, v_max, step) >= 2
    edges = np.nonzero(multi[:-1] != multi[1:])[0]
    lo, hi = grid[edges], grid[edges + 1]
    lo_multi = multi[edges]
    while lo.size and np.max(hi / lo - 1.0) > K_O_TOL_REL:
        mid = np.sqrt(lo * hi)
        mid_multi = _n_stable(m, values, mid, v_min, v_max, step) >= 2
        same = mid_multi == lo_multi
        lo, hi = np.where(same, mid, lo), np.where(same, hi, mid)
    bounds = list(np.sqrt(lo * hi))
    if multi[0]:
        bounds.insert(0, k_o_min)
    if multi[-1]:
        bounds.append(k_o_max)
    return [(float(a), float(b)) for a, b in zip(bounds[0::2], bounds[1::2], strict=True)]
