"""One PNG per trace: the trace, its epochs shaded and labelled, the windows used and the values extracted.

Drawn with matplotlib's Agg canvas (no pyplot, no display). The trace is drawn as its
min/max envelope per pixel column, read a slice at a time, so a 20-minute 10 kHz
recording draws as fast as a short one; the numbers never come from this envelope.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from .epochs import Epoch, TagReading
from .readers import Trace
from .steady import Steady

WIDTH_PX, HEIGHT_PX, DPI = 1800, 700, 120
READ_SAMPLES = 2_000_000
"""Samples read at a time while drawing the envelope (16 MB as float64)."""


def envelope(trace: Trace, columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(time s, min mV, max mV) of ``columns`` equal slices of the trace, read READ_SAMPLES at a time."""
    edges = np.unique(np.linspace(0, trace.n_samples, min(columns, trace.n_samples) + 1).astype(np.int64))
    lo, hi = np.empty(edges.size - 1), np.empty(edges.size - 1)
    a = 0
    while a < edges.size - 1:
        b = int(np.searchsorted(edges, edges[a] + READ_SAMPLES, side="right")) - 1
        b = min(max(b, a + 1), edges.size - 1)
        v = trace.read(int(edges[a]), int(edges[b]))
        starts = edges[a:b] - edges[a]
        lo[a:b], hi[a:b] = np.minimum.reduceat(v, starts), np.maximum.reduceat(v, starts)
        a = b
    times = trace.start_s + 0.5 * (edges[:-1] + edges[1:]) / trace.rate_hz
    return times, lo, hi


def trace_figure(trace: Trace, epochs: Sequence[Epoch], steady: Sequence[Steady],
                 windows: Sequence[tuple[float, float]], rows: Sequence[dict], tags: Sequence[TagReading]) -> bytes:  # fmt: skip
    """The PNG (bytes) of one trace with its epochs, windows, extracted V_m +- sem, removed events and tags."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.transforms import blended_transform_factory

    fig = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    times, lo, hi = envelope(trace, WIDTH_PX)
    ax.fill_between(times, lo, hi, color="0.25", linewidth=0.6, edgecolor="0.25", step="mid")
    values = np.array([r["V_m_mV"] for r in rows])
    bottom = min(np.percentile(lo, 0.5), np.nanmin(values) - 2.0)
    top = max(np.percentile(hi, 99.5), np.nanmax(values) + 2.0)
    pad = 0.12 * (top - bottom)
    ax.set_ylim(bottom - pad, top + 2.2 * pad)
    clipped = (lo < bottom - pad).any() or (hi > top + 2.2 * pad).any()
    top_of = blended_transform_factory(ax.transData, ax.transAxes)
    for k, (e, s, w, r) in enumerate(zip(epochs, steady, windows, rows, strict=True)):
        ax.axvspan(e.start_s, e.stop_s, color=("tab:blue", "tab:green")[k % 2], alpha=0.08, linewidth=0)
        name = f"{e.solution.name}\n" if e.solution.name else ""
        ax.text(0.5 * (e.start_s + e.stop_s), 0.985, f"{name}K$_o$ {e.solution.values['K_o_mM']:g} mM",
                transform=top_of, ha="center", va="top", fontsize=8)  # fmt: skip
        excluded = r["excluded"]
        colour = "0.45" if excluded else "tab:red"
        ax.axvspan(w[0], w[1], ymin=0.0, ymax=0.02, color=colour, alpha=0.8, linewidth=0)
        ax.hlines(s.v_mv, w[0], w[1], color=colour, linewidth=2.0, zorder=3)
        ax.fill_between([w[0], w[1]], s.v_mv - 1.96 * s.sem_mv, s.v_mv + 1.96 * s.sem_mv, color=colour, alpha=0.3,
                        linewidth=0, zorder=3)  # fmt: skip
        note = f"{s.v_mv:.2f} ± {s.sem_mv:.2f} mV\n{s.drift_mv_per_min:+.2f} mV/min, {len(s.spikes)} events"
        if r["flags"]:
            note += f"\n{r['flags'].replace(';', ', ')}{' (excluded)' if excluded else ''}"
        ax.text(0.5 * (w[0] + w[1]), 0.86, note, transform=top_of, ha="center", va="top", fontsize=7.5, color=colour)
        if s.spikes:
            ax.plot([a for a, _ in s.spikes], np.full(len(s.spikes), 0.035), "^", transform=top_of, color="tab:orange",
                    markersize=4, linestyle="none")  # fmt: skip
    labels: dict[float, list[str]] = {}
    for reading in tags:
        labels.setdefault(reading.tag.time_s, []).append(f"{reading.tag.text[:40]} ({reading.kind})")
    for time_s, texts in labels.items():
        ax.axvline(time_s, color="tab:purple", linestyle="--", linewidth=0.8)
        ax.text(time_s, 0.06, " " + " | ".join(texts), transform=top_of, rotation=90, fontsize=6.5, color="tab:purple",
                va="bottom")  # fmt: skip
    ax.set_xlim(trace.start_s, trace.start_s + trace.duration_s)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"V$_m$ (mV) [{trace.channel}]")
    legend = ("grey: trace (min/max per pixel); shaded: epochs; red bar: window used, line: V$_m$, band: 95 %; "
              "orange: events removed; purple: tags")  # fmt: skip
    if clipped:
        legend += "; events beyond the axes clipped"
    ax.set_title(f"{trace.path.name}: {trace.format}, channel {trace.channel}, {trace.rate_hz:g} Hz, "
                 f"{trace.duration_s:g} s\n{legend}", fontsize=9)  # fmt: skip
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()
