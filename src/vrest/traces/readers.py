"""Current-clamp traces from ABF (1 and 2, via pyabf) and NWB (via pynwb) files, read a slice at a time.

:func:`open_trace` returns a :class:`Trace` whose :meth:`Trace.read` gives the
membrane potential (mV, float64) of samples ``[i0, i1)`` only: an ABF file's data
section is memory-mapped (pyabf reads only the header here), an NWB series is an
HDF5 dataset sliced on demand, so a 2 GB recording is never held in memory. The
voltage channel is the one whose unit is a voltage (mV, or V converted), or the one
named by ``channel`` (a name or an index). Every problem is a one-line ValueError
naming the file and what was expected.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

NWB_INSTALL = 'pip install "vrest[nwb]"'
"""How to get the optional NWB reader."""

_VOLT_SCALE = {"mv": 1.0, "millivolt": 1.0, "millivolts": 1.0, "v": 1e3, "volt": 1e3, "volts": 1e3,
               "uv": 1e-3, "microvolt": 1e-3, "microvolts": 1e-3}  # fmt: skip
"""Voltage units -> factor to mV."""


def volt_scale(unit: str) -> float | None:
    """Factor that takes values in ``unit`` to mV, or None when ``unit`` is not a voltage unit."""
    key = re.sub(r"\s+", "", str(unit)).replace("\u00b5", "u").replace("\u03bc", "u").lower()
    return _VOLT_SCALE.get(key)


@dataclass(frozen=True)
class Tag:
    """A time-stamped comment stored in the recording (ABF tags), time in s from the first sample."""

    time_s: float
    text: str


@dataclass(frozen=True)
class FileEpoch:
    """One row of an epochs/intervals table stored in the file (NWB): times in s, the row's other columns as text."""

    start_s: float
    stop_s: float | None
    values: dict[str, str]
    source: str


@dataclass
class Trace:
    """One voltage channel of a recording: ``read(i0, i1)`` gives samples [i0, i1) in mV (float64).

    Sample ``i`` is at ``start_s + i / rate_hz`` seconds.
    """

    path: Path
    format: str
    channel: str
    channel_index: int
    unit: str
    rate_hz: float
    n_samples: int
    start_s: float
    reader: Callable[[int, int], np.ndarray]
    tags: tuple[Tag, ...] = ()
    file_epochs: tuple[FileEpoch, ...] = ()
    resolution_mv: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        """Length of the recording, s."""
        return self.n_samples / self.rate_hz

    def read(self, i0: int, i1: int) -> np.ndarray:
        """Samples [i0, i1) in mV (clipped to the recording)."""
        i0, i1 = max(0, int(i0)), min(self.n_samples, int(i1))
        if i1 <= i0:
            return np.empty(0)
        return self.reader(i0, i1)

    def index(self, time_s: float) -> int:
        """The first sample at or after ``time_s`` (s), clipped to [0, n_samples]."""
        return int(min(self.n_samples, max(0, np.ceil((time_s - self.start_s) * self.rate_hz - 1e-9))))

    def describe(self) -> dict:
        """The trace as JSON-ready data (for the settings record)."""
        return {"file": str(self.path), "format": self.format, "channel": self.channel,
                "channel_index": self.channel_index, "unit": self.unit, "rate_Hz": self.rate_hz,
                "n_samples": self.n_samples, "duration_s": self.duration_s, "notes": list(self.notes)}  # fmt: skip


@contextlib.contextmanager
def open_trace(path: str | Path, channel: str | int | None = None) -> Iterator[Trace]:
    """The voltage trace of an ABF or NWB file (told apart by content, then by suffix), open while the block runs."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file; expected an ABF or NWB recording")
    with path.open("rb") as f:
        head = f.read(8)
    if head[:4] in (b"ABF ", b"ABF2"):
        yield _open_abf(path, channel)
    elif head == b"\x89HDF\r\n\x1a\n" or path.suffix.lower() == ".nwb":
        with _open_nwb(path, channel) as trace:
            yield trace
    elif path.suffix.lower() == ".abf":
        raise ValueError(f"{path}: not a readable ABF file (no ABF signature at the start); expected an Axon ABF 1 "
                         "or 2 recording")  # fmt: skip
    else:
        raise ValueError(f"{path}: not an ABF or NWB file; expected an Axon .abf or an NWB (HDF5) .nwb recording")


def _choose(path: Path, names: Sequence[str], units: Sequence[str], channel: str | int | None) -> int:
    """Index of the voltage channel: the one named/indexed by ``channel``, else the only one with a voltage unit."""
    listing = ", ".join(f"{i}: {n or '?'} ({u or 'no unit'})" for i, (n, u) in enumerate(zip(names, units, strict=True)))
    if channel is not None:
        text = str(channel).strip()
        if text.lstrip("-").isdigit():
            index = int(text)
            if not 0 <= index < len(names):
                raise ValueError(f"{path}: --channel {index} is out of range; expected one of the channels {listing}")
        else:
            matches = [i for i, n in enumerate(names) if n.strip().lower() == text.lower()]
            if not matches:
                raise ValueError(f"{path}: no channel named {text!r}; expected one of the channels {listing}")
            index = matches[0]
        if volt_scale(units[index]) is None:
            raise ValueError(f"{path}: channel {names[index]!r} is in {units[index] or 'no unit'}, not a voltage; "
                             f"expected a membrane-potential channel in mV or V (channels {listing})")  # fmt: skip
        return index
    voltage = [i for i, u in enumerate(units) if volt_scale(u) is not None]
    if not voltage:
        raise ValueError(f"{path}: no voltage channel (channels {listing}); expected a membrane-potential channel in "
                         "mV or V (current clamp)")  # fmt: skip
    if len(voltage) > 1:
        raise ValueError(f"{path}: {len(voltage)} voltage channels ({listing}); expected --channel NAME or INDEX "
                         "to choose one")  # fmt: skip
    return voltage[0]


# --------------------------------------------------------------------------- ABF


def _open_abf(path: Path, channel: str | int | None) -> Trace:
    """An ABF file's voltage channel: pyabf reads the header, the data section is memory-mapped."""
    import pyabf

    try:
        abf = pyabf.ABF(str(path), loadData=False)
        names, units = [str(n) for n in abf.adcNames], [str(u) for u in abf.adcUnits]
        n_channels, rate = int(abf.channelCount), float(abf.dataRate)
        points, start, dtype = int(abf.dataPointCount), int(abf.dataByteStart), np.dtype(abf._dtype)
        gains, offsets = list(abf._dataGain), list(abf._dataOffset)
        tags = tuple(Tag(float(t), str(c).strip()) for t, c in zip(abf.tagTimesSec, abf.tagComments, strict=True))
        sweeps, mode, version = int(abf.sweepCount), int(getattr(abf, "nOperationMode", 3)), abf.abfVersionString
    except Exception as err:  # noqa: BLE001 - pyabf raises anything on a damaged header
        why = " ".join(str(err).split()) or type(err).__name__
        raise ValueError(f"{path}: not a readable ABF file, damaged or truncated ({why}); expected an intact Axon "
                         "ABF 1 or 2 recording") from None  # fmt: skip
    if n_channels < 1 or rate <= 0 or points < n_channels:
        raise ValueError(f"{path}: ABF header describes no data ({n_channels} channels, {points} points, {rate:g} Hz); "
                         "expected a recording with samples")  # fmt: skip
    if sweeps > 1 and mode != 3:
        raise ValueError(f"{path}: episodic recording ({sweeps} sweeps, operation mode {mode}); expected a gap-free "
                         "current-clamp recording (one continuous sweep)")  # fmt: skip
    index = _choose(path, names, units, channel)
    need = start + points * dtype.itemsize
    size = path.stat().st_size
    if size < need:
        raise ValueError(f"{path}: truncated ABF file ({size} bytes; its header describes {need} bytes of header "
                         "and data); expected the complete recording")  # fmt: skip
    n = points // n_channels
    scale = volt_scale(units[index])
    gain, offset = (float(gains[index]), float(offsets[index])) if dtype == np.int16 else (1.0, 0.0)
    data = np.memmap(path, dtype=dtype, mode="r", offset=start, shape=(n, n_channels))

    def reader(i0: int, i1: int) -> np.ndarray:
        return (data[i0:i1, index].astype(np.float64) * gain + offset) * scale

    shown = units[index] if scale == 1.0 else f"{units[index]} converted to mV"
    resolution = abs(gain * scale) if dtype == np.int16 else 0.0
    return Trace(path, f"ABF {version}", names[index], index, shown, rate, n, 0.0, reader, tags,
                 resolution_mv=resolution)  # fmt: skip


# --------------------------------------------------------------------------- NWB


@contextlib.contextmanager
def _open_nwb(path: Path, channel: str | int | None) -> Iterator[Trace]:
    """An NWB file's voltage series (sliced from HDF5 on demand) and its epochs/intervals tables."""
    try:
        from pynwb import NWBHDF5IO
    except ImportError:
        raise ValueError(f"{path}: reading NWB files needs pynwb; install it with: {NWB_INSTALL}") from None
    try:
        io = NWBHDF5IO(str(path), mode="r", load_namespaces=True)
    except Exception as err:  # noqa: BLE001 - h5py/hdmf raise many kinds on damaged files
        raise ValueError(f"{path}: not a readable NWB file ({' '.join(str(err).split()) or type(err).__name__}); "
                         "expected an intact NWB 2 (HDF5) file") from None  # fmt: skip
    try:
        try:
            nwb = io.read()
            series = [s for s in nwb.acquisition.values() if hasattr(s, "data") and hasattr(s, "unit")]
        except Exception as err:  # noqa: BLE001
            raise ValueError(f"{path}: not a readable NWB file ({' '.join(str(err).split()) or type(err).__name__}); "
                             "expected an intact NWB 2 (HDF5) file") from None  # fmt: skip
        if not series:
            raise ValueError(f"{path}: no time series in the NWB acquisition group; expected a CurrentClampSeries")
        index = _choose(path, [s.name for s in series], [str(s.unit) for s in series], channel)
        yield _nwb_trace(path, series[index], index, _nwb_epochs(nwb))
    finally:
        io.close()


def _nwb_trace(path: Path, s, index: int, epochs: tuple[FileEpoch, ...]) -> Trace:
    data = s.data
    if getattr(data, "ndim", 1) != 1:
        raise ValueError(f"{path}: series {s.name!r} has {data.ndim} dimensions; expected one channel (1-D data)")
    n = int(data.shape[0])
    if n < 2:
        raise ValueError(f"{path}: series {s.name!r} has {n} samples; expected a recording")
    if s.rate is not None:
        rate, start = float(s.rate), float(s.starting_time or 0.0)
    else:
        stamps = s.timestamps
        first, last = float(stamps[0]), float(stamps[n - 1])
        rate = (n - 1) / (last - first) if last > first else 0.0
        probe = np.unique(np.linspace(0, n - 1, min(n, 1000)).astype(int))
        if rate <= 0 or np.max(np.abs(np.asarray(stamps[probe]) - (first + probe / rate))) > 0.5 / rate:
            raise ValueError(f"{path}: series {s.name!r} has irregular timestamps; expected a constant sampling rate")
        start = first
    if rate <= 0:
        raise ValueError(f"{path}: series {s.name!r} has sampling rate {rate:g} Hz; expected a positive rate")
    conversion, offset = float(s.conversion), float(getattr(s, "offset", 0.0) or 0.0)
    scale = volt_scale(str(s.unit))

    def reader(i0: int, i1: int) -> np.ndarray:
        return (np.asarray(data[i0:i1], dtype=np.float64) * conversion + offset) * scale

    return Trace(path, "NWB", s.name, index, f"{s.unit} converted to mV" if scale != 1.0 else str(s.unit), rate, n,
                 start, reader, (), epochs)  # fmt: skip


def _nwb_epochs(nwb) -> tuple[FileEpoch, ...]:
    """Rows of the file's epochs table, else of the first intervals table with a solution or K_o column."""
    tables = [nwb.epochs] if nwb.epochs is not None else []
    tables += [t for name, t in (nwb.intervals or {}).items() if name != "epochs" and t is not nwb.epochs]
    for table in tables:
        frame = table.to_dataframe()
        columns = [c for c in frame.columns if c not in ("start_time", "stop_time", "tags", "timeseries")]
        lowered = {c.lower() for c in columns}
        if not lowered & {"solution", "condition", "k_o_mm"}:
            continue
        return tuple(FileEpoch(float(row.start_time), float(row.stop_time) if np.isfinite(row.stop_time) else None,
                               {c: str(getattr(row, c)) for c in columns}, f"NWB {table.name} row {i}")
                     for i, row in enumerate(frame.itertuples(index=False)))  # fmt: skip
    return ()
