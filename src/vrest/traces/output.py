"""The extraction's outputs: ``NAME.csv``, its marker ``NAME.json`` (the settings) and ``NAME_figures/`` (PNGs).

Each appears whole (a temporary sibling, then a rename). An existing output is replaced
only with ``force``, and only when it is a vrest extraction: the marker says so
(``"generator": "vrest extract"``), a CSV has its marker beside it, and the figure folder
holds only PNG files. Nothing may land on an input (a trace or the epoch table).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from .._atomic import OutputExistsError, jsonable, temporary_prefix, versions, write_text

GENERATOR = "vrest extract"


def extraction_paths(out_csv: str | os.PathLike) -> tuple[Path, Path, Path]:
    """(table, marker, figure folder) of ``out_csv``: NAME.csv, NAME.json, NAME_figures/."""
    out = Path(out_csv)
    return out, out.with_suffix(".json"), out.with_name(f"{out.stem}_figures")


def _is_ours(marker: Path) -> bool:
    try:
        return json.loads(marker.read_text()).get("generator") == GENERATOR
    except (OSError, ValueError, AttributeError):
        return False


def check_target(out_csv: str | os.PathLike, force: bool, inputs: tuple[str, ...] = ()) -> tuple[Path, Path, Path]:
    """The outputs' paths, checked before any work (OutputExistsError or ValueError, one line)."""
    table, marker, figures = extraction_paths(out_csv)
    if table.suffix.lower() != ".csv":
        raise ValueError(f"--out: expected a file name ending in .csv, got {table}")
    for path in (table, marker, figures):
        for given in inputs:
            if Path(given).resolve() == path.resolve():
                raise ValueError(f"--out: {path} is the input {given}; choose another name")
    existing = [p for p in (table, marker, figures) if p.exists() or p.is_symlink()]
    if not existing:
        return table, marker, figures
    if not force:
        raise OutputExistsError(f"--out: {existing[0]} exists; use --force to replace it")
    if table.is_dir() or marker.is_dir():
        raise OutputExistsError(f"--out: {table if table.is_dir() else marker} is a folder; refusing to replace it")
    ours = marker.is_file() and _is_ours(marker)
    foreign_figures = figures.exists() and not (figures.is_dir() and all(
        p.is_file() and p.suffix == ".png" for p in figures.iterdir()))  # fmt: skip
    if not ours or foreign_figures:
        raise OutputExistsError(f"--out: {existing[0]} is not part of a vrest extraction (no {marker.name} written "
                                "by vrest extract, or other files in the figure folder); refusing to replace it, "
                                "even with --force")  # fmt: skip
    return table, marker, figures


def write_extraction(table: pd.DataFrame, figures: Mapping[str, bytes], out_csv: str | os.PathLike, force: bool,
                     settings: Mapping) -> Path:  # fmt: skip
    """Write the table, its marker (the settings) and the figures beside it; returns the CSV's path.

    The marker is written first (so an interrupted run can be replaced with ``force``), then
    the figure folder (built in a temporary sibling, swapped in), then the CSV last.
    """
    inputs = tuple(f["file"] for f in settings.get("files", ())) + ((settings["epochs"],) if settings.get("epochs") else ())
    csv_path, marker, fig_dir = check_target(out_csv, force, inputs)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    info = {**settings, "generator": GENERATOR, "table": csv_path.name,
            "figures": f"{fig_dir.name}/" if figures else None, "figure_files": sorted(figures), "versions": versions()}  # fmt: skip
    write_text(marker, json.dumps(jsonable(info), indent=1, allow_nan=False) + "\n")
    tmp = Path(tempfile.mkdtemp(prefix=temporary_prefix(fig_dir), dir=fig_dir.parent))
    try:
        for name, png in figures.items():
            (tmp / name).write_bytes(png)
        tmp.chmod(0o777 & ~_umask())
        if fig_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=temporary_prefix(fig_dir, "old"), dir=fig_dir.parent))
            os.replace(fig_dir, old / "x")
            shutil.rmtree(old)
        if figures:
            os.replace(tmp, fig_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_text(csv_path, table.to_csv(index=False, lineterminator="\n", float_format="%.8g"))
    return csv_path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
