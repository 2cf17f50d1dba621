"""The model commands: ``vrest nernst | predict | steady-states | bistable-range | presets | cache``."""

from __future__ import annotations

import argparse
import json

import numpy as np

from ..api import gradient, nernst, nernst_gradient_mv, predict, steady_states
from ..bistability import bistable_range
from ..models import MODELS, get_model
from ..models.solver import BRANCHES
from ..parameters import PARAMS
from ..presets import PRESETS, get_preset
from .common import MODEL_INPUTS, UsageError, add_common, add_inputs, emit, inputs, table

IONS = {"K": ("k", 1), "Na": ("na", 1), "Cl": ("cl", -1), "Ca": ("ca", 2)}


def _k_o_column(args: argparse.Namespace, given: dict) -> np.ndarray:
    return np.atleast_1d(given.get("k_o", get_preset(args.preset).values()["k_o"]))


def _unit_suffix(name: str) -> str:
    unit = PARAMS[name].unit
    return "per_1" if unit == "1" else "per_" + unit.replace("/", "_per_")


def run_predict(args: argparse.Namespace) -> None:
    m = get_model(args.model)
    given = inputs(args, (*m.inputs, *m.zero_only))
    v = np.atleast_1d(predict(m.name, preset=args.preset, branch=args.branch, **given))
    k_o = np.broadcast_to(_k_o_column(args, given), v.shape)
    rows = [{"K_o_mM": float(k), "V_mV": float(x)} for k, x in zip(k_o, v, strict=True)]
    if args.gradient:
        grad = gradient(m.name, preset=args.preset, branch=args.branch, **given)
        for i, row in enumerate(rows):
            for name, g in grad.items():
                row[f"dV_d{name}_mV_{_unit_suffix(name)}"] = float(np.broadcast_to(g, v.shape)[i])
    emit(args, rows, f"# {m.title}; preset {get_preset(args.preset).name}")


def run_steady_states(args: argparse.Namespace) -> None:
    m = get_model(args.model)
    given = inputs(args, (*m.inputs, *m.zero_only))
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
    print(table(rows))


def run_bistable_range(args: argparse.Namespace) -> None:
    m = get_model(args.model)
    given = inputs(args, [n for n in (*m.inputs, *m.zero_only) if n != "k_o"])
    ranges = bistable_range(
        m.name, args.k_o_min, args.k_o_max, preset=args.preset, v_min=args.v_min, v_max=args.v_max, **given
    )
    rows = [{"K_o_low_mM": lo, "K_o_high_mM": hi} for lo, hi in ranges]
    if args.json:
        print(json.dumps(rows, indent=1))
    elif rows:
        print(f"# {m.title}: two stable states for K_o in")
        print(table(rows))
    else:
        print(f"# {m.title}: no bistable K_o range in {args.k_o_min:g}..{args.k_o_max:g} mM")


def run_nernst(args: argparse.Namespace) -> None:
    rows = []
    if args.c_out is not None or args.c_in is not None or args.z is not None:
        if args.c_out is None or args.c_in is None or args.z is None:
            raise UsageError("vrest nernst: --c-out, --c-in and --z go together")
        temp_k = inputs(args, ["temp_k"]).get("temp_k", get_preset(args.preset).values()["temp_k"])
        e = float(nernst(args.c_out, args.c_in, args.z, temp_k))
        d = nernst_gradient_mv(args.c_out, args.c_in, args.z, temp_k)
        rows.append(
            {"ion": f"z={args.z}", "c_out_mM": args.c_out, "c_in_mM": args.c_in, "E_mV": e,
             "dE_dc_out_mV_per_mM": float(d["c_out"])}  # fmt: skip
        )
    else:
        values = {**get_preset(args.preset).values(), **inputs(args, ["k_o", "k_i", "na_o", "na_i", "cl_o", "cl_i", "ca_o", "ca_i", "temp_k"])}
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
    emit(args, rows, f"# Nernst potentials; preset {get_preset(args.preset).name}")


def run_cache(args: argparse.Namespace) -> None:
    from .. import cache as disk_cache

    if disk_cache.env_flag("VREST_NO_CACHE"):
        print("compiled-model cache switched off (VREST_NO_CACHE); nothing is read or written")
        return
    root = disk_cache.cache_root()
    if root is None:
        raise ValueError("the compiled-model cache folder cannot be written (set VREST_CACHE_DIR to a writable folder)")
    if args.clear:
        print(f"deleted {disk_cache.clear()} compiled model(s) from {root}")
        return
    count, size = disk_cache.usage()
    print(f"compiled models: {root} ({count} model(s), {size / 1e6:.1f} MB; VREST_CACHE_DIR sets the folder)")


def run_presets(args: argparse.Namespace) -> None:
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


def add_nernst(sub) -> None:
    """``vrest nernst``."""
    p = sub.add_parser("nernst", help="Nernst potentials of K+, Na+, Cl-, Ca2+ (or any ion)")
    p.add_argument("--ion", choices=list(IONS), action="append", help="ion(s) to report (default: all four)")
    p.add_argument("--c-out", type=float, metavar="X", help="any ion: outside concentration, mM (with --c-in, --z)")
    p.add_argument("--c-in", type=float, metavar="X", help="any ion: inside concentration, mM")
    p.add_argument("--z", type=int, help="any ion: valence (non-zero integer)")
    add_inputs(p, ["k_o", "k_i", "na_o", "na_i", "cl_o", "cl_i", "ca_o", "ca_i", "temp_k"])
    add_common(p)


def _model_command(sub, name: str, text: str) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=text, description=text)
    p.add_argument("--model", required=True, help=f"(required) one of: {', '.join(MODELS)}")
    return p


def add_predict(sub) -> None:
    """``vrest predict``."""
    p = _model_command(sub, "predict", "resting potential V (mV) of a model at one or more K_o")
    p.add_argument("--gradient", action="store_true", help="also print dV/dx for every named input")
    p.add_argument("--branch", choices=BRANCHES, default="hyperpolarized",
                   help="which stable state to report where there are several (default: hyperpolarized)")  # fmt: skip
    add_inputs(p, MODEL_INPUTS)
    add_common(p)


def _add_voltage_range(p: argparse.ArgumentParser) -> None:
    p.add_argument("--v-min", type=float, default=-200.0, help="lowest voltage searched, mV (default -200)")
    p.add_argument("--v-max", type=float, default=100.0, help="highest voltage searched, mV (default 100)")
    p.add_argument("--branch", choices=BRANCHES, default="hyperpolarized", help=argparse.SUPPRESS)


def add_steady_states(sub) -> None:
    """``vrest steady-states``."""
    p = _model_command(sub, "steady-states", "every steady state (zero of the net current) with its stability")
    _add_voltage_range(p)
    add_inputs(p, MODEL_INPUTS)
    add_common(p)


def add_bistable_range(sub) -> None:
    """``vrest bistable-range``."""
    p = _model_command(sub, "bistable-range", "K_o range(s) with two stable steady states (saddle-node bounds)")
    _add_voltage_range(p)
    p.add_argument("--k-o-min", type=float, default=0.5, help="lowest K_o scanned, mM (default 0.5)")
    p.add_argument("--k-o-max", type=float, default=20.0, help="highest K_o scanned, mM (default 20)")
    add_inputs(p, [n for n in MODEL_INPUTS if n != "k_o"])
    add_common(p)


def add_presets(sub) -> None:
    """``vrest presets``."""
    p = sub.add_parser("presets", help="list the preparation presets with their sources")
    p.add_argument("--json", action="store_true", help="print JSON")


def add_cache(sub) -> None:
    """``vrest cache``."""
    p = sub.add_parser("cache", help="where compiled models are cached and how much space they take")
    p.add_argument("--clear", action="store_true", help="delete every cached compiled model (always safe)")


COMMANDS = {
    "nernst": (add_nernst, run_nernst),
    "predict": (add_predict, run_predict),
    "steady-states": (add_steady_states, run_steady_states),
    "bistable-range": (add_bistable_range, run_bistable_range),
    "presets": (add_presets, run_presets),
    "cache": (add_cache, run_cache),
}
