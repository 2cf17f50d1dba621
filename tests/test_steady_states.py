"""All steady states, their stability, the single-value solver's choice and the bistable range."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

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


def _saltelli_case():
    """Inputs of a Saltelli design (256 base rows, 8 inputs) across the bistable range, with
    four base rows whose A and B points sit a hair inside and outside the saddle-nodes."""
    from vrest.sensitivity.sampling import saltelli_design

    low, high = vrest.bistable_range("rectifying-kir", 0.5, 20.0)[0]
    ranges = {"k_o": (low - 0.3, high + 0.3), "k_i": (135.0, 155.0), "cl_i": (4.0, 30.0), "temp_k": (309.15, 311.15),
              "g_na": (0.016, 0.024), "g_cl": (0.04, 0.06), "v_half": (8.0, 12.0), "i_pump": (-0.5, 0.5)}  # fmt: skip
    design = saltelli_design(len(ranges), tuple((j,) for j in range(len(ranges))), 256, np.random.default_rng(3), True)
    unit = design.unit_points()
    x = {name: lo + (hi - lo) * unit[..., j] for j, (name, (lo, hi)) in enumerate(ranges.items())}
    _, default = vrest.resolve_inputs("rectifying-kir", {"k_o": 4.0})
    for name in ranges:
        x[name][:4, [0, -1]] = default[name]
    edge = np.array([low * (1 + 1e-7), low * (1 - 1e-7), high * (1 - 1e-7), high * (1 + 1e-7)])
    x["k_o"][:4, 0], x["k_o"][:4, -1] = edge, edge[::-1]
    return x


@pytest.mark.parametrize("branch", ["hyperpolarized", "depolarized"])
def test_kir_states_across_the_bistable_range_and_at_its_saddle_nodes_are_those_of_the_scan(branch):
    """The compiled solve gives the steady-state scan's count and requested state, also a hair
    inside and outside both saddle-nodes (where the two extrema of I nearly touch zero)."""
    x = _saltelli_case()
    _, values = vrest.resolve_inputs("rectifying-kir", x)
    v, count = KIR.stable_state(values, branch)
    ss = vrest.steady_states("rectifying-kir", **x)
    stable = np.where(ss.stable, ss.v_mv, np.nan)
    pick = np.nanmin if branch == "hyperpolarized" else np.nanmax
    np.testing.assert_array_equal(count, ss.n_stable)
    assert np.max(np.abs(v - pick(stable, axis=-1))) < 1e-9
    np.testing.assert_array_equal(count[:4, 0], [2, 1, 2, 1])  # inside, outside, inside, outside
    assert 0.2 < np.mean(count == 2) < 0.8  # dense in the bistable range, both kinds of point


def test_each_kir_point_is_solved_on_its_own(monkeypatch):
    """Any split of the points over threads, and any order of them, gives the same bits."""
    from vrest.models import kir_states

    x = _saltelli_case()
    _, values = vrest.resolve_inputs("rectifying-kir", x)
    whole = KIR.stable_state(values, "depolarized")
    monkeypatch.setattr(kir_states, "CHUNK", 97)  # many chunks, the last one shorter, on threads
    monkeypatch.setattr(kir_states, "solver_threads", lambda: 3)
    pools = []
    monkeypatch.setattr(kir_states, "ThreadPoolExecutor", lambda n: pools.append(n) or ThreadPoolExecutor(n))
    threaded = KIR.stable_state(values, "depolarized")
    order = np.random.default_rng(0).permutation(whole[0].size)
    shuffled = KIR.stable_state({k: np.ravel(a)[order] if np.ndim(a) else a for k, a in values.items()}, "depolarized")
    assert pools == [3, 3]  # the threaded and the shuffled solve ran on three threads
    for got in (threaded, (shuffled[0][np.argsort(order)], shuffled[1][np.argsort(order)])):
        np.testing.assert_array_equal(np.ravel(got[0]), whole[0].ravel())
        np.testing.assert_array_equal(np.ravel(got[1]), whole[1].ravel())


def test_kir_without_k_conductance_is_the_leak_s_zero():
    """g_k = 0 leaves the ohmic leak: V = E_L - i_pump / g_L, one stable state."""
    i_pump = np.linspace(-0.5, 0.5, 7)
    _, values = vrest.resolve_inputs("rectifying-kir", {"k_o": np.geomspace(1.0, 20.0, 7), "g_k": 0.0, "i_pump": i_pump})
    v, count = KIR.stable_state(values, "depolarized")
    g_lin = values["g_na"] + values["g_cl"]
    e_na = vrest.nernst(values["na_o"], values["na_i"], 1, values["temp_k"])
    e_cl = vrest.nernst(values["cl_o"], values["cl_i"], -1, values["temp_k"])
    np.testing.assert_allclose(v, (values["g_na"] * e_na + values["g_cl"] * e_cl) / g_lin - i_pump / g_lin, atol=1e-9)
    assert (count == 1).all()


@pytest.mark.parametrize("branch", ["hyperpolarized", "depolarized"])
def test_more_outward_pump_current_hyperpolarizes_each_branch(branch):
    """dV/di_pump = -1/I'(V) < 0 on a stable branch; the bistable window lies inside the pump range."""
    _, values = vrest.resolve_inputs("rectifying-kir", {"k_o": 3.5, "i_pump": np.linspace(-3.0, 3.0, 6001)})
    v, count = KIR.stable_state(values, branch)
    assert np.all(np.diff(v) < 0)
    assert set(np.unique(count)) == {1, 2}


def test_kir_finds_a_depolarised_state_volts_away_where_an_inward_pump_term_meets_a_tiny_leak():
    """The state of a pump term of -5 g_k mV against a leak of 0.1 % of g_k lies near E_Na + 5000 mV. The kernel
    finds it (a zero of I; its search range once ended 1 V above the reversals and raised SolverError there),
    and evaluate() counts no failure."""
    from vrest.sensitivity.evaluate import evaluate

    x = {"k_o": np.array([3.5, 3.5]), "g_na": np.array([0.02, 1e-3]), "g_cl": np.array([0.05, 0.0]),
         "i_pump": np.array([0.0, -5.0])}  # fmt: skip
    _, values = vrest.resolve_inputs("rectifying-kir", x)
    v, _ = KIR.stable_state(values, "depolarized")
    current, slope = KIR.current(v, **values)
    np.testing.assert_allclose(current / slope, 0.0, atol=1e-6)
    assert 4000.0 < v[1] < 6000.0
    ev = evaluate("rectifying-kir", x, preset="mammalian_neuron", branch="depolarized")
    assert np.all(np.isfinite(ev.v)) and ev.n_failed == 0


def test_kir_branch_must_be_named():
    _, values = vrest.resolve_inputs("rectifying-kir", {"k_o": 3.5})
    with pytest.raises(ValueError, match="branch"):
        KIR.stable_state(values, "depolarised")


def test_kir_kernel_is_cached_in_vrest_s_cache_folder_under_a_source_key():
    """Not next to the module (where an edited formula in another file would not invalidate it)."""
    from pathlib import Path

    from vrest import cache as disk_cache
    from vrest.models import kir_kernel

    _, values = vrest.resolve_inputs("rectifying-kir", {"k_o": 3.5})
    KIR.stable_state(values, "hyperpolarized")
    assert Path(kir_kernel.solve_points.stats.cache_path) == disk_cache.cache_root() / kir_kernel.CACHE_KEY
    assert disk_cache.read_meta(kir_kernel.CACHE_KEY) is not None  # counted and pruned like a compiled model


def test_logistic_block_has_its_limits_without_overflow_warnings():
    from vrest.models.rectifying import logistic_block

    np.testing.assert_array_equal(logistic_block(np.array([-1000.0, 0.0, 1000.0])), [1.0, 0.5, 0.0])
    assert logistic_block(40.0) == pytest.approx(np.exp(-40.0), rel=1e-15)
