"""The ion and substance library (data files ``ions.toml`` and ``substances.toml``) and name look-up.

Every ion carries its valence ``z`` and its limiting conductivity per equivalent at 25 C
(``lambda_eq``, S cm^2 mol^-1) with the source of the number. Names are matched forgivingly:
case, spaces, hyphens and hydrate suffixes do not matter (``"Na-Gluconate"``, ``"Na gluconate"``,
``"NaGluconate"``, ``"CaCl2.2H2O"``); a trailing charge (``"HEPES-"``, ``"Ca2+"``) names the ion itself.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from math import gcd

from ..constants import F_C_PER_MOL, R_J_PER_MOL_K

K_REFERENCE_LAMBDA = 73.5
"""Limiting conductivity of K+ (S cm^2 mol^-1) that Barry's relative mobilities are scaled by (Barry & Lynch 1991)."""


@dataclass(frozen=True)
class Ion:
    """One dissolved species: valence, limiting conductivity at 25 C (S cm^2 mol^-1 per equivalent) and sources."""

    name: str
    z: int
    lambda_eq: float | None
    source: str
    note: str = ""
    size_angstrom: float | None = None
    aliases: tuple[str, ...] = ()

    @property
    def short(self) -> str:
        """Short name for salt formulas (``"K"``, ``"gluconate"``)."""
        return self.aliases[0] if self.aliases else self.name

    @property
    def mobility(self) -> float:
        """Diffusion coefficient relative to Barry's K+ (D / D_K, with lambda_K = 73.5); 0 for non-electrolytes."""
        return 0.0 if self.z == 0 else self.lambda_eq / (abs(self.z) * K_REFERENCE_LAMBDA)

    def diffusion_cm2_s(self, temp_k: float = 298.15) -> float:
        """Nernst-Einstein diffusion coefficient R T lambda / (|z| F^2), cm^2/s (lambda held at its 25 C value)."""
        if self.z == 0:
            raise ValueError(f"{self.name}: a non-electrolyte has no conductivity")
        return R_J_PER_MOL_K * temp_k * self.lambda_eq / (abs(self.z) * F_C_PER_MOL**2)


@dataclass(frozen=True)
class Buffer:
    """A pH buffer: species from most to least protonated, pKa between neighbours (25 C), the form weighed out."""

    name: str
    species: tuple[str, ...]
    pka: tuple[float, ...]
    weighed: str
    source: str
    aliases: tuple[str, ...] = ()

    def fractions(self, ph: float) -> tuple[float, ...]:
        """Fraction of the buffer in each species at ``ph`` (Henderson-Hasselbalch; sums to 1)."""
        logs = [0.0]
        for pka in self.pka:
            logs.append(logs[-1] + ph - pka)
        top = max(logs)
        weights = [10.0 ** (x - top) for x in logs]
        total = sum(weights)
        return tuple(w / total for w in weights)


@dataclass(frozen=True)
class Titrant:
    """A strong base or acid used to set the pH: the ion it leaves in solution."""

    name: str
    ion: str
    kind: str
    aliases: tuple[str, ...] = ()


def norm(text: str) -> str:
    """Comparison key: lower case, hydrate suffix and separators removed, a trailing charge sign kept."""
    s = re.sub(r"[\s.·\-_]*\d*\s*h2o$", "", text.strip().casefold())
    sign = s[-1] if s[-1:] in "+-" and len(s) > 1 else ""
    core = re.sub(r"[^0-9a-z]", "", s[:-1] if sign else s)
    return core + sign


def _core(key: str, z: int) -> str:
    """A comparison key without its charge: 'so42-' -> 'so4', 'k+' -> 'k'."""
    if key.endswith(("+", "-")):
        key = key[:-1]
        if abs(z) > 1 and key.endswith(str(abs(z))):
            key = key[: -len(str(abs(z)))]
    return key


@cache
def _data(name: str) -> dict:
    return tomllib.loads(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"))


@cache
def ions() -> dict[str, Ion]:
    """Every ion of the library by canonical name (``"K+"``, ``"gluconate-"``, ``"glucose"``)."""
    raw = _data("ions.toml")
    sources = raw["sources"]
    out = {}
    for entry in raw["ion"]:
        z = int(entry["z"])
        if "lambda" in entry:
            lam = float(entry["lambda"])
        elif "u_rel" in entry:
            lam = float(entry["u_rel"]) * K_REFERENCE_LAMBDA * abs(z)
        else:
            lam = None
        size = entry.get("size_angstrom")
        source = sources[entry["source"]] + (f"; ion size: {sources['kielland']}" if size else "")
        out[entry["name"]] = Ion(
            entry["name"], z, lam, source, entry.get("note", ""), size, tuple(entry.get("aliases", ()))
        )
    return out


@cache
def buffers() -> dict[str, Buffer]:
    """The pH buffers a recipe can titrate (HEPES, Tris, EGTA, NMDG)."""
    return {
        name: Buffer(name, tuple(b["species"]), tuple(b["pka"]), b["weighed"], b["source"], tuple(b.get("aliases", ())))
        for name, b in _data("substances.toml")["buffer"].items()
    }


@cache
def titrants() -> dict[str, Titrant]:
    """The strong bases and acids a recipe can be ``titrated_with``."""
    return {
        name: Titrant(name, t["ion"], t["kind"], tuple(t.get("aliases", ())))
        for name, t in _data("substances.toml")["titrant"].items()
    }


@cache
def special_salts() -> dict[str, tuple[dict[str, float], tuple[str, ...]]]:
    """Salts the cation-anion reading cannot take: name -> (ion counts, aliases)."""
    return {
        name: (dict(s["ions"]), tuple(s.get("aliases", ()))) for name, s in _data("substances.toml")["salt"].items()
    }


@cache
def _index() -> dict[str, dict[str, str]]:
    """Comparison key -> canonical name, for ions, buffers, titrants and special salts."""
    idx: dict[str, dict[str, str]] = {"ion": {}, "buffer": {}, "titrant": {}, "salt": {}}
    for name, ion in ions().items():
        for text in (name, *ion.aliases):
            idx["ion"].setdefault(norm(text), name)
    for kind, table in (("buffer", buffers()), ("titrant", titrants())):
        for name, item in table.items():
            for text in (name, *item.aliases):
                idx[kind][norm(text)] = name
    for name, (_, aliases) in special_salts().items():
        for text in (name, *aliases):
            idx["salt"][norm(text)] = name
    return idx


@cache
def _salt_parts() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(cation keys, anion keys) for reading salt names: every name and alias without its charge, longest first."""
    cat, an = [], []
    for name, ion in ions().items():
        if ion.z != 0:
            keys = {_core(norm(text), ion.z) for text in (name, *ion.aliases)}
            (cat if ion.z > 0 else an).extend((k, name) for k in keys if k)
    return sorted(cat, key=lambda t: -len(t[0])), sorted(an, key=lambda t: -len(t[0]))


def _neutral_counts(z_cat: int, z_an: int) -> tuple[int, int]:
    g = gcd(z_cat, -z_an)
    return -z_an // g, z_cat // g


def parse_salt(text: str) -> dict[str, float] | None:
    """Ion counts of a cation-anion salt name, or None if it is not one.

    Cation and anion in either order, each with an optional count: ``"CaCl2"`` -> {Ca2+: 1, Cl-: 2},
    ``"HEPES-Na"`` -> {Na+: 1, HEPES-: 1}. Without any count the neutral formula is taken
    (``"NaGTP"`` -> 3 Na+ + GTP3-); written counts are taken literally.
    """
    key = norm(text)
    if key.endswith(("+", "-")):
        return None
    cations, anions = _salt_parts()
    found = set()
    for first, second, cation_first in ((cations, anions, True), (anions, cations, False)):
        for k1, name1 in first:
            m1 = re.fullmatch(re.escape(k1) + r"(\d*)(.+)", key)
            if not m1:
                continue
            for k2, name2 in second:
                m2 = re.fullmatch(re.escape(k2) + r"(\d*)", m1.group(2))
                if not m2:
                    continue
                (cat, n_cat), (an, n_an) = ((name1, m1.group(1)), (name2, m2.group(1)))[:: 1 if cation_first else -1]
                if n_cat or n_an:
                    counts = (float(n_cat or 1), float(n_an or 1))
                else:
                    counts = tuple(float(n) for n in _neutral_counts(ions()[cat].z, ions()[an].z))
                found.add(((cat, counts[0]), (an, counts[1])))
    if len(found) > 1:
        raise ValueError(
            f"{text}: ambiguous salt name (could be {' or '.join(formula(dict(f)) for f in sorted(found))})"
        )
    return dict(found.pop()) if found else None


def formula(counts: dict[str, float]) -> str:
    """A readable formula of ion counts: {Ca2+: 1, Cl-: 2} -> 'Ca + 2 Cl'."""
    return " + ".join(f"{n:g} {ions()[i].short}" if n != 1 else ions()[i].short for i, n in counts.items())


@cache
def _suggestion_names() -> dict[str, str]:
    """Comparison key -> display name of everything a recipe may name, with common salts spelled out."""
    names = {}
    for table in (ions(), buffers(), titrants(), special_salts()):
        for name in table:
            names[norm(name)] = name
    for ion in ions().values():
        for alias in ion.aliases:
            names.setdefault(norm(alias), alias)
    inorganic = {"Cl", "F", "Br", "I", "NO3", "SCN", "ClO4", "HCO3", "H2PO4", "HPO4", "SO4", "OH"}
    for cat in ions().values():
        for an in ions().values():
            if cat.z > 0 and an.z < 0 and cat.short not in {"H", "Tris"}:
                n_cat, n_an = _neutral_counts(cat.z, an.z)
                c = cat.short + (str(n_cat) if n_cat > 1 else "")
                if an.short in inorganic:
                    a = an.short + (str(n_an) if n_an > 1 else "")
                    display = c + a
                else:
                    display = f"{c}-{an.short}" if n_an == 1 else f"{c}({an.short}){n_an}"
                names.setdefault(norm(display), display)
    return names


def nearest(text: str, n: int = 3) -> list[str]:
    """The known names nearest to ``text`` (for error messages)."""
    names = _suggestion_names()
    return [names[k] for k in difflib.get_close_matches(norm(text), list(names), n=n, cutoff=0.5)]


def unknown(text: str, what: str = "salt, substance or ion") -> ValueError:
    """A ValueError naming ``text`` and the nearest known names."""
    near = nearest(text)
    hint = f"; nearest known: {', '.join(near)}" if near else "; see `vrest solutions --ions`"
    return ValueError(f"{text}: unknown {what}{hint}")


def get_ion(name: str) -> Ion:
    """The ion called ``name`` (canonical name or alias, any case, optional charge), or ValueError with the nearest names."""
    key = norm(name)
    idx = _index()["ion"]
    hit = idx.get(key) or idx.get(key.rstrip("+-"))
    if hit is None:
        raise unknown(name, "ion")
    return ions()[hit]


def lookup(name: str) -> tuple[str, str]:
    """What a recipe key names: (kind, canonical name), kind one of titrant, buffer, salt, ion; None if unknown."""
    key = norm(name)
    idx = _index()
    for kind in ("titrant", "buffer", "salt", "ion"):
        if key in idx[kind]:
            return kind, idx[kind][key]
    if key.endswith(("+", "-")) and key.rstrip("+-") in idx["ion"]:
        return "ion", idx["ion"][key.rstrip("+-")]
    return "", ""
