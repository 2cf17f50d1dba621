"""Rectifying-leak fixed-point models: V = E_eff(V) - I_pump / G(V).

With voltage-dependent chord conductances g_i(V), E_eff = sum g_i E_i / G and
G = sum g_i, the fixed point is exactly the zero of the net membrane current

    I(V) = sum_i g_i(V) (V - E_i) + I_pump,

which is what the solvers find. Outward current is positive; a steady state is
stable where dI/dV > 0.

Two conductance sets are provided:

* ``rectifying-ghk``: GHK rectification g_i(V) = I_i,GHK(V) / (V - E_i) for K+,
  Na+ and Cl- (P_K as ``perm_k`` in pA/mM, ratios p_na, p_cl). Its net current is
  monotone in V, so it has exactly one steady state.
* ``rectifying-kir``: inward-rectifier K+
  g_K(V) = g_k (K_o/K_ref)^n / (1 + exp((V - E_K - V_half)/k)) with ohmic Na+ and
  Cl- background conductances; it can have several steady states. Its formulas,
  including those of the shape of I(V) that its stable-state solve uses (curvature,
  inflection, Newton start), are here; :mod:`.kir_kernel` compiles them and
  :mod:`.kir_states` drives that kernel.
"""

from __future__ import annotations

import numpy as np

from ..backend import namespace
from ..constants import thermal_voltage_mv
from .bernoulli import bernoulli_terms, inverse_bernoulli_terms
from .ghk import ghk_current_and_slope, ghk_current_partials, permeant_sum_partials, permeant_sums
from .nernst import nernst_mv


def logistic_numpy(x):
    """1 / (1 + e^x) with one exponential (e^x = inf beyond x = 709 gives the limit 0)."""
    return 1.0 / (1.0 + np.exp(x))


def logistic_block(x):
    """1 / (1 + e^x), elementwise, NumPy or PyTensor (no overflow warning or NaN for large x)."""
    xp = namespace(x)
    if xp is np:  # the tensor form below keeps exact gradients at x = 0
        with np.errstate(over="ignore"):
            return logistic_numpy(x)
    pos = x > 0
    e_neg = xp.exp(-xp.where(pos, x, 0.0))  # e^-x for x > 0
    e_pos = xp.exp(xp.where(pos, 0.0, x))  # e^x for x <= 0
    return xp.where(pos, e_neg / (1.0 + e_neg), 1.0 / (1.0 + e_pos))


# --- rectifying-ghk -------------------------------------------------------------


def rectifying_ghk_current(v_mv, k_o, k_i, na_o, na_i, cl_o, cl_i, temp_k, p_na, p_cl, perm_k=1.0, i_pump=0.0):
    """(I, dI/dV): net membrane current (pA) of the GHK-rectified leak plus pump, and its slope (nS)."""
    a_out, a_in = permeant_sums(k_o, k_i, na_o, na_i, cl_o, cl_i, p_na, p_cl)
    current, slope = ghk_current_and_slope(v_mv, a_in, a_out, 1, temp_k, perm_k)
    return current + i_pump, slope


def rectifying_ghk_partials(v_mv, k_o, k_i, na_o, na_i, cl_o, cl_i, temp_k, p_na, p_cl, perm_k=1.0, i_pump=0.0) -> dict:
    """Analytic partial derivatives of :func:`rectifying_ghk_current` (key ``v`` = dI/dV)."""
    a_out, a_in = permeant_sums(k_o, k_i, na_o, na_i, cl_o, cl_i, p_na, p_cl)
    d = ghk_current_partials(v_mv, a_in, a_out, 1, temp_k, perm_k)
    return permeant_sum_partials(d["c_out"], d["c_in"], na_o, na_i, cl_o, cl_i, p_na, p_cl) | {
        "v": d["v"],
        "temp_k": d["temp_k"],
        "perm_k": d["perm"],
        "i_pump": 1.0 + 0.0 * d["v"],
    }


def _leak_f(u, a_in, a_out, c):
    """(f(u), f'(u)) with f(u) = a_in B(-u) - a_out B(u) + c: the rectifying-ghk current over perm_k at u = V/V_T
    (c = i_pump/perm_k). NumPy or PyTensor."""
    b, b_neg, db = bernoulli_terms(u)
    return a_in * b_neg - a_out * b + c, a_in * (1.0 + db) - a_out * db


def rectifying_ghk_symbolic_state(named: dict, branch: str):
    """The steady state (mV) of rectifying-ghk as a PyTensor expression (no Python in compiled code).

    Newton on f (:func:`_leak_f`) from the pump-free zero ln(a_out/a_in), point by point until its step is below
    1e-12 (:class:`vrest.symbolic.GhkLeakNewtonOp`, a compiled kernel): f' = a_in + (a_in - a_out) B'(u) lies
    between a_in and a_out (-1 < B' < 0) and f'' = (a_in - a_out) B''(u) has one sign (B'' > 0), so f is monotone
    and convex or concave everywhere and Newton converges from anywhere, monotonically after at most one
    overshoot. Its iterate u* is then held constant for one exact Newton step u* - f(u*)/f'(u*) with f' held
    constant, whose value is the zero and whose gradient is the implicit function theorem's -(df/dx)/f'."""
    import pytensor.tensor as pt
    from pytensor.gradient import disconnected_grad

    from ..symbolic import GhkLeakNewtonOp

    a_out, a_in = permeant_sums(*(named[k] for k in ("k_o", "k_i", "na_o", "na_i", "cl_o", "cl_i", "p_na", "p_cl")))
    c = named["i_pump"] / named["perm_k"]
    a_in, a_out, c = pt.broadcast_arrays(a_in, a_out, c)
    u = disconnected_grad(GhkLeakNewtonOp()(*(disconnected_grad(x) for x in (a_in, a_out, c))))
    f, slope = _leak_f(u, a_in, a_out, c)
    return thermal_voltage_mv(named["temp_k"]) * (u - f / disconnected_grad(slope))


def rectifying_ghk_setup(k_o, k_i, na_o, na_i, cl_o, cl_i, temp_k, p_na, p_cl, perm_k=1.0, i_pump=0.0):
    """Solver setup (see :data:`vrest.models.solver.Setup`; flat input arrays) for the single zero of the net current.

    Since I = perm_k B(u) (A_in e^u - A_out) + I_pump with B > 0 (u = V/V_T), the
    zero is that of H(V) = A_in e^u - A_out + (I_pump/perm_k)/B(u), which for an
    outward pump is increasing and convex with the pump-free GHK potential at or
    right of its zero: plain Newton from there converges monotonically. An inward
    pump falls back to bracketed Newton on the current itself, using
    dI/dV >= perm_k min(A_in, A_out)/V_T to bound the zero.
    """
    vt = thermal_voltage_mv(temp_k)
    a_out, a_in = permeant_sums(k_o, k_i, na_o, na_i, cl_o, cl_i, p_na, p_cl)
    v0 = vt * (np.log(a_out) - np.log(a_in))
    if np.all(np.asarray(i_pump) >= 0):
        c = i_pump / perm_k

        def scaled(v, rows):
            vt_r, c_r = vt[rows], c[rows]
            e, inv_b, d_inv_b = inverse_bernoulli_terms(v / vt_r)
            a_in_e = a_in[rows] * e
            return a_in_e - a_out[rows] + c_r * inv_b, (a_in_e + c_r * d_inv_b) / vt_r

        return v0, v0, v0, scaled, True

    reach = np.abs(i_pump) * vt / (perm_k * np.minimum(a_in, a_out)) + 1.0

    def current(v, rows):
        i, slope = ghk_current_and_slope(v, a_in[rows], a_out[rows], 1, temp_k[rows], perm_k[rows])
        return i + i_pump[rows], slope

    return v0 - reach, v0 + reach, v0, current, False


# --- rectifying-kir -------------------------------------------------------------


def _kir_terms(v_mv, k_o, k_i, temp_k, g_k, k_ref, kir_n, v_half, k_slope):
    """(E_K, g_max = g_k (K_o/K_ref)^n, x = (V - E_K - V_half)/k, block f(x), V - E_K)."""
    e_k = nernst_mv(k_o, k_i, 1, temp_k)
    x = (v_mv - e_k - v_half) / k_slope
    return e_k, g_k * (k_o / k_ref) ** kir_n, x, logistic_block(x), v_mv - e_k


def kir_net_current(v_mv, e_k, g_max, g_lin, e_lin, i_pump, v_half, k_slope):
    """(I, dI/dV) of the inward-rectifier model from its lumped terms (g x mV and g).

    I = g_max (V - E_K) / (1 + exp((V - E_K - v_half)/k)) + g_lin (V - E_lin) + i_pump,
    with g_max = g_k (K_o/K_ref)^n, g_lin = g_na + g_cl, g_lin E_lin = g_na E_Na + g_cl E_Cl.
    """
    drive = v_mv - e_k
    f = logistic_block((drive - v_half) / k_slope)
    g_open = g_max * f
    current = g_open * drive + g_lin * (v_mv - e_lin) + i_pump
    slope = g_open * (1.0 - drive * (1.0 - f) / k_slope) + g_lin  # df/dx = -f (1 - f)
    return current, slope


def kir_lumped_terms(k_o, k_i, na_o, na_i, cl_o, cl_i, temp_k, g_k, g_na, g_cl, k_ref=5.4, kir_n=0.5):
    """(E_K, g_max, g_lin, E_lin) of the inward-rectifier model (mV, g, g, mV); E_lin = 0 where g_lin = 0."""
    xp = namespace(k_o, k_i, na_o, na_i, cl_o, cl_i, temp_k, g_k, g_na, g_cl, k_ref, kir_n)
    g_lin = g_na + g_cl
    weighted = g_na * nernst_mv(na_o, na_i, 1, temp_k) + g_cl * nernst_mv(cl_o, cl_i, -1, temp_k)
    e_lin = xp.where(g_lin > 0, weighted / xp.where(g_lin > 0, g_lin, 1.0), 0.0)
    return nernst_mv(k_o, k_i, 1, temp_k), g_k * (k_o / k_ref) ** kir_n, g_lin, e_lin


def kir_curvature(v, e_k, g_max, v_half, k_slope):
    """I''(V) of the net current (g per mV; nS/mV for g in nS)."""
    y = v - e_k
    f = logistic_block((y - v_half) / k_slope)
    return g_max * f * (1.0 - f) / k_slope * (y * (1.0 - 2.0 * f) - 2.0 * k_slope) / k_slope


def y2_residual(y, v_half, k_slope):
    """(value, slope) of y (1 - 2 f(y)) - 2k, whose zero y2 (mV above E_K) is the inflection
    of I; it increases on [max(v_half, 0), max(v_half, 0) + 4k], which holds y2."""
    f = logistic_block((y - v_half) / k_slope)
    return y * (1.0 - 2.0 * f) - 2.0 * k_slope, (1.0 - 2.0 * f) + 2.0 * y * f * (1.0 - f) / k_slope


def newton_start(e_k, g_max, g_lin, e_lin, i_pump, v_half, k_slope, upper):
    """Where (mV) Newton starts toward a lower state: Halley's step from E_K, where
    I = g_L (E_K - E_L) + i_pump, I' = g_max f0 + g_L and I'' = -2 g_max f0 (1 - f0)/k
    (f0 the block at E_K; Newton's step where Halley's correction is large); toward an
    ``upper`` state: the zero of I with the K+ conductance fully blocked."""
    if upper:
        return e_lin - i_pump / g_lin
    f0 = logistic_block(-v_half / k_slope)
    current, slope = g_lin * (e_k - e_lin) + i_pump, g_max * f0 + g_lin
    curvature = -2.0 * g_max * f0 * (1.0 - f0) / k_slope
    denominator = slope * slope - 0.5 * current * curvature  # Halley: slope^2 (1 - correction)
    return e_k - current * slope / (denominator if denominator > 0.5 * slope * slope else slope * slope)


LUMPED_INPUTS = ("k_o", "k_i", "na_o", "na_i", "cl_o", "cl_i", "temp_k", "g_k", "g_na", "g_cl", "k_ref", "kir_n")
"""The inputs of :func:`kir_lumped_terms`."""


def rectifying_kir_current(
    v_mv, k_o, k_i, na_o, na_i, cl_o, cl_i, temp_k, g_k, g_na, g_cl,
    v_half, k_slope, k_ref=5.4, kir_n=0.5, i_pump=0.0,
):  # fmt: skip
    """(I, dI/dV): net current (g x mV; pA for nS) of the inward-rectifier model and its slope.

    I = g_k (K_o/K_ref)^n (V - E_K) / (1 + exp((V - E_K - V_half)/k))
        + g_na (V - E_Na) + g_cl (V - E_Cl) + I_pump
    """
    e_k, g_max, g_lin, e_lin = kir_lumped_terms(k_o, k_i, na_o, na_i, cl_o, cl_i, temp_k, g_k, g_na, g_cl, k_ref, kir_n)
    return kir_net_current(v_mv, e_k, g_max, g_lin, e_lin, i_pump, v_half, k_slope)


def rectifying_kir_partials(
    v_mv, k_o, k_i, na_o, na_i, cl_o, cl_i, temp_k, g_k, g_na, g_cl,
    v_half, k_slope, k_ref=5.4, kir_n=0.5, i_pump=0.0,
) -> dict:  # fmt: skip
    """Analytic partial derivatives of :func:`rectifying_kir_current` (key ``v`` = dI/dV)."""
    vt = thermal_voltage_mv(temp_k)
    e_k, scale, x, f, drive = _kir_terms(v_mv, k_o, k_i, temp_k, 1.0, k_ref, kir_n, v_half, k_slope)
    e_na = nernst_mv(na_o, na_i, 1, temp_k)
    e_cl = nernst_mv(cl_o, cl_i, -1, temp_k)
    i_k = g_k * scale * drive * f  # the K+ current
    df_dx = -f * (1.0 - f)
    di_dx = g_k * scale * drive * df_dx
    di_k_dv = g_k * scale * f + di_dx / k_slope  # also = -dI_K/dE_K
    di_dek = -di_k_dv
    return {
        "v": di_k_dv + g_na + g_cl,
        "k_o": i_k * kir_n / k_o + di_dek * vt / k_o,
        "k_i": -di_dek * vt / k_i,
        "na_o": -g_na * vt / na_o,
        "na_i": g_na * vt / na_i,
        "cl_o": g_cl * vt / cl_o,
        "cl_i": -g_cl * vt / cl_i,
        "temp_k": (di_dek * e_k - g_na * e_na - g_cl * e_cl) / temp_k,
        "g_k": scale * drive * f,
        "g_na": v_mv - e_na,
        "g_cl": v_mv - e_cl,
        "v_half": -di_dx / k_slope,
        "k_slope": -di_dx * x / k_slope,
        "k_ref": -i_k * kir_n / k_ref,
        "kir_n": i_k * np.log(k_o / k_ref),
        "i_pump": 1.0 + 0.0 * f,
    }


def kir_voltage_range(e_k, g_max, g_lin, e_lin, i_pump, v_half, k_slope):
    """(lo, hi) in mV: a range containing every zero of :func:`kir_net_current` (g_lin > 0).

    For V <= E_K the K+ block is at least f_K = 1/(1 + exp(-v_half/k)), so I < 0 below
    the zero of the linear bound (g_max f_K + g_lin)(V - ...) - ...; above
    max(E_K, E_lin - I_pump/g_lin) every term is positive. That can be far above any recording (a small leak
    against an inward pump term: E_lin - I_pump/g_lin above +1 V), and the depolarised state with it.
    """
    g_low = g_max * logistic_block(-v_half / k_slope) + g_lin
    lo = np.minimum(e_k, (g_low * e_k + g_lin * (e_lin - e_k) - i_pump) / g_low) - 1.0
    return lo, np.maximum(e_k, e_lin) + np.abs(np.minimum(i_pump, 0.0)) / g_lin + 1.0


SCAN_REACH_MV = 1e3
"""How far (mV) above E_K and E_lin :func:`rectifying_kir_bounds` lets a voltage scan look for a depolarised
state: the scan steps a quarter of k_slope, so it needs a finite range; the compiled kernel has no such limit."""


def rectifying_kir_bounds(
    k_o, k_i, na_o, na_i, cl_o, cl_i, temp_k, g_k, g_na, g_cl, v_half, k_slope, k_ref=5.4, kir_n=0.5, i_pump=0.0,
):  # fmt: skip
    """(lo, hi, step) in mV: a range containing every zero of :func:`rectifying_kir_current`
    (:func:`kir_voltage_range`, to at most SCAN_REACH_MV above the reversals) and a scan step that resolves its
    two extrema (a quarter of the block slope factor)."""
    e_k, g_max, g_lin, e_lin = kir_lumped_terms(k_o, k_i, na_o, na_i, cl_o, cl_i, temp_k, g_k, g_na, g_cl, k_ref, kir_n)
    e_lin = np.where(g_lin > 0, e_lin, e_k)
    lo, hi = kir_voltage_range(e_k, g_max, np.maximum(g_lin, 1e-300), e_lin, i_pump, v_half, k_slope)
    return lo, np.minimum(hi, np.maximum(e_k, e_lin) + SCAN_REACH_MV + 1.0), np.clip(k_slope / 4.0, 0.05, 2.0)
