"""Judgements in words: the diagnostics verdict, model adequacy, the headline and the methods paragraph."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..inference.adequacy import level_residuals
from ..inference.diagnostics import negative_pumps
from ..inference.priors import Prior
from .load import FitRun, Observations, SensitivityRun, priors


def verdict(fit: FitRun) -> tuple[str, str]:
    """(green | amber | red, a sentence saying why and what to do) for the sampling of ``fit``."""
    info = fit.info
    d = info["diagnostics"]
    n = info["sampler"]["chains"] * info["sampler"]["draws"]
    r_hat, ess, div = d["max_r_hat"], d["min_ess_bulk"], d["divergences"]
    facts = f"max R-hat {r_hat:.3f}, min bulk ESS {ess:.0f}, {div} divergent transition(s) in {n} draws"
    if _sampling_failed(fit):
        return "red", (f"Red: do not report these numbers yet ({facts}). The chains disagree or the sampler "
                       "struggled; rerun with more tuning or draws, or simplify the model.")  # fmt: skip
    reasons = []
    if r_hat > 1.01 or ess < 400:
        reasons.append("convergence is marginal (R-hat > 1.01 or bulk ESS < 400); run more draws")
    if div:
        reasons.append("some transitions diverged; the posterior geometry is hard, check the pair plot")
    reasons += d.get("problems", [])
    if reasons:
        return "amber", f"Amber: sampling is usable ({facts}), but: " + "; ".join(reasons) + "."
    return "green", f"Green: sampling converged ({facts}); the posterior summaries can be reported."


def _sampling_failed(fit: FitRun) -> bool:
    d, s = fit.info["diagnostics"], fit.info["sampler"]
    return d["max_r_hat"] > 1.05 or d["min_ess_bulk"] < 100 or d["divergences"] > 0.01 * s["chains"] * s["draws"]


def residual_levels(fit: FitRun, obs: Observations) -> pd.DataFrame | None:
    """Per condition and K_o level of ``fit``: rows n, mean residual (mV), z, and whether the level is missed
    (the rule of :mod:`vrest.inference.adequacy`). None when the data file (K_o per row) was not found."""
    if obs.origin != "file":
        return None
    pp = fit.tree["posterior_predictive"]["v_m"]
    rows = pp["obs"].values
    sim = np.asarray(pp.transpose(..., "obs").values).reshape(-1, rows.size)
    table = obs.table.iloc[rows]
    return level_residuals(table["condition"].astype(str).to_numpy(), table["K_o_mM"].to_numpy(),
                           np.asarray(fit.tree["observed_data"]["v_m"].values), sim)  # fmt: skip


def shared_misses(levels: dict[str, pd.DataFrame | None]) -> list[str]:
    """Stretches of consecutive K_o levels (per condition) that every fit misses with the same sign, in words.

    ``levels``: :func:`residual_levels` of each fit, by label. Empty when any fit could not be checked.
    """
    if not levels or any(t is None for t in levels.values()):
        return []
    keys = ["condition", "K_o_mM"]
    tables = list(levels.values())
    merged = tables[0][[*keys, "residual_mV", "missed"]]
    for i, t in enumerate(tables[1:], 1):
        merged = merged.merge(t[[*keys, "residual_mV", "missed"]], on=keys, suffixes=("", f"_{i}"))
    res = merged.filter(like="residual_mV").to_numpy()
    together = merged.filter(like="missed").to_numpy().all(axis=1) & (np.abs(np.sign(res).sum(axis=1)) == res.shape[1])
    several = merged["condition"].nunique() > 1
    out = []
    for cond, group in merged.groupby("condition", sort=False):
        rows = group.index.to_numpy()
        tags = np.where(together[rows], np.sign(res[rows, 0]), 0)
        for sign, members in itertools.groupby(range(len(rows)), key=lambda j: tags[j]):
            at = list(members)
            if sign == 0:
                continue
            k, r = group["K_o_mM"].to_numpy()[at], np.abs(res[rows[at]])
            where = f"{k[0]:g} mM" if len(k) == 1 else f"{k[0]:g}-{k[-1]:g} mM"
            size = f"{r.min():.1f} mV" if f"{r.min():.1f}" == f"{r.max():.1f}" else f"{r.min():.1f}-{r.max():.1f} mV"
            out.append(f"K_o {where}{f' ({cond})' if several else ''}: the data lie {'above' if sign > 0 else 'below'} "
                       f"{'the model' if len(tables) == 1 else 'every model'} by {size}")  # fmt: skip
    return out


def adequacy_text(labels: list[str], misses: list[str]) -> str:
    """The model-adequacy warning for ``misses`` (:func:`shared_misses`)."""
    who = ("the fitted model misses the data systematically" if len(labels) == 1 else
           f"{'both' if len(labels) == 2 else f'all {len(labels)}'} fitted models miss the data systematically, "
           "together,")  # fmt: skip
    return (f"Model adequacy: {who} at " + "; ".join(misses) + ". Narrow credible bands there describe the "
            "models, not the cells: none of the fitted curves can follow the data, so read their parameters with "
            "care and try a model that can (another model, a missing ion, or other assumed concentrations).")  # fmt: skip


@dataclass(frozen=True)
class Headline:
    """The report's opening judgement of one (the best) fit."""

    colour: str  # green, amber or red
    reasons: tuple[str, ...]
    next_step: str


def implausible(fit: FitRun) -> list[str]:
    """Physiologically implausible posteriors, in words: a pump term below zero with posterior probability
    :data:`.diagnostics.PUMP_NEGATIVE_P` or more (an electrogenic Na+/K+ pump hyperpolarises), and an uncertain
    input (e.g. K_i) whose posterior median lies outside the central 95 % of its prior (centred on the preset or
    assumed value)."""
    s = fit.summary.set_index("parameter")
    out = [f"negative pump: {words}, where an electrogenic Na+/K+ pump hyperpolarises"
           for words in negative_pumps(fit.summary)]
    for p in priors(fit):
        if p.name in fit.info.get("uncertain", []) and p.name in s.index:
            lo, hi = _prior_95(p)
            median = s.at[p.name, "q50"]
            if not lo <= median <= hi:
                out.append(f"{p.name} {median:.4g} {p.unit} [{s.at[p.name, 'q5']:.4g}, {s.at[p.name, 'q95']:.4g}] "
                           f"lies outside the 95 % range of its prior ({lo:.4g}-{hi:.4g} {p.unit}): not a "
                           "physiological value; the fit uses it to make up for a misfit")  # fmt: skip
    return out


def _prior_95(p: Prior) -> tuple[float, float]:
    lo, hi = p.mean - 1.96 * p.sd, p.mean + 1.96 * p.sd
    return (math.exp(lo), math.exp(hi)) if p.log_scale else (lo, hi)


def more_draws(fit: FitRun) -> str:
    """The options of a longer rerun of ``fit``: twice its draws (at least 2000) and 2000 tuning draws."""
    return f"--draws {max(2000, 2 * int(fit.info['sampler']['draws']))} --tune 2000"


def headline(fit: FitRun, missed: pd.DataFrame | None) -> Headline:
    """Red when the sampling failed or a value is implausible; amber when sampling is marginal or diverged, or the
    fit misses the data systematically (:func:`residual_levels`, and the fit's own adequacy findings); else green. With the next step in one sentence."""
    d = fit.info["diagnostics"]
    reasons: list[str] = []
    if _sampling_failed(fit):
        reasons.append(f"sampling failed (max R-hat {d['max_r_hat']:.3f}, min bulk ESS {d['min_ess_bulk']:.0f}, "
                       f"{d['divergences']} divergent transition(s))")  # fmt: skip
        return Headline("red", tuple(reasons), f"Rerun the fit with more tuning and draws (e.g. {more_draws(fit)}) "
                                               "or a simpler model before reading any number below.")  # fmt: skip
    odd = implausible(fit)
    misfit = missed is not None and bool(missed["missed"].any())
    if misfit:
        k = missed.loc[missed["missed"], "K_o_mM"]
        span = f"{k.min():g} mM" if k.min() == k.max() else f"{k.min():g}-{k.max():g} mM"
        reasons.append(f"the curve misses the data systematically at {len(k)} of {len(missed)} K_o level(s) "
                       f"({span}; see the residuals)")  # fmt: skip
    level_words = f"{fit.info.get('model')} misses the data systematically at"
    other = [f for f in fit.info.get("adequacy", {}).get("findings", []) if not (missed is not None and
                                                                                 f.startswith(level_words))]  # fmt: skip
    reasons += other
    misfit = misfit or bool(other)
    if d["divergences"]:
        reasons.append(f"{d['divergences']} divergent transition(s)")
    if d["max_r_hat"] > 1.01 or d["min_ess_bulk"] < 400:
        reasons.append(f"convergence marginal (max R-hat {d['max_r_hat']:.3f}, min bulk ESS {d['min_ess_bulk']:.0f})")
    if odd:
        pump = any(o.startswith("negative pump") for o in odd)
        step = ("Check the assumed intracellular concentrations (or fit them with --uncertain k_i), then refit with "
                "and without the pump term (--no-pump) and compare the two by PSIS-LOO." if pump else
                "Constrain the implausible input (a measured value or a tighter prior in the study file) and refit: "
                "the model is compensating for a misfit.")  # fmt: skip
        return Headline("red", tuple(odd + reasons), step)
    if misfit:
        return Headline("amber", tuple(reasons), "Fit a model whose curve can bend where the data do (e.g. "
                                                 "rectifying-kir, or add the missing ion) and compare by PSIS-LOO.")  # fmt: skip
    if reasons:
        return Headline("amber", tuple(reasons), f"Run more draws (e.g. {more_draws(fit)}) before reporting "
                                                 "the intervals.")  # fmt: skip
    return Headline("green", (), "Report the parameters with their 90 % intervals; the design advice below says which "
                                 "extra condition would narrow them most.")  # fmt: skip


def methods(fits: list[FitRun], sens: list[SensitivityRun]) -> list[str]:
    """Paragraphs describing models, priors, sampler, versions and seeds, ready to adapt for a paper."""
    paras = []
    if fits:
        info = fits[0].info
        data = info["data"]
        models = ", ".join(f"{f.info['model']}" for f in fits)
        s = info["sampler"]
        priors_text = _priors_text(fits)
        versions = ", ".join(f"{k} {v}" for k, v in info.get("versions", {}).items())
        fixed = "; ".join(dict.fromkeys(f"{a['input']} = {a['value']} {a['unit']} ({a['source']})".replace(" 1 (", " (")
                                        for a in info.get("assumptions", [])))  # fmt: skip
        paras.append(
            f"Resting membrane potentials ({data['rows']} measurements; file {data['source']}, sha256 "
            f"{data['sha256'][:16]}...) were fitted with the {models} model(s) of vrest "
            f"({'hierarchical, partial pooling across cells' if info.get('hierarchical') else 'pooled'}; "
            f"{info.get('likelihood', 'normal')} residuals whose scale combines a fitted scatter sigma_mv with each "
            f"row's standard error where given). Fixed inputs were assumed as follows: {fixed}. Priors: {priors_text}. "
            f"Posteriors were sampled with {s['name']} ({s['chains']} chains, {s['draws']} draws after {s['tune']} "
            f"tuning steps) in these sampling coordinates and settings: "
            f"{_parametrisations(fits)}; random seed {info.get('seed')}. Convergence was "
            f"checked with rank-normalised R-hat (<= 1.01), bulk and tail effective sample sizes (>= 400) and "
            f"divergent transitions"
            + (", and models were compared by PSIS-LOO (ArviZ)" if len(fits) > 1 else "")
            + f". Software: {versions}."
        )
    for run in sens:
        st = run.info.get("settings", {})
        names = ", ".join(sc.get("name", "?") for sc in run.info.get("scenarios", []))
        versions = ", ".join(f"{k} {v}" for k, v in run.info.get("versions", {}).items())
        paras.append(
            f"Variance-based (Sobol') sensitivity of V_rest under the {st.get('model')} model was estimated for the "
            f"scenarios {names} with N = {st.get('n')} base samples ({st.get('sampling', 'Saltelli design')}), "
            f"confidence intervals from {st.get('bootstrap_resamples')} bootstrap resamples "
            f"({st.get('conf_level')} level), seed {st.get('seed')}; first-order indices were cross-checked against "
            f"derivative-based (linearised) indices and DGSM bounds. Software: {versions}."
        )
    return paras


def _priors_text(fits: list[FitRun]) -> str:
    """Every fit's priors as fit.json states them ("name ~ ..."), each once; a parameter whose prior differs between
    models (chord's g_na and rectifying-kir's) names the models each of its priors belongs to."""
    owners: dict[str, list[str]] = {}
    for f in fits:
        for text in f.info.get("priors", []):
            owners.setdefault(text, []).append(f.info["model"])
    name = lambda text: text.split(" ~ ")[0]
    shared = {n for n in map(name, owners) if sum(name(t) == n for t in owners) > 1}
    return "; ".join(f"{t} ({', '.join(models)})" if name(t) in shared else t for t, models in owners.items())


def _parametrisations(fits: list[FitRun]) -> str:
    """Each fit's sampling coordinates, target acceptance and mass matrix as fit.json records them (sampler), models
    sharing them grouped."""
    by_text: dict[str, list[str]] = {}
    for f in fits:
        s = f.info["sampler"]
        text = (f"{str(s.get('parametrisation', 'not recorded')).removesuffix(' (see structure)')}, target acceptance "
                f"{s.get('target_accept')}, {s.get('mass_matrix', 'diagonal')} mass matrix")
        by_text.setdefault(text, []).append(f.info["model"])
    if len(by_text) == 1:
        return next(iter(by_text))
    return "; ".join(f"{', '.join(models)}: {text}" for text, models in by_text.items())
