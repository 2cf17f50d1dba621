"""Which branch each observation sits on, for a model with two stable states (``rectifying-kir``).

The likelihood (:mod:`.pymc_model`) and the posterior summaries here share these formulas
(NumPy or PyTensor). A multistable model's record gives both branches, each continued
through the saddle-node where its state vanishes by its ghost, with an existence margin m
(mV; :func:`vrest.models.kir_states.branch_margins`) and log weight
log w = -min(m, 0)^2 / (2 x 1 mV^2) (:func:`vrest.models.kir_states.branch_log_weight`): w = 1
where the state exists, falling smoothly to 0 once it has vanished. V and w are continuous in
the parameters, so the log-density is continuous where a state appears or vanishes.

* **No order known** (latent state): each row is on the lower (hyperpolarised) or the upper
  (depolarised) branch with prior probabilities proportional to their weights, i.e. equal
  weights over the stable states that exist (1/2 each in the bistable window, 1 for the only
  one outside it):  p(v) = sum_b w_b N(v; V_b, s) / sum_b w_b.
* **Order known** (hysteresis): rows of one cell in the order the solutions were applied form a
  two-state hidden Markov chain. The first row is on a branch as above; each next row stays on
  the previous row's branch with probability w of that branch at the new conditions (1 while it
  exists) and otherwise switches to the other: the branch reached from the previous solution.
  The likelihood is the forward algorithm's; :func:`branch_probabilities` smooths (forward-backward).
  A floor of 1e-9 on either branch's predicted probability (:data:`SWITCH_FLOOR`) keeps it finite.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..backend import namespace
from ..models import get_model
from ..models.kir_states import branch_log_weight


def latent_log_likelihood(lp_lower, lp_upper, lw_lower, lw_upper):
    """Per-row log-likelihood with the branch a latent choice: log(sum_b w_b p_b / sum_b w_b), from the
    branches' log-densities ``lp_*`` of the observation and log weights ``lw_*``. NumPy or PyTensor."""
    xp = namespace(lp_lower, lp_upper, lw_lower, lw_upper)
    return xp.logaddexp(lw_lower + lp_lower, lw_upper + lp_upper) - xp.logaddexp(lw_lower, lw_upper)


SWITCH_FLOOR = 1e-9
"""Probability that a cell is on the branch the hysteresis rule excludes (an unexplained switch, e.g. noise
or a missed solution change): keeps the ordered likelihood finite (log of a positive number) everywhere."""


def forward_step(alpha_lower, start, lw_lower, lw_upper, lp_lower, lp_upper):
    """One step of the ordered likelihood's forward algorithm: (P(lower | rows so far), log-likelihood of
    this row given the rows before). ``alpha_lower``: P(lower) at the previous row of the sequence;
    ``start``: 1 at a sequence's first row (its prior is then w_b / sum w). NumPy or PyTensor."""
    xp = namespace(alpha_lower, start, lw_lower, lw_upper, lp_lower, lp_upper)
    w_lower, w_upper = xp.exp(lw_lower), xp.exp(lw_upper)
    stay = alpha_lower * w_lower + (1.0 - alpha_lower) * (1.0 - w_upper)
    predicted = SWITCH_FLOOR + (1.0 - 2.0 * SWITCH_FLOOR) * xp.where(start > 0, w_lower / (w_lower + w_upper), stay)
    joint_lower, joint_upper = xp.log(predicted) + lp_lower, xp.log1p(-predicted) + lp_upper
    row = xp.logaddexp(joint_lower, joint_upper)
    return xp.exp(joint_lower - row), row


def sequences(order: np.ndarray, cell: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(row index in sequence order, 1.0 at the first row of each sequence): rows grouped by cell (one
    sequence without a cell column) and sorted by ``order`` (the order the solutions were applied)."""
    order = np.asarray(order, dtype=float)
    if not np.all(np.isfinite(order)):
        raise ValueError("order: expected a number on every row (the order the solutions were applied)")
    codes = np.zeros(order.size, int) if cell is None else np.unique(np.asarray(cell).astype(str), return_inverse=True)[1]
    index = np.lexsort((order, codes))
    start = np.ones(index.size)
    start[1:] = codes[index][1:] != codes[index][:-1]
    return index, start


def row_branches(model: str, inputs: dict, params: dict) -> dict:
    """Both branches ({"lower", "upper", "margin_lower", "margin_upper"}, mV) at broadcast design ``inputs``
    (arrays over rows) and parameter draws ``params`` (arrays broadcasting against them)."""
    from ..api import resolve_inputs

    m, values = resolve_inputs(model, {**inputs, **params})
    if m.branches is None:
        raise ValueError(f"model: {model!r} has no branches (not a multistable model)")
    shape = np.broadcast_shapes(*(np.shape(v) for v in values.values()))
    return m.branches({k: np.broadcast_to(v, shape) for k, v in values.items()})


def branch_probabilities(model: str, inputs: dict, v_obs: np.ndarray, params: dict, scale: np.ndarray,
                         order: np.ndarray | None = None, cell: np.ndarray | None = None) -> dict:  # fmt: skip
    """Per draw and row (arrays (draws, rows)): "p_lower", the probability that the row is on the lower
    (hyperpolarised) branch given its observation (and, with ``order``, the whole ordered sequence:
    forward-backward), and "bistable", whether both stable states exist there.

    ``inputs``: the design's inputs over rows; ``params``: fitted parameters as (draws, 1) arrays;
    ``scale``: the observation sd (draws, rows) in mV, sqrt(sigma^2 + sem^2) (a Normal likelihood)."""
    br = row_branches(model, inputs, params)
    lp = {b: -0.5 * ((v_obs - br[b]) / scale) ** 2 - np.log(scale) for b in ("lower", "upper")}
    lw = {b: branch_log_weight(br[f"margin_{b}"]) for b in ("lower", "upper")}
    bistable = (br["margin_lower"] > 0) & (br["margin_upper"] > 0)
    if order is None:
        joint = lw["lower"] + lp["lower"]
        p_lower = np.exp(joint - np.logaddexp(joint, lw["upper"] + lp["upper"]))
        return {"p_lower": p_lower, "bistable": bistable}
    index, start = sequences(order, cell)
    alpha = np.zeros(lp["lower"].shape)  # filtered P(lower) in sequence order
    previous = np.zeros(alpha.shape[:-1])
    for t, row in enumerate(index):
        previous, _ = forward_step(previous, start[t], lw["lower"][..., row], lw["upper"][..., row],
                                   lp["lower"][..., row], lp["upper"][..., row])  # fmt: skip
        alpha[..., t] = previous
    smoothed = alpha.copy()
    for t in range(index.size - 2, -1, -1):  # backward: the next row's smoothed P, through the transition
        if start[t + 1]:
            continue
        nxt = index[t + 1]
        w_lower, w_upper = np.exp(lw["lower"][..., nxt]), np.exp(lw["upper"][..., nxt])
        keep = 1.0 - 2.0 * SWITCH_FLOOR
        stay_lower, to_lower_from_upper = SWITCH_FLOOR + keep * w_lower, SWITCH_FLOOR + keep * (1.0 - w_upper)
        to_lower = alpha[..., t] * stay_lower + (1.0 - alpha[..., t]) * to_lower_from_upper  # predicted P(lower) at t + 1
        from_lower_to_lower = alpha[..., t] * stay_lower
        from_lower_to_upper = alpha[..., t] * (1.0 - stay_lower)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio_lower = np.where(to_lower > 0, smoothed[..., t + 1] / to_lower, 0.0)
            ratio_upper = np.where(to_lower < 1, (1.0 - smoothed[..., t + 1]) / (1.0 - to_lower), 0.0)
        smoothed[..., t] = from_lower_to_lower * ratio_lower + from_lower_to_upper * ratio_upper
    p_lower = np.empty(alpha.shape)
    p_lower[..., index] = smoothed
    return {"p_lower": p_lower, "bistable": bistable}


def _posterior_inputs(design, priors, posterior, max_draws: int) -> tuple[dict, dict, np.ndarray, np.ndarray]:
    """(design inputs of the observed rows, parameters (draws, 1), observation sd (draws, rows), chain of each draw)."""
    rows = np.isfinite(design.v_obs)
    n_chains, n_draws = posterior["sigma_mv"].shape[:2]
    step = max(1, n_chains * n_draws // max_draws)
    take = lambda name: np.asarray(posterior[name]).reshape(n_chains * n_draws, -1)[::step]
    params = {p.name: take(p.name) for p in priors}
    scale = np.sqrt(take("sigma_mv") ** 2 + design.sem[rows] ** 2)
    chain = np.repeat(np.arange(n_chains), n_draws)[::step]
    return {k: v[rows] for k, v in design.inputs.items()}, params, scale, chain


def row_branch_table(design, priors, posterior, order: np.ndarray | None = None, max_draws: int = 1000) -> pd.DataFrame:
    """Per observed row: K_o, V_m, P(hyperpolarised branch) and P(two stable states), averaged over (up to
    ``max_draws`` evenly thinned) posterior draws. ``posterior``: the fit's posterior (named parameters and
    sigma_mv, with chain and draw axes: an xarray Dataset or a dict of arrays); ``order``: the observed rows'
    order column, or None (latent branch). Pooled fits (population parameters)."""
    inputs, params, scale, _ = _posterior_inputs(design, priors, posterior, max_draws)
    rows = np.isfinite(design.v_obs)
    cell = None if design.cell is None else design.cell[rows]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = branch_probabilities(design.model, inputs, design.v_obs[rows], params, scale, order, cell)
    return pd.DataFrame({"row": np.nonzero(rows)[0], "K_o_mM": inputs["k_o"], "V_m_mV": design.v_obs[rows],
                         "p_hyperpolarized": out["p_lower"].mean(axis=0), "p_bistable": out["bistable"].mean(axis=0)})  # fmt: skip


def bistability_notes(design, priors, posterior, order: np.ndarray | None = None, max_draws: int = 1000) -> list[str]:
    """Sentences on bistability at fit time, per recorded K_o level where some draws have two stable states:
    "two stable states at K_o = 2 mM in 28 % of draws; chains sit on different branches (P(hyperpolarised)
    by chain: 0.05, 0.97, ...)". The chains' branches are "different" where one chain puts a row on the
    hyperpolarised branch with probability above 0.8 and another below 0.2. Empty for a monostable fit."""
    if get_model(design.model).branches is None:
        return []
    inputs, params, scale, chain = _posterior_inputs(design, priors, posterior, max_draws)
    rows = np.isfinite(design.v_obs)
    cell = None if design.cell is None else design.cell[rows]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = branch_probabilities(design.model, inputs, design.v_obs[rows], params, scale, order, cell)
    notes = []
    for k_o in np.unique(inputs["k_o"]):
        at = inputs["k_o"] == k_o
        share = float(out["bistable"][:, at].mean())
        if share == 0:
            continue
        by_chain = [float(out["p_lower"][chain == c][:, at].mean()) for c in np.unique(chain)]
        split = max(by_chain) > 0.8 and min(by_chain) < 0.2
        text = f"two stable states at K_o = {k_o:g} mM in {100 * share:.0f} % of draws"
        text += "; chains sit on different branches" if split else ""
        text += " (P(hyperpolarised branch) by chain: " + ", ".join(f"{p:.2f}" for p in by_chain) + ")"
        notes.append(text)
    return notes
