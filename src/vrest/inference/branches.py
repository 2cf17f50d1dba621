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
  likelihood is the forward algorithm's, and :meth:`BranchObservation.p_lower` smooths (forward-backward), both
  in one compiled pass (:mod:`.sequence_kernel`) that the PyMC model calls as one operation (:mod:`.sequence_op`).

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


def moved_lower(lower_before, w_lower, w_upper):
    """P(lower branch at a row) given P(lower) = ``lower_before`` at the previous row of its sequence and the
    branches' weights ``w_*`` at this row: the hysteresis rule (stay while the state exists) with switches against it
    (:data:`SWITCH_PROBABILITY`). Plain arithmetic: NumPy, or compiled in :mod:`.sequence_kernel`."""
    follow = lower_before * w_lower + (1.0 - lower_before) * (1.0 - w_upper)
    return SWITCH_PROBABILITY + (1.0 - 2.0 * SWITCH_PROBABILITY) * follow


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
        """(P(lower) given the whole sequence, log-density of each row given the rows before), each (..., rows) in
        row order: :func:`.sequence_kernel.sequence_pass` at every draw."""
        from .sequence_kernel import mark_used, sequence_passes

        mark_used()
        index, start = self.sequence
        shape = np.broadcast_shapes(lp["lower"].shape, self.lw["lower"].shape)
        flat = [np.ascontiguousarray(np.broadcast_to(x, shape).reshape(-1, shape[-1])[:, index])
                for x in (self.lw["lower"], self.lw["upper"], lp["lower"], lp["upper"])]  # fmt: skip
        rows, p_lower = np.empty_like(flat[0]), np.empty_like(flat[0])
        sequence_passes(np.ascontiguousarray(start, dtype=float), *flat, rows, p_lower)
        back = np.argsort(index)
        return p_lower[:, back].reshape(shape), rows[:, back].reshape(shape)

    def p_lower(self, y: np.ndarray) -> np.ndarray:
        """P(the row is on the lower branch | the observations): its own (latent) or the whole sequence's
        (ordered: forward-backward)."""
        lp = self._lp(y)
        if self.sequence is None:
            joint = self.lw["lower"] + lp["lower"]
            return np.exp(joint - np.logaddexp(joint, self.lw["upper"] + lp["upper"]))
        return self._forward(lp)[0]

    def replicate(self, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(replicated measurements, the noise-free V each is drawn around): per draw and row, the branch drawn
        from its posterior probability given the observations ``y`` (the row's latent state kept, as a repeat
        measurement of the same cell in the same state would), then a new measurement around it."""
        p = self.p_lower(y)
        shape = np.broadcast_shapes(p.shape, self.v["lower"].shape)
        v = np.where(rng.random(shape) < p, *np.broadcast_arrays(self.v["lower"], self.v["upper"]))
        return v + self.dist.rvs(size=shape, random_state=rng), v
