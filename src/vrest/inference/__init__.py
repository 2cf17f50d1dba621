"""Bayesian fitting of the resting-potential models: recordings -> design -> PyMC/NUTS -> posterior.

The public face is ``vrest.fit`` (with :class:`~.fit.FitSettings` and :class:`~.fit.FitResult`);
:func:`.fit.fit` is the engine. Reading and writing fit folders is :mod:`vrest.folders`; the
commands are :mod:`vrest.cli.fit`.
"""
