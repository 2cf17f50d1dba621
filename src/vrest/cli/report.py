"""``vrest report``: one self-contained HTML uncertainty report from fit and sensitivity folders.

Only argparse loads here; matplotlib, xarray and ArviZ load when the command runs.
Bad input raises ValueError (one line naming the folder; vrest's main() exits with code 2).
"""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``report`` sub-command to ``vrest``'s sub-parsers."""
    text = "one self-contained HTML uncertainty report (and a Markdown twin) from fit and sensitivity folders"
    p = subparsers.add_parser("report", help=text, description=text)
    p.add_argument("folders", nargs="+", metavar="DIR", help="output folders of `vrest fit` and `vrest sensitivity`")
    p.add_argument("--out", required=True, metavar="FILE.html",
                   help="the HTML file; FILE.md and FILE_figures/ (PNG and SVG) are written beside it")  # fmt: skip
    p.add_argument("--force", action="store_true", help="replace an earlier vrest report at FILE.html (never other files)")
    return p


def run(args: argparse.Namespace) -> int:
    """Build the report; prints where it is. Returns the exit code (0)."""
    from ..folders import report_paths
    from ..report import build_report

    html_path, md_path, fig_dir = report_paths(args.out)
    build_report(args.folders, args.out, force=args.force)
    print(f"report: {html_path.resolve()}")
    print(f"markdown: {md_path.resolve()} (figures in {fig_dir.resolve()})")
    return 0


COMMANDS = {"report": (add_parser, run)}
