"""The package version, read by hatch at build time and recorded in every measurement's provenance."""

__version__ = "0.1.0"
