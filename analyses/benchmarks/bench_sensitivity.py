"""Benchmark: `vrest sensitivity` against the bare SALib sample/evaluate/analyze loop, in one run.

Run from the project root:  python analyses/benchmarks/bench_sensitivity.py [--n 16384] [--repeat 3] [--write]

Cases (10 inputs, N base rows, seeds fixed; best of --repeat runs each):

1. bare loop: SALib.sample.sobol.sample -> vrest.predict("ghk") -> SALib.analyze.sobol.analyze,
   second order, 100 bootstrap resamples; the same inputs as case 2, all uniform.
2. vrest, GHK: vrest.sensitivity.sobol_analysis on the same problem, second order (adds the
   N/2 convergence check, the derivative cross-check and the findings). Its S1/ST equal the
   bare loop's to 1e-12 (same samples, same resamples; printed).
3. vrest, rectifying-kir: the same N, second order, 10 inputs; its steady states are solved
   at every point (with their number counted).
4. per-K_o heatmap: 20 K_o levels (2-8 mM), 10 other inputs (GHK with Ca2+ permeant, so
   every point is a solved fixed point), S1 and ST with CIs; the bare loop's cost for the
   same work is 20 x one `analyze` (estimated from --bare-levels levels).
5. writing the outputs (CSV, JSON, PNG + SVG figures) of case 2 and of case 4.

Cases 2 and 3 run in alternating rounds (a busy spell of a shared machine falls on both).
Targets (issue 4): case 2 no slower than case 1; case 3 under 1.5 x case 2; case 4 under
10 s. --write puts case 2 against case 1 into analyses/benchmarks/RESULTS.md and the full
table into history/ (see results.py).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from results import Row, publish

import vrest
from vrest.sensitivity import scenario_from_table, sobol_analysis, write_outputs

INTRO = (
    "Targets (issue 4), 10 inputs, N = 2^14 with second order: vrest's single-scenario run no slower than the bare\n"
    "SALib sample/evaluate/analyze loop; rectifying-kir under 1.5 x GHK; the per-K_o heatmap (20 K_o levels,\n"
    "10 inputs, S1 and ST with CIs) under 10 s. Times are the analysis in-process (imports warmed up); writing\n"
    "the outputs (figures) is timed separately."
)

COMMON = {  # mammalian plasma/neuron ranges of the bundled normokalaemia scenario, all uniform
    "k_o": (3.5, 5.0),
    "k_i": (135.0, 155.0),
    "na_o": (135.0, 145.0),
    "na_i": (5.0, 15.0),
    "cl_o": (98.0, 110.0),
    "cl_i": (4.0, 30.0),
    "temp_k": (309.15, 311.15),
}
GHK = {**COMMON, "p_na": (0.02, 0.08), "p_cl": (0.2, 1.0), "pump_mv": (0.0, 5.0)}
KIR = {**COMMON, "g_na": (0.016, 0.024), "g_cl": (0.04, 0.06), "v_half": (8.0, 12.0)}
HEATMAP = {**{k: v for k, v in GHK.items() if k != "k_o"}, "p_ca": (0.0, 0.01)}


def scenario(name: str, model: str, ranges: dict):
    table = {
        "model": model,
        "inputs": {k: {"dist": "uniform", "low": lo, "high": hi} for k, (lo, hi) in ranges.items()},
    }
    return scenario_from_table(table, where=name, default_name=name)


def timed(fn):
    """(wall time in s, result) of fn()."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def best(fn, repeat: int):
    """(best wall time of ``repeat`` runs, the last result)."""
    times, out = [], None
    for _ in range(repeat):
        t, out = timed(fn)
        times.append(t)
    return min(times), out


def bare_loop(n: int, seed: int, levels: list[dict] | None = None, second_order: bool = True):
    """The plain SALib loop on the GHK problem; with ``levels``, one analyze per K_o level."""
    from SALib.analyze import sobol as salib_analyze
    from SALib.sample import sobol as salib_sample

    ranges = GHK if levels is None else HEATMAP
    problem = {"num_vars": len(ranges), "names": list(ranges), "bounds": [list(b) for b in ranges.values()]}
    x = salib_sample.sample(problem, n, calc_second_order=second_order, seed=np.random.default_rng(seed))
    inputs = {name: x[:, j] for j, name in enumerate(problem["names"])}
    results = []
    for level in levels or [{}]:
        y = vrest.predict("ghk", **inputs, **level)
        results.append(
            salib_analyze.analyze(problem, y, calc_second_order=second_order, seed=np.random.default_rng(seed + 1))
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2**14, help="base rows N (default 2^14)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the best is kept (default 3)")
    parser.add_argument(
        "--bare-levels", type=int, default=2, help="levels of the bare per-K_o loop actually run (default 2)"
    )
    parser.add_argument("--write", action="store_true", help="update RESULTS.md and history/ (see results.py)")
    args = parser.parse_args()
    warnings.simplefilter("ignore", vrest.MultipleSteadyStatesWarning)
    n, grid = args.n, list(np.linspace(2.0, 8.0, 20))

    # warm-up: imports and first-call costs (the kir kernel's compile or cache load) are not what is measured
    sobol_analysis(None, scenario("warm", "ghk", GHK), seed=0, n=64, second_order=True)
    sobol_analysis(None, scenario("warm", "rectifying-kir", KIR), seed=0, n=64, second_order=True)
    bare_loop(64, 0)

    t_bare, _bare = best(lambda: bare_loop(n, 1), args.repeat)
    ghk_runs, kir_runs = [], []
    for _ in range(args.repeat):  # interleaved: a busy spell of a shared machine falls on both cases
        t, ghk = timed(lambda: sobol_analysis(None, scenario("ghk", "ghk", GHK), seed=0, n=n, second_order=True))
        ghk_runs.append(t)
        t, kir = timed(
            lambda: sobol_analysis(None, scenario("kir", "rectifying-kir", KIR), seed=0, n=n, second_order=True)
        )
        kir_runs.append(t)
    t_ghk, t_kir = min(ghk_runs), min(kir_runs)
    round_ratios = [k / g for g, k in zip(ghk_runs, kir_runs, strict=True)]
    heat_scenario = scenario("heatmap", "ghk", {"k_o": (2.0, 8.0), **HEATMAP})
    heat_runs_s = []
    for _ in range(args.repeat):
        heat = sobol_analysis(None, heat_scenario, seed=0, n=n, k_o_grid=grid)
        heat_runs_s.append(heat.info["wall_time_s"]["by_analysis"]["heatmap per K_o"])
    heat_run = min(heat_runs_s)
    t_bare_levels, _ = best(lambda: bare_loop(n, 1, [{"k_o": k} for k in grid[: args.bare_levels]], False), 1)
    t_bare_heat = t_bare_levels / args.bare_levels * len(grid)

    # the same numbers: vrest's estimates against the bare loop's with the same samples and resamples
    from vrest.sensitivity.analysis import options

    opts = options(n, 0, True, 100, 0.95, 0.05, "vrest")
    same = bare_loop_with(opts)
    mine = ghk.indices[ghk.indices["K_o_mM"].isna()]
    diff = max(np.max(np.abs(mine[mine["index"] == kind]["value"].to_numpy() - same[kind])) for kind in ("S1", "ST"))

    with tempfile.TemporaryDirectory() as tmp:
        t_write, _ = best(lambda: write_outputs(ghk, Path(tmp) / "ghk", force=True), 1)
        t_write_heat, _ = best(lambda: write_outputs(heat, Path(tmp) / "heat", force=True), 1)

    multi = int(kir.summary.iloc[0]["multistable_runs"])
    runs = int(kir.summary.iloc[0]["runs"])
    heat_runs = 20 * n * (len(HEATMAP) + 2)
    rows = [
        ("bare SALib loop, GHK (sample + predict + analyze)", t_bare, "", ""),
        ("vrest sensitivity, GHK", t_ghk, "<= bare loop", "yes" if t_ghk <= t_bare else "NO"),
        (
            f"vrest sensitivity, rectifying-kir ({multi:,} of {runs:,} runs bistable)",
            t_kir,
            f"< 1.5 x GHK = {1.5 * t_ghk:.2f} s",
            "yes" if t_kir < 1.5 * t_ghk else "NO",
        ),  # fmt: skip
        (
            f"per-K_o heatmap, 20 levels x {len(HEATMAP)} inputs, S1 + ST ({heat_runs:,} runs)",
            heat_run,
            "< 10 s",
            "yes" if heat_run < 10 else "NO",
        ),  # fmt: skip
        (f"bare loop for the same heatmap (20 x analyze; {args.bare_levels} run, rest estimated)", t_bare_heat, "", ""),
        ("writing outputs of the GHK run (CSV, JSON, 2 figures as PNG + SVG)", t_write, "", ""),
        ("writing outputs of the heatmap run (4 figures as PNG + SVG)", t_write_heat, "", ""),
    ]
    lines = [
        INTRO,
        "",
        f"`python analyses/benchmarks/bench_sensitivity.py --n {n} --repeat {args.repeat}` (best of {args.repeat}; "
        f"10 inputs, N = {n}, second order with 100 bootstrap resamples unless stated)",
        "",
        "| case | wall time (s) | target | met |",
        "|---|---:|---|---|",
        *[f"| {label} | {t:.2f} | {target} | {ok} |" for label, t, target, ok in rows],
        "",
        f"- vrest vs bare loop on the same samples and resamples: largest |S1, ST difference| = {diff:.1e}",
        f"- speed-up over the bare loop: single scenario {t_bare / t_ghk:.0f}x, "
        f"per-K_o heatmap {t_bare_heat / heat_run:.0f}x",
        f"- rectifying-kir / GHK: {t_kir / t_ghk:.2f}x for the analysis alone (best against best; per round "
        f"{min(round_ratios):.2f}-{max(round_ratios):.2f}x, median {np.median(round_ratios):.2f}x); with the outputs "
        f"written {(t_kir + t_write) / (t_ghk + t_write):.2f}x",
        "",
    ]
    compared = (f"Sobol indices (S1, ST, S2 with bootstrap CIs) of GHK, 10 inputs, N = {n}: `sobol_analysis` against "
                f"the bare SALib sample/predict/analyze loop (s, best of {args.repeat})")  # fmt: skip
    row = Row("bench_sensitivity.py", compared, f"{t_ghk:.2f} s", f"{t_bare:.2f} s", t_bare / t_ghk)
    publish("bench_sensitivity.py", lines, [row], args.write)


def bare_loop_with(opts) -> dict:
    """S1 and ST of the bare SALib loop with vrest's generators (same samples, same resamples)."""
    from SALib.analyze import sobol as salib_analyze
    from SALib.sample import sobol as salib_sample

    problem = {"num_vars": len(GHK), "names": list(GHK), "bounds": [list(b) for b in GHK.values()]}
    x = salib_sample.sample(problem, opts.n, calc_second_order=True, seed=opts.design_rng())
    y = vrest.predict("ghk", **{name: x[:, j] for j, name in enumerate(problem["names"])})
    return salib_analyze.analyze(problem, y, calc_second_order=True, seed=opts.bootstrap_rng())


if __name__ == "__main__":
    main()
