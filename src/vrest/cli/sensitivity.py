"""``vrest sensitivity``: Sobol' indices of V_rest over scenarios, optionally with a fit's posterior.

Only argparse and vrest's light modules load here; the analysis (pandas, SciPy,
matplotlib) loads when the command runs. Bad input raises ValueError with a message
that starts with the offending flag, the scenario file or its key (vrest's main()
prints it as one line and exits with code 2); nothing is written then.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..models import MODELS, get_model
from ..models.solver import BRANCHES
from .common import flagged


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``sensitivity`` sub-command to ``vrest``'s sub-parsers."""
    text = (
        "Sobol' sensitivity of V_rest over scenarios "
        "(S1, ST, S2 with bootstrap CIs, per-K_o indices, derivative cross-check)"
    )
    p = subparsers.add_parser("sensitivity", help=text, description=text)
    p.add_argument("--model", help=f"one of: {', '.join(MODELS)} (default: the scenario's model key)")
    p.add_argument(
        "--scenario",
        nargs="+",
        metavar="PRESET",
        help="bundled scenario(s): hypokalaemia (K_o 2.0-3.5 mM), normokalaemia (3.5-5.0), hyperkalaemia (5.5-8.0); "
        "US spellings accepted",
    )
    p.add_argument(
        "--scenario-file", nargs="+", metavar="FILE.toml", help="scenario file(s) (see vrest.sensitivity.scenarios)"
    )
    p.add_argument(
        "--n",
        type=int,
        default=4096,
        help="base samples N, a power of two (others are rounded up with a warning); a scenario with F factors costs "
        "N (F + 2) model runs, N (2F + 2) with --second-order (default 4096)",
    )
    p.add_argument(
        "--seed", type=int, required=True, help="random seed, an integer >= 0 (0 included); fixes every number"
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (must not exist, unless --force)")
    p.add_argument(
        "--second-order", action="store_true", help="also estimate second-order indices S2 (whole scenarios)"
    )
    p.add_argument("--force", action="store_true", help="replace an existing DIR")
    p.add_argument(
        "--posterior",
        metavar="FITDIR",
        help="a `vrest fit` folder of the same model: draw its fitted parameters jointly (one factor, 'posterior') "
        "and report V_rest credible bands and the parameter-uncertainty share of the variance",
    )
    p.add_argument(
        "--k-o-grid",
        nargs="+",
        metavar="K",
        help="K_o levels (mM) for per-K_o indices: values and LOW:HIGH:COUNT ranges (e.g. 2:8:20), or 'off' "
        "(default: each scenario's k_o_grid)",
    )
    p.add_argument("--resamples", type=int, default=100, help="bootstrap resamples (default 100)")
    p.add_argument("--conf-level", type=float, default=0.95, help="confidence level of the CIs (default 0.95)")
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.05,
        help="index change between N/2 and N, and CI half-width, above which N is reported too small (default 0.05)",
    )
    p.add_argument("--branch", choices=BRANCHES, default="hyperpolarized", help="stable state used where there are two")
    p.add_argument("--engine", default="vrest", help="vrest (vectorised, default) or salib (SALib's analyze; slow)")
    p.add_argument("--scheduler", help="run the scenarios' analyses as parallel Dask jobs: local (a local cluster) or "
                   "tcp://HOST:PORT (default: in this process)")  # fmt: skip
    p.add_argument("--workers", type=int, help="worker processes of a local cluster (default: one per CPU)")
    p.add_argument("--no-figures", action="store_true", help="write the tables and JSON only")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p


@contextmanager
def _flag_names() -> Iterator[None]:
    """Show API warnings and errors with the command-line flag in place of the argument name."""
    shown = warnings.showwarning
    warnings.showwarning = lambda message, *a, **k: shown(flagged(str(message)), *a, **k)
    try:
        yield
    except ValueError as err:
        raise ValueError(flagged(str(err))) from None
    finally:
        warnings.showwarning = shown


def parse_grid(tokens: list[str] | None) -> tuple[float, ...] | None:
    """K_o levels from --k-o-grid tokens: None (not given), () for 'off', else sorted values (mM)."""
    if tokens is None:
        return None
    if tokens == ["off"]:
        return ()
    values: list[float] = []
    for token in tokens:
        parts = token.split(":")
        try:
            if len(parts) == 3:
                lo, hi, count = float(parts[0]), float(parts[1]), int(parts[2])
                if count < 1 or not lo <= hi:
                    raise ValueError
                values += list(np.linspace(lo, hi, count))
            elif len(parts) == 1:
                values.append(float(token))
            else:
                raise ValueError
        except ValueError:
            raise ValueError(f"k_o_grid: expected K_o values (mM), LOW:HIGH:COUNT or 'off', got {token!r}") from None
    from ..sensitivity.scenarios import parse_k_o_grid

    return parse_k_o_grid(values, "k_o_grid")


def _report(res, out: str, files: list[str]) -> str:
    settings = res.info["settings"]
    whole = res.indices[res.indices["K_o_mM"].isna()]
    lines = [f"# vrest sensitivity: {settings['model']}, N = {settings['n']}, seed {settings['seed']}"]
    header = f"{'scenario':<16} {'input':<14} {'S1 [95% CI]':<26} {'ST [95% CI]':<26} {'S1_linear':>9}  flags"
    lines.append(header)
    for (scenario, name), r in whole[whole["index"].isin(["S1", "ST", "S1_linear"])].groupby(
        ["scenario", "input"], sort=False
    ):
        by = r.set_index("index")
        cells = [f"{by.at[k, 'value']:.3f} [{by.at[k, 'ci_low']:.3f}, {by.at[k, 'ci_high']:.3f}]" for k in ("S1", "ST")]
        flags = sorted({f for flag in r["flag"] for f in flag.split(";") if f})
        lines.append(
            f"{scenario:<16} {name:<14} {cells[0]:<26} {cells[1]:<26} "
            f"{by.at['S1_linear', 'value']:>9.3f}  {','.join(flags)}"
        )
    lines.append("findings:")
    lines += [f"- {f}" for f in res.findings]
    lines.append(f"wrote {out}: {', '.join(files)}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> None:
    """Run ``vrest sensitivity`` with parsed arguments; prints a report, writes DIR."""
    progress = (lambda _: None) if args.quiet else (lambda s: print(f"vrest: {s}", file=sys.stderr, flush=True))
    with _flag_names():
        if not args.scenario and not args.scenario_file:
            raise ValueError("scenario: give --scenario PRESET or --scenario-file FILE.toml")
        if args.model is not None:
            get_model(args.model)
        grid = parse_grid(args.k_o_grid)
        if args.scheduler is not None or args.workers is not None:
            from ..parallel import scheduler_address

            scheduler_address(args.scheduler, args.workers)  # bad flags are refused before any work
        from ..folders import claim, write_sensitivity
        from ..sensitivity.analysis import sobol_analysis
        from ..sensitivity.scenarios import bundled_scenario, scenario_file

        protect = [*(args.scenario_file or []), *([args.posterior] if args.posterior else [])]
        with claim(args.out, "sensitivity", args.force, protect):
            scenarios = [bundled_scenario(s, args.model) for s in args.scenario or []]
            scenarios += [scenario_file(Path(p), args.model) for p in args.scenario_file or []]
            res = sobol_analysis(args.model, scenarios, seed=args.seed, n=args.n, second_order=args.second_order,
                                 k_o_grid=grid, resamples=args.resamples, conf_level=args.conf_level,
                                 tolerance=args.tolerance, branch=args.branch, engine=args.engine,
                                 posterior=args.posterior, progress=progress, scheduler=args.scheduler,
                                 workers=args.workers)  # fmt: skip
            progress(f"writing {args.out}")
            files = write_sensitivity(res, args.out, force=args.force, figures=not args.no_figures)
    print(_report(res, args.out, files))


COMMANDS = {"sensitivity": (add_parser, run)}
