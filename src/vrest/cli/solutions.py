"""The solution commands: ``vrest ljp`` (liquid-junction potential) and ``vrest solutions`` (recipes, ion tables)."""

from __future__ import annotations

import argparse
import json

from ..study import kelvin
from .common import table

CONVENTION = "potential of the bath with respect to the pipette solution (the JPCalc and LJPcalc convention)"
CORRECTION = "V_m = V_recorded - LJP"


def _solution(spec: str, flag: str):
    from ..solutions import load_solution

    try:
        solution = load_solution(spec)
    except ValueError as err:
        raise ValueError(f"{flag}: {err}") from None
    message = solution.neutrality_message()
    if message:
        raise ValueError(f"{flag}: {solution.name}: {message}")
    return solution


def run_ljp(args: argparse.Namespace) -> None:
    from ..solutions import henderson_ljp_mv, nernst_planck_ljp_mv

    temp_k = kelvin(args.temp_c, "--temp-c")
    pipette, bath = _solution(args.pipette, "--pipette"), _solution(args.bath, "--bath")
    np_mv = nernst_planck_ljp_mv(pipette, bath, temp_k, activity=args.activity)
    h_mv = henderson_ljp_mv(pipette, bath, temp_k, activity=args.activity)
    if args.json:
        print(json.dumps({"pipette": pipette.name, "bath": bath.name, "temp_C": args.temp_c, "activity": args.activity,
                          "ljp_mv": np_mv, "henderson_mv": h_mv, "method": "stationary Nernst-Planck",
                          "convention": CONVENTION, "correction": CORRECTION}, indent=1))  # fmt: skip
        return
    mode = "Davies activities" if args.activity else "concentrations (no activity correction)"
    print(f"# liquid-junction potential: pipette {pipette.name} | bath {bath.name}, {args.temp_c:g} C, {mode}")
    print(f"LJP (stationary Nernst-Planck): {np_mv:+.2f} mV")
    print(f"LJP (Henderson):                {h_mv:+.2f} mV")
    print(f"sign: {CONVENTION}")
    print(f"correction: {CORRECTION} (e.g. -60.00 mV recorded -> {-60.0 - np_mv:.2f} mV)")


def run_solutions(args: argparse.Namespace) -> None:
    from ..solutions import ions, solution_presets

    if args.ions:
        rows = [{"ion": i.name, "z": i.z, "lambda_S_cm2_per_mol": i.lambda_eq if i.z else 0.0, "source": i.source}
                for i in ions().values()]  # fmt: skip
        if args.json:
            print(json.dumps(rows, indent=1))
        else:
            print("# limiting conductivity per equivalent at 25 C, S cm^2/mol")
            print(table([{k: v for k, v in r.items() if k != "source"} for r in rows]))
        return
    if not args.solution:
        presets = solution_presets().values()
        if args.json:
            print(json.dumps([{"name": p.name, "title": p.title, "recipe_mM": dict(p.recipe), "sources": list(p.sources),
                               "notes": p.notes} for p in presets], indent=1))  # fmt: skip
            return
        for p in presets:
            print(f"{p.name}: {p.title}; " + ", ".join(f"{k} {v:g}" if not isinstance(v, str) else f"{k} {v}"
                                                       for k, v in p.recipe.items()))  # fmt: skip
            for s in p.sources:
                print(f"    source: {s}")
            if p.notes:
                print(f"    note: {p.notes}")
        return
    out = []
    for spec in args.solution:
        from ..solutions import load_solution

        try:
            s = load_solution(spec)
        except ValueError as err:
            raise ValueError(f"solution {spec}: {err}") from None
        summary = {"name": s.name, "ions": s.table(), "charge_mM": s.charge_mm, "ionic_strength_mM": s.ionic_strength_mm,
                   "osmolarity_mOsm": s.osmolarity_mosm(), "titrant_mM": s.titrant_mm}  # fmt: skip
        out.append(summary)
        if not args.json:
            print(
                f"# {s.name}: ions in mM"
                + (f" (pH {s.ph:g} with {s.titrated_with}: {s.titrant_mm:.3g} mM)" if s.ph else "")
            )
            print(table(s.table()))
            print(f"net charge {s.charge_mm:+.3g} mEq/L; ionic strength {s.ionic_strength_mm:.4g} mM; "
                  f"osmolarity {s.osmolarity_mosm():.4g} mOsm/L (ideal)")  # fmt: skip
            message = s.neutrality_message()
            if message:
                print(f"warning: {message}")
    if args.json:
        print(json.dumps(out, indent=1))


def add_ljp(sub) -> None:
    """``vrest ljp``."""
    text = (
        "liquid-junction potential of a pipette solution against the bath, mV (stationary Nernst-Planck and Henderson)"
    )
    p = sub.add_parser("ljp", help=text, description=f"{text}. Sign: {CONVENTION}; correct as {CORRECTION}.")
    spec = "a solution preset (see `vrest solutions`) or a TOML file of salts or ions in mM as top-level keys"
    p.add_argument("--pipette", required=True, metavar="P", help=f"(required) pipette solution: {spec}")
    p.add_argument("--bath", required=True, metavar="B", help=f"(required) bath solution: {spec}")
    p.add_argument("--temp-c", type=float, default=25.0, metavar="T", help="temperature, degrees C (default 25)")
    p.add_argument("--activity", action="store_true",
                   help="use Davies activity coefficients (default: concentrations, as JPCalc and LJPcalc)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print JSON with ljp_mv and henderson_mv")


def add_solutions(sub) -> None:
    """``vrest solutions``."""
    p = sub.add_parser("solutions", help="solution presets with sources, or the ion table of solutions",
                       description="Without arguments: the solution presets and their sources. With presets or TOML "
                       "files: their ions (mM), charge balance, ionic strength and osmolarity.")  # fmt: skip
    p.add_argument("solution", nargs="*", help="solution presets or TOML files to show as ions")
    p.add_argument("--ions", action="store_true", help="list the ion library (valence, limiting conductivity, source)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")


COMMANDS = {
    "ljp": (add_ljp, run_ljp),
    "solutions": (add_solutions, run_solutions),
}
