"""Judgements in words: the diagnostics verdict and the methods paragraph."""

from __future__ import annotations

from .load import FitRun, SensitivityRun


def verdict(fit: FitRun) -> tuple[str, str]:
    """(green | amber | red, a sentence saying why and what to do)."""
    info = fit.info
    d = info["diagnostics"]
    n = info["sampler"]["chains"] * info["sampler"]["draws"]
    r_hat, ess, div = d["max_r_hat"], d["min_ess_bulk"], d["divergences"]
    facts = f"max R-hat {r_hat:.3f}, min bulk ESS {ess:.0f}, {div} divergent transition(s) in {n} draws"
    if r_hat > 1.05 or ess < 100 or div > 0.01 * n:
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


def methods(fits: list[FitRun], sens: list[SensitivityRun]) -> list[str]:
    """Paragraphs describing models, priors, sampler, versions and seeds, ready to adapt for a paper."""
    paras = []
    if fits:
        info = fits[0].info
        data = info["data"]
        models = ", ".join(f"{f.info['model']}" for f in fits)
        s = info["sampler"]
        priors = "; ".join(dict.fromkeys(p for f in fits for p in f.info.get("priors", [])))
        versions = ", ".join(f"{k} {v}" for k, v in info.get("versions", {}).items())
        fixed = "; ".join(dict.fromkeys(f"{a['input']} = {a['value']} {a['unit']} ({a['source']})".replace(" 1 (", " (")
                                        for a in info.get("assumptions", [])))  # fmt: skip
        paras.append(
            f"Resting membrane potentials ({data['rows']} measurements; file {data['source']}, sha256 "
            f"{data['sha256'][:16]}...) were fitted with the {models} model(s) of vrest "
            f"({'hierarchical, partial pooling across cells' if info.get('hierarchical') else 'pooled'}; "
            f"{info.get('likelihood', 'normal')} residuals whose scale combines a fitted scatter sigma_mv with each "
            f"row's standard error where given). Fixed inputs were assumed as follows: {fixed}. Priors: {priors}. "
            f"Posteriors were sampled with {s['name']} ({s['chains']} chains, {s['draws']} draws after {s['tune']} "
            f"tuning steps, target acceptance {s['target_accept']}), sampling coordinates rotated onto the singular "
            f"directions of the design's sensitivity Jacobian, random seed {info.get('seed')}. Convergence was "
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
