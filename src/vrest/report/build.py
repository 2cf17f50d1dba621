"""``build_report``: load folders, draw the figures, write report.html, report.md and the figure files."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .content import assemble
from .figures import encode
from .load import split_runs
from .render import to_html, to_markdown


def outputs(out_html: str | os.PathLike) -> tuple[Path, Path, Path]:
    """(HTML file, Markdown twin, figure folder) for ``out_html``: report.html -> report.md, report_figures/."""
    out = Path(out_html)
    return out, out.with_suffix(".md"), out.with_name(f"{out.stem}_figures")


def build_report(folders: list[str | os.PathLike], out_html: str | os.PathLike, *, force: bool = False) -> Path:
    """Write the uncertainty report of fit and sensitivity ``folders``; returns the HTML path.

    Raises ValueError (one line, naming the folder) for a folder that is not a vrest output
    or fits of different data sets, and FileExistsError when an output exists without ``force``.
    """
    import matplotlib

    matplotlib.use("Agg")
    html_path, md_path, fig_dir = outputs(out_html)
    if html_path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"--out: expected a file name ending in .html, got {html_path}")
    existing = [p for p in (html_path, md_path, fig_dir) if p.exists()]
    if existing and not force:
        raise FileExistsError(f"--out: {existing[0]} exists; use --force to replace it")
    fits, sens = split_runs([Path(f) for f in folders])
    blocks, figures = assemble(fits, sens)
    encoded = {name: encode(fig) for name, fig in figures.items()}
    title = "vrest uncertainty report" + (f": {fits[0].info['data']['source']}" if fits else "")
    html_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{html_path.stem}.tmp-", dir=html_path.parent))
    try:
        (tmp / "figures").mkdir()
        for name, (png, svg) in encoded.items():
            (tmp / "figures" / f"{name}.png").write_bytes(png)
            (tmp / "figures" / f"{name}.svg").write_text(svg)
        (tmp / "report.html").write_text(to_html(title, blocks, {k: v[0] for k, v in encoded.items()}))
        (tmp / "report.md").write_text(to_markdown(title, blocks, fig_dir.name))
        if fig_dir.exists():
            shutil.rmtree(fig_dir)
        os.replace(tmp / "figures", fig_dir)
        os.replace(tmp / "report.md", md_path)
        os.replace(tmp / "report.html", html_path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return html_path
