"""Run named, independent jobs serially or on Dask, and hand back each outcome as it completes.

Every job is a picklable ``(function, argument)``; any exception inside it becomes a
:class:`Failure` with a one-line reason, so one bad job never stops the others. Results
never depend on the scheduler, the number of workers or the completion order: jobs
carry their own seeds.

Schedulers: ``"none"`` (serial, in this process: for debugging), ``"local"`` (a
``LocalCluster`` of worker processes sized to the machine), ``"tcp://host:port"`` (an
existing cluster). ``None`` means Dask's own configuration: the ``scheduler-address``
setting (environment variable ``DASK_SCHEDULER_ADDRESS``) if set, else ``"local"``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .machine import usable_cpus


@dataclass(frozen=True)
class Failure:
    """A job that raised: its one-line reason."""

    reason: str


def guarded(function: Callable[[Any], Any], argument: Any) -> Any:
    """``function(argument)``, or a :class:`Failure` naming what went wrong."""
    try:
        return function(argument)
    except Exception as err:  # noqa: BLE001 - a job's failure is data, reported in the failures table
        text = " ".join(str(err).split()) or type(err).__name__
        return Failure(text if isinstance(err, ValueError) else f"{type(err).__name__}: {text}")


def scheduler_address(scheduler: str | None, workers: int | None = None) -> str:
    """The scheduler to use: the argument, else Dask's configured address, else "local" (``workers`` checked too)."""
    if workers is not None and workers < 1:
        raise ValueError(f"--workers: expected a positive integer, got {workers}")
    if scheduler is None:
        import dask

        return dask.config.get("scheduler-address", None) or "local"
    if scheduler not in ("none", "local") and not scheduler.startswith(("tcp://", "tls://", "inproc://")):
        raise ValueError(f"--scheduler: expected none, local or tcp://HOST:PORT, got {scheduler!r}")
    if scheduler.startswith(("tcp://", "tls://")):
        _check_reachable(scheduler)
    return scheduler


def _check_reachable(address: str) -> None:
    """Refuse a scheduler that accepts no connection now, before anything is planned or written."""
    parts = urlsplit(address)
    try:
        with socket.create_connection((parts.hostname, parts.port or 8786), timeout=10):
            pass
    except (OSError, ValueError) as err:
        raise ValueError(f"--scheduler: could not connect to {address} ({' '.join(str(err).split())})") from None


def default_workers() -> int:
    """Worker processes for a local cluster: one per CPU available to this process."""
    return usable_cpus()


@contextlib.contextmanager
def _client(address: str, workers: int | None) -> Iterator:
    from dask.distributed import Client, LocalCluster

    if address != "local":
        try:
            client = Client(address, timeout="30s")
        except OSError as err:  # refused, unreachable or timed out
            raise ValueError(f"--scheduler: could not connect to {address} ({' '.join(str(err).split())})") from None
        with client:
            yield client
        return
    cluster = LocalCluster(n_workers=workers or default_workers(), threads_per_worker=1, processes=True,
                           dashboard_address=":0", silence_logs=logging.ERROR)  # fmt: skip
    with cluster, Client(cluster) as client:
        yield client


def _dashboard(client) -> str | None:
    """The dashboard's address, when the scheduler serves one (it needs bokeh)."""
    info = client.scheduler_info()
    return client.dashboard_link if "dashboard" in info.get("services", {}) else None


def run_jobs(
    function: Callable[[Any], Any],
    jobs: dict[str, Any],
    on_done: Callable[[str, Any], None],
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    what: str = "jobs",
) -> None:
    """Run ``function(jobs[name])`` for every name; call ``on_done(name, outcome)`` here as each completes.

    ``outcome`` is the function's return value or a :class:`Failure`. Progress (done,
    failed, remaining, ETA) goes to stderr.
    """
    if not jobs:
        return
    address = scheduler_address(scheduler, workers)
    progress = Progress(len(jobs), what)
    if address == "none":
        for name, job in jobs.items():
            outcome = guarded(function, job)
            on_done(name, outcome)
            progress.step(isinstance(outcome, Failure))
        progress.close()
        return
    from dask.distributed import as_completed

    with _client(address, workers) as client:
        n = len(client.scheduler_info().get("workers", {}))
        where = "a local cluster" if address == "local" else address
        print(f"{what}: {len(jobs)} on {where} with {n} worker(s)", file=sys.stderr)
        if link := _dashboard(client):
            print(f"{what}: Dask dashboard at {link}", file=sys.stderr)
        futures = {client.submit(guarded, function, job, pure=False): name for name, job in jobs.items()}
        for future in as_completed(futures):
            try:
                outcome = future.result()
            except Exception as err:  # noqa: BLE001 - e.g. the worker died (KilledWorker)
                outcome = Failure(f"{type(err).__name__}: {' '.join(str(err).split())}")
            on_done(futures[future], outcome)
            progress.step(isinstance(outcome, Failure))
            future.release()
    progress.close()


class Progress:
    """A live count of done / failed / remaining with an ETA, on stderr."""

    LOG_EVERY_S = 10.0  # when stderr is not a terminal: a line at most this often, and at the end

    def __init__(self, total: int, what: str) -> None:
        self.total, self.what, self.done, self.failed = total, what, 0, 0
        self.start = self.last = time.perf_counter()
        self.live = sys.stderr.isatty()

    def step(self, failed: bool) -> None:
        self.done += not failed
        self.failed += failed
        finished = self.done + self.failed
        left = self.total - finished
        now = time.perf_counter()
        if not self.live and left and now - self.last < self.LOG_EVERY_S:
            return
        self.last = now
        elapsed = now - self.start
        eta = f"; ETA {_duration(elapsed / finished * left)}" if left else f"; {_duration(elapsed)}"
        line = f"{self.what}: {self.done} done, {self.failed} failed, {left} remaining{eta}"
        print(f"\r{line}\033[K" if self.live else line, end="" if self.live else "\n", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.live:
            print(file=sys.stderr)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"
