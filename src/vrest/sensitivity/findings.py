"""Plain-language findings from the index and summary tables: what the numbers say, and how sure they are."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .results import Block


def _ci(row) -> str:
    return f"{row.value:.3f} [{row.ci_low:.3f}, {row.ci_high:.3f}]"


def suggested_n(n: int, widest: float, tolerance: float) -> int:
    """A power of two >= 2n expected to shrink the widest CI half-width below the tolerance (CI ~ 1/sqrt(N))."""
    need = n * (widest / tolerance) ** 2 if np.isfinite(widest) else 2 * n
    return 1 << int(np.ceil(np.log2(max(need, 2 * n))))


def _flagged(rows: pd.DataFrame, flag: str) -> pd.DataFrame:
    return rows[rows["flag"].str.split(";").apply(lambda flags: flag in flags)]


def _convergence(name: str, s: pd.Series, rows: pd.DataFrame, tolerance: float) -> str:
    n = int(s.N)
    if s.converged:
        return (
            f"{name}: N = {n} is enough for a tolerance of {tolerance:g}: S1 and ST moved at most "
            f"{s.max_change_N_half:.3f} between N/2 = {n // 2} and N, widest CI +-{s.max_ci_half_width:.3f}."
        )
    sobol = rows[rows["index"].isin(["S1", "ST"])]
    reasons = []
    moved = _flagged(sobol, "not_converged")
    if len(moved):
        listed = ", ".join(f"{r.index}({r.input})" for r in moved.itertuples())
        reasons.append(f"{listed} moved by more than {tolerance:g} between N/2 = {n // 2} and N")
    wide = _flagged(sobol, "wide_ci")
    if len(wide):
        listed = ", ".join(f"{r.index}({r.input})" for r in wide.itertuples())
        reasons.append(f"the CI of {listed} is wider than +-{tolerance:g} (widest +-{s.max_ci_half_width:.3f})")
    return (
        f"{name}: N = {n} is too small for a tolerance of {tolerance:g}: " + "; ".join(reasons)
        + f"; {_try_n(suggested_n(n, s.max_ci_half_width, tolerance))}."
    )  # fmt: skip


def _whole(block: Block, rows: pd.DataFrame, s: pd.Series, tolerance: float, quantity: str,
           branch: str | None = None) -> list[str]:  # fmt: skip
    name = block.scenario
    st = rows[rows["index"] == "ST"].sort_values("value", ascending=False)
    unit, fmt = (" mV", ".1f") if quantity == "V_rest" else ("", ".4g")
    noise = " (negative: estimation noise)" if s.interaction_share < 0 else ""
    out = [
        f"{name}: {quantity} {s.V_median_mV:{fmt}}{unit} "
        f"(median; 95% of runs {s.V_q025_mV:{fmt}} to {s.V_q975_mV:{fmt}}{unit}); "
        "largest total indices " + ", ".join(f"{r.input} {_ci(r)}" for r in st.head(3).itertuples()) + ".",
        f"{name}: first-order indices sum to {s.S1_sum:.3f} [{s.S1_sum_ci_low:.3f}, {s.S1_sum_ci_high:.3f}]: "
        f"interactions carry {100 * s.interaction_share:.1f}% of the variance{noise} "
        f"(sum of ST - S1: {s.ST_sum - s.S1_sum:.3f}).",
        _convergence(name, s, rows, tolerance),
    ]
    out += _crosscheck(name, rows, bool(block.multistable.sum()), quantity)
    spans = _flagged(rows[rows["index"].isin(["S1", "ST"])], "ci_spans_zero")
    if len(spans):
        out.append(
            f"{name}: CI spans 0 (index may be nil): "
            + ", ".join(f"{r.index}({r.input})" for r in spans.itertuples())
            + "."
        )
    out += _runs(name, block, 0, branch)
    return out


def _crosscheck(name: str, rows: pd.DataFrame, jumps: bool, quantity: str) -> list[str]:
    lin = rows[rows["index"] == "S1_linear"]
    if lin["flag"].eq("undefined").all():
        return [f"{name}: no analytic gradient, so no linearised indices or DGSM bounds."]
    s1 = rows[rows["index"] == "S1"].set_index("input")["value"]
    off = _flagged(lin, "differs_from_S1")
    if len(off):
        listed = ", ".join(f"{r.input} (S1 {s1[r.input]:.3f}, linearised {r.value:.3f})" for r in off.itertuples())
        out = [
            f"{name}: S1 and the linearised index differ beyond the CIs for {listed}: {quantity} is not linear in "
            f"these inputs over the scenario ranges; they agree for the other {len(lin) - len(off)} input(s)."
        ]
    else:
        out = [
            f"{name}: S1 and the linearised indices agree within the CIs for every input: "
            f"{quantity} is near-linear over these ranges."
        ]
    over = _flagged(rows[rows["index"] == "ST_dgsm_bound"], "ST_above_bound")
    if len(over):
        why = (
            f"the bound holds only where {quantity} is differentiable, and it jumps where a stable state ends at a "
            "fold (saddle-node), which the derivative cannot see"
            if jumps
            else f"with {quantity} smooth in the inputs this means an estimation or gradient error"
        )
        out.append(f"{name}: ST exceeds its DGSM upper bound beyond the CIs for {', '.join(over['input'])}: {why}.")
    else:
        out.append(f"{name}: every ST lies within its DGSM upper bound.")
    return out


def _state(branch: str | None) -> str:
    """Which stable state V is where a run has two: the analysis's ``branch``, or "the chosen branch" (a function)."""
    return f"the {branch} state" if branch else "the chosen branch"


def _runs(name: str, block: Block, level: int | None, branch: str | None = None) -> list[str]:
    failed = int(block.failed.sum() if level is None else block.failed[level])
    total = block.runs * (len(block.failed) if level is None else 1)
    out = []
    if failed:
        reasons = "; ".join(f"{c} x {r}" for r, c in block.failures.most_common(3))
        excluded = int((block.n - block.rows_used).sum())
        out.append(
            f"{name}: {failed} of {total} runs failed ({reasons}); {excluded} base rows left out of the estimates."
        )
    multi = int(block.multistable.sum() if level is None else block.multistable[level])
    if multi:
        out.append(
            f"{name}: {multi} of {total} runs ({100 * multi / total:.1f}%) had two stable states; "
            f"V is {_state(branch)} there."
        )
    return out


def _ranges(levels: list[float], labels: list[str]) -> str:
    parts, start = [], 0
    for i in range(1, len(levels) + 1):
        if i == len(levels) or labels[i] != labels[start]:
            span = f"{levels[start]:g}" if i - 1 == start else f"{levels[start]:g}-{levels[i - 1]:g}"
            parts.append(f"{labels[start]} at {span} mM")
            start = i
    return ", ".join(parts)


def _per_k_o(block: Block, rows: pd.DataFrame, summary: pd.DataFrame, tolerance: float,
             branch: str | None = None) -> list[str]:  # fmt: skip
    name = f"{block.scenario} per K_o"
    levels = [float(k) for k in block.k_o]
    st = rows[rows["index"] == "ST"]
    top = [st[st["K_o_mM"] == k].sort_values("value").iloc[-1]["input"] for k in levels]
    out = [f"{name}: the largest total index is {_ranges(levels, top)}."]
    bad = summary[~summary["converged"]]
    if len(bad):
        widest = float(summary["max_ci_half_width"].max())
        out.append(
            f"{name}: N = {block.n} is too small for a tolerance of {tolerance:g} at K_o "
            + ", ".join(f"{k:g}" for k in bad["K_o_mM"]) + f" mM; {_try_n(suggested_n(block.n, widest, tolerance))}."
        )  # fmt: skip
    else:
        out.append(f"{name}: N = {block.n} is enough at every level (tolerance {tolerance:g}).")
    off = _flagged(rows[rows["index"] == "S1_linear"], "differs_from_S1")
    if len(off):
        out.append(f"{name}: S1 and the linearised index differ beyond the CIs in {len(off)} (input, K_o) cells, e.g. "
                   + ", ".join(f"{r.input} at {r.K_o_mM:g} mM" for r in off.head(4).itertuples()) + ".")  # fmt: skip
    if block.multistable.any():
        share = 100 * block.multistable / block.runs
        where = [k for k, m in zip(levels, block.multistable, strict=True) if m]
        peak = int(np.argmax(share))
        out.append(
            f"{name}: runs with two stable states at K_o {where[0]:g}-{where[-1]:g} mM, "
            f"most at {levels[peak]:g} mM ({share[peak]:.0f}% of runs); V there is {_state(branch)}."
        )
    out += _runs(name, block, None)[:1] if block.failed.sum() else []
    return out


def findings(
    blocks: list[Block], indices: pd.DataFrame, summary: pd.DataFrame, tolerance: float, quantity: str = "V_rest",
    branch: str | None = None,
) -> list[str]:
    """Statements for every block, in order; ``quantity`` names the output ("V_rest", in mV); ``branch``: which
    stable state V was where a run had two (a model's analysis), None for a function's."""
    out = []
    for b in blocks:
        mine = indices["scenario"] == b.scenario
        rows = indices[mine & (indices["K_o_mM"].isna() if b.k_o is None else indices["K_o_mM"].notna())]
        srows = summary[
            (summary["scenario"] == b.scenario)
            & (summary["K_o_mM"].isna() if b.k_o is None else summary["K_o_mM"].notna())
        ]
        out += (
            _whole(b, rows, srows.iloc[0], tolerance, quantity, branch)
            if b.k_o is None
            else _per_k_o(b, rows, srows, tolerance, branch)
        )
    return out


def _try_n(n: int) -> str:
    """The advice to raise N, for the command line and for a study file alike."""
    return f"try N = {n} (--n {n}; in a study file, n = {n} in [sensitivity])"
