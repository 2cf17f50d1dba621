"""Bad input is refused with a message naming the argument or flag; the CLI contract holds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vrest
from vrest.cli import main


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"k_o": -1.0}, "k_o"),
        ({"k_o": 0.0}, "k_o"),
        ({"na_i": np.nan}, "na_i"),
        ({"cl_o": np.inf}, "cl_o"),
        ({"p_na": -0.1}, "p_na"),
        ({"temp_k": -3.0}, "temp_k"),
        ({"k_o": "five"}, "k_o"),
        ({"pump_mv": np.nan}, "pump_mv"),
        ({"bogus": 1.0}, "bogus"),
        ({"i_pump": 2.0}, "i_pump"),
    ],
)
def test_api_rejects_bad_input_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        vrest.predict("ghk", **kwargs)


@pytest.mark.parametrize(
    ("model", "kwargs", "name"),
    [
        ("chord", {"g_na": -1.0}, "g_na"),
        ("chord", {"g_tot": 0.0}, "g_tot"),
        ("rectifying-kir", {"k_slope": 0.0}, "k_slope"),
        ("rectifying-kir", {"pump_mv": 3.0}, "pump_mv"),
        ("rectifying-ghk", {"perm_k": -2.0}, "perm_k"),
        ("mullins-noda", {"pump_ratio": 0.5}, "pump_ratio"),
    ],
)
def test_model_specific_inputs_are_checked(model, kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        vrest.predict(model, **kwargs)


def test_nernst_rejects_zero_valence_and_bad_concentration():
    with pytest.raises(ValueError, match="^z:"):
        vrest.nernst(5, 140, 0)
    with pytest.raises(ValueError, match="^z:"):
        vrest.nernst(5, 140, 1.5)
    with pytest.raises(ValueError, match="^c_in:"):
        vrest.nernst(5, -140, 1)


def test_unknown_model_and_preset_are_named():
    with pytest.raises(ValueError, match="^model:"):
        vrest.predict("goldman")
    with pytest.raises(ValueError, match="^preset:"):
        vrest.predict("ghk", preset="lobster")


def test_temperature_outside_0_45_c_warns():
    with pytest.warns(vrest.OutOfRangeWarning, match="temp_k"):
        vrest.predict("ghk", temp_k=330.0)


def test_pump_zero_is_accepted_by_every_model():
    for model in vrest.MODELS:
        vrest.predict(model, k_o=5.4, pump_mv=0.0, i_pump=0.0) if model == "chord" else None
        m = vrest.get_model(model)
        extra = {name: 0.0 for name in ("pump_mv", "i_pump") if name in m.inputs or name in m.zero_only}
        assert np.isfinite(vrest.predict(model, k_o=5.4, **extra))


def test_presets_have_sources_and_switch_the_defaults():
    for preset in vrest.PRESETS.values():
        assert preset.sources and all(preset.sources)
        v = vrest.predict("ghk", preset=preset.name)
        assert -110 < v < -40, preset.name
    squid = vrest.predict("ghk", preset="squid-giant-axon", p_na=0.0, p_cl=0.0)
    assert squid == pytest.approx(vrest.nernst(20, 400, 1, 6.3 + 273.15), abs=1e-9)


def run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_json_contract(capsys):
    code, out, _ = run(["predict", "--model", "ghk", "--k-o", "2.5", "5", "8", "--json"], capsys)
    assert code == 0
    rows = json.loads(out)
    assert [r["K_o_mM"] for r in rows] == [2.5, 5.0, 8.0]
    assert rows[1]["V_mV"] == pytest.approx(float(vrest.predict("ghk", k_o=5.0)), abs=1e-12)


def test_predict_uses_celsius_and_flags(capsys):
    code, out, _ = run(
        ["predict", "--model", "ghk", "--k-o", "5", "--k-i", "140", "--na-o", "145", "--na-i", "12",
         "--cl-o", "110", "--cl-i", "10", "--p-na", "0.04", "--p-cl", "0.45", "--temp-c", "36.85", "--json"],
        capsys,
    )  # fmt: skip
    assert code == 0 and json.loads(out)[0]["V_mV"] == pytest.approx(-67.294, abs=1e-3)


def test_predict_gradient_names_carry_units(capsys):
    code, out, _ = run(["predict", "--model", "chord", "--k-o", "5", "--gradient", "--json"], capsys)
    row = json.loads(out)[0]
    assert code == 0 and "dV_dk_o_mV_per_mM" in row and "dV_dtemp_k_mV_per_K" in row


@pytest.mark.parametrize("model", list(vrest.MODELS))
def test_every_model_runs_from_the_cli_with_zero_pump(model, capsys):
    pump = ["--i-pump", "0"] if model.startswith("rectifying") else ["--pump-mv", "0"]
    code, out, err = run(["predict", "--model", model, "--k-o", "4", "6", *pump, "--json"], capsys)
    assert code == 0, err
    assert len(json.loads(out)) == 2


def test_steady_states_json_contract(capsys):
    code, out, _ = run(["steady-states", "--model", "rectifying-kir", "--k-o", "3.5", "5.4", "--json"], capsys)
    assert code == 0
    rows = json.loads(out)
    assert rows[0]["K_o_mM"] == 3.5 and [s["stable"] for s in rows[0]["states"]] == [True, False, True]
    volts = [s["V_mV"] for s in rows[0]["states"]]
    assert volts == sorted(volts)
    assert len(rows[1]["states"]) == 1


def test_bistable_range_and_nernst_commands(capsys):
    code, out, _ = run(["bistable-range", "--model", "rectifying-kir", "--json"], capsys)
    assert code == 0 and len(json.loads(out)) == 1
    code, out, _ = run(["nernst", "--c-out", "5", "--c-in", "140", "--z", "1", "--temp-c", "36.85", "--json"], capsys)
    assert code == 0 and json.loads(out)[0]["E_mV"] == pytest.approx(-89.016, abs=1e-3)
    code, out, _ = run(["nernst", "--ion", "Cl", "--json"], capsys)
    assert code == 0 and json.loads(out)[0]["E_mV"] < 0


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["predict", "--model", "ghk", "--k-o", "-1"], "--k-o"),
        (["predict", "--model", "ghk", "--k-o", "abc"], "--k-o"),
        (["predict", "--model", "ghk", "--p-na", "-0.5"], "--p-na"),
        (["predict", "--model", "ghk", "--temp-c", "-300"], "--temp-c"),
        (["predict", "--model", "nope"], "--model"),
        (["predict", "--model", "ghk", "--preset", "nope"], "--preset"),
        (["predict", "--model", "ghk", "--i-pump", "2"], "--i-pump"),
        (["predict", "--model", "rectifying-kir", "--k-slope", "0"], "--k-slope"),
        (["nernst", "--c-out", "5", "--c-in", "140", "--z", "0"], "--z"),
        (["predict", "--model", "ghk", "--no-such-flag"], "--no-such-flag"),
        (["steady-states", "--model", "rectifying-kir", "--v-min", "10", "--v-max", "-10"], "v range"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(args, flag, capsys):
    code, out, err = run(args, capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and flag in err, err


def test_help_explains_every_flag_with_unit():
    text = subprocess.run(
        [sys.executable, "-m", "vrest.cli", "predict", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for flag, unit in [("--k-o", "mM"), ("--temp-c", "degrees C"), ("--pump-mv", "mV"), ("--i-pump", "pA"),
                       ("--g-k", "nS"), ("--v-half", "mV"), ("--k-ref", "mM"), ("--kir-n", "default")]:  # fmt: skip
        line = text[text.index(f"\n  {flag} ") :].split("\n  --")[1]
        assert unit in line, (flag, line)


def test_console_script_exit_codes():
    vrest_cmd = str(Path(sys.executable).parent / "vrest")  # installed beside this interpreter
    ok = subprocess.run([vrest_cmd, "predict", "--model", "ghk", "--k-o", "5"], capture_output=True, text=True, check=False)
    bad = subprocess.run([vrest_cmd, "predict", "--model", "ghk", "--k-o", "0"], capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and "V_mV" in ok.stdout
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and bad.stderr.startswith("vrest: error: --k-o")
