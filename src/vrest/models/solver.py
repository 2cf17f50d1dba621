"""Vectorised root finding for membrane currents I(V) (NumPy, no Python loop per point).

* :func:`solve_increasing`: the single zero of a current that increases with V,
  by Newton's method safeguarded by bisection inside a bracket, in chunks.
* :func:`all_zeros`: every zero of a current on a voltage range, found by a grid
  scan that splits each grid cell at its interior extremum (so that two zeros in
  one cell are still separated) followed by bracketed Newton refinement;
  :func:`scan_stable_state` picks the requested stable one from them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

TOL_MV = 1e-10
"""Newton steps below this (mV) end the iteration; the error is far below 1e-9 mV."""

CONVEX_STEP_MV = 1e-6
"""Monotone Newton stops after a step this small: the error left is about
|f''/(2 f')| step^2, below 1e-13 mV for the GHK residuals (curvature ~ 1/V_T)."""

MAX_ITER = 200
SAFEGUARD_AFTER = 8
"""Iterations of plain bracketed Newton before rtsafe's slow-convergence test applies."""
CHUNK = 1 << 14

Current = Callable[..., tuple[np.ndarray, np.ndarray]]
"""current(v_mv, **inputs) -> (I, dI/dV), elementwise."""


BRANCHES = ("hyperpolarized", "depolarized")
"""Which stable state a solver returns where there are two: the most negative or the most positive."""


def check_branch(branch: str) -> None:
    """ValueError naming ``branch`` unless it is one of :data:`BRANCHES`."""
    if branch not in BRANCHES:
        raise ValueError(f"branch: expected one of {', '.join(BRANCHES)}, got {branch!r}")


class SolverError(RuntimeError):
    """The membrane-current root could not be found to the requested tolerance."""


def _newton_in_bracket(fn: Callable, lo, hi, x, what: str, restrict: Callable | None = None):
    """Zero of the increasing function fn (returning value and slope) in [lo, hi].

    Newton steps that would leave the bracket, or (after SAFEGUARD_AFTER iterations)
    that are longer than half the move before last (slow convergence, e.g. near a
    double zero; rtsafe's rule), are replaced by bisection. A point is done once its
    Newton step is below TOL_MV (it gets that step, whose error is of the order of its
    square) or its bracket is that narrow; it then stays as it is while the others
    iterate. With ``restrict`` (rows -> fn for those points only), the iteration goes
    on with the unfinished points alone once half are done. A bracket that closes
    without fn ever changing sign in it is an error.
    """
    shape = np.broadcast_shapes(np.shape(lo), np.shape(hi), np.shape(x))
    lo, hi, x = (np.array(np.broadcast_to(a, shape), dtype=float).ravel() for a in (lo, hi, x))
    out = np.empty(x.size)
    rows = np.arange(x.size)  # the points of ``out`` still iterated
    pending, left = np.ones(x.size, bool), x.size
    seen_neg, seen_pos = np.zeros(x.size, bool), np.zeros(x.size, bool)
    move = move_before = hi - lo  # the last two moves (Numerical Recipes' rtsafe: dx, dxold)
    for iteration in range(MAX_ITER):
        f, df = fn(x)
        below = f < 0
        seen_neg |= below
        seen_pos |= ~below
        np.copyto(lo, x, where=below)
        np.copyto(hi, x, where=~below)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = f / df
        newton = x - step
        in_bracket = (newton >= lo) & (newton <= hi)
        inside = in_bracket
        if iteration >= SAFEGUARD_AFTER:  # Newton that does not converge fast enough is replaced (rtsafe)
            inside = in_bracket & ~(np.abs(2.0 * f) > np.abs(move_before * df))
        x_new = np.where(inside, newton, 0.5 * (lo + hi))
        by_newton = inside & (np.abs(step) <= TOL_MV)
        done = by_newton | (hi - lo <= TOL_MV)
        if left < pending.size:
            done &= pending
        if np.any(done):
            if not np.all(by_newton[done] | (seen_neg & seen_pos)[done]):
                raise SolverError(f"{what}: the net current does not change sign in the search range")
            out[rows[done]] = np.where(in_bracket, newton, x_new)[done]  # a last Newton step inside the bracket
            pending &= ~done
            left = np.count_nonzero(pending)
            if left == 0:
                return out.reshape(shape)
        move_before, move = move, np.abs(x_new - x)
        x = x_new if left == pending.size else np.where(pending, x_new, x)
        if restrict is not None and left < pending.size // 2:  # go on with the unfinished points alone
            lo, hi, x, seen_neg, seen_pos, move, move_before, rows = (
                a[pending] for a in (lo, hi, x, seen_neg, seen_pos, move, move_before, rows)
            )
            pending = np.ones(left, bool)
            fn = restrict(rows)
    raise SolverError(f"{what}: no convergence to {TOL_MV:g} mV in {MAX_ITER} iterations")


def _broadcast_flat(inputs: dict) -> tuple[tuple[int, ...], dict]:
    shape = np.broadcast_shapes(*(np.shape(v) for v in inputs.values()))
    return shape, {k: np.broadcast_to(v, shape).ravel() for k, v in inputs.items()}


Setup = Callable[..., tuple]
"""setup(**inputs) -> (lo, hi, start, residual, convex): a bracket, a first guess, an
increasing function of V (value, slope) that vanishes at the steady state, and
whether it is convex with the start at or right of the zero (plain Newton then
converges monotonically, without the bracket). The inputs are flat arrays of one
length; the residual is called as ``residual(v, rows)`` with ``v`` at the input rows
``rows`` (an index array or ``slice(None)``), so the solver can go on with the
unfinished points alone without running ``setup`` again."""


def _newton_convex(fn: Callable, x, what: str):
    """Zero of an increasing convex function from a start at or right of it (monotone Newton).

    ``fn(v, rows)`` evaluates the points ``rows`` only, so that the iteration
    continues on the few slow points alone once most have converged.
    """
    x = np.array(x, dtype=float)
    rows: slice | np.ndarray = slice(None)
    for _ in range(MAX_ITER):
        f, df = fn(x[rows], rows)
        step = f / df
        x[rows] -= step
        slow = np.abs(step) > CONVEX_STEP_MV
        n_slow = np.count_nonzero(slow)
        if n_slow == 0:
            return x
        if n_slow < slow.size // 2:  # compact once most points have converged
            rows = np.arange(x.size)[rows][slow]
    raise SolverError(f"{what}: no convergence to {TOL_MV:g} mV in {MAX_ITER} iterations")


def solve_increasing(setup: Setup, inputs: dict, what: str = "steady state") -> np.ndarray:
    """Zero (mV) of an increasing residual for broadcast inputs, in cache-sized chunks."""
    shape, flat = _broadcast_flat(inputs)
    n = int(np.prod(shape))
    out = np.empty(n)
    for start in range(0, n, CHUNK):
        chunk = {k: v[start : start + CHUNK] for k, v in flat.items()}
        lo, hi, x0, residual, convex = setup(**chunk)
        if convex:
            out[start : start + CHUNK] = _newton_convex(residual, x0, what)
        else:

            def restrict(rows: np.ndarray | slice, residual: Callable = residual) -> Callable:
                return lambda v_mv: residual(v_mv, rows)

            out[start : start + CHUNK] = _newton_in_bracket(restrict(slice(None)), lo, hi, x0, what, restrict)
    return out.reshape(shape)


@dataclass(frozen=True)
class SteadyStates:
    """All zeros of the net current for each input point.

    ``v_mv[..., j]`` is the j-th zero in increasing voltage (NaN beyond ``count``),
    ``stable[..., j]`` is True where dI/dV > 0 there, ``slope[..., j]`` is dI/dV.
    """

    v_mv: np.ndarray
    stable: np.ndarray
    slope: np.ndarray
    count: np.ndarray

    @property
    def n_stable(self) -> np.ndarray:
        """Number of stable states at each point."""
        return self.stable.sum(axis=-1)


def _bisect_sign_change(fn: Callable, lo, hi, f_lo, iters: int = 40):
    """Shrink [lo, hi] (fn changes sign) by bisection; returns the midpoint (to 1e-12 of the cell)."""
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        f_mid = fn(mid)
        same = np.sign(f_mid) == np.sign(f_lo)
        lo = np.where(same, mid, lo)
        f_lo = np.where(same, f_mid, f_lo)
        hi = np.where(same, hi, mid)
    return 0.5 * (lo + hi)


def all_zeros(current: Current, inputs: dict, v_min=-200.0, v_max=100.0, step=1.0) -> SteadyStates:
    """Every zero of ``current`` on [v_min, v_max] (mV), for broadcast inputs.

    ``v_min``, ``v_max`` and the scan ``step`` (mV) may be arrays broadcast with the
    inputs. Each grid cell is split at its interior extremum, so two zeros closer
    than the step are still found as long as a cell holds at most one extremum.
    """
    shape, flat = _broadcast_flat({**inputs, "__lo": v_min, "__hi": v_max, "__step": step})
    lo, hi, steps = flat.pop("__lo"), flat.pop("__hi"), flat.pop("__step")
    if not np.all(steps > 0):
        raise ValueError(f"step: expected a positive voltage step (mV), got {np.min(steps):g}")
    if not np.all(hi > lo):
        raise ValueError(f"v range: expected v_min < v_max, got {np.min(lo):g}..{np.max(hi):g} mV")
    n = int(np.prod(shape))
    parts = []
    block = 1024  # rows per block: bounded memory, few Python-level passes
    for s in range(0, n, block):
        rows = slice(s, s + block)
        m = max(2, int(np.ceil(np.max((hi[rows] - lo[rows]) / steps[rows]))) + 1)
        grid = lo[rows, None] + (hi - lo)[rows, None] * np.linspace(0.0, 1.0, m)
        parts.append(_zeros_on_grid(current, {k: a[rows] for k, a in flat.items()}, grid))
    width = max([1] + [p[0].shape[1] for p in parts])

    def stack(i: int) -> np.ndarray:
        return np.concatenate(
            [np.pad(p[i], ((0, 0), (0, width - p[i].shape[1])), constant_values=np.nan) for p in parts]
        ).reshape(shape + (width,))

    v_out, s_out = stack(0), stack(1)
    return SteadyStates(
        v_mv=v_out,
        stable=np.nan_to_num(s_out, nan=0.0) > 0,
        slope=s_out,
        count=np.isfinite(v_out).sum(axis=-1),
    )


def scan_stable_state(current: Current, bounds: Callable, values: dict, branch: str) -> tuple[np.ndarray, np.ndarray]:
    """(V in mV, number of stable states) by the scan of :func:`all_zeros` on the range and step
    ``bounds(**values)`` -> (lo, hi, step) (mV): the most hyperpolarized or depolarized
    (``branch``) stable zero of ``current``; V is NaN where there is none (count 0)."""
    check_branch(branch)
    shape = np.broadcast_shapes(*(np.shape(a) for a in values.values()))
    lo, hi, step = bounds(**values)
    states = all_zeros(current, values, lo, hi, step)
    count = states.n_stable.reshape(shape)
    stable = np.where(states.stable, states.v_mv, np.nan)
    pick = np.nanmin if branch == "hyperpolarized" else np.nanmax
    v = np.where(count > 0, pick(np.where(count[..., None] > 0, stable, 0.0), axis=-1), np.nan)  # no all-NaN rows
    return v.reshape(shape), count


def _zeros_on_grid(current: Current, flat: dict, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(zeros, slopes), NaN-padded (rows, k), for one chunk of flat input rows on its (rows, m) grid."""
    n, m = grid.shape
    columns = {k: a[:, None] for k, a in flat.items()}  # broadcast each input row along its grid

    def rows_of(rows: np.ndarray) -> dict:
        return {k: a[rows] for k, a in flat.items()}

    f_grid, slope = current(grid, **columns)

    # split each cell at its interior extremum (slope sign change), else at the midpoint
    mids = 0.5 * (grid[:, :-1] + grid[:, 1:])
    r, c = np.nonzero(np.signbit(slope[:, :-1]) != np.signbit(slope[:, 1:]))
    if r.size:
        sub = rows_of(r)
        mids[r, c] = _bisect_sign_change(lambda v: current(v, **sub)[1], grid[r, c], grid[r, c + 1], slope[r, c])
    nodes = np.empty((n, 2 * m - 1))
    nodes[:, 0::2] = grid
    nodes[:, 1::2] = mids
    f_nodes = np.empty((n, 2 * m - 1))
    f_nodes[:, 0::2] = f_grid
    f_nodes[:, 1::2] = current(mids, **columns)[0]

    neg = f_nodes < 0
    r, c = np.nonzero(neg[:, :-1] != neg[:, 1:])
    count = np.bincount(r, minlength=n)
    width = int(count.max()) if n else 0
    v_out = np.full((n, width), np.nan)
    s_out = np.full((n, width), np.nan)
    if r.size:
        sub = rows_of(r)
        sign = np.where(neg[r, c], 1.0, -1.0)  # make every bracketed piece increasing

        def increasing(v):
            f, df = current(v, **sub)
            return sign * f, sign * df

        lo_v, hi_v = nodes[r, c], nodes[r, c + 1]
        roots = _newton_in_bracket(increasing, lo_v, hi_v, 0.5 * (lo_v + hi_v), "steady states")
        rank = np.arange(r.size) - (np.cumsum(count) - count)[r]
        v_out[r, rank] = roots
        s_out[r, rank] = current(roots, **sub)[1]
    return v_out, s_out
