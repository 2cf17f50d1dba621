"""Finite values, no warnings and smooth behaviour over physiological and extreme inputs."""

from __future__ import annotations

import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vrest
from vrest.models.bernoulli import bernoulli, bernoulli_terms
from vrest.models.ghk import ghk_chord_conductance, ghk_current, ghk_current_and_slope

EXTREME_CONC = np.geomspace(1e-6, 1e3, 10)
EXTREME_RATIO = np.geomspace(1e-8, 1e4, 7)


def _grid(*axes):
    return [a.ravel() for a in np.meshgrid(*axes, indexing="ij")]


@pytest.fixture(autouse=True)
def numpy_errors_raise():
    with np.errstate(over="raise", divide="raise", invalid="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def test_bernoulli_matches_exact_values_and_series_boundary():
    x = np.array([-50.0, -1.0, -1e-2, -9.99e-3, -1e-8, 0.0, 1e-8, 9.99e-3, 1e-2, 1.0, 50.0, 800.0])
    with np.errstate(under="ignore"):
        exact = np.array([xi / np.expm1(xi) if xi != 0 else 1.0 for xi in np.minimum(x, 700.0)])
    np.testing.assert_allclose(bernoulli(x), exact, rtol=2e-15)
    _b, b_neg, db = bernoulli_terms(x)
    np.testing.assert_allclose(b_neg, bernoulli(-x), rtol=1e-14)
    # B'(x) against a central difference, on both sides of the series switch
    h = 1e-6
    fd = (bernoulli(x[1:-1] + h) - bernoulli(x[1:-1] - h)) / (2 * h)
    np.testing.assert_allclose(db[1:-1], fd, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("z", [-2, -1, 1, 2])
def test_ghk_current_and_gradient_finite_and_continuous_across_zero(z):
    v = np.concatenate([-np.geomspace(1.0, 1e-14, 60), [0.0], np.geomspace(1e-14, 1.0, 60)])
    i, slope = ghk_current_and_slope(v, 140.0, 5.0, z, 310.0)
    assert np.all(np.isfinite(i)) and np.all(np.isfinite(slope))
    # the limit at V = 0: I = z (c_in - c_out), dI/dV = z^2 (c_in + c_out) / (2 V_T)
    vt = vrest.constants.thermal_voltage_mv(310.0)
    assert i[60] == pytest.approx(z * (140.0 - 5.0), rel=1e-15)
    assert slope[60] == pytest.approx(z * z * 145.0 / (2 * vt), rel=1e-15)
    # continuity: neighbouring values differ by slope * dV, to rounding
    np.testing.assert_allclose(np.diff(i), slope[:-1] * np.diff(v), rtol=2e-2, atol=1e-12)
    # PyTensor autodiff through the same formula is finite and equals the analytic slope at and near 0
    vs = pt.dvector("v")
    g = pytensor.function([vs], pytensor.grad(ghk_current(vs, 140.0, 5.0, z, 310.0).sum(), vs))(v)
    np.testing.assert_allclose(g, slope, rtol=1e-12)


@pytest.mark.parametrize("z", [-2, -1, 1, 2])
def test_ghk_current_and_chord_conductance_finite_for_extreme_inputs(z):
    v, c_in, c_out = _grid(np.linspace(-500, 500, 41), EXTREME_CONC, EXTREME_CONC)
    for temp_k in (273.15, 310.0, 318.15):
        i, s = ghk_current_and_slope(v, c_in, c_out, z, temp_k)
        g = ghk_chord_conductance(v, c_in, c_out, z, temp_k)
        assert np.all(np.isfinite(i)) and np.all(np.isfinite(s)) and np.all(np.isfinite(g))
        assert np.all(s > 0) and np.all(g >= 0)


def _extreme_inputs(model: str) -> dict:
    conc = EXTREME_CONC[[0, 3, 6, 9]]
    if model in ("ghk", "ghk-ca", "mullins-noda", "rectifying-ghk"):
        k_o, k_i, na_o, p = _grid(conc, conc, conc, EXTREME_RATIO)
        out = dict(k_o=k_o, k_i=k_i, na_o=na_o, na_i=1.0, cl_o=conc[2], cl_i=conc[1], p_na=p, p_cl=p[::-1])
        return out | ({"p_ca": p, "ca_o": conc[3], "ca_i": conc[0]} if model == "ghk-ca" else {})
    k_o, k_i, na_o, g = _grid(conc, conc, conc, EXTREME_RATIO)
    return dict(k_o=k_o, k_i=k_i, na_o=na_o, na_i=1.0, cl_o=conc[2], cl_i=conc[1], g_na=g, g_cl=g[::-1])


@pytest.mark.parametrize("model", list(vrest.MODELS))
def test_models_and_gradients_finite_without_warnings_at_extremes(model):
    x = _extreme_inputs(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", vrest.MultipleSteadyStatesWarning)
        v = vrest.predict(model, **x)
        grad = vrest.gradient(model, **x)
    assert np.all(np.isfinite(v))
    for name, g in grad.items():
        assert np.all(np.isfinite(g)), f"{model}: dV/d{name} not finite"


@settings(max_examples=200, deadline=None)
@given(
    k_o=st.floats(1e-6, 1e3),
    k_i=st.floats(1e-6, 1e3),
    p_na=st.floats(1e-8, 1e4),
    i_pump=st.floats(0, 1e3),
    perm_k=st.floats(1e-3, 1e3),
)
def test_rectifying_ghk_solves_to_1e_9_mv_anywhere(k_o, k_i, p_na, i_pump, perm_k):
    """The last Newton step is below 1e-9 mV, or below a few float spacings of V where V is so large
    (|V| above about 1e6 mV, from huge pump currents) that 1e-9 mV is finer than a double resolves."""
    from vrest.models.rectifying import rectifying_ghk_current

    x = dict(k_o=k_o, k_i=k_i, p_na=p_na, i_pump=i_pump, perm_k=perm_k)
    v = vrest.predict("rectifying-ghk", **x)
    _, values = vrest.resolve_inputs("rectifying-ghk", x)
    i, slope = rectifying_ghk_current(v, **values)
    assert np.isfinite(v) and abs(i / slope) < max(1e-9, 4 * np.spacing(abs(v)))


@settings(max_examples=300, deadline=None)
@given(
    k_o=st.floats(0.05, 200.0),
    g_k=st.floats(1e-3, 1e3),
    g_na=st.floats(1e-2, 10.0),
    g_cl=st.floats(0.0, 10.0),
    v_half=st.floats(-40.0, 60.0),
    k_slope=st.floats(0.2, 40.0),
    i_pump=st.floats(-5.0, 5.0),
    branch=st.sampled_from(["hyperpolarized", "depolarized"]),
)
def test_kir_state_is_the_scan_s_requested_stable_zero_anywhere(k_o, g_k, g_na, g_cl, v_half, k_slope, i_pump, branch):
    """The compiled solve gives a zero of I (to 1e-9 mV) where I' > 0, the steady-state scan's
    count of stable states, and its most hyperpolarized or depolarized stable state."""
    from vrest.models.rectifying import rectifying_kir_current

    x = dict(k_o=k_o, g_k=g_k, g_na=g_na, g_cl=g_cl, v_half=v_half, k_slope=k_slope, i_pump=i_pump)
    _, values = vrest.resolve_inputs("rectifying-kir", x)
    v, count = vrest.get_model("rectifying-kir").stable_state(values, branch)
    i, slope = rectifying_kir_current(v, **values)
    assert np.isfinite(v) and slope > 0 and abs(i / slope) < 1e-9
    lo, hi, step = vrest.get_model("rectifying-kir").bounds(**values)  # a range holding every zero
    step = min(float(step), k_slope / 4)  # a scan that resolves the extrema
    ss = vrest.steady_states("rectifying-kir", v_min=float(lo), v_max=float(hi), step=step, **x)
    stable = ss.v_mv[ss.stable]
    assert int(count) == stable.size
    assert abs(v - (stable.min() if branch == "hyperpolarized" else stable.max())) < 1e-8


def test_solver_reports_when_it_cannot():
    from vrest.models.solver import SolverError, _newton_in_bracket

    def no_zero(v):  # increasing but positive everywhere: the bracket holds no zero
        return np.exp(v) + 1.0, np.exp(v)

    with pytest.raises(SolverError, match="does not change sign"):
        _newton_in_bracket(no_zero, np.array([-10.0]), np.array([10.0]), np.array([0.0]), "test")


def test_bracketed_newton_finishes_each_point_and_goes_on_with_the_slow_ones_alone():
    from vrest.models.solver import solve_increasing

    sizes = []
    c = np.linspace(-3.0, 3.0, 1000)
    steep = np.where(np.arange(1000) % 100 == 0, 30.0, 1.0)  # ten points converge slowly (rtsafe bisects)

    def setup(c, steep):
        def residual(v, rows):
            sizes.append(v.size)
            s, x = steep[rows], v - c[rows]
            return np.sinh(s * x), s * np.cosh(s * x)

        return c - 5.0, c + 5.0, c + 4.0, residual, False

    v = solve_increasing(setup, {"c": c, "steep": steep})
    np.testing.assert_allclose(v, c, atol=1e-9)
    assert sizes[0] == 1000 and sizes[-1] <= 10  # the fast points dropped out


@settings(max_examples=200, deadline=None)
@given(
    k_o=st.floats(0.1, 300),
    na_o=st.floats(1.0, 300),
    ca_o=st.floats(0.01, 100),
    ca_i=st.floats(1e-6, 1e-2),
    p_na=st.floats(1e-3, 10),
    p_ca=st.floats(0, 100),
)
def test_ghk_with_calcium_closed_form_is_the_zero_of_the_summed_currents(k_o, na_o, ca_o, ca_i, p_na, p_ca):
    """V_T ln x (x the root of the quadratic) zeroes I_mono + p_ca I_Ca to 1e-9 mV (Newton's step there),
    and with p_ca = 0 it is the GHK voltage equation."""
    from vrest.models.ghk_general import ghk_ca_current

    x = dict(k_o=k_o, na_o=na_o, ca_o=ca_o, ca_i=ca_i, p_na=p_na, p_ca=p_ca)
    v = vrest.predict("ghk-ca", **x)
    _, values = vrest.resolve_inputs("ghk-ca", x)
    i, slope = ghk_ca_current(v, **values)
    assert np.isfinite(v) and abs(i / slope) < 1e-9
    plain = vrest.predict("ghk", **(x | {"p_ca": 0.0}))
    assert vrest.predict("ghk-ca", **(x | {"p_ca": 0.0})) == pytest.approx(plain, abs=1e-12)
