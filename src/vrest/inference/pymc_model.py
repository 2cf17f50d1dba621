"""The PyMC model of a fit, parametrised along the design's identified directions.

With theta the unconstrained parameters (Gaussian prior N(m0, sd0), independent)
and V the right singular vectors of the prior-scaled sensitivity Jacobian at the
posterior mode (see :mod:`vrest.inference.identifiability`), the sampler works in

    phi = V ((theta - m0) / sd0),    theta = m0 + sd0 * (V^T phi),

a rotation of the standardised prior, so phi ~ N(0, I) a priori exactly, and the
data inform each phi_k separately (to first order): the posterior is nearly
axis-aligned, which NUTS samples without fighting a ridge. The unidentified
direction keeps its N(0, 1) prior.

Many cells: phi_cell = phi_pop + tau * eta_cell (non-centred), tau_k the cell-to-cell
sd along direction k in prior-sd units, tau_k ~ HalfNormal(0.5).
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from ..symbolic import symbolic_voltage
from .design import Design
from .priors import SIGMA_PRIOR_SD_MV, Prior

TAU_PRIOR_SD = 0.5
"""Half-normal sd of the cell-to-cell spread along each direction, in prior-sd units."""

STUDENT_NU_PRIOR = (2.0, 0.1)
"""Gamma(alpha, beta) prior of the Student-t degrees of freedom (mean 20)."""


def build_model(
    design: Design,
    priors: list[Prior],
    directions: np.ndarray,
    *,
    hierarchical: bool = False,
    likelihood: str = "normal",
) -> pm.Model:
    """The PyMC model; named deterministics carry every fitted parameter on its natural scale."""
    names = [p.name for p in priors]
    m0 = np.array([p.mean for p in priors])
    sd0 = np.array([p.sd for p in priors])
    rows = np.isfinite(design.v_obs)
    coords = {"param": names, "direction": [f"d{k}" for k in range(len(names))], "obs": np.nonzero(rows)[0]}
    cells = None
    if hierarchical:
        cells, cell_of_row = np.unique(design.cell[rows], return_inverse=True)
        coords["cell"] = cells
    with pm.Model(coords=coords) as model:
        phi = pm.Normal("phi", 0.0, 1.0, dims="direction")
        theta_pop = m0 + sd0 * pt.dot(phi, directions)
        for j, p in enumerate(priors):
            pm.Deterministic(p.name, p.to_natural(theta_pop[j]))
        if hierarchical:
            tau = pm.HalfNormal("tau", TAU_PRIOR_SD, dims="direction")
            eta = pm.Normal("eta", 0.0, 1.0, dims=("cell", "direction"))
            theta_cell = m0 + sd0 * pt.dot(phi + tau * eta, directions)  # (cell, param)
            for j, p in enumerate(priors):
                pm.Deterministic(f"{p.name}_cell", p.to_natural(theta_cell[:, j]), dims="cell")
            spread = sd0 * pt.sqrt(pt.dot(tau**2, directions**2))
            for j, p in enumerate(priors):
                pm.Deterministic(f"{p.name}_between_cell_sd", spread[j])
            theta_row = theta_cell[cell_of_row]
        else:
            theta_row = pt.shape_padleft(theta_pop)
        inputs = {k: v[rows] for k, v in design.inputs.items()}
        params = {p.name: p.to_natural(theta_row[:, j]) for j, p in enumerate(priors)}
        mu = pm.Deterministic("mu", symbolic_voltage(design.model, **inputs, **params), dims="obs")
        sigma = pm.HalfNormal("sigma_mv", SIGMA_PRIOR_SD_MV)
        scale = pt.sqrt(sigma**2 + design.sem[rows] ** 2)
        if likelihood == "student-t":
            nu = pm.Gamma("nu", *STUDENT_NU_PRIOR)
            pm.StudentT("v_m", nu=nu, mu=mu, sigma=scale, observed=design.v_obs[rows], dims="obs")
        elif likelihood == "normal":
            pm.Normal("v_m", mu=mu, sigma=scale, observed=design.v_obs[rows], dims="obs")
        else:
            raise ValueError(f"likelihood: expected 'normal' or 'student-t', got {likelihood!r}")
    return model
