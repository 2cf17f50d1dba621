"""Real experimental solutions: recipes -> ions, charge balance, osmolarity, activities, liquid-junction potentials.

>>> from vrest.solutions import junction_potential
>>> round(junction_potential("k_gluconate_pipette", "acsf"), 1)   # phi_bath - phi_pipette, mV
13.2

Correct a recording as V_m = V_recorded - LJP. Concentrations in mM, temperatures in K.
"""

from __future__ import annotations

from .activity import (
    activity_coefficients,
    activity_mm,
    davies_gamma,
    debye_huckel_a,
    debye_huckel_b,
    debye_huckel_gamma,
    water_permittivity,
)
from .junction import METHODS, henderson_ljp_mv, junction_potential, nernst_planck_ljp_mv
from .library import Buffer, Ion, buffers, get_ion, ions, nearest, parse_salt, titrants
from .presets import SolutionPreset, as_solution, get_solution_preset, load_solution, solution_presets
from .recipe import Solution, make_solution, read_solution_file

__all__ = [
    "METHODS",
    "Buffer",
    "Ion",
    "Solution",
    "SolutionPreset",
    "activity_coefficients",
    "activity_mm",
    "as_solution",
    "buffers",
    "davies_gamma",
    "debye_huckel_a",
    "debye_huckel_b",
    "debye_huckel_gamma",
    "get_ion",
    "get_solution_preset",
    "henderson_ljp_mv",
    "ions",
    "junction_potential",
    "load_solution",
    "make_solution",
    "nearest",
    "nernst_planck_ljp_mv",
    "parse_salt",
    "read_solution_file",
    "solution_presets",
    "titrants",
    "water_permittivity",
]
