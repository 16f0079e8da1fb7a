"""Sluice: services parser core."""
