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

Every number that depends on the data set (per-row inputs, V_m, SEM, weights, reference
row, singular directions) is a ``pm.Data`` container, so data sets of the same structure
share one compiled model (:mod:`vrest.inference.compiled`); inputs equal on every row are
constants and part of that structure.
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
    at = lambda r: gradient(design.model, **{k: v[r] for k, v in design.inputs.items()}, **params)
    g_lo, g_hi = at(lo), at(hi)
    weights = tuple(float(abs(g_lo[priors[j].name] - g_hi[priors[j].name])) for j in ratios)
    if not all(np.isfinite(w) and w > 0 for w in weights):
        return None
    reference = {k: float(v[mid]) for k, v in design.inputs.items()}
    return OffsetShare(ratios[0], ratios[1], pump, weights, reference)


@dataclass(frozen=True)
class ModelData:
    """One data set as the PyMC model sees it.

    ``key`` is the model's structure: data sets with the same key share one compiled
    model, with ``values`` (the ``pm.Data`` containers: per-row inputs, V_m, SEM, the
    coordinate constants) and ``start`` (the initial point of the free coordinates)
    swapped in. Inputs and SEMs equal on every row are ``constants`` (part of the key):
    PyTensor folds them, which keeps compilation short.
    """

    model: str
    priors: tuple[Prior, ...]
    hierarchical: bool
    likelihood: str
    share: tuple[int, int, int | None] | None  # offset-share indices (a, b, pump), or None: rotation
    cells: np.ndarray | None  # cell labels of a hierarchical model
    constants: tuple[tuple[str, float], ...]  # inputs (and sem_mv) with one value on every row
    values: dict[str, np.ndarray]
    start: dict[str, np.ndarray]

    @property
    def key(self) -> tuple:
        n_cells = 0 if self.cells is None else self.cells.size
        return (self.model, self.priors, self.hierarchical, self.likelihood, self.share, n_cells, self.constants,
                tuple(sorted(self.values)))  # fmt: skip


def model_data(design: Design, priors: list[Prior], lap: Laplace, *, hierarchical: bool = False,
               likelihood: str = "normal") -> ModelData:  # fmt: skip
    """The :class:`ModelData` of a design, with coordinates set up from the Laplace fit ``lap``."""
    if likelihood not in ("normal", "student-t"):
        raise ValueError(f"likelihood: expected 'normal' or 'student-t', got {likelihood!r}")
    rows = np.isfinite(design.v_obs)
    columns = {**{k: np.asarray(v[rows], dtype=float) for k, v in design.inputs.items()}, "sem_mv": design.sem[rows]}
    constants = tuple(sorted((k, float(v[0])) for k, v in columns.items() if np.ptp(v) == 0))
    values = {("" if k == "sem_mv" else "in_") + k: v for k, v in columns.items() if np.ptp(v) > 0}
    values["v_obs"] = design.v_obs[rows].astype(float)
    os_ = offset_share(design, priors, lap)
    if os_ is not None:
        start = _offset_share_start(os_, priors, design.model, lap.theta)
        values["share_weights"] = np.array(os_.weights)
        values |= {f"ref_{k}": np.float64(os_.reference[k]) for k in design.inputs if f"in_{k}" in values}
        share = (os_.a, os_.b, os_.pump)
    else:
        start = {"phi": np.asarray(lap.directions @ ((lap.theta - _m0(priors)) / _sd0(priors)))}
        values["directions"] = np.asarray(lap.directions, dtype=float)
        share = None
    cells = None
    if hierarchical:
        cells, values["cell_of_row"] = np.unique(design.cell[rows], return_inverse=True)
    return ModelData(design.model, tuple(priors), hierarchical, likelihood, share, cells, constants, values, start)


def _from_offset_share(share: tuple, priors: list[Prior], model: str, coords: dict, data: dict):
    """theta (list of tensors, priors order) from S, rho, c and the other log-scale coordinates."""
    a, b, pump = share
    log_w = pt.log(data["share_weights"])
    fraction = pt.sigmoid(coords["rho"])
    theta = [None] * len(priors)
    theta[a] = coords["S"] + pt.log(fraction) - log_w[0]
    theta[b] = coords["S"] + pt.log1p(-fraction) - log_w[1]
    for j, p in enumerate(priors):
        if theta[j] is None and j != pump:
            theta[j] = coords[f"log_{p.name}"] if p.log_scale else coords[p.name]
    if pump is not None:
        passive = {p.name: p.to_natural(theta[j]) for j, p in enumerate(priors) if j != pump}
        theta[pump] = symbolic_voltage(model, **_inputs(data, "ref_"), **passive, pump_mv=0.0) - coords["c"]
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


def build_model(spec: ModelData) -> pm.Model:
    """The PyMC model; named deterministics carry every fitted parameter on its natural scale.

    Every data-dependent number is a ``pm.Data`` container named as in ``spec.values``;
    the cell coordinate is numbered 0..n-1 (label the draws with ``spec.cells``).
    """
    priors = list(spec.priors)
    coords = {"param": [p.name for p in priors], "direction": [f"d{k}" for k in range(len(priors))]}
    if spec.hierarchical:
        coords["cell"] = np.arange(spec.cells.size)
    with pm.Model(coords=coords) as model:
        constants = dict(spec.constants)
        data = {k: pm.Data(k, v) for k, v in spec.values.items()}
        # a row-constant input is both every row's and the reference row's value
        data |= {prefix + k: v for k, v in constants.items() for prefix in ("in_", "ref_") if k != "sem_mv"}
        data.setdefault("sem_mv", constants.get("sem_mv"))
        if spec.share is not None:  # flat coordinates; the prior enters as a potential below
            free = {k: pm.Flat(k, initval=v) for k, v in spec.start.items()}
            kinds = {k: ("log" if k.startswith("log_") else k if k in TAU_PRIOR_SD else "c") for k in spec.start}
        else:  # the rotation of the standardised prior is N(0, I) exactly
            free = {"phi": pm.Normal("phi", 0.0, 1.0, dims="direction", initval=spec.start["phi"])}
            kinds = {"phi": "phi"}
        theta_pop = _theta(spec, free, data)
        if spec.share is not None:  # Flat coordinates: the prior enters here (|Jacobian| = 1)
            pm.Potential("prior", sum(pm.logp(pm.Normal.dist(p.mean, p.sd), t) for p, t in zip(priors, theta_pop, strict=True)))
        for p, t in zip(priors, theta_pop, strict=True):
            pm.Deterministic(p.name, p.to_natural(t))
        if spec.hierarchical:
            per_cell = {}
            for k, v in free.items():
                shape_dims = ("cell", "direction") if k == "phi" else "cell"
                tau = pm.HalfNormal(f"tau_{k}", TAU_PRIOR_SD[kinds[k]], dims="direction" if k == "phi" else None)
                eta = pm.Normal(f"eta_{k}", 0.0, 1.0, dims=shape_dims)
                per_cell[k] = v + tau * eta
            theta_cell = _theta(spec, per_cell, data)
            for p, t in zip(priors, theta_cell, strict=True):
                pm.Deterministic(f"{p.name}_cell", p.to_natural(t), dims="cell")
                pm.Deterministic(f"{p.name}_between_cell_sd", pt.std(t))
            theta_row = [t[data["cell_of_row"]] for t in theta_cell]
        else:
            theta_row = theta_pop
        params = {p.name: p.to_natural(t) for p, t in zip(priors, theta_row, strict=True)}
        mu = symbolic_voltage(spec.model, **_inputs(data, "in_"), **params)
        sigma = pm.HalfNormal("sigma_mv", SIGMA_PRIOR_SD_MV)
        scale = pt.sqrt(sigma**2 + data["sem_mv"] ** 2)
        if spec.likelihood == "student-t":
            nu = pm.Gamma("nu", *STUDENT_NU_PRIOR)
            pm.StudentT("v_m", nu=nu, mu=mu, sigma=scale, observed=data["v_obs"])
        else:
            pm.Normal("v_m", mu=mu, sigma=scale, observed=data["v_obs"])
    return model


def _inputs(data: dict, prefix: str) -> dict:
    """The model inputs among the data (containers or constants) named with ``prefix``."""
    return {k.removeprefix(prefix): v for k, v in data.items() if k.startswith(prefix)}


def _m0(priors: list[Prior]) -> np.ndarray:
    return np.array([p.mean for p in priors])


def _sd0(priors: list[Prior]) -> np.ndarray:
    return np.array([p.sd for p in priors])


def _theta(spec: ModelData, coords: dict, data: dict) -> list:
    priors = list(spec.priors)
    if spec.share is not None:
        return _from_offset_share(spec.share, priors, spec.model, coords, data)
    theta = _m0(priors) + _sd0(priors) * pt.dot(coords["phi"], data["directions"])
    return [theta[..., j] for j in range(len(priors))]
