"""``vrest fit`` and ``vrest compare``: the command-line edge of the fitting pipeline."""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

from ..constants import ZERO_CELSIUS_K
from ..parameters import PARAMS
from ..presets import DEFAULT_PRESET
from .priors import FITTED

FIXED_FLAGS = ("k_i", "na_o", "na_i", "cl_o", "cl_i", "ca_o", "ca_i", "temp_k", "pump_ratio", "perm_k", "g_k",
               "v_half", "k_slope", "k_ref", "kir_n")  # fmt: skip
STUDY_KEYS = {"data", "model", "models", "preset", "seed", "likelihood", "no_pump", "uncertain", "hierarchical",
              "data_options", "fixed", "conditions", "priors", "g_tot_ns", "chains", "draws", "tune",
              "sensitivity", "out"}  # fmt: skip


class StrictFailure(Exception):
    """--strict and the diagnostics found problems (exit code 3)."""


def add_parsers(sub) -> None:
    """Add ``fit`` and ``compare`` to the ``vrest`` sub-command parsers."""
    p = sub.add_parser("fit", help="Bayesian fit of V_m against K_o (PyMC, NUTS)",
                       description="Fit permeability ratios / conductances and the pump to recordings.")  # fmt: skip
    p.add_argument("data", nargs="?", help="CSV of recordings (K_o_mM, V_m_mV, ...); or give `data` in --study")
    p.add_argument("--model", help=f"one of {', '.join(FITTED)}, or all (fit each, then compare)")
    p.add_argument("--out", required=True, help="output folder (created atomically; an existing one needs --force)")
    p.add_argument("--seed", type=int, help="random seed for the whole run, >= 0 (default 0)")
    p.add_argument("--force", action="store_true", help="replace an existing output folder")
    p.add_argument("--strict", action="store_true", help="exit with code 3 if the diagnostics report a problem")
    add_fit_options(p)

    c = sub.add_parser("compare", help="PSIS-LOO comparison of fits of the same data")
    c.add_argument("folders", nargs="+", help="fit output folders")
    c.add_argument("--out", help="also write the table to this CSV file")


def add_fit_options(p) -> None:
    """The options that define a fit besides the data, the model and the seed (shared with ``fit-batch``)."""
    p.add_argument("--preset", help=f"preparation for assumed concentrations (default {DEFAULT_PRESET})")
    p.add_argument("--study", help="TOML study file (data, model, preset, fixed values, conditions, priors)")
    p.add_argument("--no-pump", action="store_true", help="do not fit a pump term")
    p.add_argument("--uncertain", nargs="+", default=None, metavar="NAME",
                   help="fixed inputs to fit as nuisance parameters with a log-normal prior (e.g. k_i)")  # fmt: skip
    p.add_argument("--likelihood", choices=["normal", "student-t"], help="residual distribution (default normal)")
    p.add_argument("--hierarchical", choices=["auto", "yes", "no"],
                   help="partial pooling across cells (default auto: when cells have several measurements)")  # fmt: skip
    p.add_argument("--k-replaces-na", action="store_true", help="K+ was raised by replacing Na+ (Na_o + K_o constant)")
    p.add_argument("--error-column", help="column holding an error bar of each mean (with --error-kind)")
    p.add_argument("--error-kind", choices=["sem", "sd"], help="what --error-column holds (an assumption you own)")
    p.add_argument("--g-tot-ns", type=float, help="total membrane conductance, nS (pump current and ATP rate)")
    p.add_argument("--chains", type=int, help="NUTS chains (default 4)")
    p.add_argument("--draws", type=int, help="draws per chain after tuning (default 1000)")
    p.add_argument("--tune", type=int, help="tuning draws per chain (default 1000)")
    group = p.add_argument_group("assumed fixed values (override the preset; units in brackets)")
    for name in FIXED_FLAGS:
        unit = "degrees C" if name == "temp_k" else PARAMS[name].unit
        group.add_argument(PARAMS[name].flag, dest=name, type=float, metavar="X", help=f"{PARAMS[name].doc}, {unit}")


def data_options(args: argparse.Namespace) -> dict:
    """error_column / error_kind from the flags, else the study's [data_options]."""
    options = _study(args.study).get("data_options", {})
    return {"error_column": args.error_column or options.get("error_column"),
            "error_kind": args.error_kind or options.get("error_kind")}  # fmt: skip


def _study(path: str | None) -> dict:
    if not path:
        return {}
    try:
        study = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ValueError(f"--study: {path} not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"--study: {path} is not valid TOML ({err})") from None
    unknown = sorted(set(study) - STUDY_KEYS)
    if unknown:
        raise ValueError(f"{path}: unknown key {unknown[0]!r}; expected one of {', '.join(sorted(STUDY_KEYS))}")
    return study


def _kelvin(values: dict, where: str) -> dict:
    """Study-file values with temp_c converted to temp_k."""
    out = dict(values)
    if "temp_c" in out:
        out["temp_k"] = float(out.pop("temp_c")) + ZERO_CELSIUS_K
    unknown = sorted(set(out) - set(PARAMS) - {"k_replaces_na", "k_o_reference"})
    if unknown:
        raise ValueError(f"{where}: unknown input {unknown[0]!r}")
    return out


def settings_from(args: argparse.Namespace, model: str):
    """FitSettings from the study file with the flags winning."""
    from .fit import FitSettings

    study = _study(args.study)
    fixed = _kelvin(study.get("fixed", {}), "fixed")
    for name in FIXED_FLAGS:
        value = getattr(args, name)
        if value is not None:
            fixed[name] = value + ZERO_CELSIUS_K if name == "temp_k" else value
    if args.k_replaces_na:
        fixed["k_replaces_na"] = True
    conditions = {label: _kelvin(v, f"conditions.{label}") for label, v in study.get("conditions", {}).items()}
    seed = args.seed if args.seed is not None else study.get("seed", 0)
    pick = lambda flag, key, default: flag if flag is not None else study.get(key, default)
    return FitSettings(
        model=model,
        seed=int(seed),
        preset=pick(args.preset, "preset", DEFAULT_PRESET),
        chains=int(pick(args.chains, "chains", 4)),
        draws=int(pick(args.draws, "draws", 1000)),
        tune=int(pick(args.tune, "tune", 1000)),
        likelihood=pick(args.likelihood, "likelihood", "normal"),
        no_pump=bool(args.no_pump or study.get("no_pump", False)),
        fixed=fixed,
        conditions=conditions,
        uncertain=tuple(pick(args.uncertain, "uncertain", ())),
        priors=study.get("priors", {}),
        hierarchical=pick(args.hierarchical, "hierarchical", "auto"),
        g_tot_ns=pick(args.g_tot_ns, "g_tot_ns", None),
    )


def run_fit(args: argparse.Namespace) -> None:
    from .._atomic import OutputExistsError, write_atomically
    from ..data import load_recordings

    study = _study(args.study)
    data = args.data or study.get("data")
    if not data:
        raise ValueError("data: give a CSV file (or `data` in --study)")
    model = args.model or study.get("model")
    if not model:
        raise ValueError("--model: expected one of " + ", ".join(FITTED) + " or all")
    models = list(FITTED) if model == "all" else [model]
    if models[0] not in FITTED:
        raise ValueError(f"--model: expected one of {', '.join(FITTED)} or all, got {model!r}")
    out = Path(args.out)
    if out.exists() and not args.force:
        raise OutputExistsError(f"--out: {out} exists; use --force to replace it")
    recordings = load_recordings(data, **data_options(args))
    print(recordings.describe())
    settings = [settings_from(args, m) for m in models]
    if len(models) == 1:
        problems = _fit_one(recordings, settings[0], out, args.force)
    else:
        def fill(tmp: Path) -> None:
            nonlocal problems
            problems = []
            for s in settings:
                problems += _fit_one(recordings, s, tmp / s.model, False)
            from .compare import compare_fits

            table = compare_fits([tmp / s.model for s in settings])
            table.to_csv(tmp / "compare.csv", index=False, float_format="%.4g")
            print("\nmodel comparison (PSIS-LOO; best first):")
            print(table.to_string(index=False))

        problems: list[str] = []
        write_atomically(out, fill, args.force)
    print(f"\noutputs: {out.resolve()}")
    if args.strict and problems:
        raise StrictFailure(f"--strict: {len(problems)} diagnostic problem(s)")


def _fit_one(recordings, settings, out: Path, force: bool) -> list[str]:
    from .fit import fit
    from .outputs import write_fit

    result = fit(recordings, settings)
    print(f"\n# {settings.model}: {'hierarchical' if result.hierarchical else 'pooled'} model, seed {settings.seed}")
    for a in result.design.assumptions:
        unit = "" if a["unit"] == "1" else f" {a['unit']}"
        print(f"assumption: {a['input']} = {a['value']}{unit} ({a['source']}; {a['applies_to']})")
    for note in result.notes:
        print(f"note: {note}")
    cols = ["parameter", "mean", "sd", "q5", "q50", "q95", "r_hat", "ess_bulk", "contraction"]
    print(result.summary[cols].to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    for problem in result.problems:
        print(f"WARNING: {problem}")
    if not result.problems:
        print("diagnostics: no problems (R-hat <= 1.01, ESS >= 400, no divergences)")
    write_fit(result, recordings, out, force)
    return result.problems


def run_compare(args: argparse.Namespace) -> None:
    from .compare import compare_fits

    table = compare_fits(args.folders)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    if args.out:
        table.to_csv(args.out, index=False, float_format="%.6g")


def dispatch(args: argparse.Namespace) -> int:
    """Run ``fit`` or ``compare``; the exit code for --strict failures."""
    try:
        (run_fit if args.command == "fit" else run_compare)(args)
    except StrictFailure as err:
        print(f"vrest: {err}", file=sys.stderr)
        return 3
    return 0
