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
zero above y2. Only the other extremum is then located (and not even that where a
linear bound on I settles its sign). Every zero is bracketed with exactly one sign
change and found by :func:`vrest.models.solver.solve_increasing` (bracketed Newton),
so the states are those of :func:`vrest.steady_states` without its voltage scan.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .rectifying import kir_lumped_terms, kir_net_current, logistic_block
from .solver import _newton_in_bracket, solve_increasing


def _slope_terms(v, e_k, g_max, g_l, v_half, k_slope):
    """(I'(V), I''(V)) of the net current (g per mV and per mV^2)."""
    slope = kir_net_current(v, e_k, g_max, g_l, 0.0, 0.0, v_half, k_slope)[1]
    y = v - e_k
    f = logistic_block((y - v_half) / k_slope)
    curvature = g_max * f * (1.0 - f) * (y * (1.0 - 2.0 * f) - 2.0 * k_slope) / k_slope**2
    return slope, curvature


def _y2_setup(v_half, k_slope):
    """y2 (mV above E_K): the zero of y (1 - 2 f(y)) - 2k, increasing on [max(v_half, 0), that + 4k]."""
    lo = np.maximum(v_half, 0.0)

    def residual(y):
        f = logistic_block((y - v_half) / k_slope)
        return y * (1.0 - 2.0 * f) - 2.0 * k_slope, (1.0 - 2.0 * f) + 2.0 * y * f * (1.0 - f) / k_slope

    return lo, lo + 4.0 * k_slope, lo + 2.0 * k_slope, residual, False


def _extremum_setup(lo, hi, sign, e_k, g_max, g_l, v_half, k_slope):
    """The zero of sign * I'(V), increasing on [lo, hi]: a local extremum of I."""

    def residual(v):
        slope, curvature = _slope_terms(v, e_k, g_max, g_l, v_half, k_slope)
        return sign * slope, sign * curvature

    return lo, hi, 0.5 * (lo + hi), residual, False


def _zero_setup(lo, hi, start, **terms):
    """The zero of I(V) in [lo, hi] (one sign change), Newton from ``start``."""
    return lo, hi, np.clip(start, lo, hi), lambda v: kir_net_current(v, **terms), False


def _take(a, rows: np.ndarray):
    """``a`` at ``rows``; a scalar stands for every row."""
    return a[rows] if np.ndim(a) else a


def _net_terms(x: dict) -> dict:
    """Keyword arguments of :func:`kir_net_current` from the model inputs ``x``."""
    names = ("k_o", "k_i", "na_o", "na_i", "cl_o", "cl_i", "temp_k", "g_k", "g_na", "g_cl", "k_ref", "kir_n")
    e_k, g_max, g_lin, e_lin = kir_lumped_terms(**{k: x[k] for k in names})
    return {"e_k": e_k, "g_max": g_max, "g_lin": g_lin, "e_lin": e_lin, "i_pump": x["i_pump"],
            "v_half": x["v_half"], "k_slope": x["k_slope"]}  # fmt: skip


def kir_stable_state(bounds, values: dict, branch: str) -> tuple[np.ndarray, np.ndarray]:
    """(V in mV, number of stable states) of the rectifying-kir model at broadcast inputs.

    ``bounds`` is the model's voltage-range hook, ``values`` the validated model
    inputs (see :func:`vrest.resolve_inputs`);
    ``branch`` is "hyperpolarized" (the most negative stable state, as
    :func:`vrest.predict`) or "depolarized". Requires g_na + g_cl > 0.
    """
    shape = np.broadcast_shapes(*(np.shape(a) for a in values.values()))
    x = {name: np.broadcast_to(a, shape).ravel() if np.ndim(a) else a for name, a in values.items()}
    size = int(np.prod(shape))

    def full(a) -> np.ndarray:
        return np.broadcast_to(a, (size,))

    y2 = solve_increasing(_y2_setup, {"v_half": x["v_half"], "k_slope": x["k_slope"]}, "kir fold")
    lo, hi = (full(b) for b in bounds(**x)[:2])
    zero_terms = _net_terms(x)
    g_l, e_l = zero_terms["g_lin"], zero_terms["e_lin"]
    terms = {k: zero_terms[k] for k in ("e_k", "g_max", "v_half", "k_slope")} | {"g_l": g_l}
    v2 = full(terms["e_k"] + y2)

    folded = _slope_terms(v2, **terms)[0] < 0
    i2 = kir_net_current(v2, **zero_terms)[0]
    rising = folded & (i2 >= 0)  # I(y_a) > 0: a zero below v2; a second stable one if I(y_b) < 0
    falling = folded & (i2 < 0)  # I(y_b) < 0: a zero above v2; a second stable one if I(y_a) > 0
    # linear bounds: h >= 0 above E_K, and h <= y2 between E_K and v2
    lower_above = g_l * (v2 - e_l) + x["i_pump"]
    check_b = np.nonzero(rising & (lower_above <= 0) & (v2 < hi) & (_slope_terms(hi, **terms)[0] > 0))[0]
    check_a = np.nonzero(falling & (terms["g_max"] * (v2 - terms["e_k"]) + lower_above > 0))[0]
    second = np.zeros(size, bool)
    v_extremum = np.full(size, np.nan)
    for rows, lo_r, hi_r, sign in ((check_b, v2, hi, 1.0), (check_a, full(terms["e_k"]), v2, -1.0)):
        if rows.size:
            sub = {name: _take(a, rows) for name, a in terms.items()}
            v_extremum[rows] = solve_increasing(
                _extremum_setup, {"lo": lo_r[rows], "hi": hi_r[rows], "sign": sign, **sub}
            )
            i_ext = kir_net_current(v_extremum[rows], **{n: _take(a, rows) for n, a in zero_terms.items()})[0]
            second[rows] = i_ext < 0 if sign > 0 else i_ext > 0
    # brackets with exactly one sign change around the requested state
    lower_state = rising if branch == "hyperpolarized" else rising & ~second
    upper_state = falling if branch == "depolarized" else falling & ~second
    low_end, high_end = lo.copy(), hi.copy()
    high_end[lower_state] = v2[lower_state]
    high_end[falling & second & ~upper_state] = v_extremum[falling & second & ~upper_state]
    low_end[upper_state] = v2[upper_state]
    low_end[rising & second & ~lower_state] = v_extremum[rising & second & ~lower_state]
    # start: the zero with the block frozen at its value at E_K (lower states) or fully blocked (upper)
    g_k0 = np.where(low_end > lo, 0.0, terms["g_max"] * logistic_block(-terms["v_half"] / terms["k_slope"]))
    start = (g_k0 * terms["e_k"] + g_l * e_l - x["i_pump"]) / (g_k0 + g_l)
    v = solve_increasing(
        _zero_setup, {"lo": low_end, "hi": high_end, "start": start, **zero_terms}, "rectifying-kir state"
    )
    return v.reshape(shape), (1 + second).reshape(shape)


NEAR_MV = 2.0
"""Half-width (mV) of the window around a warm start in :func:`kir_state_near`."""


@lru_cache(maxsize=64)
def _y2_scalar(v_half: float, k_slope: float) -> float:
    return float(solve_increasing(_y2_setup, {"v_half": np.array([v_half]), "k_slope": np.array([k_slope])})[0])


def kir_state_near(values: dict, branch: str, start: np.ndarray) -> np.ndarray | None:
    """The requested stable state by Newton from a nearby ``start`` (e.g. the previous
    state in a sampler), or None when that cannot be certified (then use :func:`kir_stable_state`).

    The zero v* found in [start - NEAR_MV, start + NEAR_MV] is certified when I'(v*) > 0
    and no other zero lies beyond it on the branch's side. I' falls up to the inflection
    v2 = E_K + y2 and rises after it (and is positive below E_K), so that holds when v* is
    on the branch's side of v2 (I is monotone from v* outwards), when I'(v2) >= 0 (one
    zero only), or when a linear bound keeps I off zero on the other side of v2.
    """
    x = {k: np.asarray(v, dtype=float) for k, v in values.items()}
    start = np.asarray(start, dtype=float)
    if start.shape != np.broadcast_shapes(*(a.shape for a in x.values())) or not np.all(x["g_na"] + x["g_cl"] > 0):
        return None
    terms = _net_terms(x)
    e_k, g_max, g_lin, e_lin = (terms[k] for k in ("e_k", "g_max", "g_lin", "e_lin"))
    lo, hi = start - NEAR_MV, start + NEAR_MV
    if not (np.all(kir_net_current(lo, **terms)[0] < 0) and np.all(kir_net_current(hi, **terms)[0] > 0)):
        return None
    v = _newton_in_bracket(lambda u: kir_net_current(u, **terms), lo, hi, start, "rectifying-kir state")
    if np.ptp(x["v_half"]) == 0 and np.ptp(x["k_slope"]) == 0:
        y2 = _y2_scalar(float(x["v_half"].flat[0]), float(x["k_slope"].flat[0]))
    else:
        y2 = solve_increasing(_y2_setup, {"v_half": x["v_half"], "k_slope": x["k_slope"]}).reshape(start.shape)
    v2 = e_k + y2
    current_v2, slope_v2 = kir_net_current(v2, **terms)
    monotone = slope_v2 >= 0  # I' is smallest at v2: then I increases everywhere and has one zero
    if branch == "hyperpolarized":  # no zero below v*: v* before the inflection, or I < 0 up to v2
        no_other = (v <= v2) | monotone | (g_max * y2 + g_lin * (v2 - e_lin) + x["i_pump"] < 0)
    else:  # no zero above v*: v* after the inflection, or I > 0 from v2 on (there h >= 0)
        no_other = (v >= v2) | monotone | (g_lin * (v2 - e_lin) + x["i_pump"] > 0)
    return v if np.all(no_other & (kir_net_current(v, **terms)[1] > 0)) else None
