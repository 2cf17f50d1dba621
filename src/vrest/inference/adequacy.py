"""Model adequacy: does the fitted curve follow the data, or only its noise model? NumPy/SciPy only.

Checks, each with its rule (all at the 5 % level):

- **Levels missed.** A row's residual is the observed V_m minus the median of its posterior
  predictive draws, s its predictive sd. At each (condition, K_o) level z = mean residual /
  (mean s / sqrt(n)). A level is missed when |z| exceeds the two-sided 5 % point after a
  Bonferroni correction over the levels, or when the Wald-Wolfowitz runs test on the signs of
  the level residuals (ordered by K_o within a condition) finds too few runs (exact one-sided
  p < 5 %) and the level lies in a run of at least :data:`RUNS_MIN_LENGTH` same-sign levels.
- **Conditions missed as a whole.** With several conditions, z = mean residual / (mean s / sqrt(n)) over all
  rows of a condition, flagged beyond the Bonferroni-corrected two-sided 5 % point over the conditions: an
  offset the model does not have (a blocked pump, a junction potential, a blocked conductance), even where no
  single level is missed.
- **Scatter beyond the error bars.** With measured error bars (SEM) on the rows, a residual
  scatter sigma_mv whose posterior median exceeds :data:`SIGMA_OVER_SEM` times the median SEM
  is misfit, not noise: the means are more precise than the curve.
- **Posterior predictive check.** Per condition, the discrepancy sum((y - mu)^2 / s^2) of the
  data against that of replicated data, over the draws: p < 5 % or > 95 % is flagged.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

MISS_ALPHA = 0.05
RUNS_MIN_LENGTH = 2
SIGMA_OVER_SEM = 3.0


def level_residuals(condition: np.ndarray, k_o: np.ndarray, v_obs: np.ndarray, draws: np.ndarray) -> pd.DataFrame:
    """Per (condition, K_o) level: n, mean residual (mV), z and ``missed`` (module rule).

    ``draws``: posterior predictive draws of each row, shape (draws, rows).
    """
    frame = pd.DataFrame({"condition": np.asarray(condition).astype(str), "K_o_mM": np.asarray(k_o, float),
                          "r": np.asarray(v_obs, float) - np.median(draws, axis=0), "s": draws.std(axis=0)})  # fmt: skip
    levels = frame.groupby(["condition", "K_o_mM"], sort=False).agg(n=("r", "size"), residual_mV=("r", "mean"),
                                                                      s=("s", "mean")).reset_index()  # fmt: skip
    levels = levels.sort_values(["condition", "K_o_mM"], kind="stable", ignore_index=True)
    levels["z"] = levels["residual_mV"] / (levels["s"] / np.sqrt(levels["n"]))
    bound = stats.norm.ppf(1 - MISS_ALPHA / 2 / len(levels))
    levels["missed"] = levels["z"].abs() > bound
    for _, group in levels.groupby("condition", sort=False):
        signs = np.sign(group["residual_mV"].to_numpy())
        if runs_p(signs) < MISS_ALPHA:
            run_id = np.concatenate([[0], np.cumsum(signs[1:] != signs[:-1])])
            long = np.bincount(run_id)[run_id] >= RUNS_MIN_LENGTH
            levels.loc[group.index[long], "missed"] = True
    return levels.drop(columns="s")


def runs_p(signs: np.ndarray) -> float:
    """Exact probability of as few runs as in ``signs`` (+1/-1) or fewer, under random order; 1 when undefined."""
    n1, n2 = int((signs > 0).sum()), int((signs < 0).sum())
    if n1 == 0 or n2 == 0:
        return 1.0
    runs = 1 + int((signs[1:] != signs[:-1]).sum())

    def p_runs(r: int) -> float:
        k = r // 2
        if r % 2 == 0:
            ways = 2 * math.comb(n1 - 1, k - 1) * math.comb(n2 - 1, k - 1)
        else:
            ways = math.comb(n1 - 1, k) * math.comb(n2 - 1, k - 1) + math.comb(n1 - 1, k - 1) * math.comb(n2 - 1, k)
        return ways / math.comb(n1 + n2, n1)

    return sum(p_runs(r) for r in range(2, runs + 1))


def missed_stretches(levels: pd.DataFrame) -> list[str]:
    """Consecutive missed levels (per condition, same sign) in words."""
    out = []
    for condition, group in levels.groupby("condition", sort=False):
        group = group.reset_index(drop=True)
        run: list[int] = []
        for i in range(len(group) + 1):
            same = i < len(group) and group["missed"][i] and (not run or np.sign(group["residual_mV"][i]) ==
                                                              np.sign(group["residual_mV"][run[0]]))  # fmt: skip
            if same:
                run.append(i)
                continue
            if run:
                part = group.iloc[run]
                side = "above" if part["residual_mV"].iloc[0] > 0 else "below"
                where = "" if condition == "all" else f" ({condition})"
                lo, hi = part["K_o_mM"].min(), part["K_o_mM"].max()
                span = f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"
                size = part["residual_mV"].abs()
                by = (f"{size.max():.1f}" if len(part) == 1 else f"up to {size.max():.1f}" if size.min() < 0.5
                      else f"{size.min():.1f}-{size.max():.1f}")  # fmt: skip
                out.append(f"K_o {span} mM{where}: the data lie {side} the curve by {by} mV")
                run = []
            if i < len(group) and group["missed"][i]:
                run = [i]
    return out


def condition_offsets(condition: np.ndarray, r: np.ndarray, s: np.ndarray, model: str) -> list[str]:
    """Conditions whose rows lie above or below the curve as a whole (module rule), in words, from each row's
    residual ``r`` (V_m minus its posterior predictive median) and predictive sd ``s`` (mV)."""
    labels = np.asarray(condition).astype(str)
    names = [str(x) for x in dict.fromkeys(labels)]
    if len(names) < 2:
        return []
    bound = stats.norm.ppf(1 - MISS_ALPHA / 2 / len(names))
    out = []
    for label in names:
        rows = labels == label
        mean = float(r[rows].mean())
        z = mean / (s[rows].mean() / np.sqrt(rows.sum()))
        if abs(z) > bound:
            out.append(f"{model} misses condition {label!r} as a whole: its data lie {'above' if mean > 0 else 'below'} "
                       f"the curve by {abs(mean):.1f} mV on average (z = {z:.1f}), an offset the model does not have "
                       "there (a blocked pump, a junction potential, a blocked conductance?)")  # fmt: skip
    return out


def adequacy(condition: np.ndarray, k_o: np.ndarray, v_obs: np.ndarray, draws: np.ndarray, mu: np.ndarray,
             sem: np.ndarray, sigma: np.ndarray, model: str) -> dict:  # fmt: skip
    """{"flagged": bool, "findings": [sentences], "levels": table} for one fit (module rules).

    ``draws``: posterior predictive draws (draws, rows); ``mu``: the noise-free model at the same draws;
    ``sem``: each row's measured error (0 where none); ``sigma``: posterior draws of sigma_mv.
    """
    levels = level_residuals(condition, k_o, v_obs, draws)
    findings = [f"{model} misses the data systematically at {s}" for s in missed_stretches(levels)]
    spread = draws.std(axis=0)
    findings += condition_offsets(condition, np.asarray(v_obs, float) - np.median(draws, axis=0), spread, model)
    with_sem = sem[sem > 0]
    if with_sem.size and np.median(sigma) > SIGMA_OVER_SEM * np.median(with_sem):
        findings.append(f"{model}: the residual scatter sigma_mv ({np.median(sigma):.2g} mV) is "
                        f"{np.median(sigma) / np.median(with_sem):.0f} times the rows' median SEM "
                        f"({np.median(with_sem):.2g} mV): the means are more precise than the curve follows them "
                        "(misfit, not noise)")  # fmt: skip
    scale = spread + 1e-12
    for label in map(str, dict.fromkeys(np.asarray(condition).astype(str))):
        rows = np.asarray(condition).astype(str) == label
        observed = (((v_obs[rows] - mu[:, rows]) / scale[rows]) ** 2).sum(axis=1)
        replicated = (((draws[:, rows] - mu[:, rows]) / scale[rows]) ** 2).sum(axis=1)
        p = float((replicated >= observed).mean())
        if p < MISS_ALPHA / 2 or p > 1 - MISS_ALPHA / 2:
            where = "" if label == "all" else f" in condition {label!r}"
            findings.append(f"{model}: posterior predictive check{where}: p = {p:.3f} for the squared standardised "
                            "residuals (the data are " + ("further from" if p < 0.5 else "closer to") +
                            " the curve than replicated data)")  # fmt: skip
    return {"flagged": bool(findings), "findings": findings, "levels": levels}
