"""Sluice: services status core."""
