"""``vrest fit-batch``: fit every recording of a file (or every file of a folder) independently, on Dask."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from ..study import fittable_models
from .fit import add_fit_options, data_options, overrides, read_study

TABLES_EVERY_S = 2.0
"""Seconds between rewrites of the batch tables while fits finish (each rewrite is O(recordings))."""


def add_parser(sub) -> None:
    """Add ``fit-batch`` to the ``vrest`` sub-command parsers."""
    p = sub.add_parser("fit-batch", help="fit many recordings independently (Dask; resumable)",
                       description=__doc__.splitlines()[0].split(": ", 1)[1])  # fmt: skip
    p.add_argument("data", nargs="?", help="CSV with a column naming each recording (with --by)")
    p.add_argument("--by", metavar="COLUMN", help="column of DATA that names the recording of each row")
    p.add_argument("--dir", metavar="FOLDER", help="fit every *.csv file of FOLDER as one recording (instead of DATA --by)")
    p.add_argument("--model", help=f"(required here or in --study) one of {', '.join(fittable_models())}")
    p.add_argument("--out", required=True, help="batch folder (rerun into it to resume; --force to refit all)")
    p.add_argument("--seed", type=int, help="run seed, 0 to 2**63-1 (default 0); each recording's seed derives from it "
                   "and its id")  # fmt: skip
    p.add_argument("--scheduler", help="none (serial), local (default: a local cluster), or tcp://HOST:PORT of a Dask scheduler; "
                   "default also honours DASK_SCHEDULER_ADDRESS")  # fmt: skip
    p.add_argument("--workers", type=int, help="worker processes of a local cluster (default: one per CPU)")
    p.add_argument("--force", action="store_true", help="refit every recording, replacing earlier results")
    add_fit_options(p)


def _recordings(args: argparse.Namespace, study) -> dict:
    """Recording id -> Recordings, or the DataError that makes it unusable."""
    from ..data import DataError, load_recordings, split_recordings

    options = data_options(args, study)
    if args.dir:
        if args.data or args.by:
            raise ValueError("--dir: give either DATA with --by, or --dir FOLDER, not both")
        folder = Path(args.dir)
        if not folder.is_dir():
            raise ValueError(f"--dir: {folder} is not a folder")
        files = sorted(folder.glob("*.csv"))
        if not files:
            raise ValueError(f"--dir: {folder} has no *.csv files")
        out = {}
        for path in files:
            try:
                out[path.stem] = load_recordings(path, **options)
            except DataError as err:
                out[path.stem] = err
        return out
    data = args.data or (study.data if study else None)
    if not data or not args.by:
        raise ValueError("--by: give DATA and --by COLUMN (the column naming each recording), or --dir FOLDER")
    return split_recordings(data, args.by, **options)


def run(args: argparse.Namespace) -> int:
    """Plan, skip what is finished, fit the rest on the chosen scheduler, keep the tables current."""
    from ..batch.tasks import fit_job, run_fit_job, settings_fingerprint
    from ..data import DataError
    from ..folders import BatchFolder, claim, folder_name
    from ..parallel import Failure, default_workers, run_jobs, scheduler_address
    from ..study import fit_settings
    from .main import CommandFailed

    study = read_study(args)
    model = args.model or (study.model if study else None)
    if model not in fittable_models():
        raise ValueError(f"--model: expected one of {', '.join(fittable_models())}, got {model!r}")
    address = scheduler_address(args.scheduler, args.workers)
    settings = fit_settings(study, model, **overrides(args))
    protect = [p for p in (args.data, args.dir, args.study) if p]
    with claim(args.out, "batch", force=True, protect=protect):  # a batch folder resumes: --force means refit
        recordings = _recordings(args, study)
        failures = {name: str(r) for name, r in recordings.items() if isinstance(r, DataError)}
        usable = {name: r for name, r in recordings.items() if not isinstance(r, DataError)}
        workers = args.workers or default_workers()
        cores = 2 if address == "none" else max(1, default_workers() // workers)  # threads per fit; draws do not depend on it
        jobs = {name: fit_job(name, r, settings, settings.seed, cores) for name, r in usable.items()}
        info = {"command": "vrest fit-batch", "model": model, "seed": settings.seed, "recordings": len(recordings),
                "settings": dataclasses.asdict(dataclasses.replace(settings, progress=False)),
                "settings_fingerprint": settings_fingerprint(settings)}  # fmt: skip
        batch = BatchFolder(args.out, info, args.force)

        finished = batch.finished()
        for name, job in jobs.items():
            folder, fingerprint = finished.get(name, (None, None))
            if folder is not None and fingerprint != job.fingerprint and not args.force:
                raise ValueError(f"--out: {batch.recordings / folder} holds a fit of other data or settings for "
                                 f"recording {name!r}; use --force to refit it")  # fmt: skip
        todo = {n: j for n, j in jobs.items() if args.force or finished.get(n, (None, None))[1] != j.fingerprint}
        summaries, timings = {}, {}
        for name in set(jobs) - set(todo):
            summaries[name], timings[name] = batch.rows(finished[name][0])
        print(f"fit-batch: {len(recordings)} recordings: {len(jobs) - len(todo)} already fitted (kept), "
              f"{len(todo)} to fit, {len(failures)} unusable", file=sys.stderr)  # fmt: skip
        names = list(recordings)
        batch.write_tables(summaries, timings, failures, names)

        written = [time.monotonic()]

        def on_done(name: str, outcome) -> None:
            if isinstance(outcome, Failure):
                failures[name] = outcome.reason
            else:
                job = jobs[name]
                extra = {"batch": {"recording": name, "fingerprint": job.fingerprint, "run_seed": settings.seed}}
                folder = batch.write_result(name, outcome, job.data, extra)
                summaries[name], timings[name] = batch.rows(folder)
            if time.monotonic() - written[0] > TABLES_EVERY_S:  # the tables are rebuilt from the folders on resume
                batch.write_tables(summaries, timings, failures, names)
                written[0] = time.monotonic()

        try:
            run_jobs(run_fit_job, todo, on_done, scheduler=address, workers=workers, what="fit-batch")
        except KeyboardInterrupt:
            batch.write_tables(summaries, timings, failures, names)
            raise CommandFailed(f"interrupted; {len(summaries)} recording(s) fitted and kept in {args.out}; "
                                "rerun the same command to resume", 130) from None  # fmt: skip
        batch.write_tables(summaries, timings, failures, names)
    out = Path(args.out).resolve()
    print(f"fit-batch: {len(summaries)} fitted, {len(failures)} failed; summary: {out / 'batch_summary.csv'}")
    for name, reason in sorted(failures.items()):
        print(f"failed: {name} ({folder_name(name)}): {reason}")
    return 1 if failures else 0


COMMANDS = {"fit-batch": (add_parser, run)}
