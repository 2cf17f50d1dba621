"""The choices and ranges of a fit's settings, shared by :class:`~.fit.FitSettings` and the study reader
(light: nothing heavy is imported, so the command line can check flags before any work)."""

SAMPLER_LIMITS = {"chains": (1, 64), "draws": (10, 1_000_000), "tune": (10, 1_000_000)}
"""Inclusive ranges of the sampler settings: NUTS needs some tuning and draws to adapt and to be summarised."""

LIKELIHOODS = ("normal", "student-t")
HIERARCHY = ("auto", "yes", "no")

DESIGN_MINIMA = {"choose": 1, "exact": 0, "outer": 10, "draws": 10}
"""Least values of `vrest design`'s counts: candidates chosen, re-estimated exactly, nested Monte Carlo outer
samples, posterior draws used."""
