"""Mullins-Noda voltage equation: GHK with the pump's coupling ratio r.

If the pump (r Na+ out per K+ in, r = 3/2) balances the passive K+ efflux, its
current is (r - 1) I_K and zero net current gives r I_K + I_Na + I_Cl = 0, i.e.

    V = V_T ln((r K_o + p_na Na_o + p_cl Cl_i) / (r K_i + p_na Na_i + p_cl Cl_o)),

which is the GHK equation with the ratios divided by r (Mullins & Noda 1963,
J. Gen. Physiol. 47:117). With Cl- passively distributed its terms cancel.
"""

from __future__ import annotations

from .ghk import ghk_voltage, ghk_voltage_gradient


def mullins_noda_voltage(k_o, k_i, na_o, na_i, cl_o, cl_i, temp_k, p_na, p_cl, pump_ratio=1.5, pump_mv=0.0):
    """Membrane potential (mV) of the Mullins-Noda equation, minus an optional offset (mV)."""
    return ghk_voltage(k_o, k_i, na_o, na_i, cl_o, cl_i, temp_k, p_na / pump_ratio, p_cl / pump_ratio, pump_mv)


def mullins_noda_gradient(k_o, k_i, na_o, na_i, cl_o, cl_i, temp_k, p_na, p_cl, pump_ratio=1.5, pump_mv=0.0) -> dict:
    """Analytic dV/dx for every input of :func:`mullins_noda_voltage` (chain rule through p/r)."""
    grad = ghk_voltage_gradient(k_o, k_i, na_o, na_i, cl_o, cl_i, temp_k, p_na / pump_ratio, p_cl / pump_ratio, pump_mv)
    d_pna, d_pcl = grad["p_na"], grad["p_cl"]
    grad["p_na"] = d_pna / pump_ratio
    grad["p_cl"] = d_pcl / pump_ratio
    grad["pump_ratio"] = -(d_pna * p_na + d_pcl * p_cl) / pump_ratio**2
    return grad
