"""What the design can inform: Laplace fit, sensitivity rank, identified combinations, advice.

All in the unconstrained coordinates theta of the priors (log ratios, linear pump),
scaled by the prior sd so that directions are comparable. The data Jacobian J
(rows x parameters, from the analytic derivatives of the forward model, divided by
each row's noise sd) has singular values s_k along right singular vectors v_k:

* s_k ~ 0 (below 1e-6 of the largest): the combination v_k does not change V at
  all over the design - structurally unidentifiable;
* s_k < 1: the data carry less information along v_k than the prior - weakly
  identified, carried by the prior;
* otherwise the data identify v_k.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from ..api import branches, gradient, predict
from ..models import MULTISTABLE, get_model
from .branches import observed_branches
from .design import Design
from .priors import Prior

STRUCTURAL_RTOL = 1e-6
MIN_SIGMA_MV = 0.5


@dataclass
class Laplace:
    """Gaussian approximation of the posterior in theta at its mode."""

    names: list[str]
    theta: np.ndarray  # posterior mode (unconstrained)
    cov: np.ndarray  # posterior covariance (unconstrained)
    sigma_mv: float  # residual scatter at the mode
    singular_values: np.ndarray  # of the prior-scaled data Jacobian
    directions: np.ndarray  # rows: right singular vectors in prior-scaled theta

    @property
    def chol(self) -> np.ndarray:
        return np.linalg.cholesky(self.cov)

    @property
    def rank(self) -> int:
        return int(np.sum(self.singular_values > STRUCTURAL_RTOL * self.singular_values.max()))

    @property
    def condition_number(self) -> float:
        s = self.singular_values
        return float(s.max() / s.min()) if s.min() > 0 else float("inf")


def natural(priors: list[Prior], theta: np.ndarray) -> dict[str, np.ndarray]:
    """Natural-scale parameters from unconstrained theta (last axis = parameter)."""
    return {p.name: p.to_natural(theta[..., j]) for j, p in enumerate(priors)}


def forward(design: Design, priors: list[Prior], theta: np.ndarray, upper: np.ndarray | None = None) -> np.ndarray:
    """Model V (mV) for every design row at theta (its last axis the parameters; V's last axis the rows). A two-branch
    model gives each observed row the branch nearer its observation (or the upper one where ``upper``, a mask over
    rows, says so), each other row the lower one."""
    params = {k: np.asarray(v)[..., None] for k, v in natural(priors, theta).items()}
    if get_model(design.model).branches is None:
        return predict(design.model, **design.inputs, **params)
    with np.errstate(all="ignore"):
        both = observed_branches(branches(design.model, **design.inputs, **params))
    return np.where(_nearer_upper(design, both) if upper is None else upper, both["upper"], both["lower"])


def _nearer_upper(design: Design, both: dict) -> np.ndarray:
    """Per row, whether its observation is nearer the upper branch than the lower (False for unobserved rows)."""
    return np.abs(design.v_obs - both["upper"]) < np.abs(design.v_obs - both["lower"])


def jacobian(design: Design, priors: list[Prior], theta: np.ndarray) -> np.ndarray:
    """dV/dtheta (rows x parameters) from the analytic gradient; central differences (on the branches chosen at
    theta, as :func:`forward` chooses them) for a two-branch model, whose ghosts have no NumPy gradient."""
    if get_model(design.model).branches is not None:
        with np.errstate(all="ignore"):
            both = observed_branches(branches(design.model, **design.inputs, **natural(priors, theta)))
        upper = _nearer_upper(design, both)
        h = 1e-6 * np.maximum(1.0, np.abs(theta))
        steps = np.diag(h)
        v = forward(design, priors, np.concatenate([theta + steps, theta - steps]), upper)  # one call for all steps
        return ((v[: theta.size] - v[theta.size :]) / (2.0 * h[:, None])).T
    grad = gradient(design.model, **design.inputs, **natural(priors, theta))
    cols = []
    for j, p in enumerate(priors):
        d = np.broadcast_to(grad[p.name], (design.n_rows,))
        cols.append(d * np.exp(theta[j]) if p.log_scale else d)
    return np.stack(cols, axis=1)


def laplace_fit(design: Design, priors: list[Prior], sigma_mv: float | None = None,
                start: np.ndarray | None = None) -> Laplace:  # fmt: skip
    """Posterior mode and Laplace covariance, with the residual sd estimated alongside.

    Rows without observations (NaN) are excluded. The noise sd of each row is
    sqrt(sigma^2 + sem^2); sigma is re-estimated from the residuals three times unless given. A multistable
    model's posterior can have local modes (rectifying-kir: two rectifier shapes 10 log-density units apart on
    synthetic data), so its first search also starts one prior sd off the prior mean along each parameter and
    keeps the best. ``start``: search from there alone (theta).
    """
    observed = np.isfinite(design.v_obs)
    mean0 = np.array([p.mean for p in priors])
    sd0 = np.array([p.sd for p in priors])
    starts = [mean0 if start is None else np.asarray(start, dtype=float)]
    if start is None and get_model(design.model).kind == MULTISTABLE:  # local modes: also start one prior sd off along each axis
        starts += [mean0 + sign * sd0[j] * np.eye(len(priors))[j] for j in range(len(priors)) for sign in (-1, 1)]
    sigma = sigma_mv if sigma_mv is not None else 3.0
    sub = _subset(design, observed)
    for _ in range(1 if sigma_mv is not None else 3):
        scale = np.sqrt(sigma**2 + sub.sem**2)

        def residuals(t, scale=scale):
            return np.concatenate([(forward(sub, priors, t) - sub.v_obs) / scale, (t - mean0) / sd0])

        def jac(t, scale=scale):
            return np.vstack([jacobian(sub, priors, t) / scale[:, None], np.diag(1.0 / sd0)])

        fits = [least_squares(residuals, t, jac=jac, method="trf", x_scale=sd0) for t in starts]
        theta = min(fits, key=lambda f: f.cost).x
        starts = [theta]
        if sigma_mv is None:
            res = forward(sub, priors, theta) - sub.v_obs
            sigma = float(np.sqrt(max(np.mean(res**2) - np.mean(sub.sem**2), MIN_SIGMA_MV**2)))
    scale = np.sqrt(sigma**2 + sub.sem**2)
    j_data = jacobian(sub, priors, theta) / scale[:, None]
    precision = j_data.T @ j_data + np.diag(1.0 / sd0**2)
    _, s, vt = np.linalg.svd(j_data * sd0, full_matrices=False)
    return Laplace([p.name for p in priors], theta, np.linalg.inv(precision), sigma, s, vt)


def _subset(design: Design, rows: np.ndarray) -> Design:
    return Design(
        design.model,
        {k: v[rows] for k, v in design.inputs.items()},
        design.v_obs[rows],
        design.sem[rows],
        design.condition[rows],
        None if design.cell is None else design.cell[rows],
        design.assumptions,
    )


SADDLE_MARGIN_MV = 0.5
"""A recorded row whose stable state is within this existence margin (mV) of vanishing at the Laplace mode sits at a
saddle-node there (see :mod:`vrest.inference.branches`)."""


def saddle_levels(design: Design, priors: list[Prior], lap: Laplace) -> np.ndarray:
    """The recorded K_o levels (mM) where, at the Laplace mode, a stable state of a two-branch model is within
    :data:`SADDLE_MARGIN_MV` of vanishing: there V moves as the square root of the distance to the saddle-node, so
    the local Jacobian says little about what the data identify. Empty for other models."""
    if get_model(design.model).branches is None:
        return np.array([])
    sub = _subset(design, np.isfinite(design.v_obs))
    with np.errstate(all="ignore"):
        both = branches(design.model, **sub.inputs, **natural(priors, lap.theta))
    near = (np.abs(both["margin_lower"]) < SADDLE_MARGIN_MV) | (np.abs(both["margin_upper"]) < SADDLE_MARGIN_MV)
    return np.unique(sub.inputs["k_o"][near])


def describe(lap: Laplace, priors: list[Prior], saddles: np.ndarray = ()) -> list[str]:
    """The structural check in words: what the data identify and what they cannot. ``saddles``: the K_o levels
    (mM) where the mode sits at a saddle-node (:func:`saddle_levels`); there the rank is local to the mode, and a
    direction without information is said to be so at the mode, not to be unidentifiable."""
    names = [("log " if p.log_scale else "") + p.name for p in priors]
    s_max = lap.singular_values.max()
    lines = [
        f"sensitivity Jacobian: rank {lap.rank} of {len(priors)} "
        f"(condition number {lap.condition_number:.3g}; singular values in prior-sd units: "
        + ", ".join(f"{s:.3g}" for s in lap.singular_values)
        + ")"
    ]
    for s, v in zip(lap.singular_values, lap.directions, strict=True):
        combo = _combination(v, names, priors)
        if s <= STRUCTURAL_RTOL * s_max and len(saddles):
            lines.append(f"no information at the mode along {combo}: the mode sits at a saddle-node (below), where "
                         "this linear check does not reach; the posterior may still be informed")  # fmt: skip
        elif s <= STRUCTURAL_RTOL * s_max:
            lines.append(f"NOT identifiable: V_m does not change along {combo}; only the prior constrains it")
        elif s < 1.0:
            lines.append(f"weakly identified (the data carry {s**2:.2g} x the prior's information): {combo}, carried by its prior")
        else:
            lines.append(f"identified (the data narrow it to ~1/{s:.3g} of its prior width): {combo}")
    if len(saddles):
        levels = ", ".join(f"{k:g}" for k in saddles)
        lines.append(f"the mode sits at a saddle-node: at K_o = {levels} mM a stable state is within "
                     f"{SADDLE_MARGIN_MV:g} mV of vanishing, where V moves as the square root of the distance to it; "
                     "the Jacobian above is local to that point, and the fit itself follows both branches")  # fmt: skip
    return lines


def _combination(direction: np.ndarray, names: list[str], priors: list[Prior]) -> str:
    """A one-prior-sd move along a direction, in natural units: '(+0.55 log p_na, -2.5 mV pump_mv)'."""
    v = direction * np.sign(direction[np.argmax(np.abs(direction))])
    terms = [
        f"{c * p.sd:+.2g}{'' if p.log_scale else ' ' + p.unit} {n}"
        for c, n, p in zip(v, names, priors, strict=True)
        if abs(c) > 0.05
    ]
    return "(" + ", ".join(terms) + ")"


def correlations(cov: np.ndarray) -> np.ndarray:
    """Correlation matrix of a covariance."""
    sd = np.sqrt(np.diag(cov))
    return cov / np.outer(sd, sd)


def _candidate_conditions(design: Design, priors: list[Prior]) -> dict[str, dict[str, np.ndarray]]:
    """Extra conditions that could identify more, as input overrides at three K_o levels."""
    observed = np.isfinite(design.v_obs)
    k_o = design.inputs["k_o"][observed]
    levels = np.unique(np.quantile(k_o, [0.0, 0.5, 1.0]))
    fitted = {p.name for p in priors}
    out: dict[str, dict[str, np.ndarray]] = {}
    if "na_o" in design.inputs and design.inputs["na_o"].min() > 5.0:
        out["a Na-free saline (Na_o 1 mM) at the recorded K_o levels"] = {"k_o": levels, "na_o": np.full(levels.size, 1.0)}
    if "cl_o" in design.inputs and ({"p_cl", "g_cl"} & fitted) and design.inputs["cl_o"].min() > 0.2 * design.inputs["cl_o"].max():
        low = 0.1 * np.median(design.inputs["cl_o"])
        out[f"a low-Cl saline (Cl_o {low:.3g} mM) at the recorded K_o levels"] = {"k_o": levels, "cl_o": np.full(levels.size, low)}
    if k_o.max() / k_o.min() < 30:
        wide = np.geomspace(1.0, 100.0, 5)
        out["a wider K_o range (1 to 100 mM)"] = {"k_o": wide}
    return out


def advise(design: Design, priors: list[Prior], lap: Laplace, rng: np.random.Generator, repeats: int = 3) -> list[str]:
    """Which extra condition would identify what the data cannot, checked by refitting simulated data.

    For each candidate, data are simulated at the posterior mode (noise sigma_mv,
    as many rows per added level as the design's median per K_o level), appended to
    the observed design and refitted (Laplace); the typical posterior sd of each
    parameter is compared with the current one. Empty when everything is identified.
    ``rng``: the fit's advice stream (see :mod:`vrest.seeding`).
    """
    weak = lap.singular_values < 1.0
    if not weak.any():
        return []
    observed = np.isfinite(design.v_obs)
    per_level = int(np.median(np.unique(design.inputs["k_o"][observed], return_counts=True)[1]))
    current = np.sqrt(np.diag(lap.cov))
    names = [("log " if p.log_scale else "") + p.name for p in priors]
    lines = []
    for label, extra in _candidate_conditions(design, priors).items():
        extra = {k: np.repeat(v, per_level) for k, v in extra.items()}
        grown = design.with_rows(extra, condition="advice")
        new = ~np.isfinite(grown.v_obs)
        sds = []
        for _ in range(repeats):
            truth_v = forward(_subset(grown, new), priors, lap.theta)
            trial = Design(grown.model, grown.inputs, grown.v_obs.copy(), grown.sem, grown.condition, grown.cell)
            trial.v_obs[new] = truth_v + rng.normal(0.0, lap.sigma_mv, truth_v.size)
            sds.append(np.sqrt(np.diag(laplace_fit(trial, priors, sigma_mv=lap.sigma_mv, start=lap.theta).cov)))
        ratio = np.median(sds, axis=0) / current
        gains = ", ".join(f"{n} sd x{r:.2g}" for n, r in zip(names, ratio, strict=True) if r < 0.8)
        lines.append(f"adding {label}: {gains or 'no parameter narrows by more than 20 %'} (Laplace refit of simulated data)")
    return lines
