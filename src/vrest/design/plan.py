"""Rank candidate measurements by expected information gain, check the best without a Gaussian posterior,
and choose the best set of k greedily.

The belief is the fit's posterior draws on the sampled scale (:class:`Belief`); the new rows'
model V and sensitivities dV/dtheta come from :func:`vrest.predict` and the analytic
:func:`vrest.gradient` at every draw, the noise sd is each draw's sigma_mv.

The Laplace-Fisher score at draw theta_s takes as current posterior precision the prior
precision plus the Fisher information of the rows already recorded at theta_s (noise
sigma_s^2 + sem^2): the local Laplace posterior, which follows a curved posterior ridge where
one covariance of all draws would not (it would credit new K_o levels with narrowing the
ridge's curvature). Without the recorded rows, the covariance of the draws is used.

The expected sd after is the root of the expected posterior variance, an average over the
current posterior. It is the nested Monte Carlo figure (reweighted draws: no Gaussian
posterior assumed) for the candidates re-estimated that way, while its importance weights spread
over at least :data:`MIN_WEIGHTS_ESS` draws; else the Laplace figure, the mean over draws of the
local posterior variance after (prior + recorded rows + new rows at each draw). The row's
``sd_estimator`` says which. Where the information of the new rows varies along the current
posterior, the sd after at a single truth can lie far from this average: ``sd_after_p10_*`` and
``sd_after_p90_*`` give the 10th and 90th percentiles of the local sd after over the draws.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..api import MultipleSteadyStatesWarning, gradient, predict, resolve_inputs
from ..inference.choices import DESIGN_MINIMA
from ..inference.priors import Prior
from ..models import MULTISTABLE, get_model
from ..parameters import PUMP_TERMS
from ..seeding import check_seed, streams
from .candidates import Bath, Candidate
from .scores import Estimate, batch_se, fisher, gaussian_gain, nested_gain

LAPLACE = "Laplace-Fisher (averaged over posterior draws)"

MIN_WEIGHTS_ESS = 20.0
"""Least median effective sample size (draws) of the nested Monte Carlo weights for its sd after to be used: the
reweighted variance is biased low by about 1/ESS, and on a few draws it cannot resolve the posterior after.
In analyses/design/ (median ESS 55-140 of 1000 draws) the nested sd agreed with refits within its Monte Carlo
error, where the Laplace one was 17 % high on average for ln p_cl."""


@dataclass(frozen=True)
class Belief:
    """The current posterior of a fit, as draws on the sampled scale (see :mod:`vrest.design.scores`).

    ``priors``: every fitted parameter (membrane and nuisance), one per column of ``theta`` (draws, p);
    ``sigma_mv``: the residual sd of each draw (mV)."""

    model: str
    priors: tuple[Prior, ...]
    theta: np.ndarray
    sigma_mv: np.ndarray
    recorded: Mapping[str, np.ndarray] | None = None  # the fit's rows: every fixed input per row
    recorded_sem: np.ndarray | None = None  # known error of each recorded row (mV; 0 where none)

    @classmethod
    def from_draws(cls, model: str, priors: Sequence[Prior], natural: dict[str, np.ndarray], sigma_mv: np.ndarray,
                   max_draws: int = 1000, recorded: Mapping[str, np.ndarray] | None = None,
                   recorded_sem: np.ndarray | None = None) -> Belief:  # fmt: skip
        """From natural-scale draws (name -> 1-D array), evenly thinned to at most ``max_draws``; ``recorded``:
        the fit's rows (input -> array, one value per row) with their known errors ``recorded_sem`` (mV)."""
        sigma = np.asarray(sigma_mv, dtype=float).reshape(-1)
        step = max(1, -(-sigma.size // max_draws))
        cols = [np.asarray(natural[p.name], dtype=float).reshape(-1) for p in priors]
        theta = np.stack([np.log(c) if p.log_scale else c for c, p in zip(cols, priors, strict=True)], axis=1)
        sem = None if recorded is None else np.zeros(len(recorded["k_o"])) if recorded_sem is None else recorded_sem
        return cls(model, tuple(priors), theta[::step], sigma[::step], recorded, sem)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.priors]

    @property
    def cov(self) -> np.ndarray:
        """Posterior covariance of theta (sampled scale) from the draws."""
        return np.atleast_2d(np.cov(self.theta, rowvar=False))

    def local_cov(self) -> np.ndarray:
        """The current covariance at each draw (draws, p, p): the inverse of the prior precision plus the recorded
        rows' Fisher information there, or the covariance of the draws when the recorded rows are not known."""
        if self.recorded is None:
            return self.cov[None]
        _, jac = sensitivity(self, dict(self.recorded), np.zeros(len(self.recorded["k_o"]), dtype=bool))
        info = fisher(jac, self.sigma_mv[:, None] ** 2 + self.recorded_sem[None, :] ** 2)
        precision = np.diag([1.0 / p.sd**2 for p in self.priors]) + info
        return np.linalg.inv(precision)

    def natural(self, theta: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Natural-scale parameters of ``theta`` (default: the draws), name -> (draws, 1)."""
        theta = self.theta if theta is None else theta
        return {
            p.name: (np.exp(theta[:, j]) if p.log_scale else theta[:, j])[:, None] for j, p in enumerate(self.priors)
        }


@dataclass
class Evaluated:
    """A candidate's new rows at every draw: model V (draws, rows), dV/dtheta (draws, rows, p), near a fold."""

    candidate: Candidate
    pred: np.ndarray
    jac: np.ndarray
    near_fold: bool


def sensitivity(belief: Belief, rows: dict[str, np.ndarray], blocked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(V in mV (draws, rows), dV/dtheta (draws, rows, p)) at every draw; the pump term is 0 in ``blocked`` rows."""
    params = belief.natural()
    for name in set(PUMP_TERMS) & set(params):
        params[name] = np.where(blocked[None, :], 0.0, params[name])
    inputs = {k: v[None, :] for k, v in rows.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MultipleSteadyStatesWarning)
        pred = predict(belief.model, **inputs, **params)
        grad = gradient(belief.model, **inputs, **params)
    cols = []
    for j, p in enumerate(belief.priors):
        d = np.broadcast_to(grad[p.name], pred.shape)
        if p.name in PUMP_TERMS:
            d = np.where(blocked[None, :], 0.0, d)
        cols.append(d * np.exp(belief.theta[:, j, None]) if p.log_scale else d)
    return pred, np.stack(cols, axis=-1)


def evaluate(belief: Belief, candidate: Candidate, base: Bath) -> Evaluated:
    """V and dV/dtheta of ``candidate``'s rows at every draw, and whether some draws put them near a fold."""
    rows, blocked = candidate.rows(base, belief.model, tuple(belief.names))
    pred, jac = sensitivity(belief, rows, blocked)
    return Evaluated(candidate, pred, jac, _near_fold(belief, rows, blocked))


def _near_fold(belief: Belief, rows: dict[str, np.ndarray], blocked: np.ndarray) -> bool:
    """True for a multistable model when some draws put a row inside a bistable range (between its folds)."""
    m = get_model(belief.model)
    if m.kind != MULTISTABLE:
        return False
    params = {k: np.where(blocked[None, :], 0.0, v) if k in PUMP_TERMS else v for k, v in belief.natural().items()}
    _, values = resolve_inputs(m, {**{k: v[None, :] for k, v in rows.items()}, **params})
    return bool(np.any(m.solve(values)[1] > 1))


@dataclass
class Ranking:
    """The scored candidates (best first), the greedy set and the recommendation."""

    rows: list[dict]
    chosen: list[dict]
    recommendation: str
    targets: list[str]
    settings: dict
    timings: dict = field(default_factory=dict)


def target_indices(belief: Belief, targets: Sequence[str] | None) -> np.ndarray:
    """Column indices of ``targets`` (default: every membrane parameter, i.e. not the nuisance inputs)."""
    names = belief.names
    if targets is None:
        from ..inference.priors import FITTED

        targets = [n for n in names if n in FITTED[belief.model]] or names
    unknown = [t for t in targets if t not in names]
    if unknown or not targets:
        raise ValueError(f"targets: {unknown[0] if unknown else 'none'!r} is not a fitted parameter of this fit "
                         f"(fitted: {', '.join(names)})")  # fmt: skip
    return np.array([names.index(t) for t in dict.fromkeys(targets)])


def laplace_score(cov: np.ndarray, info: np.ndarray, targets: np.ndarray) -> Estimate:
    """The Gaussian score averaged over draws: at draw s, the gain of Fisher information ``info[s]`` on the current
    covariance ``cov[s]`` (see :meth:`Belief.local_cov`). The expected sd after is the root of the mean over draws
    of the local variance after, (cov[s]^-1 + info[s])^-1, with its spread over the draws (10th, 90th percentile
    of the local sd); Monte Carlo errors are batch-means errors over the draws."""
    gain, after = gaussian_gain(cov, info, targets)
    var = np.diagonal(after, axis1=-2, axis2=-1)[:, targets]
    sd = np.sqrt(var.mean(0))
    return Estimate(float(gain.mean()), float(batch_se(gain)), sd, batch_se(var) / (2.0 * sd), LAPLACE,
                    sd_spread=np.quantile(np.sqrt(var), [0.1, 0.9], axis=0))  # fmt: skip


def rank(belief: Belief, candidates: Sequence[Candidate], base: Bath, *, targets: Sequence[str] | None = None,
         seed: int = 0, exact: int = 3, n_outer: int = 500, choose: int = 1) -> Ranking:  # fmt: skip
    """Score every candidate (Laplace-Fisher), re-estimate the ``exact`` best and every candidate near a fold of a
    fixed-point model by nested Monte Carlo, rank them, and choose ``choose`` of them greedily (Laplace score of
    the combined Fisher information). ``seed``: every random step (0 is a seed like any other)."""
    check_seed(seed)
    if not candidates:
        raise ValueError("candidates: expected at least one candidate")
    names = [c.name for c in candidates]
    if len(set(names)) < len(names):
        raise ValueError(f"candidates: {next(n for n in names if names.count(n) > 1)!r} is given twice")
    for what, value in (("exact", exact), ("n_outer", n_outer), ("choose", choose)):
        lo = DESIGN_MINIMA[what.removeprefix("n_")]
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            raise ValueError(f"{what}: expected a whole number >= {lo}, got {value!r}")
    t0 = time.perf_counter()
    idx = target_indices(belief, targets)
    noise = belief.sigma_mv**2
    evaluated = [evaluate(belief, c, base) for c in candidates]
    infos = [fisher(e.jac, noise) for e in evaluated]
    cov = belief.local_cov()
    scores = [laplace_score(cov, f, idx) for f in infos]
    t1 = time.perf_counter()
    order = np.argsort([-s.gain for s in scores], kind="stable")
    again = set(order[:exact].tolist()) | {i for i, e in enumerate(evaluated) if e.near_fold}
    final = list(scores)
    for i in sorted(again):
        rng = streams(seed, f"nested:{candidates[i].name}")[f"nested:{candidates[i].name}"]
        final[i] = nested_gain(belief.theta, evaluated[i].pred, belief.sigma_mv, idx, n_outer, rng)
    sds = [sd_source(f, s, belief.theta.shape[0]) for f, s in zip(final, scores, strict=True)]
    t2 = time.perf_counter()
    target_names = [belief.names[i] for i in idx]
    sd_now = np.sqrt(np.diag(belief.cov))[idx]
    rows = []
    for i in np.argsort([-s.gain for s in final], kind="stable"):
        s, lap, e, (sd, sd_se, sd_estimator) = final[i], scores[i], evaluated[i], sds[i]
        row = {"candidate": e.candidate.name, "rank": len(rows) + 1, "eig_nats": s.gain, "eig_mc_se": s.se,
               "estimator": s.estimator}  # fmt: skip
        row |= {f"sd_after_{n}": v for n, v in zip(target_names, sd, strict=True)}
        row |= {f"sd_now_{n}": v for n, v in zip(target_names, sd_now, strict=True)}
        row |= {f"sd_after_laplace_{n}": v for n, v in zip(target_names, lap.sd_after, strict=True)}
        row |= {"eig_laplace_nats": lap.gain, "eig_laplace_se": lap.se, "rows": e.pred.shape[1],
                "near_fold": e.near_fold, "saturated": s.saturated, "description": e.candidate.describe()}  # fmt: skip
        row |= {f"sd_after_se_{n}": v for n, v in zip(target_names, sd_se, strict=True)}
        row |= {f"sd_after_p{q}_{n}": v for q, vs in zip((10, 90), lap.sd_spread, strict=True)
                for n, v in zip(target_names, vs, strict=True)}  # fmt: skip
        row |= {"sd_estimator": sd_estimator, "weights_ess": s.weights_ess}
        rows.append(row)
    chosen = greedy(cov, infos, idx, names, choose)
    timings = {"score_s": t1 - t0, "nested_s": t2 - t1, "total_s": time.perf_counter() - t0}
    settings = {"seed": seed, "exact": exact, "n_outer": n_outer, "choose": choose, "draws": int(belief.theta.shape[0]),
                "scale": scale_note(belief), "targets": target_names, "base_condition": base.label,
                "current_covariance": "local Laplace at each draw (prior + recorded rows)" if belief.recorded is not None
                else "covariance of the posterior draws (recorded rows not known)",
                "sd_after": "root of the expected posterior variance over the current posterior (sampled scale), with "
                "its Monte Carlo error sd_after_se; from nested Monte Carlo where the median effective sample size "
                f"of its weights is >= {MIN_WEIGHTS_ESS:g} draws, else from the Laplace score (mean over draws of the "
                "local posterior variance after: prior + recorded rows + new rows); sd_estimator says which. "
                "sd_after_p10/p90: 10th/90th percentile over the draws of the local sd after (where the truth "
                "lies in the current posterior matters)"}  # fmt: skip
    return Ranking(rows, chosen, recommendation(rows[0], target_names), target_names, settings, timings)


def greedy(cov: np.ndarray, infos: Sequence[np.ndarray], idx: np.ndarray, names: Sequence[str], k: int) -> list[dict]:
    """Greedy choice of ``k`` distinct candidates: each step adds the one whose Fisher information, added to
    that of those chosen, gives the largest Laplace gain. Returns each step's candidate, total and added gain."""
    total = np.zeros_like(infos[0])
    out: list[dict] = []
    previous = 0.0
    left = list(range(len(infos)))
    for step in range(min(k, len(infos))):
        gains = [laplace_score(cov, total + infos[i], idx) for i in left]
        best = int(np.argmax([g.gain for g in gains]))
        i = left.pop(best)
        total = total + infos[i]
        gain = gains[best]
        out.append({"step": step + 1, "candidate": names[i], "eig_nats": gain.gain, "eig_mc_se": gain.se,
                    "added_nats": gain.gain - previous, "estimator": LAPLACE})  # fmt: skip
        previous = gain.gain
    return out


def sd_source(final: Estimate, laplace: Estimate, draws: int) -> tuple[np.ndarray, np.ndarray, str]:
    """(sd after, its Monte Carlo error, which estimator gave it) of a candidate: the nested Monte Carlo figure while
    its weights spread over at least :data:`MIN_WEIGHTS_ESS` draws (median), else the Laplace one; ``draws``: the
    number of posterior draws (for the message)."""
    if final is laplace:
        return laplace.sd_after, laplace.sd_se, LAPLACE
    if final.weights_ess >= MIN_WEIGHTS_ESS:
        return final.sd_after, final.sd_se, f"{final.estimator}; median weights ESS {final.weights_ess:.0f}"
    return laplace.sd_after, laplace.sd_se, (f"{LAPLACE} (nested MC weights on too few draws: median ESS "
                                             f"{final.weights_ess:.0f} of {draws})")  # fmt: skip


def scale_note(belief: Belief) -> str:
    """What 'sampled scale' means for each parameter of the belief."""
    return "; ".join(f"{p.name}: ln {p.name}" if p.log_scale else f"{p.name}: {p.unit}" for p in belief.priors)


def recommendation(best: dict, targets: Sequence[str]) -> str:
    """The best candidate in one sentence."""
    shrink = ", ".join(f"sd of {n} {best[f'sd_now_{n}']:.3g} -> {best[f'sd_after_{n}']:.3g} (10-90% over the "
                       f"current posterior {best[f'sd_after_p10_{n}']:.2g}-{best[f'sd_after_p90_{n}']:.2g})"
                       for n in targets)  # fmt: skip
    bound = " (a lower bound: at the draws' limit)" if best["saturated"] else ""
    return (
        f"Record {best['candidate']} ({best['description']}) next: expected information gain "
        f"{best['eig_nats']:.2f} +/- {best['eig_mc_se']:.2f} nats about {', '.join(targets)}{bound} "
        f"({best['estimator']}), expected {shrink} (sampled scale; sd after by {best['sd_estimator']})."
    )
