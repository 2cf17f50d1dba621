"""The PyMC model of a fit, in coordinates that follow what the design identifies.

The priors are Gaussian in the unconstrained parameters theta (log ratios, linear
pump); the likelihood is Normal (or Student-t) around the forward model; for a model with
two stable states, around each branch, the branch of each row latent or, with an order
column, reached from the previous solution (:mod:`vrest.inference.branches`). NUTS does
not sample theta directly, because with the usual protocol the posterior is a
curved ridge in theta. Two parametrisations are used:

**Offset-share** (models with two ratio parameters and an additive pump offset, or
no pump, whose registry record says ``offset_share``: ``ghk``, ``mullins-noda``, ``chord``). With the ratios a, b (e.g. p_na,
p_cl), weights w_a, w_b (their effect on the K_o-dependence of V across the design),
and a reference design row,

    S   = log(w_a a + w_b b)            the total non-K term the V-K_o shape identifies
    rho = logit(w_a a / (w_a a + w_b b)) the share of a in it, often unidentified
    c   = V_passive(reference) - pump_mv the V_m at the reference row, well identified

so pump_mv = V_passive(reference; a, b) - c. The map (S, rho, c) -> (log a, log b,
pump_mv) has |Jacobian| = 1, so the prior density carries over unchanged; an
unidentified share is sampled from its prior, not along a ridge.

Where the pump is a current through a linear leak (the record's ``leak``: ``rectifying-kir``,
whose g_na and g_cl add to g_lin with reversal e_lin), the weights are 1, S = log g_lin, and

    c_leak = e_lin(reference) - i_pump / g_lin            the reversal of the leak with the pump, in mV
    c      = V_r - (V_r - c_leak) (g_lin / g_0)^alpha     sampled (mV)

so i_pump = g_lin (e_lin(reference) - V_r) + (V_r - c) g_0^alpha g_lin^(1 - alpha), with |Jacobian|
g_0^alpha g_lin^(1 - alpha) (its log joins the prior). The data identify the leak's current
g_lin (V - c_leak): where states on the depolarised branch sit near c_leak (the rectifier blocked), they
pin c_leak itself (alpha = 0); where the leak is small and the rectifier holds V near V_r, they pin the
current at V_r, and c_leak runs along a hyperbola in S (alpha = 1). V_r, the model's V at the reference
row at the Laplace mode, g_0 the mode's g_lin, and alpha in [0, 1] chosen to make c uncorrelated with S
under the Laplace fit (:func:`.model_data.leak_coordinate`). In (log g_na, log g_cl, i_pump) the same
information is a curved ridge along which NUTS mixed poorly (R-hat up to 1.2 on synthetic data).
A Boltzmann block (the record's ``block``: v_half, k_slope) is sampled as its log-odds at the depolarisation y_ref the Laplace fit finds
best informed (:func:`.model_data.block_reference`),

    u   = (y_ref - v_half) / k_slope       so v_half = y_ref - u k_slope, |Jacobian| k_slope

**Rotation** (other models): phi = V ((theta - m0) / sd0) with V the right singular
vectors of the prior-scaled sensitivity Jacobian at the mode: a rotation of the
standardised prior (phi ~ N(0, I) exactly) in which the data inform each phi_k
separately to first order.

Many cells: every sampled coordinate u gets per-cell values u_cell = u_pop + tau * eta
(non-centred, eta ~ N(0, 1)), tau ~ HalfNormal in the coordinate's units.

Every number that depends on the data set (per-row inputs, V_m, SEM, weights, reference
row, singular directions) is a ``pm.Data`` container, so data sets of the same structure
share one compiled model (:mod:`vrest.inference.compiled`); inputs equal on every row
(the assumed concentrations and temperature) are constants and part of that structure.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from ..models.kir_states import branch_log_weight
from ..symbolic import symbolic_branches, symbolic_voltage
from .branches import BRANCHES, latent_log_likelihood, observed_branches
from .model_data import ModelData
from .parametrisation import direction_labels, inputs_named, log_jacobian, model_inputs, named_parameters, thetas
from .priors import SIGMA_PRIOR_SD_MV
from .sequence_op import OrderedLikelihoodOp

STUDENT_NU_PRIOR = (2.0, 0.1)
"""Gamma(alpha, beta) prior of the Student-t degrees of freedom (mean 20)."""

TAU_PRIOR_SD = {"S": 0.5, "rho": 1.0, "c": 5.0, "u": 0.5, "log": 0.1, "phi": 0.5}
"""Half-normal sd of the cell-to-cell spread of each coordinate kind (log units; mV for c)."""


def build_model(spec: ModelData) -> pm.Model:
    """The PyMC model; named deterministics carry every fitted parameter on its natural scale.

    Every data-dependent number is a ``pm.Data`` container named as in ``spec.values``;
    the cell coordinate is numbered 0..n-1 (label the draws with ``spec.cells``).
    The deterministics come from :mod:`.parametrisation`, which computes them again from
    the traced coordinates after sampling.
    """
    priors = list(spec.priors)
    coords = {"param": [p.name for p in priors], "direction": direction_labels(spec)}
    if spec.hierarchical:
        coords["cell"] = np.arange(spec.cells.size)
    with pm.Model(coords=coords) as model:
        data = {k: pm.Data(k, v, **_static(k, v)) if k in spec.values else v for k, v in model_inputs(spec).items()}
        if spec.share is not None:  # flat coordinates; the prior enters as a potential below
            free = {k: pm.Flat(k, initval=v) for k, v in spec.start.items()}
            kinds = {k: ("log" if k.startswith("log_") else k if k in TAU_PRIOR_SD else "c") for k in spec.start}
        else:  # the rotation of the standardised prior is N(0, I) exactly
            free = {"phi": pm.Normal("phi", 0.0, 1.0, dims="direction", initval=spec.start["phi"])}
            kinds = {"phi": "phi"}
        if spec.hierarchical:
            for k in list(free):
                direction = "direction" if k == "phi" else None
                free[f"tau_{k}"] = pm.HalfNormal(f"tau_{k}", TAU_PRIOR_SD[kinds[k]], dims=direction)
                free[f"eta_{k}"] = pm.Normal(f"eta_{k}", 0.0, 1.0, dims=("cell", direction) if direction else "cell")
        theta_pop, theta_cell = thetas(spec, free, data)
        if spec.share is not None:  # Flat coordinates: the prior enters here, with the map's |Jacobian|
            log_prior = sum(pm.logp(pm.Normal.dist(p.mean, p.sd), t) for p, t in zip(priors, theta_pop, strict=True))
            pm.Potential("prior", log_prior + log_jacobian(spec, theta_pop, data))
        for name, value in named_parameters(spec, theta_pop, theta_cell).items():
            pm.Deterministic(name, value, dims="cell" if name.endswith("_cell") else None)
        theta_row = theta_pop if theta_cell is None else [t[data["cell_of_row"]] for t in theta_cell]
        params = {p.name: p.to_natural(t) for p, t in zip(priors, theta_row, strict=True)}
        sigma = pm.HalfNormal("sigma_mv", SIGMA_PRIOR_SD_MV)
        scale = pt.sqrt(sigma**2 + data["sem_mv"] ** 2)
        nu = pm.Gamma("nu", *STUDENT_NU_PRIOR) if spec.likelihood == "student-t" else None
        if spec.branched:
            pm.Potential("v_m", _branch_log_likelihood(spec, data, params, scale, nu))
            return model
        mu = symbolic_voltage(spec.model, **inputs_named(data, "in_"), **params)
        if nu is not None:
            pm.StudentT("v_m", nu=nu, mu=mu, sigma=scale, observed=data["v_obs"])
        else:
            pm.Normal("v_m", mu=mu, sigma=scale, observed=data["v_obs"])
    return model


def _static(name: str, value) -> dict:
    """The static shape of a data container whose shape the structure fixes (the rotation's directions: one row and
    column per parameter), so that no run-time shape check is compiled for it; other containers vary by data set."""
    return {"shape": np.shape(value)} if name == "directions" else {}


def _branch_log_likelihood(spec: ModelData, data: dict, params: dict, scale, nu):
    """The log-likelihood of a model with two branches (:mod:`.branches`): the branch of each row latent, or,
    with ``spec.ordered``, reached from the previous row of its cell (a forward algorithm over the rows).
    ``scale``: the rows' observation sd (mV); ``nu``: Student-t degrees of freedom, or None (Normal)."""
    branches = symbolic_branches(spec.model, **inputs_named(data, "in_"), **params)
    v_obs = pt.as_tensor_variable(data["v_obs"])

    def observation(mu):
        return pm.Normal.dist(mu=mu, sigma=scale) if nu is None else pm.StudentT.dist(nu=nu, mu=mu, sigma=scale)

    seen = observed_branches(branches)
    lp = [pm.logp(observation(seen[b]), v_obs) for b in BRANCHES]
    lw = [branch_log_weight(branches[f"margin_{b}"]) for b in BRANCHES]
    if not spec.ordered:
        return latent_log_likelihood(*lp, *lw).sum()
    row = pt.as_tensor_variable(data["sequence_row"])
    return OrderedLikelihoodOp()(data["sequence_start"], lw[0][row], lw[1][row], lp[0][row], lp[1][row])[0]
