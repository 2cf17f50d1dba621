"""The next experiment: which solution or K_o level would shrink a fit's posterior most.

Candidates (:mod:`.candidates`) are scored by their expected information gain about
chosen target parameters (:mod:`.scores`: a Laplace-Fisher score averaged over posterior
draws for all, nested Monte Carlo for the best few), ranked and chosen greedily
(:mod:`.plan`), starting from a fit folder (:mod:`.from_fit`). Everything is on the fit's sampled scale (ln of ratios and conductances,
mV/pA for the pump); gains in nats. The command is ``vrest design`` (:mod:`vrest.cli.design`).
"""

from __future__ import annotations

from .candidates import Bath, Candidate, default_candidates, parse_candidates
from .from_fit import fit_belief
from .plan import Belief, Ranking, evaluate, greedy, rank
from .scores import Estimate, fisher, gaussian_gain, nested_gain

__all__ = [
    "Bath",
    "Belief",
    "Candidate",
    "Estimate",
    "Ranking",
    "default_candidates",
    "evaluate",
    "fisher",
    "fit_belief",
    "gaussian_gain",
    "greedy",
    "nested_gain",
    "parse_candidates",
    "rank",
]
