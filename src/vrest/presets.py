"""Preparation presets: concentrations (mM, in/out) and temperature, with sources.

Where a value is a convention rather than a measurement, the preset says so in
its ``notes``; every preset value used in a computation is an assumption that
the caller can override.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from .constants import celsius_to_kelvin


@dataclass(frozen=True)
class Preset:
    """A preparation: named concentrations (mM), temperature (deg C) and sources."""

    name: str
    title: str
    concentrations: MappingProxyType
    temp_c: float
    sources: tuple[str, ...]
    notes: str = ""

    def values(self) -> dict[str, float]:
        """All preset inputs by API name (temperature as ``temp_k``)."""
        return {**self.concentrations, "temp_k": celsius_to_kelvin(self.temp_c)}


def _preset(name, title, conc, temp_c, sources, notes="") -> Preset:
    keys = ("k_i", "k_o", "na_i", "na_o", "cl_i", "cl_o", "ca_i", "ca_o")
    return Preset(name, title, MappingProxyType(dict(zip(keys, conc, strict=True))), temp_c, tuple(sources), notes)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        _preset(
            "mammalian_neuron",
            "Mammalian neuron (default)",
            (140, 5, 12, 145, 10, 110, 1e-4, 1.5),
            37.0,
            ["Purves D. et al., Neuroscience, 2nd ed., Sinauer 2001, ch. 2, Table 2.1 (NCBI Bookshelf NBK11053)"],
            "K and outside values as tabulated; Na_i 12 and Cl_i 10 are conventional choices within the "
            "tabulated ranges (Na_i 5-15, Cl_i 4-30 mM).",
        ),
        _preset(
            "cardiac_myocyte",
            "Mammalian ventricular myocyte",
            (145, 5.4, 10, 140, 15, 150, 1e-4, 1.8),
            37.0,
            [
                "Luo C.H. & Rudy Y. (1994) Circ. Res. 74:1071, doi:10.1161/01.RES.74.6.1071",
                "Grandi E., Pasqualini F.S. & Bers D.M. (2010) J. Mol. Cell. Cardiol. 48:112, "
                "doi:10.1016/j.yjmcc.2009.09.019 (Cl_i 15, Cl_o 150)",
            ],
            "Model conventions; measured Cl_i in rabbit myocytes is 15-20 mM.",
        ),
        _preset(
            "frog_skeletal_muscle",
            "Frog skeletal muscle in Ringer",
            (140, 2.5, 10, 120, 3.5, 121, 1e-4, 1.8),
            20.0,
            [
                "Hodgkin A.L. & Horowicz P. (1959) J. Physiol. 148:127, doi:10.1113/jphysiol.1959.sp006278",
                "Conway E.J. (1957) Physiol. Rev. 37:84",
            ],
            "Ringer outside; K_i 140 as commonly assumed for fibres in Ringer; 20 C is room temperature by convention.",
        ),
        _preset(
            "squid_giant_axon",
            "Squid giant axon (Loligo)",
            (400, 20, 50, 440, 60, 560, 1e-4, 10),
            6.3,
            [
                "Hodgkin A.L. (1958) Proc. R. Soc. B 148:1, Table 1",
                "Hodgkin A.L. & Huxley A.F. (1952) J. Physiol. 117:500, doi:10.1113/jphysiol.1952.sp004764 (6.3 C)",
            ],
            "Squid blood outside (sea water: K 10, Na 460, Cl 540); Cl_i is uncertain (40-150 mM).",
        ),
        _preset(
            "crayfish_muscle",
            "Crayfish (Procambarus) muscle in van Harreveld saline",
            (150, 5.4, 15, 207, 12, 243, 1e-4, 13.5),
            21.0,
            ["van Harreveld A. (1936) Proc. Soc. Exp. Biol. Med. 34:428 (saline: 207 Na, 5.4 K, 13.5 Ca, 243 Cl)"],
            "Outside values from the saline recipe. Intracellular K_i 150, Na_i 15 and Cl_i 12 are PROVISIONAL "
            "placeholders consistent with resting potentials of -75 to -85 mV, not measurements; "
            "fit them as uncertain where they matter.",
        ),
    )
}

DEFAULT_PRESET = "mammalian_neuron"


def get_preset(name: str) -> Preset:
    """The preset called ``name`` (hyphens or underscores, any case), or ``ValueError``."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    if key not in PRESETS:
        raise ValueError(f"preset: expected one of {', '.join(PRESETS)}, got {name!r}")
    return PRESETS[key]
