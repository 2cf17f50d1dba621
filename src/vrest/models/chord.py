"""Chord-conductance model: conductance-weighted mean of Nernst potentials with a pump.

    V = (g_K E_K + g_Na E_Na + g_Cl E_Cl) / G - pump_mv - I_pump / g_tot,  G = g_K + g_Na + g_Cl

The pump enters either as an offset (pump_mv, mV) or as a current I_pump flowing
through g_tot (g_tot defaults to G; pA with nS, or any current = g x mV units).
"""

from __future__ import annotations

from ..constants import thermal_voltage_mv
from .nernst import nernst_mv


def _reversal_potentials(k_o, k_i, na_o, na_i, cl_o, cl_i, temp_k):
    return (
        nernst_mv(k_o, k_i, 1, temp_k),
        nernst_mv(na_o, na_i, 1, temp_k),
        nernst_mv(cl_o, cl_i, -1, temp_k),
    )


def chord_voltage(k_o, k_i, na_o, na_i, cl_o, cl_i, temp_k, g_k, g_na, g_cl, pump_mv=0.0, i_pump=0.0, g_tot=None):
    """Membrane potential (mV) of the chord-conductance model."""
    e_k, e_na, e_cl = _reversal_potentials(k_o, k_i, na_o, na_i, cl_o, cl_i, temp_k)
    g_sum = g_k + g_na + g_cl
    g_pump = g_sum if g_tot is None else g_tot
    return (g_k * e_k + g_na * e_na + g_cl * e_cl) / g_sum - pump_mv - i_pump / g_pump


def chord_gradient(k_o, k_i, na_o, na_i, cl_o, cl_i, temp_k, g_k, g_na, g_cl, pump_mv=0.0, i_pump=0.0, g_tot=None) -> dict:
    """Analytic dV/dx for every input of :func:`chord_voltage`."""
    vt = thermal_voltage_mv(temp_k)
    e_k, e_na, e_cl = _reversal_potentials(k_o, k_i, na_o, na_i, cl_o, cl_i, temp_k)
    g_sum = g_k + g_na + g_cl
    v_wa = (g_k * e_k + g_na * e_na + g_cl * e_cl) / g_sum
    # with g_tot defaulting to G, I_pump / G also depends on each g_i
    pump_share = i_pump / g_sum**2 if g_tot is None else 0.0 * g_sum
    grad = {
        "k_o": g_k / g_sum * vt / k_o,
        "k_i": -g_k / g_sum * vt / k_i,
        "na_o": g_na / g_sum * vt / na_o,
        "na_i": -g_na / g_sum * vt / na_i,
        "cl_o": -g_cl / g_sum * vt / cl_o,
        "cl_i": g_cl / g_sum * vt / cl_i,
        "temp_k": v_wa / temp_k,
        "g_k": (e_k - v_wa) / g_sum + pump_share,
        "g_na": (e_na - v_wa) / g_sum + pump_share,
        "g_cl": (e_cl - v_wa) / g_sum + pump_share,
        "pump_mv": -1.0 + 0.0 * v_wa,
        "i_pump": -1.0 / (g_sum if g_tot is None else g_tot) + 0.0 * v_wa,
    }
    if g_tot is not None:
        grad["g_tot"] = i_pump / g_tot**2 + 0.0 * v_wa
    return grad
