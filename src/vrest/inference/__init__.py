"""Bayesian fitting of resting-potential recordings (PyMC): priors, design, identifiability, fit."""
