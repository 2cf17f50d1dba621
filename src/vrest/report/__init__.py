"""The uncertainty report (``vrest report``): one self-contained HTML page and a Markdown twin.

Quick use::

    from vrest.report import build_report
    build_report(["fits/ghk", "fits/mullins_noda", "sens/kalaemia"], "report.html")
"""

from __future__ import annotations

from .build import build_report

__all__ = ["build_report"]
