"""The two-branch likelihood of the inward rectifier (issue 18): branches continued by their ghosts, the latent and
the ordered (hysteresis) likelihood, their gradients in compiled code, and which branch each row is on."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import stats

import vrest
from vrest.inference.branches import (
    FOLD_BLUR_MV,
    SWITCH_PROBABILITY,
    BranchObservation,
    latent_log_likelihood,
    observed_branches,
    sequences,
)
from vrest.inference.sequence_kernel import sequence_pass
from vrest.models.kir_states import branch_log_weight

MODEL = "rectifying-kir"
TRUTH = {"g_na": 0.02, "g_cl": 0.05, "i_pump": 0.0}
"""The default rectifier (mammalian-neuron preset): two stable states between 2.92 and 4.99 mM K_o."""
LOOP = np.array([6.0, 4.5, 3.5, 2.5, 3.5, 4.5, 6.0])
"""K_o lowered through the bistable window and raised again (mM)."""
PATH = ["lower", "lower", "lower", "upper", "upper", "upper", "lower"]
"""The branch a cell follows along LOOP: hyperpolarised into the window, up where that state vanishes (2.5 mM),
depolarised back through the window, down where that state vanishes (6 mM)."""


def _loop_data(noise=(0.3, -0.2, 0.1, 0.4, -0.3, 0.2, -0.1)) -> tuple[dict, np.ndarray]:
    br = vrest.branches(MODEL, k_o=LOOP, **TRUTH)
    return br, np.array([br[b][i] for i, b in enumerate(PATH)]) + np.asarray(noise)


def test_each_branch_is_its_stable_state_where_it_exists_and_its_ghost_continues_it_through_the_saddle_node():
    """Inside the window both branches are the stable states of steady_states; outside, the vanished branch is the
    extremum of I(V) where its state met the saddle (I' = 0 there), and V and the margin are continuous in K_o."""
    k_o = np.geomspace(1.0, 20.0, 2001)
    br = vrest.branches(MODEL, k_o=k_o, **TRUTH)
    (low, high), = vrest.bistable_range(MODEL, 0.5, 30.0, **TRUTH)
    inside = (k_o > low) & (k_o < high)
    assert np.array_equal(inside, (br["margin_lower"] > 0) & (br["margin_upper"] > 0))
    for i in np.nonzero(inside)[0][::100]:
        states = vrest.steady_states(MODEL, k_o=k_o[i], **TRUTH)
        stable = np.sort(states.v_mv[states.stable])
        np.testing.assert_allclose([br["lower"][i], br["upper"][i]], [stable[0], stable[-1]], atol=1e-8)
    ghost = ~inside & (br["margin_upper"] < 0)
    current, slope = vrest.get_model(MODEL).current(br["upper"][ghost], **vrest.resolve_inputs(MODEL, {"k_o": k_o[ghost], **TRUTH})[1])
    np.testing.assert_allclose(slope, 0.0, atol=1e-9)  # an extremum of I
    assert np.all(current > 0)  # the minimum of I stays above zero: no state there
    for key in ("lower", "upper", "margin_lower", "margin_upper"):  # no jump anywhere, the folds included
        assert np.max(np.abs(np.diff(br[key]))) < 1.0, key


def test_a_branch_is_seen_at_its_state_and_reaches_its_ghost_without_the_square_root_of_the_fold():
    """Approaching the saddle-node where the hyperpolarised state vanishes (K_o falling to the window's lower edge),
    the state moves as sqrt(K_o - edge): its gradient grows without bound. The branch the likelihood sees equals the
    state to 0.01 mV beyond 5 mV from the ghost and the ghost where the state has vanished, and its compiled gradient
    stays bounded and matches central differences down to 1e-8 of the edge."""
    from vrest.symbolic import symbolic_branches

    (low, _), = vrest.bistable_range(MODEL, 0.5, 30.0, **TRUTH)
    k_o = low * np.concatenate([1 + np.geomspace(1e-8, 0.5, 120), 1 - np.geomspace(1e-6, 0.3, 40)])
    k = pt.dvector("k_o")
    raw = symbolic_branches(MODEL, k_o=k, **TRUTH)
    seen = observed_branches(raw)["lower"]
    with pytensor.config.change_flags(numba__fastmath=False):
        f = pytensor.function([k], [seen, pytensor.grad(seen.sum(), k), pytensor.grad(raw["lower"].sum(), k)],
                              mode="NUMBA")  # fmt: skip
    v, grad, raw_grad = f(k_o)
    br = vrest.branches(MODEL, k_o=k_o, **TRUTH)
    exists = br["margin_lower"] > 0
    assert exists[:120].all() and not exists[120:].any()
    np.testing.assert_array_equal(v[~exists], br["ghost_lower"][~exists])
    far = np.abs(br["lower"] - br["ghost_lower"]) > 5 * FOLD_BLUR_MV
    assert far.sum() > 10 and np.max(np.abs(v - br["lower"])[far]) < 0.01
    assert np.all(np.isfinite(grad)) and np.max(np.abs(grad)) < 200.0  # mV per mM
    assert np.abs(raw_grad[0]) > 100 * np.max(np.abs(grad))  # the root the likelihood no longer sees
    h = 1e-7 * k_o
    fd = (f(k_o + h)[0] - f(k_o - h)[0]) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-4, atol=1e-4)


def _enumerated(lp: dict, lw: dict) -> float:
    """log p(v) of one ordered sequence as the sum over every path of branches (2^rows), with the transition rule."""
    w = {b: np.exp(lw[b]) for b in ("lower", "upper")}
    total = 0.0
    for path in itertools.product(("lower", "upper"), repeat=lp["lower"].size):
        p = w[path[0]][0] / (w["lower"][0] + w["upper"][0]) * np.exp(lp[path[0]][0])
        for t in range(1, len(path)):
            follow = w[path[t - 1]][t]  # stay while that branch exists
            stay = SWITCH_PROBABILITY + (1 - 2 * SWITCH_PROBABILITY) * follow
            p *= (stay if path[t] == path[t - 1] else 1 - stay) * np.exp(lp[path[t]][t])
        total += p
    return float(np.log(total))


def test_the_ordered_likelihood_is_the_sum_over_branch_paths_and_follows_hysteresis():
    """The forward algorithm equals the brute-force sum over the 2^7 branch paths; data that stay hyperpolarised into
    the window and jump up only below it are far more likely in that order than reversed; knowing the order helps."""
    br, v_obs = _loop_data()
    lp = {b: stats.norm.logpdf(v_obs, br[b], 1.5) for b in ("lower", "upper")}
    lw = {b: branch_log_weight(br[f"margin_{b}"]) for b in ("lower", "upper")}

    def forward(rows) -> float:
        return _pass(np.eye(1, rows.size)[0], *(d[b][rows] for d in (lw, lp) for b in ("lower", "upper")))[0].sum()

    rows = np.arange(LOOP.size)
    assert forward(rows) == pytest.approx(_enumerated(lp, lw), rel=1e-12)
    assert forward(rows) > forward(rows[::-1]) + 5
    assert forward(rows) > latent_log_likelihood(lp["lower"], lp["upper"], lw["lower"], lw["upper"]).sum()


def _pass(start, lw_lower, lw_upper, lp_lower, lp_upper) -> tuple[np.ndarray, ...]:
    """sequence_pass's outputs: (row log-likelihoods, P(lower), d total / d lw_lower, d total / d lw_upper)."""
    out = [np.empty(start.size) for _ in range(4)]
    sequence_pass(*(np.ascontiguousarray(x, dtype=float) for x in (start, lw_lower, lw_upper, lp_lower, lp_upper)),
                  *out)  # fmt: skip
    return tuple(out)


def test_the_ordered_pass_gives_the_smoothed_branches_and_the_gradient_of_the_sum_over_paths():
    """Two sequences of random log weights (some branches all but vanished) and log-densities: the total equals the
    brute-force sum over paths of each sequence, each row's P(lower) its marginal over those paths, and the gradient
    (P(lower) and 1 - P(lower) for the log-densities) matches central differences."""
    rng = np.random.default_rng(5)
    n = 9
    start = np.zeros(n)
    start[[0, 4]] = 1.0
    lw_lower, lw_upper = -rng.exponential(1.0, n), -rng.exponential(1.0, n)
    lw_lower[2], lw_upper[6] = -40.0, -300.0
    lp_lower, lp_upper = rng.normal(-2.0, 2.0, n), rng.normal(-2.0, 2.0, n)
    x = [lw_lower, lw_upper, lp_lower, lp_upper]
    row_ll, p_lower, grad_lw_lower, grad_lw_upper = _pass(start, *x)

    def enumerated(x, part) -> float:
        return _enumerated({"lower": x[2][part], "upper": x[3][part]}, {"lower": x[0][part], "upper": x[1][part]})

    parts = [slice(0, 4), slice(4, n)]
    assert row_ll.sum() == pytest.approx(sum(enumerated(x, part) for part in parts), rel=1e-12)
    for t in range(n):  # P(lower at t | its sequence) = d log p / d lp_lower,t, by exact enumeration
        part = parts[t >= 4]
        h = 1e-6
        up, down = [v.copy() for v in x], [v.copy() for v in x]
        up[2][t] += h
        down[2][t] -= h
        assert p_lower[t] == pytest.approx((enumerated(up, part) - enumerated(down, part)) / (2 * h), abs=1e-7)
    grads = [grad_lw_lower, grad_lw_upper, p_lower, 1.0 - p_lower]
    for j, grad in enumerate(grads):
        for t in range(n):
            h = 1e-6
            up, down = [v.copy() for v in x], [v.copy() for v in x]
            up[j][t] += h
            down[j][t] -= h
            fd = (_pass(start, *up)[0].sum() - _pass(start, *down)[0].sum()) / (2 * h)
            assert grad[t] == pytest.approx(fd, abs=1e-7), (j, t)


def test_the_ordered_operation_takes_integer_start_flags_and_refuses_vectors_of_different_lengths():
    from vrest.inference.sequence_op import OrderedLikelihoodOp

    rng = np.random.default_rng(2)
    lw, lp = -rng.exponential(1.0, (2, 5)), rng.normal(-2.0, 1.0, (2, 5))
    start = pt.constant(np.array([1, 0, 0, 1, 0]))  # integers, as a data container may hold them
    x = pt.dvector("lp_lower")
    total = OrderedLikelihoodOp()(start, lw[0], lw[1], x, lp[1])[0]
    f = pytensor.function([x], [total, pytensor.grad(total, x)], mode="NUMBA")
    value, grad = f(lp[0])
    expected = _pass(np.array([1.0, 0, 0, 1, 0]), lw[0], lw[1], lp[0], lp[1])
    assert value == pytest.approx(expected[0].sum(), rel=1e-14)
    np.testing.assert_allclose(grad, expected[1], rtol=1e-14)
    with pytest.raises(TypeError, match="5 vectors"):
        OrderedLikelihoodOp()(start, lw[0], lw[1], x[None, :], lp[1])


def test_each_row_s_branch_from_its_own_observation_or_the_whole_sequence():
    """At the truth, rows on the hyperpolarised branch get P ~ 1 and the others P ~ 0, latent or ordered (the
    forward-backward marginals sum to the forward algorithm's at the last row); sequences start at each cell."""
    br, v_obs = _loop_data()
    noise = stats.norm(scale=np.full(LOOP.size, 1.5))
    lower = np.array([b == "lower" for b in PATH])
    for sequence in (None, sequences(np.arange(LOOP.size), None)):
        p = BranchObservation(br, noise, sequence).p_lower(v_obs)
        np.testing.assert_allclose(p, lower.astype(float), atol=1e-6)
    index, start = sequences(np.array([3.0, 1.0, 2.0, 1.0]), np.array(["b", "a", "a", "b"]))
    assert index.tolist() == [1, 2, 3, 0] and start.tolist() == [1, 0, 1, 0]


def _branch_log_density(spec_order: np.ndarray | None):
    """The PyMC model's branch log-likelihood and its gradient as a compiled function of (i_pump, sigma), and the
    observations along LOOP."""
    from vrest.inference.model_data import ModelData
    from vrest.inference.pymc_model import _branch_log_likelihood

    _, v_obs = _loop_data()
    ip, sigma = pt.dscalar("i_pump"), pt.dscalar("sigma")
    values = {"in_k_o": LOOP, "v_obs": v_obs}
    if spec_order is not None:
        values["sequence_row"], values["sequence_start"] = sequences(spec_order, None)
    spec = ModelData(MODEL, (), False, "normal", None, None, (), values, {}, spec_order is not None)
    scale = pt.sqrt(sigma**2 + 1.0)
    ll = _branch_log_likelihood(spec, values, {"g_na": TRUTH["g_na"], "g_cl": TRUTH["g_cl"], "i_pump": ip}, scale, None)
    with pytensor.config.change_flags(numba__fastmath=False):
        f = pytensor.function([ip, sigma], [ll, pytensor.grad(ll, ip)], mode="NUMBA")
    return f, v_obs


@pytest.mark.parametrize("ordered", [False, True])
def test_the_pymc_branch_likelihood_is_the_numpy_one_and_continuous_where_states_appear_and_vanish(ordered):
    """Moving i_pump across the saddle-nodes of the observed rows: the compiled log-likelihood equals the NumPy
    measurement model's, has no jump (no step stands out from its neighbours) and its gradient matches central
    differences."""
    order = np.arange(LOOP.size, dtype=float) if ordered else None
    f, v_obs = _branch_log_density(order)
    pumps = np.linspace(-1.5, 1.5, 601)  # crosses the folds of the rows at 2.5-6 mM
    values = np.array([f(x, 1.0)[0] for x in pumps])
    grads = np.array([f(x, 1.0)[1] for x in pumps])
    assert np.all(np.isfinite(values)) and np.all(np.isfinite(grads))
    states = vrest.branches(MODEL, k_o=LOOP[None, :], **{**TRUTH, "i_pump": pumps[:, None]})
    crossings = np.diff(np.sign(states["margin_lower"]), axis=0) != 0
    assert crossings.any()  # the scan does cross saddle-nodes
    step = np.abs(np.diff(values))
    assert np.max(step) < 20 * np.median(step) + 0.05, np.max(step)
    h = 1e-6
    for x in pumps[::40]:
        fd = (f(x + h, 1.0)[0] - f(x - h, 1.0)[0]) / (2 * h)
        assert f(x, 1.0)[1] == pytest.approx(fd, rel=1e-4, abs=1e-4)
    from scipy import stats as st

    sequence = None if order is None else sequences(order, None)
    at = vrest.branches(MODEL, k_o=LOOP, **{**TRUTH, "i_pump": pumps[-1]})
    expected = BranchObservation(at, st.norm(scale=np.full(LOOP.size, np.sqrt(2.0))), sequence).logpdf(v_obs).sum()
    assert values[-1] == pytest.approx(expected, rel=1e-10)


def _branch_points(n: int, seed: int) -> dict:
    """Random rectifier parameters over K_o 1-10 mM (a share bistable), with the first four points 0.1 % in K_o
    either side of the saddle-nodes of the default model."""
    rng = np.random.default_rng(seed)
    x = {"k_o": rng.uniform(1.0, 10.0, n), "g_na": np.exp(rng.uniform(np.log(0.01), np.log(0.05), n)),
         "g_cl": np.exp(rng.uniform(np.log(0.02), np.log(0.1), n)), "v_half": rng.uniform(0.0, 20.0, n),
         "k_slope": rng.uniform(6.0, 15.0, n), "kir_n": rng.uniform(0.3, 0.7, n), "i_pump": rng.uniform(-0.5, 1.0, n)}  # fmt: skip
    _, default = vrest.resolve_inputs(MODEL, {})
    (low, high), = vrest.bistable_range(MODEL, 0.5, 20.0)
    edge = np.array([low * (1 + 1e-3), low * (1 - 1e-3), high * (1 - 1e-3), high * (1 + 1e-3)])
    for name, values in x.items():
        values[:4] = edge if name == "k_o" else default[name]
    return x


def test_both_branches_and_margins_match_central_differences_in_compiled_code():
    """KirBranchesOp's implicit-function gradients (stable states; ghosts at the extrema of I; the inflection where I
    has no fold), compiled by Numba, against central differences of the NumPy kernel, on both branches and a hair
    either side of the saddle-nodes (where V ~ sqrt(distance): steep, but finite)."""
    from vrest.symbolic import symbolic_branches

    names = ("k_o", "g_na", "g_cl", "v_half", "k_slope", "kir_n", "i_pump")
    x = _branch_points(400, seed=11)
    symbols = [pt.dvector(n) for n in names]
    out = symbolic_branches(MODEL, **dict(zip(names, symbols, strict=True)))
    weights = {"lower": 1.0, "upper": 0.7, "margin_lower": 0.3, "margin_upper": 0.2}
    total = sum(w * out[k] for k, w in weights.items())
    with pytensor.config.change_flags(numba__fastmath=False):
        f = pytensor.function(symbols, [out[k] for k in weights] + pytensor.grad(total.sum(), symbols), mode="NUMBA")
    res = f(*(x[n] for n in names))
    values, grads = res[:4], res[4:]
    numpy = vrest.branches(MODEL, **x)
    for k, v in zip(weights, values, strict=True):
        np.testing.assert_allclose(v, numpy[k], rtol=0, atol=1e-9)
    bistable = (numpy["margin_lower"] > 0) & (numpy["margin_upper"] > 0)
    assert 0.1 < bistable.mean() < 0.6 and bistable[[0, 2]].all() and not bistable[[1, 3]].any()
    clear = (np.abs(numpy["margin_lower"]) > 0.5) & (np.abs(numpy["margin_upper"]) > 0.5)  # mV from any fold
    clear[:4] = False
    assert clear.mean() > 0.8

    def weighted(at: dict) -> np.ndarray:
        b = vrest.branches(MODEL, **at)
        return sum(w * b[k] for k, w in weights.items())

    for j, name in enumerate(names):
        h = np.where(np.arange(x[name].size) < 4, 1e-9, 1e-6) * np.maximum(1.0, np.abs(x[name]))  # small at the folds
        fd = (weighted({**x, name: x[name] + h}) - weighted({**x, name: x[name] - h})) / (2 * h)
        err = np.abs(fd - grads[j]) / np.maximum(1.0, np.abs(fd))
        assert np.all(np.isfinite(grads[j])), name
        assert np.max(err[clear]) < 1e-5, (name, np.max(err[clear]))
        assert np.max(err[:4]) < 1e-3, (name, err[:4])


def test_a_small_leak_against_an_inward_pump_term_has_its_depolarised_state_far_above_a_volt_and_it_is_found():
    """A leak of 0.15 % of g_K1 against a pump term of -8 g_K1 mV (a corner the Gelband posterior reaches) has its
    depolarised state at E_lin - i_pump/g_lin, above +5 V. It is a zero of I, not NaN (NaN made the log-density
    NaN there: every divergence of the Gelband fit), and the compiled branches and their gradients are finite."""
    from vrest.symbolic import symbolic_branches

    corner = {"g_na": 0.00125, "g_cl": 0.00028, "i_pump": -8.16, "v_half": 28.4, "k_slope": 25.3, "kir_n": 0.37}
    k_o = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    br = vrest.branches(MODEL, preset="atrial_myocyte", k_o=k_o, **corner)
    assert np.all(br["upper"] > 5000.0) and np.all(br["margin_upper"] > 0)
    _, inputs = vrest.resolve_inputs(MODEL, {"k_o": k_o, **corner}, preset="atrial_myocyte")
    current, slope = vrest.get_model(MODEL).current(br["upper"], **inputs)
    np.testing.assert_allclose(current / slope, 0.0, atol=1e-6)  # within 1e-6 mV of the zero
    names = tuple(corner)
    symbols = [pt.dscalar(n) for n in names]
    out = symbolic_branches(MODEL, preset="atrial_myocyte", k_o=k_o, **dict(zip(names, symbols, strict=True)))
    total = sum(out[k].sum() for k in ("lower", "upper", "margin_lower", "margin_upper"))
    f = pytensor.function(symbols, [out["upper"], *pytensor.grad(total, symbols)], mode="NUMBA")
    upper, *grads = f(*corner.values())
    np.testing.assert_allclose(upper, br["upper"], rtol=1e-12)
    assert np.all(np.isfinite(grads))


def test_an_order_column_is_read_and_kept_with_the_design(tmp_path):
    """A "time (min)" column is the order the solutions were applied: the design keeps it per row."""
    from vrest.inference.design import build_design

    pd.DataFrame({"cell": ["a", "a", "b"], "time (min)": [0.0, 5.0, 2.5], "K_o_mM": [5.4, 2.5, 5.4],
                  "V_m_mV": [-80.0, -40.0, -79.0]}).to_csv(tmp_path / "r.csv", index=False)  # fmt: skip
    rec = vrest.load_recordings(tmp_path / "r.csv")
    design = build_design(rec, MODEL, ["g_na", "g_cl", "i_pump"], preset="mammalian_neuron")
    np.testing.assert_array_equal(design.order, [0.0, 5.0, 2.5])


def _hysteresis_loop_recordings(seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Three cells taken from 20 mM K_o down to 1.5 mM and back up, each following its branch (hysteresis), with
    1.5 mM scatter; and whether each row was generated on the hyperpolarized branch."""
    rng = np.random.default_rng(seed)
    levels = np.array([1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.4, 8.0, 12.0, 20.0])
    path = np.concatenate([levels[::-1], levels[1:]])
    br = vrest.branches(MODEL, k_o=path, **TRUTH)
    rows, lower = [], []
    for cell in range(3):
        state = "lower"
        for t, k in enumerate(path):
            if br[f"margin_{state}"][t] <= 0:
                state = "upper" if state == "lower" else "lower"
            rows.append({"cell": f"c{cell}", "order": t, "K_o_mM": k, "V_m_mV": br[state][t] + rng.normal(0, 1.5)})
            lower.append(state == "lower")
    return pd.DataFrame(rows), np.array(lower)


@pytest.mark.slow
@pytest.mark.parametrize("ordered", [False, True])
def test_a_fit_of_cells_crossing_the_bistable_window_puts_each_row_on_its_branch_and_recovers_the_truth(ordered):
    """Synthetic data with points on both branches inside the window: few divergences (at most 0.5 % of draws),
    the truth inside the 95 % intervals, and every row on the branch it was generated on (P > 0.95)."""
    table, lower = _hysteresis_loop_recordings(seed=0)
    res = vrest.fit(table if ordered else table.drop(columns="order"), MODEL, seed=0, hierarchical="no")
    assert res.diagnostics["divergences"] <= 0.005 * 4000
    summary = res.summary.set_index("parameter")
    for name, value in TRUTH.items():
        assert summary.at[name, "q2.5"] < value < summary.at[name, "q97.5"], name
    p = res.branches.sort_values("row")["p_hyperpolarized"].to_numpy()
    assert np.all(np.where(lower, p > 0.95, p < 0.05))


def test_a_laplace_mode_on_a_saddle_node_is_said_to_be_one_instead_of_not_identifiable():
    """At parameters whose fold lies on a recorded K_o level, the structural check names that level and words an
    uninformed direction as local to the mode, not as "NOT identifiable"."""
    from vrest.inference.design import Design
    from vrest.inference.identifiability import Laplace, describe, saddle_levels
    from vrest.inference.priors import fitted_priors

    (low, _), = vrest.bistable_range(MODEL, 0.5, 20.0)
    k_o = np.array([low, 8.0, 20.0])
    priors = fitted_priors(MODEL)
    defaults = vrest.get_model(MODEL).defaults
    theta = np.array([np.log(defaults[p.name]) if p.log_scale else defaults[p.name] for p in priors])
    _, base = vrest.resolve_inputs(MODEL, {"k_o": k_o})
    inputs = {k: np.broadcast_to(v, k_o.shape).astype(float) for k, v in base.items() if k not in defaults}
    design = Design(MODEL, inputs, np.array([-85.0, -70.0, -50.0]), np.ones(3), np.full(3, "all"), None)
    n = len(priors)
    singular = np.r_[np.full(n - 1, 5.0), 0.0]
    lap = Laplace([p.name for p in priors], theta, np.eye(n), 1.0, singular, np.eye(n))
    saddles = saddle_levels(design, priors, lap)
    np.testing.assert_allclose(saddles, [low])
    lines = describe(lap, priors, saddles)
    assert not any(line.startswith("NOT identifiable") for line in lines)
    assert any(line.startswith("no information at the mode") for line in lines)
    assert f"K_o = {low:g} mM" in lines[-1]
    assert any(line.startswith("NOT identifiable") for line in describe(lap, priors))


def test_the_laplace_jacobian_of_a_two_branch_model_steps_every_parameter_in_one_call_with_the_same_result():
    """jacobian() evaluates all its central-difference steps in one call of the forward model (with each row on
    the branch nearer its observation at theta); each column must be the same as stepping that parameter alone."""
    from vrest.inference.design import build_design
    from vrest.inference.identifiability import forward, jacobian, natural
    from vrest.inference.priors import fitted_priors

    table, _ = _hysteresis_loop_recordings(seed=3)
    priors = fitted_priors(MODEL)
    design = build_design(vrest.load_recordings(table.drop(columns="order")), MODEL, [p.name for p in priors],
                          preset="mammalian_neuron")  # fmt: skip
    theta = np.array([p.mean for p in priors]) + 0.1
    jac = jacobian(design, priors, theta)
    both = vrest.branches(MODEL, **design.inputs, **natural(priors, theta))
    upper = np.abs(design.v_obs - both["upper"]) < np.abs(design.v_obs - both["lower"])
    for j in range(theta.size):
        h = np.zeros_like(theta)
        h[j] = 1e-6 * max(1.0, abs(theta[j]))
        one = (forward(design, priors, theta + h, upper) - forward(design, priors, theta - h, upper)) / (2 * h[j])
        np.testing.assert_allclose(jac[:, j], one, rtol=1e-12, atol=1e-12)
    assert jac.shape == (design.n_rows, theta.size) and np.all(np.isfinite(jac))
    assert np.abs(jac).max() > 0.1  # V moves with the parameters


def test_the_bistability_notes_say_which_branch_the_rows_of_each_level_are_on():
    """Per K_o level with two stable states in enough draws: the share of draws and the rows' branch, in words."""
    from vrest.inference.fit import bistable_rows

    table = pd.DataFrame({"K_o_mM": [1.0, 3.0, 3.0, 8.0], "p_hyperpolarized": [0.68, 0.99, 0.02, 1.0],
                          "p_two_states": [0.17, 1.0, 1.0, 0.01], "p_hyperpolarized_chain0": [0.7, 1.0, 0.0, 1.0],
                          "p_hyperpolarized_chain1": [0.66, 0.98, 0.04, 1.0]})  # fmt: skip
    notes = bistable_rows(table, MODEL)
    assert notes == [f"{MODEL}: two stable states at K_o = 1 mM in 17% of draws; its row is on the hyperpolarized "
                     "branch with probability 0.68",
                     f"{MODEL}: two stable states at K_o = 3 mM in 100% of draws; 1 of 2 rows are more probably on "
                     "the hyperpolarized branch, the others on the depolarized"]  # fmt: skip
    assert "chains sit on different branches" not in " ".join(notes)
    table.loc[2, "p_hyperpolarized_chain0"] = 1.0  # chain 0 puts both 3 mM rows on the hyperpolarized branch, chain 1 on the other
    table.loc[1, "p_hyperpolarized_chain0"] = 1.0
    table.loc[[1, 2], "p_hyperpolarized_chain1"] = 0.0
    assert "chains sit on different branches" in bistable_rows(table, MODEL)[1]


def test_chains_in_a_local_mode_are_named_and_chains_in_one_mode_are_not():
    """A chain whose log-density sits 4 units below the others' (rectifying-kir's two rectifier shapes on synthetic
    data) is named with the gap; four chains scattered within their sd are not."""
    from vrest.inference.diagnostics import separate_modes

    rng = np.random.default_rng(0)
    logp = rng.normal(-145.0, 1.5, (4, 1000))
    assert separate_modes(logp) == []
    logp[2] -= 4.0
    (message,) = separate_modes(logp)
    assert message.startswith("chain(s) 3 of 4 sit in a separate mode") and "4 or more units" in message


@pytest.mark.parametrize("minor", [0.002, 0.02])
def test_the_mass_of_a_local_mode_is_estimated_from_its_chains(minor):
    """Two Gaussian modes in 3 coordinates (sds 1 and 0.8) holding 1 - minor and minor of the mass, three chains in
    the first and one in the second, each draw's log-density that of the mixture: the chain in the second mode is
    found and its share estimated to within a fifth (the Gaussian estimate is exact here up to sampling error)."""
    from vrest.inference.diagnostics import low_mode_chains, mode_share

    rng = np.random.default_rng(1)
    centres, sds, weights = [np.zeros(3), np.full(3, 6.0)], [1.0, 0.8], [1.0 - minor, minor]
    draws = np.stack([rng.normal(centres[c], sds[c], (2000, 3)) for c in (0, 0, 0, 1)])

    def logp(x):
        return np.logaddexp(*(np.log(w) + stats.norm.logpdf(x, m, s).sum(axis=-1)
                              for m, s, w in zip(centres, sds, weights, strict=True)))  # fmt: skip

    lp = logp(draws)
    low = low_mode_chains(lp)
    np.testing.assert_array_equal(low, [3])
    assert mode_share(draws, lp, low) == pytest.approx(minor, rel=0.2)
