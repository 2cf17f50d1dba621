"""What every benchmark script here shares: the machine line and printing / writing into RESULTS.md."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def machine() -> str:
    """CPU model, core count, Python and NumPy versions."""
    lines = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.processor())
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy {np.__version__}"


def append_to_section(script: str, text: str, intro: str = "") -> None:
    """Add ``text`` at the end of RESULTS.md's ``## script`` section (created, with ``intro``, when missing)."""
    heading = f"## {script}"
    lines = RESULTS.read_text().splitlines()
    if heading not in lines:
        lines += ["", heading, *(["", intro] if intro else [])]
        end = len(lines)
    else:
        start = lines.index(heading) + 1
        end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
        while end > start and not lines[end - 1].strip():  # before the blank lines that close the section
            end -= 1
    lines[end:end] = ["", *text.rstrip("\n").splitlines(), ""]
    RESULTS.write_text("\n".join(lines).rstrip("\n") + "\n")


def publish(script: str, lines: list[str], write: bool, intro: str = "") -> None:
    """Print a benchmark's table and notes and, with ``write``, add them to its section of RESULTS.md."""
    text = "\n".join(lines)
    print(text)
    if write:
        append_to_section(script, text, intro)
