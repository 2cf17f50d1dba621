"""Liquid-junction potentials: published values of JPCalc, LJPcalc and Ng & Barry, identities, closed forms, `vrest ljp`."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import run_command as run
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import fsolve

from vrest.cli.common import UsageError
from vrest.constants import thermal_voltage_mv
from vrest.solutions import get_ion, henderson_ljp_mv, junction_potential, make_solution, nernst_planck_ljp_mv

T20, T25 = 293.15, 298.15

# Patch-clamp ACSF of Walz (2007) as entered in LJPcalc's examples (KnownIonSets/PatchKGlu.cs, github.com/swharden/LJPcalc)
LJPCALC_ACSF = {"Na": 152.2, "Cl": 133.8, "K": 3, "Mg": 1.5, "SO4": 1.5, "H2PO4": 1.2, "Ca": 2.4, "HCO3": 25}
# their pipette ions: HEPES 5 (half of 10 mM titrated), EGTA as EGTA2-, ATP as ATP2-; Na is 9 in their table and
# LJPcalc makes the pipette electroneutral by raising its last ion (Na) to 11 mM: that is what it computes with
LJPCALC_PIPETTE = {"HEPES-": 5, "EGTA2-": 1, "Cl": 24, "Mg": 2, "Na": 11, "ATP": 2}


def both(pipette, bath, temp_k=T25):
    return nernst_planck_ljp_mv(pipette, bath, temp_k), henderson_ljp_mv(pipette, bath, temp_k)


# ------------------------------------------------------------------------------------------- published values


def test_ljpcalc_readme_example_and_jpcalc_axobits():
    # LJPcalc README (github.com/swharden/LJPcalc, version of 2020-04-03, commit 14f6935), "Example LJP Calculation":
    # the AxoBits ion set at 20 C gives 16.052 mV by Nernst-Planck; Figl et al. (2003) AxoBits 39 p. 8 give 15.6 mV
    # from JPCalc (Henderson) for the same set.
    pipette = {"K": 145, "Na": 13, "Mg": 1, "HEPES-": 5, "gluconate": 145, "Cl": 10}
    bath = {"K": 2.8, "Na": 145, "Mg": 2, "Ca": 1, "HEPES-": 5, "Cl": 148.8}
    np_mv, h_mv = both(pipette, bath, T20)
    assert np_mv == pytest.approx(16.052, abs=0.5)
    assert h_mv == pytest.approx(15.6, abs=0.5)


@pytest.mark.parametrize(
    ("anion_or_cation", "published"),
    [
        # LJPcalc examples at 25 C (KnownIonSets/PatchKGlu.cs, PatchKMeSO.cs, PatchCsGlu.cs): K-gluconate 13.469 mV,
        # K-methanesulfonate 8.594 mV, Cs-gluconate 14.014 mV against the same ACSF
        ({"K": 130, "gluconate": 110}, 13.469),
        ({"K": 130, "methanesulfonate": 110}, 8.594),
        ({"Cs": 130, "gluconate": 110}, 14.014),
    ],
)
def test_ljpcalc_patch_examples(anion_or_cation, published):
    assert nernst_planck_ljp_mv({**anion_or_cation, **LJPCALC_PIPETTE}, LJPCALC_ACSF, T25) == pytest.approx(
        published, abs=0.5
    )


def test_jpcalc_manual_example():
    # JPCalcWin manual p. 7 (Barry, UNSW), as LJPcalc's KnownIonSets/JPCalcWinPage7.cs: pipette 135 CsF + 10 NaCl,
    # bath 145 NaCl, 20 C: +8.74 mV (Henderson, JPCalc)
    np_mv, h_mv = both({"Cs": 135, "F": 135, "Na": 10, "Cl": 10}, {"Na": 145, "Cl": 145}, T20)
    assert h_mv == pytest.approx(8.74, abs=0.5)
    assert np_mv == pytest.approx(8.74, abs=0.5)


@pytest.mark.parametrize(
    ("pipette", "bath", "published"),
    [
        # Ng B. & Barry P.H. (1995) J. Neurosci. Methods 56:37, Table 2 (as LJPcalc's NgAndBarry1994.cs and
        # LjpCalculationTest.cs): 50 NaCl | 50 KCl and 150 NaCl | 150 KCl: -4.3 mV; 50 CaCl2 + 50 MgCl2 | 100 LiCl: -8.2 mV
        ({"NaCl": 50}, {"KCl": 50}, -4.3),
        ({"NaCl": 150}, {"KCl": 150}, -4.3),
        ({"CaCl2": 50, "MgCl2": 50}, {"LiCl": 100}, -8.2),
    ],
)
def test_ng_and_barry_table_2(pipette, bath, published):
    np_mv, h_mv = both(pipette, bath)
    assert np_mv == pytest.approx(published, abs=0.5)
    assert h_mv == pytest.approx(published, abs=0.5)


def test_jljp_screenshot_example():
    # JLJP (Marino et al. 2014) screenshot, as LJPcalc's LjpCalculationTest.cs: Zn 9 | 0.0284, K 0 | 3,
    # Cl 18 | 3.0568 mM at 25 C: -20.796 mV (Nernst-Planck). Henderson is 1 mV off here (divalent ions).
    assert nernst_planck_ljp_mv({"Zn": 9, "Cl": 18}, {"Zn": 0.0284, "K": 3, "Cl": 3.0568}, T25) == pytest.approx(
        -20.796, abs=0.5
    )


# ------------------------------------------------------------------------------------------- identities


@pytest.mark.parametrize("method", ["nernst-planck", "henderson"])
def test_identical_solutions_give_zero(method):
    assert junction_potential("k_gluconate_pipette", "k_gluconate_pipette", method=method) == 0.0


def test_swapping_flips_the_sign():
    assert henderson_ljp_mv("acsf", "k_gluconate_pipette") == -henderson_ljp_mv("k_gluconate_pipette", "acsf")
    assert nernst_planck_ljp_mv("acsf", "k_gluconate_pipette") == pytest.approx(
        -nernst_planck_ljp_mv("k_gluconate_pipette", "acsf"), abs=1e-6
    )


@pytest.mark.parametrize("salt", ["KCl", "NaCl", "HCl", "LiCl", "Na-gluconate"])
def test_single_salt_diffusion_potential(salt):
    # textbook: (u+ - u-)/(u+ + u-) (RT/F) ln(c1/c2), c1 the pipette
    ions = list(make_solution({salt: 1.0} if salt != "HCl" else {"H": 1.0, "Cl": 1.0}).ions)
    up, um = (get_ion(i).mobility for i in ions)
    pipette, bath = ({"H": 100, "Cl": 100}, {"H": 10, "Cl": 10}) if salt == "HCl" else ({salt: 100}, {salt: 10})
    expected = (up - um) / (up + um) * thermal_voltage_mv(T25) * math.log(10)
    np_mv, h_mv = both(pipette, bath)
    assert h_mv == pytest.approx(expected, rel=1e-12)
    assert np_mv == pytest.approx(expected, abs=1e-5)


def _planck_1_1(pipette: dict, bath: dict, temp_k: float) -> float:
    """Planck's closed form for 1:1 electrolytes (MacInnes, The Principles of Electrochemistry, 1939, ch. 13):
    E = phi_2 - phi_1 = (RT/F) ln xi, (xi U2 - U1)/(V2 - xi V1) = [ln(c2/c1) - ln xi]/[ln(c2/c1) + ln xi]
    (xi c2 - c1)/(c2 - xi c1), U = sum u c of cations, V of anions, c the total of either."""
    sides = []
    for ions in (pipette, bath):
        u = {get_ion(k): v for k, v in ions.items()}
        sides.append((sum(i.mobility * c for i, c in u.items() if i.z > 0),
                      sum(i.mobility * c for i, c in u.items() if i.z < 0), sum(c for i, c in u.items() if i.z > 0)))  # fmt: skip
    (u1, v1, c1), (u2, v2, c2) = sides
    lr = math.log(c2 / c1)

    def f(ln_xi):
        xi = math.exp(ln_xi[0])
        return [(xi * u2 - u1) * (c2 - xi * c1) * (lr + ln_xi[0]) - (v2 - xi * v1) * (lr - ln_xi[0]) * (xi * c2 - c1)]

    start = henderson_ljp_mv(pipette, bath, temp_k) / thermal_voltage_mv(temp_k)
    root = fsolve(f, [start], xtol=1e-14)[0]
    assert abs(root + lr) > 1e-3  # not the spurious root of the cleared denominators
    return thermal_voltage_mv(temp_k) * root


@pytest.mark.parametrize(
    ("pipette", "bath"),
    [
        ({"Na": 150, "Cl": 150}, {"K": 150, "Cl": 150}),  # bi-ionic: Henderson = Planck = Lewis-Sargent
        ({"Na": 150, "Cl": 150}, {"K": 50, "Cl": 50}),  # unequal totals: Planck differs from Henderson
        ({"H": 10, "Cl": 10}, {"K": 100, "Na": 20, "Cl": 120}),
    ],
)
def test_nernst_planck_matches_planck_closed_form(pipette, bath):
    assert nernst_planck_ljp_mv(pipette, bath, T25) == pytest.approx(_planck_1_1(pipette, bath, T25), abs=1e-4)


def test_bi_ionic_henderson_is_lewis_sargent():
    u = {n: get_ion(n).mobility for n in ("Na", "K", "Cl")}
    expected = -thermal_voltage_mv(T25) * math.log((u["K"] + u["Cl"]) / (u["Na"] + u["Cl"]))
    assert henderson_ljp_mv({"NaCl": 150}, {"KCl": 150}) == pytest.approx(expected, rel=1e-12)


def test_ljp_scales_with_absolute_temperature():
    a, b = nernst_planck_ljp_mv("k_gluconate_pipette", "acsf", T20), nernst_planck_ljp_mv("k_gluconate_pipette", "acsf")
    assert a / b == pytest.approx(T20 / T25, rel=1e-6)


def test_activities_for_a_single_salt():
    # with activities the single-salt potential is t (RT/F) ln(a1/a2), a = gamma c with the Davies gamma of each side
    from vrest.solutions import davies_gamma

    up, um = get_ion("K").mobility, get_ion("Cl").mobility
    ratio = 100 * davies_gamma(1, 100) / (10 * davies_gamma(1, 10))
    expected = (up - um) / (up + um) * thermal_voltage_mv(T25) * math.log(ratio)
    assert henderson_ljp_mv({"KCl": 100}, {"KCl": 10}, activity=True) == pytest.approx(expected, rel=1e-9)
    assert nernst_planck_ljp_mv({"KCl": 100}, {"KCl": 10}, activity=True) == pytest.approx(expected, abs=1e-4)


def test_unbalanced_solution_is_refused_naming_the_side():
    with pytest.raises(ValueError, match=r"^pipette: charge imbalance -2 mM"):
        junction_potential({"KCl": 10, "EGTA2-": 1}, "acsf")
    with pytest.raises(ValueError, match=r"^method: "):
        junction_potential("acsf", "acsf", method="planck")


# ------------------------------------------------------------------------------------------- properties

SALTS = ["NaCl", "KCl", "CaCl2", "K-gluconate", "NMDG-Cl", "MgSO4", "CsF", "Na-HEPES", "LiCl", "K2HPO4"]
recipes = st.dictionaries(st.sampled_from(SALTS), st.floats(1.0, 200.0), min_size=1, max_size=4)


@settings(max_examples=25, deadline=None)
@given(recipes, recipes, st.floats(0.1, 10.0))
def test_properties(pipette, bath, factor):
    # antisymmetry (Henderson exactly); both methods are invariant when both solutions are diluted or
    # concentrated by the same factor (the equations are homogeneous of degree 0 in concentration)
    h = henderson_ljp_mv(pipette, bath)
    assert henderson_ljp_mv(bath, pipette) == -h
    n = nernst_planck_ljp_mv(pipette, bath)
    assert nernst_planck_ljp_mv(bath, pipette) == pytest.approx(-n, abs=1e-5)
    scaled = [{k: v * factor for k, v in r.items()} for r in (pipette, bath)]
    assert henderson_ljp_mv(*scaled) == pytest.approx(h, abs=1e-9)
    assert nernst_planck_ljp_mv(*scaled) == pytest.approx(n, abs=1e-5)
    # adding a non-electrolyte changes nothing
    assert henderson_ljp_mv({**pipette, "sucrose": 50.0}, bath) == h


# ------------------------------------------------------------------------------------------- vrest ljp


def test_cli_ljp_json_and_table(tmp_path, capsys):
    pipette = tmp_path / "pip.toml"
    pipette.write_text('"k" = 145\nNa = 13\nmg = 1\n"HEPES-" = 5\ngluconate = 145\nCl = 10\n')
    bath = tmp_path / "bath.toml"
    bath.write_text('K = 2.8\nNa = 145\nMg = 2\nCa = 1\n"HEPES-" = 5\nCl = 148.8\n')
    run(["ljp", "--pipette", str(pipette), "--bath", str(bath), "--temp-c", "20", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["ljp_mv"] == pytest.approx(16.052, abs=0.5)  # LJPcalc README example (see above)
    assert out["henderson_mv"] == pytest.approx(15.6, abs=0.5)  # Figl et al. 2003, JPCalc
    run(["ljp", "--pipette", "k_gluconate_pipette", "--bath", "acsf"])
    text = capsys.readouterr().out
    assert "Nernst-Planck" in text and "Henderson" in text and "V_m = V_recorded - LJP" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--pipette", "nope", "--bath", "acsf"], r"^--pipette: expected a solution preset"),
        (["--pipette", "acsf", "--bath", "missing.toml"], r"^--bath: missing.toml: cannot be read"),
        (
            ["--pipette", "BAD", "--bath", "acsf"],
            r"^--pipette: bad: NaGlucoante: unknown salt.*nearest known: Na-gluconate",
        ),
        (["--pipette", "UNBAL", "--bath", "acsf"], r"^--pipette: unbal: charge imbalance \+1 mM"),
        (["--pipette", "acsf", "--bath", "acsf", "--temp-c", "-300"], r"^--temp-c: "),
    ],
)
def test_cli_ljp_bad_input_is_one_line_naming_the_flag(tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.toml").write_text("NaGlucoante = 100\n")
    (tmp_path / "unbal.toml").write_text("KCl = 100\nK = 1\n")
    argv = [{"BAD": "bad.toml", "UNBAL": "unbal.toml"}.get(a, a) for a in argv]
    with pytest.raises(ValueError, match=message) as err:
        run(["ljp", *argv])
    assert "\n" not in str(err.value)


def test_cli_ljp_requires_both_solutions():
    with pytest.raises(UsageError, match="--bath"):
        run(["ljp", "--pipette", "acsf"])


def test_nernst_planck_converges_across_presets():
    for pipette in ("k_gluconate_pipette", "kcl_pipette", "kcl_3m"):
        for bath in ("tyrode", "krebs_henseleit", "acsf", "van_harreveld", "frog_ringer"):
            n, h = both(pipette, bath)
            assert np.isfinite(n) and abs(n - h) < 1.5
