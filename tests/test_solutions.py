"""Solution recipes: the ion library, salt names, charge balance, titration, osmolarity, activities, presets."""

from __future__ import annotations

import json
import math

import pytest
from conftest import run_command as run

from vrest.solutions import (
    activity_coefficients,
    activity_mm,
    davies_gamma,
    debye_huckel_a,
    debye_huckel_b,
    debye_huckel_gamma,
    get_ion,
    ions,
    load_solution,
    make_solution,
    solution_presets,
    water_permittivity,
)

REQUIRED = ["K", "Na", "Cl", "Ca", "Mg", "Cs", "Li", "Rb", "NH4", "H", "F", "Br", "I", "HCO3", "H2PO4", "HPO4", "SO4",
            "acetate", "propionate", "gluconate", "methanesulfonate", "aspartate", "glutamate", "isethionate", "NMDG",
            "choline", "TEA", "TMA", "Tris+", "HEPES-", "EGTA2-", "BAPTA", "Ba", "Sr", "Co", "Cd", "Zn", "Mn", "Ni",
            "NO3", "SCN", "ClO4", "citrate", "lactate", "pyruvate", "sucrose", "mannitol", "glucose"]  # fmt: skip


def test_library_has_every_required_ion_with_a_source():
    assert len([i for i in ions().values() if i.z != 0]) >= 40
    for name in REQUIRED:
        ion = get_ion(name)
        assert ion.source
        if ion.z:
            assert ion.lambda_eq > 0 and ion.mobility > 0
    for ion in ions().values():
        assert ion.source and (ion.z == 0) == (ion.lambda_eq is None)


def test_library_values():
    # CRC limiting conductivities and their diffusion coefficients (CRC: K+ 1.957, Cl- 2.032, Ca2+ 0.792 1e-5 cm^2/s)
    assert get_ion("K").diffusion_cm2_s() == pytest.approx(1.957e-5, rel=2e-3)
    assert get_ion("Cl").diffusion_cm2_s() == pytest.approx(2.032e-5, rel=2e-3)
    assert get_ion("Ca").diffusion_cm2_s() == pytest.approx(0.792e-5, rel=2e-3)
    # Barry's relative mobilities (Ng & Barry 1995): gluconate 0.33, Mg 0.361 (D/D_K)
    assert get_ion("gluconate").mobility == pytest.approx(0.33)
    assert get_ion("Mg2+").mobility == pytest.approx(0.361, abs=1e-3)
    assert get_ion("SO4 2-").z == -2 and get_ion("HEPES-").z == -1 and get_ion("glucose").z == 0


@pytest.mark.parametrize("name", ["Na-gluconate", "Na gluconate", "NaGluconate", "na_GLUCONATE", "sodium gluconate",
                                  "gluconate-Na"])  # fmt: skip
def test_forgiving_names(name):
    assert dict(make_solution({name: 10}).ions) == {"Na+": 10.0, "gluconate-": 10.0}


@pytest.mark.parametrize(
    ("recipe", "expected"),
    [
        ({"CaCl2.2H2O": 2}, {"Ca2+": 2, "Cl-": 4}),
        ({"MgCl2 6H2O": 1}, {"Mg2+": 1, "Cl-": 2}),
        ({"Na2HPO4": 1, "NaH2PO4": 1}, {"Na+": 3, "HPO4 2-": 1, "H2PO4-": 1}),
        ({"Na2ATP": 2, "MgATP": 4}, {"Na+": 4, "ATP2-": 6, "Mg2+": 4}),
        ({"NaGTP": 0.3}, {"Na+": 0.9, "GTP3-": 0.3}),
        ({"Na2-phosphocreatine": 10}, {"Na+": 20, "phosphocreatine2-": 10}),
        ({"NMDG-Cl": 140, "choline-Cl": 5}, {"NMDG+": 140, "Cl-": 145, "choline+": 5}),
        ({"K-methanesulfonate": 130, "CsCl": 5}, {"K+": 130, "methanesulfonate-": 130, "Cs+": 5, "Cl-": 5}),
        ({"K": 140, "Cl-": 140, "ouabain": 0.1}, {"K+": 140, "Cl-": 140, "ouabain": 0.1}),
        ({"Tris-HCl": 10, "sucrose": 20}, {"TrisH+": 10, "Cl-": 10, "sucrose": 20}),
    ],
)
def test_recipes_to_ions(recipe, expected):
    s = make_solution(recipe)
    assert dict(s.ions) == pytest.approx(expected)
    assert s.neutrality_message() is None


def test_recipe_round_trip_table():
    s = make_solution({"NaCl": 205, "KCl": 5.4, "CaCl2": 13.5, "MgCl2": 2.6, "NaHCO3": 2}, "van Harreveld")
    rows = {r["ion"]: r["mM"] for r in s.table()}
    assert rows == pytest.approx({"Na+": 207, "Cl-": 242.6, "K+": 5.4, "Ca2+": 13.5, "Mg2+": 2.6, "HCO3-": 2})
    assert s.ionic_strength_mm == pytest.approx(0.5 * (207 + 242.6 + 5.4 + 4 * 13.5 + 4 * 2.6 + 2))
    assert s.osmolarity_mosm() == pytest.approx(207 + 242.6 + 5.4 + 13.5 + 2.6 + 2)
    assert s.osmolarity_mosm(0.93) == pytest.approx(0.93 * s.osmolarity_mosm())
    assert s.concentration("na") == 207 and s.concentration("Li") == 0


def test_unknown_salt_names_the_key_and_the_nearest_names():
    with pytest.raises(ValueError, match=r"^K-glukonate: unknown salt, substance or ion; nearest known: K-gluconate"):
        make_solution({"KCl": 5, "K-glukonate": 100})
    with pytest.raises(ValueError, match=r"^KCl: expected a concentration in mM"):
        make_solution({"KCl": -1})
    with pytest.raises(ValueError, match=r"^KOH: a titrant"):
        make_solution({"HEPES": 10, "KOH": 5})


def test_charge_imbalance_message():
    s = make_solution({"KCl": 140, "Na2ATP": 2, "ATP": 1})
    assert s.charge_mm == pytest.approx(-2.0)
    assert s.neutrality_message(tol_mm=1.0).startswith("charge imbalance -2 mM (anions in excess")
    assert s.neutrality_message(tol_mm=2.5) is None


def test_titration_with_koh():
    # HEPES pKa 7.48 (25 C): at pH 7.3, 1/(1 + 10^0.18) = 39.8 % is HEPES-, balanced by as much K+
    s = make_solution({"KCl": 130, "HEPES": 10, "titrated_with": "KOH", "ph": 7.3})
    f = 1 / (1 + 10**0.18)
    assert s.concentration("HEPES-") == pytest.approx(10 * f)
    assert s.concentration("HEPES zwitterion") == pytest.approx(10 * (1 - f))
    assert s.concentration("K") == pytest.approx(130 + 10 * f)
    assert s.titrant_mm == pytest.approx(10 * f) and s.charge_mm == pytest.approx(0, abs=1e-12)
    # EGTA from the free acid takes about 2 equivalents of base; Tris base takes acid
    egta = make_solution({"CsCl": 120, "EGTA": 10, "titrated_with": "CsOH", "ph": 7.2})
    assert 20 < egta.titrant_mm < 20.3 and egta.neutrality_message(tol_mm=1e-9) is None
    tris = make_solution({"NaCl": 140, "Tris": 10, "titrated_with": "HCl", "ph": 7.4})
    assert tris.concentration("TrisH+") == pytest.approx(10 / (1 + 10 ** (7.4 - 8.07)))
    with pytest.raises(ValueError, match=r"^titrated_with: the buffers at pH 7.3 need an base"):
        make_solution({"HEPES": 10, "titrated_with": "HCl", "ph": 7.3})
    with pytest.raises(ValueError, match=r"^titrated_with: ph and titrated_with go together"):
        make_solution({"HEPES": 10, "ph": 7.3})
    assert dict(make_solution({"HEPES": 10}).ions) == {"HEPES zwitterion": 10}  # as weighed without a pH


def test_presets_are_neutral_and_sourced():
    assert {"tyrode", "krebs_henseleit", "acsf", "van_harreveld", "frog_ringer", "k_gluconate_pipette",
            "kcl_pipette"} <= set(solution_presets())  # fmt: skip
    for p in solution_presets().values():
        assert p.sources and p.solution().neutrality_message(tol_mm=1e-9) is None
    # the preparation presets' saline concentrations (vrest.presets) follow from the recipes
    crayfish = load_solution("van-harreveld")
    assert (crayfish.concentration("Na"), crayfish.concentration("Ca")) == pytest.approx((207, 13.5))
    assert crayfish.concentration("Cl") == pytest.approx(243, abs=0.5)
    frog = load_solution("frog_ringer")
    assert (frog.concentration("Na"), frog.concentration("Cl")) == pytest.approx((120, 121), abs=0.2)


def test_solution_file(tmp_path):
    f = tmp_path / "pip.toml"
    f.write_text('"K-gluconate" = 130\nKCl = 10\nHEPES = 10\ntitrated_with = "KOH"\nph = 7.2\n')
    s = load_solution(str(f))
    assert s.name == "pip" and s.neutrality_message() is None
    (tmp_path / "bad.toml").write_text("[table]\nKCl = 1\n")
    with pytest.raises(ValueError, match=r"bad.toml: expected salts or ions in mM as top-level keys"):
        load_solution(str(tmp_path / "bad.toml"))


# ------------------------------------------------------------------------------------------- activities


def test_debye_huckel_constants():
    # water: eps_r 78.30 at 25 C (Malmberg & Maryott 1956); A = 0.5115, B = 0.3291 /Angstrom at 25 C
    # (Robinson & Stokes 1959, Appendix 7.1: 0.5115 and 0.3291)
    assert water_permittivity(298.15) == pytest.approx(78.30, abs=0.01)
    assert debye_huckel_a(298.15) == pytest.approx(0.5115, abs=5e-4)
    assert debye_huckel_b(298.15) == pytest.approx(0.3291, abs=5e-4)
    assert debye_huckel_a(310.15) > debye_huckel_a(298.15)


def test_activity_coefficients():
    # Kielland (1937) Table 1 at I = 0.1 M: a = 3 (K+) 0.755, a = 6 (Ca2+) 0.405, a = 8 (Mg2+) 0.445
    # (his A and B were slightly smaller than today's, hence the 0.01 tolerance)
    assert debye_huckel_gamma(1, 100, 3.0) == pytest.approx(0.755, abs=0.01)
    assert debye_huckel_gamma(2, 100, 6.0) == pytest.approx(0.405, abs=0.01)
    assert debye_huckel_gamma(2, 100, 8.0) == pytest.approx(0.445, abs=0.01)
    # Davies at I = 0.1 M: log10 gamma = -0.5115 (0.2403 - 0.03) for z = 1 -> 0.780
    assert davies_gamma(1, 100) == pytest.approx(
        10 ** (-debye_huckel_a() * (math.sqrt(0.1) / (1 + math.sqrt(0.1)) - 0.03))
    )
    assert davies_gamma(1, 0.0) == 1.0
    s = load_solution("tyrode")
    g = activity_coefficients(s, model="debye-huckel")
    assert g["glucose"] == 1.0 and 0.7 < g["K+"] < 0.8 and g["Ca2+"] < g["K+"]
    assert activity_mm(s, "K") == pytest.approx(s.concentration("K") * activity_coefficients(s)["K+"])
    with pytest.raises(ValueError, match="^model: "):
        activity_coefficients(s, model="pitzer")


# ------------------------------------------------------------------------------------------- vrest solutions


def test_cli_solutions(capsys):
    run(["solutions"])
    assert "van_harreveld" in capsys.readouterr().out
    run(["solutions", "van_harreveld", "--json"])
    out = json.loads(capsys.readouterr().out)[0]
    assert {r["ion"]: r["mM"] for r in out["ions"]}["Cl-"] == pytest.approx(242.6)
    run(["solutions", "k_gluconate_pipette"])
    text = capsys.readouterr().out
    assert "gluconate-" in text and "pH 7.3 with KOH" in text
    run(["solutions", "--ions"])
    assert "methanesulfonate-" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"^solution nope: expected a solution preset"):
        run(["solutions", "nope"])
