"""pf_exporter: a Prometheus exporter for OpenBSD's Packet Filter."""

__version__ = "0.1.0"  # the package's version (pyproject.toml reads it from here)
