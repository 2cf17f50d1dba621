"""What every command shares: one-line errors, the model-input flags, tables and JSON on stdout."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

import numpy as np

from ..models import MODELS
from ..parameters import PARAMS
from ..presets import DEFAULT_PRESET, PRESETS, get_preset
from ..study import kelvin


class UsageError(Exception):
    """Bad command-line input (exit code 2)."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}")


OPTION_FLAGS = {name: f"--{name.replace('_', '-')}" for name in (
    "model", "preset", "branch", "z", "step", "n", "seed", "resamples", "conf_level", "tolerance", "engine",
    "scenario", "k_o_grid", "out", "posterior", "chains", "draws", "tune", "workers", "columns", "g_tot_ns",
    "hierarchical", "likelihood", "uncertain", "no_pump", "target_accept", "temp_c", "k_o_reference")}  # fmt: skip
"""Leading names of API error messages that stand for a command-line option."""


def flagged(message: str) -> str:
    """Rewrite a leading 'name:' of an API message as the CLI flag (temperatures in C)."""
    head, sep, rest = message.partition(":")
    if sep and head in PARAMS:
        return f"{PARAMS[head].flag}:{rest}"
    if sep and head in OPTION_FLAGS:
        return f"{OPTION_FLAGS[head]}:{rest}"
    return message


def flag_help(name: str) -> str:
    """Help text of a model-input flag: what it is, its unit and its default."""
    p = PARAMS[name]
    if name == "temp_k":
        return "temperature, degrees C (default: from --preset)"
    owners = sorted({f"{m.name}={m.defaults[name]:g}" for m in MODELS.values() if name in m.defaults})
    default = "; ".join(owners) if owners else ("from --preset" if name in get_preset(DEFAULT_PRESET).values() else "see model")
    unit = "dimensionless" if p.unit == "1" else p.unit
    return f"{p.doc}, {unit} (default: {default})"


def temp_dest(name: str) -> str:
    """argparse destination of an input flag: ``temp_c`` for the temperature (given in degrees C), else the name."""
    return "temp_c" if name == "temp_k" else name


def add_inputs(parser: argparse.ArgumentParser, names: Sequence[str]) -> None:
    """One flag per model input (``--temp-c`` in degrees C)."""
    group = parser.add_argument_group("model inputs (units in brackets)")
    for name in names:
        kw = {"nargs": "+"} if name == "k_o" else {}
        group.add_argument(PARAMS[name].flag, dest=temp_dest(name), type=float, metavar="X", help=flag_help(name), **kw)


def add_common(parser: argparse.ArgumentParser) -> None:
    """--preset and --json."""
    parser.add_argument(
        "--preset",
        default=DEFAULT_PRESET,
        help=f"preparation for concentrations and temperature: {', '.join(PRESETS)} (default: {DEFAULT_PRESET}); "
        "see `vrest presets`",
    )
    parser.add_argument("--json", action="store_true", help="print JSON (names carry units) instead of a table")


MODEL_INPUTS = sorted({n for m in MODELS.values() for n in (*m.inputs, *m.zero_only)}, key=list(PARAMS).index)


def inputs(args: argparse.Namespace, names: Sequence[str]) -> dict:
    """The model inputs given on the command line (temperature converted to K)."""
    given = {n: getattr(args, temp_dest(n)) for n in names if getattr(args, temp_dest(n), None) is not None}
    if "temp_k" in given:
        given["temp_k"] = kelvin(given["temp_k"], "--temp-c")
    if "k_o" in given:
        given["k_o"] = np.asarray(given["k_o"], dtype=float)
    return given


def fmt(x: float) -> str:
    """A number for a table: 4 decimals in the usual range, else 6 significant digits."""
    return f"{x:.4f}" if 1e-2 <= abs(x) < 1e5 or x == 0 else f"{x:.6g}"


def table(rows: list[dict]) -> str:
    """Right-aligned plain-text table of ``rows`` (dicts with the same keys)."""
    cols = list(rows[0])
    cells = [[c for c in cols]] + [[fmt(r[c]) if isinstance(r[c], float) else str(r[c]) for c in cols] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    return "\n".join("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in cells)


def emit(args: argparse.Namespace, rows: list[dict], header: str = "") -> None:
    """``rows`` as JSON (with --json) or as a table under ``header``."""
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        if header:
            print(header)
        print(table(rows))
