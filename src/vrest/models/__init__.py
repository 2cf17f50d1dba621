"""The forward models of the resting potential, each written once.

Every model is a :class:`ForwardModel`: named inputs with units (see
:mod:`vrest.parameters`) and either a closed-form voltage (NumPy or PyTensor) with
its analytic gradient, or a net membrane current I(V) whose zeros are the steady
states, with analytic partial derivatives for the implicit-function gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType

from .chord import chord_gradient, chord_voltage
from .ghk import ghk_voltage, ghk_voltage_gradient
from .ghk_general import ghk_ca_current, ghk_ca_partials, ghk_ca_setup
from .kir_states import kir_stable_state
from .mullins_noda import mullins_noda_gradient, mullins_noda_voltage
from .rectifying import (
    rectifying_ghk_current,
    rectifying_ghk_partials,
    rectifying_ghk_setup,
    rectifying_kir_bounds,
    rectifying_kir_current,
    rectifying_kir_partials,
)

CONCENTRATIONS = ("k_o", "k_i", "na_o", "na_i", "cl_o", "cl_i", "temp_k")


@dataclass(frozen=True)
class ForwardModel:
    """A resting-potential model: its inputs, defaults and formulas.

    Closed-form models set ``voltage`` and ``gradient``. Fixed-point models set
    ``current`` ((I, dI/dV) at V for the inputs), ``partials`` (dI/dx for every
    input and ``v``) and, when I(V) is monotone (exactly one steady state),
    ``newton_setup`` (bracket, start and I of V) for the fast solver; otherwise ``bounds`` gives a
    voltage range (lo, hi) that contains every steady state and a scan step, and
    ``stable_state`` (optional) finds the requested stable state without a scan
    (``stable_state(values, branch) -> (V, stable-state count)``).
    """

    name: str
    title: str
    equation: str
    inputs: tuple[str, ...]
    defaults: MappingProxyType
    voltage: Callable | None = None
    gradient: Callable | None = None
    current: Callable | None = None
    partials: Callable | None = None
    newton_setup: Callable | None = None
    bounds: Callable | None = None
    stable_state: Callable | None = None
    optional: tuple[str, ...] = ()
    zero_only: tuple[str, ...] = field(default=())

    @property
    def is_fixed_point(self) -> bool:
        """True when V is only defined as a zero of the net current (possibly several)."""
        return self.voltage is None

    def needs_solver(self, values: dict) -> bool:
        """True when V must be solved for: fixed-point models, and GHK with Ca2+ permeant."""
        return self.is_fixed_point or bool(self.current is not None and (values.get("p_ca", 0) != 0).any())


def _m(name, title, equation, extra, defaults, **kw) -> ForwardModel:
    return ForwardModel(name, title, equation, CONCENTRATIONS + extra, MappingProxyType(defaults), **kw)


MODELS: dict[str, ForwardModel] = {
    m.name: m
    for m in (
        _m(
            "ghk",
            "Goldman-Hodgkin-Katz voltage equation with pump offset",
            "V = RT/F ln((K_o + p_na Na_o + p_cl Cl_i)/(K_i + p_na Na_i + p_cl Cl_o)) - pump_mv"
            "  (with p_ca > 0: zero of the summed GHK currents incl. Ca2+, minus pump_mv)",
            ("p_na", "p_cl", "pump_mv", "p_ca", "ca_o", "ca_i"),
            {"p_na": 0.04, "p_cl": 0.45, "pump_mv": 0.0, "p_ca": 0.0},
            voltage=ghk_voltage,
            gradient=ghk_voltage_gradient,
            current=ghk_ca_current,
            partials=ghk_ca_partials,
            newton_setup=ghk_ca_setup,
            zero_only=("i_pump",),
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
            zero_only=("pump_mv",),
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
            zero_only=("pump_mv",),
        ),
    )
}
"""The models by CLI name. The rectifying-kir defaults are illustrative parameters
(g in nS) with one stable state at K_o = 5.4 mM and bistability near 3-4 mM K_o
in the mammalian-neuron preset."""


def get_model(name: str) -> ForwardModel:
    """The model called ``name`` (underscores accepted), or ``ValueError``."""
    key = name.strip().lower().replace("_", "-")
    if key not in MODELS:
        raise ValueError(f"model: expected one of {', '.join(MODELS)}, got {name!r}")
    return MODELS[key]
