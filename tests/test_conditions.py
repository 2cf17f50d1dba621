"""Experimental conditions as a lab states them: solutions, junction potentials, passive Cl-, pump block."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import vrest
from vrest.cli import main
from vrest.data import load_recordings
from vrest.inference.design import build_design
from vrest.solutions import junction_potential


def _recordings(tmp_path, conditions=("a", "b"), v=-70.0):
    k_o = np.array([2.0, 5.0, 20.0])
    table = pd.DataFrame({"K_o_mM": np.tile(k_o, len(conditions)), "V_m_mV": v,
                          "condition": np.repeat(conditions, k_o.size)})  # fmt: skip
    table.to_csv(tmp_path / "r.csv", index=False)
    return load_recordings(tmp_path / "r.csv")


@pytest.mark.parametrize("model", ["ghk", "mullins-noda", "rectifying-ghk"])
def test_passive_chloride_is_ghk_without_chloride_terms(tmp_path, model):
    rec = _recordings(tmp_path)
    d = build_design(rec, model, [], preset="mammalian_neuron", conditions={"a": {"cl_i": "passive"}})
    rows = d.condition == "a"
    inputs = {k: v[rows] for k, v in d.inputs.items() if k != "p_cl"}
    with_cl = vrest.predict(model, **inputs, p_cl=0.45)
    without = vrest.predict(model, **{k: v for k, v in d.inputs.items() if k not in ("p_cl",)} | {"p_cl": 0.0})[rows]
    np.testing.assert_allclose(with_cl, without, rtol=0, atol=1e-9)  # mV
    assert any(a["input"] == "cl_i" and a["value"] == "passive" and a["applies_to"] == "condition 'a'"
               for a in d.assumptions)  # fmt: skip


def test_a_conductance_model_refuses_passive_chloride_in_some_conditions_only(tmp_path):
    rec = _recordings(tmp_path)
    with pytest.raises(ValueError, match="^cl_i: 'passive' in condition 'a' only: model 'chord'"):
        build_design(rec, "chord", ["g_na", "g_cl", "pump_mv"], preset="mammalian_neuron",
                     conditions={"a": {"cl_i": "passive"}})  # fmt: skip


@pytest.mark.parametrize(("model", "fitted", "pump"), [("ghk", ["p_na", "p_cl", "pump_mv"], "pump_mv"),
                                                    ("chord", ["g_na", "g_cl", "pump_mv"], "pump_mv"),
                                                    ("rectifying-ghk", ["p_na", "p_cl", "i_pump"], "i_pump")])
def test_pump_block_in_some_conditions_is_v_with_the_pump_term_zero(tmp_path, model, fitted, pump):
    rec = _recordings(tmp_path)
    d = build_design(rec, model, fitted, preset="mammalian_neuron", conditions={"b": {"pump": "blocked"}})
    b = d.condition == "b"
    assert (d.inputs[f"{pump}_scale"][b] == 0).all() and (d.inputs[f"{pump}_scale"][~b] == 1).all()
    params = {"p_na": 0.05, "p_cl": 0.3, "g_na": 0.05, "g_cl": 0.3, pump: 6.0 if pump == "pump_mv" else 20.0}
    params = {k: v for k, v in params.items() if k in fitted}
    v = vrest.predict(model, **d.inputs, **params)
    plain = {k: x for k, x in d.inputs.items() if not k.endswith("_scale")}
    np.testing.assert_allclose(v[b], vrest.predict(model, **plain, **(params | {pump: 0.0}))[b], rtol=0, atol=1e-9)
    np.testing.assert_allclose(v[~b], vrest.predict(model, **plain, **params)[~b], rtol=0, atol=1e-9)


def test_pump_block_with_a_coupling_ratio_sets_it_to_one(tmp_path):
    rec = _recordings(tmp_path)
    d = build_design(rec, "mullins-noda", ["p_na", "p_cl"], preset="mammalian_neuron",
                     conditions={"b": {"pump": "blocked"}})  # fmt: skip
    assert (d.inputs["pump_ratio"][d.condition == "b"] == 1.0).all()
    assert (d.inputs["pump_ratio"][d.condition == "a"] == 1.5).all()


def test_solutions_set_the_bath_and_a_dialysing_pipette_and_the_ljp_is_subtracted(tmp_path):
    rec = _recordings(tmp_path, v=-60.0)
    spec = {"bath": "acsf", "pipette": "k_gluconate_pipette", "dialysed": True, "ljp_mv": "auto"}
    d = build_design(rec, "ghk", ["p_na", "p_cl", "pump_mv"], preset="mammalian_neuron", settings={"temp_k": 298.15},
                     conditions={"a": spec})  # fmt: skip
    ljp = junction_potential("k_gluconate_pipette", "acsf", 298.15)
    assert ljp == pytest.approx(13.19, abs=0.05)  # K-gluconate against ACSF (see tests/test_ljp.py for the sources)
    np.testing.assert_allclose(d.v_obs[d.condition == "a"], -60.0 - ljp)  # V_m = V_recorded - LJP
    np.testing.assert_allclose(d.v_obs[d.condition == "b"], -60.0)
    acsf = vrest.solutions.as_solution("acsf")
    assert d.inputs["na_o"][0] == pytest.approx(acsf.concentration("Na"))
    assert d.inputs["cl_i"][0] == pytest.approx(vrest.solutions.as_solution("k_gluconate_pipette").concentration("Cl"))
    assert d.ljp_mv == {"a": pytest.approx(ljp)}


def _study(tmp_path, text: str):
    path = tmp_path / "s.toml"
    rec = tmp_path / "r.csv"
    if not rec.exists():
        _recordings(tmp_path)
    path.write_text('data = "r.csv"\nmodel = "ghk"\n' + text)
    return path


@pytest.mark.parametrize(("text", "message"), [
    ('[conditions.a]\nbath = "nosuch"\n', "conditions.a: bath: unknown solution 'nosuch'"),
    ("[conditions.a]\npump_mv = 0\n", "conditions.a: 'pump_mv' is fitted; a condition cannot set it"),
    ('[conditions.a]\npump = "off"\n', "pump: expected one of blocked"),
    ("[solutions.x]\nNaCl = 140\nKClx = 5\n", "solutions.x: KClx: unknown"),
    ("[solutions.x]\nNaCl = 140\nK = 5\n", "solutions.x: charge imbalance +5 mM"),
])  # fmt: skip
def test_bad_solutions_and_condition_keys_are_one_line(tmp_path, capsys, text, message):
    assert main(["fit", "--study", str(_study(tmp_path, text)), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0, err
    assert not (tmp_path / "o").exists()


def test_recovery_with_a_junction_potential_and_passive_chloride(tmp_path):
    """Data recorded with a K-gluconate pipette in ACSF (LJP about 13 mV) and passive Cl-: fitted with those
    settings the truth is covered; ignoring the LJP, the fit is flagged or misses the truth."""
    rng = np.random.default_rng(3)
    k_o = np.repeat([2.0, 4.0, 8.0, 16.0, 32.0, 64.0], 2)
    truth = {"p_na": 0.04, "pump_mv": 4.0}
    ljp = junction_potential("k_gluconate_pipette", "acsf", 310.15)
    v = vrest.predict("ghk", k_o=k_o, p_cl=0.0, na_o=152.0 - k_o, **truth) + ljp + rng.normal(0, 0.7, k_o.size)
    pd.DataFrame({"K_o_mM": k_o, "Na_o_mM": 152.0 - k_o, "V_m_mV": v}).to_csv(tmp_path / "r.csv", index=False)
    fixed = {"cl_i": "passive", "bath": "acsf", "pipette": "k_gluconate_pipette", "ljp_mv": "auto"}
    res = vrest.fit(tmp_path / "r.csv", "ghk", fixed=fixed, chains=2, draws=400, tune=400, seed=1)
    s = res.summary.set_index("parameter")
    for name, value in truth.items():
        assert s.loc[name, "q2.5"] < value < s.loc[name, "q97.5"], (name, s.loc[name])
    assert "p_cl" not in s.index
    naive = vrest.fit(tmp_path / "r.csv", "ghk", fixed={"cl_i": "passive"}, chains=2, draws=400, tune=400, seed=1)
    n = naive.summary.set_index("parameter")
    assert naive.problems or naive.adequacy["flagged"] or not n.loc["pump_mv", "q2.5"] < 4.0 < n.loc["pump_mv", "q97.5"]
