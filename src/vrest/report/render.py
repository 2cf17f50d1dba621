"""Render report blocks as one self-contained HTML page and as Markdown."""

from __future__ import annotations

import base64
import html
import math
from numbers import Number

import pandas as pd

from .blocks import Block, Bullets, Fig, Heading, Para, Table, Verdict

CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:2px solid #ccc;margin-top:2em}h3{margin-top:1.4em}
table{border-collapse:collapse;font-size:12px;margin:.6em 0;display:block;overflow-x:auto}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#f2f2f2}
td:first-child,th:first-child{text-align:left}caption{caption-side:bottom;text-align:left;color:#555;font-size:12px}
figure{margin:1em 0}figure img{max-width:100%;height:auto}figcaption{color:#555;font-size:13px}
.verdict{padding:.5em .8em;border-radius:4px;border-left:6px solid}
.green{background:#e7f6e7;border-color:#2e8b2e}.amber{background:#fff4dc;border-color:#e0a000}
.red{background:#fde4e4;border-color:#c62828}
@media print{body{max-width:none;margin:0;font-size:11pt}h2{break-before:auto;break-after:avoid}
figure,table,.verdict{break-inside:avoid}table{display:table;font-size:8pt}}
"""

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
"""Nothing but the embedded figures and style may load: the page never reaches the network."""


def fmt(x: object) -> str:
    """A table cell: numbers to 4 significant digits, missing values empty."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, Number):
        return f"{x:.4g}"
    return str(x)


def _rows(frame: pd.DataFrame) -> list[list[str]]:
    return [[fmt(v) for v in row] for row in frame.itertuples(index=False)]


def to_html(title: str, blocks: list[Block], pngs: dict[str, bytes]) -> str:
    """One HTML page; figures embedded as base64 PNG, nothing fetched from elsewhere."""
    e = html.escape
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title>",
             "<meta name='viewport' content='width=device-width, initial-scale=1'>",
             f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">",
             f"<style>{CSS}</style></head><body><h1>{e(title)}</h1>"]  # fmt: skip
    for b in blocks:
        match b:
            case Heading(text, level):
                parts.append(f"<h{level} id='{_anchor(text)}'>{e(text)}</h{level}>")
            case Para(text):
                parts.append(f"<p>{e(text)}</p>")
            case Bullets(items):
                parts.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in items) + "</ul>")
            case Verdict(colour, text):
                parts.append(f"<p class='verdict {colour}'>{e(text)}</p>")
            case Table(frame, caption):
                head = "".join(f"<th>{e(str(c))}</th>" for c in frame.columns)
                body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in _rows(frame))
                cap = f"<caption>{e(caption)}</caption>" if caption else ""
                parts.append(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            case Fig(name, caption):
                data = base64.b64encode(pngs[name]).decode()
                parts.append(f"<figure id='fig-{e(name)}'><img alt='{e(caption)}' src='data:image/png;base64,{data}'>"
                             f"<figcaption>{e(caption)}</figcaption></figure>")  # fmt: skip
    parts.append("</body></html>\n")
    return "\n".join(parts)


def md(text: str) -> str:
    """Text for Markdown: escaped as the HTML is (&, <, >, quotes), so no tag or attribute from the data survives
    in a renderer that passes HTML through; brackets, backticks and backslashes escaped so no link, image or code
    span forms; pipes escaped and newlines joined so a table cell stays one cell."""
    text = html.escape(str(text)).replace("\\", "\\\\")
    for c in "[]`|":
        text = text.replace(c, "\\" + c)
    return text.replace("\r", " ").replace("\n", " ")


def to_markdown(title: str, blocks: list[Block], figure_dir: str) -> str:
    """The Markdown twin; figures referenced as PNG (with an SVG link) in ``figure_dir``. Every text is escaped
    (:func:`md`)."""
    lines = [f"# {md(title)}", ""]
    for b in blocks:
        match b:
            case Heading(text, level):
                lines += ["#" * level + " " + md(text), ""]
            case Para(text):
                lines += [md(text), ""]
            case Bullets(items):
                lines += [f"- {md(i)}" for i in items] + [""]
            case Verdict(_, text):
                lines += [f"> {md(text)}", ""]
            case Table(frame, caption):
                lines.append("| " + " | ".join(md(c) for c in frame.columns) + " |")
                lines.append("|" + "---|" * len(frame.columns))
                lines += ["| " + " | ".join(md(c) for c in row) + " |" for row in _rows(frame)]
                lines += ["", f"*{md(caption)}*", ""] if caption else [""]
            case Fig(name, caption):
                lines += [f"![{md(caption)}]({figure_dir}/{name}.png)", "",
                          f"*{md(caption)}* ([SVG]({figure_dir}/{name}.svg))", ""]  # fmt: skip
    return "\n".join(lines).rstrip() + "\n"


def _anchor(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
