"""GHK voltage equation with Ca2+ permeant: the zero of the summed GHK currents, in closed form.

The zero of I(V) = I_GHK,mono(V; A_in, A_out) + p_ca I_GHK(V; Ca_i, Ca_o, z=2) (P_K = 1) has a
closed form. With x = exp(V/V_T), I_GHK,mono = u (A_in x - A_out)/(x - 1) and I_Ca =
4 p_ca u (Ca_i x^2 - Ca_o)/(x^2 - 1) (u = V/V_T); multiplying by (x^2 - 1)/u,

    a x^2 + b x - c = 0,   a = A_in + 4 p_ca Ca_i,  b = A_in - A_out,  c = A_out + 4 p_ca Ca_o,

whose one positive root gives V = V_T ln x (minus the pump offset, mV). With p_ca = 0 the
quadratic factors as (A_in x - A_out)(x + 1) and V is the GHK voltage equation. As the roots'
product is -c/a, ln x = ln(c/a)/2 - asinh(b / (2 sqrt(ac))): no cancellation for either sign of b,
no branch. dQ/dx = 2 a x + b = sqrt(b^2 + 4ac) at the root, so the implicit derivatives are exact
closed forms too. Written once for NumPy and PyTensor.
"""

from __future__ import annotations

import numpy as np

from ..backend import known_zero, namespace
from ..constants import thermal_voltage_mv
from .ghk import ghk_current_and_slope, ghk_current_partials, ghk_voltage, permeant_sum_partials, permeant_sums


def _log_root(a_in, a_out, q_in, q_out, xp):
    """ln x of the positive root of a x^2 + b x - c = 0 (module docstring), without cancellation or branches:
    x = sqrt(c/a) exp(-asinh(b / (2 sqrt(a c)))), since the roots' product is -c/a."""
    a, b, c = a_in + 4.0 * q_in, a_in - a_out, a_out + 4.0 * q_out
    return 0.5 * (xp.log(c) - xp.log(a)) - xp.arcsinh(b / (2.0 * xp.sqrt(a * c)))


def ghk_ca_voltage(k_o, k_i, na_o, na_i, cl_o, cl_i, ca_o, ca_i, temp_k, p_na, p_cl, p_ca, pump_mv=0.0):
    """GHK zero-current potential with K+, Na+, Cl- and Ca2+ permeant (mV), minus the pump offset (mV).

    Without a Ca2+ term (p_ca = 0 everywhere, known when the graph is built: a number or a folded constant) it is exactly
    :func:`vrest.models.ghk.ghk_voltage`."""
    if known_zero(p_ca):
        return ghk_voltage(k_o, k_i, na_o, na_i, cl_o, cl_i, temp_k, p_na, p_cl, pump_mv)
    xp = namespace(k_o, k_i, na_o, na_i, cl_o, cl_i, ca_o, ca_i, temp_k, p_na, p_cl, p_ca, pump_mv)
    a_out, a_in = permeant_sums(k_o, k_i, na_o, na_i, cl_o, cl_i, p_na, p_cl)
    return thermal_voltage_mv(temp_k) * _log_root(a_in, a_out, p_ca * ca_i, p_ca * ca_o, xp) - pump_mv


def ghk_ca_voltage_gradient(k_o, k_i, na_o, na_i, cl_o, cl_i, ca_o, ca_i, temp_k, p_na, p_cl, p_ca,
                            pump_mv=0.0) -> dict:  # fmt: skip
    """Analytic dV/dx of :func:`ghk_ca_voltage` for every input x (mV per unit of x), any p_ca >= 0."""
    vt = thermal_voltage_mv(temp_k)
    a_out, a_in = permeant_sums(k_o, k_i, na_o, na_i, cl_o, cl_i, p_na, p_cl)
    log_x = _log_root(a_in, a_out, p_ca * ca_i, p_ca * ca_o, np)
    x = np.exp(log_x)
    root_d = 2.0 * (a_in + 4.0 * p_ca * ca_i) * x + (a_in - a_out)  # dQ/dx at the root = sqrt(b^2 + 4ac)
    gi, go = -vt * (x + 1.0) / root_d, vt * (x + 1.0) / (x * root_d)  # dV/dA_in, dV/dA_out
    g_qi, g_qo = -4.0 * vt * x / root_d, 4.0 * vt / (x * root_d)  # dV/d(p_ca Ca_i), dV/d(p_ca Ca_o)
    return permeant_sum_partials(go, gi, na_o, na_i, cl_o, cl_i, p_na, p_cl) | {
        "ca_o": g_qo * p_ca,
        "ca_i": g_qi * p_ca,
        "temp_k": vt * log_x / temp_k,
        "p_ca": g_qo * ca_o + g_qi * ca_i,
        "pump_mv": -1.0 + 0.0 * x,
    }


def ghk_ca_current(v_mv, k_o, k_i, na_o, na_i, cl_o, cl_i, ca_o, ca_i, temp_k, p_na, p_cl, p_ca, pump_mv=0.0):
    """(I, dI/dV) of the summed K+, Na+, Cl-, Ca2+ GHK currents (P_K = 1 pA/mM). ``pump_mv`` is unused here."""
    a_out, a_in = permeant_sums(k_o, k_i, na_o, na_i, cl_o, cl_i, p_na, p_cl)
    i_mono, s_mono = ghk_current_and_slope(v_mv, a_in, a_out, 1, temp_k)
    i_ca, s_ca = ghk_current_and_slope(v_mv, ca_i, ca_o, 2, temp_k, p_ca)
    return i_mono + i_ca, s_mono + s_ca


def ghk_ca_partials(v_mv, k_o, k_i, na_o, na_i, cl_o, cl_i, ca_o, ca_i, temp_k, p_na, p_cl, p_ca, pump_mv=0.0) -> dict:
    """Analytic partial derivatives of :func:`ghk_ca_current` (key ``v`` = dI/dV)."""
    a_out, a_in = permeant_sums(k_o, k_i, na_o, na_i, cl_o, cl_i, p_na, p_cl)
    m = ghk_current_partials(v_mv, a_in, a_out, 1, temp_k)
    c = ghk_current_partials(v_mv, ca_i, ca_o, 2, temp_k, p_ca)
    return permeant_sum_partials(m["c_out"], m["c_in"], na_o, na_i, cl_o, cl_i, p_na, p_cl) | {
        "v": m["v"] + c["v"],
        "ca_o": c["c_out"],
        "ca_i": c["c_in"],
        "temp_k": m["temp_k"] + c["temp_k"],
        "p_ca": c["perm"],
    }


