"""The report's figures (matplotlib, no pyplot state): each function returns a Figure."""

from __future__ import annotations

import io

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from scipy import stats

from ..inference.diagnostics import CORRELATION_MAX, strongly_correlated
from ..inference.priors import FITTED, SIGMA_PRIOR_SD_MV, Prior
from .load import FitRun, Observations, SensitivityRun, assumed, draws, thin

COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")
LINES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v")
DPI = 110


def encode(fig: Figure) -> tuple[bytes, str]:
    """The figure as PNG bytes and SVG text (no timestamps, so reruns give identical files)."""
    png, svg = io.BytesIO(), io.StringIO()
    fig.savefig(png, format="png", dpi=DPI, metadata={"Software": None})
    fig.savefig(svg, format="svg", metadata={"Date": None})
    return png.getvalue(), svg.getvalue()


def _conditions(fits: list[FitRun], obs: Observations) -> list[str]:
    labels = [str(c) for fit in fits for c in fit.predictive["condition"]]
    if "condition" in obs.table:
        labels += [str(c) for c in obs.table["condition"]]
    return list(dict.fromkeys(labels))


def vm_figure(fits: list[FitRun], obs: Observations, bistable: dict[tuple[str, str], tuple[float, float]]) -> Figure:
    """V_m against K_o (log axis): data, predictive median with 50 % and 90 % bands per model, Nernst E_K,
    and hatched the bistable K_o range (mM) given per (fit label, condition)."""
    from ..api import nernst

    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.subplots()
    conditions = _conditions(fits, obs)
    for i, fit in enumerate(fits):
        color = COLORS[i % len(COLORS)]
        for cond, grid in fit.predictive.groupby("condition", sort=False):
            k = grid["K_o_mM"].to_numpy()
            ls = LINES[conditions.index(str(cond)) % len(LINES)]
            name = fit.label + ("" if len(conditions) == 1 else f", {cond}")
            if (fit.label, str(cond)) in bistable:
                ax.axvspan(*bistable[fit.label, str(cond)], facecolor="none", edgecolor=color, hatch="//", lw=0.8,
                           alpha=0.6, label=f"{name}: bistable range (posterior medians of its bounds)")  # fmt: skip
            ax.fill_between(k, grid["V_mV_q5"], grid["V_mV_q95"], color=color, alpha=0.15, lw=0)
            ax.fill_between(k, grid["V_mV_q25"], grid["V_mV_q75"], color=color, alpha=0.3, lw=0)
            ax.plot(k, grid["V_mV_q50"], color=color, ls=ls, lw=1.6, label=f"{name}: median, 50 % and 90 %")
    fit = fits[0]
    k_i, temp_k = assumed(fit, "k_i"), assumed(fit, "temp_k")
    fitted = "k_i" in fit.tree["posterior"]
    if fitted:  # K_i fitted as uncertain: its posterior median, not the assumption it was centred on
        k_i = float(np.median(draws(fit, "k_i")))
    if k_i and temp_k:
        k = np.geomspace(fit.predictive["K_o_mM"].min(), fit.predictive["K_o_mM"].max(), 100)
        which = f"posterior median K_i {k_i:.4g} mM of {fit.label}" if fitted else f"K_i {k_i:g} mM"
        ax.plot(k, nernst(k, k_i, 1, temp_k), color="0.3", lw=1, ls=(0, (6, 3)),
                label=f"Nernst E_K ({which}, {temp_k - 273.15:.1f} C)")  # fmt: skip
    if obs.origin == "file":
        for cond, rows in obs.table.groupby("condition", sort=False):
            err = rows["sem_mV"] if "sem_mV" in rows else rows.get("sd_mV")
            c = conditions.index(str(cond))
            label = "data" + ("" if len(conditions) == 1 else f", {cond}") + (" (mean +- error bar)" if err is not None else "")
            k = rows["K_o_mM"] * 10 ** (0.015 * (c - (len(conditions) - 1) / 2))  # side by side at shared K_o
            ax.errorbar(k, rows["V_m_mV"], yerr=err, fmt=MARKERS[c % len(MARKERS)], ms=4, color="k", mfc="white",
                        capsize=2, lw=0.8, label=label, zorder=5)  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("[K+]_o (mM, log scale)")
    ax.set_ylabel("V_m (mV)")
    ax.grid(alpha=0.3, which="both", lw=0.4)
    ax.legend(fontsize=7, loc="upper left")
    return fig


def residuals_figure(fits: list[FitRun], obs: Observations) -> Figure:
    """Observed minus posterior-predictive median per measurement, with the 90 % predictive interval."""
    fig = Figure(figsize=(7.5, 3.2), layout="constrained")
    ax = fig.subplots()
    n = len(fits)
    for i, fit in enumerate(fits):
        pp = fit.tree["posterior_predictive"]["v_m"]
        rows = pp["obs"].values
        sim = np.asarray(pp.values).reshape(-1, rows.size)
        q5, q50, q95 = np.quantile(sim, [0.05, 0.5, 0.95], axis=0)
        observed = np.asarray(fit.tree["observed_data"]["v_m"].values)
        k = obs.table["K_o_mM"].to_numpy()[rows] * 10 ** (0.02 * (i - (n - 1) / 2))
        ax.errorbar(k, observed - q50, yerr=[q50 - q5, q95 - q50], fmt="o", ms=3, lw=0.7,
                    color=COLORS[i % len(COLORS)], alpha=0.8, capsize=0, label=fit.label)  # fmt: skip
    ax.axhline(0, color="0.3", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("[K+]_o (mM, log scale)")
    ax.set_ylabel("observed - predicted (mV)")
    ax.set_title("Residuals; bars: 90 % posterior predictive interval", fontsize=9, loc="left")
    ax.legend(fontsize=7)
    return fig


def prior_posterior_figure(fit: FitRun, priors: list[Prior]) -> Figure:
    """Prior density (line) and posterior histogram of every fitted parameter on its sampling scale."""
    panels = [*priors, None]  # None: sigma_mv
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig = Figure(figsize=(2.6 * cols, 2.1 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, prior in zip(axes, panels, strict=False):
        if prior is None:
            post = draws(fit, "sigma_mv").ravel()
            x = np.linspace(0, max(3 * SIGMA_PRIOR_SD_MV, post.max() * 1.1), 300)
            density, label = stats.halfnorm(scale=SIGMA_PRIOR_SD_MV).pdf(x), "sigma_mv (mV)"
        else:
            post = draws(fit, prior.name).ravel()
            post = np.log(post) if prior.log_scale else post
            lo, hi = min(prior.mean - 3 * prior.sd, post.min()), max(prior.mean + 3 * prior.sd, post.max())
            x = np.linspace(lo, hi, 300)
            density = stats.norm(prior.mean, prior.sd).pdf(x)
            label = f"ln {prior.name}" if prior.log_scale else f"{prior.name} ({prior.unit})"
        ax.hist(post, bins=40, density=True, color="tab:blue", alpha=0.6, label="posterior")
        ax.plot(x, density, color="k", lw=1.2, label="prior")
        ax.set_xlabel(label, fontsize=8)
        ax.set_yticks([])
        ax.tick_params(labelsize=7)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{fit.label}: prior vs posterior", fontsize=9)
    return fig


def membrane_parameters(fit: FitRun) -> list[str]:
    """The fitted membrane parameters (permeability ratios, conductances, pump) present in the posterior."""
    return [p for p in FITTED.get(fit.info["model"], ()) if p in fit.tree["posterior"]]


def pair_figure(fit: FitRun, priors: list[Prior]) -> Figure:
    """Pairwise scatter of the membrane parameters (log scale for ratios), divergent draws in red; |r| above
    the diagnostics' :data:`~vrest.inference.diagnostics.CORRELATION_MAX` in red (r from correlations.csv
    where it holds the pair, as the diagnostics)."""
    names = membrane_parameters(fit)
    log = {p.name: p.log_scale for p in priors}
    values = {n: draws(fit, n).ravel() for n in names}
    values = {n: np.log10(v) if log.get(n) else v for n, v in values.items()}
    diverging = _divergent(fit)
    k = len(names)
    fig = Figure(figsize=(max(2.2 * k + 0.4, 5.0), 2.2 * k + 0.5), layout="constrained")
    axes = fig.subplots(k, k, squeeze=False)
    for i, yi in enumerate(names):
        for j, xj in enumerate(names):
            ax = axes[i, j]
            if i == j:
                ax.hist(values[xj], bins=30, color="tab:blue", alpha=0.7)
                ax.set_yticks([])
            elif i > j:
                ax.scatter(values[xj], values[yi], s=3, alpha=0.3, color="tab:blue", lw=0)
                if diverging.any():
                    ax.scatter(values[xj][diverging], values[yi][diverging], s=6, color="red", lw=0)
            else:
                r = _correlation(fit, xj, yi, log, values)
                strong = strongly_correlated(r)
                ax.text(0.5, 0.5, f"r = {r:+.2f}", ha="center", va="center", fontsize=13 if strong else 11,
                        color="tab:red" if strong else "k", transform=ax.transAxes)  # fmt: skip
                ax.set_axis_off()
            ax.tick_params(labelsize=7)
            if i == k - 1:
                ax.set_xlabel(("log10 " if log.get(xj) else "") + xj, fontsize=8)
            if j == 0 and i > 0:
                ax.set_ylabel(("log10 " if log.get(yi) else "") + yi, fontsize=8)
    fig.suptitle(f"{fit.label}: membrane parameters\n(red dots: divergent draws; red r: |r| > {CORRELATION_MAX:g})",
                 fontsize=9)  # fmt: skip
    return fig


def _correlation(fit: FitRun, a: str, b: str, log: dict[str, bool], values: dict[str, np.ndarray]) -> float:
    """Posterior correlation of ``a`` and ``b`` as the diagnostics saw it (correlations.csv), else from ``values``."""
    ka, kb = (("log " if log.get(n) else "") + n for n in (a, b))
    c = fit.correlations
    if ka in c.index and kb in c.columns and np.isfinite(c.at[ka, kb]):
        return float(c.at[ka, kb])
    return float(np.corrcoef(values[a], values[b])[0, 1])


def cells_figure(fit: FitRun, obs: Observations, curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> Figure:
    """Each cell's data (markers) and the median V_m of its own posterior (line, same colour), K_o on a log axis."""
    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.subplots()
    palette = matplotlib.colormaps["tab10" if len(curves) <= 10 else "tab20"].colors
    for i, (cell, (k, v)) in enumerate(curves.items()):
        color = palette[i % len(palette)]
        rows = obs.table[obs.table["cell"].astype(str) == cell]
        ax.plot(k, v, color=color, lw=1.2, label=cell if len(curves) <= 20 else None)
        ax.plot(rows["K_o_mM"], rows["V_m_mV"], MARKERS[i % len(MARKERS)], ms=4, color=color, mfc="white")
    ax.set_xscale("log")
    ax.set_xlabel("[K+]_o (mM, log scale)")
    ax.set_ylabel("V_m (mV)")
    ax.set_title(f"{fit.label}: each cell's data and median curve", fontsize=9, loc="left")
    ax.grid(alpha=0.3, which="both", lw=0.4)
    if len(curves) <= 20:
        ax.legend(fontsize=7, title="cell", title_fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def branches_figure(fit: FitRun) -> Figure:
    """A two-branch fit's rows (V_m against K_o, log axis) coloured by the posterior probability that each sits on
    the hyperpolarized branch; ringed where two stable states exist in at least half of the draws."""
    table = fit.branches
    fig = Figure(figsize=(7.0, 4.2), layout="constrained")
    ax = fig.subplots()
    dots = ax.scatter(table["K_o_mM"], table["V_m_mV"], c=table["p_hyperpolarized"], cmap="coolwarm_r", vmin=0,
                      vmax=1, s=22, edgecolors="none", zorder=3)  # fmt: skip
    both = table["p_two_states"] >= 0.5
    ax.scatter(table["K_o_mM"][both], table["V_m_mV"][both], s=70, facecolors="none", edgecolors="0.3", lw=0.8,
               label="two stable states (>= 50 % of draws)", zorder=2)  # fmt: skip
    fig.colorbar(dots, ax=ax, label="P(hyperpolarized branch)")
    ax.set_xscale("log")
    ax.set_xlabel("[K+]_o (mM, log scale)")
    ax.set_ylabel("V_m (mV)")
    ax.set_title(f"{fit.label}: the branch of each recorded row", fontsize=9, loc="left")
    ax.grid(alpha=0.3, which="both", lw=0.4)
    if both.any():
        ax.legend(fontsize=7, loc="best")
    return fig


def _divergent(fit: FitRun) -> np.ndarray:
    stats_group = fit.tree["sample_stats"]
    if "diverging" not in stats_group:
        return np.zeros(draws(fit, "sigma_mv").size, dtype=bool)
    return thin(np.asarray(stats_group["diverging"].values)).ravel().astype(bool)


def rank_figure(fit: FitRun, priors: list[Prior]) -> Figure:
    """Rank plots: histograms of the pooled ranks of each parameter, one line per chain (flat when mixed)."""
    names = [p.name for p in priors] + ["sigma_mv"]
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig = Figure(figsize=(2.6 * cols, 1.9 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, name in zip(axes, names, strict=False):
        values = np.asarray(fit.tree["posterior"][name].values)
        ranks = stats.rankdata(values.ravel()).reshape(values.shape)
        bins = np.linspace(0, ranks.size, 21)
        for c in range(values.shape[0]):
            counts, _ = np.histogram(ranks[c], bins=bins)
            ax.stairs(counts / values.shape[1] * 20, bins, color=COLORS[c % len(COLORS)], lw=1)
        ax.axhline(1, color="0.4", lw=0.7, ls="--")
        ax.set_title(name, fontsize=8)
        ax.set_xticks([])
        ax.tick_params(labelsize=7)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    fig.suptitle(f"{fit.label}: rank plots (ratio to uniform; one line per chain)", fontsize=9)
    return fig


def sobol_figure(sens: SensitivityRun) -> Figure:
    """S1 and ST of every input with their CIs, one panel per scenario (whole scenario)."""
    whole = sens.indices[sens.indices["K_o_mM"].isna()]
    scenarios = list(dict.fromkeys(whole["scenario"]))
    n_inputs = whole["input"].nunique()
    fig = Figure(figsize=(7.5, 1.0 + 0.28 * n_inputs * len(scenarios)), layout="constrained")
    axes = fig.subplots(len(scenarios), 1, squeeze=False, sharex=True)[:, 0]
    for ax, name in zip(axes, scenarios, strict=True):
        rows = whole[whole["scenario"] == name]
        inputs = list(dict.fromkeys(rows["input"]))
        y = np.arange(len(inputs))
        for offset, kind, color in ((-0.2, "S1", "tab:blue"), (0.2, "ST", "tab:orange")):
            r = rows[rows["index"] == kind].set_index("input").reindex(inputs)
            err = np.vstack([r["value"] - r["ci_low"], r["ci_high"] - r["value"]]).clip(min=0)
            ax.barh(y + offset, r["value"], height=0.38, xerr=err, color=color, label=kind, capsize=2)
        ax.set_yticks(y, inputs, fontsize=7)
        ax.invert_yaxis()
        ax.set_title(name, loc="left", fontsize=9)
        ax.axvline(0, color="0.5", lw=0.5)
    axes[-1].set_xlabel("Sobol' index (whiskers: confidence interval)")
    axes[0].legend(fontsize=7, loc="lower right")
    return fig


def heatmap_figure(sens: SensitivityRun) -> Figure:
    """Total-order index of every input at every K_o level, scenarios side by side."""
    per_k = sens.indices[sens.indices["K_o_mM"].notna() & (sens.indices["index"] == "ST")]
    table = per_k.pivot_table(index="input", columns=["scenario", "K_o_mM"], values="value", sort=False)
    fig = Figure(figsize=(max(5.0, 0.22 * table.shape[1] + 2), 0.3 * table.shape[0] + 1.6), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(table.to_numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.set_yticks(range(table.shape[0]), table.index, fontsize=7)
    ax.set_xticks(range(table.shape[1]), [f"{k:g}" for _, k in table.columns], fontsize=6, rotation=90)
    for edge in np.nonzero(np.diff([hash(s) for s, _ in table.columns]))[0]:
        ax.axvline(edge + 0.5, color="white", lw=2)
    ax.set_xlabel("[K+]_o (mM) within each scenario: " + ", ".join(dict.fromkeys(s for s, _ in table.columns)), fontsize=8)
    fig.colorbar(image, ax=ax, label="ST")
    return fig


def has_per_k_o(sens: SensitivityRun) -> bool:
    """Whether the sensitivity run has per-K_o indices."""
    return bool((sens.indices["K_o_mM"].notna() & (sens.indices["index"] == "ST")).any())

