"""OpenLFR: accountable live facial recognition."""

__version__ = "0.1.0"
