"""The measurement model of a fit in NumPy, at posterior draws: what the posterior predictive, the pointwise
log-likelihood (LOO), the exact-LOO refits and the adequacy checks read.

Every measurement model here has ``logpdf(y)`` (per row) and ``replicate(y, rng)``: replicated measurements of the
observed rows ``y`` and the noise-free V_m each is drawn around. A single-valued model is :class:`AroundModel`; a model with two
stable states is :class:`vrest.inference.branches.BranchObservation`.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from ..api import MultipleSteadyStatesWarning, branches, predict
from ..models import get_model
from .branches import BranchObservation, sequences


class AroundModel:
    """Measurements around one model V_m per row: ``mu`` (mV, (..., rows)) plus ``noise`` (a frozen scipy
    distribution centred on 0)."""

    def __init__(self, mu: np.ndarray, noise) -> None:
        self.mu, self.noise = mu, noise

    def logpdf(self, y: np.ndarray) -> np.ndarray:
        return self.noise.logpdf(y - self.mu)

    def replicate(self, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        shape = np.broadcast_shapes(np.shape(self.mu), np.shape(self.noise.kwds["scale"]), np.shape(y))
        return self.mu + self.noise.rvs(size=shape, random_state=rng), np.broadcast_to(self.mu, shape)


def observation_model(design, post, params: dict, rows: np.ndarray, likelihood: str):
    """The measurement model at the design's ``rows`` (indices) for parameter draws ``params`` ((chain, draw, rows)
    or (chain, draw, 1) arrays) and the draws of sigma_mv (and nu) in ``post``: Normal or Student-t with sd
    sqrt(sigma^2 + sem^2) around the model V_m, or around each branch of a two-branch model (in the design's
    order where it has one)."""
    rows = np.atleast_1d(rows)
    inputs = {k: v[rows] for k, v in design.inputs.items()}
    scale = np.sqrt(post["sigma_mv"].values[..., None] ** 2 + design.sem[rows] ** 2)
    noise = stats.t(df=post["nu"].values[..., None], scale=scale) if likelihood == "student-t" else stats.norm(scale=scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MultipleSteadyStatesWarning)
        if get_model(design.model).branches is None:
            return AroundModel(predict(design.model, **inputs, **params), noise)
        with np.errstate(all="ignore"):
            both = branches(design.model, **inputs, **params)
    ordered = design.order is not None and rows.size > 1
    cell = None if design.cell is None else design.cell[rows]
    return BranchObservation(both, noise, sequences(design.order[rows], cell) if ordered else None)
