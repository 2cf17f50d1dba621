"""``vrest extract``: resting potentials per solution epoch from current-clamp traces (ABF 1/2, NWB) into a table."""

from __future__ import annotations

import argparse
import sys

from ..traces.steady import MAX_DRIFT_MV_PER_MIN, SETTLE_MAX_FRACTION, SETTLE_S


def add_parser(sub) -> None:
    """Add ``extract`` to the ``vrest`` sub-command parsers."""
    p = sub.add_parser("extract", help="resting potentials per solution epoch from ABF/NWB current-clamp traces",
                       description=__doc__.splitlines()[0].split(": ", 1)[1])  # fmt: skip
    p.add_argument("traces", nargs="+", metavar="TRACE", help="ABF (1 or 2) or NWB files, one cell each")
    p.add_argument("--out", required=True, metavar="TABLE.csv",
                   help="the table (a vrest fit input); TABLE.json (settings) and TABLE_figures/ go beside it")  # fmt: skip
    p.add_argument("--epochs", metavar="FILE.csv", help="epoch table: file, start_s, [stop_s], solution or condition, "
                   "K_o_mM and other concentrations, [cell]; preferred over the files' own epochs and tags")  # fmt: skip
    p.add_argument("--channel", metavar="NAME|INDEX", help="the membrane-potential channel (default: the one in mV or V)")
    p.add_argument("--settle-s", type=float, default=SETTLE_S, metavar="S",
                   help=f"time skipped after each change, s (default {SETTLE_S:g}: bath exchange; at most "
                   f"{SETTLE_MAX_FRACTION:g} of an epoch)")  # fmt: skip
    p.add_argument("--max-drift", type=float, default=MAX_DRIFT_MV_PER_MIN, metavar="MV_PER_MIN",
                   help=f"flatness limit of a window, mV/min (default {MAX_DRIFT_MV_PER_MIN:g}); steeper: 'unsettled'")  # fmt: skip
    p.add_argument("--include-unsettled", action="store_true", help="do not exclude unsettled epochs from fits")
    p.add_argument("--no-figures", action="store_true", help="skip the per-trace PNG figures")
    p.add_argument("--scheduler", help="none (serial), local (a local Dask cluster) or tcp://HOST:PORT; default: "
                   "serial for one trace, else Dask's configured address or local")  # fmt: skip
    p.add_argument("--workers", type=int, help="worker processes of a local cluster (default: one per CPU)")
    p.add_argument("--force", action="store_true", help="replace an earlier vrest extraction at --out")


def run(args: argparse.Namespace) -> int:
    """Check the output, extract every trace, check the table loads, write it with its marker and figures."""
    from ..folders import check_extraction_target as check_target
    from ..folders import locked
    from ..parallel import scheduler_address
    from ..traces import check_loadable, extract_files, write_extraction

    inputs = (*args.traces, *((args.epochs,) if args.epochs else ()))
    check_target(args.out, args.force, inputs)
    scheduler = "none" if args.scheduler is None and len(args.traces) == 1 else args.scheduler
    scheduler = scheduler_address(scheduler, args.workers)
    with locked(args.out):
        result = extract_files(args.traces, epochs=args.epochs, channel=args.channel, settle_s=args.settle_s,
                               max_drift=args.max_drift, include_unsettled=args.include_unsettled,
                               figures=not args.no_figures, scheduler=scheduler, workers=args.workers)  # fmt: skip
        check_loadable(result.table)
        for record in result.settings["files"]:
            for tag in record["tags"]:
                if tag["kind"] != "solution":
                    print(f"extract: {record['file']}: tag at {tag['time_s']:g} s {tag['text']!r}: {tag['kind']}, "
                          "ignored", file=sys.stderr)  # fmt: skip
        out = write_extraction(result.table, result.figures, args.out, args.force, result.settings)
    shown = result.table[["cell", "epoch", "K_o_mM", "V_m_mV", "sem_mV", "drift_mV_per_min", "spikes_removed", "flags"]]
    print(shown.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    used = int((~result.table["excluded"]).sum())
    print(f"extract: {len(result.table)} epoch(s) from {len(args.traces)} trace(s), {used} for fits; table: {out}")
    return 0


COMMANDS = {"extract": (add_parser, run)}
