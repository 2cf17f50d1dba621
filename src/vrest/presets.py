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
        _preset(
            "vascular_smooth_muscle",
            "Arterial smooth muscle cell (myocyte) in Krebs-Henseleit saline",
            (140, 5.9, 10, 143, 50, 127.7, 1e-4, 2.5),
            37.0,
            [
                "Krebs H.A. & Henseleit K. (1932) Hoppe-Seyler's Z. Physiol. Chem. 210:33 (outside: vrest's "
                "krebs_henseleit recipe, Na 143, K 5.9, Cl 127.7, Ca 2.5 mM)",
                "Chipperfield A.R. & Harper A.A. (2000) Prog. Biophys. Mol. Biol. 74:175, "
                "doi:10.1016/s0079-6107(00)00024-9 (review, vascular smooth muscle emphasised: Cl_i is held above "
                "equilibrium by Cl/HCO3 exchange, Na-K-Cl cotransport and a third pump)",
                "Nelson M.T. & Quayle J.M. (1995) Am. J. Physiol. 268:C799 (K+ channels of arterial smooth muscle; "
                "E_K near -85 mV with K_i 140 mM as we recall: UNCERTAIN)",
            ],
            "Outside: the Krebs-Henseleit recipe as customarily stated (the physiological salines of arterial "
            "studies are close to it). Cl_i 50 mM is an approximate, representative value (UNCERTAIN: reported "
            "values span roughly 30-60 mM between vessels and methods) chosen to put E_Cl at about -25 mV, in "
            "the -20 to -30 mV usually quoted for arterial myocytes (reviews put it about 30 mV positive to the "
            "resting potential of -40 to -60 mV). K_i 140 and Na_i 10 are conventional values (UNCERTAIN), not one "
            "measurement; Ca_i 100 nM is the usual resting convention.",
        ),
        _preset(
            "purkinje_fibre",
            "Cardiac Purkinje fibre (sheep/canine) in Tyrode",
            (140, 4, 8, 140, 25, 145, 5e-5, 1.8),
            37.0,
            [
                "DiFrancesco D. & Noble D. (1985) Phil. Trans. R. Soc. Lond. B 307:353 (Purkinje fibre model: "
                "K_i 140, K_o 4, Na_i 8, Na_o 140 mM, 37 C; checked against the NEURON implementation, "
                "ModelDB 144520, which also sets Ca_o 1.8 and Ca_i 5e-5 mM)",
                "Vaughan-Jones R.D. (1979) J. Physiol. 295:83, doi:10.1113/jphysiol.1979.sp012956 (sheep Purkinje "
                "fibres: intracellular Cl activity 3-4 times its passive value of about 5 mM; E_Cl about 35 mV "
                "positive to E_m in bicarbonate Tyrode)",
            ],
            "K and Na are model conventions (DiFrancesco-Noble), consistent with ion-selective electrode "
            "measurements in sheep Purkinje fibres; Ca_o 1.8 is the NEURON implementation's value (the 1985 paper "
            "may use 2 mM: UNCERTAIN). Cl_o 145 is a Tyrode-type value (approximate; Tyrode variants "
            "differ by several mM). Cl_i 25 mM is derived, not measured as a concentration: Vaughan-Jones's "
            "Cl activity ratio read as a concentration ratio (equal activity coefficients inside and out "
            "ASSUMED), giving E_Cl about -47 mV (approximate; UNCERTAIN by +-8 mV as the source states for E_Cl).",
        ),
        _preset(
            "atrial_myocyte",
            "Human atrial myocyte (model conventions)",
            (139, 5.4, 11.17, 140, 15, 150, 1.013e-4, 1.8),
            37.0,
            [
                "Courtemanche M., Ramirez R.J. & Nattel S. (1998) Am. J. Physiol. 275:H301, "
                "doi:10.1152/ajpheart.1998.275.1.H301 (K_o 5.4, Na_o 140, Ca_o 1.8 mM, T 310 K; initial "
                "K_i 139.0, Na_i 11.17, Ca_i 1.013e-4 mM)",
                "Grandi E., Pandit S.V., Voigt N. et al. (2011) Circ. Res. 109:1055, "
                "doi:10.1161/CIRCRESAHA.111.253955 (Cl_i 15, Cl_o 150 mM; same K_o, Na_o, Ca_o)",
            ],
            "Model conventions, not measurements in one preparation: K, Na, Ca and temperature from Courtemanche "
            "et al. (their initial intracellular values; K_i and Na_i drift with pacing in the model, and "
            "Grandi et al. use K_i 120 mM), Cl from Grandi et al. (no Cl in the Courtemanche model). "
            "Superfusates of tissue studies differ (Tyrode K_o 4-5.4 mM): override the outside values for data.",
        ),
        _preset(
            "mammalian_skeletal_muscle",
            "Mammalian skeletal muscle fibre",
            (155, 4, 12, 145, 4.2, 123, 1e-4, 1.5),
            37.0,
            [
                "Hille B. (2001) Ion Channels of Excitable Membranes, 3rd ed., Sinauer, ch. 1, table of free ionic "
                "concentrations and equilibrium potentials for mammalian skeletal muscle (K 155/4, Na 12/145, "
                "Cl 4.2/123 mM, Ca_i < 1e-7 M, Ca_o 1.5 mM; E_K -98, E_Na +67, E_Cl -90 mV at 37 C)",
            ],
            "Values as tabulated by Hille, quoted from memory and checked only for consistency (they reproduce "
            "the tabulated E_K, E_Na and E_Cl at 37 C to 0.5 mV); the table number is UNCERTAIN (Table 1.1 or "
            "1.2). Cl_i 4.2 is, as we recall the table's footnote, "
            "computed for Cl at equilibrium at a -90 mV resting potential rather than measured (UNCERTAIN). "
            "Ca_i 1e-4 mM stands for the tabulated bound of 1e-7 M.",
        ),
        _preset(
            "hippocampal_neuron",
            "Hippocampal pyramidal neuron in a slice, ACSF at 32 C",
            (140, 3, 10, 152.2, 7, 133.8, 1e-4, 2.4),
            32.0,
            [
                "Walz W. (ed.) (2007) Patch-Clamp Analysis, 2nd ed., Humana, p. 191, ACSF as quoted in LJPcalc "
                "(github.com/swharden/LJPcalc) (outside: vrest's acsf recipe, Na 152.2, K 3, Cl 133.8, Ca 2.4 mM)",
                "Rivera C. et al. (1999) Nature 397:251 (KCC2 keeps Cl_i low in mature hippocampal pyramidal "
                "neurons, so GABA-A responses hyperpolarise)",
            ],
            "Outside from the ACSF recipe (other slice ACSFs use K 2.5-3.5 mM). Inside values are conventions, "
            "not measurements: K_i 140 and Na_i 10 (UNCERTAIN), Cl_i 7 mM for mature neurons, giving E_Cl about "
            "-78 mV (approximate; immature neurons often have Cl_i of 20-40 mM and a depolarising E_Cl). 32 C is a "
            "typical warmed slice-recording temperature (32-34 C); many recordings are at room temperature, "
            "20-25 C: set temp_c to the recording's.",
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
