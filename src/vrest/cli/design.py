"""``vrest design``: the next experiment, i.e. which solution or K_o level would shrink a fit's posterior most."""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path


def add_design(sub) -> None:
    """``vrest design``."""
    p = sub.add_parser("design", help="the next experiment: which candidate measurement shrinks the posterior most",
                       description="Rank candidate measurements (solutions, K_o levels) by their expected information "
                       "gain about the fit's parameters (nats, on the sampled scale: ln of ratios, mV/pA for the "
                       "pump), and choose the best set greedily.")  # fmt: skip
    p.add_argument("fit", help="a vrest fit folder (pooled fit)")
    p.add_argument("--candidates", metavar="FILE.toml",
                   help="one [candidates.<name>] table per candidate: a study condition's keys plus k_o_mM = [...] "
                        "(mM), n (replicates per level, default 1) and pump_block = true|false (default: more K_o "
                        "levels, Na-free, low-Cl and pump-block variants of the fitted bath)")  # fmt: skip
    p.add_argument("--out", required=True, help="output folder (atomic; an existing design needs --force)")
    p.add_argument("--targets", metavar="P,Q", help="comma-separated parameters to learn about "
                   "(default: every membrane parameter of the fit)")  # fmt: skip
    p.add_argument(
        "--choose", type=int, default=1, metavar="K", help="greedy choice of the best K candidates (default 1)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of every random step, 0 to 2**63-1 (default 0)")
    p.add_argument("--exact", type=int, default=3, metavar="N",
                   help="re-estimate the N best by nested Monte Carlo (default 3; always those near a fold)")  # fmt: skip
    p.add_argument(
        "--outer", type=int, default=500, metavar="N", help="outer samples of nested Monte Carlo (default 500)"
    )
    p.add_argument("--draws", type=int, default=1000, metavar="N",
                   help="posterior draws used, evenly thinned (default 1000)")  # fmt: skip
    p.add_argument("--force", action="store_true", help="replace an earlier vrest design in --out (never other files)")


def read_candidates(path: str) -> list:
    """The candidates of a TOML file; ValueError naming the file (and table and key) when it is not one."""
    from ..design import parse_candidates

    file = Path(path)
    if not file.is_file():
        raise ValueError(
            f"--candidates: {path}: no such file" if not file.exists() else f"--candidates: {path}: not a file"
        )
    try:
        raw = tomllib.loads(file.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"--candidates: {path} is not valid TOML ({err})") from None
    return parse_candidates(raw, path)


def run_design(args: argparse.Namespace) -> int:
    """Score the candidates against the fit's posterior, print the ranking and the recommendation, write --out."""
    from ..folders import claim
    from ..inference.choices import DESIGN_MINIMA
    from ..seeding import check_seed

    check_seed(args.seed)
    for name, lo in DESIGN_MINIMA.items():
        if getattr(args, name) < lo:
            raise ValueError(f"--{name}: expected a whole number >= {lo}, got {getattr(args, name)}")
    targets = [t.strip() for t in args.targets.split(",") if t.strip()] if args.targets is not None else None
    protect = [args.fit] + ([args.candidates] if args.candidates else [])
    with claim(args.out, "design", args.force, protect):
        out = _design(args, targets)
    print(f"\noutputs: {out.resolve()}")
    sys.stdout.flush()
    return 0


def _design(args: argparse.Namespace, targets: list[str] | None) -> Path:
    """Read the candidates and the fit, rank, print, write the design folder; its path."""
    from ..design import default_candidates, fit_belief, rank
    from ..folders import write_design

    candidates = read_candidates(args.candidates) if args.candidates else None  # checked before any work
    belief, base, notes = fit_belief(args.fit, args.draws)
    if candidates is None:
        candidates = default_candidates(base, tuple(belief.names))
    ranking = rank(belief, candidates, base, targets=targets, seed=args.seed, exact=args.exact, n_outer=args.outer,
                   choose=args.choose)  # fmt: skip
    print(summary(ranking))
    for note in notes:
        print(f"note: {note}")
    extra = {"fit": str(args.fit), "candidates_file": args.candidates, "default_candidates": args.candidates is None,
             "notes": notes, "base": {"condition": base.label, "values": dict(base.values),
                                      "na_plus_k_mM": base.na_plus_k, "k_o_levels_mM": list(base.k_o_levels)}}  # fmt: skip
    return write_design(ranking, args.out, force=args.force, extra=extra)


def summary(ranking) -> str:
    """The ranking as printed: a table, the greedy set and the recommendation."""
    lines = [f"targets: {', '.join(ranking.targets)} (sampled scale: {ranking.settings['scale']}); base condition "
             f"{ranking.settings['base_condition']!r}; {ranking.settings['draws']} posterior draws, seed "
             f"{ranking.settings['seed']}"]  # fmt: skip
    head = ["rank", "candidate", "eig_nats", "eig_mc_se", "eig_estimator", *(f"sd_after_{t}" for t in ranking.targets),
            "sd_estimator"]  # fmt: skip
    cells = [head] + [[str(r["rank"]), r["candidate"], f"{r['eig_nats']:.3f}", f"{r['eig_mc_se']:.3f}", r["estimator"],
                       *(f"{r[f'sd_after_{t}']:.3g}" for t in ranking.targets), r["sd_estimator"]]
                      for r in ranking.rows]  # fmt: skip
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.append("sd now: " + ", ".join(f"{t} {ranking.rows[0][f'sd_now_{t}']:.3g}" for t in ranking.targets))
    lines += [f"greedy step {c['step']}: {c['candidate']} (total {c['eig_nats']:.3f} nats, +{c['added_nats']:.3f}; "
              f"{c['estimator']})" for c in ranking.chosen]  # fmt: skip
    lines.append(f"recommendation: {ranking.recommendation}")
    return "\n".join(lines)


COMMANDS = {"design": (add_design, run_design)}
