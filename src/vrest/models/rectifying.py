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
  Cl- background conductances; it can have several steady states.
"""

from __future__ import annotations

from ..backend import namespace
from ..constants import thermal_voltage_mv
from .ghk import ghk_current_and_slope, ghk_current_partials, permeant_sums
from .nernst import nernst_mv


def logistic_block(x):
    """1 / (1 + e^x), evaluated without overflow; elementwise, NumPy or PyTensor."""
    xp = namespace(x)
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
    di, do = d["c_in"], d["c_out"]
    return {
        "v": d["v"],
        "k_o": do,
        "k_i": di,
        "na_o": do * p_na,
        "na_i": di * p_na,
        "cl_o": di * p_cl,
        "cl_i": do * p_cl,
        "temp_k": d["temp_k"],
        "p_na": do * na_o + di * na_i,
        "p_cl": do * cl_i + di * cl_o,
        "perm_k": d["perm"],
        "i_pump": 1.0 + 0.0 * d["v"],
    }


def rectifying_ghk_bracket(k_o, k_i, na_o, na_i, cl_o, cl_i, temp_k, p_na, p_cl, perm_k=1.0, i_pump=0.0):
    """(lo, hi, start) bracketing the single zero of the net current (mV).

    dI/dV >= perm_k min(A_in, A_out) / V_T, so the zero lies within
    |I_pump| V_T / (perm_k min(A)) of the pump-free GHK potential.
    """
    import numpy as np

    vt = thermal_voltage_mv(temp_k)
    a_out, a_in = permeant_sums(k_o, k_i, na_o, na_i, cl_o, cl_i, p_na, p_cl)
    v0 = vt * (np.log(a_out) - np.log(a_in))
    reach = np.abs(i_pump) * vt / (perm_k * np.minimum(a_in, a_out)) + 1.0
    return v0 - reach, v0 + reach, v0


# --- rectifying-kir -------------------------------------------------------------


def _kir_terms(v_mv, k_o, k_i, temp_k, g_k, k_ref, kir_n, v_half, k_slope):
    """(E_K, g_max = g_k (K_o/K_ref)^n, x = (V - E_K - V_half)/k, block f(x), V - E_K)."""
    e_k = nernst_mv(k_o, k_i, 1, temp_k)
    x = (v_mv - e_k - v_half) / k_slope
    return e_k, g_k * (k_o / k_ref) ** kir_n, x, logistic_block(x), v_mv - e_k


def kir_conductance(v_mv, k_o, k_i, temp_k, g_k, k_ref=5.4, kir_n=0.5, v_half=0.0, k_slope=10.0):
    """Inward-rectifier K+ chord conductance g_k (K_o/K_ref)^n / (1 + exp((V - E_K - V_half)/k))."""
    _, g_max, _, f, _ = _kir_terms(v_mv, k_o, k_i, temp_k, g_k, k_ref, kir_n, v_half, k_slope)
    return g_max * f


def rectifying_kir_current(
    v_mv, k_o, k_i, na_o, na_i, cl_o, cl_i, temp_k, g_k, g_na, g_cl,
    v_half, k_slope, k_ref=5.4, kir_n=0.5, i_pump=0.0,
):  # fmt: skip
    """(I, dI/dV): net current (g x mV; pA for nS) of the inward-rectifier model and its slope.

    I = g_k (K_o/K_ref)^n (V - E_K) / (1 + exp((V - E_K - V_half)/k))
        + g_na (V - E_Na) + g_cl (V - E_Cl) + I_pump
    """
    _, g_max, _, f, drive = _kir_terms(v_mv, k_o, k_i, temp_k, g_k, k_ref, kir_n, v_half, k_slope)
    current = (
        g_max * f * drive
        + g_na * (v_mv - nernst_mv(na_o, na_i, 1, temp_k))
        + g_cl * (v_mv - nernst_mv(cl_o, cl_i, -1, temp_k))
        + i_pump
    )
    slope = g_max * f * (1.0 - drive * (1.0 - f) / k_slope) + g_na + g_cl  # df/dx = -f (1 - f)
    return current, slope


def rectifying_kir_partials(
    v_mv, k_o, k_i, na_o, na_i, cl_o, cl_i, temp_k, g_k, g_na, g_cl,
    v_half, k_slope, k_ref=5.4, kir_n=0.5, i_pump=0.0,
) -> dict:  # fmt: skip
    """Analytic partial derivatives of :func:`rectifying_kir_current` (key ``v`` = dI/dV)."""
    import numpy as np

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


def rectifying_kir_bounds(
    k_o, k_i, na_o, na_i, cl_o, cl_i, temp_k, g_na, g_cl, i_pump=0.0, **_unused
):  # fmt: skip
    """(lo, hi) in mV containing every zero of :func:`rectifying_kir_current`.

    Below min(E) - |I_pump|/(g_na + g_cl) every term is outward-negative, above
    max(E) + |I_pump|/(g_na + g_cl) positive; the search also covers -200..+100 mV.
    """
    import numpy as np

    e = np.stack(np.broadcast_arrays(
        nernst_mv(k_o, k_i, 1, temp_k), nernst_mv(na_o, na_i, 1, temp_k), nernst_mv(cl_o, cl_i, -1, temp_k)
    ))  # fmt: skip
    pad = np.minimum(1000.0, np.abs(i_pump) / np.maximum(g_na + g_cl, 1e-12)) + 20.0
    return np.minimum(e.min(axis=0), -200.0) - pad, np.maximum(e.max(axis=0), 100.0) + pad
