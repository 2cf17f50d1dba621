"""Command line: ``vrest nernst | predict | steady-states | bistable-range | fit | compare | sensitivity | report | run | presets | cache``.

Every error is one line on stderr naming the flag and what was expected, with
exit code 2 (bad input) or 1 (a computation that could not be completed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Sequence

import numpy as np

from . import __version__
from .api import gradient, nernst, nernst_gradient_mv, predict, steady_states
from .batch.cli import add_parser as add_batch_parser
from .bistability import bistable_range
from .constants import ZERO_CELSIUS_K
from .inference.cli import add_parsers as add_fit_parsers
from .machine import solver_threads
from .models import MODELS, get_model
from .models.solver import SolverError
from .parameters import PARAMS
from .presets import DEFAULT_PRESET, PRESETS, get_preset
from .report.cli import add_parser as add_report_parser
from .sensitivity import cli as sensitivity_cli
from .study import add_parser as add_run_parser

IONS = {"K": ("k", 1), "Na": ("na", 1), "Cl": ("cl", -1), "Ca": ("ca", 2)}


class UsageError(Exception):
    """Bad command-line input (exit code 2)."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}")


def _flag_help(name: str) -> str:
    p = PARAMS[name]
    if name == "temp_k":
        return "temperature, degrees C (default: from --preset)"
    owners = sorted({f"{m.name}={m.defaults[name]:g}" for m in MODELS.values() if name in m.defaults})
    default = "; ".join(owners) if owners else ("from --preset" if name in get_preset(DEFAULT_PRESET).values() else "see model")
    unit = "dimensionless" if p.unit == "1" else p.unit
    return f"{p.doc}, {unit} (default: {default})"


def _add_inputs(parser: argparse.ArgumentParser, names: Sequence[str]) -> None:
    group = parser.add_argument_group("model inputs (units in brackets)")
    for name in names:
        kw = {"nargs": "+"} if name == "k_o" else {}
        group.add_argument(PARAMS[name].flag, dest=name, type=float, metavar="X", help=_flag_help(name), **kw)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset",
        default=DEFAULT_PRESET,
        help=f"preparation for concentrations and temperature: {', '.join(PRESETS)} (default: {DEFAULT_PRESET}); "
        "see `vrest presets`",
    )
    parser.add_argument("--json", action="store_true", help="print JSON (names carry units) instead of a table")


MODEL_INPUTS = sorted({n for m in MODELS.values() for n in (*m.inputs, *m.zero_only)}, key=list(PARAMS).index)


def build_parser() -> Parser:
    """The ``vrest`` argument parser."""
    parser = Parser(prog="vrest", description="Resting-potential models, Bayesian fits of recordings, sensitivity analysis and uncertainty reports.")
    parser.add_argument("--version", action="version", version=f"vrest {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    p = sub.add_parser("nernst", help="Nernst potentials of K+, Na+, Cl-, Ca2+ (or any ion)")
    p.add_argument("--ion", choices=list(IONS), action="append", help="ion(s) to report (default: all four)")
    p.add_argument("--c-out", type=float, metavar="X", help="any ion: outside concentration, mM (with --c-in, --z)")
    p.add_argument("--c-in", type=float, metavar="X", help="any ion: inside concentration, mM")
    p.add_argument("--z", type=int, help="any ion: valence (non-zero integer)")
    _add_inputs(p, ["k_o", "k_i", "na_o", "na_i", "cl_o", "cl_i", "ca_o", "ca_i", "temp_k"])
    _add_common(p)

    models = ", ".join(MODELS)
    for name, helptext in (
        ("predict", "resting potential V (mV) of a model at one or more K_o"),
        ("steady-states", "every steady state (zero of the net current) with its stability"),
        ("bistable-range", "K_o range(s) with two stable steady states (saddle-node bounds)"),
    ):
        p = sub.add_parser(name, help=helptext, description=helptext)
        p.add_argument("--model", required=True, help=f"one of: {models}")
        if name == "predict":
            p.add_argument("--gradient", action="store_true", help="also print dV/dx for every named input")
        if name != "predict":
            p.add_argument("--v-min", type=float, default=-200.0, help="lowest voltage searched, mV (default -200)")
            p.add_argument("--v-max", type=float, default=100.0, help="highest voltage searched, mV (default 100)")
        if name == "bistable-range":
            p.add_argument("--k-o-min", type=float, default=0.5, help="lowest K_o scanned, mM (default 0.5)")
            p.add_argument("--k-o-max", type=float, default=20.0, help="highest K_o scanned, mM (default 20)")
        if name != "predict":
            p.add_argument(
                "--branch", choices=["hyperpolarized", "depolarized"], default="hyperpolarized", help=argparse.SUPPRESS
            )
        else:
            p.add_argument(
                "--branch",
                choices=["hyperpolarized", "depolarized"],
                default="hyperpolarized",
                help="which stable state to report where there are several (default: hyperpolarized)",
            )
        _add_inputs(p, [n for n in MODEL_INPUTS if not (name == "bistable-range" and n == "k_o")])
        _add_common(p)

    add_fit_parsers(sub)
    add_batch_parser(sub)
    sensitivity_cli.add_parser(sub)
    add_report_parser(sub)
    add_run_parser(sub)

    p = sub.add_parser("presets", help="list the preparation presets with their sources")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("cache", help="where compiled models are cached and how much space they take")
    p.add_argument("--clear", action="store_true", help="delete every cached compiled model (always safe)")
    return parser


def _inputs(args: argparse.Namespace, names: Sequence[str]) -> dict:
    """The model inputs given on the command line (temperature converted to K)."""
    given = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    if "temp_k" in given:
        if not np.isfinite(given["temp_k"]) or given["temp_k"] <= -ZERO_CELSIUS_K:
            raise UsageError(f"--temp-c: expected a temperature above -273.15 C, got {given['temp_k']:g}")
        given["temp_k"] = given["temp_k"] + ZERO_CELSIUS_K
    if "k_o" in given:
        given["k_o"] = np.asarray(given["k_o"], dtype=float)
    return given


def _k_o_column(args: argparse.Namespace, given: dict) -> np.ndarray:
    return np.atleast_1d(given.get("k_o", get_preset(args.preset).values()["k_o"]))


def _fmt(x: float) -> str:
    return f"{x:.4f}" if 1e-2 <= abs(x) < 1e5 or x == 0 else f"{x:.6g}"


def _table(rows: list[dict]) -> str:
    cols = list(rows[0])
    cells = [[c for c in cols]] + [[_fmt(r[c]) if isinstance(r[c], float) else str(r[c]) for c in cols] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    return "\n".join("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in cells)


def _emit(args: argparse.Namespace, rows: list[dict], header: str = "") -> None:
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        if header:
            print(header)
        print(_table(rows))


def _unit_suffix(name: str) -> str:
    unit = PARAMS[name].unit
    return "per_1" if unit == "1" else "per_" + unit.replace("/", "_per_")


def cmd_predict(args: argparse.Namespace) -> None:
    m = get_model(args.model)
    given = _inputs(args, (*m.inputs, *m.zero_only))
    v = np.atleast_1d(predict(m.name, preset=args.preset, branch=args.branch, **given))
    k_o = np.broadcast_to(_k_o_column(args, given), v.shape)
    rows = [{"K_o_mM": float(k), "V_mV": float(x)} for k, x in zip(k_o, v, strict=True)]
    if args.gradient:
        grad = gradient(m.name, preset=args.preset, branch=args.branch, **given)
        for i, row in enumerate(rows):
            for name, g in grad.items():
                row[f"dV_d{name}_mV_{_unit_suffix(name)}"] = float(np.broadcast_to(g, v.shape)[i])
    _emit(args, rows, f"# {m.title}; preset {get_preset(args.preset).name}")


def cmd_steady_states(args: argparse.Namespace) -> None:
    m = get_model(args.model)
    given = _inputs(args, (*m.inputs, *m.zero_only))
    ss = steady_states(m.name, preset=args.preset, v_min=args.v_min, v_max=args.v_max, **given)
    k_o = np.broadcast_to(_k_o_column(args, given), ss.count.shape if ss.count.ndim else (1,))
    v_all, stable_all = np.atleast_2d(ss.v_mv), np.atleast_2d(ss.stable)
    records = [
        {
            "K_o_mM": float(k),
            "states": [
                {"V_mV": float(v), "stable": bool(s)} for v, s in zip(vs, st, strict=True) if np.isfinite(v)
            ],
        }
        for k, vs, st in zip(k_o, v_all, stable_all, strict=True)
    ]
    if args.json:
        print(json.dumps(records, indent=1))
        return
    print(f"# {m.title}; zeros of I(V) on {args.v_min:g}..{args.v_max:g} mV; stable where dI/dV > 0")
    rows = [
        {
            "K_o_mM": r["K_o_mM"],
            "n_states": len(r["states"]),
            "states_mV": "  ".join(f"{s['V_mV']:.3f}({'stable' if s['stable'] else 'unstable'})" for s in r["states"])
            or "none in range",
        }
        for r in records
    ]
    print(_table(rows))


def cmd_bistable_range(args: argparse.Namespace) -> None:
    m = get_model(args.model)
    given = _inputs(args, [n for n in (*m.inputs, *m.zero_only) if n != "k_o"])
    ranges = bistable_range(
        m.name, args.k_o_min, args.k_o_max, preset=args.preset, v_min=args.v_min, v_max=args.v_max, **given
    )
    rows = [{"K_o_low_mM": lo, "K_o_high_mM": hi} for lo, hi in ranges]
    if args.json:
        print(json.dumps(rows, indent=1))
    elif rows:
        print(f"# {m.title}: two stable states for K_o in")
        print(_table(rows))
    else:
        print(f"# {m.title}: no bistable K_o range in {args.k_o_min:g}..{args.k_o_max:g} mM")


def cmd_nernst(args: argparse.Namespace) -> None:
    rows = []
    if args.c_out is not None or args.c_in is not None or args.z is not None:
        if args.c_out is None or args.c_in is None or args.z is None:
            raise UsageError("vrest nernst: --c-out, --c-in and --z go together")
        temp_k = _inputs(args, ["temp_k"]).get("temp_k", get_preset(args.preset).values()["temp_k"])
        e = float(nernst(args.c_out, args.c_in, args.z, temp_k))
        d = nernst_gradient_mv(args.c_out, args.c_in, args.z, temp_k)
        rows.append(
            {"ion": f"z={args.z}", "c_out_mM": args.c_out, "c_in_mM": args.c_in, "E_mV": e,
             "dE_dc_out_mV_per_mM": float(d["c_out"])}  # fmt: skip
        )
    else:
        values = {**get_preset(args.preset).values(), **_inputs(args, ["k_o", "k_i", "na_o", "na_i", "cl_o", "cl_i", "ca_o", "ca_i", "temp_k"])}
        for ion in args.ion or list(IONS):
            key, z = IONS[ion]
            for c_out in np.atleast_1d(values[f"{key}_o"]):
                c_in = float(values[f"{key}_i"])
                e = float(nernst(c_out, c_in, z, values["temp_k"]))
                d = nernst_gradient_mv(c_out, c_in, z, values["temp_k"])
                rows.append(
                    {"ion": ion, "c_out_mM": float(c_out), "c_in_mM": c_in, "E_mV": e,
                     "dE_dc_out_mV_per_mM": float(d["c_out"])}  # fmt: skip
                )
    _emit(args, rows, f"# Nernst potentials; preset {get_preset(args.preset).name}")


def cmd_cache(args: argparse.Namespace) -> None:
    from . import cache as disk_cache

    root = disk_cache.cache_root()
    if root is None:
        raise ValueError("the compiled-model cache folder cannot be written (set VREST_CACHE_DIR to a writable folder)")
    if args.clear:
        print(f"deleted {disk_cache.clear()} compiled model(s) from {root}")
        return
    count, size = disk_cache.usage()
    print(f"compiled models: {root} ({count} model(s), {size / 1e6:.1f} MB; VREST_CACHE_DIR sets the folder)")


def cmd_presets(args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps([{"name": p.name, "title": p.title, **p.concentrations, "temp_C": p.temp_c,
                           "sources": list(p.sources), "notes": p.notes} for p in PRESETS.values()], indent=1))  # fmt: skip
        return
    for p in PRESETS.values():
        conc = ", ".join(f"{k} {v:g}" for k, v in p.concentrations.items())
        print(f"{p.name}: {p.title}; {conc} mM; {p.temp_c:g} C")
        for s in p.sources:
            print(f"    source: {s}")
        if p.notes:
            print(f"    note: {p.notes}")


COMMANDS = {
    "nernst": cmd_nernst,
    "predict": cmd_predict,
    "steady-states": cmd_steady_states,
    "bistable-range": cmd_bistable_range,
    "presets": cmd_presets,
    "cache": cmd_cache,
    "sensitivity": sensitivity_cli.run,
}


OPTION_NAMES = ("model", "preset", "branch", "z", "step")


def _flagged(message: str) -> str:
    """Rewrite a leading 'name:' of an API message as the CLI flag (temperatures in C)."""
    head, sep, rest = message.partition(":")
    if sep and head in PARAMS:
        return f"{PARAMS[head].flag}:{rest}"
    if sep and head in OPTION_NAMES:
        return f"--{head.replace('_', '-')}:{rest}"
    return message


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vrest`` command; returns the exit code."""
    warnings.showwarning = lambda msg, *a, **k: print(f"vrest: warning: {_flagged(str(msg))}", file=sys.stderr)
    try:
        args = build_parser().parse_args(argv)
        solver_threads()  # a bad $VREST_THREADS or $OMP_NUM_THREADS is reported before any work
        if args.command in ("fit", "compare"):
            from .inference.cli import dispatch

            return dispatch(args)
        if args.command == "fit-batch":
            from .batch.cli import run as run_batch

            return run_batch(args)
        if args.command == "run":
            from .study import run as run_study

            return run_study(args)
        if args.command == "report":
            from .report.cli import run as run_report

            return run_report(args)
        COMMANDS[args.command](args)
    except UsageError as err:
        print(f"{err}", file=sys.stderr)
        return 2
    except ValueError as err:
        print(f"vrest: error: {_flagged(str(err))}", file=sys.stderr)
        return 2
    except SolverError as err:
        print(f"vrest: could not solve: {err}", file=sys.stderr)
        return 1
    except FileExistsError as err:
        print(f"vrest: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vrest: interrupted; nothing was written", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
    return 0


if __name__ == "__main__":
    sys.exit(main())
