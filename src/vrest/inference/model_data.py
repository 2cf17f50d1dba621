"""One data set as the compiled model sees it: its containers, coordinates and start point.

NumPy only: building :class:`ModelData` needs neither PyMC nor PyTensor, so a fit
whose compiled model is cached (:mod:`vrest.inference.compiled`) never imports them.
The coordinates themselves are described in :mod:`vrest.inference.pymc_model`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np

from ..api import MultipleSteadyStatesWarning, gradient, predict, resolve_inputs
from ..backend import is_symbolic
from ..models import get_model
from ..parameters import PUMP_TERMS
from .branches import sequences
from .design import Design
from .identifiability import Laplace, natural
from .priors import Prior

HELD = ("held_reference_mv", "held_exponent", "held_reference_g")
"""The data containers of a leak's pump coordinate (V_r, alpha, g_0: :func:`leak_coordinate`)."""


@dataclass(frozen=True)
class OffsetShare:
    """What the offset-share coordinates need: which priors, weights and the reference row."""

    a: int  # index of the first ratio in the priors
    b: int  # index of the second ratio
    pump: int | None  # index of pump_mv, or None without a pump
    weights: tuple[float, float]
    reference: dict  # model inputs at the reference row (scalars)
    block: tuple[int, int, float] | None = None  # a block's (midpoint, slope) indices and its reference y (mV)
    held: tuple[float, float, float] | None = None  # a leak's current coordinate: (V_r mV, alpha, g_0) (leak_coordinate)


def offset_share(design: Design, priors: list[Prior], lap: Laplace) -> OffsetShare | None:
    """The offset-share set-up for this design, or None where it does not apply."""
    names = [p.name for p in priors]
    ratios = [j for j, p in enumerate(priors) if p.log_scale and p.name in ("p_na", "p_cl", "g_na", "g_cl")]
    pump = next((names.index(name) for name in PUMP_TERMS if name in names), None)
    record = get_model(design.model)
    if len(ratios) != 2 or not record.offset_share:
        return None
    pump_scale = design.inputs.get(f"{names[pump]}_scale" if pump is not None else "", np.ones(design.n_rows))
    rows = np.nonzero(np.isfinite(design.v_obs) & (pump_scale == 1.0))[0]  # the pump of the reference row is pump
    k_o = design.inputs["k_o"][rows]
    if np.ptp(k_o) == 0:
        return None
    lo, hi, mid = rows[np.argmin(k_o)], rows[np.argmax(k_o)], rows[np.argsort(k_o)[k_o.size // 2]]
    params = natural(priors, lap.theta)
    reference = {k: float(v[mid]) for k, v in design.inputs.items()}
    block = None
    if record.block is not None and all(name in names for name in record.block):
        midpoint, slope = (names.index(name) for name in record.block)
        block = (midpoint, slope, block_reference(lap, midpoint, slope))
    if record.leak is not None:  # S = log of the leak's conductance, which carries the pump current
        g_lin = float(leak(design.model, **(reference | params))[0])
        if not g_lin > 0:
            return None
        os_ = OffsetShare(ratios[0], ratios[1], pump, (1.0, 1.0), reference, block)
        return os_ if pump is None else leak_coordinate(os_, design, priors, lap, g_lin)
    at = lambda r: gradient(design.model, **{k: v[r] for k, v in design.inputs.items()}, **params)
    g_lo, g_hi = at(lo), at(hi)
    weights = tuple(float(abs(g_lo[priors[j].name] - g_hi[priors[j].name])) for j in ratios)
    if not all(np.isfinite(w) and w > 0 for w in weights):
        return None
    return OffsetShare(ratios[0], ratios[1], pump, weights, reference, block)


def block_reference(lap: Laplace, mid: int, slope: int) -> float:
    """The depolarisation y_ref (mV) at which a Boltzmann block's log-odds u = (y_ref - midpoint)/slope is
    uncorrelated with log slope under the Laplace fit: the midpoint's mode minus its regression on log slope.

    The data pin the block where they sample it (for a rectifier, at the depolarised states): there the midpoint
    and the slope lie on a curve v_half = y_ref - u k that u straightens (posterior correlation -0.94 between
    v_half and log k_slope on synthetic bistable data, 0 for u). The mode's midpoint where that is not finite."""
    var = lap.cov[slope, slope]
    y_ref = lap.theta[mid] - lap.cov[mid, slope] / var if var > 0 else np.nan
    return float(y_ref) if np.isfinite(y_ref) else float(lap.theta[mid])


def leak_coordinate(os_: OffsetShare, design: Design, priors: list[Prior], lap: Laplace, g_0: float) -> OffsetShare:
    """``os_`` with the constants of its pump coordinate c = V_r - (V_r - c_leak) (g_lin / g_0)^alpha, where c_leak =
    e_lin - i_pump / g_lin is the reversal of the leak with the pump (mV) and g_0 the leak's conductance at the mode.

    alpha = 0 samples c_leak itself: right where the data pin it (states on the depolarised branch, near c_leak).
    alpha = 1 samples the leak's current at V_r, g_lin (V_r - c_leak) (over g_0, in mV): right where the leak is
    small and the rectifier holds V near V_r; the data then pin that current and c_leak runs along a hyperbola
    c_leak = V_r - j / g_lin (Gelband et al. 1972: posterior sd of c_leak 42 mV, from +58 to -65 mV as log g_lin went
    from -3.5 to -1.1; NUTS took 500 leapfrog steps per draw). V_r is the model's V at the reference row at the mode;
    alpha, in [0, 1], makes c uncorrelated with S under the Laplace fit: alpha (V_r - c_leak) = d c_leak / d S."""
    with warnings.catch_warnings():  # a bistable reference row: V_r is its hyperpolarised state, as predict's
        warnings.simplefilter("ignore", MultipleSteadyStatesWarning)
        v_r = float(predict(design.model, **os_.reference, **natural(priors, lap.theta)))
    plain = replace(os_, held=(v_r, 0.0, g_0))
    cov = _start_covariance(lambda theta: _offset_share_start(plain, priors, design.model, theta), lap, priors)
    at_mode = _offset_share_start(plain, priors, design.model, lap.theta)  # scalars only: key index = flat index
    s, c = list(at_mode).index("S"), list(at_mode).index("c")
    c_leak = float(at_mode["c"])
    slope = cov[c, s] / cov[s, s] if cov[s, s] > 0 else 0.0
    gap = v_r - c_leak
    alpha = float(np.clip(slope / gap, 0.0, 1.0)) if abs(gap) > 1.0 and np.isfinite(slope) else 0.0
    return replace(os_, held=(v_r, alpha, g_0))


def leak(model: str, **inputs) -> tuple:
    """(g_lin, e_lin) of ``model``'s linear leak (its record's ``leak``; scales applied) at the inputs: PyTensor
    expressions for symbolic inputs, else NumPy values."""
    if any(is_symbolic(v) for v in inputs.values()):
        from ..symbolic import symbolic_leak

        return symbolic_leak(model, **inputs)
    m, values = resolve_inputs(model, inputs)
    return m.leak(values)


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
    share: tuple | None  # offset-share indices (a, b, pump or None, (block midpoint, slope) or None); None: rotation
    cells: np.ndarray | None  # cell labels of a hierarchical model
    constants: tuple[tuple[str, float], ...]  # inputs (and sem_mv) with one value on every row
    values: dict[str, np.ndarray]
    start: dict[str, np.ndarray]
    ordered: bool = False  # rows carry the order each cell's solutions were applied (a two-branch model only)
    start_scale: np.ndarray | None = None  # Cholesky factor of the Laplace covariance of ``start`` (its keys' order, flattened)

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
        def coordinates(theta):
            return _offset_share_start(os_, priors, design.model, theta)
        values["share_weights"] = np.array(os_.weights)
        values |= {f"ref_{k}": np.float64(os_.reference[k]) for k in design.inputs if f"in_{k}" in values}
        share = (os_.a, os_.b, os_.pump, None if os_.block is None else os_.block[:2])
        if os_.block is not None:
            values["block_reference_mv"] = np.float64(os_.block[2])
        if os_.held is not None:
            values |= {k: np.float64(v) for k, v in zip(HELD, os_.held, strict=True)}
    else:
        def coordinates(theta):
            return {"phi": np.asarray(lap.directions @ ((theta - prior_means(priors)) / prior_sds(priors)))}

        values["directions"] = np.asarray(lap.directions, dtype=float)
        share = None
    start = coordinates(lap.theta)
    cells = None
    if hierarchical:
        cells, values["cell_of_row"] = np.unique(design.cell[rows], return_inverse=True)
    ordered = design.order is not None and get_model(design.model).symbolic_branches is not None
    if ordered:
        values["sequence_row"], values["sequence_start"] = sequences(
            design.order[rows], None if design.cell is None else design.cell[rows])
    return ModelData(design.model, tuple(priors), hierarchical, likelihood, share, cells, constants, values, start,
                     ordered, _start_scale(coordinates, lap, priors))  # fmt: skip


def _start_scale(coordinates, lap: Laplace, priors: list[Prior]) -> np.ndarray:
    """Cholesky factor of the Laplace covariance carried into the start coordinates (:func:`_start_covariance`), so
    that each chain can start at a draw of the Laplace approximation: a uniform jitter of 1 in every coordinate
    started chains hundreds of log-density units out (rectifying-kir: 1,000 below the mode), from where one in four
    settled in a local mode."""
    return cholesky_factor(_start_covariance(coordinates, lap, priors))


def _start_covariance(coordinates, lap: Laplace, priors: list[Prior]) -> np.ndarray:
    """The Laplace covariance carried into the start coordinates (``coordinates``: theta -> dict, linearised by
    central differences at the mode; flattened in its key order)."""
    step = 1e-4 * prior_sds(priors)
    flat = lambda theta: flat_start(coordinates(theta))
    jac = np.column_stack([(flat(lap.theta + h) - flat(lap.theta - h)) / (2 * h[j]) for j, h in enumerate(np.diag(step))])
    return jac @ lap.cov @ jac.T


def flat_start(start: dict) -> np.ndarray:
    """The start coordinates as one vector, in ``start``'s key order (that of :attr:`ModelData.start_scale`)."""
    return np.concatenate([np.ravel(v) for v in start.values()])


def cholesky_factor(cov: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a covariance, with a ridge of 1e-12 of its trace against rounding."""
    cov = np.atleast_2d(cov)
    return np.linalg.cholesky(cov + 1e-12 * np.trace(cov) * np.eye(len(cov)))


def _offset_share_start(os_: OffsetShare, priors: list[Prior], model: str, theta: np.ndarray) -> dict:
    wa, wb = os_.weights
    a, b = np.exp(theta[os_.a]), np.exp(theta[os_.b])
    start = {"S": np.log(wa * a + wb * b), "rho": np.log(wa * a) - np.log(wb * b)}
    mid, slope, y_ref = os_.block if os_.block is not None else (None, None, None)
    for j, p in enumerate(priors):
        if j == mid:
            start["u"] = (y_ref - theta[mid]) / np.exp(theta[slope])
        elif j not in (os_.a, os_.b, os_.pump):
            start[f"log_{p.name}" if p.log_scale else f"lin_{p.name}"] = theta[j]
    if os_.pump is None:
        return start
    params = natural(priors, theta)
    if get_model(model).leak is not None:
        g_lin, e_lin = leak(model, **(os_.reference | params))
        v_r, alpha, g_0 = os_.held
        start["c"] = float(v_r - (v_r - (e_lin - theta[os_.pump] / g_lin)) * (g_lin / g_0) ** alpha)
    else:
        params["pump_mv"] = 0.0
        start["c"] = float(predict(model, **os_.reference, **params)) - theta[os_.pump]
    return start


def prior_means(priors: list[Prior]) -> np.ndarray:
    """Prior means of theta (log ratios, linear pump)."""
    return np.array([p.mean for p in priors])


def prior_sds(priors: list[Prior]) -> np.ndarray:
    """Prior sds of theta."""
    return np.array([p.sd for p in priors])
