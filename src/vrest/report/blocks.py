"""The report as a list of blocks, rendered to both HTML and Markdown by :mod:`vrest.report.render`."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    frame: pd.DataFrame
    caption: str = ""


@dataclass(frozen=True)
class Fig:
    name: str  # key of the figure (file stem in report_figures/)
    caption: str


@dataclass(frozen=True)
class Verdict:
    colour: str  # green, amber or red
    text: str


Block = Heading | Para | Bullets | Table | Fig | Verdict
