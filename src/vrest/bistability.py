"""Bistable [K+]_o range of a fixed-point model: where two stable steady states coexist.

The bounds are saddle-node (fold) points, where a stable and the unstable state
merge. They are located by bisection in K_o on the number of stable states, which
:func:`vrest.models.solver.all_zeros` counts exactly up to the fold because it
splits every grid cell at the extremum of I(V).

:func:`bistable_ranges` is the one implementation, vectorised over parameter sets
(e.g. posterior draws); :func:`bistable_range` is its single-set form.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from .api import resolve_inputs
from .models import MULTISTABLE, ForwardModel, get_model
from .models.solver import all_zeros
from .presets import DEFAULT_PRESET

K_O_SCAN_MM = (0.5, 20.0)
N_SCAN = 200
"""Default K_o range (mM) searched for bistability and its number of (geometrically spaced) scan levels:
a range narrower than the scan spacing (about 2 %) can be missed."""

K_O_TOL_REL = 1e-9
"""Default relative tolerance to which each bound is bisected in K_o."""

Intervals = list[tuple[float, float]]
"""(K_o low, K_o high) pairs (mM), in increasing K_o."""

AtKo = Callable[[np.ndarray], dict[str, ArrayLike]]
"""Inputs at K_o (mM, any shape), ``k_o`` itself included, each broadcastable to its shape."""


def can_be_bistable(model: str | ForwardModel) -> bool:
    """Whether ``model`` can have two stable states: its kind is "multistable"."""
    m = get_model(model) if isinstance(model, str) else model
    return m.kind == MULTISTABLE


def is_multistable(
    model: str | ForwardModel, inputs: dict[str, ArrayLike], preset: str = DEFAULT_PRESET, *,
    v_min: float = -200.0, v_max: float = 100.0, step: float = 1.0,
) -> np.ndarray:  # fmt: skip
    """Whether >= 2 stable states exist in [v_min, v_max] (mV, scanned by ``step``), at broadcast inputs."""
    m, values = resolve_inputs(model, inputs, preset)
    return all_zeros(m.current, values, v_min, v_max, step).n_stable >= 2


def _k_o_only(k_o: np.ndarray) -> dict[str, ArrayLike]:
    """No input depends on K_o (mM) but K_o itself."""
    return {"k_o": k_o}


def bistable_ranges(
    model: str,
    inputs: dict[str, ArrayLike],
    k_o_min: float = K_O_SCAN_MM[0],
    k_o_max: float = K_O_SCAN_MM[1],
    *,
    at_k_o: AtKo = _k_o_only,
    preset: str = DEFAULT_PRESET,
    n_scan: int = N_SCAN,
    rel_tol: float = K_O_TOL_REL,
    v_min: float = -200.0,
    v_max: float = 100.0,
    step: float = 1.0,
) -> list[Intervals]:
    """Per parameter set, the intervals of K_o (mM) in [k_o_min, k_o_max] where >= 2 stable states exist.

    ``inputs``: scalars or 1-D arrays over parameter sets (a scalar-only dict is one set).
    ``at_k_o``: the inputs that depend on K_o, the same for every set, including ``k_o``
    (default: K_o only); they override ``inputs``. K_o is scanned at ``n_scan`` geometrically spaced levels (a range
    narrower than their spacing can be missed), then every bound is bisected to ``rel_tol``
    (relative). An interval that reaches a scan end is reported with that end as its bound.
    """
    if not 0 < k_o_min < k_o_max:
        raise ValueError(f"k_o range: expected 0 < k_o_min < k_o_max, got {k_o_min:g}..{k_o_max:g} mM")
    sets, n_sets = _parameter_sets(inputs)

    def multistable(rows: np.ndarray, k_o: np.ndarray) -> np.ndarray:
        values = {**{k: v[rows] for k, v in sets.items()}, **at_k_o(k_o)}
        return is_multistable(model, values, preset, v_min=v_min, v_max=v_max, step=step)

    m, _ = resolve_inputs(model, {**sets, **at_k_o(np.array(k_o_min))}, preset)  # validates before any early return
    if not can_be_bistable(m):
        return [[] for _ in range(n_sets)]
    grid = np.geomspace(k_o_min, k_o_max, n_scan)
    multi = multistable(np.arange(n_sets)[:, None], grid[None, :])  # (sets, levels)
    row, col = np.nonzero(multi[:, :-1] != multi[:, 1:])
    lo, hi = _bisect(multistable, row, grid[col], grid[col + 1], multi[row, col], rel_tol)
    return [_set_intervals(np.sqrt(lo * hi)[row == i], multi[i], k_o_min, k_o_max) for i in range(n_sets)]


def _parameter_sets(inputs: dict[str, ArrayLike]) -> tuple[dict[str, np.ndarray], int]:
    """``inputs`` (None: not given) as float arrays of one common length, and that number of parameter sets."""
    arrays = {k: np.asarray(v, dtype=float) for k, v in inputs.items() if v is not None}
    shape = np.broadcast_shapes((1,), *(a.shape for a in arrays.values()))
    if len(shape) != 1:
        raise ValueError(f"bistable range: inputs must be scalars or 1-D over parameter sets, got shape {shape}")
    return {k: np.broadcast_to(a, shape) for k, a in arrays.items()}, shape[0]


def _bisect(
    multistable: Callable[[np.ndarray, np.ndarray], np.ndarray],
    row: np.ndarray, lo: np.ndarray, hi: np.ndarray, lo_multi: np.ndarray, rel_tol: float,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Brackets [lo, hi] (K_o, mM) of parameter sets ``row``, narrowed geometrically until hi/lo - 1 <= rel_tol
    around the change of ``multistable(row, k_o)``; ``lo_multi``: its value at ``lo``."""
    while lo.size and np.max(hi / lo - 1.0) > rel_tol:
        mid = np.sqrt(lo * hi)
        same = multistable(row, mid) == lo_multi
        lo, hi = np.where(same, mid, lo), np.where(same, hi, mid)
    return lo, hi


def _set_intervals(changes: np.ndarray, multi: np.ndarray, k_o_min: float, k_o_max: float) -> Intervals:
    """One set's intervals from its K_o (mM) of state-count changes and its scan's multistable flags."""
    bounds = [k_o_min] * bool(multi[0]) + [float(k) for k in changes] + [k_o_max] * bool(multi[-1])
    return list(zip(bounds[0::2], bounds[1::2], strict=True))


def bistable_range(
    model: str,
    k_o_min: float = K_O_SCAN_MM[0],
    k_o_max: float = K_O_SCAN_MM[1],
    *,
    preset: str = DEFAULT_PRESET,
    n_scan: int = N_SCAN,
    v_min: float = -200.0,
    v_max: float = 100.0,
    step: float = 1.0,
    **inputs,
) -> Intervals:
    """Intervals (K_o low, K_o high) in mM where >= 2 stable states exist, within [k_o_min, k_o_max].

    Scalar inputs only (other than K_o); :func:`bistable_ranges` for many parameter sets.
    An interval that reaches a scan end is reported with that end as its bound.
    """
    if any(np.size(v) != 1 for v in inputs.values()):
        raise ValueError("bistable_range: inputs other than k_o must be scalars")
    scalars = {k: None if v is None else np.ravel(v)[0] for k, v in inputs.items()}
    (ranges,) = bistable_ranges(model, scalars, k_o_min, k_o_max, preset=preset, n_scan=n_scan,
                                v_min=v_min, v_max=v_max, step=step)  # fmt: skip
    return ranges
