"""Benchmark: `vrest fit-batch` on a local Dask cluster against a plain loop of `vrest fit` calls, in one run.

Run from the project root:  python analyses/benchmarks/bench_batch.py [--n 32] [--workers 2] [--write]

Data: n single-cell recordings, 12 K_o levels each (1-100 mM, K+ replacing Na+), GHK +
pump with cell-to-cell variation, noise 2 mV; default fit settings (4 chains x 1000
draws after 1000 tuning). The loop runs `vrest fit` once per recording as a separate
process, as a shell script would; the batch runs `vrest fit-batch --scheduler local`.
Both use the same warm PyTensor compile cache. Reported: wall times, the speed-up, and
the per-recording overhead: for the loop, each call's time outside its fit (process
start, imports, writing) and its compilation; for the batch, compilation per worker
(paid once) and the fit time per recording in the workers. --write puts the two wall times
into RESULTS.md and the full output into history/ (see results.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from results import Row, publish

import vrest


def simulate(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    k_o = np.geomspace(1, 100, 12)
    frames = []
    for c in range(n):
        p_na, p_cl = np.exp(np.log([0.04, 0.45]) + 0.3 * rng.normal(size=2))
        v = vrest.predict("ghk", k_o=k_o, na_o=150 - k_o, p_na=p_na, p_cl=p_cl, pump_mv=3.0 + rng.normal())
        frames.append(pd.DataFrame({"recording": f"r{c:02d}", "K_o_mM": k_o, "V_m_mV": v + rng.normal(0, 2.0, 12)}))
    return pd.concat(frames, ignore_index=True)


def vrest_cli(*args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vrest.cli", *args], check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--write", action="store_true", help="update RESULTS.md and history/ (see results.py)")
    args = parser.parse_args()
    common = ["--model", "ghk", "--seed", "0", "--k-replaces-na"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        table = simulate(args.n)
        table.to_csv(tmp / "all.csv", index=False)
        warm = table[table["recording"] == "r00"].drop(columns="recording")
        warm.to_csv(tmp / "warm.csv", index=False)
        vrest_cli("fit", str(tmp / "warm.csv"), *common, "--out", str(tmp / "warm"))  # fills the compile cache

        batch_s = vrest_cli("fit-batch", str(tmp / "all.csv"), "--by", "recording", *common, "--out", str(tmp / "batch"),
                            "--scheduler", "local", "--workers", str(args.workers))  # fmt: skip
        timings = pd.read_csv(tmp / "batch" / "timings.csv")
        print(f"batch: {batch_s:.1f} s", file=sys.stderr)

        loop_s, overhead, fit_s, compile_s = 0.0, [], [], []
        for name, group in table.groupby("recording"):
            group.drop(columns="recording").to_csv(tmp / f"{name}.csv", index=False)
            wall = vrest_cli("fit", str(tmp / f"{name}.csv"), *common, "--out", str(tmp / "loop" / name))
            own = json.loads((tmp / "loop" / name / "fit.json").read_text())["wall_time_s"]
            loop_s += wall
            overhead.append(wall - own["total_s"])
            fit_s.append(own["total_s"])
            compile_s.append(own["compile_s"])
            print(f"\rloop: {len(fit_s)}/{args.n} ({loop_s:.0f} s)", end="", file=sys.stderr)
        print(file=sys.stderr)

    compile_per_worker = timings.loc[timings["compile_s"] > 0, "compile_s"]
    speedup = loop_s / batch_s
    lines = [
        f"`python analyses/benchmarks/bench_batch.py --n {args.n} --workers {args.workers}` ({args.n} single-cell "
        "recordings x 12 K_o levels, GHK + pump, 4 chains x 1000 draws; warm compile cache for both)", "",
        "| run | wall time (s) | per recording (s) | target | met |", "|---|---:|---:|---|---|",
        f"| plain loop of `vrest fit` calls | {loop_s:.1f} | {loop_s / args.n:.2f} |  |  |",
        f"| `vrest fit-batch --scheduler local --workers {args.workers}` | {batch_s:.1f} | {batch_s / args.n:.2f} | "
        f">= 1.6x faster than the loop | {'yes' if speedup >= 1.6 else 'NO'} ({speedup:.1f}x) |", "",
        f"- loop: per call, {np.mean(overhead):.1f} s outside the fit (process start, imports, writing) and "
        f"{np.mean(compile_s):.1f} s compiling within the fit's {np.mean(fit_s):.2f} s, on average",
        f"- batch: compilation paid {len(compile_per_worker)} time(s) for {args.n} recordings "
        f"({', '.join(f'{c:.1f}' for c in compile_per_worker)} s: once per worker); fit time per recording in the "
        f"workers {timings['total_s'].mean():.2f} s (compile included where paid), "
        f"{timings.loc[timings['compile_s'] == 0, 'total_s'].mean():.2f} s once compiled",
        "",
    ]  # fmt: skip
    compared = (f"{args.n} single-cell recordings (GHK + pump, 4 x 1000 draws, warm compile cache): `vrest fit-batch "
                f"--scheduler local --workers {args.workers}` against a loop of `vrest fit` calls (wall s)")  # fmt: skip
    row = Row("bench_batch.py", compared, f"{batch_s:.1f} s", f"{loop_s:.1f} s", speedup)
    publish("bench_batch.py", lines, [row], args.write)


if __name__ == "__main__":
    main()
