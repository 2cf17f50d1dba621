"""Stable steady states of the ``rectifying-kir`` model from the shape of its net current.

With y = V - E_K and the block f = 1/(1 + exp((y - v_half)/k)), the net current is

    I(V) = g_max h(y) + g_L (V - E_L) + i_pump,   h(y) = y f(y),

with g_max = g_k (K_o/k_ref)^kir_n, g_L = g_na + g_cl and E_L = (g_na E_Na + g_cl E_Cl)/g_L.
Its slope is I' = g_max h'(y) + g_L, its curvature I'' = g_max f (1 - f) (y (1 - 2f) - 2k)/k^2.
h' > 0 for y <= 0, and for y > 0 the product y (1 - 2f) increases, so I' falls until the
single point y2 where y2 (1 - 2 f(y2)) = 2k and rises after it, back to g_L. Hence either
I' >= 0 everywhere (one zero), or I rises to a local maximum at y_a < y2, falls to a
local minimum at y_b > y2 and rises again: two stable states exactly when
I(y_a) > 0 > I(y_b). The sign of I(y2) settles one of the two: I(y2) > 0 gives
I(y_a) > 0 and exactly one zero below y2; I(y2) < 0 gives I(y_b) < 0 and exactly one
zero above y2. Only the other extremum is then located (and not even that where a
linear bound on I settles its sign). In :func:`_solve` every zero is bracketed with
exactly one sign change and found by :func:`vrest.models.solver.solve_increasing`
(bracketed Newton), so the states are those of :func:`vrest.steady_states` without its
voltage scan. :func:`kir_stable_state` first tries cheaper routes, in cache-sized
chunks: :func:`_solve_fast`, plain Newton from a nearby point's results (or from the
zero with the block frozen), accepted only where the same structure certifies the zero
as the requested state and settles the count (I is concave between E_K and v2 and convex
above v2); the extrema that settle the counts it left open; then :func:`_solve_near`
from the frozen-block zeros on either side. The other points get :func:`_solve`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .rectifying import kir_lumped_terms, kir_net_current, logistic_block
from .solver import TOL_MV, _newton_in_bracket, solve_increasing


def _slope_terms(v, e_k, g_max, g_l, v_half, k_slope):
    """(I'(V), I''(V)) of the net current (g per mV and per mV^2)."""
    slope = kir_net_current(v, e_k, g_max, g_l, 0.0, 0.0, v_half, k_slope)[1]
    y = v - e_k
    f = logistic_block((y - v_half) / k_slope)
    curvature = g_max * f * (1.0 - f) * (y * (1.0 - 2.0 * f) - 2.0 * k_slope) / k_slope**2
    return slope, curvature


def _y2_setup(v_half, k_slope):
    """y2 (mV above E_K): the zero of y (1 - 2 f(y)) - 2k, increasing on [max(v_half, 0), that + 4k]."""
    lo = np.maximum(v_half, 0.0)

    def residual(y):
        f = logistic_block((y - v_half) / k_slope)
        return y * (1.0 - 2.0 * f) - 2.0 * k_slope, (1.0 - 2.0 * f) + 2.0 * y * f * (1.0 - f) / k_slope

    return lo, lo + 4.0 * k_slope, lo + 2.0 * k_slope, residual, False


def _extremum_setup(lo, hi, sign, e_k, g_max, g_l, v_half, k_slope):
    """The zero of sign * I'(V), increasing on [lo, hi]: a local extremum of I."""

    def residual(v):
        slope, curvature = _slope_terms(v, e_k, g_max, g_l, v_half, k_slope)
        return sign * slope, sign * curvature

    return lo, hi, 0.5 * (lo + hi), residual, False


def _zero_setup(lo, hi, start, **terms):
    """The zero of I(V) in [lo, hi] (one sign change), Newton from ``start``."""
    return lo, hi, np.clip(start, lo, hi), lambda v: kir_net_current(v, **terms), False


def _frozen_block_zero(terms: dict, blocked) -> np.ndarray:
    """Zero of I (mV) with the block frozen at its value at E_K, or (where ``blocked``) at 0:
    the start of Newton for a lower (upper) state, where I is concave (convex) and increasing."""
    g_k0 = np.where(blocked, 0.0, terms["g_max"] * logistic_block(-terms["v_half"] / terms["k_slope"]))
    return (g_k0 * terms["e_k"] + terms["g_lin"] * terms["e_lin"] - terms["i_pump"]) / (g_k0 + terms["g_lin"])


def _take(a, rows: np.ndarray):
    """``a`` at ``rows``; a scalar stands for every row."""
    return a[rows] if np.ndim(a) else a


def _net_terms(x: dict) -> dict:
    """Keyword arguments of :func:`kir_net_current` from the model inputs ``x``."""
    names = ("k_o", "k_i", "na_o", "na_i", "cl_o", "cl_i", "temp_k", "g_k", "g_na", "g_cl", "k_ref", "kir_n")
    e_k, g_max, g_lin, e_lin = kir_lumped_terms(**{k: x[k] for k in names})
    return {"e_k": e_k, "g_max": g_max, "g_lin": g_lin, "e_lin": e_lin, "i_pump": x["i_pump"],
            "v_half": x["v_half"], "k_slope": x["k_slope"]}  # fmt: skip


@dataclass(frozen=True)
class _States:
    """Flat per-point results: V (mV), stable-state count and the extremum of I that decided
    the count (mV; NaN where none was needed)."""

    v: np.ndarray
    count: np.ndarray
    extremum: np.ndarray

    @staticmethod
    def empty(size: int) -> _States:
        """Room for the results of ``size`` points (to be filled with :meth:`put`)."""
        return _States(np.empty(size), np.empty(size, int), np.empty(size))

    def put(self, rows, other: _States) -> None:
        """Store ``other`` as the results of the points ``rows``."""
        for name in ("v", "count", "extremum"):
            getattr(self, name)[rows] = getattr(other, name)


@dataclass(frozen=True)
class _Start:
    """Where flat points' solves start: V and the extremum of I of a nearby point (mV; NaN:
    none), and the points' own y2 (mV above E_K)."""

    v: np.ndarray
    y2: np.ndarray
    extremum: np.ndarray

    def at(self, rows) -> _Start:
        """The starts of the points ``rows``."""
        return _Start(self.v[rows], self.y2[rows], self.extremum[rows])


def _flat(values: dict) -> dict:
    """The inputs as flat arrays (scalars kept)."""
    shape = np.broadcast_shapes(*(np.shape(a) for a in values.values()))
    return {name: np.broadcast_to(a, shape).ravel() if np.ndim(a) else a for name, a in values.items()}


def kir_stable_state(
    bounds, values: dict, branch: str, anchors: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(V in mV, number of stable states) of the rectifying-kir model at broadcast inputs.

    ``bounds`` is the model's voltage-range hook, ``values`` the validated model
    inputs (see :func:`vrest.resolve_inputs`);
    ``branch`` is "hyperpolarized" (the most negative stable state, as
    :func:`vrest.predict`) or "depolarized". Requires g_na + g_cl > 0.
    ``anchors`` (optional, flat point indices) names for each point a nearby point
    (e.g. A for the AB rows of a Saltelli design) whose results start its solve;
    points that are their own anchor start from the block frozen (see :func:`_solve_fast`).
    Either way a point is solved in full (:func:`_solve`) where the shortcut cannot
    certify the state, so the result does not depend on the anchors.
    """
    shape = np.broadcast_shapes(*(np.shape(a) for a in values.values()))
    size = int(np.prod(shape))
    x = _flat(values)
    index = np.arange(size)
    anchors = index if anchors is None else np.asarray(anchors).ravel()
    if anchors.size != size or not np.all((anchors >= 0) & (anchors < size)) or np.any(anchors[anchors] != anchors):
        raise ValueError("anchors: expected one point index per point, each naming a point that is its own anchor")
    own_anchor = anchors == index
    same_fold = ~own_anchor  # y2 depends on v_half and k_slope alone
    for name in ("v_half", "k_slope"):
        if np.ndim(x[name]):
            same_fold &= x[name] == x[name][anchors]
    y2 = np.empty(size)
    y2[~same_fold] = _y2_of(x, np.flatnonzero(~same_fold))
    y2[same_fold] = y2[anchors[same_fold]]
    own, others = np.flatnonzero(own_anchor), np.flatnonzero(~own_anchor)
    unknown = np.full(own.size, np.nan)
    found = _solve_rows(bounds, x, own, branch, _Start(unknown, y2[own], unknown))
    states = _States.empty(size)
    states.put(own, found)
    if others.size:
        near = anchors[others]
        found = _solve_rows(bounds, x, others, branch, _Start(states.v[near], y2[others], states.extremum[near]))
        states.v[others], states.count[others] = found.v, found.count  # their extrema are not needed
    return states.v.reshape(shape), states.count.reshape(shape)


def _y2_of(x: dict, rows: np.ndarray) -> np.ndarray:
    """y2 (mV above E_K) of the flat points ``rows`` of ``x`` by Newton from the middle of
    its bracket in :func:`_y2_setup` (NaN where not found)."""
    v_half, k_slope = (np.broadcast_to(_take(x[k], rows), rows.shape) for k in ("v_half", "k_slope"))
    start = _y2_setup(v_half, k_slope)[2]
    return _newton_rows(lambda sub: _y2_setup(v_half[sub], k_slope[sub])[3], start)[0]


def _solve_rows(bounds, x: dict, rows: np.ndarray, branch: str, start: _Start) -> _States:
    """Results at the flat points ``rows`` of ``x`` from ``start``, in cache-sized chunks:
    :func:`_solve_fast`, the counts it left open by :func:`_certify`, then
    :func:`_solve_near` and the full solve where not certified."""
    out = _States.empty(rows.size)
    ok, left_open = np.empty(rows.size, bool), np.empty(rows.size, bool)
    for lo in range(0, rows.size, NEAR_CHUNK):
        part = slice(lo, lo + NEAR_CHUNK)
        fast, ok[part], left_open[part] = _solve_fast(_net_terms(_at(x, rows[part])), branch, start.at(part))
        out.put(part, fast)
    for part in _chunks(np.flatnonzero(left_open)):  # stable zeros whose count needs the extremum located
        v = out.v[part]
        fold = _fold_of(_net_terms(_at(x, rows[part])), start.y2[part])[0]
        second, extremum, ok[part], _ = _certify(fold, v, np.ones(part.size, bool), out.extremum[part], branch)
        out.put(part, _States(v, 1 + second, extremum))
    redo = []
    for part in _chunks(np.flatnonzero(~ok)):
        near, near_ok = _solve_near(_net_terms(_at(x, rows[part])), branch, start.at(part))
        out.put(part, near)
        redo.append(part[~near_ok])
    redo = np.concatenate(redo or [np.empty(0, int)])
    if redo.size:
        out.put(redo, _solve(bounds, _at(x, rows[redo]), redo.size, branch))
    return out


def _chunks(rows: np.ndarray) -> list[np.ndarray]:
    """``rows`` in pieces of at most NEAR_CHUNK."""
    return [rows[lo : lo + NEAR_CHUNK] for lo in range(0, rows.size, NEAR_CHUNK)]


def _solve(bounds, x: dict, size: int, branch: str) -> _States:
    """The full solve (fold analysis and bracketed Newton) at flat inputs ``x`` of ``size`` points."""

    def full(a) -> np.ndarray:
        return np.broadcast_to(a, (size,))

    y2 = full(solve_increasing(_y2_setup, {"v_half": x["v_half"], "k_slope": x["k_slope"]}, "kir fold"))
    lo, hi = (full(b) for b in bounds(**x)[:2])
    zero_terms = _net_terms(x)
    g_l, e_l = zero_terms["g_lin"], zero_terms["e_lin"]
    terms = {k: zero_terms[k] for k in ("e_k", "g_max", "v_half", "k_slope")} | {"g_l": g_l}
    v2 = full(terms["e_k"] + y2)

    folded = _slope_terms(v2, **terms)[0] < 0
    i2 = kir_net_current(v2, **zero_terms)[0]
    rising = folded & (i2 >= 0)  # I(y_a) > 0: a zero below v2; a second stable one if I(y_b) < 0
    falling = folded & (i2 < 0)  # I(y_b) < 0: a zero above v2; a second stable one if I(y_a) > 0
    # linear bounds: h >= 0 above E_K, and h <= y2 between E_K and v2
    lower_above = g_l * (v2 - e_l) + x["i_pump"]
    check_b = np.nonzero(rising & (lower_above <= 0) & (v2 < hi) & (_slope_terms(hi, **terms)[0] > 0))[0]
    check_a = np.nonzero(falling & (terms["g_max"] * (v2 - terms["e_k"]) + lower_above > 0))[0]
    second = np.zeros(size, bool)
    v_extremum = np.full(size, np.nan)
    for rows, lo_r, hi_r, sign in ((check_b, v2, hi, 1.0), (check_a, full(terms["e_k"]), v2, -1.0)):
        if rows.size:
            sub = {name: _take(a, rows) for name, a in terms.items()}
            v_extremum[rows] = solve_increasing(
                _extremum_setup, {"lo": lo_r[rows], "hi": hi_r[rows], "sign": sign, **sub}
            )
            i_ext = kir_net_current(v_extremum[rows], **{n: _take(a, rows) for n, a in zero_terms.items()})[0]
            second[rows] = i_ext < 0 if sign > 0 else i_ext > 0
    # brackets with exactly one sign change around the requested state
    lower_state = rising if branch == "hyperpolarized" else rising & ~second
    upper_state = falling if branch == "depolarized" else falling & ~second
    low_end, high_end = lo.copy(), hi.copy()
    high_end[lower_state] = v2[lower_state]
    high_end[falling & second & ~upper_state] = v_extremum[falling & second & ~upper_state]
    low_end[upper_state] = v2[upper_state]
    low_end[rising & second & ~lower_state] = v_extremum[rising & second & ~lower_state]
    start = _frozen_block_zero(zero_terms, low_end > lo)
    v = solve_increasing(
        _zero_setup, {"lo": low_end, "hi": high_end, "start": start, **zero_terms}, "rectifying-kir state"
    )
    return _States(v, 1 + second, v_extremum)


NEAR_ITER = 12
"""Newton steps :func:`_solve_near` allows per start before the full solve takes over."""
FAST_STEPS = 6
"""Newton steps :func:`_solve_fast` allows per solve before :func:`_solve_near` takes over."""
BULK_STEPS = 4
"""Newton steps :func:`_newton_rows` takes at every point before it checks convergence."""
NEAR_CHUNK = 1 << 14
"""Points per :func:`_solve_fast` pass and per :func:`_newton_rows` block: arrays that stay in cache."""
QUADRATIC_MV = 0.1
"""Newton steps (mV) below which :func:`_newton_rows` trusts the observed quadratic contraction."""


def _newton_rows(residual_of: Callable, x0: np.ndarray, steps: int = NEAR_ITER) -> tuple[np.ndarray, np.ndarray]:
    """(zero, slope at the last iterate) by plain Newton from ``x0``, NaN where it did not
    converge within ``steps`` steps. ``residual_of(rows)`` is the increasing residual
    (value, slope) of the points ``rows`` (an index array or a slice).

    The first BULK_STEPS steps run in blocks of NEAR_CHUNK points. Then a point is done
    after a step below TOL_MV or, once steps are below QUADRATIC_MV, after one whose
    successor the observed contraction puts below TOL_MV / 10 (error ~ C step^2 with
    C ~ step / previous step^2); a step that is not a number ends it as NaN. Done points
    take further steps (within round-off of their zero) until half the points are done;
    then the others go on alone. ``steps`` >= 1.
    """
    zero, slope = np.full(x0.size, np.nan), np.full(x0.size, np.nan)
    rows = np.flatnonzero(np.isfinite(x0))
    x, df, previous, size = x0[rows], np.empty(rows.size), np.empty(rows.size), np.empty(rows.size)
    bulk = min(BULK_STEPS, steps)
    with np.errstate(all="ignore"):  # a diverging start ends as NaN, not as a warning
        for lo in range(0, rows.size, NEAR_CHUNK):
            part = slice(lo, lo + NEAR_CHUNK)
            fn, x_part = residual_of(part if rows.size == x0.size else rows[part]), x[part]
            previous[part] = np.inf
            for taken in range(1, bulk + 1):
                f, df_part = fn(x_part)
                step = f / df_part
                x_part -= step
                if taken == bulk - 1:
                    previous[part] = np.abs(step)
            df[part], size[part] = df_part, np.abs(step)
        fn = None
        for taken in range(bulk, steps + 1):
            done = ~(size > TOL_MV)  # NaN steps included
            done |= (previous <= QUADRATIC_MV) & (size * size * size <= (0.1 * TOL_MV) * (previous * previous))
            n_done = np.count_nonzero(done)
            if 2 * n_done >= done.size or taken == steps:
                if rows.size == x0.size:  # every point still here
                    zero, slope = np.where(done, x, zero), np.where(done, df, slope)
                else:
                    finished = np.flatnonzero(done)
                    zero[rows[finished]], slope[rows[finished]] = x[finished], df[finished]
                if n_done == done.size or taken == steps:
                    break
                going = np.flatnonzero(~done)
                rows, x, size, fn = rows[going], x[going], size[going], None
            if fn is None:
                fn = residual_of(rows)
            f, df = fn(x)
            step = f / df
            x -= step
            previous, size = size, np.abs(step)
    return zero, slope


@dataclass(frozen=True)
class _Fold:
    """Flat points' lumped terms (:func:`_net_terms`), y2 and v2 = E_K + y2 (mV), I and I' at
    v2, and whether I' < 0 there (a fold: I rises to a maximum below v2 and falls to a minimum above)."""

    terms: dict
    y2: np.ndarray
    v2: np.ndarray
    i2: np.ndarray
    slope2: np.ndarray
    folded: np.ndarray

    def at(self, rows: np.ndarray) -> _Fold:
        """The facts of the points ``rows``."""
        return _Fold(_at(self.terms, rows), *(a[rows] for a in (self.y2, self.v2, self.i2, self.slope2, self.folded)))


def _fold_of(terms: dict, y2: np.ndarray) -> tuple[_Fold, np.ndarray]:
    """(the fold facts of flat points with lumped terms ``terms`` (:func:`_net_terms`) and
    y2 = ``y2``, whether ``y2`` is the zero in :func:`_y2_setup`'s bracket)."""
    v_half, k_slope = (np.broadcast_to(terms[k], y2.shape) for k in ("v_half", "k_slope"))
    y2_lo = np.maximum(v_half, 0.0)
    v2 = terms["e_k"] + y2
    i2, slope2 = kir_net_current(v2, **terms)
    return _Fold(terms, y2, v2, i2, slope2, slope2 < 0), (y2 >= y2_lo) & (y2 <= y2_lo + 4.0 * k_slope)


def _solve_fast(terms: dict, branch: str, start: _Start) -> tuple[_States, np.ndarray, np.ndarray]:
    """(results, certified, count left open) at flat points with lumped terms ``terms``
    (:func:`_net_terms`) by one Newton solve of at most FAST_STEPS steps from ``start``'s V
    (where NaN: from the zero with the block frozen on the branch's side,
    :func:`_frozen_block_zero`), certified by :func:`_certify` without locating extrema
    (``start``'s extremum is the guess)."""
    fold, valid = _fold_of(terms, start.y2)
    guess = start.v
    if np.isnan(guess).any():
        guess = np.where(np.isnan(guess), _frozen_block_zero(fold.terms, branch == "depolarized"), guess)
    found, slope = _newton_rows(lambda rows: _current_of(_at(fold.terms, rows)), guess, FAST_STEPS)
    second, extremum, good, left_open = _certify(fold, found, slope > 0, start.extremum, branch, 0)
    return _States(found, 1 + second, extremum), good & valid, left_open & valid


def _solve_near(terms: dict, branch: str, start: _Start) -> tuple[_States, np.ndarray]:
    """(results, certified) at flat points with lumped terms ``terms`` (:func:`_net_terms`),
    where the solve from ``start``'s V (where NaN: from the branch's side) was not
    certified: plain Newton from the zero with the block frozen on the other side of v2
    (:func:`_frozen_block_zero`), then, for the points not yet certified, on the same side;
    :func:`_certify` says whether the zero is the requested state and counts the stable states."""
    fold, valid = _fold_of(terms, start.y2)
    size = start.v.size
    todo = np.flatnonzero(valid)
    upper_first = ~np.where(np.isnan(start.v), branch == "depolarized", start.v > fold.v2)
    out, ok = _States(np.full(size, np.nan), np.ones(size, int), np.full(size, np.nan)), np.zeros(size, bool)
    for other_side in (False, True):
        if not todo.size:
            break
        sub = fold if todo.size == size else fold.at(todo)
        guess = _frozen_block_zero(sub.terms, upper_first[todo] != other_side)
        found, slope = _newton_rows(lambda rows, sub=sub: _current_of(_at(sub.terms, rows)), guess)
        second, extremum, good, _ = _certify(sub, found, slope > 0, start.extremum[todo], branch)
        done = todo[good]
        out.put(done, _States(found[good], 1 + second[good], extremum[good]))
        ok[done] = True
        todo = todo[~good]
    return out, ok


def _certify(fold: _Fold, v: np.ndarray, stable: np.ndarray, extremum: np.ndarray, branch: str, steps: int = NEAR_ITER):
    """(second stable state, deciding extremum (mV; NaN: none needed), certified, count left
    open) for zeros ``v`` of I, ``stable`` where I' > 0 there, ``extremum`` guessing the
    extremum (located in at most ``steps`` Newton steps).

    A stable zero is the only one on its side of v2 (I is monotone from it outwards),
    and a second stable state exists on the other side exactly when I > 0 somewhere
    below v2 (v above it) or I < 0 somewhere above v2 (v below it): settled by I(v2)
    and the linear bounds of :func:`_solve`, else by :func:`_extremum_decides`. The
    zero is the requested state when it is on the branch's side, or the only one.
    """
    t = fold.terms
    upper = fold.folded & (v > fold.v2)
    lower_above = t["g_lin"] * (fold.v2 - t["e_lin"]) + t["i_pump"]  # h >= 0 above E_K, h <= y2 below v2
    second = fold.folded & np.where(upper, fold.i2 >= 0, fold.i2 < 0)
    settled = second | ~fold.folded | np.where(upper, t["g_max"] * fold.y2 + lower_above <= 0, lower_above > 0)
    good, left_open, found = stable, np.zeros(v.size, bool), np.full(v.size, np.nan)
    undecided = stable & ~settled
    if undecided.any():
        decided_second, extremum, decided = _extremum_decides(fold, upper, extremum, steps, undecided)
        second = np.where(undecided, decided_second, second)
        found = np.where(undecided, extremum, np.nan)
        good = np.where(undecided, decided, stable)
        left_open = undecided & ~decided
    requested = ~fold.folded | (upper == (branch == "depolarized")) | ~second
    return second, found, good & requested, left_open


def _extremum_decides(fold: _Fold, upper: np.ndarray, guess: np.ndarray, steps: int, among: np.ndarray):
    """(second stable state, extremum used (mV), decided) at the points ``among`` (elsewhere
    meaningless): whether min J < 0 for J = -I between E_K and v2 (``upper``) or J = I above
    v2, where J is convex.

    Settled at ``guess`` (inside that range, else v2 -+ k) when J < 0 there, or when
    the tangents of J at v2 and at ``guess`` keep J > 0 on the range; otherwise by J at
    its minimum (the zero of I', unique there) found by Newton from ``guess`` in at most
    ``steps`` steps. Not decided where Newton does not land in the range (or is not run).
    """
    t = fold.terms
    low = np.where(upper, t["e_k"], fold.v2)
    high = np.where(upper, fold.v2, np.inf)
    sign = np.where(upper, -1.0, 1.0)  # J = sign * I
    with np.errstate(all="ignore"):  # whatever the points outside ``among`` give is dropped
        guess = np.where((guess > low) & (guess < high), guess, fold.v2 + sign * t["k_slope"])
        i_w, slope_w = kir_net_current(guess, **t)
        second = sign * i_w < 0
    decided = second.copy()
    rest = np.flatnonzero(among & ~second)
    if rest.size:
        sign_rest = sign[rest]
        j_2 = (fold.v2[rest], sign_rest * fold.i2[rest], sign_rest * fold.slope2[rest])
        j_w = (guess[rest], sign_rest * i_w[rest], sign_rest * slope_w[rest])
        decided[rest] = _tangents_bound(j_2, j_w, low[rest], high[rest]) > 0
        rest = rest[~decided[rest]]
    if rest.size and steps:
        sub = _at(t, rest)
        slope_terms = {k: sub[k] for k in ("e_k", "g_max", "v_half", "k_slope")} | {"g_l": sub["g_lin"]}
        guess[rest] = _newton_rows(lambda rows: _slope_of(_at(slope_terms, rows)), guess[rest], steps)[0]
        decided[rest] = (guess[rest] > low[rest]) & (guess[rest] < high[rest])
        second[rest] = decided[rest] & (sign[rest] * kir_net_current(guess[rest], **sub)[0] < 0)
    return second, guess, decided


def _tangents_bound(first: tuple, second: tuple, low, high) -> np.ndarray:
    """Lower bound on [low, high] (``high`` may be inf) of a convex function from its
    tangents at two points, each given as (point, value, slope)."""
    (p1, j1, d1), (p2, j2, d2) = first, second

    def lines(c):
        with np.errstate(invalid="ignore"):  # inf * 0 where a slope is 0 at an infinite end
            return np.maximum(j1 + d1 * (c - p1), j2 + d2 * (c - p2))

    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = np.clip((j2 - j1 + d1 * p1 - d2 * p2) / (d1 - d2), low, high)
    far = np.where(np.isinf(high), np.where(np.maximum(d1, d2) > 0, np.inf, -np.inf), lines(high))
    return np.fmin(np.fmin(lines(low), far), np.nan_to_num(lines(crossing), nan=-np.inf))


def _at(terms: dict, rows: np.ndarray) -> dict:
    """``terms`` at ``rows`` (scalars stand for every row)."""
    return {k: _take(a, rows) for k, a in terms.items()}


def _current_of(terms: dict) -> Callable:
    """V -> (I, I') for :func:`kir_net_current`'s ``terms``."""
    return lambda v: kir_net_current(v, **terms)


def _slope_of(terms: dict) -> Callable:
    """V -> (I', I'') for :func:`_slope_terms`' ``terms``."""
    return lambda v: _slope_terms(v, **terms)


NEAR_MV = 2.0
"""Half-width (mV) of the window around a warm start in :func:`kir_state_near`."""


@lru_cache(maxsize=64)
def _y2_scalar(v_half: float, k_slope: float) -> float:
    return float(solve_increasing(_y2_setup, {"v_half": np.array([v_half]), "k_slope": np.array([k_slope])})[0])


def kir_state_near(values: dict, branch: str, start: np.ndarray) -> np.ndarray | None:
    """The requested stable state by Newton from a nearby ``start`` (e.g. the previous
    state in a sampler), or None when that cannot be certified (then use :func:`kir_stable_state`).

    The zero v* found in [start - NEAR_MV, start + NEAR_MV] is certified when I'(v*) > 0
    and no other zero lies beyond it on the branch's side. I' falls up to the inflection
    v2 = E_K + y2 and rises after it (and is positive below E_K), so that holds when v* is
    on the branch's side of v2 (I is monotone from v* outwards), when I'(v2) >= 0 (one
    zero only), or when a linear bound keeps I off zero on the other side of v2.
    """
    x = {k: np.asarray(v, dtype=float) for k, v in values.items()}
    start = np.asarray(start, dtype=float)
    if start.shape != np.broadcast_shapes(*(a.shape for a in x.values())) or not np.all(x["g_na"] + x["g_cl"] > 0):
        return None
    terms = _net_terms(x)
    e_k, g_max, g_lin, e_lin = (terms[k] for k in ("e_k", "g_max", "g_lin", "e_lin"))
    lo, hi = start - NEAR_MV, start + NEAR_MV
    if not (np.all(kir_net_current(lo, **terms)[0] < 0) and np.all(kir_net_current(hi, **terms)[0] > 0)):
        return None
    v = _newton_in_bracket(lambda u: kir_net_current(u, **terms), lo, hi, start, "rectifying-kir state")
    if np.ptp(x["v_half"]) == 0 and np.ptp(x["k_slope"]) == 0:
        y2 = _y2_scalar(float(x["v_half"].flat[0]), float(x["k_slope"].flat[0]))
    else:
        y2 = solve_increasing(_y2_setup, {"v_half": x["v_half"], "k_slope": x["k_slope"]}).reshape(start.shape)
    v2 = e_k + y2
    _current_v2, slope_v2 = kir_net_current(v2, **terms)
    monotone = slope_v2 >= 0  # I' is smallest at v2: then I increases everywhere and has one zero
    if branch == "hyperpolarized":  # no zero below v*: v* before the inflection, or I < 0 up to v2
        no_other = (v <= v2) | monotone | (g_max * y2 + g_lin * (v2 - e_lin) + x["i_pump"] < 0)
    else:  # no zero above v*: v* after the inflection, or I > 0 from v2 on (there h >= 0)
        no_other = (v >= v2) | monotone | (g_lin * (v2 - e_lin) + x["i_pump"] > 0)
    return v if np.all(no_other & (kir_net_current(v, **terms)[1] > 0)) else None
