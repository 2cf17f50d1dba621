"""Exact leave-one-out where PSIS-LOO fails: influential points are refitted at fit time and the comparison uses them."""

from __future__ import annotations

import warnings

import arviz_stats as azs
import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp

import vrest
from vrest.inference.compare import compare_fits
from vrest.inference.reloo import GROUP, PARETO_K, REFIT_CHAINS, exact_loo


def test_an_outlier_is_refitted_exactly_and_its_elpd_replaces_the_psis_estimate(tmp_path):
    rng = np.random.default_rng(3)
    k_o = np.repeat([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0], 2)
    v = vrest.predict("ghk", k_o=k_o, na_o=145.0 - k_o, p_na=0.03, p_cl=0.2, pump_mv=3.0) + rng.normal(0, 0.5, k_o.size)
    v[-1] += 15.0  # one gross outlier at the highest K_o: influential
    pd.DataFrame({"K_o_mM": k_o, "V_m_mV": v}).to_csv(tmp_path / "data.csv", index=False)
    data = vrest.load_recordings(tmp_path / "data.csv")
    result = vrest.fit(data, "ghk", fixed={"k_replaces_na": True, "k_o_reference": 0.0}, progress=False)
    assert any("exact leave-one-out by refitting without observation(s) 13" in n for n in result.notes)
    assert not any("the refit without" in p for p in result.problems)  # the refit's own diagnostics are checked
    tree = result.posterior
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        psis = azs.loo(tree, pointwise=True)
    assert psis.pareto_k.values[13] > PARETO_K
    exact = exact_loo(tree)
    stored = tree[GROUP]["v_m"].sel(obs=13).values.ravel()
    assert tree[GROUP].sizes["chain"] == REFIT_CHAINS < tree["posterior"].sizes["chain"]  # the refit's own chains
    # log mean p(y_13 | y_-13); arviz's and SciPy's logsumexp may differ in the last bit (it did between machines)
    assert exact.elpd_i.values[13] == pytest.approx(logsumexp(stored) - np.log(stored.size), rel=1e-14, abs=0)
    assert exact.elpd_i.values[13] < psis.elpd_i.values[13] - 5.0  # PSIS was far too optimistic here
    assert (exact.pareto_k.values <= PARETO_K).all()
    np.testing.assert_allclose(np.delete(exact.elpd_i.values, 13), np.delete(psis.elpd_i.values, 13))
    vrest.write_fit(result, data, tmp_path / "ghk")  # the refits travel with the fit folder into every comparison
    again = vrest.read_fit(tmp_path / "ghk")
    assert exact_loo(again.tree).elpd == exact.elpd
    table = compare_fits([again, again])
    assert (table["pareto_k_above_0.7"] == 0).all() and table["elpd"].iloc[0] == exact.elpd  # not rounded


def test_the_comparison_in_words_separates_by_twice_the_standard_error_of_the_difference():
    """arviz_stats gives elpd_diff <= 0 for the models behind the best: 15 +/- 4 behind is clearly worse, 1 +/- 1.5 not."""
    from vrest.inference.compare import verdict

    table = pd.DataFrame({"fit": ["a", "b", "c"], "elpd": [-37.0, -38.0, -52.0], "se": [1.7, 1.6, 5.4],
                          "elpd_diff": [0.0, -1.0, -15.0], "dse": [0.0, 1.5, 4.0], "weight": [0.9, 0.1, 0.0],
                          "pareto_k_above_0.7": [0, 0, 0], "converged": [True, True, True]})  # fmt: skip
    lines = verdict(table)
    assert lines[1] == "not separable from it (elpd difference within 2 standard errors): b (-1.0 +/- 1.5)"
    assert lines[2] == "clearly worse (more than 2 standard errors): c (-15.0 +/- 4.0)"


def test_a_best_ranked_fit_that_misses_the_data_yields_to_an_adequate_fit_loo_cannot_separate_from_it():
    """Gelband (issue 18 item 7): ghk ranks first by PSIS-LOO but its curve misses the data (adequacy flagged);
    rectifying-kir follows them 2.0 +/- 1.7 elpd behind: it is the favoured fit. Not when the adequate fit is more
    than twice the standard error behind, nor when it did not converge, nor for a table without adequacy flags."""
    from vrest.inference.compare import favoured, verdict

    table = pd.DataFrame({"fit": ["ghk", "mullins-noda", "kir", "chord"], "elpd": [-37.6, -38.5, -39.6, -45.2],
                          "se": [1.8, 1.7, 2.7, 5.4], "elpd_diff": [0.0, -0.9, -2.0, -7.7], "dse": [0.0, 1.5, 1.7, 4.1],
                          "weight": [0.9, 0.1, 0.0, 0.0], "pareto_k_above_0.7": [0, 0, 0, 0],
                          "converged": [True] * 4, "adequacy_flagged": [True, True, False, True]})  # fmt: skip
    assert favoured(table) == "kir"
    assert verdict(table)[-2:] == ["missing the data systematically (adequacy checks): ghk, mullins-noda, chord",
                                   "favoured: kir, the best-ranked fit whose curve follows the data (PSIS-LOO does "
                                   "not separate it from ghk)"]  # fmt: skip
    assert favoured(table.assign(dse=[0.0, 1.5, 0.9, 4.1])) == "ghk"  # 2.0 behind, more than 2 x 0.9
    assert favoured(table.assign(converged=[True, True, False, True])) == "ghk"
    assert favoured(table.assign(adequacy_flagged=[None] * 4)) == "ghk"  # fit.json written before adequacy
    assert favoured(table.drop(columns="adequacy_flagged")) == "ghk"
    assert not any(line.startswith("favoured") for line in verdict(table.drop(columns="adequacy_flagged")))


def test_a_refit_sampled_with_problems_is_a_warning_naming_its_row_and_why():
    from vrest.inference.reloo import refit_problem

    assert refit_problem(4, 0, 4000, 1.004) is None
    assert refit_problem(4, 3, 4000, 1.004) == ("exact leave-one-out: the refit without observation 4 had 3 divergent "
                                                "transition(s) in 4000 draws: its elpd, and the model comparison, may "
                                                "be off")  # fmt: skip
    assert "R-hat 1.030 > 1.01 (chains disagree)" in refit_problem(0, 0, 4000, 1.03)
    assert "R-hat nan" in refit_problem(0, 0, 4000, float("nan"))  # a refit whose R-hat cannot be computed is not trusted
