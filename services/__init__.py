"""Sluice: services."""
