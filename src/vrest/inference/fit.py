"""One fit: recordings + settings -> design -> identifiability -> PyMC/NUTS -> summaries.

Numerics only: no file I/O or plotting here (see :mod:`vrest.folders`).
"""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..api import MultipleSteadyStatesWarning, predict
from ..data import check_fittable
from ..models import get_model
from ..models.nernst import nernst_mv
from ..parameters import PARAMS
from ..seeding import check_seed, child_seed, streams
from .adequacy import adequacy
from .choices import HIERARCHY, LIKELIHOODS, SAMPLER_LIMITS
from .conditions import everywhere
from .design import Design, build_design
from .diagnostics import low_mode_chains, messages, mode_share, posterior_correlations, separate_modes, summary_table
from .identifiability import Laplace, advise, describe, laplace_fit, saddle_levels
from .observation import observation_model
from .priors import FITTED, Prior, fitted_priors, nuisance_prior
from .reloo import GROUP as REFITS
from .reloo import PARETO_K, REFIT_CHAINS, refit_influential, refit_problem

ELEMENTARY_CHARGE_C = 1.602176634e-19

GRID_QUANTILES = {"5": 0.05, "25": 0.25, "50": 0.5, "75": 0.75, "95": 0.95}


@dataclass(frozen=True)
class FitSettings:
    """Everything that defines a fit besides the data."""

    model: str
    seed: int
    preset: str = "mammalian_neuron"
    chains: int = 4
    draws: int | None = None  # None: the model's (its registry record's draws: 1000 for most)
    tune: int = 1000
    target_accept: float | None = None  # None: the model's (its registry record's target_accept)
    likelihood: str = "normal"
    no_pump: bool = False
    fixed: dict = field(default_factory=dict)  # input name -> value (temp_k in K) or k_replaces_na
    conditions: dict = field(default_factory=dict)  # condition label -> {input: value, or a condition option}
    solutions: dict = field(default_factory=dict)  # solution name -> recipe (salts or ions, mM): bath/pipette
    uncertain: tuple[str, ...] = ()
    priors: dict = field(default_factory=dict)  # prior overrides by parameter
    hierarchical: str = "auto"  # "auto" | "yes" | "no"
    g_tot_ns: float | None = None  # total conductance, for the pump current and ATP rate
    progress: bool = True
    cores: int = 2  # chains sampled in parallel threads (the draws do not depend on it)
    exact_loo: bool = True  # refit rows whose Pareto k > reloo.PARETO_K (0.7) exactly; False: PSIS-LOO only (simulation studies)

    def __post_init__(self) -> None:
        """Check every setting's type and range (one-line ValueError naming the setting); the model's draws where
        none are given."""
        check_seed(self.seed)
        if self.draws is None:
            object.__setattr__(self, "draws", get_model(self.model).draws if self.model in FITTED else 1000)
        for name, (lo, hi) in SAMPLER_LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ValueError(f"{name}: expected a whole number from {lo} to {hi}, got {value!r}")
        choices = {"likelihood": LIKELIHOODS, "hierarchical": HIERARCHY}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}: expected one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        for name in ("no_pump", "exact_loo"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}: expected true or false, got {getattr(self, name)!r}")
        if self.g_tot_ns is not None and not (isinstance(self.g_tot_ns, int | float) and 0 < self.g_tot_ns < np.inf):
            raise ValueError(f"g_tot_ns: expected a positive total conductance in nS, got {self.g_tot_ns!r}")
        if self.target_accept is not None and not 0.5 <= self.target_accept < 1:
            raise ValueError(f"target_accept: expected a value in [0.5, 1), got {self.target_accept!r}")

    def streams(self) -> dict[str, np.random.Generator]:
        """This fit's independent random streams (advice, posterior predictive, predictive grid) from its seed;
        NUTS takes the seed itself (nutpie seeds each chain from it)."""
        return streams(self.seed, "advice", "posterior_predictive", "predictive_grid")


@dataclass
class FitResult:
    settings: FitSettings
    design: Design
    priors: list[Prior]
    laplace: Laplace
    structure: list[str]
    advice: list[str]
    hierarchical: bool
    idata: object
    summary: pd.DataFrame
    correlations: pd.DataFrame
    problems: list[str]
    notes: list[str]
    predictive: pd.DataFrame
    derived: pd.DataFrame
    timings: dict
    sampler: dict  # how NUTS ran: "parametrisation" and "compiled_model" ("compiled", "disk cache", "memory" or "public compile")
    cells: pd.DataFrame | None = None  # hierarchical fits: each cell's parameters (mean, q5, q95) and the between-cell sd
    adequacy: dict = field(default_factory=dict)  # {"flagged", "findings", "levels"}: see inference.adequacy
    branches: pd.DataFrame | None = None  # two-branch models: each row's branch probabilities (see row_branches)

    @property
    def posterior(self):
        """The posterior and observation groups (an ArviZ/xarray DataTree)."""
        return self.idata

    @property
    def diagnostics(self) -> dict:
        """Divergences, the worst R-hat and ESS, and the problems found (empty: none)."""
        return {"divergences": int(self.idata.sample_stats["diverging"].sum()),
                "max_r_hat": float(self.summary["r_hat"].max()), "min_ess_bulk": float(self.summary["ess_bulk"].min()),
                "problems": list(self.problems)}  # fmt: skip


def _say(settings: FitSettings, text: str) -> None:
    if settings.progress:
        print(text, file=sys.stderr, flush=True)


def fit(recordings, settings: FitSettings) -> FitResult:
    """Fit ``settings.model`` to ``recordings`` (a :class:`vrest.data.Recordings`)."""
    t0 = time.perf_counter()
    if settings.model not in FITTED:
        raise ValueError(f"model: expected one of {', '.join(FITTED)}, got {settings.model!r}")
    notes: list[str] = []
    labels = sorted(set(recordings.table["condition"].astype(str))) if "condition" in recordings.table else ["all"]
    fixed = dict(settings.fixed)
    blocked = everywhere("pump", "blocked", labels, settings.fixed, settings.conditions)
    priors = fitted_priors(settings.model, no_pump=settings.no_pump or blocked, overrides=settings.priors)
    if blocked and not settings.no_pump:
        notes.append("the pump is blocked in every condition: no pump term is fitted")
    if everywhere("cl_i", "passive", labels, settings.fixed, settings.conditions):
        cl_param = next((p.name for p in priors if p.name in ("p_cl", "g_cl")), None)
        if cl_param is not None:
            priors = [p for p in priors if p.name != cl_param]
            fixed[cl_param] = 0.0
            notes.append(f"Cl- is passive in every condition (E_Cl = V_m): it carries no net current, so {cl_param} "
                         "drops out of V exactly and is not fitted")  # fmt: skip
    check_fittable(recordings, len(priors) + len(settings.uncertain))
    design = build_design(
        recordings, settings.model, [p.name for p in priors], preset=settings.preset, settings=fixed,
        conditions=settings.conditions, solutions=settings.solutions,
    )  # fmt: skip
    for name in settings.uncertain:
        if name not in PARAMS or PARAMS[name].unit != "mM":
            raise ValueError(f"uncertain: {name!r} is not a concentration; only assumed concentrations (mM) can be "
                             "fitted as uncertain (log-normal around the assumed value)")  # fmt: skip
        values = design.inputs.pop(name, None)
        if values is None:
            raise ValueError(f"uncertain: {name!r} is not a fixed input of model {settings.model!r}")
        if np.ptp(values) > 0:
            raise ValueError(f"uncertain: {name!r} differs between rows; only a single assumed value can be uncertain")
        priors.append(nuisance_prior(name, float(values[0])))
        notes.append(f"{name} is uncertain: {priors[-1].describe()}")
    if design.ljp_sd_mv > 0:
        priors.append(Prior("ljp_error_mv", False, 0.0, design.ljp_sd_mv))
        notes.append(f"the junction potential is uncertain: its error is fitted, {priors[-1].describe()}")
    hierarchical = _use_hierarchy(design, settings.hierarchical, notes)
    check_memory(design.n_rows, settings)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MultipleSteadyStatesWarning)
        lap = laplace_fit(design, priors)
    structure = describe(lap, priors, saddle_levels(design, priors, lap))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MultipleSteadyStatesWarning)
        advice = advise(design, priors, lap, settings.streams()["advice"])

    idata, timings, sampler, fitted_mean = _sample(design, priors, lap, hierarchical, settings)
    notes.extend([sampler["restarted"]] if sampler["restarted"] else [])
    refit_problems: list[str] = []
    if settings.exact_loo and not hierarchical:  # a hierarchical refit would lose a cell with a single row
        t_loo = time.perf_counter()
        note = refit_influential(idata, lambda obs: _held_out_log_likelihood(design, priors, settings, lap, obs,
                                                                             refit_problems))  # fmt: skip
        notes.extend([note] if note else [])
        if REFITS not in idata.children:  # the refits were not used (one failed): their warnings do not apply
            refit_problems.clear()
        timings["exact_loo_s"] = time.perf_counter() - t_loo
    names = [p.name for p in priors] + ["sigma_mv"]
    log_scale = {p.name: p.log_scale for p in priors} | {"sigma_mv": False}
    summary = summary_table(idata, names, priors)
    corr = posterior_correlations(idata, [p.name for p in priors], log_scale)
    divergences = int(idata.sample_stats["diverging"].sum())
    problems = messages(summary, corr, divergences, int(idata.sample_stats["diverging"].size), priors)
    branches = row_branches(design, priors, idata, hierarchical, settings.likelihood)
    problems += bistable_rows(branches, settings.model)
    problems += separate_modes(idata.sample_stats["logp"].values)
    problems += refit_problems
    predictive = predictive_grid(design, priors, idata, settings)
    derived = derived_quantities(design, priors, idata, settings)
    timings["total_s"] = time.perf_counter() - t0
    cells = cell_table(idata, priors) if hierarchical else None
    fit_adequacy = _adequacy(design, idata, fitted_mean)
    return FitResult(settings, design, priors, lap, structure, advice, hierarchical, idata, summary, corr,
                     problems, notes, predictive, derived, timings, sampler, cells, fit_adequacy, branches)  # fmt: skip


BISTABLE_SHARE = 0.05
"""Share of posterior draws with two stable states at a recorded K_o level from which the fit says so."""


def row_branches(design: Design, priors: list[Prior], idata, hierarchical: bool, likelihood: str,
                 max_draws: int = 400) -> pd.DataFrame | None:  # fmt: skip
    """For a model with two branches: per observed row, its K_o, V_m, condition, cell, the posterior probability
    that it sits on the hyperpolarized branch and that two stable states exist there, overall and by chain
    (columns ``p_hyperpolarized_chain<k>``); None for other models."""
    from ..models import get_model

    if get_model(design.model).branches is None:
        return None
    rows = np.nonzero(np.isfinite(design.v_obs))[0]
    post = idata.posterior
    step = max(1, post.sizes["draw"] * post.sizes["chain"] // max_draws)
    cell_of_row = np.unique(design.cell[rows], return_inverse=True)[1] if hierarchical else None
    thinned = post.isel(draw=slice(None, None, step))
    measured = observation_model(design, thinned, _row_draws(post, priors, cell_of_row, step), rows, likelihood)
    p_lower = measured.p_lower(design.v_obs[rows])  # (chain, draw, row)
    table = pd.DataFrame({"row": rows, "K_o_mM": design.inputs["k_o"][rows], "V_m_mV": design.v_obs[rows],
                          "condition": design.condition[rows],
                          "cell": design.cell[rows] if design.cell is not None else "",
                          "p_hyperpolarized": p_lower.mean(axis=(0, 1)),
                          "p_two_states": np.broadcast_to(measured.bistable, p_lower.shape).mean(axis=(0, 1))})  # fmt: skip
    for c in range(p_lower.shape[0]):
        table[f"p_hyperpolarized_chain{c}"] = p_lower[c].mean(axis=0)
    return table


def bistable_rows(table: pd.DataFrame | None, model: str) -> list[str]:
    """The recorded K_o levels where posterior draws have two stable states, in words: the share of draws, which
    branch the rows there are on, and whether the chains put them on different branches (empty otherwise)."""
    if table is None:
        return []
    out = []
    chains = [c for c in table if c.startswith("p_hyperpolarized_chain")]
    for level, at in table.groupby("K_o_mM"):
        share = float(at["p_two_states"].mean())
        if share < BISTABLE_SHARE:
            continue
        p = at["p_hyperpolarized"]
        rows = "its row is" if len(at) == 1 else f"all {len(at)} rows are"
        on = (f"{rows} on the hyperpolarized branch" if (p > 0.9).all() else
              f"{rows} on the depolarized branch" if (p < 0.1).all() else
              f"its row is on the hyperpolarized branch with probability {float(p.iloc[0]):.2f}" if len(at) == 1 else
              f"{int((p >= 0.5).sum())} of {len(at)} rows are more probably on the hyperpolarized branch, the others "
              "on the depolarized")  # fmt: skip
        text = f"{model}: two stable states at K_o = {level:g} mM in {share:.0%} of draws; {on}"
        by_chain = at[chains].mean(axis=0)
        if by_chain.max() > 0.8 and by_chain.min() < 0.2:
            text += "; chains sit on different branches (R-hat > 1.01 there is the bistability, not slow mixing)"
        out.append(text)
    return out


def _adequacy(design: Design, idata, fitted_mean: np.ndarray) -> dict:
    """The model-adequacy checks of :mod:`.adequacy` on the observed rows."""
    rows = np.isfinite(design.v_obs)
    draws = idata.posterior_predictive["v_m"].values.reshape(-1, int(rows.sum()))
    return adequacy(design.condition[rows], design.inputs["k_o"][rows], design.v_obs[rows], draws,
                    fitted_mean.reshape(-1, int(rows.sum())), design.sem[rows],
                    idata.posterior["sigma_mv"].values.reshape(-1), design.model)  # fmt: skip


def cell_table(idata, priors: list[Prior]) -> pd.DataFrame:
    """Each cell's fitted parameters (posterior mean, q5, q95) and the between-cell sd (on the sampled scale)."""
    post = idata.posterior
    rows = []
    for p in priors:
        per_cell = post[f"{p.name}_cell"].stack(sample=("chain", "draw")).transpose("cell", "sample").values
        spread = post[f"{p.name}_between_cell_sd"].values.reshape(-1)
        for cell, values in zip(post[f"{p.name}_cell"]["cell"].values, per_cell, strict=True):
            rows.append({"cell": str(cell), "parameter": p.name, "unit": p.unit, "mean": values.mean(),
                         "q5": np.quantile(values, 0.05), "q95": np.quantile(values, 0.95)})  # fmt: skip
        rows.append({"cell": "between-cell sd" + (" (log scale)" if p.log_scale else ""), "parameter": p.name,
                     "unit": "1" if p.log_scale else p.unit, "mean": spread.mean(), "q5": np.quantile(spread, 0.05),
                     "q95": np.quantile(spread, 0.95)})  # fmt: skip
    return pd.DataFrame(rows)


BYTES_PER_DRAW_AND_ROW = 3 * 8
"""Memory of each (draw, row): the posterior predictive, the log-likelihood and the model mean, float64."""


def check_memory(rows: int, settings: FitSettings) -> None:
    """Refuse (ValueError naming --draws) a fit whose per-row draws would not fit in half the available memory."""
    from ..machine import available_memory_bytes

    need = rows * settings.chains * settings.draws * BYTES_PER_DRAW_AND_ROW
    have = available_memory_bytes()
    if have is not None and need > have / 2:
        fit_draws = max(10, int(have / 2 / (rows * settings.chains * BYTES_PER_DRAW_AND_ROW)))
        raise ValueError(f"draws: {rows} rows x {settings.chains} chains x {settings.draws} draws need about "
                         f"{need / 1e9:.1f} GB for the per-row posterior groups, more than half the {have / 1e9:.1f} GB "
                         f"available; use --draws {fit_draws} or fewer (or fewer chains), or split the data "
                         "(fit-batch)")  # fmt: skip


def _use_hierarchy(design: Design, choice: str, notes: list[str]) -> bool:
    if choice == "yes" and design.cell is None:
        raise ValueError("hierarchical: 'yes' needs a cell column naming the cell of each row (none in the data)")
    if choice == "no" or design.cell is None:
        return False
    cells, counts = np.unique(design.cell, return_counts=True)
    if choice == "auto" and (cells.size < 2 or counts.max() < 2):
        notes.append(
            f"{cells.size} cells with at most {counts.max()} measurement(s) each: per-cell parameters would be "
            "informed only by the population, so the pooled model is used (cell-to-cell scatter is in sigma_mv)"
        )
        return False
    return True


def _sample(design: Design, priors: list[Prior], lap: Laplace, hierarchical: bool, settings: FitSettings):
    import xarray as xr

    from .compiled import compiled_model
    from .model_data import model_data
    from .nutpie_import import import_nutpie
    from .parametrisation import coordinates, named_posterior

    spec = model_data(design, priors, lap, hierarchical=hierarchical, likelihood=settings.likelihood)
    _say(settings, f"compiling the {settings.model} model (or loading it from the cache) ...")
    compiled, compile_s, source = compiled_model(spec)
    _say(settings, f"compiled model: {source} ({compile_s:.1f} s)")
    t1 = time.perf_counter()
    _say(settings, f"sampling {settings.chains} chains x {settings.draws} draws (+{settings.tune} tuning) ...")
    record = get_model(settings.model)
    target_accept = settings.target_accept if settings.target_accept is not None else record.target_accept

    def run(model, chains: int, seed: int):
        try:
            idata = import_nutpie().sample(
                model, draws=settings.draws, tune=settings.tune, chains=chains, cores=min(chains, settings.cores),
                seed=seed, save_warmup=False, progress_bar=settings.progress and sys.stderr.isatty(),
                target_accept=target_accept, adaptation="low_rank" if record.low_rank_mass_matrix else "diag",
            )  # fmt: skip
        except Exception as err:  # nutpie's own Ctrl-C handling can fail (its results already taken): still Ctrl-C
            if isinstance(err.__context__, KeyboardInterrupt):
                raise KeyboardInterrupt from err
            raise
        if _interrupted(idata, settings.draws):
            raise KeyboardInterrupt
        return idata

    idata = run(compiled, settings.chains, settings.seed)
    restarted = _restart_local_modes(idata, spec, settings,
                                     lambda model, chains: run(model, chains, child_seed(settings.seed, "restart")))
    idata["posterior"] = xr.DataTree(named_posterior(idata.posterior.to_dataset(), spec))
    t2 = time.perf_counter()
    fitted_mean = _add_observation_groups(idata, design, priors, spec.values.get("cell_of_row"), settings)
    t3 = time.perf_counter()
    timings = {"compile_s": compile_s, "sample_s": t2 - t1, "predictive_s": t3 - t2}
    return idata, timings, {"parametrisation": coordinates(spec), "compiled_model": source,
                     "target_accept": target_accept,
                     "mass_matrix": "low-rank modified" if record.low_rank_mass_matrix else "diagonal",
                     "restarted": restarted}, fitted_mean  # fmt: skip


def _interrupted(idata, draws: int) -> bool:
    """Whether nutpie's trace is one it returned on Ctrl-C (what it had): fewer than ``draws`` per chain, or a chain
    that stopped short of the others (nutpie pads it with NaN; seen when one chain had finished)."""
    if idata.posterior.sizes.get("draw", 0) < draws:
        return True
    return "logp" in idata.sample_stats and bool(np.isnan(idata.sample_stats["logp"].values).any())


MINOR_MODE_SHARE = 0.01
"""Largest estimated share of the posterior in a local mode whose chains are restarted from the main mode."""


def _restart_local_modes(idata, spec, settings: FitSettings, sample) -> str | None:
    """Chains that settled in a separate, lower mode holding under MINOR_MODE_SHARE of the posterior (estimated from
    the chains: :func:`.diagnostics.mode_share`) are sampled again, once, from a Gaussian fitted to the other
    chains' draws: a sampler that mixed would almost never visit that mode, so a chain stuck in it would distort
    the intervals. ``sample(model, chains)``: the sampler's run. Replaces those chains in ``idata`` (posterior and
    sample_stats) and returns a sentence saying so; None when nothing was restarted. A larger mode is kept (the fit's
    problems then say the chains sit in separate modes)."""
    from dataclasses import replace

    import xarray as xr

    from .compiled import compiled_model
    from .model_data import cholesky_factor

    posterior = idata.posterior.to_dataset()
    names = list(posterior.data_vars)
    draws = np.concatenate([posterior[v].values.reshape(*posterior[v].shape[:2], -1) for v in names], axis=-1)
    logp = idata.sample_stats["logp"].values
    divergent = idata.sample_stats["diverging"].values
    low = low_mode_chains(logp)
    if low.size == 0 or low.size * 2 > logp.shape[0]:
        return None
    share = mode_share(draws, logp, low)
    if share >= MINOR_MODE_SHARE:
        return None
    main = np.setdiff1d(np.arange(logp.shape[0]), low)
    keys = list(spec.start)
    main_draws = {k: posterior[k].values[main].reshape(-1, *np.shape(spec.start[k])) for k in keys}
    flat = np.concatenate([main_draws[k].reshape(len(main_draws[k]), -1) for k in keys], axis=1)
    restart = replace(spec, start={k: v.mean(axis=0) for k, v in main_draws.items()},
                      start_scale=cholesky_factor(np.cov(flat.T)))
    _say(settings, f"restarting {low.size} chain(s) that settled in a local mode ...")
    again = sample(compiled_model(restart)[0], low.size)
    for group in ("posterior", "sample_stats"):
        old, new = idata[group].to_dataset(), again[group].to_dataset()
        for v in old.data_vars:
            if v in new.data_vars and old[v].shape[1:] == new[v].shape[1:]:
                values = old[v].values.copy()
                values[low] = new[v].values
                old[v] = (old[v].dims, values)
        idata[group] = xr.DataTree(old)
    gap = float(logp[main].mean() - logp[low].mean())
    which = ", ".join(str(c + 1) for c in low)
    dropped = int(divergent[low].sum())
    return (f"chain(s) {which} settled in a local mode ({gap:.0f} log-density units below the others, estimated to "
            f"hold {100 * share:.2g} % of the posterior) and were sampled again from the main mode's draws"
            + (f" ({dropped} divergent transition(s) went with the replaced draws)" if dropped else ""))


def _held_out_log_likelihood(design: Design, priors: list[Prior], settings: FitSettings, lap: Laplace,
                             row: int, problems: list[str]) -> np.ndarray:  # fmt: skip
    """log p(V_m of ``row`` | theta) at every draw (chain, draw) of the fit without that row (same design, priors
    and seed; :data:`.reloo.REFIT_CHAINS` chains): one exact leave-one-out refit (:mod:`.reloo`). Its Laplace
    search starts at the full fit's mode ``lap`` alone (one row moves the mode a little; the full fit's search
    has already chosen among local modes).
    A refit that did not converge adds a warning to ``problems`` (:func:`.reloo.refit_problem`)."""
    from dataclasses import replace

    held = replace(design, v_obs=design.v_obs.copy())
    held.v_obs[row] = np.nan
    _say(settings, f"exact leave-one-out: refitting without row {row} (Pareto k > {PARETO_K}) ...")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MultipleSteadyStatesWarning)
        refit = _sample(held, priors, laplace_fit(held, priors, start=lap.theta), False,
                        replace(settings, progress=False, chains=min(settings.chains, REFIT_CHAINS)))[0]  # fmt: skip
    post = refit.posterior
    names = [p.name for p in priors] + ["sigma_mv"]
    diverging = refit.sample_stats["diverging"]
    problem = refit_problem(row, int(diverging.sum()), int(diverging.size),
                            float(np.max(summary_table(refit, names, priors)["r_hat"].to_numpy())))  # fmt: skip
    problems.extend([problem] if problem else [])
    measured = observation_model(design, post, _row_draws(post, priors, None), row, settings.likelihood)
    return measured.logpdf(design.v_obs[[row]])[..., 0]


def _row_draws(post, priors: list[Prior], cell_of_row: np.ndarray | None, step: int = 1) -> dict[str, np.ndarray]:
    """Each fitted parameter's posterior draws (every ``step``-th) for the observed rows: (chain, draw, row) with
    ``cell_of_row`` (a hierarchical fit's cell number of each row), else (chain, draw, 1)."""
    if cell_of_row is not None:
        return {p.name: post[f"{p.name}_cell"].values[:, ::step][..., cell_of_row] for p in priors}
    return {p.name: post[p.name].values[:, ::step, None] for p in priors}


def _add_observation_groups(idata, design: Design, priors: list[Prior], cell_of_row: np.ndarray | None,
                            settings: FitSettings) -> np.ndarray:  # fmt: skip
    """observed_data, posterior_predictive and log_likelihood of V_m, computed in NumPy from the draws;
    returns the noise-free model V_m at every draw, shape (chain, draw, observed row).

    ``cell_of_row`` (hierarchical fits): the cell number of each observed row."""
    import xarray as xr

    rows = np.nonzero(np.isfinite(design.v_obs))[0]
    post = idata.posterior
    measured = observation_model(design, post, _row_draws(post, priors, cell_of_row), rows, settings.likelihood)
    v_obs = design.v_obs[rows]
    draws, fitted = measured.replicate(v_obs, settings.streams()["posterior_predictive"])
    dims = ("chain", "draw", "obs")
    coords = {"chain": post["chain"].values, "draw": post["draw"].values, "obs": rows}
    idata["posterior_predictive"] = xr.DataTree(xr.Dataset({"v_m": (dims, draws)}, coords=coords))
    idata["log_likelihood"] = xr.DataTree(xr.Dataset({"v_m": (dims, measured.logpdf(v_obs))}, coords=coords))
    idata["observed_data"] = xr.DataTree(xr.Dataset({"v_m": (("obs",), v_obs)}, coords={"obs": rows}))
    return fitted


def _draws(idata, priors: list[Prior], max_draws: int = 1000) -> dict[str, np.ndarray]:
    """Up to max_draws evenly thinned posterior draws of each population parameter, shape (draws, 1)."""
    out = {}
    for p in priors:
        d = idata.posterior[p.name].values.reshape(-1)
        step = max(1, d.size // max_draws)
        out[p.name] = d[::step][:max_draws, None]
    return out


def _condition_rows(design: Design) -> dict[str, int]:
    """The first row of each condition (its representative fixed inputs)."""
    return {str(c): int(np.nonzero(design.condition == c)[0][0]) for c in np.unique(design.condition)}


def predictive_grid(design: Design, priors: list[Prior], idata, settings: FitSettings, n_grid: int = 60) -> pd.DataFrame:
    """Posterior of the model V_m (and of a new measurement) on a fine K_o grid, per condition."""
    rng = settings.streams()["predictive_grid"]
    draws = _draws(idata, priors)
    sigma = idata.posterior["sigma_mv"].values.reshape(-1)[:: max(1, idata.posterior["sigma_mv"].size // 1000)][:1000, None]
    k_obs = design.inputs.get("k_o", np.array([5.0]))
    grid = np.geomspace(max(k_obs.min() / 2, 0.1), k_obs.max() * 2, n_grid)
    frames = []
    for label, row in _condition_rows(design).items():
        inputs = {k: v[row] for k, v in design.inputs.items() if k != "k_o"}
        if "na_o" in inputs and label in design.na_plus_k:
            inputs["na_o"] = np.clip(design.na_plus_k[label] - grid, 1e-3, None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MultipleSteadyStatesWarning)
            v = predict(design.model, k_o=grid, **inputs, **draws)
        new = v + rng.normal(size=v.shape) * sigma
        q = {f"V_mV_q{name}": np.quantile(v, p, axis=0) for name, p in GRID_QUANTILES.items()}
        frame = pd.DataFrame({"condition": label, "K_o_mM": grid, **q,
                              "new_V_mV_q5": np.quantile(new, 0.05, axis=0), "new_V_mV_q95": np.quantile(new, 0.95, axis=0)})  # fmt: skip
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _levels(design: Design, label: str, preset_k_o: float) -> list[tuple[float, dict, str]]:
    """(K_o, the condition's inputs there, origin) at each recorded K_o level and at the preset's K_o."""
    rows = np.nonzero(design.condition == label)[0]
    first = {}
    for r in rows:
        first.setdefault(float(design.inputs["k_o"][r]), r)
    out = [(k, {n: v[r] for n, v in design.inputs.items()}, "recorded") for k, r in sorted(first.items())]
    if preset_k_o not in first:
        inputs = {n: v[rows[0]] for n, v in design.inputs.items()} | {"k_o": preset_k_o}
        if "na_o" in inputs and label in design.na_plus_k:
            inputs["na_o"] = design.na_plus_k[label] - preset_k_o
        out.append((preset_k_o, inputs, "preset"))
    return out


def derived_quantities(design: Design, priors: list[Prior], idata, settings: FitSettings) -> pd.DataFrame:
    """V_rest, E_K, E_Na, E_Cl and driving forces per condition at each recorded K_o level and at the preset's
    physiological K_o (``K_o_origin`` says which), and the pump current (pA) and ATP rate (molecules/s, one net
    charge per cycle): from pump_mv x g_tot when g_tot is given, or the fitted i_pump of a fixed-point model."""
    from ..presets import get_preset

    draws = _draws(idata, priors)
    preset_k_o = float(get_preset(settings.preset).values()["k_o"])
    rows = []
    for label in _condition_rows(design):
        for k_o, inputs, origin in _levels(design, label, preset_k_o):
            nat = {**inputs, **{k: v[:, 0] for k, v in draws.items()}}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", MultipleSteadyStatesWarning)
                v_rest = predict(design.model, **nat)
            quantities = {"V_rest_mV": v_rest}
            for ion, z in (("k", 1), ("na", 1), ("cl", -1)):
                if f"{ion}_o" in nat and f"{ion}_i" in nat:
                    e = nernst_mv(nat[f"{ion}_o"], nat[f"{ion}_i"], z, nat["temp_k"]) + 0 * v_rest
                    quantities[f"E_{ion.capitalize()}_mV"] = e
                    quantities[f"driving_force_{ion.capitalize()}_mV"] = v_rest - e
            i_pump = (draws["pump_mv"][:, 0] * settings.g_tot_ns if "pump_mv" in draws and settings.g_tot_ns
                      else draws["i_pump"][:, 0] if "i_pump" in draws else None)  # mV x nS = pA  # fmt: skip
            if i_pump is not None:
                quantities["I_pump_pA"] = i_pump
                quantities["ATP_per_s"] = i_pump * 1e-12 / ELEMENTARY_CHARGE_C
            for name, values in quantities.items():
                values = np.broadcast_to(values, v_rest.shape)
                rows.append({"condition": label, "K_o_mM": k_o, "K_o_origin": origin, "quantity": name,
                             "mean": values.mean(), "q5": np.quantile(values, 0.05), "q50": np.quantile(values, 0.5),
                             "q95": np.quantile(values, 0.95)})  # fmt: skip
    return pd.DataFrame(rows)
