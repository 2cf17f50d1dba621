"""Simulation-based calibration of vrest's rectifier fit (``rectifying-kir``, shape fitted) across its bistable window.

Run from the project root:  python analyses/sbc/sbc_kir.py [--ordered] [--n-sims 100] [--seed 0] [--scheduler ...]

Design: one cell taken down through 11 K_o levels from 20 to 1.5 mM and back up (21 rows), the range where the
rectifier's prior puts a bistable window: about a quarter of the prior's cells have two stable states at one
recorded level or more (the fraction of this run's truths is printed), the rest one. For each simulation,
(g_na, g_cl, i_pump, v_half, k_slope, kir_n, sigma_mv) are drawn from vrest's priors and each row's V_m is drawn
from the likelihood that ``vrest.fit`` uses (:mod:`vrest.inference.branches`):

* default, no order known: each row on the lower or upper branch with probability proportional to the branches'
  weights (1/2 each inside the window, the existing state's outside it), then normal noise;
* ``--ordered``: an ``order`` column, and the branches follow the hysteresis chain (stay on the previous row's
  branch while it exists, switch with SWITCH_PROBABILITY otherwise).

Each data set is fitted with ``vrest.fit`` at its default settings but 4 x 1000 draws (the record's 3000 buy ESS for a
report; 99 thinned draws need far fewer) and PSIS-LOO without exact refits (which do not touch the posterior), and the rank of each true value among L = 99 thinned posterior draws recorded (a data set outside the V_m range
vrest accepts is drawn again: see V_RANGE_MV) (:mod:`calibration`). Writes
sbc_kir[_ordered].csv, .png and a section of RESULTS.md here.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from calibration import main, rank

import vrest
from vrest.inference.branches import moved_lower, observed_branches
from vrest.models.kir_states import branch_log_weight

MODEL = "rectifying-kir"
NAMES = ["g_na", "g_cl", "i_pump", "v_half", "k_slope", "kir_n", "sigma_mv"]
LEVELS = np.array([20.0, 12.0, 8.0, 5.4, 4.5, 4.0, 3.5, 3.0, 2.5, 2.0, 1.5])
K_O = np.concatenate([LEVELS, LEVELS[-2::-1]])
"""K_o (mM) in the order applied: down through the window and back up."""
ORDERED = "--ordered" in sys.argv
V_RANGE_MV = (-200.0, 100.0)
"""V_m that vrest accepts in a recording. The prior allows a negative (inward) pump current large enough to put a
depolarised state above +100 mV; such data sets are drawn again. Conditioning on an event of the data alone
leaves each data set's posterior, and so the uniformity of the ranks, unchanged."""


def simulate(truth: dict, rng: np.random.Generator, ordered: bool) -> tuple[pd.DataFrame, bool]:
    """(table of K_o, V_m and, if ``ordered``, the order; whether two stable states exist at a recorded level)."""
    br = vrest.branches(MODEL, k_o=K_O, **{k: v for k, v in truth.items() if k != "sigma_mv"})
    lw_lower, lw_upper = branch_log_weight(br["margin_lower"]), branch_log_weight(br["margin_upper"])
    p_first = np.exp(lw_lower - np.logaddexp(lw_lower, lw_upper))  # P(lower) with nothing before
    lower = np.empty(K_O.size, dtype=bool)
    for t in range(K_O.size):
        p = p_first[t] if t == 0 or not ordered else moved_lower(float(lower[t - 1]), np.exp(lw_lower[t]), np.exp(lw_upper[t]))
        lower[t] = rng.random() < p
    seen = observed_branches(br)
    v = np.where(lower, seen["lower"], seen["upper"]) + rng.normal(0.0, truth["sigma_mv"], K_O.size)
    table = pd.DataFrame({"K_o_mM": K_O, "V_m_mV": v})
    if ordered:
        table["order"] = np.arange(K_O.size)
    return table, bool(np.any((br["margin_lower"] > 0) & (br["margin_upper"] > 0)))


def simulate_and_fit(seed: int) -> dict:
    """Draw a truth from vrest's priors, simulate V_m, fit with ``vrest.fit``; the rank of each true value."""
    rng = np.random.default_rng(seed)
    for tries in range(1, 1001):  # a data set vrest would reject is drawn again: a condition on V_m alone
        truth = {p.name: p.to_natural(rng.normal(p.mean, p.sd)) for p in vrest.fitted_priors(MODEL)}
        truth["sigma_mv"] = abs(rng.normal(0.0, vrest.SIGMA_PRIOR_SD_MV))
        table, bistable = simulate(truth, rng, ORDERED)
        if table["V_m_mV"].between(*V_RANGE_MV).all():
            break
    res = vrest.fit(vrest.load_recordings(table), MODEL, seed=int(rng.integers(2**31)), cores=1, draws=1000,
                    exact_loo=False)
    posterior = res.posterior.posterior
    return {"divergences": res.diagnostics["divergences"], "draws": int(posterior.sizes["chain"] * posterior.sizes["draw"]),
            "bistable": bistable, "tries": tries, "max_rhat": float(res.summary["r_hat"].max()), "min_ess": float(res.summary["ess_bulk"].min()),
            **{name: rank(posterior[name].values, truth[name]) for name in NAMES}}  # fmt: skip


if __name__ == "__main__":
    stem = "sbc_kir_ordered" if ORDERED else "sbc_kir"
    main(
        simulate_and_fit,
        NAMES,
        description=__doc__.splitlines()[0],
        stem=stem,
        n_sims=100,
        flags={"--ordered": "rows carry the order the solutions were applied (hysteresis likelihood)"},
        title=f"{MODEL}, shape fitted, {'order known (hysteresis)' if ORDERED else 'no order (latent branch)'}",
    )
