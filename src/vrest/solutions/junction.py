"""Liquid-junction potential between a pipette solution and the bath: Henderson and stationary Nernst-Planck.

Sign convention (that of JPCalc and LJPcalc): the LJP is the potential of the bath with respect
to the pipette solution, phi_bath - phi_pipette; a K-gluconate pipette in saline gives about
+15 mV. With the amplifier zeroed in the bath before seal (the junction then nulled) and no
junction after break-in, the membrane potential is V_m = V_recorded - LJP (Barry P.H. & Lynch J.W.
(1991) J. Membr. Biol. 121:101; Barry P.H. (1994) J. Neurosci. Methods 51:107).

Henderson assumes linear mixing of the two solutions; the Nernst-Planck method (Marino M. et al.
(2014) arXiv:1403.3640, the method of JLJP and LJPcalc) solves the stationary Nernst-Planck
equations with local electroneutrality and zero current across the junction: every ion flux J_i
is constant, J_i = -D_i (c_i' + c_i (ln gamma_i)' + z_i c_i psi') with psi = F phi / R T; the fluxes
are found (a boundary-value problem on a junction of unit length) so that the profiles join the
two solutions, and the LJP is R T / F (psi(bath) - psi(pipette)). Diffusion coefficients are
in proportion to the ions' limiting conductivities per valence (Nernst-Einstein), held at their
25 C ratios; temperature enters through R T / F. Activities are off by default; with
``activity=True`` the Davies coefficients at the local ionic strength are used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy.integrate import solve_bvp

from ..constants import thermal_voltage_mv
from ..models.solver import SolverError
from .activity import davies_gamma, debye_huckel_a
from .library import ions
from .presets import as_solution
from .recipe import Solution

METHODS = ("nernst-planck", "henderson")

SolutionLike = Solution | Mapping[str, object] | str


def _check_temp(temp_k: float) -> float:
    if isinstance(temp_k, bool) or not isinstance(temp_k, int | float) or not math.isfinite(temp_k) or temp_k <= 0:
        raise ValueError(f"temp_k: expected a temperature above 0 K, got {temp_k!r}")
    return float(temp_k)


def _arrays(pipette: SolutionLike, bath: SolutionLike, tol_mm: float):
    """Valences, relative mobilities and concentrations (mM) on both sides, of every ion present on either side."""
    sides = {"pipette": as_solution(pipette, "pipette"), "bath": as_solution(bath, "bath")}
    for label, s in sides.items():
        if not any(ions()[n].z for n in s.ions):
            raise ValueError(f"{label}: no ions")
        message = s.neutrality_message(tol_mm)
        if message:
            raise ValueError(f"{label}: {message}")
    a, b = sides["pipette"], sides["bath"]
    names = sorted(n for n in {*a.ions, *b.ions} if ions()[n].z != 0)  # one order both ways: exact antisymmetry
    z = np.array([ions()[n].z for n in names], dtype=float)
    u = np.array([ions()[n].mobility for n in names])
    ca = np.array([a.ions.get(n, 0.0) for n in names], dtype=float)
    cb = np.array([b.ions.get(n, 0.0) for n in names], dtype=float)
    return names, z, u, ca, cb


def _davies(z: np.ndarray, c: np.ndarray, temp_k: float) -> np.ndarray:
    return davies_gamma(z, 0.5 * np.sum(z**2 * c), temp_k)


def henderson_ljp_mv(pipette: SolutionLike, bath: SolutionLike, temp_k: float = 298.15, activity: bool = False,
                     tol_mm: float = 0.5) -> float:  # fmt: skip
    """LJP (phi_bath - phi_pipette, mV) by Henderson's equation (Barry & Lynch 1991, eq. A8; JPCalc).

    V = -(R T / F) [sum z u (c_B - c_A)] / [sum z^2 u (c_B - c_A)] ln(sum z^2 u c_B / sum z^2 u c_A),
    u the mobility, A the pipette and B the bath; with ``activity`` concentrations become Davies activities.
    """
    temp_k = _check_temp(temp_k)
    _, z, u, ca, cb = _arrays(pipette, bath, tol_mm)
    if activity:
        ca, cb = ca * _davies(z, ca, temp_k), cb * _davies(z, cb, temp_k)
    return thermal_voltage_mv(temp_k) * _henderson(z, u, ca, cb)


def _henderson(z: np.ndarray, u: np.ndarray, ca: np.ndarray, cb: np.ndarray) -> float:
    """Henderson's LJP in units of R T / F; exactly odd under swapping the two sides."""
    num = np.sum(z * u * cb) - np.sum(z * u * ca)
    sa, sb = float(np.sum(z**2 * u * ca)), float(np.sum(z**2 * u * cb))
    d = sb - sa
    ratio = 2.0 / (sa + sb) if d == 0 else 2.0 * math.atanh(d / (sa + sb)) / d  # ln(sb/sa)/(sb-sa)
    return float(-num * ratio)


def _neutral(z: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``c`` with the anions scaled to cancel a residual imbalance (within the tolerance already checked)."""
    plus, minus = np.sum(np.where(z > 0, z * c, 0.0)), -np.sum(np.where(z < 0, z * c, 0.0))
    return np.where(z < 0, c * plus / minus, c)


def nernst_planck_ljp_mv(pipette: SolutionLike, bath: SolutionLike, temp_k: float = 298.15, activity: bool = False,
                         tol_mm: float = 0.5) -> float:  # fmt: skip
    """LJP (phi_bath - phi_pipette, mV) from the stationary Nernst-Planck equations with electroneutrality.

    A residual charge imbalance (at most ``tol_mm``) is removed by scaling each side's anions.
    SolverError if the boundary-value problem does not converge.
    """
    temp_k = _check_temp(temp_k)
    _, z, u, ca, cb = _arrays(pipette, bath, tol_mm)
    ca, cb = _neutral(z, ca), _neutral(z, cb)
    scale = float(max(ca.max(), cb.max()))
    ca, cb = ca / scale, cb / scale
    if np.allclose(ca, cb, rtol=0.0, atol=1e-13):
        return 0.0
    n = len(z)
    e = int(np.argmax(np.minimum(ca, cb) + 1e-3 * (ca + cb)))  # eliminated by electroneutrality
    free = np.array([i for i in range(n) if i != e])
    zf, ze = z[free], z[e]
    slope = -math.log(10.0) * debye_huckel_a(temp_k)  # Davies: d(ln gamma)/dI = z^2 slope (1/(2 r (1+r)^2) - 0.3)

    def full(c_free: np.ndarray) -> np.ndarray:
        c = np.empty((n, c_free.shape[1]))
        c[free] = c_free
        c[e] = -(zf @ c_free) / ze
        return c

    def rhs(x: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
        c = full(y[:-1])
        flux = np.empty(n)
        flux[free] = p
        flux[e] = -(zf @ p) / ze
        b = -flux[:, None] / u[:, None]
        if activity:  # c_i (ln gamma_i)' = w_i s, s = 1/2 sum z^2 c' (scaled mM), Davies d(ln gamma)/dI
            root = np.sqrt(np.maximum(0.5 * np.sum(z[:, None] ** 2 * c, axis=0) * scale / 1e3, 1e-12))
            w = c * z[:, None] ** 2 * slope * (0.5 / (root * (1.0 + root) ** 2) - 0.3) * scale / 1e3
        else:
            w = np.zeros_like(c)
        # (1 + 1/2 sum z^2 w) s + (1/2 sum z^3 c) psi' = 1/2 sum z^2 b;  (sum z w) s + (sum z^2 c) psi' = sum z b
        a11 = 1.0 + 0.5 * np.sum(z[:, None] ** 2 * w, axis=0)
        a12 = 0.5 * np.sum(z[:, None] ** 3 * c, axis=0)
        a21 = np.sum(z[:, None] * w, axis=0)
        a22 = np.sum(z[:, None] ** 2 * c, axis=0)
        r1, r2 = 0.5 * np.sum(z[:, None] ** 2 * b, axis=0), np.sum(z[:, None] * b, axis=0)
        det = a11 * a22 - a12 * a21
        s = (r1 * a22 - a12 * r2) / det
        dpsi = (a11 * r2 - a21 * r1) / det
        dc = b - w * s - z[:, None] * c * dpsi
        return np.vstack([dc[free], dpsi])

    def bc(ya: np.ndarray, yb: np.ndarray, p: np.ndarray) -> np.ndarray:
        return np.concatenate([ya[:-1] - ca[free], yb[:-1] - cb[free], ya[-1:]])

    # initial guess: linear mixing (Henderson's profile), fluxes and field of zero current at the midpoint
    x = np.linspace(0.0, 1.0, 41)
    mid, delta = 0.5 * (ca + cb), cb - ca
    field = -np.sum(z * u * delta) / np.sum(z**2 * u * mid)
    flux0 = -u * (delta + z * mid * field)
    y0 = np.vstack([ca[free, None] + delta[free, None] * x, _henderson(z, u, ca, cb) * x])
    result = solve_bvp(rhs, bc, x, y0, p=flux0[free], tol=1e-8, bc_tol=1e-10, max_nodes=200000)
    if not result.success:
        raise SolverError(f"Nernst-Planck junction potential: {result.message}")
    return float(thermal_voltage_mv(temp_k) * result.y[-1, -1])


def junction_potential(pipette: SolutionLike, bath: SolutionLike, temp_k: float = 298.15,
                       method: str = "nernst-planck", activity: bool = False, tol_mm: float = 0.5) -> float:  # fmt: skip
    """Liquid-junction potential phi_bath - phi_pipette, mV; correct recordings as V_m = V_recorded - LJP.

    ``pipette`` and ``bath`` are Solutions, recipes (mapping of salts/ions to mM) or preset names /
    TOML paths; ``method`` is ``"nernst-planck"`` (default) or ``"henderson"``; solutions whose
    charge imbalance exceeds ``tol_mm`` (mEq/L) are refused with a ValueError naming the side.
    """
    if method == "nernst-planck":
        return nernst_planck_ljp_mv(pipette, bath, temp_k, activity, tol_mm)
    if method == "henderson":
        return henderson_ljp_mv(pipette, bath, temp_k, activity, tol_mm)
    raise ValueError(f"method: expected one of {', '.join(METHODS)}, got {method!r}")
