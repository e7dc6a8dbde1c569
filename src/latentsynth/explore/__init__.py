"""Figures of latent structure (``latentsynth explore``): projections coloured by class or by note attribute,
prior and aggregate-posterior samples, traversals, interpolations, and the probes written beside them.

``images``: image models; ``frames``: spectrogram-frame models; ``projections``: the 2-D projection figures.
The latent geometry they draw (paths, projections, aggregate-posterior sampling) is in :mod:`latentsynth.latent`.
"""
