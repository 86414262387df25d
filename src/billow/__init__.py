"""Billow: usage-based billing that speaks Lago's v1 REST API."""

__version__ = "0.1.0"
