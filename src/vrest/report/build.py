"""``build_report``: read folders, draw the figures, assemble the page; :mod:`vrest.folders` writes it."""

from __future__ import annotations

import os
from pathlib import Path

from .content import assemble
from .figures import encode
from .load import split_runs
from .render import to_html, to_markdown


def build_report(folders: list[str | os.PathLike], out_html: str | os.PathLike, *, force: bool = False) -> Path:
    """Write the uncertainty report of fit and sensitivity ``folders``; returns the HTML path.

    Raises ValueError (one line, naming the folder) for a folder that is not a vrest output
    or fits of different data sets, and FileExistsError when an output exists without ``force``
    (or is not a vrest report).
    """
    import matplotlib

    from ..folders import GENERATOR, report_target, write_report

    matplotlib.use("Agg")
    _, _, fig_dir = report_target(out_html, force)
    fits, sens, designs = split_runs([Path(f) for f in folders])
    blocks, figures = assemble(fits, sens, designs)
    encoded = {name: encode(fig) for name, fig in figures.items()}
    title = GENERATOR + (f": {fits[0].info['data']['source']}" if fits else "")
    return write_report(out_html, to_html(title, blocks, {k: v[0] for k, v in encoded.items()}),
                        to_markdown(title, blocks, fig_dir.name), encoded, force)  # fmt: skip
