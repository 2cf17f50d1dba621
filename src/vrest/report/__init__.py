"""The uncertainty report (``vrest report``): one self-contained HTML page and a Markdown twin.

Quick use::

    from vrest.report import build_report
    build_report(["fits/ghk", "fits/mullins_noda", "sens/kalaemia"], "report.html")

The modules load on first use, so importing the command line stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_EXPORTS = {
    "build_report": "build",
}

if TYPE_CHECKING:
    from .build import build_report

__all__ = ["build_report"]


__getattr__ = lazy_exports(__name__, _EXPORTS)
