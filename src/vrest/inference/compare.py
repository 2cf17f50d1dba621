"""PSIS-LOO comparison of fits of the same data, as a table and in words."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .reloo import PARETO_K, exact_loo


def compare_fits(fits: Sequence) -> pd.DataFrame:
    """elpd_loo, se, differences, stacking weights and Pareto-k counts, best model first. Points a fit refitted
    exactly (:mod:`.reloo`) enter with their exact leave-one-out value and no longer count as Pareto k > 0.7.

    ``fits``: :class:`vrest.folders.FitRun` objects (or fit folders, read here). ValueError when they
    are fewer than two, of different data or observations (junction-potential corrections), or hierarchical and
    pooled mixed (their likelihoods are
    of different observations: per cell against pooled, so elpd is not comparable).
    """
    import arviz_stats as azs

    from ..folders import FitRun, read_fit

    runs = [f if isinstance(f, FitRun) else read_fit(f) for f in fits]
    if len(runs) < 2:
        raise ValueError("compare: expected at least two fit folders")
    if len({r.sha256 for r in runs}) > 1:
        raise ValueError("compare: the fits are of different data (data sha256 differ); compare fits of one data set")
    kinds = {bool(r.info.get("hierarchical")) for r in runs}
    if len(kinds) > 1:
        names = ", ".join(f"{r.label}: {'hierarchical' if r.info.get('hierarchical') else 'pooled'}" for r in runs)
        raise ValueError(f"compare: hierarchical and pooled fits mixed ({names}); refit with one --hierarchical choice")
    observed = [np.asarray(r.tree["observed_data"]["v_m"].values) for r in runs]
    if any(o.shape != observed[0].shape or not np.allclose(o, observed[0]) for o in observed[1:]):
        raise ValueError("compare: the fits' observed V_m differ (other junction-potential corrections or rows): "
                         "PSIS-LOO compares fits of the same observations only")  # fmt: skip
    converged = {r.label: converged_fit(r.info) for r in runs}
    ranked = [r for r in runs if converged[r.label]]
    if len(ranked) < 2:  # nothing to rank without them: rank all, marked
        ranked = runs
    loos = {r.label: exact_loo(r.tree) for r in ranked}  # influential points refitted at fit time (.reloo)
    with warnings.catch_warnings():  # Pareto-k warnings become the pareto_k_above_0.7 column
        warnings.simplefilter("ignore", UserWarning)
        table = azs.compare(loos, round_to="none")  # full precision: rounding belongs to the printed words
    bad_k = {label: int((loo.pareto_k.values > PARETO_K).sum()) for label, loo in loos.items()}
    table = table.reset_index(names="fit")
    table["pareto_k_above_0.7"] = table["fit"].map(bad_k)
    left_out = pd.DataFrame({"fit": [r.label for r in runs if r.label not in loos]})
    table = pd.concat([table, left_out], ignore_index=True) if len(left_out) else table
    table["converged"] = table["fit"].map(converged)
    flagged = {r.label: r.info.get("adequacy", {}).get("flagged") for r in runs}  # None: fit.json has no adequacy
    table["adequacy_flagged"] = table["fit"].map(flagged).astype(object)
    return table


def separated(elpd_diff: float, dse: float) -> bool:
    """Whether PSIS-LOO separates a fit from the best: its elpd difference (elpd_diff <= 0) is more than twice that
    difference's standard error ``dse``."""
    return abs(elpd_diff) > 2 * dse


def _flagged(table: pd.DataFrame, value: bool) -> pd.Series:
    """Per row, whether its fit's adequacy flag is ``value`` (False where the fit has no flag: fit.json written
    before the adequacy checks, or a table without the column)."""
    if "adequacy_flagged" not in table:
        return pd.Series(False, index=table.index)
    return table["adequacy_flagged"].map(lambda flag: isinstance(flag, (bool, np.bool_)) and bool(flag) == value)


def favoured(table: pd.DataFrame) -> str:
    """The fit to read first: the best by PSIS-LOO among converged fits, unless its curve misses the data
    systematically (``adequacy_flagged``) and the best-ranked converged fit that follows them is within twice the
    standard error of it. PSIS-LOO does not separate those two, and the curve that follows the data is the one to
    read."""
    ranked = table[table["converged"].astype(bool)] if table["converged"].any() else table
    best = ranked.iloc[0]
    if not _flagged(ranked, True).iloc[0]:
        return str(best["fit"])
    follows = ranked[_flagged(ranked, False)]
    if len(follows) and not separated(follows.iloc[0]["elpd_diff"], follows.iloc[0]["dse"]):
        return str(follows.iloc[0]["fit"])
    return str(best["fit"])


def converged_fit(info: dict) -> bool:
    """Whether a fit's sampling can be trusted for ranking: no divergences, R-hat <= 1.01 (fit.json diagnostics)."""
    d = info.get("diagnostics", {})
    return d.get("divergences", 0) == 0 and d.get("max_r_hat", 1.0) <= 1.01


def verdict(table: pd.DataFrame) -> list[str]:
    """The comparison in words: the best model, which others cannot be told apart from it (elpd difference
    within 2 standard errors of the difference), and where LOO itself is unreliable."""
    left_out = table[~table["converged"].astype(bool)]
    table = table[table["converged"].astype(bool)] if table["converged"].any() else table
    best = table.iloc[0]
    lines = [f"best by PSIS-LOO: {best['fit']} (elpd_loo {best['elpd']:.1f} +/- {best['se']:.1f})"]
    close = [r for _, r in table.iloc[1:].iterrows() if not separated(r["elpd_diff"], r["dse"])]
    worse = [r for _, r in table.iloc[1:].iterrows() if separated(r["elpd_diff"], r["dse"])]
    if close:
        lines.append("not separable from it (elpd difference within 2 standard errors): "
                     + ", ".join(f"{r['fit']} ({r['elpd_diff']:.1f} +/- {r['dse']:.1f})" for r in close))  # fmt: skip
    if worse:
        lines.append("clearly worse (more than 2 standard errors): "
                     + ", ".join(f"{r['fit']} ({r['elpd_diff']:.1f} +/- {r['dse']:.1f})" for r in worse))  # fmt: skip
    shaky = table[table["pareto_k_above_0.7"] > 0]
    for _, r in shaky.iterrows():
        lines.append(f"unreliable LOO for {r['fit']}: {int(r['pareto_k_above_0.7'])} point(s) with Pareto k > "
                     f"{PARETO_K} (influential points; read its elpd with care)")  # fmt: skip
    if len(table) > 1 and table["weight"].max() > 0.999:
        lines.append("the stacking weights put everything on one model: the others add nothing to its predictions")
    if _flagged(table, True).any():
        missing = table.loc[_flagged(table, True), "fit"]
        lines.append("missing the data systematically (adequacy checks): " + ", ".join(missing))
        choice = favoured(table)
        if choice != best["fit"]:
            lines.append(f"favoured: {choice}, the best-ranked fit whose curve follows the data (PSIS-LOO does not "
                         f"separate it from {best['fit']})")  # fmt: skip
    if len(left_out) and len(left_out) < len(table) + len(left_out):
        lines.append("not ranked (sampling not converged: divergences or R-hat > 1.01): " + ", ".join(left_out["fit"]))
    return lines


__all__ = ["compare_fits", "favoured", "separated", "verdict"]
