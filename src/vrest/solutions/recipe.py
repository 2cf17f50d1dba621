"""Recipes (salts and substances in mM) -> ion concentrations, charge balance, osmolarity, ionic strength.

A recipe is a mapping of names to mM: salts (``"NaCl"``, ``"CaCl2"``, ``"K-gluconate"``,
``"Na2ATP"``), substances (``"glucose"``, ``"HEPES"``, ``"EGTA"``) or ions (``"K"``, ``"Cl-"``).
Two optional keys set the pH: ``ph`` and ``titrated_with`` (``"KOH"``, ``"NaOH"``, ``"CsOH"``,
``"LiOH"``, ``"HCl"``, ``"CH3SO3H"``). With them, each buffer (HEPES, Tris, EGTA, NMDG) is split
over its species at that pH (Henderson-Hasselbalch, pKa at 25 C) and the protons it gives up are
balanced by the titrant, whose cation (or anion) is added: 10 mM HEPES at pH 7.3 with KOH gives
3.98 mM HEPES-, 6.02 mM HEPES zwitterion and 3.98 mM K+. Without ``ph`` a buffer counts as weighed
(HEPES as its neutral zwitterion, EGTA as the free acid).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from .library import Ion, buffers, get_ion, ions, lookup, parse_salt, special_salts, titrants, unknown

SETTINGS = ("ph", "titrated_with", "name")
"""Recipe keys that are not amounts."""


@dataclass(frozen=True)
class Solution:
    """A solution as ion concentrations (canonical ion name -> mM), with the recipe it came from."""

    name: str
    ions: MappingProxyType
    recipe: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    ph: float | None = None
    titrated_with: str | None = None
    titrant_mm: float = 0.0

    def concentration(self, ion: str) -> float:
        """Concentration of ``ion`` (any name the library knows), mM; 0 if absent."""
        return float(self.ions.get(get_ion(ion).name, 0.0))

    def _species(self) -> list[tuple[Ion, float]]:
        table = ions()
        return [(table[name], c) for name, c in self.ions.items()]

    @property
    def cations_mm(self) -> float:
        """Positive charge, mM of elementary charges (mEq/L)."""
        return sum(ion.z * c for ion, c in self._species() if ion.z > 0)

    @property
    def anions_mm(self) -> float:
        """Negative charge (as a positive number), mEq/L."""
        return -sum(ion.z * c for ion, c in self._species() if ion.z < 0)

    @property
    def charge_mm(self) -> float:
        """Net charge, mEq/L: cations minus anions (0 for an electroneutral solution)."""
        return self.cations_mm - self.anions_mm

    @property
    def ionic_strength_mm(self) -> float:
        """Ionic strength I = 1/2 sum z^2 c, mM."""
        return 0.5 * sum(ion.z**2 * c for ion, c in self._species())

    def osmolarity_mosm(self, osmotic_coefficient: float = 1.0) -> float:
        """Osmolarity, mOsm/L: phi x the sum of all dissolved particles (ideal, phi = 1, by default).

        For physiological saline phi is about 0.93 (NaCl at 0.15 mol/kg: Robinson R.A. & Stokes R.H.,
        Electrolyte Solutions, 2nd ed. 1959, Appendix 8.10).
        """
        if not (math.isfinite(osmotic_coefficient) and osmotic_coefficient > 0):
            raise ValueError(f"osmotic_coefficient: expected a positive number, got {osmotic_coefficient!r}")
        return osmotic_coefficient * sum(self.ions.values())

    def neutrality_message(self, tol_mm: float = 0.5) -> str | None:
        """A one-line description of the charge imbalance when it exceeds ``tol_mm`` (mEq/L), else None."""
        q = self.charge_mm
        if abs(q) <= tol_mm:
            return None
        excess = "cations" if q > 0 else "anions"
        return (f"charge imbalance {q:+.3g} mM ({excess} in excess: cations {self.cations_mm:.4g}, anions "
                f"{self.anions_mm:.4g} mEq/L); add the counter-ion, or give titrated_with and ph for the buffers")  # fmt: skip

    def table(self) -> list[dict]:
        """One row per species: name, valence, mM and limiting conductivity (S cm^2/mol per equivalent)."""
        return [
            {"ion": ion.name, "z": ion.z, "mM": float(c), "lambda_S_cm2_per_mol": ion.lambda_eq if ion.z else 0.0}
            for ion, c in self._species()
        ]


def _amount(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{key}: expected a concentration in mM (a number >= 0), got {value!r}")
    return float(value)


def _titrate(amounts: dict[str, float], buffered: dict[str, float], ph: float, titrant: str, where: str) -> float:
    """Add each buffer's species at ``ph`` and the titrant's ion to ``amounts``; returns the titrant, mM."""
    table = ions()
    equivalents = 0.0
    for name, c in buffered.items():
        buf = buffers()[name]
        fractions = buf.fractions(ph)
        for species, f in zip(buf.species, fractions, strict=True):
            amounts[species] = amounts.get(species, 0.0) + f * c
        mean_z = sum(f * table[s].z for s, f in zip(buf.species, fractions, strict=True))
        equivalents += c * (table[buf.weighed].z - mean_z)
    t = titrants()[titrant]
    needs = "base" if equivalents > 0 else "acid"
    if abs(equivalents) > 1e-12 and needs != t.kind:
        raise ValueError(f"{where}titrated_with: the buffers at pH {ph:g} need an {needs} "
                         f"({', '.join(n for n, x in titrants().items() if x.kind == needs)}), got {titrant}")  # fmt: skip
    amounts[t.ion] = amounts.get(t.ion, 0.0) + abs(equivalents)
    return abs(equivalents)


def make_solution(recipe: Mapping[str, object], name: str = "") -> Solution:
    """The ion concentrations (mM) of ``recipe``; ValueError naming the key for anything unknown or invalid."""
    where = f"{name}: " if name else ""
    settings = {k.casefold(): v for k, v in recipe.items() if k.casefold() in SETTINGS}
    ph = settings.get("ph")
    titrant = settings.get("titrated_with")
    if ph is not None and (isinstance(ph, bool) or not isinstance(ph, int | float) or not 0 < ph < 14):
        raise ValueError(f"{where}ph: expected a number between 0 and 14, got {ph!r}")
    if titrant is not None:
        kind, titrant = lookup(str(titrant))
        if kind != "titrant":
            raise ValueError(
                f"{where}titrated_with: expected one of {', '.join(titrants())}, got {settings['titrated_with']!r}"
            )
    if (ph is None) != (titrant is None):
        raise ValueError(f"{where}{'titrated_with' if titrant is None else 'ph'}: ph and titrated_with go together")
    amounts: dict[str, float] = {}
    buffered: dict[str, float] = {}
    given: dict[str, float] = {}
    for key, value in recipe.items():
        if key.casefold() in SETTINGS:
            continue
        c = _amount(f"{where}{key}", value)
        given[key] = c
        kind, canon = lookup(key)
        if kind == "titrant":
            raise ValueError(f'{where}{key}: a titrant, not an ingredient: give titrated_with = "{canon}" and ph')
        if kind == "buffer":
            buffered[canon] = buffered.get(canon, 0.0) + c
            continue
        if kind == "salt":
            counts = special_salts()[canon][0]
        elif kind == "ion":
            counts = {canon: 1.0}
        else:
            try:
                counts = parse_salt(key)
            except ValueError as err:
                raise ValueError(f"{where}{err}") from None
            if counts is None:
                raise ValueError(f"{where}{unknown(key)}")
        for ion, n in counts.items():
            amounts[ion] = amounts.get(ion, 0.0) + n * c
    titrant_mm = 0.0
    if ph is not None:
        titrant_mm = _titrate(amounts, buffered, float(ph), titrant, where)
    else:
        for buf, c in buffered.items():
            weighed = buffers()[buf].weighed
            amounts[weighed] = amounts.get(weighed, 0.0) + c
    return Solution(name, MappingProxyType({k: v for k, v in amounts.items() if v > 0}), MappingProxyType(given),
                    None if ph is None else float(ph), titrant, titrant_mm)  # fmt: skip


def read_solution_file(path: str | Path) -> Solution:
    """A solution from a TOML file: salts, substances or ions in mM as top-level keys (plus ph, titrated_with)."""
    p = Path(path)
    try:
        recipe = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{p}: not valid TOML ({err})") from None
    except OSError as err:
        raise ValueError(f"{p}: cannot be read ({err.strerror or err})") from None
    tables = [k for k, v in recipe.items() if isinstance(v, dict)]
    if tables:
        raise ValueError(f"{p}: expected salts or ions in mM as top-level keys, got a table [{tables[0]}]")
    return make_solution(recipe, name=str(recipe.get("name", p.stem)))
