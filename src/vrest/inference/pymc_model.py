"""The PyMC model of a fit, in coordinates that follow what the design identifies.

The priors are Gaussian in the unconstrained parameters theta (log ratios, linear
pump); the likelihood is Normal (or Student-t) around the forward model. NUTS does
not sample theta directly, because with the usual protocol the posterior is a
curved ridge in theta. Two parametrisations are used:

**Offset-share** (models with two ratio parameters and an additive pump offset, or
no pump: ``ghk``, ``mullins-noda``, ``chord``). With the ratios a, b (e.g. p_na,
p_cl), weights w_a, w_b (their effect on the K_o-dependence of V across the design),
and a reference design row,

    S   = log(w_a a + w_b b)            the total non-K term the V-K_o shape identifies
    rho = logit(w_a a / (w_a a + w_b b)) the share of a in it, often unidentified
    c   = V_passive(reference) - pump_mv the V_m at the reference row, well identified

so pump_mv = V_passive(reference; a, b) - c. The map (S, rho, c) -> (log a, log b,
pump_mv) has |Jacobian| = 1, so the prior density carries over unchanged; an
unidentified share is sampled from its prior, not along a ridge.

**Rotation** (other models): phi = V ((theta - m0) / sd0) with V the right singular
vectors of the prior-scaled sensitivity Jacobian at the mode: a rotation of the
standardised prior (phi ~ N(0, I) exactly) in which the data inform each phi_k
separately to first order.

Many cells: every sampled coordinate u gets per-cell values u_cell = u_pop + tau * eta
(non-centred, eta ~ N(0, 1)), tau ~ HalfNormal in the coordinate's units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from ..api import gradient, predict
from ..symbolic import symbolic_voltage
from .design import Design
from .identifiability import Laplace, natural
from .priors import SIGMA_PRIOR_SD_MV, Prior

STUDENT_NU_PRIOR = (2.0, 0.1)
"""Gamma(alpha, beta) prior of the Student-t degrees of freedom (mean 20)."""

TAU_PRIOR_SD = {"S": 0.5, "rho": 1.0, "c": 5.0, "log": 0.1, "phi": 0.5}
"""Half-normal sd of the cell-to-cell spread of each coordinate kind (log units; mV for c)."""


@dataclass(frozen=True)
class OffsetShare:
    """What the offset-share coordinates need: which priors, weights and the reference row."""

    a: int  # index of the first ratio in the priors
    b: int  # index of the second ratio
    pump: int | None  # index of pump_mv, or None without a pump
    weights: tuple[float, float]
    reference: dict  # model inputs at the reference row (scalars)


def offset_share(design: Design, priors: list[Prior], lap: Laplace) -> OffsetShare | None:
    """The offset-share set-up for this design, or None where it does not apply."""
    names = [p.name for p in priors]
    ratios = [j for j, p in enumerate(priors) if p.log_scale and p.name in ("p_na", "p_cl", "g_na", "g_cl")]
    pump = names.index("pump_mv") if "pump_mv" in names else None
    if len(ratios) != 2 or design.model not in ("ghk", "mullins-noda", "chord"):
        return None
    rows = np.nonzero(np.isfinite(design.v_obs))[0]
    k_o = design.inputs["k_o"][rows]
    if np.ptp(k_o) == 0:
        return None
    lo, hi, mid = rows[np.argmin(k_o)], rows[np.argmax(k_o)], rows[np.argsort(k_o)[k_o.size // 2]]
    params = natural(priors, lap.theta)
    at = lambda r: gradient(design.model, **{k: v[r] for k, v in design.inputs.items()}, **params)  # noqa: E731
    g_lo, g_hi = at(lo), at(hi)
    weights = tuple(float(abs(g_lo[priors[j].name] - g_hi[priors[j].name])) for j in ratios)
    if not all(np.isfinite(w) and w > 0 for w in weights):
        return None
    reference = {k: float(v[mid]) for k, v in design.inputs.items()}
    return OffsetShare(ratios[0], ratios[1], pump, weights, reference)


def _from_offset_share(os_: OffsetShare, priors: list[Prior], model: str, coords: dict):
    """theta (list of tensors, priors order) from S, rho, c and the other log-scale coordinates."""
    wa, wb = os_.weights
    share = pt.sigmoid(coords["rho"])
    theta = [None] * len(priors)
    theta[os_.a] = coords["S"] + pt.log(share) - np.log(wa)
    theta[os_.b] = coords["S"] + pt.log1p(-share) - np.log(wb)
    for j, p in enumerate(priors):
        if theta[j] is None and j != os_.pump:
            theta[j] = coords[f"log_{p.name}"] if p.log_scale else coords[p.name]
    if os_.pump is not None:
        passive = {p.name: p.to_natural(theta[j]) for j, p in enumerate(priors) if j != os_.pump}
        inputs = {**os_.reference, **passive, "pump_mv": 0.0}
        theta[os_.pump] = symbolic_voltage(model, **inputs) - coords["c"]
    return theta


def _offset_share_start(os_: OffsetShare, priors: list[Prior], model: str, theta: np.ndarray) -> dict:
    wa, wb = os_.weights
    a, b = np.exp(theta[os_.a]), np.exp(theta[os_.b])
    start = {"S": np.log(wa * a + wb * b), "rho": np.log(wa * a) - np.log(wb * b)}
    for j, p in enumerate(priors):
        if j not in (os_.a, os_.b, os_.pump):
            start[f"log_{p.name}" if p.log_scale else p.name] = theta[j]
    if os_.pump is not None:
        params = natural(priors, theta)
        params["pump_mv"] = 0.0
        start["c"] = float(predict(model, **os_.reference, **params)) - theta[os_.pump]
    return start


def build_model(
    design: Design,
    priors: list[Prior],
    lap: Laplace,
    *,
    hierarchical: bool = False,
    likelihood: str = "normal",
) -> pm.Model:
    """The PyMC model; named deterministics carry every fitted parameter on its natural scale."""
    if likelihood not in ("normal", "student-t"):
        raise ValueError(f"likelihood: expected 'normal' or 'student-t', got {likelihood!r}")
    rows = np.isfinite(design.v_obs)
    os_ = offset_share(design, priors, lap)
    if os_ is not None:
        start = _offset_share_start(os_, priors, design.model, lap.theta)
        kinds = {k: ("log" if k.startswith("log_") else k if k in TAU_PRIOR_SD else "c") for k in start}
    else:
        start = {"phi": np.asarray(lap.directions @ ((lap.theta - _m0(priors)) / _sd0(priors)))}
        kinds = {"phi": "phi"}
    coords = {"param": [p.name for p in priors], "direction": [f"d{k}" for k in range(len(priors))],
              "obs": np.nonzero(rows)[0]}  # fmt: skip
    if hierarchical:
        cells, cell_of_row = np.unique(design.cell[rows], return_inverse=True)
        coords["cell"] = cells
    with pm.Model(coords=coords) as model:
        if os_ is not None:  # flat coordinates; the prior enters as a potential below
            free = {k: pm.Flat(k, initval=v) for k, v in start.items()}
        else:  # the rotation of the standardised prior is N(0, I) exactly
            free = {"phi": pm.Normal("phi", 0.0, 1.0, dims="direction", initval=start["phi"])}
        theta_pop = _theta(os_, priors, design.model, free, lap)
        if os_ is not None:  # Flat coordinates: the prior enters here (|Jacobian| = 1)
            pm.Potential("prior", sum(pm.logp(pm.Normal.dist(p.mean, p.sd), t) for p, t in zip(priors, theta_pop, strict=True)))
        for p, t in zip(priors, theta_pop, strict=True):
            pm.Deterministic(p.name, p.to_natural(t))
        if hierarchical:
            per_cell = {}
            for k, v in free.items():
                shape_dims = ("cell", "direction") if k == "phi" else "cell"
                tau = pm.HalfNormal(f"tau_{k}", TAU_PRIOR_SD[kinds[k]], dims="direction" if k == "phi" else None)
                eta = pm.Normal(f"eta_{k}", 0.0, 1.0, dims=shape_dims)
                per_cell[k] = v + tau * eta
            theta_cell = _theta(os_, priors, design.model, per_cell, lap)
            for p, t in zip(priors, theta_cell, strict=True):
                pm.Deterministic(f"{p.name}_cell", p.to_natural(t), dims="cell")
                pm.Deterministic(f"{p.name}_between_cell_sd", pt.std(t))
            theta_row = [t[cell_of_row] for t in theta_cell]
        else:
            theta_row = theta_pop
        inputs = {k: v[rows] for k, v in design.inputs.items()}
        params = {p.name: p.to_natural(t) for p, t in zip(priors, theta_row, strict=True)}
        mu = pm.Deterministic("mu", symbolic_voltage(design.model, **inputs, **params), dims="obs")
        sigma = pm.HalfNormal("sigma_mv", SIGMA_PRIOR_SD_MV)
        scale = pt.sqrt(sigma**2 + design.sem[rows] ** 2)
        observed = pm.Data("v_obs", design.v_obs[rows], dims="obs")  # swappable: one compiled model, many data sets
        if likelihood == "student-t":
            nu = pm.Gamma("nu", *STUDENT_NU_PRIOR)
            pm.StudentT("v_m", nu=nu, mu=mu, sigma=scale, observed=observed, dims="obs")
        else:
            pm.Normal("v_m", mu=mu, sigma=scale, observed=observed, dims="obs")
    return model


def sampled_names(model: pm.Model) -> list[str]:
    """The free coordinates NUTS samples (for tracing)."""
    return [v.name for v in model.free_RVs]


def _m0(priors: list[Prior]) -> np.ndarray:
    return np.array([p.mean for p in priors])


def _sd0(priors: list[Prior]) -> np.ndarray:
    return np.array([p.sd for p in priors])


def _theta(os_: OffsetShare | None, priors: list[Prior], model: str, coords: dict, lap: Laplace) -> list:
    if os_ is not None:
        return _from_offset_share(os_, priors, model, coords)
    theta = _m0(priors) + _sd0(priors) * pt.dot(coords["phi"], lap.directions)
    return [theta[..., j] for j in range(len(priors))]
