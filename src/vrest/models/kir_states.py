"""Stable steady states of the ``rectifying-kir`` model from the shape of its net current.

With y = V - E_K and the block f = 1/(1 + exp((y - v_half)/k)), the net current is

    I(V) = g_max h(y) + g_L (V - E_L) + i_pump,   h(y) = y f(y),

with g_max = g_k (K_o/k_ref)^kir_n, g_L = g_na + g_cl and E_L = (g_na E_Na + g_cl E_Cl)/g_L.
Its slope is I' = g_max h'(y) + g_L, its curvature I'' = g_max f (1 - f) (y (1 - 2f) - 2k)/k^2.
h' > 0 for y <= 0, and for y > 0 the product y (1 - 2f) increases, so I' falls until the
single point y2 where y2 (1 - 2 f(y2)) = 2k and rises after it, back to g_L. Hence either
I' >= 0 everywhere (one zero), or I rises to a local maximum at y_a < y2, falls to a
local minimum at y_b > y2 and rises again: two stable states exactly when
I(y_a) > 0 > I(y_b). The sign of I(y2) settles one of the two: I(y2) > 0 gives
I(y_a) > 0 and exactly one zero below y2; I(y2) < 0 gives I(y_b) < 0 and exactly one
zero above y2. Only the other extremum is then located, and not even that where a
linear bound settles its sign (h >= 0 above E_K; h <= y2 between E_K and v2 = E_K + y2).
The requested zero is then bracketed with exactly one sign change and found by
bracketed Newton, so the states are those of :func:`vrest.steady_states` without its
voltage scan. The formulas are in :mod:`.rectifying`; the compiled kernel
:mod:`.kir_kernel` evaluates them point by point; this module drives it (threads, cache
mark, errors) and gives the model's symbolic steady state.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..backend import namespace
from ..machine import solver_threads
from .rectifying import LUMPED_INPUTS, kir_lumped_terms, kir_net_current, rectifying_kir_bounds, rectifying_kir_current
from .solver import CHUNK, MAX_ITER, TOL_MV, SolverError, check_branch, scan_stable_state


def kir_stable_state(values: dict, branch: str) -> tuple[np.ndarray, np.ndarray]:
    """(V in mV, number of stable states) of the rectifying-kir model at broadcast inputs.

    ``values`` are the validated model inputs (see :func:`vrest.resolve_inputs`);
    ``branch`` is "hyperpolarized" (the most negative stable state, as
    :func:`vrest.predict`) or "depolarized". Every point is solved on its own, so its
    result does not depend on the others; chunks of CHUNK points (lumped terms and solve
    stay in cache) run on :func:`solver_threads` threads. Raises :class:`SolverError` if a
    point has no zero in range. Without a leak (g_na + g_cl = 0 somewhere) the kernel does
    not apply and the steady-state scan answers instead (V NaN where no state is stable).
    """
    check_branch(branch)
    if not np.all(np.asarray(values["g_na"] + values["g_cl"]) > 0):
        return scan_stable_state(rectifying_kir_current, rectifying_kir_bounds, values, branch)
    shape = np.broadcast_shapes(*(np.shape(a) for a in values.values()))
    x = {k: np.broadcast_to(a, shape).ravel() if np.ndim(a) else a for k, a in values.items()}
    size = int(np.prod(shape))
    v, count = np.empty(size), np.empty(size, np.int64)

    def solve(part: slice) -> None:  # NumPy and the kernel release the GIL
        _solve_lumped(kir_terms({k: a[part] if np.ndim(a) else a for k, a in x.items()}), branch, v[part], count[part])

    parts = [slice(lo, lo + CHUNK) for lo in range(0, v.size, CHUNK)]
    threads = min(solver_threads(), len(parts))
    if threads > 1:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(solve, parts))
    else:
        for part in parts:
            solve(part)
    _raise_if_any_failed(count)
    return v.reshape(shape), count.reshape(shape)


def kir_symbolic_state(named: dict, branch: str):
    """The requested stable state (mV) as a PyTensor expression of the model's input tensors
    ``named`` (broadcast to one shape; g_na + g_cl > 0): :class:`vrest.symbolic.KirStateOp`
    on the lumped terms, whose compiled form calls the kernel without Python."""
    from ..symbolic import KirStateOp

    return KirStateOp(branch)(*kir_terms(named))


def kir_terms(values: dict) -> tuple:
    """The lumped terms (e_k, g_max, g_lin, e_lin, i_pump, v_half, k_slope; :func:`kir_net_current`'s
    order) of the model inputs ``values`` (NumPy or PyTensor)."""
    lumped = kir_lumped_terms(**{k: values[k] for k in LUMPED_INPUTS})
    return (*lumped, values["i_pump"], values["v_half"], values["k_slope"])


def kir_leak(values: dict) -> tuple:
    """(g_lin, e_lin): conductance (g_k units) and reversal (mV) of the ohmic Na+ and Cl- leak, g_na + g_cl and
    their conductance-weighted Nernst potentials, at the model inputs ``values`` (NumPy or PyTensor)."""
    return kir_lumped_terms(**{k: values[k] for k in LUMPED_INPUTS})[2:]


GHOST_MARGIN_MV = 3.0
"""Scale (mV) of the existence margin over which a vanished branch's weight falls (:func:`branch_log_weight`): a
stated choice, of the order of the scatter of resting potentials, wide enough that the soft wall where a state
vanishes is no steeper than the data (at 1 mV NUTS took steps half as long on bistable synthetic data)."""


def branch_margins(a, b, terms: tuple) -> tuple:
    """(margin of the lower branch, of the upper branch) in mV: I(A)/g_lin and -I(B)/g_lin at the extrema A,
    B of I (:func:`kir_branches_of_terms`), positive exactly where that branch's stable state exists. The
    margin is the shift of the leak's reversal potential (E_lin) that creates or removes the state.
    NumPy or PyTensor."""
    g_lin = terms[2]
    return kir_net_current(a, *terms)[0] / g_lin, -kir_net_current(b, *terms)[0] / g_lin


def branch_log_weight(margin_mv):
    """The log weight (<= 0) of a branch with existence margin ``margin_mv`` (mV): 0 where its state exists,
    -margin^2/(2 GHOST_MARGIN_MV^2) where it has vanished and its ghost stands in for it (continuous with a
    continuous derivative at the saddle-node, margin 0). NumPy or PyTensor."""
    short = namespace(margin_mv).minimum(margin_mv, 0.0) / GHOST_MARGIN_MV
    return -0.5 * short * short


def kir_branches_of_terms(terms: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(V_lower, V_upper, A, B) in mV at broadcast lumped terms (g_lin > 0): the forward pass of
    :class:`vrest.symbolic.KirBranchesOp`, by the compiled kernel (:func:`.kir_kernel.branch_points`).
    V_lower is the hyperpolarised stable state where it exists, else its ghost A (the maximum of I
    below the inflection; the inflection itself where I has no fold); V_upper the depolarised one,
    else its ghost B. NaN where the kernel fails."""
    from .kir_kernel import branch_points

    shape = np.broadcast_shapes(*(np.shape(a) for a in terms))
    size = int(np.prod(shape))
    out = [np.empty(size) for _ in range(4)]
    branch_points(*(_flat_readonly(np.broadcast_to(a, shape).ravel(), size) for a in terms), *out)
    _mark_kernel_cached()
    return tuple(o.reshape(shape) for o in out)


def kir_symbolic_branches(named: dict, op: type | None = None) -> dict:
    """Both ghost-continued branches as PyTensor expressions of the model's input tensors ``named``:
    {"lower", "upper": V (mV); "ghost_lower", "ghost_upper": the extrema A, B of I(V) that stand in for them where
    they vanish (mV); "margin_lower", "margin_upper": existence margins (mV, :func:`branch_margins`)}. ``op``: the
    Op class that finds them (default :class:`vrest.symbolic.KirBranchesOp`)."""
    from ..symbolic import KirBranchesOp

    terms = kir_terms(named)
    lower, upper, a, b = (op or KirBranchesOp)()(*terms)
    margin_lower, margin_upper = branch_margins(a, b, terms)
    return {"lower": lower, "upper": upper, "ghost_lower": a, "ghost_upper": b,
            "margin_lower": margin_lower, "margin_upper": margin_upper}


def kir_branches(values: dict) -> dict:
    """:func:`kir_symbolic_branches` in NumPy at validated broadcast model inputs ``values``."""
    terms = [np.asarray(t, dtype=float) for t in kir_terms(values)]
    lower, upper, a, b = kir_branches_of_terms(terms)
    margin_lower, margin_upper = branch_margins(a, b, tuple(np.broadcast_arrays(*terms)))
    return {"lower": lower, "upper": upper, "ghost_lower": a, "ghost_upper": b,
            "margin_lower": margin_lower, "margin_upper": margin_upper}


def kir_state_of_terms(terms: list[np.ndarray], branch: str) -> np.ndarray:
    """V (mV) of the requested stable state at broadcast lumped terms ``terms`` (e_k,
    g_max, g_lin, e_lin, i_pump, v_half, k_slope, in :func:`kir_net_current`'s order; see
    :func:`kir_lumped_terms`): the forward pass of :class:`vrest.symbolic.KirStateOp`.
    Requires g_lin > 0; raises :class:`SolverError` where no state is found."""
    shape = np.broadcast_shapes(*(np.shape(a) for a in terms))
    size = int(np.prod(shape))
    v, count = np.empty(size), np.empty(size, np.int64)
    _solve_lumped(terms, branch, v, count)
    _raise_if_any_failed(count)
    return v.reshape(shape)


def _solve_lumped(terms, branch: str, v: np.ndarray, count: np.ndarray) -> None:
    """Store in ``v`` and ``count`` (-1: not found) the kernel's results at lumped terms
    ``terms`` (scalars or arrays of ``v``'s size), and mark its cache entry as used."""
    from .kir_kernel import solve_points  # compiled on first use (cached on disk)

    solve_points(*(_flat_readonly(a, v.size) for a in terms), branch == "depolarized", v, count)
    _mark_kernel_cached()


def _raise_if_any_failed(count: np.ndarray) -> None:
    """SolverError if the kernel found no state (count -1) at some point."""
    if np.any(count < 0):
        raise SolverError(
            f"rectifying-kir state: the net current does not change sign in the search range, or no "
            f"convergence to {TOL_MV:g} mV in {MAX_ITER} iterations"
        )


def _mark_kernel_cached() -> None:
    """Mark the compiled kernel's cache entry as used (:func:`vrest.cache.mark_kernel`)."""
    from .. import cache as disk_cache
    from .kir_kernel import CACHE_KEY, KIND

    disk_cache.mark_kernel(CACHE_KEY, KIND)


def _flat_readonly(a, size: int) -> np.ndarray:
    """``a`` (a scalar or ``size`` values) as a contiguous, read-only float array of ``size``
    (one array type for the compiled kernel, whichever ``a`` was)."""
    flat = np.ascontiguousarray(np.broadcast_to(a, (size,)), dtype=float).view()
    flat.flags.writeable = False
    return flat
