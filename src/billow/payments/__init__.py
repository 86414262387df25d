"""Payments (issue 13): see the package modules."""
