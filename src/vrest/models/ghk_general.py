"""GHK voltage equation with divalent ions: the zero of the summed GHK currents.

With Ca2+ (z = 2) permeant the zero-current potential has no closed form; it is the
single zero of I(V) = I_GHK,mono(V; A_in, A_out) + p_ca I_GHK(V; Ca_i, Ca_o, z=2)
(P_K = 1), which increases monotonically with V. A pump offset (mV) is then subtracted.
"""

from __future__ import annotations

import numpy as np

from ..backend import is_symbolic
from ..constants import thermal_voltage_mv
from .ghk import ghk_current_and_slope, ghk_current_partials, permeant_sums


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
    di, do = m["c_in"], m["c_out"]
    return {
        "v": m["v"] + c["v"],
        "k_o": do,
        "k_i": di,
        "na_o": do * p_na,
        "na_i": di * p_na,
        "cl_o": di * p_cl,
        "cl_i": do * p_cl,
        "ca_o": c["c_out"],
        "ca_i": c["c_in"],
        "temp_k": m["temp_k"] + c["temp_k"],
        "p_na": do * na_o + di * na_i,
        "p_cl": do * cl_i + di * cl_o,
        "p_ca": c["perm"],
    }


def ghk_ca_setup(k_o, k_i, na_o, na_i, cl_o, cl_i, ca_o, ca_i, temp_k, p_na, p_cl, p_ca, pump_mv=0.0):
    """Solver setup (see :data:`vrest.models.solver.Setup`; flat input arrays): the zero lies
    between the monovalent GHK potential and E_Ca (mV)."""
    vt = thermal_voltage_mv(temp_k)
    a_out, a_in = permeant_sums(k_o, k_i, na_o, na_i, cl_o, cl_i, p_na, p_cl)
    v_mono = vt * np.log(a_out / a_in)
    e_ca = vt / 2 * np.log(ca_o / ca_i)

    def current(v, rows):
        i_mono, s_mono = ghk_current_and_slope(v, a_in[rows], a_out[rows], 1, temp_k[rows])
        i_ca, s_ca = ghk_current_and_slope(v, ca_i[rows], ca_o[rows], 2, temp_k[rows], p_ca[rows])
        return i_mono + i_ca, s_mono + s_ca

    return np.minimum(v_mono, e_ca) - 1.0, np.maximum(v_mono, e_ca) + 1.0, v_mono, current, False


def ca_permeant(p_ca=0.0) -> bool:
    """Whether Ca2+ is permeant somewhere (p_ca != 0), so V needs the solver; a symbolic
    p_ca (value unknown when the graph is built) counts as permeant."""
    return is_symbolic(p_ca) or bool(np.any(np.asarray(p_ca) != 0))
