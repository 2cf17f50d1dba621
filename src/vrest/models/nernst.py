"""Nernst equilibrium potential."""

from __future__ import annotations

from ..backend import namespace
from ..constants import thermal_voltage_mv


def nernst_mv(c_out, c_in, z, temp_k):
    """E = (RT / zF) ln(c_out / c_in) in mV; concentrations in any common unit, T in K."""
    xp = namespace(c_out, c_in, temp_k)
    return thermal_voltage_mv(temp_k) / z * (xp.log(c_out) - xp.log(c_in))


def nernst_gradient(c_out, c_in, z, temp_k) -> dict:
    """Analytic partial derivatives of :func:`nernst_mv`: dE/dc_out = RT/(z F c_out), ..."""
    vt_z = thermal_voltage_mv(temp_k) / z
    return {
        "c_out": vt_z / c_out,
        "c_in": -vt_z / c_in,
        "temp_k": nernst_mv(c_out, c_in, z, temp_k) / temp_k,
    }
