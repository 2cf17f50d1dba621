"""Synthetic current-clamp recordings with known plateaus, written as ABF 1 or NWB, for tests of vrest.traces.

A recording is a sequence of solution epochs, each with a true plateau (mV). On top:
white noise, autocorrelated (AR(1)) noise, a slow linear drift over the whole recording,
action potentials and one-sample artefacts at random times, and after each change a
perfusion transient (a raised-cosine move from the previous plateau, lasting 20-60 s).
An epoch marked unsettled instead approaches its plateau with a 200-s time constant
that never finishes. The truth of an epoch is the noise-free potential (plateau plus
drift) at the centre of the window the extractor measures.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import numpy as np
from scipy.signal import lfilter


@dataclass(frozen=True)
class Synthetic:
    """A synthetic trace (mV) and what is true about it."""

    v: np.ndarray
    rate_hz: float
    starts: tuple[float, ...]
    plateaus: tuple[float, ...]
    drift_mv_per_min: float
    spike_times: tuple[float, ...]
    unsettled: tuple[bool, ...]

    @property
    def duration_s(self) -> float:
        return self.v.size / self.rate_hz

    def stops(self) -> list[float]:
        return [*self.starts[1:], self.duration_s]

    def truth(self, k: int, settle_s: float) -> float:
        """The noise-free potential at the centre of epoch k's window (after ``settle_s``, capped at half)."""
        start, stop = self.starts[k], self.stops()[k]
        settle = min(settle_s, 0.5 * (stop - start))
        centre = 0.5 * (start + settle + stop)
        return self.plateaus[k] + self.drift_mv_per_min / 60.0 * centre


def make_trace(plateaus: list[float], epoch_s: float, rate_hz: float, seed: int, *, white_sd: float = 0.25,
               ar_sd: float = 0.4, ar_tau_s: float = 2.0, drift_mv_per_min: float = 0.1,
               spike_interval_s: float = 40.0, transient_s: tuple[float, float] = (20.0, 60.0),
               unsettled: tuple[int, ...] = ()) -> Synthetic:  # fmt: skip
    """A trace of ``len(plateaus)`` epochs of ``epoch_s`` s each (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n_epoch = round(epoch_s * rate_hz)
    n = n_epoch * len(plateaus)
    t = np.arange(n) / rate_hz
    v = np.empty(n)
    previous = plateaus[0]
    for k, level in enumerate(plateaus):
        seg = slice(k * n_epoch, (k + 1) * n_epoch)
        dt = t[seg] - k * epoch_s
        if k in unsettled:
            v[seg] = level + (previous - level) * np.exp(-dt / 200.0)
        elif k == 0:
            v[seg] = level
        else:
            length = rng.uniform(*transient_s)
            phase = np.clip(dt / length, 0.0, 1.0)
            v[seg] = previous + (level - previous) * 0.5 * (1 - np.cos(np.pi * phase))
        previous = float(v[seg][-1])
    v += drift_mv_per_min / 60.0 * t
    v += rng.normal(0.0, white_sd, n)
    a = np.exp(-1.0 / (rate_hz * ar_tau_s))
    shocks = rng.normal(0.0, ar_sd * np.sqrt(1 - a * a), n)
    v += lfilter([1.0], [1.0, -a], shocks, zi=[a * rng.normal(0.0, ar_sd)])[0]
    spikes = []
    s = rng.exponential(spike_interval_s)
    while s < t[-1] - 1.0:
        spikes.append(float(s))
        i0 = int(s * rate_hz)
        span = np.arange(round(0.4 * rate_hz)) / rate_hz
        if rng.uniform() < 0.7:  # an action potential with its afterhyperpolarisation
            shape = 95.0 * np.exp(-span / 1.5e-3) * (1 - np.exp(-span / 3e-4)) - 6.0 * np.exp(-span / 0.08) * (
                1 - np.exp(-span / 5e-3))
        else:  # an artefact: a 2-ms step
            shape = np.where(span < 2e-3, rng.choice([-30.0, 30.0]), 0.0)
        v[i0 : i0 + span.size] += shape[: n - i0]
        s += rng.exponential(spike_interval_s)
    return Synthetic(v, rate_hz, tuple(k * epoch_s for k in range(len(plateaus))), tuple(plateaus),
                     drift_mv_per_min, tuple(spikes), tuple(k in unsettled for k in range(len(plateaus))))  # fmt: skip


def write_abf1(path: Path, v_mv: np.ndarray, rate_hz: float, tags: list[tuple[float, str]] = (),
               units: str = "mV", name: str = "Vm") -> None:  # fmt: skip
    """A gap-free one-channel ABF 1.3 file (the layout of pyabf.abfWriter.writeABF1, vectorised) with comment tags."""
    block = 512
    header_blocks = 4
    n = v_mv.size
    data_blocks = -(-n * 2 // block)
    tag_blocks = -(-len(tags) * 64 // block)
    buf = bytearray((header_blocks + data_blocks + tag_blocks) * block)
    scale_factor = 100.0
    for _ in range(10):
        scale_factor /= 10
        value_scale = 2**15 / 10 * scale_factor
        if 32767 / value_scale >= np.max(np.abs(v_mv)):
            break
    struct.pack_into("4s", buf, 0, b"ABF ")
    struct.pack_into("f", buf, 4, 1.3)
    struct.pack_into("h", buf, 8, 3)  # gap-free
    struct.pack_into("i", buf, 10, n)
    struct.pack_into("i", buf, 16, 1)
    struct.pack_into("i", buf, 40, header_blocks)
    struct.pack_into("i", buf, 44, header_blocks + data_blocks)
    struct.pack_into("i", buf, 48, len(tags))
    struct.pack_into("h", buf, 100, 0)
    struct.pack_into("h", buf, 120, 1)
    struct.pack_into("f", buf, 122, 1e6 / rate_hz)
    struct.pack_into("i", buf, 138, n)
    struct.pack_into("i", buf, 252, 2**15)
    struct.pack_into("f", buf, 244, 10.0)
    for i in range(16):
        struct.pack_into("f", buf, 922 + i * 4, scale_factor)
        struct.pack_into("f", buf, 1050 + i * 4, 1.0)
        struct.pack_into("f", buf, 730 + i * 4, 1.0)
        struct.pack_into("8s", buf, 602 + i * 8, units.ljust(8).encode())
        struct.pack_into("10s", buf, 442 + i * 10, name.ljust(10).encode())
    raw = np.round(v_mv * value_scale).astype("<i2")
    start = header_blocks * block
    buf[start : start + 2 * n] = raw.tobytes()
    for i, (time_s, text) in enumerate(tags):
        at = (header_blocks + data_blocks) * block + 64 * i
        struct.pack_into("i56shh", buf, at, round(time_s * rate_hz), text.ljust(56).encode(), 1, 0)
    path.write_bytes(bytes(buf))


def write_nwb(path: Path, v_mv: np.ndarray, rate_hz: float, epochs: list[dict], name: str = "Vm") -> None:
    """An NWB file with one CurrentClampSeries (volts) and an epochs table with the given columns per row."""
    from datetime import datetime

    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.icephys import CurrentClampSeries

    nwb = NWBFile(session_description="synthetic", identifier=path.stem,
                  session_start_time=datetime(2024, 1, 1, tzinfo=UTC))  # fmt: skip
    device = nwb.create_device(name="amplifier")
    electrode = nwb.create_icephys_electrode(name="electrode", description="synthetic", device=device)
    nwb.add_acquisition(CurrentClampSeries(name=name, data=v_mv / 1e3, rate=rate_hz, starting_time=0.0,
                                           electrode=electrode, gain=1.0))  # fmt: skip
    columns = [c for c in epochs[0] if c not in ("start_time", "stop_time")]
    for c in columns:
        nwb.add_epoch_column(name=c, description=c)
    for row in epochs:
        nwb.add_epoch(**row)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
