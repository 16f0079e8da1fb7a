"""Sluice: services status."""
