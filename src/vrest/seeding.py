"""Seeds: one validation, and independent random streams spawned from one run seed.

Every random step of vrest takes an explicit seed (0 is a valid seed). A run seed
becomes a :class:`numpy.random.SeedSequence`; each purpose of the run (identifiability
advice, posterior predictive draws, the predictive grid, Sobol' samples, batch members)
gets its own spawned child, so no two purposes share a stream and adding a purpose
never changes the others' numbers (children are spawned in a fixed order by name).
"""

from __future__ import annotations

import hashlib

import numpy as np

MAX_SEED = 2**63 - 1
"""Largest seed (nutpie and NumPy take 64-bit seeds; one bit is kept for signed storage)."""


def check_seed(seed: object, where: str = "seed") -> int:
    """``seed`` as an int in 0..MAX_SEED; ValueError naming ``where`` otherwise (True, 1.5 and "3" refused)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"{where}: expected a whole number from 0 to 2**63-1, got {seed!r}")
    return int(seed)


def streams(seed: int, *purposes: str) -> dict[str, np.random.Generator]:
    """An independent generator for each purpose, from the run ``seed`` and the purpose's name.

    A purpose's stream depends only on the seed and its name (not on which other purposes are asked for).
    """
    return {p: np.random.default_rng(np.random.SeedSequence([check_seed(seed), _tag(p)])) for p in purposes}


def child_seed(seed: int, name: str) -> int:
    """An integer seed (0..MAX_SEED) for member ``name`` of a run seeded ``seed`` (e.g. one recording of a batch)."""
    state = np.random.SeedSequence([check_seed(seed), _tag(name)]).generate_state(1, np.uint64)[0]
    return int(state >> 1)


def _tag(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")
