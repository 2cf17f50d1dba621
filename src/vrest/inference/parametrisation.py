"""From the sampled coordinates to the fitted parameters, written once for PyTensor and NumPy.

The PyMC model (:mod:`.pymc_model`) builds its deterministics with these functions;
after sampling, the same functions turn the draws of the coordinates into the named
parameters in NumPy. So NUTS only traces the coordinates and only the log-density is
Numba-compiled (see :mod:`.compiled`).

Arrays: a coordinate is a scalar (S, rho, c, tau_S, ...) or a vector over
``direction`` (phi, tau_phi); per-cell ones (eta_*) add a ``cell`` axis before it. In
NumPy every array carries the draw axes in front, (chain, draw, ...).
"""

from __future__ import annotations

import numpy as np

from ..backend import is_symbolic, namespace
from ..models import get_model
from .model_data import HELD, ModelData, leak, prior_means, prior_sds


def direction_labels(spec: ModelData) -> list[str]:
    """Labels of the ``direction`` coordinate (one per fitted parameter)."""
    return [f"d{k}" for k in range(len(spec.priors))]


def model_inputs(spec: ModelData) -> dict:
    """The data of the model by name: the ``pm.Data`` values and the row-constant inputs (as ``in_*`` and ``ref_*``)."""
    data = dict(spec.values)
    data |= {prefix + k: v for k, v in spec.constants for prefix in ("in_", "ref_") if k != "sem_mv"}
    data.setdefault("sem_mv", dict(spec.constants).get("sem_mv"))
    return data


def inputs_named(data: dict, prefix: str) -> dict:
    """The model inputs among the data named with ``prefix`` ("in_": every row; "ref_": the reference row)."""
    return {k.removeprefix(prefix): v for k, v in data.items() if k.startswith(prefix)}


def thetas(spec: ModelData, free: dict, data: dict) -> tuple[list, list | None]:
    """(theta of the population, theta per cell or None): unconstrained parameters in priors order.

    ``free`` holds the coordinates on their natural scale (S, rho, c, log_*, lin_* or phi: the keys of
    ``spec.start``; tau_* and eta_* with many cells); other entries are ignored.
    """
    coords = {k: free[k] for k in spec.start}
    theta_pop = _theta(spec, coords, data)
    if not spec.hierarchical:
        return theta_pop, None
    per_cell = {}
    for k, v in coords.items():
        cell_axis = (..., None, slice(None)) if k == "phi" else (..., None)
        per_cell[k] = v[cell_axis] + free[f"tau_{k}"][cell_axis] * free[f"eta_{k}"]
    return theta_pop, _theta(spec, per_cell, data)


def named_parameters(spec: ModelData, theta_pop: list, theta_cell: list | None) -> dict:
    """The model's deterministics: each parameter on its natural scale (and per cell, with its spread)."""
    named = {p.name: p.to_natural(t) for p, t in zip(spec.priors, theta_pop, strict=True)}
    if theta_cell is not None:
        for p, t in zip(spec.priors, theta_cell, strict=True):
            named[f"{p.name}_cell"] = p.to_natural(t)
            named[f"{p.name}_between_cell_sd"] = namespace(t).std(t, axis=-1)
    return named


def named_posterior(draws, spec: ModelData):
    """The posterior Dataset of a fit from nutpie's draws of the coordinates (an xarray Dataset).

    Kept: the sampled coordinates on their natural scale (not the per-cell eta_*) and the
    named parameters, in the model's order, labelled by direction and by cell.
    """
    import xarray as xr

    free = {}
    for name, values in draws.data_vars.items():
        natural = name.removesuffix("_log__")
        free[natural] = np.exp(values.values) if natural != name else values.values
    named = named_parameters(spec, *thetas(spec, free, model_inputs(spec)))
    kept = {k: v for k, v in free.items() if not k.startswith("eta_")} | named
    coords = {"chain": draws["chain"].values, "draw": draws["draw"].values, "direction": direction_labels(spec)}
    if spec.cells is not None:
        coords["cell"] = spec.cells

    def dims(name: str) -> tuple:
        extra = ("cell",) if name.endswith("_cell") else ("direction",) if name in ("phi", "tau_phi") else ()
        return ("chain", "draw", *extra)

    variables = {k: (dims(k), v) for k, v in kept.items()}
    return xr.Dataset(variables, coords={k: v for k, v in coords.items() if any(k in d for d, _ in variables.values())},
                      attrs=draws.attrs)  # fmt: skip


def _theta(spec: ModelData, coords: dict, data: dict) -> list:
    priors = list(spec.priors)
    if spec.share is not None:
        return _from_offset_share(spec, coords, data)
    theta = prior_means(priors) + prior_sds(priors) * _rotate(coords["phi"], data["directions"])
    return [theta[..., j] for j in range(len(priors))]


def _rotate(phi, directions):
    """``phi @ directions`` (phi: (..., n); directions: (n, n)). In a PyTensor graph as a sum of products: for the
    few parameters of a model the same numbers, and in a compiled log-density elementwise work that Numba compiles in
    a fraction of the seconds a matrix product (with its gradient's) takes. In NumPy (draws) the matrix product."""
    if not is_symbolic(phi):
        return phi @ directions
    return namespace(phi, directions).sum(phi[..., :, None] * directions, axis=-2)


def _from_offset_share(spec: ModelData, coords: dict, data: dict) -> list:
    """theta from S, rho, c, a block's log-odds u and the other coordinates (log_* on the log scale, lin_* linear):
    the map of :mod:`.pymc_model`."""
    (a, b, pump, block), priors = spec.share, list(spec.priors)
    xp = namespace(*coords.values())
    log_w = xp.log(data["share_weights"])
    theta = [None] * len(priors)
    # log of the share sigmoid(rho) and of 1 - sigmoid(rho), without under- or overflow
    theta[a] = coords["S"] - _softplus(-coords["rho"]) - log_w[0]
    theta[b] = coords["S"] - _softplus(coords["rho"]) - log_w[1]
    mid = None if block is None else block[0]
    for j, p in enumerate(priors):
        if theta[j] is None and j not in (pump, mid):
            theta[j] = coords[f"log_{p.name}"] if p.log_scale else coords[f"lin_{p.name}"]
    if block is not None:  # the midpoint from the block's log-odds u at y_ref: v_half = y_ref - u k
        theta[mid] = data["block_reference_mv"] - coords["u"] * xp.exp(theta[block[1]])
    if pump is not None:
        passive = {p.name: p.to_natural(theta[j]) for j, p in enumerate(priors) if j != pump}
        reference = inputs_named(data, "ref_") | passive
        if get_model(spec.model).leak is not None:  # the pump current that moves the leak's reversal to c_leak
            g_lin, e_lin = leak(spec.model, **reference)
            v_r = data[HELD[0]]
            theta[pump] = g_lin * (e_lin - v_r) + (v_r - coords["c"]) * xp.exp(_log_held_scale(g_lin, data))
        else:
            theta[pump] = _voltage(spec.model, **reference, pump_mv=0.0) - coords["c"]
    return theta


def log_jacobian(spec: ModelData, theta_pop: list, data: dict):
    """log |d theta / d coordinates| at the population's ``theta_pop`` (:func:`thetas`): 0 for the rotation and
    plain offset-share; with a block, + log slope (d midpoint / d u = -slope); with a pump current through the
    model's leak, + log d i_pump / d c at the reference row (:func:`.model_data.leak_coordinate`)."""
    if spec.share is None:
        return 0.0
    _, _, pump, block = spec.share
    log_j = 0.0 if block is None else theta_pop[block[1]]
    if pump is None or get_model(spec.model).leak is None:
        return log_j
    passive = {p.name: p.to_natural(theta_pop[j]) for j, p in enumerate(spec.priors) if j != pump}
    g_lin, _ = leak(spec.model, **inputs_named(data, "ref_"), **passive)
    return log_j + _log_held_scale(g_lin, data)


def _log_held_scale(g_lin, data: dict):
    """log d i_pump / d c = alpha log g_0 + (1 - alpha) log g_lin of a leak's pump coordinate
    (:func:`.model_data.leak_coordinate`)."""
    _, alpha, g_0 = (data[k] for k in HELD)
    xp = namespace(g_lin)
    return alpha * xp.log(g_0) + (1.0 - alpha) * xp.log(g_lin)


def coordinates(spec: ModelData) -> str:
    """The sampled coordinates in words (for the fit record)."""
    if spec.share is None:
        return "rotation onto the design's singular directions (see structure)"
    if get_model(spec.model).leak is not None:
        block = "" if spec.share[3] is None else ", the block's log-odds u at a reference depolarisation"
        pump = ""
        if HELD[0] in spec.values:
            v_r, alpha, _ = (float(spec.values[k]) for k in HELD)
            pump = (", the leak's reversal with the pump c at a reference row, rescaled to the mode's leak about "
                    f"V_r = {v_r:.1f} mV with exponent {alpha:.2f}")
        return f"offset-share: total leak conductance S, share rho{pump}{block} (see structure)"
    return "offset-share: total non-K permeability S, share rho, V_m c at a reference row (see structure)"


def _softplus(x):
    """log(1 + e^x)."""
    if is_symbolic(x):
        import pytensor.tensor as pt

        return pt.softplus(x)
    return np.logaddexp(0.0, x)


def _voltage(model: str, **inputs):
    """V (mV) of ``model``: a PyTensor expression for symbolic inputs, else NumPy values."""
    if any(is_symbolic(v) for v in inputs.values()):
        from ..symbolic import symbolic_voltage

        return symbolic_voltage(model, **inputs)
    from ..api import predict

    return predict(model, **inputs)
