"""The public fitting face: vrest.fit, read_fit, load_study and fit_settings, used as a lab would from Python."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import vrest

ROOT = Path(__file__).resolve().parents[1]


def test_a_model_registered_in_one_place_fits_end_to_end_with_vrest_fit(tmp_path):
    """One model record plus its parameter row: vrest.fit recovers its parameter, and the folder reads back."""
    from test_registry import NAME, registered_offset_model

    with registered_offset_model():
        rng = np.random.default_rng(0)
        k_o = np.repeat([2.0, 5.0, 10.0, 20.0, 40.0], 3)
        v = vrest.predict(NAME, k_o=k_o, k_i=140.0, temp_k=310.15, offset_mv=6.0) + rng.normal(0, 1.0, k_o.size)
        data = tmp_path / "rec.csv"
        pd.DataFrame({"K_o_mM": k_o, "V_m_mV": v}).to_csv(data, index=False)
        res = vrest.fit(data, NAME, fixed={"k_i": 140.0, "temp_k": 310.15}, chains=2, draws=400, tune=400)
        row = res.summary.set_index("parameter").loc["offset_mv"]
        assert row["q5"] < 6.0 < row["q95"] and row["sd"] < 1.0  # recovered, and informed by the data
        assert res.diagnostics["divergences"] == 0 and res.diagnostics["max_r_hat"] < 1.02
        assert set(res.posterior.children) >= {"posterior", "posterior_predictive", "log_likelihood", "observed_data"}
        back = vrest.read_fit(vrest.write_fit(res, vrest.load_recordings(data), tmp_path / "fit"))
        assert back.priors == res.priors and back.info["model"] == NAME


def test_a_study_file_and_overrides_give_the_settings_the_cli_uses():
    study = vrest.load_study(ROOT / "data" / "studies" / "gelband1972_atrium.toml")
    assert study.data == ROOT / "data" / "gelband1972_human_atrium_fig6.csv"  # relative to the study file
    assert study.models == ("ghk", "mullins-noda", "chord", "rectifying-kir") and study.fixed["k_replaces_na"] is True
    settings = vrest.fit_settings(study, "chord", draws=200, seed=7)
    assert (settings.model, settings.draws, settings.seed, settings.preset) == ("chord", 200, 7, "atrial_myocyte")
    with pytest.raises(ValueError, match="draws: expected a whole number"):
        vrest.fit_settings(study, "ghk", draws=2.5)


def test_fit_settings_check_every_value_once():
    for bad, message in (({"seed": -1}, "seed"), ({"chains": 0}, "chains"), ({"tune": 5}, "tune"),
                         ({"likelihood": "cauchy"}, "likelihood"), ({"g_tot_ns": float("nan")}, "g_tot_ns"),
                         ({"seed": True}, "seed")):  # fmt: skip
        with pytest.raises(ValueError, match=f"^{message}:"):
            vrest.FitSettings(model="ghk", **{"seed": 0, **bad})
    assert vrest.FitSettings(model="ghk", seed=0).seed == 0  # 0 is a seed like any other
