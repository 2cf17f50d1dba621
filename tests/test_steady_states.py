"""All steady states, their stability, the single-value solver's choice and the bistable range."""

from __future__ import annotations

import numpy as np
import pytest

import vrest
from vrest.models.rectifying import rectifying_kir_current

KIR = vrest.get_model("rectifying-kir")


def _brute_force_zeros(k_o: float, step: float = 0.01) -> np.ndarray:
    """Zeros of I(V) from sign changes on a fine voltage grid (no cleverness)."""
    _, values = vrest.resolve_inputs("rectifying-kir", {"k_o": k_o})
    v = np.arange(-200.0, 100.0, step)
    i = rectifying_kir_current(v, **values)[0]
    return v[:-1][np.signbit(i[:-1]) != np.signbit(i[1:])]


def test_one_stable_state_at_reference_potassium():
    ss = vrest.steady_states("rectifying-kir", k_o=5.4)
    assert int(ss.count) == 1 and bool(ss.stable[0])
    assert -90 < ss.v_mv[0] < -70  # hyperpolarised, near E_K = -85 mV


def test_low_potassium_has_two_stable_and_one_unstable_state():
    ss = vrest.steady_states("rectifying-kir", k_o=3.5)
    assert int(ss.count) == 3
    assert ss.stable[:3].tolist() == [True, False, True]
    v = ss.v_mv[:3]
    assert v[0] < v[1] < v[2]
    e_k = vrest.nernst(3.5, 140.0, 1, 310.15)
    assert v[0] < -80 and v[0] > e_k  # hyperpolarised state just above E_K
    assert v[2] > -40  # the depolarised state of paradoxical depolarisation
    np.testing.assert_allclose(np.sort(v), _brute_force_zeros(3.5), atol=0.011)


def test_very_low_potassium_leaves_only_the_depolarised_state():
    ss = vrest.steady_states("rectifying-kir", k_o=1.0)
    assert int(ss.count) == 1 and ss.v_mv[0] > -40


def test_stability_is_the_sign_of_the_slope_and_zeros_are_zeros():
    k_o = np.geomspace(0.5, 20, 200)
    ss = vrest.steady_states("rectifying-kir", k_o=k_o)
    _, values = vrest.resolve_inputs("rectifying-kir", {"k_o": k_o[:, None]})
    i, slope = rectifying_kir_current(ss.v_mv, **values)
    found = np.isfinite(ss.v_mv)
    assert np.all(np.abs(i[found] / slope[found]) < 1e-9)
    assert np.array_equal(ss.stable[found], slope[found] > 0)
    # stable and unstable states alternate (a continuous current crossing zero)
    for s, n in zip(ss.stable, ss.count):
        assert s[:n].tolist() == [j % 2 == 0 for j in range(n)]


def test_single_value_solver_warns_and_says_which_state():
    with pytest.warns(vrest.MultipleSteadyStatesWarning, match="most hyperpolarized"):
        hyper = vrest.predict("rectifying-kir", k_o=3.5)
    with pytest.warns(vrest.MultipleSteadyStatesWarning, match="most depolarized"):
        depol = vrest.predict("rectifying-kir", k_o=3.5, branch="depolarized")
    ss = vrest.steady_states("rectifying-kir", k_o=3.5)
    assert hyper == pytest.approx(ss.v_mv[0], abs=1e-9) and depol == pytest.approx(ss.v_mv[2], abs=1e-9)


def test_bistable_range_matches_brute_force_scan():
    ranges = vrest.bistable_range("rectifying-kir", 0.5, 20.0)
    assert len(ranges) == 1
    low, high = ranges[0]
    assert 2.0 < low < high < 5.4
    # brute force: count sign changes on a 0.01 mV grid over a fine K_o grid
    k_o = np.arange(2.5, 5.5, 0.002)
    three = np.array([_brute_force_zeros(k).size == 3 for k in k_o])
    assert k_o[three].min() == pytest.approx(low, abs=0.004)
    assert k_o[three].max() == pytest.approx(high, abs=0.004)


def test_bistable_bounds_are_saddle_nodes():
    low, high = vrest.bistable_range("rectifying-kir", 0.5, 20.0)[0]
    for k_o in (low, high):
        # just inside: three states; just outside: one
        inside = k_o * (1 + 1e-6) if k_o == low else k_o * (1 - 1e-6)
        outside = k_o * (1 - 1e-4) if k_o == low else k_o * (1 + 1e-4)
        assert int(vrest.steady_states("rectifying-kir", k_o=inside).count) == 3
        assert int(vrest.steady_states("rectifying-kir", k_o=outside).count) == 1


def test_monotone_models_have_exactly_one_state_and_no_bistability():
    k_o = np.geomspace(0.5, 100, 50)
    ss = vrest.steady_states("rectifying-ghk", k_o=k_o, i_pump=2.0)
    assert np.all(ss.count == 1) and np.all(ss.stable[:, 0])
    np.testing.assert_allclose(ss.v_mv[:, 0], vrest.predict("rectifying-ghk", k_o=k_o, i_pump=2.0), atol=1e-9)
    assert vrest.bistable_range("rectifying-ghk") == []


def test_steady_states_vectorised_over_any_shape():
    k_o = np.array([[1.0, 3.5], [5.4, 8.0]])
    ss = vrest.steady_states("rectifying-kir", k_o=k_o, g_na=np.array([0.02, 0.02]))
    assert ss.count.shape == (2, 2) and ss.v_mv.shape[:2] == (2, 2)
    assert ss.count.tolist() == [[1, 3], [1, 1]]


@pytest.mark.filterwarnings("ignore::vrest.MultipleSteadyStatesWarning")
@pytest.mark.parametrize("branch", ["hyperpolarized", "depolarized"])
def test_warm_started_state_is_certified_only_when_it_is_the_requested_one(branch):
    """Along a random walk of parameters (as in a sampler), a certified warm start equals the full solve."""
    from vrest.api import solve_root
    from vrest.models.kir_states import kir_state_near

    rng = np.random.default_rng(0)
    k_o = np.geomspace(1.5, 8.0, 10)
    certified = 0
    for _ in range(300):
        m, values = vrest.resolve_inputs("rectifying-kir", {
            "k_o": k_o, "g_na": np.full(10, 0.02 * np.exp(0.4 * rng.normal())),
            "g_cl": np.full(10, 0.05 * np.exp(0.4 * rng.normal())), "i_pump": np.full(10, rng.normal())})  # fmt: skip
        full = solve_root(m, values, branch)
        near = kir_state_near(values, branch, full + rng.normal(0, 0.7, full.shape))
        if near is not None:
            certified += 1
            np.testing.assert_allclose(near, full, atol=1e-9)
    assert certified > 10  # the shortcut is taken (how often depends on the regime)


def _saltelli_case():
    """A Saltelli design (256 base rows, 8 inputs) across the bistable range and right at its
    saddle-nodes, its model inputs and anchors (AB rows start from A, BA rows from B)."""
    from vrest.sensitivity.sampling import saltelli_anchors, saltelli_design

    low, high = vrest.bistable_range("rectifying-kir", 0.5, 20.0)[0]
    ranges = {"k_o": (low - 0.3, high + 0.3), "k_i": (135.0, 155.0), "cl_i": (4.0, 30.0), "temp_k": (309.15, 311.15),
              "g_na": (0.016, 0.024), "g_cl": (0.04, 0.06), "v_half": (8.0, 12.0), "i_pump": (-0.5, 0.5)}  # fmt: skip
    design = saltelli_design(len(ranges), tuple((j,) for j in range(len(ranges))), 256, np.random.default_rng(3), True)
    unit = design.unit_points()
    x = {name: lo + (hi - lo) * unit[..., j] for j, (name, (lo, hi)) in enumerate(ranges.items())}
    # four base rows whose A and B points sit a hair inside and outside the saddle-nodes
    _, default = vrest.resolve_inputs("rectifying-kir", {"k_o": 4.0})
    for name in ranges:
        x[name][:4, [0, -1]] = default[name]
    edge = np.array([low * (1 + 1e-7), low * (1 - 1e-7), high * (1 - 1e-7), high * (1 + 1e-7)])
    x["k_o"][:4, 0], x["k_o"][:4, -1] = edge, edge[::-1]
    _, values = vrest.resolve_inputs("rectifying-kir", x)
    return values, saltelli_anchors(256, len(ranges), True)


@pytest.mark.parametrize("branch", ["hyperpolarized", "depolarized"])
def test_anchored_solve_along_a_saltelli_design_is_the_full_solve(branch):
    """Points started from their A (AB rows) or B (BA rows) point, across the bistable range and
    right at its saddle-nodes, get the bracketed full solve's state and count."""
    from vrest.models.kir_states import _flat, _solve

    values, anchors = _saltelli_case()
    v, count = KIR.stable_state(KIR.bounds, values, branch, anchors)
    full = _solve(KIR.bounds, _flat(values), v.size, branch)
    np.testing.assert_array_equal(count.ravel(), full.count)
    assert np.max(np.abs(v.ravel() - full.v)) < 1e-9
    assert 0.2 < np.mean(count == 2) < 0.8  # dense in the bistable range, both kinds of point


@pytest.mark.parametrize("branch", ["hyperpolarized", "depolarized"])
def test_anchored_solve_in_many_small_chunks_is_the_full_solve(branch, monkeypatch):
    """Chunks and Newton blocks far smaller than the design (uneven sizes, each stage of the
    shortcut on several chunks, tails compacted across blocks) change nothing beyond the tolerance."""
    from vrest.models import kir_states

    values, anchors = _saltelli_case()
    whole = KIR.stable_state(KIR.bounds, values, branch, anchors)
    monkeypatch.setattr(kir_states, "NEAR_CHUNK", 97)
    v, count = KIR.stable_state(KIR.bounds, values, branch, anchors)
    full = kir_states._solve(KIR.bounds, kir_states._flat(values), v.size, branch)
    np.testing.assert_array_equal(count.ravel(), full.count)
    np.testing.assert_array_equal(count, whole[1])
    assert np.max(np.abs(v.ravel() - full.v)) < 1e-9


def test_anchored_solve_falls_back_to_the_full_solve_where_it_cannot_certify(monkeypatch):
    """A start on the wrong branch (or none) still gives the requested state, and the shortcut covers most points."""
    from vrest.models import kir_states

    k_o = np.linspace(2.0, 6.0, 400)
    _, values = vrest.resolve_inputs("rectifying-kir", {"k_o": k_o})
    index = np.arange(400)
    anchors = np.where(index % 2 == 1, 399 - index, index)  # odd points start from an even one far away
    full_rows = []
    solve = kir_states._solve
    monkeypatch.setattr(kir_states, "_solve", lambda *a: full_rows.append(a[2]) or solve(*a))
    for branch in ("hyperpolarized", "depolarized"):
        v, count = kir_states.kir_stable_state(KIR.bounds, values, branch, anchors)
        ss = vrest.steady_states("rectifying-kir", k_o=k_o)
        stable = np.where(ss.stable, ss.v_mv, np.nan)
        pick = np.nanmin if branch == "hyperpolarized" else np.nanmax
        np.testing.assert_array_equal(count, ss.n_stable)
        assert np.max(np.abs(v - pick(stable, axis=-1))) < 1e-8
    assert sum(full_rows) < 0.05 * 800


def test_anchors_must_name_points_that_are_their_own_anchor():
    _, values = vrest.resolve_inputs("rectifying-kir", {"k_o": np.array([3.0, 4.0, 5.0])})
    with pytest.raises(ValueError, match="anchors"):
        KIR.stable_state(KIR.bounds, values, "hyperpolarized", np.array([1, 2, 0]))
    with pytest.raises(ValueError, match="anchors"):
        KIR.stable_state(KIR.bounds, values, "hyperpolarized", np.array([0, 1]))


def test_logistic_block_has_its_limits_without_overflow_warnings():
    from vrest.models.rectifying import logistic_block

    np.testing.assert_array_equal(logistic_block(np.array([-1000.0, 0.0, 1000.0])), [1.0, 0.5, 0.0])
    assert logistic_block(40.0) == pytest.approx(np.exp(-40.0), rel=1e-15)
