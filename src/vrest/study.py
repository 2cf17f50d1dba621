"""``vrest run STUDY.toml``: fit, compare, sensitivity and report in one command.

A study file is a fit study (see ``vrest fit --study``) with, optionally,
``models = ["ghk", "mullins-noda"]`` (fit each, then compare by PSIS-LOO) and a
``[sensitivity]`` table (``model``, ``scenarios``, ``n``, ``seed``, ``k_o_grid``,
``posterior``: draw the membrane parameters from this study's fit of that model,
default true when the model was fitted).
Everything is written into one folder, atomically: ``fits/<model>/``,
``compare.csv``, ``sensitivity/``, and ``report.html`` (with its Markdown twin).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SENSITIVITY_KEYS = {"model", "scenarios", "n", "seed", "k_o_grid", "second_order", "posterior"}


def add_parser(sub) -> None:
    """Add ``run`` to the ``vrest`` sub-command parsers."""
    p = sub.add_parser("run", help="run a whole study: fit, compare, sensitivity, report",
                       description=__doc__.splitlines()[0])  # fmt: skip
    p.add_argument("study", help="TOML study file")
    p.add_argument("--out", help="output folder (default: the study's `out`, else runs/<study name>)")
    p.add_argument("--force", action="store_true", help="replace an existing output folder")


def run(args: argparse.Namespace) -> int:
    """Run the study; prints where the report is."""
    from ._atomic import OutputExistsError, write_atomically
    from .cli import build_parser
    from .data import load_recordings
    from .inference.cli import _fit_one, _study, settings_from
    from .inference.compare import compare_fits

    study = _study(args.study)
    out = Path(args.out or study.get("out") or Path("runs") / Path(args.study).stem)
    if out.exists() and not args.force:
        raise OutputExistsError(f"--out: {out} exists; use --force to replace it")
    models = list(study.get("models") or [study.get("model") or "ghk"])
    sensitivity = study.get("sensitivity")
    if sensitivity is not None:
        unknown = sorted(set(sensitivity) - SENSITIVITY_KEYS)
        if unknown:
            raise ValueError(f"{args.study}: sensitivity: unknown key {unknown[0]!r}; expected {', '.join(sorted(SENSITIVITY_KEYS))}")
    if not study.get("data"):
        raise ValueError(f"{args.study}: `data` is required")
    options = study.get("data_options", {})
    recordings = load_recordings(study["data"], error_column=options.get("error_column"), error_kind=options.get("error_kind"))
    print(recordings.describe())

    def fill(tmp: Path) -> None:
        folders = []
        for model in models:
            fit_args = build_parser().parse_args(["fit", "--study", args.study, "--model", model, "--out", str(tmp)])
            _fit_one(recordings, settings_from(fit_args, model), tmp / "fits" / model, False)
            folders.append(tmp / "fits" / model)
        if len(folders) > 1:
            table = compare_fits(folders)
            table.to_csv(tmp / "compare.csv", index=False, float_format="%.6g")
            print("\nmodel comparison (PSIS-LOO; best first):\n" + table.to_string(index=False))
        if sensitivity is not None:
            folders.append(_sensitivity(sensitivity, models[0], study.get("seed", 0), tmp))
        from .report import build_report

        print("\nwriting the report ...", file=sys.stderr)
        build_report(folders, tmp / "report.html")

    write_atomically(out, fill, args.force)
    print(f"\nreport: {(out / 'report.html').resolve()}")
    return 0


def _sensitivity(spec: dict, default_model: str, default_seed: int, run_dir: Path) -> Path:
    """Run the study's Sobol' analysis into run_dir/sensitivity, with the fit's posterior where there is one."""
    from .sensitivity import sobol_analysis, write_outputs

    print("\nSobol' sensitivity ...", file=sys.stderr)
    model = spec.get("model", default_model)
    fitted = run_dir / "fits" / model
    posterior = fitted if spec.get("posterior", True) and fitted.is_dir() else None
    folder = run_dir / "sensitivity"
    result = sobol_analysis(
        model,
        spec.get("scenarios", ["hypokalaemia", "normokalaemia", "hyperkalaemia"]),
        seed=int(spec.get("seed", default_seed)),
        n=int(spec.get("n", 1024)),
        second_order=bool(spec.get("second_order", False)),
        k_o_grid=spec.get("k_o_grid"),
        posterior=posterior,
    )
    write_outputs(result, folder)
    return folder
