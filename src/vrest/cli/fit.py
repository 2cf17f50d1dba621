"""``vrest fit`` and ``vrest compare``: Bayesian fits of recordings, and their PSIS-LOO comparison."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from ..models import fixable_inputs
from ..parameters import PARAMS
from ..presets import DEFAULT_PRESET
from ..study import fittable_models, kelvin
from .common import temp_dest


def add_fit(sub) -> None:
    """``vrest fit``."""
    models = ", ".join(fittable_models())
    p = sub.add_parser("fit", help="Bayesian fit of V_m against K_o (PyMC, NUTS)",
                       description="Fit permeability ratios / conductances and the pump to recordings.")  # fmt: skip
    p.add_argument("data", nargs="?", help="CSV of recordings (K_o_mM, V_m_mV, ...); or give `data` in --study")
    p.add_argument("--model", help=f"(required here or in --study) one of {models}, or all (fit each, then compare)")
    p.add_argument("--out", required=True, help="output folder (created atomically; an existing vrest fit needs --force)")
    p.add_argument("--seed", type=int, help="random seed for the whole run, 0 to 2**63-1 (default 0)")
    p.add_argument("--force", action="store_true", help="replace an earlier vrest fit in --out (never other files)")
    p.add_argument("--strict", action="store_true", help="exit with code 3 if the diagnostics report a problem")
    add_fit_options(p)


def add_fit_options(p: argparse.ArgumentParser) -> None:
    """The options that define a fit besides the data, the model and the seed (shared with ``fit-batch``)."""
    p.add_argument("--preset", help=f"preparation for assumed concentrations (default {DEFAULT_PRESET})")
    p.add_argument("--study", help="TOML study file (data, model, preset, fixed values, conditions, priors)")
    p.add_argument("--no-pump", action="store_true", default=None, help="do not fit a pump term")
    p.add_argument("--uncertain", nargs="+", default=None, metavar="NAME",
                   help="fixed inputs to fit as nuisance parameters with a log-normal prior (e.g. k_i)")  # fmt: skip
    p.add_argument("--likelihood", choices=["normal", "student-t"], help="residual distribution (default normal)")
    p.add_argument("--hierarchical", choices=["auto", "yes", "no"],
                   help="partial pooling across cells (default auto: when cells have several measurements)")  # fmt: skip
    p.add_argument("--k-replaces-na", action="store_true", default=None,
                   help="K+ was raised by replacing Na+ (Na_o + K_o constant; reference K_o: --k-o-reference, "
                        "default the lowest K_o recorded)")  # fmt: skip
    p.add_argument("--k-o-reference", type=float, metavar="X",
                   help="with --k-replaces-na: the K_o (mM) at which Na_o has its assumed value")
    p.add_argument("--error-column", help="column holding an error bar of each mean (with --error-kind)")
    p.add_argument("--error-kind", choices=["sem", "sd"], help="what --error-column holds (an assumption you own)")
    p.add_argument("--columns", nargs="+", metavar="NAME=HEADER",
                   help='map the file\'s headers to vrest\'s names, e.g. K_o_mM="K+ (mM)" V_m_mV=Vm')  # fmt: skip
    p.add_argument("--g-tot-ns", type=float, help="total membrane conductance, nS (pump current and ATP rate)")
    p.add_argument("--chains", type=int, help="NUTS chains, 1-64 (default 4)")
    p.add_argument("--draws", type=int, help="draws per chain after tuning, >= 10 (default 1000; 3000 for rectifying-kir)")
    p.add_argument("--tune", type=int, help="tuning draws per chain, >= 10 (default 1000)")
    group = p.add_argument_group("assumed fixed values (override the preset; units in brackets)")
    for name in fixable_inputs():
        text = "temperature, degrees C" if name == "temp_k" else f"{PARAMS[name].doc}, {PARAMS[name].unit}"
        group.add_argument(PARAMS[name].flag, dest=temp_dest(name), type=float, metavar="X", help=text)


def columns(tokens: list[str] | None) -> dict[str, str] | None:
    """--columns NAME=HEADER ... as a mapping; ValueError naming the token otherwise."""
    if tokens is None:
        return None
    out = {}
    for token in tokens:
        name, sep, header = token.partition("=")
        if not sep or not name.strip() or not header.strip():
            raise ValueError(f"--columns: expected NAME=HEADER (e.g. K_o_mM=\"K+ (mM)\"), got {token!r}")
        out[name.strip()] = header.strip().strip("\"'")
    return out


def overrides(args: argparse.Namespace) -> dict:
    """The FitSettings fields given as flags (None where not given; temperatures in K)."""
    fixed = {}
    for name in fixable_inputs():
        value = getattr(args, temp_dest(name), None)
        if value is not None:
            fixed[name] = kelvin(value, "--temp-c") if name == "temp_k" else value
    if args.k_o_reference is not None:
        fixed["k_o_reference"] = args.k_o_reference
    return {"seed": getattr(args, "seed", None), "preset": args.preset, "chains": args.chains, "draws": args.draws,
            "tune": args.tune, "likelihood": args.likelihood, "no_pump": args.no_pump, "fixed": fixed,
            "k_replaces_na": args.k_replaces_na,
            "uncertain": tuple(args.uncertain) if args.uncertain is not None else None,
            "hierarchical": args.hierarchical, "g_tot_ns": args.g_tot_ns}  # fmt: skip


def data_options(args: argparse.Namespace, study) -> dict:
    """Keyword arguments of load_recordings: the flags, else the study's [data_options]."""
    options = study.data_options() if study is not None else {"error_column": None, "error_kind": None}
    if args.error_column is not None:
        options["error_column"] = args.error_column
    if args.error_kind is not None:
        options["error_kind"] = args.error_kind
    given = columns(args.columns)
    if given is not None:
        options["columns"] = {**options.get("columns", {}), **given}
    return options


def read_study(args: argparse.Namespace):
    """The --study file, read once (None without one)."""
    from ..study import load_study

    return load_study(args.study) if args.study else None


def chosen_models(model: str | None) -> list[str]:
    """The models to fit: one, or every fittable model for ``all``; ValueError naming --model otherwise."""
    names = fittable_models()
    if not model:
        raise ValueError(f"--model: required (here or as `model` in --study): one of {', '.join(names)}, or all")
    if model == "all":
        return names
    if model not in names:
        raise ValueError(f"--model: expected one of {', '.join(names)} or all, got {model!r}")
    return [model]


def run_fit(args: argparse.Namespace) -> int:
    """Fit one model into --out, or every model (``all``) into --out/<model>/ with compare.csv."""
    from .. import folders
    from ..data import load_recordings
    from ..study import fit_settings

    study = read_study(args)
    data = args.data or (study.data if study else None)
    if not data:
        raise ValueError("data: give a CSV file (or `data` in --study)")
    models = chosen_models(args.model or (study.model if study else None))
    settings = [fit_settings(study, m, **overrides(args)) for m in models]  # every flag checked before any work
    protect = [p for p in (data, args.study) if p]
    kind = "fit" if len(models) == 1 else "models"
    with folders.claim(args.out, kind, args.force, protect):
        recordings = load_recordings(data, **data_options(args, study))
        print(recordings.describe())
        if len(models) == 1:
            problems = fit_and_write(recordings, settings[0], Path(args.out), args.force, study=args.study)
        else:
            problems = fit_each(recordings, settings, Path(args.out), {"command": "vrest fit --model all"}, args.study)
    print(f"\noutputs: {Path(args.out).resolve()}")
    if args.strict and problems:
        from .main import CommandFailed

        raise CommandFailed(f"--strict: {len(problems)} diagnostic problem(s)", 3)
    return 0


def fit_models(recordings, settings: list, folder: Path, on_interrupt: Callable[[list[str]], None],
               extra: dict | None = None, study: str | None = None) -> dict:  # fmt: skip
    """Fit every model into ``folder/<model>/``, each folder written atomically as it finishes.

    A model that fails is reported and the others go on; Ctrl-C keeps the finished models, calls
    ``on_interrupt(finished)`` and exits 130 naming them. Returns {"finished", "failed", "problems"}.
    """
    from .main import CommandFailed

    finished: list[str] = []
    failed: dict[str, str] = {}
    problems: list[str] = []
    try:
        for s in settings:
            try:
                problems += fit_and_write(recordings, s, folder / s.model, force=True, extra=extra, study=study)
                finished.append(s.model)
            except (ValueError, RuntimeError, ArithmeticError) as err:
                failed[s.model] = str(err)
                print(f"vrest: error: {s.model}: {err}", file=sys.stderr)
    except KeyboardInterrupt:
        on_interrupt(finished)
        raise CommandFailed(f"interrupted; finished: {', '.join(finished) or 'none'}", 130) from None
    return {"finished": finished, "failed": failed, "problems": problems}


def compare_into(folder: Path, fits_dir: Path, models: list[str]) -> str | None:
    """compare.csv of the fitted ``models`` (when there are two or more), printed with what it says; the folder name
    of the favoured fit (:func:`vrest.inference.compare.favoured`), None with fewer than two models."""
    from ..folders import write_compare
    from ..inference.compare import compare_fits, favoured, verdict

    if len(models) < 2:
        return None
    table = compare_fits([fits_dir / m for m in models])
    write_compare(table, folder / "compare.csv")
    print("\nmodel comparison (PSIS-LOO; best first):")
    print(table.to_string(index=False))
    for line in verdict(table):
        print(line)
    label = favoured(table)
    return next(m for m in models if label.endswith(f"({m})"))


def fit_each(recordings, settings: list, out: Path, info: dict, study: str | None = None) -> list[str]:
    """``vrest fit --model all``: every model into ``out/<model>/``, compare.csv, and models.json (the marker,
    written first and updated as the run ends). Exit 1 when a model failed, 130 on Ctrl-C."""
    from .. import folders
    from .main import CommandFailed

    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.csv").unlink(missing_ok=True)
    mark = lambda status, **kw: folders.write_json(out / "models.json", {**info, "status": status, **kw})
    mark("running", models=[s.model for s in settings])
    done = fit_models(recordings, settings, out, lambda finished: mark("interrupted", models=finished), study=study)
    compare_into(out, out, done["finished"])
    mark("complete" if not done["failed"] else "some models failed", models=done["finished"], failed=done["failed"])
    if done["failed"]:
        raise CommandFailed(f"{len(done['failed'])} model(s) failed ({', '.join(done['failed'])}); "
                            f"finished: {', '.join(done['finished']) or 'none'}", 1)  # fmt: skip
    return done["problems"]


STUDY_TABLES = ("conditions.", "fixed", "condition '", "solutions.")
"""How an error about a study file's tables begins (build_design names the table, not the file)."""


def fit_and_write(recordings, settings, out: Path, force: bool, extra: dict | None = None, study: str | None = None,
                  ) -> list[str]:  # fmt: skip
    """Fit one model, print its story (header, assumptions, structure, table, warnings) and write its folder.
    ``study``: the study file the settings came from, named in an error about one of its tables."""
    from .. import folders
    from ..inference.fit import fit

    print(f"\n# {settings.model}: fitting, seed {settings.seed}", flush=True)
    try:
        result = fit(recordings, settings)
    except ValueError as err:
        if study and str(err).startswith(STUDY_TABLES):
            raise ValueError(f"{study}: {err}") from None
        raise
    story = fit_story(result)
    print(story)
    folders.write_fit(result, recordings, out, force, extra=extra, log=story + "\n")
    return result.problems


def fit_story(result) -> str:
    """What a fit found, as printed and kept in fit.log."""
    s = result.settings
    lines = [f"# {s.model}: {'hierarchical' if result.hierarchical else 'pooled'} model, seed {s.seed}"]
    for a in result.design.assumptions:
        unit = "" if a["unit"] in ("1", "") else f" {a['unit']}"
        lines.append(f"assumption: {a['input']} = {a['value']}{unit} ({a['source']}; {a['applies_to']})")
    lines += [f"structure: {line}" for line in result.structure]
    lines += [f"advice: {line}" for line in result.advice]
    lines += [f"note: {note}" for note in result.notes]
    cols = ["parameter", "mean", "sd", "q5", "q50", "q95", "r_hat", "ess_bulk", "contraction"]
    lines.append(result.summary[cols].to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    if result.cells is not None and len(result.cells):
        lines.append("per cell (posterior mean [90% interval]):")
        lines.append(result.cells.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    lines += [f"WARNING: {problem}" for problem in result.problems]
    if not result.problems:
        lines.append("diagnostics: no problems (R-hat <= 1.01, ESS >= 400, no divergences)")
    findings = result.adequacy.get("findings", [])
    lines += [f"MISFIT: {finding}" for finding in findings]
    if not findings:
        lines.append("adequacy: no systematic misfit found (levels, runs of residual signs, posterior predictive check)")
    return "\n".join(lines)


def add_compare(sub) -> None:
    """``vrest compare``."""
    c = sub.add_parser("compare", help="PSIS-LOO comparison of fits of the same data")
    c.add_argument("folders", nargs="+", help="fit output folders")
    c.add_argument("--out", help="also write the table to this CSV file")
    c.add_argument("--force", action="store_true", help="replace an existing --out file written by vrest compare")


def run_compare(args: argparse.Namespace) -> int:
    """Print the comparison table and what it says; optionally write it as CSV."""
    from ..folders import check_compare_target, read_fit, write_compare
    from ..inference.compare import compare_fits, verdict

    fits = [read_fit(f) for f in args.folders]
    if args.out:
        if Path(args.out).resolve() in {Path(f).resolve() for f in args.folders}:
            raise ValueError(f"--out: {args.out} is one of the fit folders")
        check_compare_target(args.out, args.force)  # before the work
    table = compare_fits(fits)
    if args.out:
        write_compare(table, args.out, args.force)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    for line in verdict(table):
        print(line)
    return 0


COMMANDS = {"fit": (add_fit, run_fit), "compare": (add_compare, run_compare)}
