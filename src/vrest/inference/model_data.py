"""One data set as the compiled model sees it: its containers, coordinates and start point.

NumPy only: building :class:`ModelData` needs neither PyMC nor PyTensor, so a fit
whose compiled model is cached (:mod:`vrest.inference.compiled`) never imports them.
The coordinates themselves are described in :mod:`vrest.inference.pymc_model`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..api import gradient, predict
from ..models import get_model
from .branches import sequences
from .design import Design
from .identifiability import Laplace, natural
from .priors import Prior


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
    if len(ratios) != 2 or not get_model(design.model).offset_share:
        return None
    pump_scale = design.inputs.get("pump_mv_scale", np.ones(design.n_rows))
    rows = np.nonzero(np.isfinite(design.v_obs) & (pump_scale == 1.0))[0]  # pump_mv = V_passive(reference) - c
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

    ``key`` is the model's structure (with a digest of a registered model's formulas
    from outside vrest): data sets with the same key share one compiled model, with ``values`` (the ``pm.Data`` containers: inputs, V_m, SEM, the coordinate
    constants) and ``start`` (the initial point of the free coordinates) swapped in.
    Inputs and SEMs equal on every row (in practice the assumed concentrations and
    temperature) are ``constants``, part of the structure: PyTensor folds them, which
    makes compilation about a third faster, and a zero one (no Ca2+ permeability)
    removes a term from the model.
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
    ordered: bool = False  # rows carry the order each cell's solutions were applied (a two-branch model only)

    @property
    def branched(self) -> bool:
        """Whether the likelihood follows the model's two branches (:mod:`.branches`)."""
        return get_model(self.model).symbolic_branches is not None

    @property
    def key(self) -> tuple:
        n_cells = 0 if self.cells is None else self.cells.size
        return (self.model, get_model(self.model).source_digest(), self.priors, self.hierarchical, self.likelihood, self.share, n_cells, self.constants,
                tuple(sorted((k, np.ndim(v)) for k, v in self.values.items())), self.ordered)  # fmt: skip


def model_data(design: Design, priors: list[Prior], lap: Laplace, *, hierarchical: bool = False,
               likelihood: str = "normal") -> ModelData:  # fmt: skip
    """The :class:`ModelData` of a design, with coordinates set up from the Laplace fit ``lap``.

    A two-branch model's rows follow the branch reached from the previous solution where the design has an
    ``order`` (see :mod:`.branches`); without one, each row's branch is a latent choice."""
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
        start = {"phi": np.asarray(lap.directions @ ((lap.theta - prior_means(priors)) / prior_sds(priors)))}
        values["directions"] = np.asarray(lap.directions, dtype=float)
        share = None
    cells = None
    if hierarchical:
        cells, values["cell_of_row"] = np.unique(design.cell[rows], return_inverse=True)
    ordered = design.order is not None and get_model(design.model).symbolic_branches is not None
    if ordered:
        values["sequence_row"], values["sequence_start"] = sequences(
            design.order[rows], None if design.cell is None else design.cell[rows])
    return ModelData(design.model, tuple(priors), hierarchical, likelihood, share, cells, constants, values, start,
                     ordered)  # fmt: skip


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


def prior_means(priors: list[Prior]) -> np.ndarray:
    """Prior means of theta (log ratios, linear pump)."""
    return np.array([p.mean for p in priors])


def prior_sds(priors: list[Prior]) -> np.ndarray:
    """Prior sds of theta."""
    return np.array([p.sd for p in priors])
