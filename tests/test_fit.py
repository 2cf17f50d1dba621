"""Fitting: parameter recovery with interval coverage, outputs, CLI contract and bad input."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import vrest
from vrest.cli import main
from vrest.data import load_recordings
from vrest.inference.fit import FitSettings, fit

DATA = Path(__file__).resolve().parents[1] / "data"
GELBAND = DATA / "gelband1972_human_atrium_fig6.csv"
FAST = dict(chains=2, draws=400, tune=400, progress=False)


def simulated_recordings(seed: int, n_per_level: int = 3) -> pd.DataFrame:
    """GHK + pump data with an informative design: a K_o series, Na-free and low-Cl rows."""
    rng = np.random.default_rng(seed)
    truth = dict(p_na=0.05, p_cl=0.3, pump_mv=4.0)
    k_o = np.repeat(np.geomspace(1, 80, 8), n_per_level)
    rows = [pd.DataFrame({"K_o_mM": k_o, "Na_o_mM": 150 - k_o, "Cl_o_mM": 110.0, "condition": "K series"}),
            pd.DataFrame({"K_o_mM": np.repeat([2.0, 5.0, 20.0], n_per_level), "Na_o_mM": 1.0, "Cl_o_mM": 110.0,
                          "condition": "Na-free"}),
            pd.DataFrame({"K_o_mM": np.repeat([2.0, 5.0, 20.0], n_per_level), "Na_o_mM": 145.0, "Cl_o_mM": 5.0,
                          "condition": "low Cl"})]  # fmt: skip
    table = pd.concat(rows, ignore_index=True)
    v = vrest.predict("ghk", k_o=table["K_o_mM"].to_numpy(), na_o=table["Na_o_mM"].to_numpy(),
                      cl_o=table["Cl_o_mM"].to_numpy(), **truth)  # fmt: skip
    table["V_m_mV"] = v + rng.normal(0, 1.5, v.size)
    return table, truth


@pytest.fixture(scope="module")
def recovered():
    table, truth = simulated_recordings(seed=12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(load_recordings(table), FitSettings(model="ghk", seed=0, **FAST))
    return result, truth


def test_structure_is_full_rank_with_na_free_and_low_cl(recovered):
    result, _ = recovered
    assert result.laplace.rank == 3
    assert all(line.startswith(("sensitivity", "identified")) for line in result.structure)


def test_parameters_recovered_within_three_posterior_sd(recovered):
    result, truth = recovered
    s = result.summary.set_index("parameter")
    for name, value in {**truth, "sigma_mv": 1.5}.items():
        assert abs(s.loc[name, "mean"] - value) < 3 * s.loc[name, "sd"], (name, s.loc[name, ["mean", "sd"]].tolist())
    assert int(result.idata.sample_stats["diverging"].sum()) == 0
    assert s["r_hat"].max() < 1.02


def test_usual_protocol_is_rank_two_and_says_so():
    k_o = np.geomspace(1, 100, 12)
    table = pd.DataFrame({"K_o_mM": k_o, "V_m_mV": vrest.predict("ghk", k_o=k_o, na_o=150 - k_o, pump_mv=3.0)})
    from vrest.inference.design import build_design
    from vrest.inference.identifiability import describe, laplace_fit
    from vrest.inference.priors import fitted_priors

    priors = fitted_priors("ghk")
    design = build_design(load_recordings(table), "ghk", [p.name for p in priors], preset="mammalian_neuron",
                          settings={"k_replaces_na": True})  # fmt: skip
    lap = laplace_fit(design, priors)
    assert lap.rank == 2 and lap.condition_number > 1e10
    assert any("NOT identifiable" in line for line in describe(lap, priors))


def run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def gelband_fit(tmp_path_factory):
    out = tmp_path_factory.mktemp("fits") / "gelband_ghk"
    code = main(["fit", str(GELBAND), "--model", "ghk", "--out", str(out), "--seed", "0", "--preset", "cardiac_myocyte",
                 "--error-column", "err_mV", "--error-kind", "sem", "--k-replaces-na",
                 "--chains", "2", "--draws", "300", "--tune", "300"])  # fmt: skip
    return code, out


def test_fit_cli_writes_the_contracted_outputs(gelband_fit):
    code, out = gelband_fit
    assert code == 0
    assert {p.name for p in out.iterdir()} >= {"posterior.nc", "summary.csv", "fit.json", "predictive_grid.csv"}
    summary = pd.read_csv(out / "summary.csv")
    for col in ["parameter", "mean", "sd", "q2.5", "q5", "q50", "q95", "q97.5", "r_hat", "ess_bulk", "ess_tail"]:
        assert col in summary.columns
    assert summary["parameter"].tolist() == ["p_na", "p_cl", "pump_mv", "sigma_mv"]
    info = json.loads((out / "fit.json").read_text())
    assert info["seed"] == 0 and info["data"]["sha256"] == load_recordings(GELBAND).sha256
    assert any(a["input"] == "k_i" for a in info["assumptions"])
    import xarray as xr

    tree = xr.open_datatree(out / "posterior.nc")
    assert {"posterior", "posterior_predictive", "log_likelihood", "observed_data"} <= set(tree.children)


def test_posterior_file_matches_xarrays_own_writer(gelband_fit, tmp_path):
    """write_netcdf skips only xarray's dask-scheduler lookup: the file reads back as DataTree.to_netcdf's does."""
    import xarray as xr

    from vrest.folders import write_netcdf

    with xr.open_datatree(gelband_fit[1] / "posterior.nc") as opened:
        tree = opened.load()
    observed = tree["observed_data"].to_dataset()
    labels = np.array([f"row \u00e9 {i}" for i in range(observed.sizes["obs"])], dtype=object)  # string labels
    tree["observed_data"] = xr.DataTree(observed.assign_coords(label=("obs", labels)))
    tree.to_netcdf(tmp_path / "xarray.nc", engine="h5netcdf")
    write_netcdf(tree, tmp_path / "vrest.nc")
    with xr.open_datatree(tmp_path / "vrest.nc") as ours, xr.open_datatree(tmp_path / "xarray.nc") as theirs:
        assert ours.groups == theirs.groups
        for group in theirs.groups:
            assert ours[group].to_dataset().identical(theirs[group].to_dataset()), group


def test_fit_is_reproducible_with_seed_zero(gelband_fit, tmp_path):
    _, first = gelband_fit
    again = tmp_path / "again"
    main(["fit", str(GELBAND), "--model", "ghk", "--out", str(again), "--seed", "0", "--preset", "cardiac_myocyte",
          "--error-column", "err_mV", "--error-kind", "sem", "--k-replaces-na",
          "--chains", "2", "--draws", "300", "--tune", "300"])  # fmt: skip
    a = pd.read_csv(first / "summary.csv")
    b = pd.read_csv(again / "summary.csv")
    pd.testing.assert_frame_equal(a, b)


def test_existing_output_needs_force_and_is_untouched(gelband_fit, capsys):
    _, out = gelband_fit
    before = (out / "summary.csv").read_bytes()
    code, _, err = run(["fit", GELBAND, "--model", "ghk", "--out", out], capsys)
    assert code == 2 and "--force" in err and err.count("\n") == 1
    assert (out / "summary.csv").read_bytes() == before


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("K_o_mM,V_m_mV\n5,-0.07\n10,-0.06\n", "volts"),
        ("K_o_mM,Vm\n5,-70\n10,abc\n", "row 3"),
        ("K_o_mM;V_m_mV\n5;-70\n", "comma"),
        ("", "empty"),
    ],
)
def test_bad_data_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, content, expected):
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    out = tmp_path / "out"
    code, _, err = run(["fit", bad, "--model", "ghk", "--out", out], capsys)
    assert code == 2 and expected in err and err.count("\n") == 1 and str(bad) in err
    assert not out.exists()


def test_unknown_model_and_preset_exit_2(tmp_path, capsys):
    code, _, err = run(["fit", GELBAND, "--model", "nope", "--out", tmp_path / "o"], capsys)
    assert code == 2 and "--model" in err
    code, _, err = run(["fit", GELBAND, "--model", "ghk", "--preset", "nope", "--out", tmp_path / "o"], capsys)
    assert code == 2 and "preset" in err and not (tmp_path / "o").exists()


def test_compare_ranks_models_of_the_same_data(gelband_fit, tmp_path, capsys):
    _, ghk_out = gelband_fit
    mn_out = tmp_path / "mn"
    code = main(["fit", str(GELBAND), "--model", "mullins-noda", "--out", str(mn_out), "--preset", "cardiac_myocyte",
                 "--error-column", "err_mV", "--error-kind", "sem", "--k-replaces-na",
                 "--chains", "2", "--draws", "300", "--tune", "300"])  # fmt: skip
    assert code == 0
    capsys.readouterr()
    code, _out, _ = run(["compare", ghk_out, mn_out, "--out", tmp_path / "cmp.csv"], capsys)
    assert code == 0
    table = pd.read_csv(tmp_path / "cmp.csv")
    assert {"elpd", "se", "weight"} <= set(table.columns) and table["weight"].sum() == pytest.approx(1.0)
    code, _, err = run(["compare", ghk_out, tmp_path], capsys)
    assert code == 2 and "not a vrest fit folder" in err


@pytest.mark.slow
def test_90_percent_intervals_cover_the_truth_across_data_sets():
    """Coverage over 20 simulated data sets: each 90 % interval should hold the truth ~90 % of the time."""
    hits, total = 0, 0
    for seed in range(20):
        table, truth = simulated_recordings(seed=100 + seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = fit(load_recordings(table), FitSettings(model="ghk", seed=seed, **FAST)).summary.set_index("parameter")
        for name, value in truth.items():
            hits += s.loc[name, "q5"] <= value <= s.loc[name, "q95"]
            total += 1
    # 60 intervals at 90 %: a binomial 99 % range is about 47..58 hits
    assert 47 <= hits <= 59, f"{hits} of {total} intervals cover the truth"


@pytest.mark.slow
def test_estimates_converge_as_data_grow():
    errors = []
    for n in (1, 4, 16):
        table, _truth = simulated_recordings(seed=7, n_per_level=n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = fit(load_recordings(table), FitSettings(model="ghk", seed=0, **FAST)).summary.set_index("parameter")
        errors.append(s.loc["p_na", "sd"])
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < errors[0] / 2.5  # roughly 1/sqrt(n)


def _design(table: pd.DataFrame, **settings):
    from vrest.inference.design import build_design
    from vrest.inference.priors import fitted_priors

    priors = fitted_priors("ghk")
    return build_design(load_recordings(table), "ghk", [p.name for p in priors], preset="mammalian_neuron",
                        settings=settings), priors  # fmt: skip


def test_single_k_o_level_says_the_ratios_are_not_identifiable():
    from vrest.inference.identifiability import describe, laplace_fit

    v = vrest.predict("ghk", k_o=np.full(6, 5.0)) + np.random.default_rng(0).normal(0, 2, 6)
    design, priors = _design(pd.DataFrame({"K_o_mM": 5.0, "V_m_mV": v}))
    lap = laplace_fit(design, priors)
    lines = describe(lap, priors)
    assert lap.rank == 1 and sum("NOT identifiable" in line for line in lines) == 2


def test_a_single_chain_keeps_its_chain_axis_in_every_group():
    k_o = np.geomspace(1, 100, 8)
    v = vrest.predict("ghk", k_o=k_o, na_o=150 - k_o) + np.random.default_rng(3).normal(0, 1, 8)
    recordings = load_recordings(pd.DataFrame({"K_o_mM": k_o, "V_m_mV": v}))
    result = fit(recordings, FitSettings(model="ghk", seed=0, chains=1, draws=100, tune=100, progress=False,
                                         fixed={"k_replaces_na": True}))  # fmt: skip
    for group in ("posterior", "posterior_predictive", "log_likelihood"):
        assert result.idata[group].sizes["chain"] == 1 and result.idata[group].sizes["draw"] == 100


def test_advice_names_a_condition_that_identifies_the_usual_protocol():
    from vrest.inference.identifiability import advise, laplace_fit

    k_o = np.geomspace(1, 100, 12)
    v = vrest.predict("ghk", k_o=k_o, na_o=150 - k_o, pump_mv=3.0) + np.random.default_rng(1).normal(0, 2, 12)
    design, priors = _design(pd.DataFrame({"K_o_mM": k_o, "V_m_mV": v}), k_replaces_na=True)
    lap = laplace_fit(design, priors)
    advice = advise(design, priors, lap, np.random.default_rng(0))
    na_free = next(line for line in advice if "Na-free" in line)
    assert "pump_mv sd x" in na_free  # the unidentified pump becomes identified
    ratio = float(na_free.split("pump_mv sd x")[1].split()[0])
    assert ratio < 0.5
    assert advise(design, priors, lap, np.random.default_rng(0)) == advice  # seeded: reproducible


def test_one_cell_or_one_row_per_cell_uses_the_pooled_model():
    from vrest.inference.fit import _use_hierarchy

    design, _ = _design(pd.DataFrame({"K_o_mM": [2.0, 5.0, 10.0], "V_m_mV": [-90.0, -75.0, -60.0], "cell": "a"}))
    notes: list[str] = []
    assert _use_hierarchy(design, "auto", notes) is False and "pooled" in notes[0]
    design, _ = _design(pd.DataFrame({"K_o_mM": [2.0, 5.0], "V_m_mV": [-90.0, -75.0], "cell": ["a", "b"]}))
    assert _use_hierarchy(design, "auto", []) is False


def test_very_noisy_data_are_reported_as_uninformative():
    k_o = np.geomspace(2, 20, 8)
    v = vrest.predict("ghk", k_o=k_o) + np.random.default_rng(3).normal(0, 40, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(load_recordings(pd.DataFrame({"K_o_mM": k_o, "V_m_mV": v})), FitSettings(model="ghk", seed=0, **FAST))
    assert any("posterior is about the prior" in p for p in result.problems)


def test_identical_cells_pool_to_a_small_between_cell_spread():
    k_o = np.geomspace(2, 40, 6)
    v = vrest.predict("ghk", k_o=k_o, na_o=150 - k_o, pump_mv=3.0) + np.random.default_rng(5).normal(0, 1.0, 6)
    table = pd.concat([pd.DataFrame({"K_o_mM": k_o, "V_m_mV": v, "cell": f"c{c}"}) for c in range(5)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(load_recordings(table), FitSettings(model="ghk", seed=0, fixed={"k_replaces_na": True},
                                                         hierarchical="yes", **FAST))  # fmt: skip
    assert result.hierarchical
    post = result.idata.posterior
    cells = post["p_na_cell"].values.reshape(-1, 5)
    # identical data: every cell's estimate is the same distribution (to Monte Carlo error)
    assert np.ptp(np.median(cells, axis=0)) < 0.1 * np.median(cells)
    # the spread piles up at zero (a mild funnel): rare divergences may occur and are then reported
    divergences = int(result.idata.sample_stats["diverging"].sum())
    assert divergences <= 4
    assert (divergences == 0) or any("diverged" in p for p in result.problems)


def test_strict_turns_problems_into_exit_3_with_student_t(tmp_path, capsys):
    k_o = np.geomspace(2, 20, 8)
    v = vrest.predict("ghk", k_o=k_o) + np.random.default_rng(3).normal(0, 40, 8)
    data = tmp_path / "noisy.csv"
    pd.DataFrame({"K_o_mM": k_o, "V_m_mV": v}).to_csv(data, index=False)
    out = tmp_path / "out"
    code, stdout, err = run(["fit", data, "--model", "ghk", "--out", out, "--likelihood", "student-t", "--strict",
                             "--chains", "2", "--draws", "300", "--tune", "300"], capsys)  # fmt: skip
    assert code == 3 and "--strict" in err and "WARNING" in stdout
    info = json.loads((out / "fit.json").read_text())  # the results are still written
    assert info["likelihood"] == "student-t" and info["diagnostics"]["problems"]


def test_a_chain_stuck_in_a_minor_local_mode_is_sampled_again_from_the_main_mode():
    """Chain 4 sits 10 log-density units below chains 1-3 with the same spread (about e^-10 of the mass): it is
    replaced by the restart's draws, the restarted chain starts among the main mode's draws, and the fit says so.
    A chain 2.7 units below (a mode holding about 7 % of the mass) is kept."""
    import xarray as xr

    from vrest.inference.design import build_design
    from vrest.inference.fit import _restart_local_modes
    from vrest.inference.identifiability import laplace_fit
    from vrest.inference.model_data import model_data
    from vrest.inference.priors import fitted_priors

    table, _ = simulated_recordings(seed=1)
    priors = fitted_priors("ghk")
    design = build_design(load_recordings(table), "ghk", [p.name for p in priors], preset="mammalian_neuron")
    spec = model_data(design, priors, laplace_fit(design, priors))
    rng = np.random.default_rng(0)
    names = [*spec.start, "sigma_mv_log__"]
    centre = {k: np.ravel(spec.start.get(k, 0.5)) for k in names}

    def trace(chains: int, shift: float) -> xr.DataTree:
        post = {k: (("chain", "draw", f"{k}_dim")[: 2 + (v.size > 1)],
                    (v + shift + rng.normal(0, 0.05, (chains, 300, v.size))).squeeze(-1) if v.size == 1
                    else v + shift + rng.normal(0, 0.05, (chains, 300, v.size))) for k, v in centre.items()}  # fmt: skip
        stats = {"logp": (("chain", "draw"), rng.normal(-10.0 - 3 * shift, 1.0, (chains, 300))),
                 "diverging": (("chain", "draw"), np.zeros((chains, 300), bool))}  # fmt: skip
        return xr.DataTree.from_dict({"posterior": xr.Dataset(post), "sample_stats": xr.Dataset(stats)})

    idata = xr.DataTree.from_dict({g: trace(3, 0.0)[g].to_dataset() for g in ("posterior", "sample_stats")})
    stuck = trace(1, 10 / 3)
    for g in ("posterior", "sample_stats"):
        idata[g] = xr.DataTree(xr.concat([idata[g].to_dataset(), stuck[g].to_dataset()], dim="chain"))
    starts, again = [], trace(1, 0.0)

    def sample(model, chains):
        starts.append(model.initial_point_func(0))
        assert chains == 1
        return again

    note = _restart_local_modes(idata, spec, FitSettings(model="ghk", seed=0, progress=False), sample)
    assert note.startswith("chain(s) 4 settled in a local mode (10 log-density units below")
    for k in names:
        np.testing.assert_array_equal(idata.posterior[k].values[3], again.posterior[k].values[0])
    first = names[0]
    assert np.all(np.abs(starts[0][: np.size(spec.start[first])] - centre[first]) < 0.05 * 2 * 2 + 1e-9)
    np.testing.assert_array_equal(idata.sample_stats["logp"].values[3], again.sample_stats["logp"].values[0])
    balanced = xr.DataTree.from_dict({g: xr.concat([trace(3, 0.0)[g].to_dataset(), trace(1, 0.9)[g].to_dataset()],
                                                   dim="chain") for g in ("posterior", "sample_stats")})  # fmt: skip
    assert _restart_local_modes(balanced, spec, FitSettings(model="ghk", seed=0, progress=False), sample) is None
