"""Benchmark: `vrest fit` of the fixed-point models, compiled against the Python-solver path, in one run.

Run from the project root:  python analyses/benchmarks/bench_fixed_points.py [--repeat 3] [--repeat-python 1]
[--timeout 600] [--models rectifying-ghk rectifying-kir ghk-ca] [--write]

Each case fits the bundled Gelband et al. (1972) data (12 rows) with the study's assumptions
(`vrest fit --study data/studies/gelband1972_atrium.toml --model MODEL --draws 1000`: rectifying-kir's own
default is 3000), 4 chains x 1000 draws after 1000 tuning, seed 0, in a fresh process timed from start to files
written (exact-LOO refits included): with empty compile caches (PyTensor's and vrest's: "cold") and again with the
caches of that run ("warm"), as in bench_fit.py.
Each round uses new caches; the best of --repeat rounds is reported, with every time.

The paths compared, per model:

* rectifying-ghk, compiled: its registered ``symbolic_state`` (GhkLeakNewtonOp: a Newton kernel called from compiled code);
  Python solver: a copy of the record with ``symbolic_state=None``, so the generic ``SteadyStateOp`` runs
  the NumPy Newton solve (``newton_setup``) in Numba's object mode inside the log-density;
* rectifying-kir, compiled: its registered ``symbolic_branches`` (KirBranchesOp: the branch kernel called from the
  compiled log-density, both stable states and the fold points of every row); Python solver: a copy of the record
  whose branches come from a subclass of KirBranchesOp without its Numba implementation, so PyTensor runs the Op's
  ``perform`` (the Python driver of the same kernel) in object mode; everything else (the implicit-function
  gradients, the branch likelihood) is identical;
* ghk-ca, compiled: the closed form; Python solver: a copy with ``voltage=None, gradient=None`` and
  ``bounds`` (every reversal potential +- 1 mV, 5 mV step), so ``SteadyStateOp`` runs the NumPy scan
  (``scan_stable_state``) in object mode. (The Newton setup ghk-ca once used no longer exists.) ghk, the
  closed form without Ca2+, is timed too as the reference for a closed-form fit.

The variants are registered in the fitting process by a small driver (python -c) that then calls
``vrest.cli.main.main``. A run longer than --timeout seconds is stopped and reported as "> N s". Target
(the issue): each compiled fixed-point model's fit within 15 s cold and 5 s warm end to end on the 2-core
machine. --write puts, per model and cache state, the compiled path's wall time against the Python
path's into RESULTS.md, and the full table into history/ (see results.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from results import Row, load, publish

ROOT = Path(__file__).resolve().parents[2]
STUDY = ROOT / "data" / "studies" / "gelband1972_atrium.toml"
COLD_TARGET_S, WARM_TARGET_S = 15.0, 5.0

DRIVER = """\
import dataclasses, sys
import numpy as np
import vrest.models as vm
from vrest.constants import thermal_voltage_mv
from pytensor.link.numba.dispatch.basic import generate_fallback_impl, numba_funcify
from vrest.cli.main import main
from vrest.models.kir_states import kir_symbolic_branches
from vrest.symbolic import KirBranchesOp

def ghk_ca_scan_bounds(k_o, k_i, na_o, na_i, cl_o, cl_i, ca_o, ca_i, temp_k, **_):
    # the summed GHK currents rise through zero between the lowest and highest reversal potential
    vt = thermal_voltage_mv(temp_k)
    e = np.stack(np.broadcast_arrays(vt * np.log(k_o / k_i), vt * np.log(na_o / na_i),
                                     vt * np.log(cl_i / cl_o), 0.5 * vt * np.log(ca_o / ca_i)))
    return e.min(axis=0) - 1.0, e.max(axis=0) + 1.0, 5.0

class KirBranchesInPython(KirBranchesOp):
    pass  # no Numba implementation registered: PyTensor's object-mode fallback calls perform

@numba_funcify.register(KirBranchesInPython)
def _in_object_mode(op, node=None, **kwargs):
    return generate_fallback_impl(op, node, **kwargs)

def kir_branches_in_python(named):  # a plain function: the record's source digest reads its byte code
    return kir_symbolic_branches(named, op=KirBranchesInPython)

VARIANTS = {
    "rectifying-ghk-python": ("rectifying-ghk", dict(symbolic_state=None)),
    "rectifying-kir-python": ("rectifying-kir", dict(symbolic_branches=kir_branches_in_python)),
    "ghk-ca-python": ("ghk-ca", dict(voltage=None, gradient=None, bounds=ghk_ca_scan_bounds)),
}
name = sys.argv[sys.argv.index("--model") + 1]
base, changes = VARIANTS[name]
vm.register_model(dataclasses.replace(vm.get_model(base), name=name, **changes))
sys.exit(main(sys.argv[1:]))
"""


@dataclass(frozen=True)
class Case:
    model: str  # the model of the table
    path: str  # "compiled" or "Python solver" (or "reference")
    what: str  # how V is computed in the log-density
    fit_name: str  # the name given to --model (a variant is registered by DRIVER)

    @property
    def variant(self) -> bool:
        return self.fit_name != self.model


CASES = (
    Case("rectifying-ghk", "compiled", "GhkLeakNewtonOp: Newton kernel called from compiled code", "rectifying-ghk"),
    Case(
        "rectifying-ghk",
        "Python solver",
        "SteadyStateOp: NumPy Newton (newton_setup) in object mode",
        "rectifying-ghk-python",
    ),
    Case("rectifying-kir", "compiled", "KirBranchesOp: branch kernel called from compiled code", "rectifying-kir"),
    Case(
        "rectifying-kir",
        "Python solver",
        "KirBranchesOp's perform (Python driver of the kernel) in object mode",
        "rectifying-kir-python",
    ),
    Case("ghk-ca", "compiled", "closed form", "ghk-ca"),
    Case(
        "ghk-ca", "Python solver", "SteadyStateOp: NumPy scan over bounds (5 mV step) in object mode", "ghk-ca-python"
    ),
    Case("ghk", "reference", "closed form without Ca2+ (not a fixed point)", "ghk"),
)


@dataclass
class Run:
    wall: float  # s; the timeout where timed_out
    timed_out: bool = False
    info: dict | None = None  # fit.json's wall_time_s and diagnostics

    def cell(self) -> str:
        return f"> {self.wall:.0f}" if self.timed_out else f"{self.wall:.1f}"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fit(case: Case, out: Path, cache: Path, timeout: float) -> Run:
    """One `vrest fit` of ``case`` in a fresh process with the compile caches in ``cache``."""
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={cache}", "VREST_CACHE_DIR": str(cache / "vrest")}
    args = ["fit", "--study", str(STUDY), "--model", case.fit_name, "--out", str(out), "--force", "--draws", "1000"]
    command = [sys.executable, "-c", DRIVER, *args] if case.variant else [sys.executable, "-m", "vrest.cli", *args]
    t0 = time.perf_counter()
    try:
        done = subprocess.run(command, check=False, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Run(timeout, timed_out=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{case.fit_name}: vrest fit exited with {done.returncode}:\n{done.stderr[-3000:]}")
    info = json.loads((out / "fit.json").read_text())
    return Run(wall, info={**info["wall_time_s"], **info["diagnostics"]})


def best(runs: list[Run]) -> Run:
    return min(runs, key=lambda r: (r.timed_out, r.wall))


def seconds(runs: list[Run]) -> str:
    """The best time, and every time where there were several."""
    b = best(runs)
    return b.cell() if len(runs) == 1 else f"{b.cell()} ({', '.join(r.cell() for r in runs)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update RESULTS.md and history/ (see results.py)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (cold + warm, new caches) of each compiled fit")
    parser.add_argument("--repeat-python", type=int, default=1, help="rounds of each Python-solver fit")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds after which a fit is stopped")
    parser.add_argument("--models", nargs="+", help="only these models (their rows in RESULTS.md are replaced)")
    args = parser.parse_args()
    cases = [c for c in CASES if not args.models or c.model in args.models]
    if not cases:
        parser.error(f"--models: expected some of {', '.join(dict.fromkeys(c.model for c in CASES))}")
    for flag in ("repeat", "repeat_python"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')}: expected a positive integer, got {getattr(args, flag)}")
    loads = []
    results: dict[Case, tuple[list[Run], list[Run]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for case in cases:
            cold, warm = [], []
            rounds = args.repeat_python if case.path == "Python solver" else args.repeat
            for r in range(rounds):
                cache = tmp / f"cache-{case.fit_name}-{r}"
                for label, runs in (("cold", cold), ("warm", warm)):
                    if label == "warm" and cold[-1].timed_out:
                        say(f"{case.fit_name}: round {r + 1}/{rounds}, warm: skipped (the cold run timed out)")
                        continue
                    loads.append(os.getloadavg()[0])
                    say(f"{case.fit_name}: round {r + 1}/{rounds}, {label} ({load()}) ...")
                    runs.append(fit(case, tmp / "out", cache, args.timeout))
                    say(f"  {runs[-1].cell()} s")
            results[case] = (cold, warm)

    command = (f"`python analyses/benchmarks/bench_fixed_points.py --repeat {args.repeat} "
               f"--repeat-python {args.repeat_python} --timeout {args.timeout:g}"
               + (f" --models {' '.join(args.models)}`" if args.models else "`"))  # fmt: skip
    lines = [command, "",
             f"Gelband data (12 rows), study assumptions, 4 chains x 1000 draws (+1000 tuning), seed 0; wall time of "
             f"a fresh `vrest fit` process, best of the rounds (every time in brackets); compile and sample s from "
             f"fit.json of the best run; diagnostics of the best warm run (else cold). 1-minute load average during "
             f"the runs: {min(loads):.1f}-{max(loads):.1f}.", "",
             "| model | path | how V is computed | cold s | warm s | compile s cold / warm | sample s cold / warm "
             "| divergences | max R-hat | min bulk ESS | meets 15 s cold / 5 s warm |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]  # fmt: skip
    for case, (cold, warm) in results.items():
        bc, bw = best(cold), best(warm) if warm else None
        d = (bw.info if bw is not None and bw.info else None) or bc.info or {}

        def both(key: str, bc=bc, bw=bw) -> str:
            return " / ".join(f"{r.info[key]:.1f}" if r is not None and r.info else "-" for r in (bc, bw))

        meets = ""
        if case.path == "compiled":
            ok_cold = not bc.timed_out and bc.wall <= COLD_TARGET_S
            ok_warm = bw is not None and not bw.timed_out and bw.wall <= WARM_TARGET_S
            meets = f"{'yes' if ok_cold else 'no'} / {'yes' if ok_warm else 'no'}"
        diag = f"{d['divergences']} | {d['max_r_hat']:.3f} | {d['min_ess_bulk']:.0f}" if d else "- | - | -"
        lines.append(f"| {case.model} | {case.path} | {case.what} | {seconds(cold)} | "
                     f"{seconds(warm) if warm else 'not run'} | {both('compile_s')} | {both('sample_s')} | {diag} | "
                     f"{meets} |")  # fmt: skip

    lines += ["", "| model | Python-path / compiled wall time, cold | warm |", "|---|---:|---:|"]
    rows = []
    for model in dict.fromkeys(c.model for c in cases if c.path == "Python solver"):
        fast_case = next(c for c in cases if c.model == model and c.path == "compiled")
        compiled = results[fast_case]
        python_case = next(c for c in cases if c.model == model and c.path == "Python solver")
        python = results[python_case]
        ratio_cells = []
        for i, state in enumerate(("empty caches", "warm caches")):
            fast, slow = compiled[i], python[i]
            if not fast or not slow or best(fast).timed_out:
                ratio_cells.append("-")
                continue
            f, s = best(fast), best(slow)
            ratio = s.wall / f.wall
            ratio_cells.append(f"{'> ' if s.timed_out else ''}{ratio:.2g}")
            compared = (f"{model}: `vrest fit` of the Gelband data (12 rows, 4 x 1000 draws) in a fresh process with "
                        f"{state}: compiled ({fast_case.what}) against the Python-solver path ({python_case.what}) "
                        f"(wall s, best of {len(fast)} / {len(slow)})")  # fmt: skip
            rows.append(Row(f"bench_fixed_points.py, {model}, {state}", compared, f"{f.wall:.1f} s",
                            f"{'> ' if s.timed_out else ''}{s.wall:.1f} s", _AtLeast(ratio) if s.timed_out else ratio))  # fmt: skip
        lines.append(f"| {model} | {ratio_cells[0]} | {ratio_cells[1]} |")
    publish("bench_fixed_points.py", lines, rows, args.write)


class _AtLeast(float):
    """A ratio that is only a lower bound (the Python path timed out): printed with '>'."""

    def __format__(self, spec: str) -> str:
        return ">" + float.__format__(self, spec)


if __name__ == "__main__":
    main()
