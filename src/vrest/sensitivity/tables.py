"""Tidy tables of indices (with CIs and flags) and per-level summaries from analysis blocks.

Flags (several are joined with ";"):

- ``ci_spans_zero``: the CI of S1, ST or S2 contains 0 (the index may be nil).
- ``not_converged``: S1 or ST changed by more than the tolerance between N/2 and N.
- ``wide_ci``: the CI half-width of S1 or ST exceeds the tolerance.
- ``differs_from_S1`` (S1_linear rows): the bootstrap CI of S1 - S1_linear excludes 0,
  i.e. V is not linear in that input over the scenario ranges.
- ``ST_above_bound`` (ST_dgsm_bound rows): ST exceeds its DGSM upper bound beyond the
  CI of ST - bound, which only an estimation or gradient error can cause.
- ``undefined``: no value (constant output, or no successful run).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .results import Block

COLUMNS = ["scenario", "K_o_mM", "input", "index", "value", "ci_low", "ci_high", "flag"]


def boot_sd(boot: np.ndarray, axis: int = 1) -> np.ndarray:
    """Sample SD (ddof 1) of bootstrap replicates over ``axis``, ignoring NaN replicates."""
    ok = np.isfinite(boot)
    k = ok.sum(axis=axis)
    x = np.where(ok, boot, 0.0)
    mean = x.sum(axis=axis) / np.where(k > 0, k, 1)
    dev = np.where(ok, boot - np.expand_dims(mean, axis), 0.0)
    return np.where(k > 1, np.sqrt((dev**2).sum(axis=axis) / np.where(k > 1, k - 1, 1)), np.nan)


def _flags(*pairs: tuple[str, bool]) -> str:
    return ";".join(name for name, on in pairs if on)


def _sobol_flags(value: float, half: float, ci: float, tolerance: float) -> str:
    if not np.isfinite(value):
        return "undefined"
    return _flags(
        ("ci_spans_zero", value - ci <= 0 <= value + ci),
        ("not_converged", abs(value - half) > tolerance),
        ("wide_ci", ci > tolerance),
    )


def index_rows(block: Block, tolerance: float) -> list[dict]:
    """Rows of the indices table for one block (see :data:`COLUMNS`)."""
    est, half, z = block.estimate, block.half, block.z
    lin_ci = z * boot_sd(block.s1_linear_boot)
    bound_ci = z * boot_sd(block.dgsm_bound_boot)
    diff_ci = z * boot_sd(est.s1_boot - block.s1_linear_boot)
    over_ci = z * boot_sd(est.st_boot - block.dgsm_bound_boot)
    levels = [np.nan] if block.k_o is None else list(block.k_o)
    rows = []

    def add(level, name, kind, value, ci, flag):
        rows.append(
            {
                "scenario": block.scenario,
                "K_o_mM": level,
                "input": name,
                "index": kind,
                "value": float(value),
                "ci_low": float(value - ci),
                "ci_high": float(value + ci),
                "flag": flag,
            }  # fmt: skip
        )

    for l, level in enumerate(levels):
        for kind, values, halves in (("S1", est.s1, half.s1), ("ST", est.st, half.st)):
            for f, name in enumerate(block.factors):
                ci = block.ci_half[kind][l, f]
                add(level, name, kind, values[l, f], ci, _sobol_flags(values[l, f], halves[l, f], ci, tolerance))
        if est.s2 is not None:
            for p, (j, k) in enumerate(est.pairs):
                value, ci = est.s2[l, p], block.ci_half["S2"][l, p]
                flag = (
                    "undefined" if not np.isfinite(value) else _flags(("ci_spans_zero", value - ci <= 0 <= value + ci))
                )
                add(level, f"{block.factors[j]}:{block.factors[k]}", "S2", value, ci, flag)
        for f, name in enumerate(block.factors):
            lin, diff = block.s1_linear[l, f], est.s1[l, f] - block.s1_linear[l, f]
            flag = "undefined" if not np.isfinite(lin) else _flags(("differs_from_S1", abs(diff) > diff_ci[l, f]))
            add(level, name, "S1_linear", lin, lin_ci[l, f], flag)
        for f, name in enumerate(block.factors):
            bound, over = block.dgsm_bound[l, f], est.st[l, f] - block.dgsm_bound[l, f]
            flag = "undefined" if not np.isfinite(bound) else _flags(("ST_above_bound", over > over_ci[l, f]))
            add(level, name, "ST_dgsm_bound", bound, bound_ci[l, f], flag)
    return rows


def _quantiles(v: np.ndarray) -> list[float]:
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        return [np.nan] * 5
    return [float(finite.mean()), float(finite.std()), *(float(q) for q in np.quantile(finite, [0.025, 0.5, 0.975]))]


def summary_rows(block: Block, tolerance: float) -> list[dict]:
    """One summary row per level: V distribution, sums of indices with CIs, runs, convergence."""
    est, z = block.estimate, block.z
    s1_sum = est.s1.sum(axis=1)
    s1_sum_ci = z * boot_sd(est.s1_boot.sum(axis=2))
    levels = [np.nan] if block.k_o is None else list(block.k_o)
    rows = []
    for l, level in enumerate(levels):
        change = np.abs(np.concatenate([est.s1[l] - block.half.s1[l], est.st[l] - block.half.st[l]]))
        widest = np.concatenate([block.ci_half["S1"][l], block.ci_half["ST"][l]])
        mean, sd, q025, q50, q975 = _quantiles(block.v_ab[l])
        ci = float(s1_sum_ci[l])
        rows.append(
            {
                "scenario": block.scenario,
                "K_o_mM": level,
                "N": block.n,
                "rows_used": int(block.rows_used[l]),
                "runs": block.runs,
                "failed_runs": int(block.failed[l]),
                "multistable_runs": int(block.multistable[l]),
                "V_mean_mV": mean,
                "V_sd_mV": sd,
                "V_q025_mV": q025,
                "V_median_mV": q50,
                "V_q975_mV": q975,
                "S1_sum": float(s1_sum[l]),
                "S1_sum_ci_low": float(s1_sum[l] - ci),
                "S1_sum_ci_high": float(s1_sum[l] + ci),
                "interaction_share": float(1.0 - s1_sum[l]),
                "ST_sum": float(est.st[l].sum()),
                "S1_linear_sum": float(block.s1_linear[l].sum()),
                "max_change_N_half": float(np.nanmax(change)) if np.any(np.isfinite(change)) else np.nan,
                "max_ci_half_width": float(np.nanmax(widest)) if np.any(np.isfinite(widest)) else np.nan,
                "converged": bool(np.all(change <= tolerance) and np.all(widest <= tolerance)),
            }
        )
    return rows


def indices_table(blocks: list[Block], tolerance: float) -> pd.DataFrame:
    """The indices.csv table of all blocks."""
    return pd.DataFrame([r for b in blocks for r in index_rows(b, tolerance)], columns=COLUMNS)


def summary_table(blocks: list[Block], tolerance: float) -> pd.DataFrame:
    """The summary.csv table of all blocks."""
    return pd.DataFrame([r for b in blocks for r in summary_rows(b, tolerance)])
