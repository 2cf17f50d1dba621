"""Textbook values and identities of Nernst, GHK, Mullins-Noda and chord models."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vrest
from vrest.constants import F_C_PER_MOL, R_J_PER_MOL_K, thermal_voltage_mv
from vrest.models.ghk import ghk_chord_conductance, ghk_current

conc = st.floats(1e-3, 1e3)
temp = st.floats(273.15, 318.15)


def test_codata_2018_constants():
    assert R_J_PER_MOL_K == 8.314462618
    assert F_C_PER_MOL == 96485.33212
    assert thermal_voltage_mv(310.0) == pytest.approx(26.713733, abs=1e-6)  # 1e3 R 310 / F


@pytest.mark.parametrize(
    ("c_out", "c_in", "z", "expected"),
    [(5, 140, 1, -89.016), (145, 12, 1, 66.566), (110, 10, -1, -64.057)],
)
def test_nernst_textbook_values(c_out, c_in, z, expected):
    assert vrest.nernst(c_out, c_in, z, 310.0) == pytest.approx(expected, abs=1e-3)


def test_nernst_divalent_is_half_of_monovalent():
    assert vrest.nernst(2.0, 1e-4, 2, 310.0) == pytest.approx(vrest.nernst(2.0, 1e-4, 1, 310.0) / 2, rel=1e-15)


def test_ghk_textbook_value(neuron):
    v = vrest.predict("ghk", **neuron, p_na=0.04, p_cl=0.45)
    assert v == pytest.approx(-67.294, abs=1e-3)


@settings(max_examples=200, deadline=None)
@given(k_o=conc, k_i=conc, t=temp)
def test_ghk_with_only_k_permeant_is_nernst(k_o, k_i, t):
    v = vrest.predict("ghk", k_o=k_o, k_i=k_i, temp_k=t, p_na=0.0, p_cl=0.0)
    assert v == pytest.approx(vrest.nernst(k_o, k_i, 1, t), abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(c_out=conc, c_in=conc, z=st.sampled_from([-2, -1, 1, 2, 3]), t=temp)
def test_single_ion_ghk_current_vanishes_at_nernst(c_out, c_in, z, t):
    e = vrest.nernst(c_out, c_in, z, t)
    scale = abs(z) * (c_out + c_in)
    assert abs(ghk_current(e, c_in, c_out, z, t)) <= 1e-12 * scale
    # and the chord conductance there is the finite limit I'(E)
    g = ghk_chord_conductance(e, c_in, c_out, z, t)
    h = 1e-4
    slope = (ghk_current(e + h, c_in, c_out, z, t) - ghk_current(e - h, c_in, c_out, z, t)) / (2 * h)
    assert g == pytest.approx(slope, rel=1e-6)


@settings(max_examples=100, deadline=None)
@given(k_o=st.floats(0.5, 50), p_na=st.floats(1e-4, 1.0), p_cl=st.floats(0, 2.0))
def test_ghk_lies_between_reversal_potentials(k_o, p_na, p_cl):
    v = vrest.predict("ghk", k_o=k_o, p_na=p_na, p_cl=p_cl)
    e = [vrest.nernst(k_o, 140, 1), vrest.nernst(145, 12, 1), vrest.nernst(110, 10, -1)]
    assert min(e) - 1e-9 <= v <= max(e) + 1e-9


@settings(max_examples=100, deadline=None)
@given(scale=st.floats(1e-3, 1e3), p_na=st.floats(1e-3, 1.0), p_cl=st.floats(1e-3, 2.0), p_ca=st.floats(1e-4, 1.0))
def test_scaling_all_permeabilities_changes_nothing(scale, p_na, p_cl, p_ca):
    # summed GHK currents with every permeability multiplied by `scale`
    ions = [(140, 5, 1, 1.0), (12, 145, 1, p_na), (10, 110, -1, p_cl), (1e-4, 2.0, 2, p_ca)]
    v = np.linspace(-100, 50, 301)
    total = sum(ghk_current(v, ci, co, z, 310.0, p) for ci, co, z, p in ions)
    scaled = sum(ghk_current(v, ci, co, z, 310.0, scale * p) for ci, co, z, p in ions)
    np.testing.assert_allclose(scaled, scale * total, rtol=1e-12, atol=1e-12 * scale)
    # so the zero-current potential is unchanged (general GHK with Ca2+)
    a = vrest.predict("rectifying-ghk", perm_k=scale, p_na=p_na, p_cl=p_cl)
    b = vrest.predict("rectifying-ghk", perm_k=1.0, p_na=p_na, p_cl=p_cl)
    assert a == pytest.approx(b, abs=1e-9)


@pytest.mark.filterwarnings("ignore::vrest.MultipleSteadyStatesWarning")
@settings(max_examples=100, deadline=None)
@given(scale=st.floats(1e-3, 1e3), g_na=st.floats(1e-3, 1.0), g_cl=st.floats(0, 1.0), pump=st.floats(0, 10))
def test_scaling_all_conductances_changes_nothing(scale, g_na, g_cl, pump):
    base = dict(g_k=1.0, g_na=g_na, g_cl=g_cl)
    big = {k: scale * v for k, v in base.items()}
    assert vrest.predict("chord", **big, pump_mv=pump) == pytest.approx(vrest.predict("chord", **base, pump_mv=pump), abs=1e-9)
    assert vrest.predict("rectifying-kir", k_o=8.0, **big) == pytest.approx(vrest.predict("rectifying-kir", k_o=8.0, **base), abs=1e-9)


@pytest.mark.parametrize(("ion", "e_args"), [("g_k", (5, 140, 1)), ("g_na", (145, 12, 1)), ("g_cl", (110, 10, -1))])
def test_chord_with_one_conductance_is_that_nernst(neuron, ion, e_args):
    g = {"g_k": 0.0, "g_na": 0.0, "g_cl": 0.0, ion: 2.5}
    assert vrest.predict("chord", **neuron, **g) == pytest.approx(vrest.nernst(*e_args, 310.0), abs=1e-12)


def test_pump_offset_slope_is_exactly_minus_one_over_g_tot(neuron):
    g = dict(g_k=1.0, g_na=0.05, g_cl=0.2)
    v0 = vrest.predict("chord", **neuron, **g)
    for g_tot in (None, 0.7, 12.0):
        expected = -1.0 / (g_tot if g_tot is not None else 1.25)
        assert vrest.gradient("chord", **neuron, **g, i_pump=3.0, g_tot=g_tot)["i_pump"] == expected
        v = vrest.predict("chord", **neuron, **g, i_pump=3.0, g_tot=g_tot)
        assert v - v0 == pytest.approx(3.0 * expected, abs=1e-12)
    assert vrest.gradient("ghk", **neuron)["pump_mv"] == -1.0


def test_mullins_noda_is_ghk_with_r_weighted_potassium(neuron):
    v = vrest.predict("mullins-noda", **neuron, p_na=0.04, p_cl=0.0, pump_ratio=1.5)
    vt = thermal_voltage_mv(310.0)
    assert v == pytest.approx(vt * np.log((1.5 * 5 + 0.04 * 145) / (1.5 * 140 + 0.04 * 12)), abs=1e-12)
    # the pump hyperpolarises: MN is below plain GHK with the same ratios
    assert v < vrest.predict("ghk", **neuron, p_na=0.04, p_cl=0.0)
    assert vrest.predict("mullins-noda", **neuron, pump_ratio=1.0) == pytest.approx(vrest.predict("ghk", **neuron))


def test_ghk_with_calcium_reduces_to_closed_form_and_depolarises(neuron):
    closed = vrest.predict("ghk", **neuron)
    assert vrest.predict("ghk", **neuron, p_ca=1e-12) == pytest.approx(closed, abs=1e-8)
    with_ca = vrest.predict("ghk", **neuron, p_ca=0.05, ca_o=2.0, ca_i=1e-4)
    assert closed < with_ca < vrest.nernst(2.0, 1e-4, 2, 310.0)


def test_rectifying_ghk_without_pump_is_ghk_voltage_equation():
    from conftest import random_inputs

    x = random_inputs("rectifying-ghk", 20_000, seed=0, i_pump=0.0)
    ghk = {k: v for k, v in x.items() if k not in ("perm_k", "i_pump")}
    np.testing.assert_allclose(vrest.predict("rectifying-ghk", **x), vrest.predict("ghk", **ghk), rtol=0, atol=1e-9)


def test_rectifying_ghk_pump_hyperpolarises_and_matches_chord_form():
    from vrest.models.rectifying import rectifying_ghk_current

    args = dict(k_o=5.0, k_i=140.0, na_o=145.0, na_i=12.0, cl_o=110.0, cl_i=10.0, temp_k=310.0, p_na=0.04, p_cl=0.45)
    v = vrest.predict("rectifying-ghk", **args, perm_k=0.5, i_pump=2.0)
    assert v < vrest.predict("ghk", **args)
    # fixed point V = E_eff(V) - I_pump/G(V) with GHK chord conductances
    ions = [(140.0, 5.0, 1, 0.5), (12.0, 145.0, 1, 0.5 * 0.04), (10.0, 110.0, -1, 0.5 * 0.45)]
    g = [ghk_chord_conductance(v, ci, co, z, 310.0, p) for ci, co, z, p in ions]
    e = [vrest.nernst(co, ci, z, 310.0) for ci, co, z, _ in ions]
    e_eff = sum(gi * ei for gi, ei in zip(g, e)) / sum(g)
    assert v == pytest.approx(e_eff - 2.0 / sum(g), abs=1e-9)
    assert rectifying_ghk_current(v, **args, perm_k=0.5, i_pump=2.0)[0] == pytest.approx(0.0, abs=1e-9)
