"""Exact leave-one-out for the points PSIS-LOO cannot estimate (Pareto k > 0.7), by refitting without them.

PSIS-LOO approximates each observation's log predictive density given the others from one
posterior; where an observation is influential (Pareto k above :data:`PARETO_K`, Vehtari et
al. 2017) the approximation fails. For up to :data:`MAX_REFITS` such points a fit is repeated
without that observation (its V_m set to missing in the same design: same assumed inputs,
priors and seed; :data:`REFIT_CHAINS` chains) and the exact log p(y_i | y_-i) =
log mean_s p(y_i | theta_s^(-i)) replaces the PSIS estimate. The refits' pointwise
log-likelihood draws are kept in the fit's posterior file (group ``loo_refits``), so every
later comparison (``vrest compare``, the report) uses them through
:func:`arviz_stats.reloo` without sampling again.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from .diagnostics import RHAT_MAX

PARETO_K = 0.7
"""Pareto-k above which a point's PSIS-LOO estimate is unreliable (Vehtari et al. 2017)."""
MAX_REFITS = 10
"""At most this many refits per fit; with more influential points, K-fold cross-validation is the tool."""
GROUP = "loo_refits"
REFIT_CHAINS = 2
"""Chains of each refit (at most the fit's own). A refit serves one number, log mean_s p(y_i | theta_s); two
chains of the fit's draws give it with a Monte Carlo error far below the elpd differences a comparison reads,
at half the cost of four chains on two cores, and R-hat (over four half-chains) and divergences are still checked."""


def psis_loo(tree):
    """Pointwise PSIS-LOO of a fit's posterior tree (an ELPDDataLOO; its Pareto-k warning left to the caller)."""
    import arviz_stats as azs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return azs.loo(tree, pointwise=True)


def influential(loo) -> np.ndarray:
    """Observation coordinates (``obs``) whose PSIS-LOO (:func:`psis_loo`) Pareto k exceeds :data:`PARETO_K`."""
    k = loo.pareto_k
    return k["obs"].values[k.values > PARETO_K]


def refit_problem(row: int, divergences: int, draws: int, max_r_hat: float) -> str | None:
    """A warning when the refit without ``row`` was not sampled cleanly (divergent transitions among its ``draws``,
    or R-hat above :data:`.diagnostics.RHAT_MAX` for some parameter): its exact elpd, and every comparison using it,
    may be off, as a fit's intervals may be with the same signs."""
    signs = ([f"{divergences} divergent transition(s) in {draws} draws"] if divergences else []) + (
        [f"R-hat {max_r_hat:.3f} > {RHAT_MAX} (chains disagree)"] if not max_r_hat <= RHAT_MAX else [])  # fmt: skip
    if not signs:
        return None
    return (f"exact leave-one-out: the refit without observation {row} had {'; '.join(signs)}: its elpd, and the "
            "model comparison, may be off")  # fmt: skip


def refit_influential(tree, refit: Callable[[int], np.ndarray]) -> str | None:
    """Add the group ``loo_refits`` to ``tree`` (v_m: log-likelihood draws (chain, draw, obs) of each influential
    observation under the fit without it); return a note saying so (None: no influential point).

    ``refit(obs)`` fits again without observation ``obs`` and returns its log-likelihood draws (chain, draw)."""
    bad = influential(psis_loo(tree))
    if bad.size == 0:
        return None
    if bad.size > MAX_REFITS:
        return (f"{bad.size} observations have Pareto k > {PARETO_K}: too many to refit one by one (at most "
                    f"{MAX_REFITS}); their PSIS-LOO values are unreliable, use K-fold cross-validation")  # fmt: skip
    import xarray as xr

    try:
        values = np.stack([refit(int(obs)) for obs in bad], axis=-1)
    except (ValueError, RuntimeError, ArithmeticError) as err:  # SolverError is a RuntimeError, LinAlgError a ValueError
        return (f"observation(s) {', '.join(map(str, bad))} have Pareto k > {PARETO_K}, and refitting without them "
                f"failed ({type(err).__name__}: {err}); their PSIS-LOO values are kept and are unreliable")  # fmt: skip
    if not np.all(np.isfinite(values)):
        return (f"observation(s) {', '.join(map(str, bad))} have Pareto k > {PARETO_K}; the refits without them gave "
                "non-finite log-likelihoods, so their PSIS-LOO values are kept and are unreliable")  # fmt: skip
    coords = {"chain": np.arange(values.shape[0]), "draw": np.arange(values.shape[1]), "obs": bad}  # the refits' own
    tree[GROUP] = xr.DataTree(xr.Dataset({"v_m": (("chain", "draw", "obs"), values)}, coords=coords))
    return f"exact leave-one-out by refitting without observation(s) {', '.join(map(str, bad))} (Pareto k > {PARETO_K})"


def exact_loo(tree):
    """PSIS-LOO of a fit with its stored refits in place of the influential points (an ELPDDataLOO); plain
    PSIS-LOO where the tree holds none, or not for every influential point."""
    import arviz_stats as azs
    from arviz_stats.loo import SamplingWrapper

    class Stored(SamplingWrapper):
        """Replays the refits kept in the tree (no sampling)."""

        def sel_observations(self, idx):
            return None, self.idata_orig["log_likelihood"]["obs"].values[idx]

        def sample(self, modified_observed_data):
            return None

        def get_inference_data(self, fitted_model):
            return None

        def log_likelihood__i(self, excluded_obs, idata__i):
            return self.idata_orig[GROUP]["v_m"].sel(obs=excluded_obs)

    plain = psis_loo(tree)
    if GROUP not in tree.children or not set(influential(plain)) <= set(tree[GROUP]["obs"].values):
        return plain
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return azs.reloo(Stored(None, idata_orig=tree), loo_orig=plain, k_threshold=PARETO_K, pointwise=True)
