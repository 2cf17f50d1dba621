"""Activity coefficients: Davies and extended Debye-Hueckel, at a solution's ionic strength and temperature.

log10 gamma = -A z^2 (sqrt(I) / (1 + sqrt(I)) - 0.3 I)            (Davies 1962)
log10 gamma = -A z^2 sqrt(I) / (1 + B a sqrt(I))                  (extended Debye-Hueckel)

with I in mol/L (the functions take mM, as the rest of vrest), A and B from Debye-Hueckel theory
at the permittivity of water at that temperature, and a the ion-size parameter (Angstrom; Kielland
1937 for the ions the library gives it). A is about 0.51 and B about 0.33 per Angstrom at 25 C.
Multiply a concentration by its gamma for the activity to use in Nernst or GHK terms, e.g.
``vrest.nernst(k_o * gamma_o, k_i * gamma_i, 1)``.
"""

from __future__ import annotations

import math

import numpy as np

from ..constants import R_J_PER_MOL_K, ZERO_CELSIUS_K
from .library import get_ion
from .recipe import Solution

ELEMENTARY_CHARGE_C = 1.602176634e-19
"""Elementary charge e, C (exact, SI 2019)."""

AVOGADRO_PER_MOL = 6.02214076e23
"""Avogadro constant N_A, 1/mol (exact, SI 2019)."""

EPSILON_0_F_PER_M = 8.8541878128e-12
"""Vacuum permittivity, F/m (CODATA 2018)."""

MODELS = ("davies", "debye-huckel")


def water_permittivity(temp_k: float) -> float:
    """Relative permittivity of water, 0-100 C: Malmberg C.G. & Maryott A.A. (1956) J. Res. Natl. Bur. Stand. 56:1, eq. 7."""
    t = temp_k - ZERO_CELSIUS_K
    return 87.740 - 0.40008 * t + 9.398e-4 * t**2 - 1.410e-6 * t**3


def _kappa_per_m(temp_k: float) -> float:
    """Inverse Debye length per sqrt(mol/L) of ionic strength, 1/m (water density taken as 1 kg/L)."""
    eps = EPSILON_0_F_PER_M * water_permittivity(temp_k)
    kt = R_J_PER_MOL_K / AVOGADRO_PER_MOL * temp_k
    return math.sqrt(2.0e3 * AVOGADRO_PER_MOL * ELEMENTARY_CHARGE_C**2 / (eps * kt))


def debye_huckel_a(temp_k: float = 298.15) -> float:
    """Debye-Hueckel A, (mol/L)^-1/2 in log10 units: e^2 kappa / (8 pi eps0 eps_r k T ln 10)."""
    eps = EPSILON_0_F_PER_M * water_permittivity(temp_k)
    kt = R_J_PER_MOL_K / AVOGADRO_PER_MOL * temp_k
    return ELEMENTARY_CHARGE_C**2 * _kappa_per_m(temp_k) / (8.0 * math.pi * eps * kt * math.log(10.0))


def debye_huckel_b(temp_k: float = 298.15) -> float:
    """Debye-Hueckel B, 1/(Angstrom (mol/L)^1/2): the inverse Debye length per sqrt of ionic strength."""
    return _kappa_per_m(temp_k) * 1e-10


def _check(ionic_strength_mm, temp_k: float) -> np.ndarray:
    i = np.asarray(ionic_strength_mm, dtype=float)
    if not np.all(np.isfinite(i)) or np.any(i < 0):
        raise ValueError(f"ionic_strength_mm: expected finite values >= 0, got {ionic_strength_mm!r}")
    if not (math.isfinite(temp_k) and temp_k > 0):
        raise ValueError(f"temp_k: expected a temperature above 0 K, got {temp_k!r}")
    return i


def davies_gamma(z, ionic_strength_mm, temp_k: float = 298.15):
    """Davies activity coefficient of an ion of valence ``z`` at ionic strength ``ionic_strength_mm`` (mM).

    Davies C.W. (1962) Ion Association, Butterworths, London (the 0.3 I form); good to about 0.5 M.
    """
    root = np.sqrt(_check(ionic_strength_mm, temp_k) / 1e3)
    log10 = -debye_huckel_a(temp_k) * np.asarray(z, dtype=float) ** 2 * (root / (1.0 + root) - 0.3 * root**2)
    return 10.0**log10


def debye_huckel_gamma(z, ionic_strength_mm, size_angstrom: float, temp_k: float = 298.15):
    """Extended Debye-Hueckel activity coefficient (ion-size parameter ``size_angstrom``); good to about 0.1 M."""
    if not (math.isfinite(size_angstrom) and size_angstrom >= 0):
        raise ValueError(f"size_angstrom: expected a size >= 0, got {size_angstrom!r}")
    root = np.sqrt(_check(ionic_strength_mm, temp_k) / 1e3)
    a, b = debye_huckel_a(temp_k), debye_huckel_b(temp_k)
    return 10.0 ** (-a * np.asarray(z, dtype=float) ** 2 * root / (1.0 + b * size_angstrom * root))


def activity_coefficients(solution: Solution, temp_k: float = 298.15, model: str = "davies") -> dict[str, float]:
    """Activity coefficient of every species of ``solution`` at its own ionic strength (1 for non-electrolytes)."""
    if model not in MODELS:
        raise ValueError(f"model: expected one of {', '.join(MODELS)}, got {model!r}")
    strength = solution.ionic_strength_mm
    out = {}
    for name in solution.ions:
        ion = get_ion(name)
        if ion.z == 0:
            out[name] = 1.0
        elif model == "davies":
            out[name] = float(davies_gamma(ion.z, strength, temp_k))
        elif ion.size_angstrom is None:
            raise ValueError(f"{name}: no Kielland ion size in the library; use model='davies'")
        else:
            out[name] = float(debye_huckel_gamma(ion.z, strength, ion.size_angstrom, temp_k))
    return out


def activity_mm(solution: Solution, ion: str, temp_k: float = 298.15, model: str = "davies") -> float:
    """Activity of ``ion`` in ``solution`` in mM (gamma x concentration), for Nernst and GHK terms."""
    name = get_ion(ion).name
    if name not in solution.ions:
        return 0.0
    return activity_coefficients(solution, temp_k, model)[name] * solution.ions[name]
