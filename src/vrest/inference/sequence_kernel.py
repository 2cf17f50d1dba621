"""Compiled (Numba) forward-backward pass of the ordered branch likelihood (:mod:`.branches`).

The rows of one cell, in the order its solutions were applied, form a two-state hidden Markov chain: the first row
of a sequence is on the lower branch with probability w_l / (w_l + w_u); each next row stays on the previous row's
branch with the probability ``w`` of that branch at the new solution (1 while its state exists) and otherwise moves
to the other, and a cell switches against that rule with probability s = :data:`.branches.SWITCH_PROBABILITY`:

    P(lower at t | lower at t-1) = s + (1 - 2s) w_l,t      P(lower at t | upper at t-1) = s + (1 - 2s)(1 - w_u,t).

One pass gives the log-likelihood of each row given the rows before it (the forward algorithm, scaled), the
smoothed probability that each row is on the lower branch (forward-backward) and the gradient of the total with
respect to the log weights; the gradient with respect to a row's log-densities of the observation is its smoothed
branch probabilities. Inside a compiled log-density this replaces a loop over the rows in the graph (a PyTensor scan
that made ordered fits three times as slow per evaluation as latent ones). Importing this module imports Numba; the
kernel is cached in vrest's cache folder under a key that covers vrest's source.
"""

from __future__ import annotations

import math

import numpy as np
from numba.extending import register_jitable

from .. import cache as disk_cache
from .branches import SWITCH_PROBABILITY, moved_lower

register_jitable(moved_lower)

KIND = "ordered branch likelihood kernel"
CACHE_KEY = disk_cache.structure_key((KIND,))
"""Where the kernel's machine code is cached: ``models/<CACHE_KEY>/`` of vrest's cache folder."""


def mark_used() -> None:
    """Mark the kernel's cache entry as used (:func:`vrest.cache.mark_kernel`: counted and pruned like a model)."""
    disk_cache.mark_kernel(CACHE_KEY, KIND)


def _jit(function):
    return disk_cache.njit(function, CACHE_KEY, nogil=True, error_model="numpy")


@_jit
def _logaddexp(a: float, b: float) -> float:
    """log(e^a + e^b), exact where either is -inf; NaN where either is NaN (as NumPy's)."""
    if math.isnan(a) or math.isnan(b):
        return math.nan
    top = max(a, b)
    if top == -math.inf:
        return -math.inf
    return top + math.log1p(math.exp(-abs(a - b)))


@_jit
def sequence_pass(start, lw_lower, lw_upper, lp_lower, lp_upper, row_ll, p_lower, grad_lw_lower, grad_lw_upper):
    """Fill, for rows given in sequence order (``start`` > 0 at the first row of each cell's sequence; the first row
    always starts one), with ``lw_*`` the branches' log weights and ``lp_*`` the log-densities of each row's
    observation on each branch: ``row_ll`` the log-likelihood of each row given the rows before it in its sequence,
    ``p_lower`` the probability that the row is on the lower branch given its whole sequence (also d total /
    d lp_lower; 1 - p_lower is d total / d lp_upper), and ``grad_lw_*`` d total / d lw_* (total: the sum of
    ``row_ll``). Scaled forward-backward: alpha filtered, beta the backward variables over p(observation | rows
    before), so that P(lower) = alpha beta."""
    n = start.size
    keep = 1.0 - 2.0 * SWITCH_PROBABILITY  # d moved_lower / d w_lower, and -d moved_lower / d w_upper, per P(before)
    alpha = np.empty(n)  # filtered P(lower at t | rows of its sequence up to t)
    for t in range(n):
        if t == 0 or start[t] > 0:
            norm = _logaddexp(lw_lower[t], lw_upper[t])
            log_lower, log_upper = lw_lower[t] - norm, lw_upper[t] - norm
        else:
            moved = moved_lower(alpha[t - 1], math.exp(lw_lower[t]), math.exp(lw_upper[t]))
            log_lower, log_upper = math.log(moved), math.log1p(-moved)
        joint_lower, joint_upper = log_lower + lp_lower[t], log_upper + lp_upper[t]
        row_ll[t] = _logaddexp(joint_lower, joint_upper)
        alpha[t] = math.exp(joint_lower - row_ll[t])
    beta_lower = beta_upper = 1.0  # scaled backward variables of row t (1 at the last row of a sequence)
    for t in range(n - 1, -1, -1):
        p_lower[t] = alpha[t] * beta_lower
        if t == 0 or start[t] > 0:  # d log(w_b / sum w) / d lw: the first row's branch probabilities
            prior_lower = math.exp(lw_lower[t] - _logaddexp(lw_lower[t], lw_upper[t]))
            grad_lw_lower[t] = p_lower[t] - prior_lower
            grad_lw_upper[t] = (1.0 - p_lower[t]) - (1.0 - prior_lower)
            beta_lower = beta_upper = 1.0
            continue
        # r_b = p(observation at t on b) beta_b / p(observation at t | rows before)
        r_lower = math.exp(lp_lower[t] - row_ll[t]) * beta_lower
        r_upper = math.exp(lp_upper[t] - row_ll[t]) * beta_upper
        w_lower, w_upper = math.exp(lw_lower[t]), math.exp(lw_upper[t])
        grad_lw_lower[t] = keep * w_lower * alpha[t - 1] * (r_lower - r_upper)
        grad_lw_upper[t] = -keep * w_upper * (1.0 - alpha[t - 1]) * (r_lower - r_upper)
        stay_lower = moved_lower(1.0, w_lower, w_upper)  # P(lower at t | lower at t-1)
        from_upper = moved_lower(0.0, w_lower, w_upper)  # P(lower at t | upper at t-1)
        beta_lower = stay_lower * r_lower + (1.0 - stay_lower) * r_upper
        beta_upper = from_upper * r_lower + (1.0 - from_upper) * r_upper


@_jit
def sequence_passes(start, lw_lower, lw_upper, lp_lower, lp_upper, row_ll, p_lower):
    """:func:`sequence_pass` for each row of 2-d arrays (draws, rows in sequence order), gradients not kept."""
    grad_lower, grad_upper = np.empty(start.size), np.empty(start.size)
    for m in range(row_ll.shape[0]):
        sequence_pass(start, lw_lower[m], lw_upper[m], lp_lower[m], lp_upper[m], row_ll[m], p_lower[m], grad_lower,
                      grad_upper)  # fmt: skip
