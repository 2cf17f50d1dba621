"""Physical constants (CODATA 2018 exact values) and the thermal voltage."""

from __future__ import annotations

R_J_PER_MOL_K = 8.314462618
"""Molar gas constant R, J/(mol K)."""

F_C_PER_MOL = 96485.33212
"""Faraday constant F, C/mol."""

ZERO_CELSIUS_K = 273.15
"""0 degrees Celsius in kelvin."""


def thermal_voltage_mv(temp_k):
    """RT/F in mV at absolute temperature ``temp_k`` (K); works on arrays and tensors."""
    return 1e3 * R_J_PER_MOL_K * temp_k / F_C_PER_MOL


def celsius_to_kelvin(temp_c):
    """Convert degrees Celsius to kelvin."""
    return temp_c + ZERO_CELSIUS_K
