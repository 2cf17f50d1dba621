"""Compiled (Numba) solve of the rectifying-kir model's stable states, point by point.

The algorithm is the one described in :mod:`.kir_states`; the formulas are the Python
functions of :mod:`.rectifying`, compiled here as they are
(``register_jitable``), so they are written once. Importing this module imports Numba;
the kernel is compiled on first call and cached in vrest's cache folder
(:mod:`vrest.cache`) under a key that covers vrest's source and the
numerical stack, so an edited formula is never served stale machine code.

Compiled with LLVM's ``arcp`` and ``contract`` flags (reciprocals and fused multiply-adds,
never assumptions about NaN or inf): results are the same bits run after run on one
machine, and within about 1e-13 mV of a build without them.
"""

from __future__ import annotations

import numpy as np
from numba.extending import overload, register_jitable

from .. import cache as disk_cache
from .rectifying import (
    kir_curvature,
    kir_net_current,
    kir_voltage_range,
    logistic_block,
    logistic_numpy,
    newton_start,
    y2_residual,
)
from .solver import MAX_ITER, SAFEGUARD_AFTER, TOL_MV

overload(logistic_block)(lambda x: logistic_numpy)  # the NumPy form, on a float
for _formula in (kir_net_current, kir_curvature, y2_residual, newton_start, kir_voltage_range):
    register_jitable(_formula)

KIND = "rectifying-kir steady-state kernel"
CACHE_KEY = disk_cache.structure_key((KIND,))
"""Where the kernel's machine code is cached: ``models/<CACHE_KEY>/`` of vrest's cache folder."""


def _jit(function=None, *, nogil: bool = False):
    """numba.njit with NumPy's division semantics (x/0 is inf or NaN), arcp and contract,
    cached under CACHE_KEY (not cached at all where vrest's cache folder cannot be written)."""

    def compile_(fn):
        return disk_cache.njit(fn, CACHE_KEY, nogil=nogil, error_model="numpy", fastmath={"arcp", "contract"})

    return compile_ if function is None else compile_(function)


QUADRATIC_MV = 0.1
"""Newton steps (mV) below which :func:`_bracketed` trusts the observed quadratic contraction."""


Y2, CURRENT, FALLING_SLOPE, RISING_SLOPE = 0, 1, 2, 3
"""What :func:`_bracketed` solves for: y2 (:func:`y2_residual`), a zero of the net current, or an
extremum of it (a zero of -I' where I' falls: the maximum; of I' where it rises: the minimum)."""


@_jit
def _residual(kind, x, terms):
    """(value, slope) at ``x`` of y2's residual (``kind`` Y2), of the net current, or of -/+ its
    slope (FALLING_SLOPE, RISING_SLOPE), for the lumped terms ``terms`` (:func:`kir_net_current`'s order)."""
    if kind == Y2:
        return y2_residual(x, terms[5], terms[6])
    if kind == CURRENT:
        return kir_net_current(x, *terms)
    sign = -1.0 if kind == FALLING_SLOPE else 1.0
    return sign * kir_net_current(x, *terms)[1], sign * kir_curvature(x, terms[0], terms[1], terms[5], terms[6])


@_jit
def _bracketed(kind, terms, lo, hi, x):
    """Zero in [lo, hi] of :func:`_residual`, which changes sign once there
    (negative below): Newton from ``x``, replaced by bisection where it leaves the bracket
    or (after SAFEGUARD_AFTER steps) converges slowly, as :func:`.solver._newton_in_bracket`.
    Done after a Newton step below TOL_MV or, once two successive Newton steps are below
    QUADRATIC_MV, after one whose successor the observed contraction puts below TOL_MV / 10
    (error ~ C step^2 with C ~ step / previous step^2). NaN if the residual does not change
    sign, is not a number, or no step falls below TOL_MV in MAX_ITER iterations."""
    seen_neg = seen_pos = False
    move = move_before = hi - lo
    previous = np.inf  # the last Newton step (inf after a bisection)
    for iteration in range(MAX_ITER):
        f, df = _residual(kind, x, terms)
        if np.isnan(f):
            return np.nan
        if f < 0:
            seen_neg, lo = True, x
        else:
            seen_pos, hi = True, x
        step = f / df
        newton = x - step
        in_bracket = lo <= newton <= hi
        inside = in_bracket and (iteration < SAFEGUARD_AFTER or not abs(2.0 * f) > abs(move_before * df))
        size = abs(step)
        if inside and (size <= TOL_MV or previous <= QUADRATIC_MV and size**3 <= 0.1 * TOL_MV * previous**2):
            return newton
        x_new = newton if inside else 0.5 * (lo + hi)
        if hi - lo <= TOL_MV:
            return (newton if in_bracket else x_new) if seen_neg and seen_pos else np.nan
        move_before, move = move, abs(x_new - x)
        previous = size if inside else np.inf
        x = x_new
    return np.nan


@_jit
def _dips_below_zero(sign, terms, a, b, x, left, right):
    """(1 if J = sign * I is negative somewhere in [a, b], else 0; a point where it is, else NaN).

    J is convex on [a, b] with its minimum inside; ``left`` and ``right`` are tangents
    (p, J(p), J'(p)) known at points left and right of it (or both one of them). Newton on
    J' from ``x`` (bisecting where it leaves the bracket) stops at the first iterate with
    J < 0, or once the tangents on both sides of the minimum cross above 0 (a convex
    function lies above both), or at the minimum (NaN, NaN where J or J' is not a number
    or the minimum is not found in MAX_ITER iterations)."""
    e_k, g_max, _g_lin, _e_lin, _i_pump, v_half, k_slope = terms
    for _ in range(MAX_ITER):
        (p1, j1, d1), (p2, j2, d2) = left, right
        if d1 < 0 < d2 and j1 + d1 * ((j2 - j1 + d1 * p1 - d2 * p2) / (d1 - d2) - p1) > 0:
            return 0.0, np.nan
        current, slope = kir_net_current(x, *terms)
        j, d = sign * current, sign * slope
        if np.isnan(j) or np.isnan(d):
            return np.nan, np.nan
        if j < 0:
            return 1.0, x
        if d < 0:
            a, left = x, (x, j, d)
        else:
            b, right = x, (x, j, d)
        step = d / (sign * kir_curvature(x, e_k, g_max, v_half, k_slope))
        if abs(step) <= TOL_MV:
            return 0.0, np.nan
        newton = x - step
        x = newton if a <= newton <= b else 0.5 * (a + b)
    return np.nan, np.nan


@_jit
def _state(terms, y2, depolarized):
    """(V, stable-state count; -1 where not found) of one point with lumped terms ``terms``
    (:func:`kir_net_current`'s order) and inflection y2 (mV above E_K)."""
    e_k, g_max, g_lin, e_lin, i_pump, _v_half, k_slope = terms
    lo, hi = kir_voltage_range(*terms)
    v2 = e_k + y2
    i2, slope2 = kir_net_current(v2, *terms)
    second, witness = False, np.nan
    low, high = lo, hi
    if slope2 < 0:  # folded: I rises to a maximum below v2 and falls to a minimum above it
        lower_above = g_lin * (v2 - e_lin) + i_pump  # a lower bound on I above v2
        if i2 >= 0:  # a zero below v2; a second stable state if I < 0 somewhere above
            i_hi, slope_hi = kir_net_current(hi, *terms)
            if lower_above <= 0 and v2 < hi and slope_hi > 0:
                at_v2, at_hi = (v2, i2, slope2), (hi, i_hi, slope_hi)
                dips, witness = _dips_below_zero(1.0, terms, v2, hi, min(v2 + k_slope, hi), at_v2, at_hi)
                if np.isnan(dips):
                    return np.nan, -1
                second = dips > 0
            if depolarized and second:
                low = witness
            else:
                high = v2
        else:  # a zero above v2; a second stable state if I > 0 somewhere between E_K and v2
            if g_max * y2 + lower_above > 0:  # an upper bound on I there
                at_v2 = (v2, -i2, -slope2)
                dips, witness = _dips_below_zero(-1.0, terms, e_k, v2, max(v2 - k_slope, e_k), at_v2, at_v2)
                if np.isnan(dips):
                    return np.nan, -1
                second = dips > 0
            if second and not depolarized:
                high = witness
            else:
                low = v2
    start = min(max(newton_start(*terms, low > lo), low), high)
    v = _bracketed(CURRENT, terms, low, high, start)
    return v, (-1 if np.isnan(v) else 1 + second)


@_jit
def _inflection(point, y2, v_half, k_slope, i):
    """y2 (mV above E_K, :func:`y2_residual`) of point ``i`` of the flat arrays: the previous point's ``y2`` where its
    v_half and k_slope are the same (it depends on nothing else), else solved on [y_lo, y_lo + 4k] (NaN if not found)."""
    if i > 0 and v_half[i] == v_half[i - 1] and k_slope[i] == k_slope[i - 1]:
        return y2
    y_lo = max(v_half[i], 0.0)
    return _bracketed(Y2, point, y_lo, y_lo + 4.0 * k_slope[i], y_lo + 2.0 * k_slope[i])


@_jit
def _branches(terms, y2):
    """(V_lower, V_upper, A, B) in mV of one point (NaN where not found): A and B are the extrema of I
    (maximum A below the inflection v2 = E_K + y2, minimum B above it), both v2 where I has no fold.
    The lower branch is the zero of I below A where I(A) > 0, else its ghost A (the point of least |I|
    on that side); the upper branch the zero above B where I(B) < 0, else its ghost B. Each V so
    continues through the saddle-node where its state vanishes (V = A = B there)."""
    e_k, _g_max, _g_lin, _e_lin, _i_pump, _v_half, k_slope = terms
    lo, hi = kir_voltage_range(*terms)
    v2 = e_k + y2
    a = b = v2
    if kir_net_current(v2, *terms)[1] < 0:  # folded: I' > 0 at E_K, falls to I'(v2) < 0, rises to g_lin
        a = _bracketed(FALLING_SLOPE, terms, e_k, v2, 0.5 * (e_k + v2))
        top = v2 + 4.0 * k_slope
        while kir_net_current(top, *terms)[1] <= 0 and top - v2 < 1e4:
            top += top - v2
        b = _bracketed(RISING_SLOPE, terms, v2, top, v2 + k_slope)
    lower, upper = a, b
    if kir_net_current(a, *terms)[0] > 0:
        lower = _bracketed(CURRENT, terms, lo, a, min(max(newton_start(*terms, False), lo), a))
    if kir_net_current(b, *terms)[0] < 0:
        upper = _bracketed(CURRENT, terms, b, max(hi, b), min(max(newton_start(*terms, True), b), max(hi, b)))
    return lower, upper, a, b


@_jit(nogil=True)
def branch_points(e_k, g_max, g_lin, e_lin, i_pump, v_half, k_slope, lower, upper, a, b):
    """Store in ``lower``, ``upper``, ``a``, ``b`` (mV) the two ghost-continued branches and the two
    extrema of I (:func:`_branches`) of flat points given by their lumped-term arrays. Runs without the GIL."""
    y2 = np.nan
    for i in range(e_k.size):
        point = (e_k[i], g_max[i], g_lin[i], e_lin[i], i_pump[i], v_half[i], k_slope[i])
        y2 = _inflection(point, y2, v_half, k_slope, i)
        lower[i], upper[i], a[i], b[i] = _branches(point, y2) if not np.isnan(y2) else (np.nan, np.nan, np.nan, np.nan)


@_jit(nogil=True)
def solve_points(e_k, g_max, g_lin, e_lin, i_pump, v_half, k_slope, depolarized, v, count):
    """Store in ``v`` (mV) and ``count`` (stable states; -1 where not found) the results of
    flat points given by their lumped-term arrays: the most depolarized state if
    ``depolarized``, else the most hyperpolarized. Runs without the GIL. y2 is solved
    again only where v_half or k_slope change."""
    y2 = np.nan
    for i in range(e_k.size):
        point = (e_k[i], g_max[i], g_lin[i], e_lin[i], i_pump[i], v_half[i], k_slope[i])
        y2 = _inflection(point, y2, v_half, k_slope, i)
        v[i], count[i] = _state(point, y2, depolarized) if not np.isnan(y2) else (np.nan, -1)
