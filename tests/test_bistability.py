"""The bistable K_o range: the vectorised core against its scalar form, steady-state scans and brute force."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import random_inputs

import vrest
from vrest.bistability import bistable_range, bistable_ranges, can_be_bistable
from vrest.models.rectifying import rectifying_kir_current

N_SETS = 12


@pytest.fixture(scope="module")
def sets() -> tuple[list[dict[str, float]], dict[str, np.ndarray], list[list[tuple[float, float]]]]:
    """Random rectifying-kir parameter sets (as scalar dicts and as arrays) and their vectorised ranges."""
    arrays = {k: v for k, v in random_inputs("rectifying-kir", N_SETS, seed=0).items() if k != "k_o"}
    scalars = [{k: float(v[i]) for k, v in arrays.items()} for i in range(N_SETS)]
    return scalars, arrays, bistable_ranges("rectifying-kir", arrays)


def test_vectorised_core_matches_scalar_range_of_every_set(sets):
    scalars, _, ranges = sets
    assert 0 < sum(map(bool, ranges)) < N_SETS  # bistable and monostable sets
    assert any(r and r[-1][1] == 20.0 for r in ranges)  # a range reaching the scan end
    for one, many in zip(scalars, ranges, strict=True):
        single = bistable_range("rectifying-kir", **one)
        assert len(single) == len(many)
        np.testing.assert_allclose(np.reshape(many, (-1, 2)), np.reshape(single, (-1, 2)), rtol=1e-9, atol=0)


def test_ranges_match_a_fine_steady_state_scan_and_bounds_are_saddle_nodes(sets):
    _, arrays, ranges = sets
    k_o = np.geomspace(0.5, 20.0, 2000)  # 10 levels per scan step
    n_stable = vrest.steady_states("rectifying-kir", k_o=k_o, **{k: v[:, None] for k, v in arrays.items()}).n_stable
    for i, r in enumerate(ranges):
        inside = np.zeros(k_o.shape, dtype=bool)
        for lo, hi in r:
            inside |= (lo <= k_o) & (k_o <= hi)
        multi = n_stable[i] >= 2
        assert not np.any(inside & ~multi), i
        assert np.sum(multi & ~inside) < 10, i  # only a range narrower than the scan step can be missed
        one = {k: v[i] for k, v in arrays.items()}
        for lo, hi in r:
            for bound, sign in ((lo, 1), (hi, -1)):
                if bound in (0.5, 20.0):
                    continue  # a scan end, not a fold
                near = bound * (1 + sign * np.array([1e-6, -1e-4]))  # just inside, just outside
                assert vrest.steady_states("rectifying-kir", k_o=near, **one).n_stable.tolist() == [2, 1]


def _brute_force_multistable(k_o: float, g_na: float, na_plus_k: float) -> bool:
    """Two stable states (three zeros), from sign changes of I(V) on a 0.01 mV grid (no cleverness)."""
    _, values = vrest.resolve_inputs("rectifying-kir", {"k_o": k_o, "g_na": g_na, "na_o": na_plus_k - k_o})
    v = np.arange(-200.0, 100.0, 0.01)
    i = rectifying_kir_current(v, **values)[0]
    return int(np.sum(np.signbit(i[:-1]) != np.signbit(i[1:]))) == 3


def test_inputs_that_depend_on_k_o_match_brute_force():
    """K+ raised by replacing Na+ (Na_o = 150 mM - K_o): the hull of each set's range against brute force."""
    g_na = np.array([0.015, 0.02, 0.03])
    ranges = bistable_ranges("rectifying-kir", {"g_na": g_na}, at_k_o=lambda k: {"k_o": k, "na_o": 150.0 - k})
    assert all(len(r) == 1 for r in ranges)
    for g, ((lo, hi),) in zip(g_na, ranges, strict=True):
        for bound, sign in ((lo, 1), (hi, -1)):
            assert _brute_force_multistable(bound * (1 + sign * 2e-3), g, 150.0)
            assert not _brute_force_multistable(bound * (1 - sign * 2e-3), g, 150.0)


def test_ranges_reaching_the_scan_ends_and_monostable_models():
    (low, high), = bistable_range("rectifying-kir")
    assert bistable_ranges("rectifying-kir", {}, low * 1.01, high * 0.99) == [[(low * 1.01, high * 0.99)]]
    ((a, b),), = bistable_ranges("rectifying-kir", {}, low * 1.01, 10.0)
    assert a == low * 1.01 and b == pytest.approx(high, rel=1e-8)
    assert [can_be_bistable(m) for m in ("ghk", "rectifying-ghk", "rectifying-kir")] == [False, False, True]
    assert bistable_ranges("rectifying-ghk", {"i_pump": [1.0, 2.0]}) == [[], []]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: bistable_ranges("rectifying-kir", {}, 5.0, 2.0), "k_o range"),
        (lambda: bistable_ranges("rectifying-kir", {"g_na": np.full((2, 2), 0.02)}), "1-D over parameter sets"),
        (lambda: bistable_ranges("rectifying-kir", {"g_na": [0.02, 0.03], "g_cl": [0.1] * 3}), "shape mismatch"),
        (lambda: bistable_ranges("rectifying-ghk", {"nosuch": 1.0}), "not an input"),
        (lambda: bistable_range("rectifying-kir", g_na=[0.02, 0.03]), "must be scalars"),
    ],
)
def test_bad_input_is_rejected(call, match):
    with pytest.raises(ValueError, match=match):
        call()
