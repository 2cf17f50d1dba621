"""Benchmark: vectorised evaluation of every vrest model on 10^6 points.

Run from the project root:  python analyses/benchmarks/bench_models.py [--n 1000000] [--write]

Each model is timed through the public API (`vrest.predict`, input validation
included) and through its model function alone (validated inputs, no checks),
side by side with a plain NumPy expression of the GHK voltage equation on the
same inputs, in the same run. Best of --repeat runs. --write puts the GHK model function
against plain NumPy into analyses/benchmarks/RESULTS.md and the full table into history/
(see results.py).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from results import Row, best_time, publish

import vrest
from vrest.api import solve_root

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests"))
from conftest import random_inputs

TARGETS = {
    "ghk": ("model throughput >= 50% of plain NumPy GHK", lambda r, ref: r >= 0.5 * ref),
    "rectifying-ghk (pump)": ("API >= 5,000,000 solutions/s", lambda r, ref: r >= 5e6),
}


def plain_numpy_ghk(x: dict) -> np.ndarray:
    vt = 1e3 * 8.314462618 * x["temp_k"] / 96485.33212
    num = x["k_o"] + x["p_na"] * x["na_o"] + x["p_cl"] * x["cl_i"]
    return vt * np.log(num / (x["k_i"] + x["p_na"] * x["na_i"] + x["p_cl"] * x["cl_o"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="points per model (default 10^6)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; best is kept (default 3)")
    parser.add_argument("--write", action="store_true", help="update RESULTS.md and history/ (see results.py)")
    args = parser.parse_args()
    warnings.simplefilter("ignore", vrest.MultipleSteadyStatesWarning)

    rows = []
    ref_inputs = random_inputs("ghk", args.n, seed=0)
    ref_rate = args.n / best_time(lambda: plain_numpy_ghk(ref_inputs), args.repeat)
    rows.append(("plain NumPy GHK (reference)", ref_rate, ref_rate))

    cases = [
        ("ghk", "ghk", {"p_ca": 0.0}),
        ("ghk + Ca2+ (solved)", "ghk", {}),
        ("mullins-noda", "mullins-noda", {}),
        ("chord", "chord", {}),
        ("rectifying-ghk (pump)", "rectifying-ghk", {}),
        ("rectifying-kir", "rectifying-kir", {}),
    ]
    for label, model, fixed in cases:
        n = args.n if model != "rectifying-kir" else args.n // 10
        x = random_inputs(model, n, seed=1, **fixed)
        m, values = vrest.resolve_inputs(model, x)
        api = n / best_time(lambda model=model, x=x: vrest.predict(model, **x), args.repeat)
        if m.needs_solver(values):
            core = n / best_time(lambda m=m, values=values: solve_root(m, values), args.repeat)
        else:
            from vrest.api import call_with

            core = n / best_time(lambda m=m, values=values: call_with(m.voltage, values), args.repeat)
        rows.append((label + ("" if n == args.n else f" (n={n})"), api, core))

    ss_inputs = random_inputs("rectifying-kir", 10_000, seed=2)
    ss_time = best_time(lambda: vrest.steady_states("rectifying-kir", **ss_inputs), args.repeat)
    br_time = best_time(lambda: vrest.bistable_range("rectifying-kir"), args.repeat)

    lines = [
        f"`python analyses/benchmarks/bench_models.py --n {args.n} --repeat {args.repeat}` (best of {args.repeat})",
        "",
        "| model | API evaluations/s (`vrest.predict`) | model function evaluations/s | target | met |",
        "|---|---:|---:|---|---|",
    ]
    for label, api, core in rows:
        target, ok = "", ""
        if label in TARGETS:
            target, passes = TARGETS[label]
            ok = "yes" if passes(api if target.startswith("API") else core, ref_rate) else "NO"
        lines.append(f"| {label} | {api:,.0f} | {core:,.0f} | {target} | {ok} |")
    lines += [
        "",
        f"- all steady states of rectifying-kir for 10,000 parameter sets: {ss_time:.3f} s "
        f"(target < 1 s: {'yes' if ss_time < 1 else 'NO'})",
        f"- bistable K_o range of rectifying-kir (default parameters, saddle-node bounds to 1e-9): {br_time:.3f} s",
        f"- GHK relative to the plain NumPy reference: model function {rows[1][2] / ref_rate:.0%}, "
        f"API with input validation {rows[1][1] / ref_rate:.0%}",
        "",
    ]
    ghk = rows[1][2]
    compared = (f"closed-form GHK on {args.n:,} random points: the model function against a plain NumPy expression "
                f"(evaluations/s, best of {args.repeat})")  # fmt: skip
    publish("bench_models.py", lines, [Row("bench_models.py", compared, f"{ghk:,.0f}/s", f"{ref_rate:,.0f}/s",
                                           ghk / ref_rate)], args.write)  # fmt: skip


if __name__ == "__main__":
    main()
