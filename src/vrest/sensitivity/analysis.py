"""Sobol' sensitivity analysis of V_rest over scenarios: the pipeline behind ``vrest sensitivity``.

For each scenario: a Saltelli design on a scrambled Sobol' sequence (N base rows),
the model at every point (failures counted, never dropped silently), S1, ST (and S2)
with bootstrap CIs, the same estimates from the first N/2 rows (convergence), and the
analytic-derivative cross-check (linearised S1 at the centre, DGSM bounds on ST).
With a K_o grid, the other inputs are analysed again at each K_o level, all levels
in one vectorised pass.

Seeding: one integer seed (0 included) gives a :class:`numpy.random.SeedSequence`
whose first child scrambles the Sobol' sequence and whose second draws the bootstrap
resamples; every design and every bootstrap of a run restarts from these, so a
seeded run is reproducible bit for bit (same machine and library builds), and
scenarios and K_o levels share their random numbers.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .._atomic import versions
from ..models import get_model
from ..models.solver import check_branch
from ..presets import get_preset
from ..seeding import check_seed
from .crosscheck import dgsm_bounds, linearised_indices
from .distributions import Distribution
from .estimators import bootstrap_counts, normal_quantile, sobol_estimates
from .evaluate import Evaluation, evaluate, gradient_at
from .findings import findings
from .posterior import PosteriorFit, load_fit, with_posterior, with_uncertainty
from .results import Block, SensitivityResult
from .sampling import checked_n, saltelli_design
from .scenarios import Scenario, VariedInput, bundled_scenario, factor_structure, parse_k_o_grid, scenario_file
from .tables import boot_sd, indices_table, summary_table

ENGINES = ("vrest", "salib")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Problem:
    """What the pipeline needs: the varied inputs, how to run them, and (optionally) dV/dx.

    ``run(x)`` takes arrays (or scalars) by input name and returns an
    :class:`.evaluate.Evaluation`;
    ``gradient(x, v)`` returns dV/dx by input name at the points where V = v.
    """

    name: str
    inputs: tuple[VariedInput, ...]
    run: Callable[..., Evaluation]
    gradient: Callable[[dict, np.ndarray], dict[str, np.ndarray]] | None = None


@dataclass(frozen=True)
class Options:
    """Validated settings of a run."""

    n: int
    seed: int
    second_order: bool
    resamples: int
    conf_level: float
    tolerance: float
    engine: str

    def design_rng(self) -> np.random.Generator:
        """A fresh generator that scrambles the Sobol' sequence."""
        return np.random.default_rng(np.random.SeedSequence(self.seed).spawn(2)[0])

    def bootstrap_rng(self) -> np.random.Generator:
        """A fresh generator that draws the bootstrap resamples."""
        return np.random.default_rng(np.random.SeedSequence(self.seed).spawn(2)[1])


def options(
    n: int, seed: int, second_order: bool, resamples: int, conf_level: float, tolerance: float, engine: str
) -> Options:
    """Check the settings; ``n`` is rounded up to a power of two with a warning."""
    check_seed(seed)
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 10:
        raise ValueError(f"resamples: expected an integer >= 10 bootstrap resamples, got {resamples!r}")
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level: expected a level between 0 and 1 (e.g. 0.95), got {conf_level!r}")
    if not tolerance > 0:
        raise ValueError(f"tolerance: expected a positive index difference (e.g. 0.05), got {tolerance!r}")
    if engine not in ENGINES:
        raise ValueError(f"engine: expected one of {', '.join(ENGINES)}, got {engine!r}")
    return Options(checked_n(n), int(seed), bool(second_order), resamples, float(conf_level), float(tolerance), engine)


def model_problem(scenario: Scenario, branch: str, fit: PosteriorFit | None = None) -> Problem:
    """The :class:`Problem` of a scenario: its model with the fixed inputs and preset.

    With ``fit``, the ``posterior`` input (a draw index) becomes the fitted parameters of that draw.
    """
    fixed = dict(scenario.fixed)
    expand = (lambda x: x) if fit is None else fit.expand

    def run(x: dict) -> Evaluation:
        return evaluate(scenario.model, {**fixed, **expand(x)}, preset=scenario.preset, branch=branch)

    def grad(x: dict, v: np.ndarray) -> dict[str, np.ndarray]:
        return gradient_at(scenario.model, {**fixed, **expand(x)}, v, preset=scenario.preset, branch=branch)

    return Problem(scenario.name, scenario.inputs, run, grad)


def _stack(grad: dict[str, np.ndarray], names: list[str], shape: tuple) -> np.ndarray:
    """dV/dx of the named inputs along a last axis (NaN where the model gives none)."""
    return np.stack([np.broadcast_to(grad.get(name, np.nan), shape) for name in names], axis=-1)


def _unit_points(inputs: tuple[VariedInput, ...], second_order: bool, opts: Options) -> np.ndarray:
    """(N, blocks, K) design points on the unit cube, from vrest's sampler or SALib's."""
    if opts.engine == "salib":
        from .salib_engine import salib_problem, salib_unit_points

        return salib_unit_points(salib_problem(inputs), opts.n, second_order, opts.design_rng())
    members = tuple(cols for _, cols in factor_structure(inputs))
    return saltelli_design(len(inputs), members, opts.n, opts.design_rng(), second_order).unit_points()


def _run_levels(problem: Problem, x: dict, levels: list[dict]):
    """(V (L, N, blocks), failed runs (L,), multistable runs (L,), failures by reason)."""
    y = np.empty((len(levels), *next(iter(x.values())).shape))
    failed, multistable, failures = np.zeros(len(levels), int), np.zeros(len(levels), int), Counter()
    for l, level in enumerate(levels):
        ev = problem.run({**x, **level})
        y[l], failed[l], multistable[l] = ev.v, ev.n_failed, ev.n_multistable
        failures.update(ev.failures)
    return y, failed, multistable, failures


def _derivatives(problem: Problem, x: dict, y: np.ndarray, levels: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """(dV/dx at the centre (L, I), s(x) dV/dx at the A point of every base row (L, N, I)); NaN without a gradient."""
    inputs, names = problem.inputs, [inp.name for inp in problem.inputs]
    n = y.shape[1]
    centre_grad = np.full((len(levels), len(inputs)), np.nan)
    scaled = np.full((len(levels), n, len(inputs)), np.nan)
    if problem.gradient is None:
        return centre_grad, scaled
    centre = {inp.name: np.array([inp.dist.expectation]) for inp in inputs}
    x_a = {name: a[:, 0] for name, a in x.items()}
    scale = np.stack([inp.dist.dgsm_scale(x_a[inp.name]) * np.ones(n) for inp in inputs], axis=-1)
    for l, level in enumerate(levels):
        v_centre = problem.run({**centre, **level}).v
        centre_grad[l] = _stack(problem.gradient({**centre, **level}, v_centre), names, (1,))[0]
        scaled[l] = scale * _stack(problem.gradient({**x_a, **level}, y[l, :, 0]), names, (n,))
    return centre_grad, scaled


def analyse_block(
    problem: Problem, levels: list[dict], k_o: np.ndarray | None, second_order: bool, opts: Options, progress: Progress
) -> Block:
    """One Sobol' analysis of ``problem`` at each level (extra fixed inputs), vectorised over levels."""
    t0 = time.perf_counter()
    inputs = problem.inputs
    structure = factor_structure(inputs)
    members = tuple(cols for _, cols in structure)
    unit = _unit_points(inputs, second_order, opts)
    x = {inp.name: inp.dist.ppf(unit[..., j]) for j, inp in enumerate(inputs)}
    n, n_blocks = unit.shape[:2]
    where = problem.name if k_o is None else f"{problem.name} per K_o"
    progress(
        f"{where}: {n * n_blocks * len(levels):,} runs ({n:,} base rows x {n_blocks} blocks x {len(levels)} level(s))"
    )
    y, failed, multistable, failures = _run_levels(problem, x, levels)
    valid = np.isfinite(y).all(axis=2)
    counts = bootstrap_counts(n, opts.resamples, opts.bootstrap_rng())
    est = sobol_estimates(y, valid, len(members), second_order, counts)
    half = sobol_estimates(y[:, : n // 2], valid[:, : n // 2], len(members), second_order, None)
    z = normal_quantile(opts.conf_level)
    ci_half = {"S1": z * boot_sd(est.s1_boot), "ST": z * boot_sd(est.st_boot)}
    if second_order:
        ci_half["S2"] = z * boot_sd(est.s2_boot)
    if opts.engine == "salib":  # SALib's own point estimates and CIs replace the vectorised ones
        from .salib_engine import salib_indices, salib_problem

        values, ci_half = salib_indices(
            salib_problem(inputs), y, valid, est.pairs, opts.resamples, opts.conf_level, opts.bootstrap_rng
        )
        est = replace(est, s1=values["S1"], st=values["ST"], s2=values.get("S2"))
    centre_grad, scaled = _derivatives(problem, x, y, levels)
    lin, lin_boot = linearised_indices(
        centre_grad, np.array([i.dist.var for i in inputs]), members, est.var, est.var_boot
    )
    defined = np.isfinite(scaled).any(axis=(0, 1))  # inputs without a gradient (a draw index) get no bound
    ok = valid & np.isfinite(scaled[..., defined]).all(axis=2)
    poincare = np.array([i.dist.poincare for i in inputs])
    bound, bound_boot = dgsm_bounds(scaled, ok, poincare, members, est.var, est.var_boot, counts)
    bad = f", {int(failed.sum())} failed" if failed.sum() else ""
    progress(f"{where}: done in {time.perf_counter() - t0:.1f} s{bad}")
    return Block(
        scenario=problem.name,
        factors=tuple(name for name, _ in structure),
        k_o=k_o,
        n=n,
        estimate=est,
        half=half,
        ci_half=ci_half,
        s1_linear=lin,
        s1_linear_boot=lin_boot,
        dgsm_bound=bound,
        dgsm_bound_boot=bound_boot,
        v_ab=np.concatenate([y[:, :, 0], y[:, :, -1]], axis=1),
        runs=n * n_blocks,
        failed=failed,
        multistable=multistable,
        rows_used=valid.sum(axis=1),
        failures=failures,
        z=z,
    )


def _scenario(spec: str | Path | Scenario, model: str | None) -> Scenario:
    if isinstance(spec, Scenario):
        if model is not None and spec.model != model:
            raise ValueError(f"model: scenario {spec.name!r} is for {spec.model!r}, not {model!r}")
        return spec
    if isinstance(spec, Path) or str(spec).endswith(".toml") or Path(str(spec)).is_file():
        return scenario_file(spec, model)
    return bundled_scenario(str(spec), model)


def _run_blocks(
    problems: list[tuple[Problem, tuple[float, ...], Problem | None]],
    opts: Options,
    progress: Progress,
    scheduler: str | None = None,
    workers: int | None = None,
):
    """Blocks of every scenario (whole, then per K_o) and their wall times (s) by block.

    Each block is independent and seeded by ``opts`` alone, so with a ``scheduler``
    (see :mod:`vrest.parallel`) the blocks run as parallel jobs with identical results.
    """
    jobs = {}
    for problem, grid, per_k_o in problems:
        jobs[problem.name] = (problem, [{}], None, opts.second_order, opts)
        if per_k_o is not None:
            levels = [{"k_o": np.float64(k)} for k in grid]
            jobs[f"{problem.name} per K_o"] = (per_k_o, levels, np.array(grid), False, opts)
    if scheduler is None:
        done = {name: _timed_block(job, progress) for name, job in jobs.items()}
    else:
        from ..parallel import Failure, run_jobs

        done = {}

        def keep(name: str, outcome) -> None:
            if isinstance(outcome, Failure):
                raise RuntimeError(f"sensitivity: {name}: {outcome.reason}")
            done[name] = outcome

        run_jobs(_timed_block, jobs, keep, scheduler=scheduler, workers=workers, what="sensitivity")
    return [done[name][0] for name in jobs], {name: done[name][1] for name in jobs}


def _timed_block(job: tuple, progress: Progress | None = None) -> tuple[Block, float]:
    """One block (see :func:`analyse_block`) and its wall time (s)."""
    t0 = time.perf_counter()
    block = analyse_block(*job, progress or (lambda _: None))
    return block, round(time.perf_counter() - t0, 3)


def _result(
    blocks: list[Block], opts: Options, times: dict, t_start: float, extra_info: dict, quantity: str = "V_rest"
) -> SensitivityResult:
    indices = indices_table(blocks, opts.tolerance)
    summary = summary_table(blocks, opts.tolerance)
    notes = findings(blocks, indices, summary, opts.tolerance, quantity, extra_info.get("settings", {}).get("branch"))
    info = {
        "settings": {
            "n": opts.n,
            "seed": opts.seed,
            "second_order": opts.second_order,
            "bootstrap_resamples": opts.resamples,
            "conf_level": opts.conf_level,
            "ci": "normal approximation: index +- z x bootstrap SD (as SALib)",
            "tolerance": opts.tolerance,
            "engine": opts.engine,
            "sampling": "Saltelli design on a scrambled Sobol' sequence (SALib.sample.sobol row order)",
            "convergence": "indices from the first N/2 base rows against all N",
            **extra_info.pop("settings", {}),
        },
        "versions": versions(),
        **extra_info,
        "runs": [
            {
                "scenario": b.scenario,
                "K_o_mM": None if b.k_o is None else [float(k) for k in b.k_o],
                "runs_per_level": b.runs,
                "runs_total": b.runs * len(b.failed),
                "failed_runs": int(b.failed.sum()),
                "failures_by_reason": dict(b.failures),
                "multistable_runs": int(b.multistable.sum()),
                "base_rows_excluded": int((b.n - b.rows_used).sum()),
            }
            for b in blocks
        ],
        "findings": notes,
        "wall_time_s": {"total": round(time.perf_counter() - t_start, 3), "by_analysis": times},
    }
    v_samples = {b.scenario: b.v_ab[0] for b in blocks if b.k_o is None}
    return SensitivityResult(indices, summary, v_samples, notes, info)


def sobol_analysis(
    model: str | None,
    scenarios: str | Path | Scenario | Sequence[str | Path | Scenario],
    *,
    seed: int,
    n: int = 4096,
    second_order: bool = False,
    k_o_grid: Sequence[float] | None = None,
    resamples: int = 100,
    conf_level: float = 0.95,
    tolerance: float = 0.05,
    branch: str = "hyperpolarized",
    engine: str = "vrest",
    posterior: str | Path | None = None,
    progress: Progress | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
) -> SensitivityResult:
    """Sobol' indices of V_rest (mV) of ``model`` over each scenario, with CIs, flags and cross-checks.

    ``scenarios``: bundled names (``hypokalaemia``, US spellings too), TOML paths or
    :class:`.scenarios.Scenario` objects; ``model`` overrides their ``model`` key.
    ``seed`` (0 allowed) fixes every random number. ``n`` base rows (a power of two;
    others are rounded up with a warning) give n (F + 2) runs, n (2F + 2) with
    ``second_order``. ``k_o_grid``: K_o levels (mM) for the per-K_o indices (None: each
    scenario's own grid; empty: none). ``branch``: which stable state V is where there
    are several. ``tolerance``: the index change (N/2 vs N) and CI half-width above
    which N counts as too small. ``engine="salib"`` runs SALib's sample and analyze
    instead of the vectorised estimators (same numbers, slower). ``posterior``: a
    ``vrest fit`` folder of the same model; its fitted parameters are drawn jointly
    as one factor named ``posterior`` (see :mod:`.posterior`), and the result gains
    credible bands and the parameter/physiology split of the variance
    (``uncertainty``). ``scheduler`` (``"local"``, ``"tcp://host:port"``; None: in this
    process) runs each scenario's whole and per-K_o analyses as parallel Dask jobs, with
    the same numbers. Raises ValueError naming the argument, file, key or folder on
    bad input, before any model run.
    """
    t_start = time.perf_counter()
    opts = options(n, seed, second_order, resamples, conf_level, tolerance, engine)
    check_branch(branch)
    if model is not None:
        model = get_model(model).name
    specs = [scenarios] if isinstance(scenarios, str | Path | Scenario) else list(scenarios)
    if not specs:
        raise ValueError("scenario: no scenario given")
    loaded = [_scenario(s, model) for s in specs]
    names = [s.name for s in loaded]
    if len(set(names)) < len(names):
        raise ValueError(f"scenario: two scenarios are named {next(x for x in names if names.count(x) > 1)!r}")
    if len({s.model for s in loaded}) > 1:
        raise ValueError(
            f"model: the scenarios name different models ({', '.join(sorted({s.model for s in loaded}))}); give --model"
        )
    grid_override = None if k_o_grid is None else parse_k_o_grid(list(k_o_grid), "k_o_grid")
    fit = None if posterior is None else load_fit(posterior, loaded[0].model)
    replaced: dict[str, list[str]] = {}
    inherited: dict[str, dict[str, float]] = {}
    if fit is not None:
        for i, s in enumerate(loaded):
            loaded[i], replaced[s.name], inherited[s.name] = with_posterior(s, fit)
    problems = []
    for s in loaded:
        grid = s.k_o_grid if grid_override is None else grid_override
        rest = s.without("k_o")
        per_k_o = model_problem(rest, branch, fit) if grid and rest.inputs else None
        problems.append((model_problem(s, branch, fit), grid, per_k_o))
    blocks, times = _run_blocks(problems, opts, progress or (lambda _: None), scheduler, workers)
    info = {
        "settings": {"model": loaded[0].model, "branch": branch},
        "scenarios": [s.describe() for s in loaded],
        "preset_sources": {s.preset: list(get_preset(s.preset).sources) for s in loaded},
    }
    result = _result(blocks, opts, times, t_start, info)
    return result if fit is None else with_uncertainty(result, blocks, fit, replaced, inherited)


def sobol_function(
    fn: Callable[..., np.ndarray],
    inputs: Mapping[str, Distribution],
    *,
    seed: int,
    n: int = 4096,
    second_order: bool = False,
    gradient: Callable[..., Mapping[str, np.ndarray]] | None = None,
    groups: Mapping[str, str] | None = None,
    resamples: int = 100,
    conf_level: float = 0.95,
    tolerance: float = 0.05,
    engine: str = "vrest",
    name: str = "function",
) -> SensitivityResult:
    """The same pipeline for any vectorised function ``fn(**inputs) -> output``.

    ``inputs`` maps names to distributions (:mod:`.distributions`); ``gradient(**inputs)``
    (optional) returns d output / d input by name for the cross-check; ``groups`` maps
    input names to group names.
    """
    t_start = time.perf_counter()
    opts = options(n, seed, second_order, resamples, conf_level, tolerance, engine)
    groups = dict(groups or {})
    varied = tuple(VariedInput(k, d, group=groups.get(k, "")) for k, d in inputs.items())

    def run(x: dict) -> Evaluation:
        v = np.asarray(fn(**x), dtype=float)
        bad = int(np.count_nonzero(~np.isfinite(v)))
        return Evaluation(
            np.where(np.isfinite(v), v, np.nan),
            np.ones(v.shape, int),
            Counter({"non-finite output": bad} if bad else {}),
        )

    grad = None if gradient is None else (lambda x, v: dict(gradient(**x)))
    blocks, times = _run_blocks([(Problem(name, varied, run, grad), (), None)], opts, lambda _: None)
    described = [{"name": x.name, **x.dist.describe(), "group": x.group} for x in varied]
    return _result(blocks, opts, times, t_start, {"scenarios": [{"name": name, "inputs": described}]}, "the output")
