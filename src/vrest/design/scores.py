"""Expected information gain of a measurement: the Gaussian (Laplace/Fisher) score and nested Monte Carlo.

Everything is on the sampled (unconstrained) scale theta of the fit: ln p for ratios and
conductances (log-normal priors), mV or pA for the pump. Gains are in nats.

* :func:`gaussian_gain`: a Gaussian belief N(m, Sigma) and a measurement whose rows have
  sensitivity J = dV/dtheta and noise sd sigma: Fisher information F = J^T J / sigma^2,
  posterior covariance Sigma' = (Sigma^-1 + F)^-1, gain 0.5 log det(I + Sigma F) about all
  parameters, or 0.5 log(det Sigma_TT / det Sigma'_TT) about the targets T (exact for a linear
  model with Gaussian prior and noise). Batched: one Sigma and F per posterior draw.
* :func:`nested_gain`: no Gaussian posterior assumed. The stored draws are the prior sample;
  outer draws theta_n simulate data y_n, and the gain is the mean of
  log p(y_n | theta_n) - log (1/M) sum_m p(y_n | theta_m) over all M draws (the prior contrastive
  estimate: a lower bound, at most log M). About a subset of the parameters,
  p(y_n | theta_T) is the mean likelihood over the k nearest draws in theta_T.

The expected posterior sd after a measurement is the root of the expected posterior variance
E_y[Var(theta_t | data, y)], an average over the current posterior (where the truth may lie):
nested Monte Carlo estimates it by reweighting the draws (reliable while the weights spread
over many draws, see ``weights_ess``), the Laplace score by the mean of the local posterior
variance after at each draw (see :func:`vrest.design.plan.laplace_score`). Monte Carlo errors
over posterior draws are batch-means errors (:func:`batch_se`), which allow for the draws'
autocorrelation within a chain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp


def fisher(jac: np.ndarray, noise_var: np.ndarray) -> np.ndarray:
    """J^T diag(1/noise variance) J per draw: ``jac`` (draws, rows, parameters), ``noise_var`` (draws,) or
    (draws, rows) in mV^2."""
    weight = np.broadcast_to(1.0 / (noise_var[:, None] if noise_var.ndim == 1 else noise_var), jac.shape[:2])
    return np.einsum("sri,sr,srj->sij", jac, weight, jac)


def gaussian_gain(cov: np.ndarray, info: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(gain in nats, covariance after) of N(., ``cov``) updated by Fisher information ``info``, about the
    parameters at the indices ``targets``; ``cov`` and ``info`` (..., p, p) broadcast against each other."""
    cov, info = np.broadcast_arrays(cov, info)
    chol = np.linalg.cholesky(cov)
    chol_t = np.swapaxes(chol, -1, -2)
    inner = np.eye(cov.shape[-1]) + chol_t @ info @ chol
    after = chol @ np.linalg.solve(inner, chol_t)
    after = 0.5 * (after + np.swapaxes(after, -1, -2))
    if targets.size == cov.shape[-1]:
        gain = 0.5 * np.linalg.slogdet(inner)[1]
    else:
        sub = np.ix_(targets, targets)
        gain = 0.5 * (np.linalg.slogdet(cov[(..., *sub)])[1] - np.linalg.slogdet(after[(..., *sub)])[1])
    return np.maximum(gain, 0.0), after


BATCHES = 20
"""Batches of consecutive posterior draws for batch-means Monte Carlo errors."""


def batch_se(values: np.ndarray) -> np.ndarray:
    """Monte Carlo standard error of the mean over axis 0 of ``values`` (draws in chain order, ...): the sd of
    the means of up to :data:`BATCHES` consecutive batches over the root of their number; 0 for one draw."""
    batches = min(BATCHES, values.shape[0])
    if batches < 2:
        return np.zeros(values.shape[1:])
    means = np.stack([b.mean(0) for b in np.array_split(values, batches)])
    return means.std(0, ddof=1) / np.sqrt(batches)


@dataclass(frozen=True)
class Estimate:
    """An expected information gain (nats) with its Monte Carlo standard error, and the expected posterior sd
    of each target after the measurement (root of the expected posterior variance, sampled scale) with its Monte
    Carlo error ``sd_se``.

    ``sd_spread``: (2, targets) 10th and 90th percentiles over the posterior draws of the local sd after (Laplace
    score only); ``weights_ess``: median over outer draws of the importance weights' effective sample size
    (nested Monte Carlo only)."""

    gain: float
    se: float
    sd_after: np.ndarray
    sd_se: np.ndarray
    estimator: str
    saturated: bool = False  # near the estimator's ceiling (log M): a lower bound
    sd_spread: np.ndarray | None = None
    weights_ess: float = float("nan")


def nested_gain(theta: np.ndarray, pred: np.ndarray, sigma: np.ndarray, targets: np.ndarray, n_outer: int,
                rng: np.random.Generator) -> Estimate:  # fmt: skip
    """Nested Monte Carlo gain about ``targets`` from posterior draws ``theta`` (M, p), the model V of the new rows
    at each draw ``pred`` (M, rows, mV) and the noise sd ``sigma`` (M,) mV.

    Each outer draw n simulates y_n = pred[n] + sigma_n eps; every likelihood of y_n uses sigma_n (the gain
    is conditional on the noise level, averaged over its posterior). The expected sd after is the square
    root of the mean importance-weighted variance of each target (weights p(y_n | theta_m)); it is biased low
    when the weights sit on few draws (``weights_ess`` small), as the draws then cannot resolve the posterior
    after. Its Monte Carlo error combines that over the outer draws with that of the draws themselves (the
    batch-means relative error of their variance, carried over as a relative error)."""
    m = theta.shape[0]
    outer = rng.choice(m, size=n_outer, replace=n_outer > m)
    y = pred[outer] + sigma[outer, None] * rng.standard_normal((n_outer, pred.shape[1]))
    sq = (y**2).sum(1)[:, None] - 2.0 * y @ pred.T + (pred**2).sum(1)[None, :]
    loglik = -0.5 * np.maximum(sq, 0.0) / sigma[outer, None] ** 2
    log_marginal = logsumexp(loglik, axis=1) - np.log(m)
    full = targets.size == theta.shape[1]
    if full:
        log_conditional = loglik[np.arange(n_outer), outer]
        estimator = f"nested MC (prior contrastive, {m} draws, {n_outer} outer)"
    else:
        k = int(np.ceil(np.sqrt(m)))
        neighbours = _nearest(theta[:, targets], k)[outer]
        log_conditional = logsumexp(np.take_along_axis(loglik, neighbours, axis=1), axis=1) - np.log(k)
        estimator = f"nested MC ({k}-nearest-draw marginal, {m} draws, {n_outer} outer)"
    terms = log_conditional - log_marginal
    weights = np.exp(loglik - logsumexp(loglik, axis=1, keepdims=True))
    t = theta[:, targets]
    var = np.maximum(weights @ t**2 - (weights @ t) ** 2, 0.0)
    sd = np.sqrt(var.mean(0))
    dev = (t - t.mean(0)) ** 2
    draws_rel = batch_se(dev) / np.maximum(dev.mean(0), np.finfo(float).tiny)
    var_se = np.hypot(var.std(0, ddof=1) / np.sqrt(n_outer), var.mean(0) * draws_rel)
    sd_se = var_se / (2.0 * np.maximum(sd, np.finfo(float).tiny))
    gain = float(terms.mean())
    return Estimate(gain, float(terms.std(ddof=1) / np.sqrt(n_outer)), sd, sd_se, estimator,
                    saturated=full and gain > np.log(m) - 1.0,
                    weights_ess=float(np.median(1.0 / (weights**2).sum(1))))  # fmt: skip


def _nearest(points: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k nearest points (itself first) of every point, in units of each column's sd."""
    from scipy.spatial import cKDTree

    z = (points - points.mean(0)) / points.std(0)
    return cKDTree(z).query(z, k=k)[1].reshape(points.shape[0], k)
