"""Named solution recipes (``presets.toml``) with their sources."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType

from .library import _data
from .recipe import Solution, make_solution, read_solution_file


@dataclass(frozen=True)
class SolutionPreset:
    """A named recipe (mM) with its title, sources and notes."""

    name: str
    title: str
    recipe: MappingProxyType
    sources: tuple[str, ...]
    notes: str = ""

    def solution(self) -> Solution:
        """The recipe as ion concentrations."""
        return make_solution(self.recipe, self.name)


@cache
def solution_presets() -> dict[str, SolutionPreset]:
    """Every solution preset by name."""
    return {
        name: SolutionPreset(
            name, p["title"], MappingProxyType(dict(p["recipe"])), tuple(p["sources"]), p.get("notes", "")
        )
        for name, p in _data("presets.toml").items()
    }


def get_solution_preset(name: str) -> SolutionPreset:
    """The preset called ``name`` (hyphens or underscores, any case), or ValueError listing them."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    if key not in solution_presets():
        raise ValueError(f"solution: expected one of {', '.join(solution_presets())}, got {name!r}")
    return solution_presets()[key]


def load_solution(spec: str) -> Solution:
    """A named solution preset (``vrest solutions``) or a TOML file holding one solution."""
    key = spec.strip().lower().replace("-", "_").replace(" ", "_")
    if key in solution_presets():
        return get_solution_preset(key).solution()
    if spec.endswith(".toml") or Path(spec).is_file():
        return read_solution_file(spec)
    raise ValueError(f"expected a solution preset ({', '.join(solution_presets())}) or a TOML file, got {spec!r}")


def as_solution(value: Solution | Mapping[str, object] | str, name: str = "") -> Solution:
    """A Solution from a Solution, a recipe mapping or a preset name / TOML path."""
    if isinstance(value, Solution):
        return value
    if isinstance(value, str):
        return load_solution(value)
    return make_solution(value, name)
