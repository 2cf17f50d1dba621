"""``vrest``: the parser built from one registry of commands, and the error policy of every command.

Each family module (``models``, ``fit``, ``batch``, ``extract``, ``sensitivity``, ``report``, ``run``, ``design``, ``solutions``)
has ``COMMANDS = {name: (add_parser, run)}``; the modules import only light parts of
vrest at import time, so ``vrest --help`` stays fast, and a command's heavy imports
happen when it runs. Every error is one line on stderr naming the flag, file, row or
column and what was expected: exit code 2 for bad input, 1 for a computation that
could not be completed, 3 for ``--strict`` diagnostics, 130 for Ctrl-C.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Sequence
from importlib import import_module

from .. import __version__
from ..machine import solver_threads
from ..models.solver import SolverError
from .common import Parser, UsageError, flagged

FAMILIES = ("models", "fit", "batch", "extract", "sensitivity", "report", "run", "design", "solutions")
"""The command modules of this package, in the order their commands appear in ``vrest --help``."""


class CommandFailed(Exception):
    """A command that ran but must end with a given exit code (its message already says why)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def commands() -> dict[str, tuple[Callable, Callable]]:
    """Every command: name -> (add_parser(subparsers), run(args) -> exit code or None)."""
    out: dict[str, tuple[Callable, Callable]] = {}
    for family in FAMILIES:
        out |= import_module(f".{family}", __package__).COMMANDS
    return out


def build_parser() -> Parser:
    """The ``vrest`` argument parser."""
    parser = Parser(prog="vrest", description="Resting-potential models, Bayesian fits of recordings, "
                    "sensitivity analysis and uncertainty reports.")  # fmt: skip
    parser.add_argument("--version", action="version", version=f"vrest {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for add, _ in commands().values():
        add(sub)
    return parser


def _os_error(err: OSError) -> str:
    where = err.filename if err.filename is not None else ""
    return f"vrest: error: {where}{': ' if where else ''}{err.strerror or err}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vrest`` command; returns the exit code."""
    warnings.showwarning = lambda msg, *a, **k: print(f"vrest: warning: {flagged(str(msg))}", file=sys.stderr)
    try:
        args = build_parser().parse_args(argv)
        solver_threads()  # a bad $VREST_THREADS or $OMP_NUM_THREADS is reported before any work
        return commands()[args.command][1](args) or 0
    except UsageError as err:
        print(f"{err}", file=sys.stderr)
        return 2
    except CommandFailed as err:
        print(f"vrest: {err}", file=sys.stderr)
        return err.code
    except (ValueError, FileExistsError) as err:
        print(f"vrest: error: {flagged(str(err))}", file=sys.stderr)
        return 2
    except SolverError as err:
        print(f"vrest: could not solve: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("vrest: interrupted; nothing partial was written", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
    except OSError as err:  # a folder that cannot be written, a path that is not a folder, ...
        print(_os_error(err), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
