"""``vrest run STUDY.toml``: fit, compare, sensitivity and report in one command.

A study file (see :mod:`vrest.study`) with, optionally, ``models = ["ghk", "mullins-noda"]``
(fit each, then compare by PSIS-LOO) and a ``[sensitivity]`` table. Everything goes into
one folder: ``fits/<model>/`` (each written atomically as it finishes), ``compare.csv``,
``sensitivity/``, ``report.html`` (with its Markdown twin) and ``run.json`` (the marker,
written first and updated as the run ends: a run cut short says so).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def add_parser(sub) -> None:
    """Add ``run`` to the ``vrest`` sub-command parsers."""
    p = sub.add_parser("run", help="run a whole study: fit, compare, sensitivity, report",
                       description=__doc__.splitlines()[0])  # fmt: skip
    p.add_argument("study", help="TOML study file")
    p.add_argument("--out", help="output folder (default: the study's `out`, else runs/<study name>)")
    p.add_argument("--force", action="store_true", help="replace an earlier vrest run in the output folder (never other files)")


def run(args: argparse.Namespace) -> int:
    """Run the study; prints where the report is."""
    from .. import folders
    from ..data import load_recordings
    from ..study import fit_settings, load_study
    from .fit import compare_into, fit_models
    from .main import CommandFailed

    study = load_study(args.study)
    out = Path(args.out) if args.out else study.out or Path("runs") / Path(args.study).stem
    if (study.data is None) == (not study.traces):
        raise ValueError(f"{args.study}: give `data` (a table) or `traces` (raw recordings), one of the two")
    models = list(study.models or [study.model or "ghk"])
    settings = [fit_settings(study, m) for m in models]  # every value checked before any work
    plan = study.sensitivity
    info = {"command": "vrest run", "study": str(args.study), "models": models}
    inputs = [p for p in (study.data, study.path, study.epochs, *study.traces) if p is not None]
    with folders.claim(out, "run", args.force, inputs):
        out.mkdir(parents=True, exist_ok=True)
        stale = [out / name for name in ("compare.csv", "report.html", "report.md", "report_figures", "sensitivity",
                                         "design", "traces.csv", "traces.json", "traces_figures")]  # fmt: skip
        stale += [f for f in (out / "fits").glob("*") if f.name not in models]  # an earlier run's other models
        for path in stale:
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        mark = lambda status, **kw: folders.write_json(out / "run.json", {**info, "status": status, **kw})
        mark("running")
        data = _extract(study, out) if study.traces else study.data
        extra = {"extraction": _extraction_record(out / "traces.json")} if study.traces else None
        recordings = load_recordings(data, **study.data_options())
        print(recordings.describe())
        done = fit_models(recordings, settings, out / "fits", lambda finished: mark("interrupted", finished=finished),
                          extra, str(args.study))  # fmt: skip
        first = compare_into(out, out / "fits", done["finished"]) or (done["finished"] or models)[0]
        parts = [out / "fits" / m for m in done["finished"]] + ([out / "traces.json"] if study.traces else [])
        try:
            if plan is not None:
                parts.append(_sensitivity(plan, first, settings[0].seed, out))
            if study.design is not None and (out / "fits" / (study.model or models[0])).is_dir():
                parts.append(_design(study.design, out / "fits" / (study.model or models[0]), settings[0].seed, out))
            if parts:
                from ..report import build_report

                print("\nwriting the report ...", file=sys.stderr)
                build_report(parts, out / "report.html", force=True)
        except KeyboardInterrupt:
            mark("interrupted", finished=done["finished"])
            raise CommandFailed(f"interrupted; finished: {', '.join(done['finished']) or 'none'}", 130) from None
        mark("complete" if not done["failed"] else "some models failed", finished=done["finished"],
             failed=done["failed"])  # fmt: skip
    if parts:
        print(f"\nreport: {(out / 'report.html').resolve()}")
    if done["failed"]:
        raise CommandFailed(f"{len(done['failed'])} model(s) failed ({', '.join(done['failed'])}); "
                            f"finished: {', '.join(done['finished']) or 'none'}", 1)  # fmt: skip
    return 0


def _extract(study, run_dir: Path) -> Path:
    """The study's traces as a table of resting potentials per epoch, written into the run folder (traces.csv)."""
    from ..folders import write_extraction
    from ..traces import extract_files

    print("\nextracting resting potentials from the traces ...", file=sys.stderr)
    from ..inference.conditions import solution

    columns = {"K_o_mM": "K", "Na_o_mM": "Na", "Cl_o_mM": "Cl", "Ca_o_mM": "Ca"}
    named = {name: solution(name, study.solutions, f"{study.path}: solutions") for name in study.solutions}
    solutions = {name: {c: sol.concentration(ion) for c, ion in columns.items() if sol.concentration(ion) > 0}
                 for name, sol in named.items()} or None  # fmt: skip
    result = extract_files([str(p) for p in study.traces], epochs=str(study.epochs) if study.epochs else None,
                           solutions=solutions, figures=True, **dict(study.extract))  # fmt: skip
    return write_extraction(result.table, result.figures, run_dir / "traces.csv", True, result.settings)


def _extraction_record(marker: Path) -> dict:
    """What a fit records of the extraction it was made from: the settings and the file (relative to the run)."""
    import json

    info = json.loads(marker.read_text())
    return {"table": "../../traces.csv", "marker": "../../traces.json",
            **{k: v for k, v in info.items() if k not in ("files", "versions", "figure_files")}}  # fmt: skip


def _design(plan, fit_dir: Path, default_seed: int, run_dir: Path) -> Path:
    """The next-experiment ranking of the study's [design] table for the fit in ``fit_dir``, into run_dir/design."""
    from ..design import default_candidates, fit_belief, rank
    from ..folders import write_design
    from .design import read_candidates, summary

    print("\nnext experiment ...", file=sys.stderr)
    belief, base, notes = fit_belief(str(fit_dir), plan.draws)
    candidates = read_candidates(str(plan.candidates)) if plan.candidates else default_candidates(base, tuple(belief.names))
    ranking = rank(belief, candidates, base, targets=list(plan.targets) if plan.targets else None,
                   seed=plan.seed if plan.seed is not None else default_seed, exact=plan.exact, n_outer=plan.outer,
                   choose=plan.choose)  # fmt: skip
    print(summary(ranking))
    extra = {"fit": "../fits/" + fit_dir.name, "candidates_file": str(plan.candidates) if plan.candidates else None,
             "default_candidates": plan.candidates is None, "notes": notes}  # fmt: skip
    return write_design(ranking, run_dir / "design", force=True, extra=extra)


def _sensitivity(plan, default_model: str, default_seed: int, run_dir: Path) -> Path:
    """Run the study's Sobol' analysis into run_dir/sensitivity, with the fit's posterior where there is one; of the
    study's model, else ``default_model`` (the favoured fit of the comparison)."""
    from ..folders import write_sensitivity
    from ..sensitivity import sobol_analysis

    print("\nSobol' sensitivity ...", file=sys.stderr)
    model = plan.model or default_model
    fitted = run_dir / "fits" / model
    posterior = fitted if plan.posterior and fitted.is_dir() else None
    folder = run_dir / "sensitivity"
    result = sobol_analysis(
        model,
        list(plan.scenarios),
        seed=plan.seed if plan.seed is not None else default_seed,
        n=plan.n,
        second_order=plan.second_order,
        k_o_grid=plan.k_o_grid,
        posterior=posterior,
    )
    write_sensitivity(result, folder, force=True, relative_to=folder)
    return folder


COMMANDS = {"run": (add_parser, run)}
