"""Simulation-based calibration of vrest's GHK + pump fit (Talts et al. 2018).

Run from the project root:  python analyses/sbc/sbc_ghk.py [--n-sims 200] [--seed 0] [--scheduler local|none|tcp://...]

Design: one cell, 12 K_o levels 1-100 mM with K+ replacing Na+ (the usual protocol,
in which the GHK + pump model has rank 2: the hardest case). For each simulation,
(p_na, p_cl, pump_mv, sigma_mv) are drawn from vrest's priors, V_m is simulated and
fitted with ``vrest.fit`` at its default settings (4 x 1000 draws; the compiled model is
reused from memory within a worker, the data swapped), and the rank of each true value
among L = 99 thinned posterior draws is recorded. Simulations run as jobs of vrest's batch
engine (Dask; each simulation seeded from the run seed and its index, so the ranks do not
depend on the number of workers). Writes sbc_ghk.csv (ranks), sbc_ghk.png and a section of RESULTS.md here
(:mod:`calibration`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from calibration import main, rank

import vrest

NAMES = ["p_na", "p_cl", "pump_mv", "sigma_mv"]
K_O = np.geomspace(1, 100, 12)


def simulate_and_fit(seed: int) -> dict:
    """Draw a truth from vrest's priors, simulate V_m, fit with ``vrest.fit``; the rank of each true value."""
    rng = np.random.default_rng(seed)
    priors = {p.name: p for p in vrest.fitted_priors("ghk")}
    truth = {name: p.to_natural(rng.normal(p.mean, p.sd)) for name, p in priors.items()}
    truth["sigma_mv"] = abs(rng.normal(0.0, vrest.SIGMA_PRIOR_SD_MV))
    na_o = 150.0 - K_O  # K+ replacing Na+
    v = vrest.predict("ghk", k_o=K_O, na_o=na_o, **{k: truth[k] for k in priors})
    table = pd.DataFrame({"K_o_mM": K_O, "Na_o_mM": na_o, "V_m_mV": v + rng.normal(0.0, truth["sigma_mv"], v.size)})
    res = vrest.fit(vrest.load_recordings(table), "ghk", seed=int(rng.integers(2**31)), cores=1)
    posterior = res.posterior.posterior
    return {"divergences": res.diagnostics["divergences"], "draws": int(posterior.sizes["chain"] * posterior.sizes["draw"]),
            **{name: rank(posterior[name].values, truth[name]) for name in NAMES}}  # fmt: skip


if __name__ == "__main__":
    main(simulate_and_fit, NAMES, description=__doc__.splitlines()[0], title="ghk", stem="sbc_ghk", n_sims=200)
