"""The forward models of the resting potential, each written once, and their registry.

Every model is a :class:`ForwardModel` record: its named inputs (units and valid ranges
in :mod:`vrest.parameters`), defaults, the parameters a fit estimates, and its formulas
and solvers as callables. Its :attr:`~ForwardModel.kind` follows from the formulas:

* closed form: ``voltage`` (NumPy or PyTensor) with its analytic ``gradient`` (and, optionally,
  its net current, for the steady-state scan and cross-checks);
* monotone fixed point: a net current I(V) with exactly one zero, found from
  ``newton_setup``;
* multistable: a net current with possibly several zeros, the requested stable one
  found by ``stable_state`` or by the scan over ``bounds``.

The rest of vrest (the API, sensitivity runs, the PyTensor graphs, bistability, the
fitting pipeline) asks the record, never a model's name. Adding a model is one module
with its formulas plus :func:`register_model` (and
:func:`vrest.parameters.register_parameter` for new input names).

Dependency rule: ``vrest.models`` imports nothing from ``vrest.inference``, ``vrest.cli``,
``vrest.study`` or ``vrest.folders``; only NumPy, Numba (the compiled kernel), and
vrest's neutral modules (constants, backend, parameters, machine, cache). PyTensor and
:mod:`vrest.symbolic` are imported lazily, by the symbolic hooks only.
"""

from __future__ import annotations

import hashlib
import inspect
import marshal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np

from ..parameters import PARAMS, PUMP_TERMS
from .chord import chord_gradient, chord_voltage
from .ghk_general import ghk_ca_current, ghk_ca_partials, ghk_ca_voltage, ghk_ca_voltage_gradient
from .kir_states import kir_branches, kir_leak, kir_stable_state, kir_symbolic_branches, kir_symbolic_state
from .mullins_noda import mullins_noda_gradient, mullins_noda_voltage
from .rectifying import (
    rectifying_ghk_current,
    rectifying_ghk_partials,
    rectifying_ghk_setup,
    rectifying_ghk_symbolic_state,
    rectifying_kir_bounds,
    rectifying_kir_current,
    rectifying_kir_partials,
)
from .solver import check_branch, scan_stable_state, solve_increasing

CONCENTRATIONS = ("k_o", "k_i", "na_o", "na_i", "cl_o", "cl_i", "temp_k")

CLOSED_FORM, MONOTONE, MULTISTABLE = "closed form", "monotone fixed point", "multistable"
KINDS = (CLOSED_FORM, MONOTONE, MULTISTABLE)
"""What a model's V is: a formula, the single zero of its net current, or one of several zeros."""

BRANCH_VOLTAGES = ("lower", "upper", "ghost_lower", "ghost_upper")
"""The entries of a multistable model's ``branches`` that are membrane potentials (mV: offsets of V apply)."""


def call_with(fn: Callable, values: dict):
    """Call ``fn`` with the entries of ``values`` that it takes as parameters."""
    params = inspect.signature(fn).parameters
    return fn(**{k: v for k, v in values.items() if k in params})


@dataclass(frozen=True)
class ForwardModel:
    """A resting-potential model: its inputs, defaults, fitted parameters and formulas.

    Formulas (all take the model's inputs by name):

    * ``voltage`` -> V (mV) and ``gradient`` -> {x: dV/dx}: the closed form;
    * ``current(v_mv, ...)`` -> (I, dI/dV) and ``partials(v_mv, ...)`` -> {x: dI/dx, "v": dI/dV}:
      the net current (outward positive) whose zeros are the steady states;
    * ``newton_setup`` (see :data:`vrest.models.solver.Setup`): bracket, start and residual
      of the single zero, where I(V) is monotone;
    * ``bounds`` -> (lo, hi, step) in mV: a range holding every zero and a scan step, where
      there may be several; ``stable_state(values, branch)`` -> (V, stable-state count)
      finds the requested stable one without the scan (optional);
    * ``symbolic_state(tensors, branch)``: the zero as a PyTensor expression of the input
      tensors (broadcast to one shape); default :class:`vrest.symbolic.SteadyStateOp`;
    * ``branches(values)`` (NumPy) and ``symbolic_branches(tensors)`` (PyTensor), multistable models:
      {"lower", "upper": V (mV) of the hyperpolarised and depolarised branch, each continued through
      the saddle-node where it vanishes by its ghost; "ghost_lower", "ghost_upper": V (mV) of those ghosts
      (where each state meets its saddle); "margin_lower", "margin_upper": existence
      margins (mV), positive exactly where that stable state exists}, for a likelihood continuous
      across the bistable window (:mod:`vrest.inference.branches`).

    Fitting: ``fitted`` are the parameters a fit estimates by default (empty: not
    fittable); ``priors`` the default priors of fitted names that have none in
    :data:`vrest.inference.priors.DEFAULT_PRIORS`, as name -> (log_scale, mean, sd) of the
    unconstrained parameter; ``offset_share``: two ratio parameters and an additive pump
    offset (or none), so the offset-share coordinates of :mod:`vrest.inference.pymc_model` apply;
    ``leak(values)`` (NumPy or PyTensor): (g_lin, e_lin), the conductance and reversal (mV) of a linear
    leak that is the sum of those two ratio parameters and carries the pump current, where the pump is
    a current rather than an offset of V (offset-share then uses the leak's reversal with the pump);
    ``block``: the (midpoint, slope) parameters (mV; the slope fitted on the log scale) of a Boltzmann block,
    sampled by offset-share as the block's log-odds at a reference depolarisation; ``target_accept`` and
    ``low_rank_mass_matrix``: the NUTS settings its posterior needs (a fit's own target_accept wins): the
    mean acceptance the step size is tuned to, and whether nutpie adapts a low-rank-modified mass matrix
    (for coordinates that stay correlated in the posterior) instead of a diagonal one; ``draws``: draws per chain
    after tuning for a bulk ESS of about 400 (a fit's own draws win).
    ``optional`` inputs may be left out; ``zero_only`` are accepted, as 0 only.
    ``assumes``: what the model assumes about the membrane's conductances, as a phrase ("constant ion
    permeabilities"); ``shape``: the fitted parameters that carry that assumption. The report uses both to say
    what separates a fit that follows the data from one that misses them.
    """

    name: str
    title: str
    equation: str
    inputs: tuple[str, ...]
    defaults: Mapping[str, float]
    voltage: Callable | None = None
    gradient: Callable | None = None
    current: Callable | None = None
    partials: Callable | None = None
    newton_setup: Callable | None = None
    bounds: Callable | None = None
    stable_state: Callable | None = None
    symbolic_state: Callable | None = None
    branches: Callable | None = None
    symbolic_branches: Callable | None = None
    optional: tuple[str, ...] = ()
    zero_only: tuple[str, ...] = ()
    fitted: tuple[str, ...] = ()
    priors: Mapping[str, tuple[bool, float, float]] = field(default_factory=dict)
    offset_share: bool = False
    leak: Callable | None = None
    block: tuple[str, str] | None = None
    target_accept: float = 0.95
    low_rank_mass_matrix: bool = False
    draws: int = 1000
    assumes: str = ""
    shape: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("inputs", "optional", "zero_only", "fitted", "shape"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for name in ("defaults", "priors"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    @property
    def kind(self) -> str:
        """One of :data:`KINDS`: "closed form", "monotone fixed point" or "multistable"."""
        if self.voltage is not None:
            return CLOSED_FORM
        return MONOTONE if self.newton_setup is not None else MULTISTABLE

    def needs_solver(self, values: dict) -> bool:
        """Whether V at the inputs ``values`` is a zero to solve for rather than a formula."""
        return self.kind != CLOSED_FORM

    def solve(self, values: dict, branch: str = "hyperpolarized") -> tuple[np.ndarray, np.ndarray]:
        """(V in mV, number of stable states) at the validated inputs ``values``: the zero of the
        net current (before any pump_mv offset); where there are several stable ones, the most
        hyperpolarized or depolarized (``branch``). V is NaN where no state is stable (count 0);
        raises :class:`vrest.models.solver.SolverError` where the solver fails."""
        check_branch(branch)
        if self.newton_setup is not None:
            v = solve_increasing(self.newton_setup, values)
            return v, np.ones(v.shape, dtype=int)
        if self.stable_state is not None:
            return self.stable_state(values, branch)
        return scan_stable_state(self.current, self.bounds, values, branch)

    def source_digest(self) -> str:
        """A hash of the files that define this model's formulas outside vrest ("" for vrest's own
        models, whose source is in every compiled model's cache key already), so that a compiled
        log-density of an edited registered model is never taken from the cache."""
        package, parts = Path(__file__).resolve().parents[1], set()
        for fn in (getattr(self, f.name) for f in fields(self)):
            if not callable(fn):
                continue
            path = inspect.getsourcefile(fn)
            if path is None:  # defined without a file (e.g. python -c): its byte code
                parts.add(marshal.dumps(fn.__code__))
            elif package not in Path(path).resolve().parents:
                parts.add(Path(path).read_bytes())
        return hashlib.sha256(b"".join(sorted(parts))).hexdigest()[:16] if parts else ""

    def implicit_gradient(self, values: dict, root: np.ndarray) -> dict[str, np.ndarray]:
        """dV/dx = -(dI/dx)/(dI/dV) at the zero ``root`` (mV) of the net current, for every input
        the partials cover; a pump_mv offset (V = root - pump_mv) adds dV/dpump_mv = -1."""
        p = self.partials(root, **values)
        grad = {name: -p[name] / p["v"] for name in self.inputs if name in p}
        if "pump_mv" in values:
            grad["pump_mv"] = -1.0
        return grad


MODELS: dict[str, ForwardModel] = {}
"""The models by name (as on the command line), filled by :func:`register_model`. The
built-in rectifying-kir defaults are illustrative parameters (g in nS) with one stable
state at K_o = 5.4 mM and bistability near 3-4 mM K_o in the mammalian-neuron preset;
``--no-pump`` drops the pump term from a model's ``fitted``."""


def _key(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _check(m: ForwardModel) -> None:
    """ValueError (one line, naming the offender) unless ``m`` is a consistent record."""
    if not m.name or m.name != _key(m.name):
        raise ValueError(f"model: expected a lower-case name with '-' between words, got {m.name!r}")
    if m.name in MODELS:
        raise ValueError(f"model: {m.name!r} is already registered")
    for what, names in (("inputs", m.inputs), ("optional", m.optional), ("zero_only", m.zero_only),
                        ("fitted", m.fitted), ("defaults", m.defaults), ("priors", m.priors)):  # fmt: skip
        unknown = [n for n in names if n not in PARAMS]
        if unknown:
            raise ValueError(f"{unknown[0]}: not a parameter (add it with vrest.parameters.register_parameter); "
                             f"in {what} of model {m.name!r}")  # fmt: skip
        outside = [n for n in names if what != "zero_only" and n not in m.inputs]
        if outside:
            raise ValueError(f"{outside[0]}: in {what} of model {m.name!r} but not one of its inputs")
    clash = [n for n in m.zero_only if n in m.inputs]
    if clash:
        raise ValueError(f"{clash[0]}: zero_only in model {m.name!r}, so it cannot be one of its inputs")
    clash = [n for n in m.fitted if n in m.optional]
    if clash:
        raise ValueError(f"{clash[0]}: optional in model {m.name!r}, so it cannot be fitted")
    unfitted = [n for n in m.priors if n not in m.fitted]
    if unfitted:
        raise ValueError(f"{unfitted[0]}: has a prior in model {m.name!r} but is not fitted")
    bad = [n for n, p in m.priors.items() if len(p) != 3 or not p[2] > 0]
    if bad:
        raise ValueError(f"{bad[0]}: prior of model {m.name!r} must be (log_scale, mean, sd > 0)")
    if (m.voltage is None) != (m.gradient is None):
        raise ValueError(f"model {m.name!r}: give both voltage and gradient, or neither")
    if (m.current is None) != (m.partials is None):
        raise ValueError(f"model {m.name!r}: give both current and partials, or neither")
    if m.voltage is None and (m.current is None or (m.newton_setup is None and m.bounds is None)):
        raise ValueError(f"model {m.name!r}: without a voltage it needs current, partials and newton_setup or bounds")
    if (m.branches is None) != (m.symbolic_branches is None) or (m.branches is not None and m.kind != MULTISTABLE):
        raise ValueError(f"model {m.name!r}: give both branches and symbolic_branches, and only for a multistable model")


def register_model(model: ForwardModel) -> None:
    """Add ``model`` to :data:`MODELS` (ValueError for a name already taken, an input not in
    :data:`vrest.parameters.PARAMS`, or missing formulas). Everything downstream (predict,
    gradient, sensitivity, symbolic graphs and, with ``fitted``, fitting) then takes it."""
    _check(model)
    MODELS[model.name] = model


def get_model(name: str) -> ForwardModel:
    """The model called ``name`` (underscores accepted), or ``ValueError``."""
    key = _key(name)
    if key not in MODELS:
        raise ValueError(f"model: expected one of {', '.join(MODELS)}, got {name!r}")
    return MODELS[key]


def fixable_inputs() -> tuple[str, ...]:
    """The inputs a fit can be given fixed values for (flags, a study's ``[fixed]``), in
    :data:`~vrest.parameters.PARAMS` order: every input a fittable model (one with ``fitted``
    parameters) does not fit, but K_o (the design's variable), pump terms and optional inputs."""
    fittable = [m for m in MODELS.values() if m.fitted]
    names = {n for m in fittable for n in m.inputs if n not in m.optional and n not in m.fitted}
    names -= set(PUMP_TERMS) | {"k_o"}
    return tuple(n for n in PARAMS if n in names)


def _m(name, title, equation, extra, defaults, **kw) -> ForwardModel:
    return ForwardModel(name, title, equation, CONCENTRATIONS + extra, defaults, **kw)


KIR_PRIORS = {
    "g_na": (True, float(np.log(0.01)), 1.2),
    "g_cl": (True, float(np.log(0.05)), 1.5),
    "i_pump": (False, 2.0, 3.0),
    "v_half": (False, 7.0, 8.0),
    "k_slope": (True, float(np.log(11.0)), 0.35),
    "kir_n": (True, float(np.log(0.5)), 0.35),
}
"""Priors of the fitted inward-rectifier parameters, (log_scale, mean, sd) of the unconstrained parameter, with
conductances relative to g_K1 (g_k = 1), from the I_K1 of atrial and ventricular myocytes:

* ``kir_n`` log-normal, median 0.5, log-sd 0.35 (95 % 0.25-1.0): conductance proportional to [K+]_o^0.5
  (Sakmann & Trube 1984, J Physiol 347:641, guinea-pig ventricle); the sqrt(K_o/5.4) of Luo & Rudy 1994
  (Circ Res 74:1071) and Grandi et al. 2010/2011 (J Mol Cell Cardiol 48:112; Circ Res 109:1055), whose
  k_ref = 5.4 mM is kept fixed.
* ``v_half`` normal, mean 7 mV, sd 8 mV, relative to E_K (the block follows E_K: Kubo et al. 1993, Nature
  362:127; Lopatin & Nichols 1996, J Gen Physiol 108:105): Courtemanche et al. 1998 (Am J Physiol 275:H301),
  I_K1 = g (V - E_K)/(1 + exp(0.07 (V + 80))), has v_half 6.8 mV at K_o 5.4 mM (E_K -86.8 mV) and
  k = 1/0.07 = 14.3 mV; a Boltzmann fitted to the Luo-Rudy gate x_K1(V - E_K) has v_half about 6 mV and k
  about 9 mV (vrest's fit, not a published number).
* ``k_slope`` log-normal, median 11 mV, log-sd 0.35 (95 % 5.5-22 mV): spans those 9 and 14.3 mV. (The human
  atrial model of Nygren et al. 1998, Circ Res 82:63, has k = RT/1.5F = 17.6 mV at 33 C, and v_half -3.6 mV;
  the human atrial study data/studies/gelband1972_atrium.toml sets median 16 mV from it and Courtemanche's.)
* ``g_na`` (all background inward current) log-normal, median 0.01, log-sd 1.2 (95 % 0.001-0.1): g_Nab/g_K1 is
  0.0019 in Luo-Rudy 1994, 0.0017 in Grandi 2010 (ventricle) and 0.011 in Grandi 2011 (atrium).
* ``g_cl`` log-normal, median 0.05, log-sd 1.5 (95 % 0.003-0.9): g_ClB/g_K1 is 0.026 (Grandi 2010) to 0.17
  (Grandi 2011, atrium).
* ``i_pump`` (g_k x mV) normal, mean 2, sd 3: I_NaK at rest over g_K1 is about 0.4 mV in Luo-Rudy 1994 and about
  5 mV in Grandi 2011 (atrium); outward (positive), with room for a small negative value, which the adequacy
  checks flag.

These ratios were read from the model papers' parameter tables as summarised here, not re-derived in this
session; treat them as the stated, checkable basis of a weakly informative prior."""


for _model in (
    _m(
        "ghk",
        "Goldman-Hodgkin-Katz voltage equation with pump offset",
        "V = RT/F ln((K_o + p_na Na_o + p_cl Cl_i)/(K_i + p_na Na_i + p_cl Cl_o)) - pump_mv"
        "  (with p_ca > 0: the closed-form zero of the summed GHK currents incl. Ca2+, minus pump_mv)",
        ("p_na", "p_cl", "pump_mv", "p_ca", "ca_o", "ca_i"),
        {"p_na": 0.04, "p_cl": 0.45, "pump_mv": 0.0, "p_ca": 0.0},
        voltage=ghk_ca_voltage,
        gradient=ghk_ca_voltage_gradient,
        current=ghk_ca_current,
        partials=ghk_ca_partials,
        zero_only=("i_pump",),
        fitted=("p_na", "p_cl", "pump_mv"),
        offset_share=True,
        assumes="constant permeabilities (GHK currents), so a K+ permeability that does not change with K_o or V",
    ),
    _m(
        "mullins-noda",
        "Mullins-Noda equation (GHK with pump coupling ratio r)",
        "V = RT/F ln((r K_o + p_na Na_o + p_cl Cl_i)/(r K_i + p_na Na_i + p_cl Cl_o)) - pump_mv",
        ("p_na", "p_cl", "pump_ratio", "pump_mv"),
        {"p_na": 0.04, "p_cl": 0.45, "pump_ratio": 1.5, "pump_mv": 0.0},
        voltage=mullins_noda_voltage,
        gradient=mullins_noda_gradient,
        zero_only=("i_pump",),
        fitted=("p_na", "p_cl"),
        offset_share=True,
        assumes="constant permeabilities (GHK currents) and a pump moving 3 Na+ for 2 K+",
    ),
    _m(
        "chord",
        "Chord-conductance weighted mean of Nernst potentials with pump",
        "V = (g_k E_K + g_na E_Na + g_cl E_Cl)/(g_k + g_na + g_cl) - pump_mv - i_pump/g_tot",
        ("g_k", "g_na", "g_cl", "pump_mv", "i_pump", "g_tot"),
        {"g_k": 1.0, "g_na": 0.05, "g_cl": 0.1, "pump_mv": 0.0, "i_pump": 0.0},
        voltage=chord_voltage,
        gradient=chord_gradient,
        optional=("g_tot",),
        fitted=("g_na", "g_cl", "pump_mv"),
        offset_share=True,
        assumes="constant (ohmic) conductances",
    ),
    _m(
        "rectifying-ghk",
        "Rectifying-leak fixed point with GHK-rectified K+, Na+, Cl- conductances and pump",
        "0 = I_GHK(V; perm_k, p_na, p_cl) + i_pump  <=>  V = E_eff(V) - i_pump/G(V)",
        ("p_na", "p_cl", "perm_k", "i_pump"),
        {"p_na": 0.04, "p_cl": 0.45, "perm_k": 1.0, "i_pump": 0.0},
        current=rectifying_ghk_current,
        partials=rectifying_ghk_partials,
        newton_setup=rectifying_ghk_setup,
        symbolic_state=rectifying_ghk_symbolic_state,
        zero_only=("pump_mv",),
        fitted=("p_na", "p_cl", "i_pump"),
        assumes="constant permeabilities whose GHK currents rectify with V (a fixed point, not a closed form)",
    ),
    _m(
        "rectifying-kir",
        "Rectifying-leak fixed point with inward-rectifier K+, ohmic Na+/Cl- and pump",
        "0 = g_k (K_o/k_ref)^kir_n (V - E_K)/(1 + exp((V - E_K - v_half)/k_slope))"
        " + g_na (V - E_Na) + g_cl (V - E_Cl) + i_pump",
        ("g_k", "g_na", "g_cl", "v_half", "k_slope", "k_ref", "kir_n", "i_pump"),
        {
            "g_k": 1.0,
            "g_na": 0.02,
            "g_cl": 0.05,
            "v_half": 10.0,
            "k_slope": 10.0,
            "k_ref": 5.4,
            "kir_n": 0.5,
            "i_pump": 0.0,
        },
        current=rectifying_kir_current,
        partials=rectifying_kir_partials,
        bounds=rectifying_kir_bounds,
        stable_state=kir_stable_state,
        symbolic_state=kir_symbolic_state,
        branches=kir_branches,
        symbolic_branches=kir_symbolic_branches,
        zero_only=("pump_mv",),
        fitted=tuple(KIR_PRIORS),
        priors=KIR_PRIORS,
        offset_share=True,
        leak=kir_leak,
        block=("v_half", "k_slope"),
        assumes="an inward-rectifier K+ conductance (I_K1) that grows with K_o and is blocked on depolarisation",
        shape=("kir_n", "k_slope", "v_half"),
        # near its fold the state moves tens of mV per prior sd: smaller steps (0.95 left 1-6 divergences per 4000
        # draws on bistable synthetic data, 0.98 none), and a low-rank mass matrix for the correlation of the leak
        # with the shape (about 4x fewer gradient evaluations than a diagonal one at equal R-hat)
        target_accept=0.98,
        low_rank_mass_matrix=True,
        # its posterior ridge (leak size against the rectifier's shape) mixes slowly: 4 x 1000 draws gave a bulk
        # ESS of 180-615 (4 of 9 seeds of bistable synthetic data at 400 or more); 4 x 2000, 372-412 on the
        # latent-branch data of seed 0 at three sampler seeds (v_half, R-hat 1.012-1.017); 4 x 3000, 550-680
        draws=3000,
    ),
):
    register_model(_model)
del _model

register_model(
    replace(
        MODELS["ghk"],
        name="ghk-ca",
        title="GHK voltage equation with Ca2+ permeant (P_Ca/P_K fitted) and pump offset",
        equation="V = RT/F ln x - pump_mv,  x > 0 the root of (A_in + 4 p_ca Ca_i) x^2 + (A_in - A_out) x"
        " - (A_out + 4 p_ca Ca_o) = 0  (A as in ghk)",
        defaults={**MODELS["ghk"].defaults, "p_ca": 0.01},
        fitted=("p_na", "p_cl", "p_ca", "pump_mv"),
        priors={"p_ca": (True, float(np.log(0.01)), 2.0)},  # vrest convention: weakly informative, 95 % 2e-4 to 0.5
        assumes="constant permeabilities (GHK currents), Ca2+ among the permeant ions",
        shape=("p_ca",),
    )
)
