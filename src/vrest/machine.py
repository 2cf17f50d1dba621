"""Facts about the machine this process runs on."""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the OS reports one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def solver_threads() -> int:
    """Threads for vrest's own parallel loops: ``$VREST_THREADS``, else ``$OMP_NUM_THREADS``
    (which Dask sets to 1 in its workers, each already one of several processes), else
    :func:`usable_cpus`; never more than the usable CPUs."""
    for name in ("VREST_THREADS", "OMP_NUM_THREADS"):
        text = os.environ.get(name, "").strip()
        if text:
            if not text.isdigit() or int(text) < 1:
                raise ValueError(f"${name}: expected a whole number of threads >= 1, got {text!r}")
            return min(int(text), usable_cpus())
    return usable_cpus()


def available_memory_bytes() -> int | None:
    """Memory available to new allocations (``MemAvailable`` of /proc/meminfo), or None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
