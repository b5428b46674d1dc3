"""Inputs -> Lock: the conda solve (rattler), then the PyPI resolution (uv) against it."""
