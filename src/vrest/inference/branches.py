"""The likelihood of a model with two stable states (``rectifying-kir``), and which branch each row is on.

A multistable model's record gives both branches (:func:`vrest.branches`), each continued past the saddle-node
where its state vanishes by its ghost (the extremum of I(V) where the state and the saddle met: the slowest point
of the dynamics, where a cell lingers), with an existence margin m (mV: the shift of the leak's reversal potential
that creates or removes the state) and log weight log w = -min(m, 0)^2 / (2 x (3 mV)^2)
(:func:`vrest.models.kir_states.branch_log_weight`): w = 1 where the state exists, falling smoothly to 0 once it
has vanished. V and w are continuous in the parameters (w with a continuous derivative), so the log-density is
continuous where a state appears or vanishes, and NUTS never sees the jump of a single state between branches.

At its fold a state moves as the square root of the margin: its derivative in the parameters is unbounded there,
and every divergence of the synthetic hysteresis fits began within 0.001 mV of a fold. A recording does not see
that root either: where the well around the state is shallower than the membrane's noise, the cell's potential
spreads toward the saddle. So the likelihood places each branch at :func:`observed_branches`: V is drawn toward
its ghost A within about :data:`FOLD_BLUR_MV` of it, A + d^5/(d^4 + FOLD_BLUR_MV^4) with d = V - A, which has
two continuous derivatives at the fold (d^5 ~ margin^2.5) and moves V by less than FOLD_BLUR_MV^4/d^3 elsewhere
(under 0.01 mV for a state 5 mV from its fold).

* **No order known** (latent branch): each row is on the lower (hyperpolarised) or the upper (depolarised)
  branch with probabilities proportional to their weights: 1/2 each in the bistable window, 1 for the only
  state outside it:  p(v) = sum_b w_b N(v; V_b, s) / sum_b w_b.
* **Order known** (hysteresis): the rows of one cell, in the order its solutions were applied, form a
  two-state hidden Markov chain. The first row is on a branch as above; each next row stays on the previous
  row's branch with probability w of that branch at the new solution (1 while it exists) and otherwise moves
  to the other: the branch reached from the previous solution. A cell switches against that rule with
  probability :data:`SWITCH_PROBABILITY` (noise-driven transitions across a shallow barrier, a missed
  solution change), which also keeps the log-density and its gradient bounded as a branch vanishes. The
  likelihood is the forward algorithm's; :func:`branch_probabilities` smooths (forward-backward).

The same formulas serve the PyMC model (PyTensor) and the posterior summaries here (NumPy).
"""

from __future__ import annotations

import numpy as np

from ..backend import namespace
from ..models.kir_states import branch_log_weight

BRANCHES = ("lower", "upper")

FOLD_BLUR_MV = 1.0
"""Distance (mV) from its fold within which a branch is drawn toward its ghost (:func:`observed_branches`): of the
order of a resting membrane's potential noise (0.5-1 mV)."""

SWITCH_PROBABILITY = 0.01
"""Probability that a cell ends up on the branch the hysteresis rule excludes at one solution change."""


def observed_branches(branches: dict) -> dict:
    """{"lower", "upper": V (mV)} where a recording sees each branch: its state V, or its ghost A where it has
    vanished, drawn toward A within about FOLD_BLUR_MV: A + d^5/(d^4 + FOLD_BLUR_MV^4), d = V - A. ``branches``:
    :func:`vrest.branches` (NumPy) or :func:`vrest.symbolic.symbolic_branches` (PyTensor)."""
    out = {}
    for b in BRANCHES:
        d = branches[b] - branches[f"ghost_{b}"]
        d4 = d * d * d * d
        out[b] = branches[f"ghost_{b}"] + d * d4 / (d4 + FOLD_BLUR_MV**4)
    return out


def latent_log_likelihood(lp_lower, lp_upper, lw_lower, lw_upper):
    """Per-row log-likelihood with the branch a latent choice: log(sum_b w_b p_b / sum_b w_b), from the
    branches' log-densities ``lp_*`` of the observation and log weights ``lw_*``. NumPy or PyTensor."""
    xp = namespace(lp_lower, lp_upper, lw_lower, lw_upper)
    return xp.logaddexp(lw_lower + lp_lower, lw_upper + lp_upper) - xp.logaddexp(lw_lower, lw_upper)


def moved_lower(alpha_lower, lw_lower, lw_upper):
    """P(lower branch at this row | rows before it in the sequence), not its first row: ``alpha_lower`` is P(lower)
    at the previous row given the rows up to it. NumPy or PyTensor."""
    xp = namespace(alpha_lower, lw_lower, lw_upper)
    w_lower, w_upper = xp.exp(lw_lower), xp.exp(lw_upper)
    follow = alpha_lower * w_lower + (1.0 - alpha_lower) * (1.0 - w_upper)  # hysteresis: stay while it exists
    return SWITCH_PROBABILITY + (1.0 - 2.0 * SWITCH_PROBABILITY) * follow


def forward_step(alpha_lower, start, lw_lower, lw_upper, lp_lower, lp_upper):
    """One step of the ordered likelihood's forward algorithm: (P(lower | rows so far), log-likelihood of this
    row given the rows before it). NumPy or PyTensor. A sequence's first row takes log(w_b / sum w) directly (in log
    space: a vanished branch's weight may underflow to 0), the others log P(branch), which lies in
    [log SWITCH_PROBABILITY, 0]."""
    xp = namespace(alpha_lower, start, lw_lower, lw_upper, lp_lower, lp_upper)
    moved = moved_lower(alpha_lower, lw_lower, lw_upper)
    log_lower = xp.where(start > 0, lw_lower - xp.logaddexp(lw_lower, lw_upper), xp.log(moved))
    log_upper = xp.where(start > 0, lw_upper - xp.logaddexp(lw_lower, lw_upper), xp.log1p(-moved))
    joint_lower, joint_upper = log_lower + lp_lower, log_upper + lp_upper
    row = xp.logaddexp(joint_lower, joint_upper)
    return xp.exp(joint_lower - row), row


def sequences(order: np.ndarray, cell: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(row index in sequence order, 1.0 at the first row of each sequence): rows grouped by cell (one sequence
    without a cell column) and sorted by ``order`` (the order the solutions were applied; ties keep row order)."""
    order = np.asarray(order, dtype=float)
    codes = np.zeros(order.size, int) if cell is None else np.unique(np.asarray(cell).astype(str), return_inverse=True)[1]
    index = np.lexsort((np.arange(order.size), order, codes))
    start = np.ones(index.size)
    start[1:] = codes[index][1:] != codes[index][:-1]
    return index, start


class BranchObservation:
    """The measurement model of a two-branch fit in NumPy, at parameter draws: log-density of each row, the
    probability that it is on the lower branch, and simulated measurements.

    ``branches``: :func:`vrest.branches` at the draws (arrays (..., rows)); ``dist``: the measurement
    distribution around V = 0 (a frozen scipy distribution whose ``logpdf`` broadcasts over (..., rows));
    ``sequence``: (row index in sequence order, start flags) of :func:`sequences`, or None (latent branch)."""

    def __init__(self, branches: dict, dist, sequence: tuple[np.ndarray, np.ndarray] | None = None):
        self.v = observed_branches(branches)
        self.lw = {b: branch_log_weight(branches[f"margin_{b}"]) for b in BRANCHES}
        self.bistable = (branches["margin_lower"] > 0) & (branches["margin_upper"] > 0)
        self.dist = dist
        self.sequence = sequence

    def _lp(self, y) -> dict:
        return {b: self.dist.logpdf(y - self.v[b]) for b in BRANCHES}

    def logpdf(self, y: np.ndarray) -> np.ndarray:
        """Each row's log-density (latent branch) or log-density given the rows before it (ordered)."""
        lp = self._lp(y)
        if self.sequence is None:
            return latent_log_likelihood(lp["lower"], lp["upper"], self.lw["lower"], self.lw["upper"])
        return self._forward(lp)[1]

    def _forward(self, lp: dict) -> tuple[np.ndarray, np.ndarray]:
        """(filtered P(lower) per row, log-density of each row given the rows before), in row order."""
        index, start = self.sequence
        shape = np.broadcast_shapes(lp["lower"].shape, self.lw["lower"].shape)
        alpha, rows = np.zeros(shape), np.zeros(shape)
        previous = np.zeros(shape[:-1])
        for t, r in enumerate(index):
            at = lambda d, r=r: np.broadcast_to(d, shape)[..., r]
            previous, rows[..., r] = forward_step(previous, start[t], at(self.lw["lower"]), at(self.lw["upper"]),
                                                  at(lp["lower"]), at(lp["upper"]))  # fmt: skip
            alpha[..., r] = previous
        return alpha, rows

    def p_lower(self, y: np.ndarray) -> np.ndarray:
        """P(the row is on the lower branch | the observations): its own (latent) or the whole sequence's
        (ordered: forward-backward)."""
        lp = self._lp(y)
        if self.sequence is None:
            joint = self.lw["lower"] + lp["lower"]
            return np.exp(joint - np.logaddexp(joint, self.lw["upper"] + lp["upper"]))
        alpha, _ = self._forward(lp)
        index, start = self.sequence
        shape = alpha.shape
        smoothed = alpha.copy()
        for t in range(index.size - 2, -1, -1):  # the next row's smoothed P, back through the transition
            if start[t + 1]:
                continue
            r, nxt = index[t], index[t + 1]
            lw = {b: np.broadcast_to(self.lw[b], shape)[..., nxt] for b in BRANCHES}
            from_lower = moved_lower(1.0, lw["lower"], lw["upper"])  # P(lower next | lower now)
            from_upper = moved_lower(0.0, lw["lower"], lw["upper"])
            a = alpha[..., r]
            to_lower = a * from_lower + (1.0 - a) * from_upper
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio_lower = np.where(to_lower > 0, smoothed[..., nxt] / to_lower, 0.0)
                ratio_upper = np.where(to_lower < 1, (1.0 - smoothed[..., nxt]) / (1.0 - to_lower), 0.0)
            smoothed[..., r] = a * (from_lower * ratio_lower + (1.0 - from_lower) * ratio_upper)
        return smoothed

    def replicate(self, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(replicated measurements, the noise-free V each is drawn around): per draw and row, the branch drawn
        from its posterior probability given the observations ``y`` (the row's latent state kept, as a repeat
        measurement of the same cell in the same state would), then a new measurement around it."""
        p = self.p_lower(y)
        shape = np.broadcast_shapes(p.shape, self.v["lower"].shape)
        v = np.where(rng.random(shape) < p, *np.broadcast_arrays(self.v["lower"], self.v["upper"]))
        return v + self.dist.rvs(size=shape, random_state=rng), v
