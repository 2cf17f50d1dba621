"""Posterior-propagated uncertainty: `vrest sensitivity --posterior FITDIR` draws the fitted parameters jointly."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import vrest
from vrest.cli import main
from vrest.sensitivity import Scenario, bundled_scenario, sobol_analysis
from vrest.sensitivity.posterior import GROUP, DrawIndex, load_fit

STUDY = Path(__file__).resolve().parents[1] / "data" / "studies" / "gelband1972_atrium.toml"


def fake_fit(folder: Path, draws: dict[str, np.ndarray], model: str = "ghk") -> Path:
    """A folder shaped like `vrest fit` output: fit.json, the tables and a posterior.nc with 2 chains."""
    from vrest.folders import FIT_FILES, FORMAT

    folder.mkdir(parents=True)
    ds = xr.Dataset({k: (("chain", "draw"), np.asarray(v, float).reshape(2, -1)) for k, v in draws.items()})
    observed = xr.Dataset({"v_m": (("obs",), np.array([-80.0, -60.0]))})
    xr.DataTree.from_dict({"posterior": ds, "observed_data": observed}).to_netcdf(folder / "posterior.nc")
    for name in FIT_FILES[2:]:
        (folder / name).write_text("x\n1\n")
    info = {"format": FORMAT, "model": model, "data": {"sha256": "abc123"}, "preset": "x", "prior_specs": [],
            "settings": {}, "assumptions": []}  # fmt: skip
    (folder / "fit.json").write_text(json.dumps(info))
    return folder


def correlated_draws(n: int = 40) -> dict[str, np.ndarray]:
    """p_na and pump_mv strongly correlated (pump_mv rises with p_na), plus sigma_mv (not a model input)."""
    p_na = np.geomspace(0.01, 0.1, n)
    return {"p_na": p_na, "pump_mv": 2.0 + 40.0 * p_na, "sigma_mv": np.full(n, 2.0)}


def test_the_group_draws_whole_posterior_draws_and_keeps_their_correlation(tmp_path):
    draws = correlated_draws()
    fit = load_fit(fake_fit(tmp_path / "fit", draws), "ghk")
    assert set(fit.draws) == {"p_na", "pump_mv"} and fit.n_draws == 40
    u = np.random.default_rng(0).random(1000)
    picked = fit.values_at(DrawIndex(fit.n_draws).ppf(u))
    pairs = set(zip(draws["p_na"], draws["pump_mv"], strict=True))
    assert set(zip(picked["p_na"], picked["pump_mv"], strict=True)) <= pairs
    assert np.corrcoef(picked["p_na"], picked["pump_mv"])[0, 1] > 0.99
    centre = fit.values_at(np.array([np.nan]))
    assert centre["p_na"][0] == pytest.approx(draws["p_na"].mean())


def test_with_the_other_inputs_fixed_v_is_v_at_the_draws_and_the_posterior_carries_all_variance(tmp_path):
    draws = correlated_draws()
    folder = fake_fit(tmp_path / "fit", draws)
    scenario = Scenario(name="fixed", model="ghk", inputs=(), fixed={"k_o": 4.0})
    res = sobol_analysis(None, scenario, seed=0, n=64, posterior=folder)
    at_draws = vrest.predict("ghk", k_o=4.0, p_na=draws["p_na"], pump_mv=draws["pump_mv"])
    v = res.v_samples["fixed"]
    assert np.isin(v, at_draws).all()  # every point is a whole draw: no mixed (p_na, pump_mv) pairs
    st = res.indices.query("index == 'ST' and input == @GROUP")["value"].item()
    assert st == pytest.approx(1.0, abs=0.05)  # sampling error only: one factor carries all variance
    band = res.uncertainty.iloc[0]
    assert band.V_q05_mV < band.V_q50_mV < band.V_q95_mV
    assert band.parameter_share == pytest.approx(1.0, abs=0.05)


def test_identical_draws_give_a_nil_posterior_index_and_undefined_derivative_checks(tmp_path):
    folder = fake_fit(tmp_path / "fit", {"p_na": np.full(10, 0.05), "pump_mv": np.full(10, 3.0)})
    res = sobol_analysis("ghk", "hypokalaemia", seed=0, n=64, posterior=folder, k_o_grid=[2.0, 3.0])
    rows = res.indices[res.indices["input"] == GROUP].set_index(["K_o_mM", "index"], drop=False)
    sobol = rows[rows["index"].isin(["S1", "ST"])]
    assert np.abs(sobol["value"]).max() < 1e-12
    checks = rows[rows["index"].isin(["S1_linear", "ST_dgsm_bound"])]
    assert checks["value"].isna().all() and (checks["flag"] == "undefined").all()
    others = res.indices[(res.indices["input"] != GROUP) & (res.indices["index"] == "ST_dgsm_bound")]
    assert others["value"].notna().all()
    assert (res.uncertainty["physiological_share"] > 0.99).all()
    assert any("replaces the scenario's p_na" in f and "pump_mv" in f for f in res.findings)
    assert res.info["posterior"]["data_sha256"] == "abc123" and res.info["posterior"]["n_draws"] == 10


def bad_folders(tmp_path: Path) -> list[Path]:
    missing = tmp_path / "missing"
    empty = tmp_path / "empty"
    empty.mkdir()
    other = fake_fit(tmp_path / "chord", {"g_na": np.full(4, 0.05)}, model="chord")
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "fit.json").write_text('{"model": "ghk"}')
    (garbage / "posterior.nc").write_text("not netcdf")
    return [missing, empty, other, garbage]


def test_bad_fit_folders_are_one_line_errors_naming_the_folder(tmp_path):
    for folder in bad_folders(tmp_path):
        with pytest.raises(ValueError, match=f"^posterior: {folder}: ") as err:
            sobol_analysis("ghk", "hypokalaemia", seed=0, n=16, posterior=folder)
        assert "\n" not in str(err.value)


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def real_fit(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fits") / "gelband"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["fit", "--study", str(STUDY), "--out", str(out), "--seed", "0",
                     "--chains", "2", "--draws", "100", "--tune", "100"])  # fmt: skip
    assert code == 0
    return out


def test_cli_end_to_end_with_a_real_fit_is_reproducible_and_records_the_fit(real_fit, tmp_path, capsys):
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        code, stdout, err = run(["sensitivity", "--model", "ghk", "--scenario", "hypokalaemia", "--n", "64",
                                 "--seed", "0", "--k-o-grid", "2:3.5:3", "--posterior", real_fit, "--out", out,
                                 "--no-figures", "--quiet"], capsys)  # fmt: skip
        assert code == 0, err
    for name in ("indices.csv", "summary.csv", "uncertainty.csv"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes()
    assert "posterior uncertainty of the membrane parameters" in stdout
    info = json.loads((outs[0] / "sensitivity.json").read_text())
    fit_info = json.loads((real_fit / "fit.json").read_text())
    assert info["posterior"]["fit_dir"] == str(real_fit)
    assert info["posterior"]["data_sha256"] == fit_info["data"]["sha256"]
    assert info["posterior"]["n_draws"] == 200
    assert set(info["posterior"]["parameters"]) == {"p_na", "p_cl", "pump_mv"}
    table = pd.read_csv(outs[0] / "uncertainty.csv")
    assert len(table) == 4 and table["K_o_mM"].isna().sum() == 1
    assert (table["V_q05_mV"] < table["V_q50_mV"]).all() and (table["V_q50_mV"] < table["V_q95_mV"]).all()
    indices = pd.read_csv(outs[0] / "indices.csv", keep_default_na=False)
    assert (indices.query("input == @GROUP and index == 'S1_linear'")["flag"] == "undefined").all()


def test_cli_refuses_a_fit_of_another_model_or_a_missing_folder_and_writes_nothing(real_fit, tmp_path, capsys):
    out = tmp_path / "run"
    for model, folder in (("chord", real_fit), ("ghk", tmp_path / "nowhere")):
        code, _, err = run(["sensitivity", "--model", model, "--scenario", "hypokalaemia", "--n", "16",
                            "--seed", "0", "--posterior", folder, "--out", out], capsys)  # fmt: skip
        assert code == 2
        assert err.strip().count("\n") == 0 and f"--posterior: {folder}" in err
        assert not out.exists()


def test_fitted_parameters_leave_the_scenario_and_the_posterior_group_joins_it(tmp_path):
    folder = fake_fit(tmp_path / "fit", correlated_draws())
    scenario = bundled_scenario("normokalaemia", "ghk")
    res = sobol_analysis(None, scenario, seed=1, n=32, posterior=folder, k_o_grid=[])
    factors = list(dict.fromkeys(res.indices["input"]))
    assert factors[-1] == GROUP and "p_na" not in factors and "k_o" in factors
