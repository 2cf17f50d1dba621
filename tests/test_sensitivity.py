"""Sobol' sensitivity: estimators against SALib, analytic indices, the derivative cross-check, reproducibility."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import random_inputs

import vrest
from vrest.models.kir_states import kir_stable_state
from vrest.sensitivity import LogNormal, Normal, TruncNormal, Uniform, sobol_analysis, sobol_function
from vrest.sensitivity.analysis import options
from vrest.sensitivity.estimators import bootstrap_counts, normal_quantile, sobol_estimates
from vrest.sensitivity.evaluate import evaluate
from vrest.sensitivity.sampling import saltelli_design
from vrest.sensitivity.scenarios import Scenario, bundled_scenario, scenario_from_table

A, B = 7.0, 0.1
PI = math.pi


def ishigami(x1, x2, x3):
    return np.sin(x1) + A * np.sin(x2) ** 2 + B * x3**4 * np.sin(x1)


def ishigami_gradient(x1, x2, x3):
    return {"x1": np.cos(x1) * (1 + B * x3**4), "x2": 2 * A * np.sin(x2) * np.cos(x2), "x3": 4 * B * x3**3 * np.sin(x1)}


def ishigami_exact() -> tuple[np.ndarray, np.ndarray]:
    """Analytic S1 and ST of the Ishigami function (a = 7, b = 0.1) on [-pi, pi]^3."""
    v1 = 0.5 * (1 + B * PI**4 / 5) ** 2
    v2 = A**2 / 8
    v13 = B**2 * PI**8 * (1 / 18 - 1 / 50)
    v = v1 + v2 + v13
    return np.array([v1, v2, 0.0]) / v, np.array([v1 + v13, v2, v13]) / v


UNIT_PI = Uniform(-PI, PI)
ISHIGAMI_INPUTS = {"x1": UNIT_PI, "x2": UNIT_PI, "x3": UNIT_PI}


def _values(df: pd.DataFrame, index: str, k_o=None) -> pd.DataFrame:
    rows = df[(df["index"] == index) & (df["K_o_mM"].isna() if k_o is None else df["K_o_mM"] == k_o)]
    return rows.set_index("input")


# --- the estimators are SALib's, on SALib's samples ---------------------------------------------


@pytest.mark.parametrize("second_order", [False, True])
@pytest.mark.parametrize("groups", [None, ["g1", "x2", "g1", "x4"]])
def test_design_is_salib_sample_bit_for_bit(second_order, groups):
    from SALib.sample import sobol as salib_sample

    names = ["x1", "x2", "x3", "x4"]
    problem = {"num_vars": 4, "names": names, "bounds": [[-PI, PI], [0, 1], [2, 5], [-1, 0]]}
    factors = ((0,), (1,), (2,), (3,))
    if groups:
        problem["groups"] = groups
        factors = ((0, 2), (1,), (3,))
    x = salib_sample.sample(problem, 64, calc_second_order=second_order, seed=np.random.default_rng(11))
    design = saltelli_design(4, factors, 64, np.random.default_rng(11), second_order)
    unit = design.unit_points().reshape(-1, 4)
    mine = np.column_stack([Uniform(lo, hi).ppf(unit[:, j]) for j, (lo, hi) in enumerate(problem["bounds"])])
    assert np.array_equal(x, mine)
    half = saltelli_design(4, factors, 32, np.random.default_rng(11), second_order)  # the convergence check's N/2
    assert np.array_equal(half.unit_points(), design.unit_points()[:32])


@pytest.mark.parametrize("second_order", [False, True])
def test_estimators_match_salib_analyze_on_the_same_samples(second_order):
    from SALib.analyze import sobol as salib_analyze
    from SALib.sample import sobol as salib_sample

    problem = {"num_vars": 3, "names": ["x1", "x2", "x3"], "bounds": [[-PI, PI]] * 3}
    n = 1024
    y = ishigami(*salib_sample.sample(problem, n, calc_second_order=second_order, seed=np.random.default_rng(3)).T)
    ref = salib_analyze.analyze(problem, y, calc_second_order=second_order, seed=np.random.default_rng(5))
    est = sobol_estimates(
        y.reshape(1, n, -1), np.ones((1, n), bool), 3, second_order, bootstrap_counts(n, 100, np.random.default_rng(5))
    )
    z = normal_quantile(0.95)
    for kind, mine, boot in (("S1", est.s1, est.s1_boot), ("ST", est.st, est.st_boot)):
        np.testing.assert_allclose(mine[0], ref[kind], rtol=0, atol=1e-12)
        np.testing.assert_allclose(z * boot[0].std(axis=0, ddof=1), ref[f"{kind}_conf"], rtol=0, atol=1e-12)
    if second_order:
        j, k = np.array(est.pairs).T
        np.testing.assert_allclose(est.s2[0], ref["S2"][j, k], rtol=0, atol=1e-12)
        np.testing.assert_allclose(z * est.s2_boot[0].std(axis=0, ddof=1), ref["S2_conf"][j, k], rtol=0, atol=1e-12)


def test_per_k_o_estimates_match_salib_level_by_level():
    """The vectorised per-K_o pass against SALib's own sample + analyze at every level (engine='salib')."""
    kw = dict(seed=2, n=256, second_order=True, k_o_grid=[2.0, 3.0, 5.0, 8.0])
    mine = sobol_analysis("ghk", "hyperkalaemia", **kw).indices
    ref = sobol_analysis("ghk", "hyperkalaemia", engine="salib", **kw).indices
    pd.testing.assert_frame_equal(
        mine[["scenario", "K_o_mM", "input", "index", "flag"]], ref[["scenario", "K_o_mM", "input", "index", "flag"]]
    )
    for col in ("value", "ci_low", "ci_high"):
        np.testing.assert_allclose(mine[col], ref[col], rtol=0, atol=1e-12)


def test_cis_are_statistically_consistent_across_bootstrap_seeds():
    """Different resamples give CI half-widths of the same size (the bootstrap SD is itself an estimate)."""
    widths = []
    for seed in (1, 2, 3):
        counts = bootstrap_counts(2048, 200, np.random.default_rng(seed))
        design = saltelli_design(3, ((0,), (1,), (2,)), 2048, np.random.default_rng(0), False)
        y = ishigami(*(UNIT_PI.ppf(design.unit_points())[..., j] for j in range(3)))
        est = sobol_estimates(y[None], np.ones((1, 2048), bool), 3, False, counts)
        widths.append(np.concatenate([est.s1_boot[0].std(0, ddof=1), est.st_boot[0].std(0, ddof=1)]))
    widths = np.array(widths)
    assert np.all(widths.max(axis=0) / widths.min(axis=0) < 1.4)


# --- acceptance: analytic indices through vrest's own pipeline ----------------------------------


def test_ishigami_indices_within_their_cis():
    res = sobol_function(ishigami, ISHIGAMI_INPUTS, seed=0, n=2**13, gradient=ishigami_gradient)
    s1_exact, st_exact = ishigami_exact()
    np.testing.assert_allclose(s1_exact, [0.3139, 0.4424, 0.0], atol=5e-5)
    np.testing.assert_allclose(st_exact, [0.5576, 0.4424, 0.2437], atol=5e-5)
    for kind, exact in (("S1", s1_exact), ("ST", st_exact)):
        rows = _values(res.indices, kind).loc[["x1", "x2", "x3"]]
        assert np.all((rows["ci_low"] <= exact) & (exact <= rows["ci_high"])), (kind, rows, exact)
    # the DGSM bound holds; the linearisation at the centre misses x2 (dV/dx2 = 0 there)
    bound = _values(res.indices, "ST_dgsm_bound").loc[["x1", "x2", "x3"], "value"]
    assert np.all(bound >= st_exact)
    assert "differs_from_S1" in _values(res.indices, "S1_linear").at["x2", "flag"]


def test_additive_linear_function_is_exact_within_ci_and_linearisation_agrees():
    coef = np.array([1.0, -2.0, 0.5, 3.0])
    dists = {"a": Uniform(0, 1), "b": Normal(1.0, 0.5), "c": Uniform(-2, 4), "d": Normal(0.0, 0.1)}
    var = np.array([d.var for d in dists.values()])
    exact = coef**2 * var / np.sum(coef**2 * var)

    def f(a, b, c, d):
        return coef[0] * a + coef[1] * b + coef[2] * c + coef[3] * d

    def grad(a, b, c, d):
        return {name: np.full(np.shape(a), g) for name, g in zip("abcd", coef, strict=True)}

    res = sobol_function(f, dists, seed=0, n=2**12, gradient=grad, second_order=True)
    for kind in ("S1", "ST"):
        rows = _values(res.indices, kind).loc[list("abcd")]
        assert np.all((rows["ci_low"] <= exact) & (exact <= rows["ci_high"])), (kind, rows)
    s2 = _values(res.indices, "S2")
    assert np.all((s2["ci_low"] <= 0) & (s2["ci_high"] >= 0))
    lin = _values(res.indices, "S1_linear").loc[list("abcd")]
    np.testing.assert_allclose(lin["value"], exact, rtol=2e-2)  # up to the sample variance of V
    assert not lin["flag"].str.contains("differs_from_S1").any()
    # DGSM for a linear model: C nu = a^2 (b-a)^2/pi^2 (uniform) or a^2 sd^2 (normal): 12/pi^2 or 1 times ST
    bound = _values(res.indices, "ST_dgsm_bound").loc[list("abcd"), "value"].to_numpy()
    ratio = np.array([12 / PI**2, 1.0, 12 / PI**2, 1.0])
    np.testing.assert_allclose(bound, ratio * exact, rtol=2e-2)


def test_ghk_with_only_k_o_varying_narrowly_is_all_k_o_and_linear():
    table = {"model": "ghk", "inputs": {"k_o": {"dist": "uniform", "low": 4.9, "high": 5.1}}}
    res = sobol_analysis(None, scenario_from_table(table, where="narrow"), seed=0, n=1024)
    s1 = _values(res.indices, "S1").loc["k_o"]
    lin = _values(res.indices, "S1_linear").loc["k_o"]
    assert s1["value"] == pytest.approx(1.0, abs=2e-3)
    assert lin["value"] == pytest.approx(1.0, abs=2e-3)
    assert lin["ci_low"] <= s1["ci_high"] and s1["ci_low"] <= lin["ci_high"]
    assert lin["flag"] == ""


def test_nernst_only_input_reduces_to_rt_over_zf_c():
    """Chord model with K+ alone: V = E_K, dV/dK_o = RT/(F K_o); S1 = S1_linear = 1 over a narrow range."""
    table = {
        "model": "chord",
        "inputs": {"k_o": {"dist": "uniform", "low": 3.9, "high": 4.1}},
        "fixed": {"g_na": 0.0, "g_cl": 0.0},
    }
    scenario = scenario_from_table(table, where="nernst")
    res = sobol_analysis(None, scenario, seed=0, n=512)
    dv = vrest.nernst_gradient_mv(4.0, 140.0, 1, vrest.get_preset("mammalian_neuron").values()["temp_k"])["c_out"]
    sd_v = float(res.summary.iloc[0]["V_sd_mV"])
    expected = float(dv) ** 2 * Uniform(3.9, 4.1).var / sd_v**2
    assert _values(res.indices, "S1_linear").at["k_o", "value"] == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(1.0, abs=1e-3)
    assert _values(res.indices, "S1").at["k_o", "value"] == pytest.approx(1.0, abs=1e-3)


def test_all_inputs_varying_linearised_agrees_where_near_linear_and_says_where_not():
    res = sobol_analysis("ghk", "normokalaemia", seed=0, n=2048, k_o_grid=())
    s1, lin = _values(res.indices, "S1"), _values(res.indices, "S1_linear")
    agree = lin["flag"] == ""
    # inputs that enter V nearly linearly over their ranges agree within the CIs
    for name in ("k_o", "k_i", "na_o", "na_i", "cl_o", "temp_k", "pump_mv", "p_na"):
        assert agree[name], (name, s1.loc[name], lin.loc[name])
        assert s1.at[name, "ci_low"] - 1e-3 <= lin.at[name, "value"] <= s1.at[name, "ci_high"] + 1e-3
    # p_cl (lognormal, curved effect) does not, and the findings say so
    assert not agree["p_cl"]
    assert any("differ beyond the CIs for p_cl" in f for f in res.findings)
    assert any("within its DGSM upper bound" in f for f in res.findings)
    st, bound = _values(res.indices, "ST"), _values(res.indices, "ST_dgsm_bound")
    assert np.all(st["value"] <= bound["value"] + 1e-3)


def test_distributions_moments_and_poincare_constants():
    u = np.linspace(1e-6, 1 - 1e-6, 200001)
    for dist in (Uniform(2, 5), Normal(1, 2), TruncNormal(1, 2, 0, 3), LogNormal(0.04, 0.4)):
        x = dist.ppf(u)
        assert np.mean(x) == pytest.approx(dist.expectation, rel=2e-3)
        assert np.var(x) == pytest.approx(dist.var, rel=2e-2)
    assert Uniform(2, 5).poincare == pytest.approx(9 / PI**2)
    assert TruncNormal(1, 2, 0, 3).poincare == pytest.approx(min(4, 9 / PI**2))
    assert Normal(1, 2).poincare == 4
    assert LogNormal(0.04, 0.4).poincare == pytest.approx(0.16)


# --- honest numbers: failures, multistability, convergence --------------------------------------


def test_failed_runs_are_counted_and_their_rows_left_out_not_hidden():
    def f(a, b):
        out = a + 2 * b
        return np.where(a > 0.97, np.nan, out)

    res = sobol_function(f, {"a": Uniform(0, 1), "b": Uniform(0, 1)}, seed=0, n=1024)
    run = res.info["runs"][0]
    assert run["failed_runs"] > 0
    assert run["failures_by_reason"] == {"non-finite output": run["failed_runs"]}
    assert run["base_rows_excluded"] > 0
    assert int(res.summary.iloc[0]["rows_used"]) == 1024 - run["base_rows_excluded"]
    assert any("runs failed" in f for f in res.findings)
    assert np.isfinite(res.indices[res.indices["index"].isin(["S1", "ST"])]["value"]).all()


def test_model_failures_are_isolated_per_point():
    k_o = np.array([2.0, 4.0, -1.0, 5.0, 0.0])
    ev = evaluate("ghk", {"k_o": k_o}, preset="mammalian_neuron", branch="hyperpolarized")
    assert np.isnan(ev.v[[2, 4]]).all() and np.isfinite(ev.v[[0, 1, 3]]).all()
    assert ev.n_failed == 2 and sum(ev.failures.values()) == 2
    np.testing.assert_array_equal(ev.v[[0, 1, 3]], vrest.predict("ghk", k_o=k_o[[0, 1, 3]]))


@pytest.mark.parametrize("branch", ["hyperpolarized", "depolarized"])
def test_kir_states_are_those_of_the_steady_state_scan(branch):
    x = random_inputs("rectifying-kir", 4000, seed=7)
    x["k_o"] = np.geomspace(0.8, 15.0, 4000)
    _, values = vrest.resolve_inputs("rectifying-kir", x)
    v, n_stable = kir_stable_state(values, branch)
    ss = vrest.steady_states("rectifying-kir", **x)
    stable = np.where(ss.stable, ss.v_mv, np.nan)
    expected = np.nanmin(stable, axis=-1) if branch == "hyperpolarized" else np.nanmax(stable, axis=-1)
    np.testing.assert_array_equal(n_stable, ss.n_stable)
    assert np.max(np.abs(v - expected)) < 1e-8
    assert 0.05 < np.mean(n_stable == 2) < 0.95  # both kinds of point are exercised


def test_kir_without_leak_falls_back_to_the_steady_state_scan():
    k_o = np.array([2.0, 3.5, 5.4])
    ev = evaluate(
        "rectifying-kir", {"k_o": k_o, "g_na": 0.0, "g_cl": 0.0}, preset="mammalian_neuron", branch="hyperpolarized"
    )
    np.testing.assert_allclose(ev.v, vrest.predict("rectifying-kir", k_o=k_o, g_na=0.0, g_cl=0.0), atol=1e-9)
    np.testing.assert_array_equal(
        ev.n_stable, vrest.steady_states("rectifying-kir", k_o=k_o, g_na=0.0, g_cl=0.0).n_stable
    )


def test_kir_multistable_runs_are_counted():
    res = sobol_analysis("rectifying-kir", "normokalaemia", seed=0, n=64, k_o_grid=[3.5])
    whole = res.summary[res.summary["K_o_mM"].isna()].iloc[0]
    assert whole["multistable_runs"] > 0
    assert any("two stable states" in f for f in res.findings)
    level = res.summary[res.summary["K_o_mM"] == 3.5].iloc[0]
    assert level["multistable_runs"] > 0
    # the findings name the state V takes there (the report shows them and no longer repeats the counts)
    said = [f for f in res.findings if "two stable states" in f]
    assert said and all(f.endswith(("V is the hyperpolarized state there.", "V there is the hyperpolarized state."))
                        for f in said), said  # fmt: skip
    depolarised = sobol_analysis("rectifying-kir", "normokalaemia", seed=0, n=64, k_o_grid=[3.5], branch="depolarized")
    assert any("the depolarized state" in f for f in depolarised.findings)


def test_too_small_n_is_reported_with_a_larger_n():
    res = sobol_function(ishigami, ISHIGAMI_INPUTS, seed=0, n=16)
    assert not bool(res.summary.iloc[0]["converged"])
    note = next(f for f in res.findings if "too small" in f)
    assert "--n " in note and "in a study file, n = " in note
    flags = res.indices[res.indices["index"].isin(["S1", "ST"])]["flag"]
    assert flags.str.contains("wide_ci|not_converged").any()


# --- reproducibility -----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 12345])
def test_seeded_runs_are_bit_for_bit_reproducible(seed):
    kw = dict(seed=seed, n=128, second_order=True, k_o_grid=[2.0, 6.0])
    first = sobol_analysis("rectifying-kir", ["hypokalaemia", "hyperkalaemia"], **kw)
    second = sobol_analysis("rectifying-kir", ["hypokalaemia", "hyperkalaemia"], **kw)
    pd.testing.assert_frame_equal(first.indices, second.indices, check_exact=True)
    pd.testing.assert_frame_equal(first.summary, second.summary, check_exact=True)
    assert first.findings == second.findings
    other = sobol_analysis("rectifying-kir", ["hypokalaemia", "hyperkalaemia"], **{**kw, "seed": seed + 1})
    assert not np.array_equal(first.indices["value"], other.indices["value"])


def test_dask_jobs_give_the_same_indices_as_one_process():
    kw = dict(seed=0, n=256, second_order=True, k_o_grid=[2.0, 4.0, 6.0])
    here = sobol_analysis("rectifying-kir", ["hypokalaemia", "hyperkalaemia"], **kw)
    dask = sobol_analysis("rectifying-kir", ["hypokalaemia", "hyperkalaemia"], **kw, scheduler="local", workers=2)
    # the indices bit for bit; their bootstrap CIs to the last bits (BLAS reductions in Dask workers, which run with
    # OMP_NUM_THREADS=1, may sum in another order than this process: seen as 8e-17 on an AMD EPYC machine)
    pd.testing.assert_series_equal(here.indices["value"], dask.indices["value"], check_exact=True)
    pd.testing.assert_frame_equal(here.indices, dask.indices, check_exact=False, rtol=0, atol=1e-12)
    pd.testing.assert_frame_equal(here.summary, dask.summary, check_exact=False, rtol=0, atol=1e-12)
    assert here.findings == dask.findings


def test_seed_zero_is_honoured_and_seed_must_be_explicit():
    assert options(8, 0, False, 100, 0.95, 0.05, "vrest").seed == 0
    a = sobol_function(ishigami, ISHIGAMI_INPUTS, seed=0, n=64)
    b = sobol_function(ishigami, ISHIGAMI_INPUTS, seed=0, n=64)
    pd.testing.assert_frame_equal(a.indices, b.indices, check_exact=True)
    with pytest.raises(TypeError):
        sobol_function(ishigami, ISHIGAMI_INPUTS, n=64)  # no default seed


def test_groups_form_one_factor_each():
    res = sobol_function(ishigami, ISHIGAMI_INPUTS, seed=0, n=2**12, groups={"x1": "x1x3", "x3": "x1x3"})
    s1, st = _values(res.indices, "S1"), _values(res.indices, "ST")
    assert list(s1.index) == ["x1x3", "x2"]
    s1_exact, st_exact = ishigami_exact()
    v13 = st_exact[0] + st_exact[2] - (st_exact[0] - s1_exact[0])  # S1 + S3 + S13 of the group
    assert s1.at["x1x3", "ci_low"] <= v13 <= s1.at["x1x3", "ci_high"]
    assert st.at["x2", "ci_low"] <= st_exact[1] <= st.at["x2", "ci_high"]


def test_per_k_o_block_equals_a_run_at_that_fixed_k_o():
    """Vectorising over K_o levels changes nothing: level 4.0 equals a scenario with K_o fixed at 4.0."""
    res = sobol_analysis("ghk", "normokalaemia", seed=4, n=128, k_o_grid=[3.0, 4.0])
    base = bundled_scenario("normokalaemia", "ghk").without("k_o")
    fixed = Scenario(base.name, base.model, base.inputs, {**base.fixed, "k_o": 4.0}, base.preset)
    single = sobol_analysis(None, fixed, seed=4, n=128, k_o_grid=())
    for kind in ("S1", "ST", "S1_linear", "ST_dgsm_bound"):
        level = _values(res.indices, kind, 4.0)
        alone = _values(single.indices, kind)
        np.testing.assert_allclose(level["value"], alone["value"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(level["ci_high"], alone["ci_high"], rtol=0, atol=1e-12)


@pytest.mark.slow
def test_ci_coverage_over_many_seeds():
    """The 95% CIs of S1 and ST cover the analytic Ishigami indices in (at least) about 95% of seeded runs."""
    s1_exact, st_exact = ishigami_exact()
    hits = []
    for seed in range(40):
        res = sobol_function(ishigami, ISHIGAMI_INPUTS, seed=seed, n=1024)
        for kind, exact in (("S1", s1_exact), ("ST", st_exact)):
            rows = _values(res.indices, kind).loc[["x1", "x2", "x3"]]
            hits += list((rows["ci_low"] <= exact) & (exact <= rows["ci_high"]))
    assert np.mean(hits) >= 0.9
