"""materialize: one lockfile for conda + PyPI, materialized into a reproducible environment directory."""

__version__ = "0.1.0"
