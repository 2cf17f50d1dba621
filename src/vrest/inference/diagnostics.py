"""Posterior summaries and diagnostics that speak (plain NumPy on draws + ArviZ R-hat/ESS)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..parameters import PARAMS, PUMP_TERMS

RHAT_MAX = 1.01
ESS_MIN = 400
CONTRACTION_MIN = 0.1
PRIOR_CONFLICT_Z = 3.0
"""A posterior mean this many prior sds from the prior's centre is a prior-data conflict."""
PUMP_NEGATIVE_P = 0.9
"""A pump term (pump_mv, i_pump) with at least this posterior probability below zero is flagged: an electrogenic
Na+/K+ pump hyperpolarises. Not the 0.95 of a 90 % interval's upper end: the Gelband GHK fit (median -3.9 mV) sits
at P = 0.95, where a rule "q95 < 0" flagged it or not by the Monte Carlo error of the draws (seed to seed)."""
CORRELATION_MAX = 0.9
"""|r| above this marks two parameters the data constrain only in combination (diagnostics and the pair plot)."""
PAIR_PLOT_COMMAND = "vrest report FIT_DIR --out report.html"
"""The command that draws the pair plot (``vrest fit`` writes none)."""
QUANTILES = {"q2.5": 0.025, "q5": 0.05, "q5.5": 0.055, "q50": 0.5, "q94.5": 0.945, "q95": 0.95, "q97.5": 0.975}


def summary_table(idata, names: list[str], priors: list) -> pd.DataFrame:
    """One row per parameter: mean, sd, quantiles (89 % = q5.5-q94.5, 95 % = q2.5-q97.5, 90 % = q5-q95),
    R-hat, bulk and tail ESS, prior-to-posterior contraction 1 - var_post/var_prior and the prior z-score of the
    posterior mean, (mean_post - mean_prior)/sd_prior (both on the parameter's unconstrained scale; NaN where no
    prior applies), and p_negative, the share of draws below zero."""
    by_name = {p.name: p for p in priors}
    import arviz_stats as azs

    rhat = azs.rhat(idata, var_names=names)
    ess_bulk = azs.ess(idata, var_names=names, method="bulk")
    ess_tail = azs.ess(idata, var_names=names, method="tail")
    rows = []
    for name in names:
        draws = idata.posterior[name].values.reshape(-1)
        row = {"parameter": name, "mean": draws.mean(), "sd": draws.std(ddof=1), "p_negative": np.mean(draws < 0)}
        row.update({k: np.quantile(draws, q) for k, q in QUANTILES.items()})
        row.update(
            r_hat=float(rhat[name].values),
            ess_bulk=float(ess_bulk[name].values),
            ess_tail=float(ess_tail[name].values),
        )
        if name in by_name:
            p = by_name[name]
            unconstrained = np.log(draws) if p.log_scale else draws
            row["contraction"] = 1.0 - unconstrained.var(ddof=1) / p.sd**2
            row["prior_z"] = (unconstrained.mean() - p.mean) / p.sd
        else:
            row["contraction"] = row["prior_z"] = np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def posterior_correlations(idata, names: list[str], log_scale: dict[str, bool]) -> pd.DataFrame:
    """Correlation matrix of the parameters' posterior draws (log scale for ratios)."""
    cols = {}
    for n in names:
        d = idata.posterior[n].values.reshape(-1)
        cols[("log " if log_scale.get(n) else "") + n] = np.log(d) if log_scale.get(n) else d
    return pd.DataFrame(cols).corr()


def negative_pumps(summary: pd.DataFrame) -> list[str]:
    """Each pump term of ``summary`` (a :func:`summary_table`) below zero with probability >= PUMP_NEGATIVE_P, in
    words ("pump_mv is negative with probability 0.95 (median -3.9 mV, 90 % interval -7.2 to 0.01)"). A summary
    without p_negative (written before it was added) counts a pump whose 90 % interval lies below zero."""
    rows = summary.set_index("parameter")
    known = "p_negative" in rows.columns
    out = []
    for name in [n for n in PUMP_TERMS if n in rows.index]:
        r = rows.loc[name]
        p = r["p_negative"] if known else float(r["q95"] < 0)
        if p >= PUMP_NEGATIVE_P:
            share = f"with probability {p:.2f}" if known else "(90 % interval below zero)"
            out.append(f"{name} is negative {share} (median {r['q50']:.2g} {PARAMS[name].unit}, 90 % interval "
                       f"{r['q5']:.2g} to {r['q95']:.2g})")  # fmt: skip
    return out


def strongly_correlated(r: float) -> bool:
    """Whether a posterior correlation ``r`` is strong enough to report (|r| > :data:`CORRELATION_MAX`)."""
    return bool(abs(r) > CORRELATION_MAX)


def about_the_prior(contraction: float, prior_z: float) -> bool:
    """Whether a posterior is about its prior: contracted by less than CONTRACTION_MIN of the prior's variance and
    shifted by no more than one prior sd (a larger shift is the data speaking, even without contraction)."""
    return bool(np.isfinite(contraction) and contraction < CONTRACTION_MIN and not abs(prior_z) > 1)


def messages(summary: pd.DataFrame, correlations: pd.DataFrame, divergences: int, n_draws: int,
             priors: list | None = None) -> list[str]:  # fmt: skip
    """Problems in plain words (empty when everything is fine). ``priors``: the fitted parameters' priors, to flag
    an assumed concentration (``--uncertain``) that the data pull outside its prior's 95 % range."""
    out = []
    if divergences:
        out.append(
            f"{divergences} of {n_draws} draws diverged: the sampler could not follow the posterior everywhere; "
            f"intervals may be wrong (see the pair plot drawn by `{PAIR_PLOT_COMMAND}`; consider more informative "
            "priors or an extra condition)"
        )
    for _, r in summary.iterrows():
        if r["r_hat"] > RHAT_MAX:
            out.append(f"{r['parameter']}: R-hat {r['r_hat']:.3f} > {RHAT_MAX}: chains disagree; do not trust its interval")
        if r["ess_bulk"] < ESS_MIN:
            out.append(f"{r['parameter']}: bulk ESS {r['ess_bulk']:.0f} < {ESS_MIN}: too few effective draws")
        z = r.get("prior_z", np.nan)
        if np.isfinite(z) and abs(z) > PRIOR_CONFLICT_Z:
            out.append(
                f"{r['parameter']}: the posterior sits {z:+.1f} prior sds from the prior's centre: prior-data "
                "conflict (the data pull it where the prior says it is implausible); check the priors and assumptions"
            )
        elif about_the_prior(r["contraction"], z):
            out.append(
                f"{r['parameter']}: posterior is about the prior (contraction {r['contraction']:.2f}, shift "
                f"{z:+.1f} prior sd): the data do not inform it; its interval reflects the prior"
            )
    out += [f"{words}: an electrogenic Na+/K+ pump hyperpolarises, so the model or the assumed concentrations are "
            "probably wrong for these data" for words in negative_pumps(summary)]
    for p in priors or ():
        row = summary[summary["parameter"] == p.name]
        if not p.log_scale or p.unit != "mM" or not len(row):
            continue
        lo, hi = np.exp(p.mean - 1.96 * p.sd), np.exp(p.mean + 1.96 * p.sd)
        median = row["q50"].iloc[0]
        if not lo <= median <= hi:
            out.append(
                f"{p.name}: posterior median {median:.3g} mM lies outside its prior's 95 % range {lo:.3g}-{hi:.3g} mM: "
                "the data pull this assumed concentration far from any plausible value, so another assumption "
                "(Cl- distribution, the pump, a junction potential, the solutions) is probably wrong"
            )
    names = list(correlations.columns)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            c = correlations.iloc[i, j]
            if strongly_correlated(c):
                out.append(
                    f"{names[i]} and {names[j]} are strongly correlated (r = {c:+.2f}): "
                    f"the data constrain a combination of them, not each one (pair plot: `{PAIR_PLOT_COMMAND}`)"
                )
    return out


MODE_GAP = 2.0
"""Least difference of chains' mean log-density (natural-log units) at which they are said to sit in separate modes,
and at least one within-chain sd of the log-density (about sqrt(dimension / 2): 1-2 units for a pooled fit, more
with many cells). Chains in one mode differ by under 1 unit (rectifying-kir on synthetic data: 0.1-0.8 over ten
seeds); a chain in its local mode sat 4 and 10 units below the others."""


def low_mode_chains(logp: np.ndarray) -> np.ndarray:
    """Indices of the chains in a separate, lower mode: mean log-density more than MODE_GAP (and the median chain's
    sd of it: a chain that wanders into a low region widens its own) below the best chain's. ``logp``: (chain,
    draw)."""
    means = logp.mean(axis=1)
    return np.flatnonzero(means < means.max() - max(MODE_GAP, float(np.median(logp.std(axis=1)))))


def mode_share(draws: np.ndarray, logp: np.ndarray, low: np.ndarray) -> float:
    """Share of the posterior mass in the local mode of chains ``low``, against the others' (main) mode, each taken
    as Gaussian in the sampler's coordinates: log mass = mean log-density + log sqrt(det covariance) of its draws
    (the constants cancel). The local mode is what those chains visit outside the main mode (Mahalanobis distance
    under the main chains' mean and covariance beyond its 99.9 % chi-square quantile): a chain that wanders between
    the two would otherwise lend the local mode the main mode's log-density. ``draws``: (chain, draw, coordinate);
    ``logp``: (chain, draw). 0 when those chains leave the main mode for too few draws to measure a spread."""
    k = draws.shape[-1]
    high = np.setdiff1d(np.arange(logp.shape[0]), low)
    main = draws[high].reshape(-1, k)
    mean, cov = main.mean(axis=0), np.atleast_2d(np.cov(main.T))
    x, lp = draws[low].reshape(-1, k), logp[low].reshape(-1)
    d2 = np.einsum("ij,ij->i", x - mean, np.linalg.solve(cov, (x - mean).T).T)
    outside = d2 > stats.chi2.ppf(0.999, k)
    if outside.sum() < 5 * k:
        return 0.0

    def log_mass(points: np.ndarray, values: np.ndarray) -> float:
        sign, logdet = np.linalg.slogdet(np.atleast_2d(np.cov(points.T)))
        return float(values.mean() + 0.5 * logdet) if sign > 0 else -np.inf

    low_mass, high_mass = log_mass(x[outside], lp[outside]), log_mass(main, logp[high].reshape(-1))
    return 0.0 if low_mass == -np.inf else float(np.exp(low_mass - np.logaddexp(low_mass, high_mass)))


def separate_modes(logp: np.ndarray) -> list[str]:
    """A message when chains sit in separate modes of the posterior: ``logp`` (chain, draw), the log-density of each
    draw. Empty when every chain's mean log-density is within MODE_GAP of the best chain's."""
    means = logp.mean(axis=1)
    low = low_mode_chains(logp)
    if low.size == 0:
        return []
    gap = float(means.max() - means[low].max())
    which = ", ".join(str(c + 1) for c in low)
    return [f"chain(s) {which} of {means.size} sit in a separate mode: their mean log-density is {gap:.0f} or more "
            "units below the best chain's. The posterior has a local mode and the intervals mix the two; trust the "
            "chains of highest log-density and rerun with another seed to confirm"]
