"""Preparation presets: sources, sane concentrations, and Nernst potentials in the ranges the literature gives."""

from __future__ import annotations

import math

import pytest

import vrest
from vrest import nernst
from vrest.constants import celsius_to_kelvin
from vrest.presets import PRESETS, get_preset

NEW = ("vascular_smooth_muscle", "purkinje_fibre", "atrial_myocyte", "mammalian_skeletal_muscle", "hippocampal_neuron")

# (preset, ion) -> (low, high) mV at the preset's temperature, and where the range comes from.
RANGES = {
    # Hille 2001, 3rd ed., ch. 1 table for mammalian skeletal muscle: E_K -98, E_Na +67, E_Cl -90 mV at 37 C.
    ("mammalian_skeletal_muscle", "K"): (-100.0, -95.0),
    ("mammalian_skeletal_muscle", "Na"): (62.0, 72.0),
    ("mammalian_skeletal_muscle", "Cl"): (-93.0, -87.0),
    # Arterial myocytes: E_K about -85 mV with K_i 140 mM (Nelson & Quayle 1995, as recalled); E_Cl about -20 to
    # -30 mV, Cl_i held above equilibrium (Chipperfield & Harper 2000; widened here to -35 to -15 mV); E_Na of a
    # Na_i of 8-15 mM.
    ("vascular_smooth_muscle", "K"): (-90.0, -80.0),
    ("vascular_smooth_muscle", "Na"): (60.0, 80.0),
    ("vascular_smooth_muscle", "Cl"): (-35.0, -15.0),
    # Sheep Purkinje fibres in Tyrode: E_K of K_i 140 / K_o 4 mM about -95 mV (DiFrancesco & Noble 1985);
    # Vaughan-Jones 1979: E_Cl about 35 mV positive to E_m (about -80 mV), accurate to 8 mV.
    ("purkinje_fibre", "K"): (-100.0, -90.0),
    ("purkinje_fibre", "Na"): (65.0, 80.0),
    ("purkinje_fibre", "Cl"): (-55.0, -37.0),
    # Human atrial models (Courtemanche et al. 1998; Grandi et al. 2011): E_K about -87 (K_i 139) to -83 mV
    # (K_i 120); cardiac Cl_i of 15-20 mM against Cl_o 150 mM puts E_Cl at -62 to -54 mV.
    ("atrial_myocyte", "K"): (-90.0, -82.0),
    ("atrial_myocyte", "Na"): (60.0, 75.0),
    ("atrial_myocyte", "Cl"): (-65.0, -50.0),
    # Mature hippocampal pyramidal neurons in ACSF (K_o 2.5-3.5 mM): E_K about -95 to -105 mV; E_Cl (E_GABA-A)
    # hyperpolarised, about -70 to -85 mV once KCC2 is expressed (Rivera et al. 1999).
    ("hippocampal_neuron", "K"): (-106.0, -95.0),
    ("hippocampal_neuron", "Na"): (60.0, 80.0),
    ("hippocampal_neuron", "Cl"): (-85.0, -68.0),
}
IONS = {"K": ("k_o", "k_i", 1), "Na": ("na_o", "na_i", 1), "Cl": ("cl_o", "cl_i", -1)}


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_has_sources_and_positive_values(name):
    preset = PRESETS[name]
    assert preset.name == name and preset.title
    assert preset.sources and all(isinstance(s, str) and s.strip() for s in preset.sources)
    assert set(preset.concentrations) == {"k_i", "k_o", "na_i", "na_o", "cl_i", "cl_o", "ca_i", "ca_o"}
    for key, value in preset.concentrations.items():
        assert math.isfinite(value) and value > 0, (name, key)
    assert 0.0 < preset.temp_c < 45.0
    assert preset.values()["temp_k"] == pytest.approx(celsius_to_kelvin(preset.temp_c))


@pytest.mark.parametrize("name", NEW)
def test_new_presets_state_what_is_assumed(name):
    preset = PRESETS[name]
    assert preset.notes.strip()
    c = preset.concentrations
    assert c["k_i"] > c["k_o"] and c["na_o"] > c["na_i"] and c["cl_o"] > c["cl_i"] and c["ca_o"] > 1e3 * c["ca_i"]


@pytest.mark.parametrize(("name", "ion"), list(RANGES))
def test_nernst_potentials_of_new_presets_are_in_the_literature_ranges(name, ion):
    preset = get_preset(name)
    out, inside, z = IONS[ion]
    e = float(nernst(preset.concentrations[out], preset.concentrations[inside], z, preset.values()["temp_k"]))
    low, high = RANGES[(name, ion)]
    assert low <= e <= high, f"{name}: E_{ion} = {e:.1f} mV, expected {low:g} to {high:g} mV"


def test_skeletal_muscle_reproduces_hilles_equilibrium_potentials():
    p = get_preset("mammalian_skeletal_muscle").values()
    t = p["temp_k"]
    assert p["temp_k"] == pytest.approx(310.15)
    assert nernst(p["k_o"], p["k_i"], 1, t) == pytest.approx(-98.0, abs=0.5)
    assert nernst(p["na_o"], p["na_i"], 1, t) == pytest.approx(67.0, abs=0.5)
    assert nernst(p["cl_o"], p["cl_i"], -1, t) == pytest.approx(-90.0, abs=0.5)


def test_hippocampal_neuron_is_at_a_warmed_slice_temperature():
    assert 32.0 <= get_preset("hippocampal_neuron").temp_c <= 34.0


def test_outside_values_match_the_named_saline_recipes():
    from vrest.solutions import as_solution

    for preset, recipe in (("vascular_smooth_muscle", "krebs_henseleit"), ("hippocampal_neuron", "acsf")):
        c, bath = get_preset(preset).concentrations, as_solution(recipe)
        for key, ion in (("k_o", "K"), ("na_o", "Na"), ("cl_o", "Cl"), ("ca_o", "Ca")):
            assert c[key] == pytest.approx(bath.concentration(ion), abs=0.05), (preset, key)


@pytest.mark.parametrize(
    "given", ["Purkinje-Fibre", "ATRIAL_MYOCYTE", " vascular smooth muscle ", "Hippocampal-Neuron"]
)
def test_get_preset_accepts_hyphens_spaces_and_case(given):
    assert get_preset(given).name == given.strip().lower().replace("-", "_").replace(" ", "_")


def test_get_preset_names_the_choices_for_an_unknown_name():
    with pytest.raises(ValueError, match="mammalian_skeletal_muscle"):
        get_preset("smooth_muscle")


@pytest.mark.parametrize("name", NEW)
def test_new_presets_give_a_resting_potential_through_the_public_api(name):
    v = float(vrest.predict("ghk", preset=name))
    assert -110.0 < v < -40.0
