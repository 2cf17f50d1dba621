"""One fit: recordings + settings -> design -> identifiability -> PyMC/NUTS -> summaries.

Numerics only: no file I/O or plotting here (see :mod:`vrest.inference.outputs`).
"""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..api import MultipleSteadyStatesWarning, predict
from ..models.nernst import nernst_mv
from .design import Design, build_design
from .diagnostics import messages, posterior_correlations, summary_table
from .identifiability import Laplace, advise, describe, laplace_fit
from .priors import FITTED, Prior, fitted_priors, nuisance_prior

ELEMENTARY_CHARGE_C = 1.602176634e-19
GRID_QUANTILES = {"5": 0.05, "25": 0.25, "50": 0.5, "75": 0.75, "95": 0.95}


@dataclass(frozen=True)
class FitSettings:
    """Everything that defines a fit besides the data."""

    model: str
    seed: int
    preset: str = "mammalian_neuron"
    chains: int = 4
    draws: int = 1000
    tune: int = 1000
    target_accept: float = 0.95
    likelihood: str = "normal"
    no_pump: bool = False
    fixed: dict = field(default_factory=dict)  # input name -> value (temp_k in K) or k_replaces_na
    conditions: dict = field(default_factory=dict)  # condition label -> {input: value}
    uncertain: tuple[str, ...] = ()
    priors: dict = field(default_factory=dict)  # prior overrides by parameter
    hierarchical: str = "auto"  # "auto" | "yes" | "no"
    g_tot_ns: float | None = None  # total conductance, for the pump current and ATP rate
    progress: bool = True
    cores: int = 2  # chains sampled in parallel threads (the draws do not depend on it)
    compile_helper: bool = True  # a new model may be compiled with a second process (not in batch workers)


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
    sampler: dict  # how NUTS ran: "parametrisation" and "compiled_model" ("compiled", "disk cache" or "memory")


def _say(settings: FitSettings, text: str) -> None:
    if settings.progress:
        print(text, file=sys.stderr, flush=True)


def fit(recordings, settings: FitSettings) -> FitResult:
    """Fit ``settings.model`` to ``recordings`` (a :class:`vrest.data.Recordings`)."""
    t0 = time.perf_counter()
    if settings.model not in FITTED:
        raise ValueError(f"model: expected one of {', '.join(FITTED)}, got {settings.model!r}")
    if settings.seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {settings.seed}")
    priors = fitted_priors(settings.model, no_pump=settings.no_pump, overrides=settings.priors)
    design = build_design(
        recordings, settings.model, [p.name for p in priors],
        preset=settings.preset, settings=settings.fixed, conditions=settings.conditions,
    )  # fmt: skip
    notes: list[str] = []
    for name in settings.uncertain:
        values = design.inputs.pop(name, None)
        if values is None:
            raise ValueError(f"uncertain: {name!r} is not a fixed input of model {settings.model!r}")
        if np.ptp(values) > 0:
            raise ValueError(f"uncertain: {name!r} differs between rows; only a single assumed value can be uncertain")
        priors.append(nuisance_prior(name, float(values[0])))
        notes.append(f"{name} is uncertain: {priors[-1].describe()}")
    hierarchical = _use_hierarchy(design, settings.hierarchical, notes)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MultipleSteadyStatesWarning)
        lap = laplace_fit(design, priors)
    structure = describe(lap, priors)
    for line in structure:
        _say(settings, "structure: " + line)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MultipleSteadyStatesWarning)
        advice = advise(design, priors, lap, settings.seed)
    for line in advice:
        _say(settings, "advice: " + line)

    idata, timings, sampler = _sample(design, priors, lap, hierarchical, settings)
    names = [p.name for p in priors] + ["sigma_mv"]
    prior_sd = {p.name: p.sd for p in priors}
    log_scale = {p.name: p.log_scale for p in priors} | {"sigma_mv": False}
    summary = summary_table(idata, names, prior_sd, log_scale)
    corr = posterior_correlations(idata, [p.name for p in priors], log_scale)
    divergences = int(idata.sample_stats["diverging"].sum())
    problems = messages(summary, corr, divergences, int(idata.sample_stats["diverging"].size))
    predictive = predictive_grid(design, priors, idata, settings)
    derived = derived_quantities(design, priors, idata, settings)
    timings["total_s"] = time.perf_counter() - t0
    return FitResult(settings, design, priors, lap, structure, advice, hierarchical, idata, summary, corr,
                     problems, notes, predictive, derived, timings, sampler)  # fmt: skip


def _use_hierarchy(design: Design, choice: str, notes: list[str]) -> bool:
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
    from .parametrisation import named_posterior

    spec = model_data(design, priors, lap, hierarchical=hierarchical, likelihood=settings.likelihood)
    _say(settings, f"compiling the {settings.model} model (or loading it from the cache) ...")
    compiled, compile_s, source = compiled_model(spec, helper=settings.compile_helper)
    _say(settings, f"compiled model: {source} ({compile_s:.1f} s)")
    t1 = time.perf_counter()
    _say(settings, f"sampling {settings.chains} chains x {settings.draws} draws (+{settings.tune} tuning) ...")
    idata = import_nutpie().sample(
        compiled, draws=settings.draws, tune=settings.tune, chains=settings.chains,
        cores=min(settings.chains, settings.cores), seed=settings.seed, save_warmup=False,
        progress_bar=settings.progress and sys.stderr.isatty(), target_accept=settings.target_accept,
    )  # fmt: skip
    idata["posterior"] = xr.DataTree(named_posterior(idata.posterior.to_dataset(), spec))
    t2 = time.perf_counter()
    _add_observation_groups(idata, design, priors, spec.values.get("cell_of_row"), settings)
    t3 = time.perf_counter()
    parametrisation = ("offset-share: total non-K permeability S, share rho, V_m c at a reference row (see structure)"
                       if spec.share is not None else "rotation onto the design's singular directions (see structure)")  # fmt: skip
    timings = {"compile_s": compile_s, "sample_s": t2 - t1, "predictive_s": t3 - t2}
    return idata, timings, {"parametrisation": parametrisation, "compiled_model": source}


def _add_observation_groups(idata, design: Design, priors: list[Prior], cell_of_row: np.ndarray | None,
                            settings: FitSettings) -> None:  # fmt: skip
    """observed_data, posterior_predictive and log_likelihood of V_m, computed in NumPy from the draws.

    ``cell_of_row`` (hierarchical fits): the cell number of each observed row."""
    import xarray as xr
    from scipy import stats

    rows = np.isfinite(design.v_obs)
    post = idata.posterior
    if cell_of_row is not None:
        params = {p.name: post[f"{p.name}_cell"].values[..., cell_of_row] for p in priors}
    else:
        params = {p.name: post[p.name].values[..., None] for p in priors}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MultipleSteadyStatesWarning)
        mu = predict(design.model, **{k: v[rows] for k, v in design.inputs.items()}, **params)
    scale = np.sqrt(post["sigma_mv"].values[..., None] ** 2 + design.sem[rows] ** 2)
    if settings.likelihood == "student-t":
        dist = stats.t(df=post["nu"].values[..., None], loc=mu, scale=scale)
    else:
        dist = stats.norm(loc=mu, scale=scale)
    rng = np.random.default_rng(settings.seed)
    dims = ("chain", "draw", "obs")
    coords = {"chain": post["chain"].values, "draw": post["draw"].values, "obs": np.nonzero(rows)[0]}
    draws = dist.rvs(size=np.broadcast_shapes(mu.shape, scale.shape), random_state=rng)  # size: keep a single chain's axis
    idata["posterior_predictive"] = xr.DataTree(xr.Dataset({"v_m": (dims, draws)}, coords=coords))
    idata["log_likelihood"] = xr.DataTree(xr.Dataset({"v_m": (dims, dist.logpdf(design.v_obs[rows]))}, coords=coords))
    idata["observed_data"] = xr.DataTree(xr.Dataset({"v_m": (("obs",), design.v_obs[rows])}, coords={"obs": coords["obs"]}))


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
    rng = np.random.default_rng(settings.seed)
    draws = _draws(idata, priors)
    sigma = idata.posterior["sigma_mv"].values.reshape(-1)[:: max(1, idata.posterior["sigma_mv"].size // 1000)][:1000, None]
    k_obs = design.inputs.get("k_o", np.array([5.0]))
    grid = np.geomspace(max(k_obs.min() / 2, 0.1), k_obs.max() * 2, n_grid)
    frames = []
    for label, row in _condition_rows(design).items():
        inputs = {k: v[row] for k, v in design.inputs.items() if k != "k_o"}
        if "na_o" in inputs and _k_replaces_na(design, label):
            inputs["na_o"] = np.clip(design.inputs["na_o"][row] + design.inputs["k_o"][row] - grid, 1e-3, None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MultipleSteadyStatesWarning)
            v = predict(design.model, k_o=grid, **inputs, **draws)
        new = v + rng.normal(size=v.shape) * sigma
        q = {f"V_mV_q{name}": np.quantile(v, p, axis=0) for name, p in GRID_QUANTILES.items()}
        frame = pd.DataFrame({"condition": label, "K_o_mM": grid, **q,
                              "new_V_mV_q5": np.quantile(new, 0.05, axis=0), "new_V_mV_q95": np.quantile(new, 0.95, axis=0)})  # fmt: skip
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _k_replaces_na(design: Design, label: str) -> bool:
    return any(a["input"] == "na_o" and "replacing" in a["source"] and label in a["applies_to"] for a in design.assumptions)


def derived_quantities(design: Design, priors: list[Prior], idata, settings: FitSettings) -> pd.DataFrame:
    """E_K, E_Na, E_Cl, V_rest and driving forces per condition (at its first row's K_o), and the
    pump current (pA) and ATP rate (molecules/s, one net charge per cycle) when g_tot is given."""
    draws = _draws(idata, priors)
    rows = []
    for label, row in _condition_rows(design).items():
        inputs = {k: v[row] for k, v in design.inputs.items()}
        nat = {**inputs, **{k: v[:, 0] for k, v in draws.items()}}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MultipleSteadyStatesWarning)
            v_rest = predict(design.model, **{k: v for k, v in nat.items()})
        quantities = {"V_rest_mV": v_rest}
        for ion, z in (("k", 1), ("na", 1), ("cl", -1)):
            if f"{ion}_o" in nat and f"{ion}_i" in nat:
                e = nernst_mv(nat[f"{ion}_o"], nat[f"{ion}_i"], z, nat["temp_k"]) + 0 * v_rest
                quantities[f"E_{ion.capitalize()}_mV"] = e
                quantities[f"driving_force_{ion.capitalize()}_mV"] = v_rest - e
        if "pump_mv" in draws and settings.g_tot_ns:
            i_pump = draws["pump_mv"][:, 0] * settings.g_tot_ns  # mV x nS = pA
            quantities["I_pump_pA"] = i_pump
            quantities["ATP_per_s"] = i_pump * 1e-12 / ELEMENTARY_CHARGE_C
        for name, values in quantities.items():
            values = np.broadcast_to(values, v_rest.shape)
            rows.append({"condition": label, "K_o_mM": float(inputs.get("k_o", np.nan)), "quantity": name,
                         "mean": values.mean(), "q5": np.quantile(values, 0.05), "q50": np.quantile(values, 0.5),
                         "q95": np.quantile(values, 0.95)})  # fmt: skip
    return pd.DataFrame(rows)
