"""The next experiment (vrest design): scores against closed forms, the K_o-only acceptance case, the command."""

from __future__ import annotations

import importlib
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import vrest
from vrest.data import load_recordings
from vrest.design import Belief, Candidate, fisher, gaussian_gain, greedy, nested_gain, parse_candidates, rank
from vrest.design.candidates import Bath
from vrest.design.plan import LAPLACE, MIN_WEIGHTS_ESS, laplace_score
from vrest.design.scores import batch_se
from vrest.inference.fit import FitSettings, fit

TRUTH = dict(p_na=0.05, p_cl=0.3, pump_mv=4.0)
K_LEVELS = (2.0, 5.0, 10.0, 20.0, 40.0)
NA_PLUS_K = 152.0  # Na_o 150 mM at the lowest K_o (2 mM), K+ replacing Na+


def ko_only_table(seed: int, per_level: int = 3) -> pd.DataFrame:
    """A K_o-only GHK + pump recording (K+ replacing Na+), noise 1 mV."""
    rng = np.random.default_rng(seed)
    k_o = np.repeat(K_LEVELS, per_level)
    v = vrest.predict("ghk", k_o=k_o, na_o=NA_PLUS_K - k_o, **TRUTH)
    return pd.DataFrame({"K_o_mM": k_o, "V_m_mV": v + rng.normal(0.0, 1.0, k_o.size)})


def mixed_candidates(n: int = 3) -> list[Candidate]:
    """Three extra K_o levels in the same saline, Na-free at 5 mM K, low-Cl at 5 mM K."""
    return [Candidate("k_o_3", (3.0,), n=n), Candidate("k_o_7", (7.0,), n=n), Candidate("k_o_14", (14.0,), n=n),
            Candidate("na_free_5", (5.0,), {"na_o": 1.0}, n=n), Candidate("low_cl_5", (5.0,), {"cl_o": 11.0}, n=n)]  # fmt: skip


def base_bath() -> Bath:
    values = {k: float(v) for k, v in vrest.get_preset("mammalian_neuron").values().items() if k != "k_o"}
    return Bath("all", values, NA_PLUS_K, K_LEVELS, 3)


@pytest.fixture(scope="module")
def ko_fit(tmp_path_factory):
    """A NUTS fit of the K_o-only recording (module-wide), its folder and its belief."""
    table = ko_only_table(seed=1)
    folder = tmp_path_factory.mktemp("design")
    table.to_csv(folder / "ko.csv", index=False)
    recordings = load_recordings(folder / "ko.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(recordings, FitSettings(model="ghk", seed=0, chains=2, draws=300, tune=300, progress=False,
                                             fixed={"k_replaces_na": True, "na_o": NA_PLUS_K - K_LEVELS[0]}))  # fmt: skip
    vrest.write_fit(result, recordings, folder / "fit")
    post = result.posterior.posterior
    belief = Belief.from_draws("ghk", result.priors, {p.name: post[p.name].values for p in result.priors},
                               post["sigma_mv"].values, 1000, result.design.inputs, result.design.sem)  # fmt: skip
    return folder, belief


# --------------------------------------------------------------------------- the scores against closed forms


def test_gaussian_gain_is_the_closed_form_of_the_linear_gaussian_case():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 4))
    cov = a @ a.T + 0.5 * np.eye(4)
    jac = rng.normal(size=(1, 6, 4))
    info = fisher(jac, np.array([0.7**2]))[0]
    gain, after = gaussian_gain(cov, info, np.arange(4))
    assert gain == pytest.approx(0.5 * np.linalg.slogdet(np.eye(4) + cov @ info)[1], rel=1e-10)
    exact_after = np.linalg.inv(np.linalg.inv(cov) + info)
    np.testing.assert_allclose(after, exact_after, rtol=1e-9, atol=1e-12)
    targets = np.array([0, 2])
    gain_t, _ = gaussian_gain(cov, info, targets)
    sub = np.ix_(targets, targets)
    expected = 0.5 * (np.linalg.slogdet(cov[sub])[1] - np.linalg.slogdet(exact_after[sub])[1])
    assert gain_t == pytest.approx(expected, rel=1e-10)
    assert 0 < gain_t < gain


def test_nested_monte_carlo_agrees_with_the_closed_form():
    rng = np.random.default_rng(1)
    cov = np.array([[1.0, 0.3, 0.0], [0.3, 0.5, 0.1], [0.0, 0.1, 0.8]])
    theta = rng.multivariate_normal(np.zeros(3), cov, size=4000)
    design = rng.normal(size=(3, 3)) * 0.6
    sigma = np.full(4000, 1.0)
    exact = 0.5 * np.linalg.slogdet(np.eye(3) + cov @ design.T @ design)[1]
    est = nested_gain(theta, theta @ design.T - 70.0, sigma, np.arange(3), 2000, np.random.default_rng(0))
    assert abs(est.gain - exact) < 4 * est.se + 0.05, (est.gain, est.se, exact)
    assert not est.saturated and est.estimator.startswith("nested MC")


def test_expected_sd_after_is_the_closed_form_in_the_linear_gaussian_case():
    """Linear Gaussian: the posterior sd after is the same for every outcome, sqrt(diag((C^-1 + F)^-1))."""
    rng = np.random.default_rng(1)
    cov = np.array([[1.0, 0.3, 0.0], [0.3, 0.5, 0.1], [0.0, 0.1, 0.8]])
    theta = rng.multivariate_normal(np.zeros(3), cov, size=4000)
    design = rng.normal(size=(3, 3)) * 0.6
    exact = np.sqrt(np.diag(np.linalg.inv(np.linalg.inv(cov) + design.T @ design)))
    est = nested_gain(theta, theta @ design.T, np.ones(4000), np.arange(3), 2000, np.random.default_rng(0))
    assert est.weights_ess > MIN_WEIGHTS_ESS
    # the reweighted variance is biased low by about 1/ESS: 2 % allowed besides 4 Monte Carlo se
    assert np.all(np.abs(est.sd_after - exact) < 4 * est.sd_se + 0.02 * exact), (est.sd_after, est.sd_se, exact)
    info = np.broadcast_to(design.T @ design, (10, 3, 3))
    lap = laplace_score(cov[None], info, np.arange(3))
    np.testing.assert_allclose(lap.sd_after, exact, rtol=1e-10)
    np.testing.assert_allclose(lap.sd_spread, [exact, exact], rtol=1e-10)
    assert np.all(lap.sd_se < 1e-12)


def test_laplace_sd_after_is_the_root_of_the_mean_local_variance():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(3, 3))
    cov = a @ a.T + 0.5 * np.eye(3)
    jac = rng.normal(size=(50, 4, 3)) * rng.uniform(0.1, 3.0, size=(50, 1, 1))  # information varying over draws
    info = fisher(jac, np.full(50, 0.5**2))
    est = laplace_score(cov[None], info, np.array([0, 2]))
    var = np.diagonal(np.linalg.inv(np.linalg.inv(cov) + info), axis1=1, axis2=2)[:, [0, 2]]
    np.testing.assert_allclose(est.sd_after, np.sqrt(var.mean(0)), rtol=1e-10)
    np.testing.assert_allclose(est.sd_spread, np.quantile(np.sqrt(var), [0.1, 0.9], axis=0), rtol=1e-10)
    assert np.all(est.sd_se > 0)


def test_batch_means_error_allows_for_autocorrelation():
    from scipy.signal import lfilter

    rng = np.random.default_rng(5)
    n, rho = 40_000, 0.9
    noise = rng.normal(size=n)
    chain = lfilter([1.0], [1.0, -rho], noise) * np.sqrt(1 - rho**2)  # AR(1), unit variance
    # 20 batches: the error estimate itself scatters by about 1/sqrt(2 * 19) = 16 %; 40 % allowed
    assert batch_se(chain) == pytest.approx(np.sqrt((1 + rho) / (1 - rho) / n), rel=0.4)
    assert batch_se(noise) == pytest.approx(1 / np.sqrt(n), rel=0.4)
    assert batch_se(noise[:1]) == 0.0


def test_seeded_nested_estimate_is_reproducible_and_seed_zero_is_valid():
    rng = np.random.default_rng(2)
    theta = rng.normal(size=(500, 2))
    pred = theta @ np.array([[1.0, 0.5]]).T
    one = nested_gain(theta, pred, np.ones(500), np.arange(2), 200, np.random.default_rng(0))
    two = nested_gain(theta, pred, np.ones(500), np.arange(2), 200, np.random.default_rng(0))
    assert one.gain == two.gain and one.se == two.se


# --------------------------------------------------------------------------- the K_o-only acceptance case


def test_new_condition_beats_more_k_o_levels_several_times(ko_fit):
    _, belief = ko_fit
    ranking = rank(belief, mixed_candidates(), base_bath(), seed=0, exact=5)
    best = ranking.rows[0]
    assert best["candidate"] in ("na_free_5", "low_cl_5")
    k_only = max(r["eig_nats"] for r in ranking.rows if r["candidate"].startswith("k_o_"))
    assert best["eig_nats"] > 3 * k_only, ranking.rows
    assert all(r["estimator"].startswith("nested MC") for r in ranking.rows)
    for r in ranking.rows:  # never negative beyond the Monte Carlo error; Laplace never negative
        assert r["eig_nats"] > -2 * r["eig_mc_se"] and r["eig_laplace_nats"] >= 0
        for t in ranking.targets:
            assert r[f"sd_after_{t}"] <= r[f"sd_now_{t}"] * 1.05
    assert ranking.rows[0]["candidate"] in ranking.recommendation


def test_repeating_a_recorded_level_gains_less_than_a_new_condition(ko_fit):
    _, belief = ko_fit
    same = Candidate("again_5", (5.0,), n=3)
    ranking = rank(belief, [same, mixed_candidates()[3]], base_bath(), seed=0, exact=2)
    gains = {r["candidate"]: r["eig_nats"] for r in ranking.rows}
    assert gains["again_5"] < gains["na_free_5"] / 3


def test_replicates_give_diminishing_gains(ko_fit):
    _, belief = ko_fit
    na_free = mixed_candidates(n=1)[3]
    replicated = [Candidate(f"n{n}", na_free.k_o, na_free.inputs, n) for n in range(1, 7)]
    ranking = rank(belief, replicated, base_bath(), seed=0, exact=0)
    gains = {r["candidate"]: r["eig_nats"] for r in ranking.rows}
    steps = np.diff([0.0] + [gains[f"n{n}"] for n in range(1, 7)])  # what each further replicate adds
    assert np.all(steps > 0) and np.all(np.diff(steps) < 0), gains


def test_greedy_choice_is_distinct_with_diminishing_additions(ko_fit):
    _, belief = ko_fit
    ranking = rank(belief, mixed_candidates(), base_bath(), seed=0, exact=0, choose=3)
    chosen = [c["candidate"] for c in ranking.chosen]
    assert len(set(chosen)) == 3 and chosen[0] == ranking.rows[0]["candidate"]
    added = [c["added_nats"] for c in ranking.chosen]
    assert all(a >= 0 for a in added) and added == sorted(added, reverse=True)


def test_sd_after_falls_back_to_laplace_when_the_nested_weights_concentrate(ko_fit):
    _, belief = ko_fit
    many = Candidate("na_free_many", K_LEVELS, {"na_o": 1.0}, n=20)  # posterior after far narrower than the draws
    ranking = rank(belief, [many, mixed_candidates()[0]], base_bath(), seed=0, exact=2)
    rows = {r["candidate"]: r for r in ranking.rows}
    narrow, little = rows["na_free_many"], rows["k_o_3"]
    assert narrow["weights_ess"] < MIN_WEIGHTS_ESS <= little["weights_ess"]
    assert narrow["sd_estimator"].startswith(LAPLACE) and "ESS" in narrow["sd_estimator"]
    assert little["sd_estimator"].startswith("nested MC")
    for t in ranking.targets:
        assert narrow[f"sd_after_{t}"] == narrow[f"sd_after_laplace_{t}"]
        assert narrow[f"sd_after_p10_{t}"] <= narrow[f"sd_after_p90_{t}"]
        # a measurement that adds little (0.2 nats) leaves about the draws' sd (nested MC: no Gaussian posterior)
        assert 0.9 * little[f"sd_now_{t}"] < little[f"sd_after_{t}"] <= 1.01 * little[f"sd_now_{t}"]


def test_pump_block_rows_carry_no_pump_sensitivity(ko_fit):
    _, belief = ko_fit
    from vrest.design import evaluate

    blocked = evaluate(belief, Candidate("block", (5.0,), pump_block=True), base_bath())
    assert np.all(blocked.jac[..., belief.names.index("pump_mv")] == 0)
    free = evaluate(belief, Candidate("free", (5.0,)), base_bath())
    pump = belief.theta[:, belief.names.index("pump_mv"), None]
    np.testing.assert_allclose(blocked.pred, free.pred + pump, atol=1e-9)  # V = V_passive - pump_mv


def test_ranking_twenty_candidates_takes_seconds(ko_fit):
    _, belief = ko_fit
    candidates = [Candidate(f"k{i}", (1.0 + i, 30.0 + i), {"cl_o": 20.0 + 5 * i}, n=3) for i in range(20)]
    ranking = rank(belief, candidates, base_bath(), seed=0, exact=3, choose=3)
    assert ranking.timings["total_s"] < 10.0, ranking.timings
    assert len(ranking.rows) == 20


def test_greedy_of_gaussian_infos_matches_direct_sum():
    cov = np.diag([1.0, 2.0])
    infos = [np.broadcast_to(np.diag(d), (5, 2, 2)) for d in ([4.0, 0.0], [0.0, 4.0], [1.0, 1.0])]
    chosen = greedy(cov[None], infos, np.arange(2), ["a", "b", "c"], 2)
    assert [c["candidate"] for c in chosen] == ["b", "a"]
    total = 0.5 * np.linalg.slogdet(np.eye(2) + cov @ np.diag([4.0, 4.0]))[1]
    assert chosen[-1]["eig_nats"] == pytest.approx(total)


# --------------------------------------------------------------------------- candidates files and the command


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_candidates_file_is_read_with_the_condition_keys(tmp_path):
    import tomllib

    raw = tomllib.loads("[candidates.warm_na_free]\nna_o = 1.0\ntemp_c = 37\nk_o_mM = [2, 5]\nn = 4\n"
                        "[candidates.block]\nk_o_mM = 5\npump_block = true\n")  # fmt: skip
    warm, block = parse_candidates(raw, "c.toml")
    assert warm.k_o == (2.0, 5.0) and warm.n == 4 and warm.inputs["temp_k"] == pytest.approx(310.15)
    assert block.pump_block and block.k_o == (5.0,) and block.n == 1


@pytest.mark.parametrize(("text", "needle"), [
    ("[candidates.a]\nk_o_mM = [5]\nna_oo = 1\n", "candidates.a: unknown key 'na_oo'; did you mean 'na_o'?"),
    ("[candidates.a]\nk_o_mM = [5, 0]\n", "candidates.a: k_o_mM: expected K_o levels > 0 mM"),
    ("[candidates.a]\nk_o_mM = [-1]\n", "candidates.a: k_o_mM"),
    ("[candidates]\n", "candidates: expected at least one [candidates.<name>] table"),
    ("title = 'x'\n", "unknown key 'title'"),
    ("[candidates.a]\nna_o = 1\n", "candidates.a: k_o_mM: required"),
    ("[candidates.a]\nk_o_mM = [5]\nn = 0\n", "candidates.a: n: expected a whole number"),
])  # fmt: skip
def test_bad_candidates_file_is_one_line_exit_2(tmp_path, capsys, text, needle):
    path = write(tmp_path / "cands.toml", text)
    code = run_cli(["design", str(tmp_path / "no-fit"), "--candidates", str(path), "--out", str(tmp_path / "d")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and str(path) in err and needle in err, err
    assert not (tmp_path / "d").exists()


def run_cli(argv: list[str]) -> int:
    main = importlib.import_module("vrest.cli.main")
    if "design" not in main.FAMILIES:  # until the lead registers the family
        main.FAMILIES = (*main.FAMILIES, "design")
    return main.main(argv)


def test_command_writes_the_design_folder(ko_fit, tmp_path, monkeypatch, capsys):
    folder, _ = ko_fit
    monkeypatch.chdir(folder)
    cands = write(tmp_path / "c.toml", "[candidates.more_k]\nk_o_mM = [3, 7, 14]\nn = 3\n"
                  "[candidates.na_free]\nk_o_mM = [5]\nna_o = 1\nn = 3\n"
                  "[candidates.low_cl]\nk_o_mM = [5]\ncl_o = 11\nn = 3\n")  # fmt: skip
    out = tmp_path / "design"
    assert run_cli(["design", "fit", "--candidates", str(cands), "--out", str(out), "--choose", "2"]) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(out / "design.csv")
    assert list(table.columns[:5]) == ["candidate", "rank", "eig_nats", "eig_mc_se", "estimator"]
    assert {"sd_after_p_na", "sd_now_pump_mv"} <= set(table.columns)
    assert table.loc[0, "candidate"] in ("na_free", "low_cl")
    info = json.loads((out / "design.json").read_text())
    assert info["settings"]["seed"] == 0 and info["recommendation"] in printed and len(info["chosen"]) == 2
    assert info["settings"]["current_covariance"].startswith("local Laplace")
    assert (out / "design.png").read_bytes()[:4] == b"\x89PNG"
    assert run_cli(["design", "fit", "--out", str(out)]) == 2  # exists: --force needed
    assert "use --force" in capsys.readouterr().err
    assert run_cli(["design", "fit", "--out", str(out), "--force", "--targets", "p_na"]) == 0  # default candidates
    table = pd.read_csv(out / "design.csv")
    assert {"na_free", "low_cl", "pump_block", "k_o_between"} <= set(table["candidate"])
    assert "sd_after_p_cl" not in table
    (out / "mine.txt").write_text("x")
    assert run_cli(["design", "fit", "--out", str(out), "--force"]) == 2  # not only vrest's files
    assert run_cli(["design", "fit", "--out", str(tmp_path / "e"), "--targets", "k_i"]) == 2


# --------------------------------------------------------------------------- realised against predicted


@pytest.mark.slow
def test_chosen_measurement_shrinks_the_posterior_as_predicted(ko_fit, tmp_path):
    _, belief = ko_fit
    ranking = rank(belief, mixed_candidates(), base_bath(), seed=0, exact=5)
    by_name = {c.name: c for c in mixed_candidates()}
    best = ranking.rows[0]
    best_k = next(r for r in ranking.rows if r["candidate"].startswith("k_o_"))
    rng = np.random.default_rng(5)
    realised = {}
    for row in (best, best_k):
        cand = by_name[row["candidate"]]
        rows, _ = cand.rows(base_bath(), "ghk", tuple(belief.names))
        v = vrest.predict("ghk", **rows, **TRUTH) + rng.normal(0, 1.0, rows["k_o"].size)
        extra = pd.DataFrame({"K_o_mM": rows["k_o"], "Na_o_mM": rows["na_o"], "Cl_o_mM": rows["cl_o"], "V_m_mV": v,
                              "condition": "new"})  # fmt: skip
        old = ko_only_table(seed=1)
        old = old.assign(Na_o_mM=NA_PLUS_K - old["K_o_mM"], Cl_o_mM=base_bath().values["cl_o"], condition="old")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = fit(load_recordings(pd.concat([old, extra], ignore_index=True)),
                      FitSettings(model="ghk", seed=0, chains=2, draws=500, tune=500, progress=False))  # fmt: skip
        post = res.posterior.posterior
        realised[row["candidate"]] = {t: float(np.log(post[t]).std()) if t != "pump_mv" else float(post[t].std())
                                      for t in ranking.targets}  # fmt: skip
    for t in ranking.targets:
        assert realised[best["candidate"]][t] < realised[best_k["candidate"]][t]
        # one truth is one point of the current posterior: its sd after lies in the predicted 10-90% range over the
        # draws, widened by 30% for the scatter of one noise realisation and of the refit's sd
        lo, hi = best[f"sd_after_p10_{t}"] / 1.3, best[f"sd_after_p90_{t}"] * 1.3
        assert lo < realised[best["candidate"]][t] < hi, (t, realised, best)
