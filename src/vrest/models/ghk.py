"""Goldman-Hodgkin-Katz current and voltage equations.

Conventions: V is inside minus outside (mV); outward current is positive.
With u = z V / V_T (V_T = RT/F) and B the Bernoulli function, the GHK current is

    I = perm * z * (c_in B(-u) - c_out B(u))            [pA with perm in pA/mM]

which equals the textbook P z^2 F^2 V/(RT) (c_in - c_out e^-u)/(1 - e^-u) with
perm = P x area x F, and is finite with finite derivatives at V = 0.

For monovalent ions the currents of all permeant ions add up to one GHK current
carried by the permeability-weighted sums (ratios to P_K)

    A_out = K_o + p_na Na_o + p_cl Cl_i,    A_in = K_i + p_na Na_i + p_cl Cl_o,

whose zero is the GHK voltage equation V = V_T ln(A_out / A_in).
"""

from __future__ import annotations

from ..backend import namespace
from ..constants import thermal_voltage_mv
from .bernoulli import bernoulli, bernoulli_terms


def _ghk_terms(v_mv, z, temp_k):
    """(V_T, u, B(u), B'(u), B(-u)) for u = z V / V_T."""
    vt = thermal_voltage_mv(temp_k)
    u = z * v_mv / vt
    b, b_neg, db = bernoulli_terms(u)
    return vt, u, b, db, b_neg


def ghk_current_and_slope(v_mv, c_in, c_out, z, temp_k, perm=1.0):
    """(I, dI/dV): GHK current (pA for perm in pA/mM, mM) and its slope (nS), elementwise."""
    vt, _, b, db, b_neg = _ghk_terms(v_mv, z, temp_k)
    current = perm * z * (c_in * b_neg - c_out * b)
    # B'(-u) = -1 - B'(u), so d(c_in B(-u) - c_out B(u))/du = c_in (1 + B'(u)) - c_out B'(u)
    slope = perm * z * z / vt * (c_in * (1.0 + db) - c_out * db)
    return current, slope


def ghk_current(v_mv, c_in, c_out, z, temp_k, perm=1.0):
    """GHK current (pA for perm in pA/mM; mM concentrations), elementwise."""
    return ghk_current_and_slope(v_mv, c_in, c_out, z, temp_k, perm)[0]


def ghk_current_partials(v_mv, c_in, c_out, z, temp_k, perm=1.0) -> dict:
    """Analytic partial derivatives of :func:`ghk_current` (keys: v, c_in, c_out, temp_k, perm)."""
    unit_current, unit_slope = ghk_current_and_slope(v_mv, c_in, c_out, z, temp_k)
    _, _, b, _, b_neg = _ghk_terms(v_mv, z, temp_k)
    return {
        "v": perm * unit_slope,
        "c_in": perm * z * b_neg,
        "c_out": -perm * z * b,
        "temp_k": -perm * unit_slope * v_mv / temp_k,  # I depends on T only through u = zV/V_T
        "perm": unit_current,
    }


def ghk_chord_conductance(v_mv, c_in, c_out, z, temp_k, perm=1.0):
    """Chord conductance I_GHK(V) / (V - E) in nS (perm in pA/mM), finite at V = E.

    Written as perm z^2 / V_T * c_in B(-u) / B(e - u), with e = ln(c_out/c_in),
    which has no singularity at V = E (u = e).
    """
    xp = namespace(v_mv, c_in, c_out, temp_k)
    vt = thermal_voltage_mv(temp_k)
    u = z * v_mv / vt
    e = xp.log(c_out) - xp.log(c_in)
    return perm * z * z / vt * c_in * bernoulli(-u) / bernoulli(e - u)


def permeant_sums(k_o, k_i, na_o, na_i, cl_o, cl_i, p_na, p_cl):
    """(A_out, A_in): permeability-weighted outside and inside sums of K+, Na+ and Cl- (mM)."""
    a_out = k_o + p_na * na_o + p_cl * cl_i
    a_in = k_i + p_na * na_i + p_cl * cl_o
    return a_out, a_in


def permeant_sum_partials(d_out, d_in, na_o, na_i, cl_o, cl_i, p_na, p_cl) -> dict:
    """d/dx of a function of (A_out, A_in) for every input x of :func:`permeant_sums`, from its partials
    ``d_out`` = d/dA_out and ``d_in`` = d/dA_in."""
    return {
        "k_o": d_out,
        "k_i": d_in,
        "na_o": d_out * p_na,
        "na_i": d_in * p_na,
        "cl_o": d_in * p_cl,
        "cl_i": d_out * p_cl,
        "p_na": d_out * na_o + d_in * na_i,
        "p_cl": d_out * cl_i + d_in * cl_o,
    }


def ghk_voltage(k_o, k_i, na_o, na_i, cl_o, cl_i, temp_k, p_na, p_cl, pump_mv=0.0):
    """Closed-form GHK voltage equation for K+, Na+, Cl- (mV) minus a pump offset (mV)."""
    xp = namespace(k_o, k_i, na_o, na_i, cl_o, cl_i, temp_k, p_na, p_cl, pump_mv)
    a_out, a_in = permeant_sums(k_o, k_i, na_o, na_i, cl_o, cl_i, p_na, p_cl)
    return thermal_voltage_mv(temp_k) * xp.log(a_out / a_in) - pump_mv


def ghk_voltage_gradient(k_o, k_i, na_o, na_i, cl_o, cl_i, temp_k, p_na, p_cl, pump_mv=0.0) -> dict:
    """Analytic dV/dx of :func:`ghk_voltage` for every input x (mV per unit of x)."""
    vt = thermal_voltage_mv(temp_k)
    a_out, a_in = permeant_sums(k_o, k_i, na_o, na_i, cl_o, cl_i, p_na, p_cl)
    go, gi = vt / a_out, -vt / a_in  # dV/dA_out, dV/dA_in
    v = ghk_voltage(k_o, k_i, na_o, na_i, cl_o, cl_i, temp_k, p_na, p_cl, pump_mv)
    return permeant_sum_partials(go, gi, na_o, na_i, cl_o, cl_i, p_na, p_cl) | {
        "temp_k": (v + pump_mv) / temp_k,
        "pump_mv": -1.0 + 0.0 * v,
    }
